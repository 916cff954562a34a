// The shared PostgreSQL conformance suite on the node runtime against PGlite (`pglite:`), once
// with PGlite in its worker thread (the default) and once in this thread (`pglite:?thread=main`):
// one PGlite at a time, one session; the cases that cannot apply there are left out with their
// reasons (PGLITE_EXCLUSIONS, and PGLITE_MAIN_THREAD_EXCLUSIONS in the main thread).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConformance } from '@curio-ts/conformance';
import { closePglite } from '@curio-ts/transport-pglite';
import { connectPg } from '@curio-ts/backend-node';
import { nodeRunner } from './harness.js';

for (const thread of ['worker', 'main'] as const) {
  const url = thread === 'main' ? 'pglite:?thread=main' : 'pglite:';
  pgConformance({ ...nodeRunner, connect: connectPg, peer: { kind: 'pglite', url, thread, stop: () => closePglite() } }, { describe, it, expect, beforeAll, afterAll });
}
