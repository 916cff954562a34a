// The shared PostgreSQL conformance suite on the curio runtime against PGlite (`pglite:`): every
// test body in a kernel task; one PGlite for the whole file, one session; the cases that cannot
// apply there are left out with their reasons (PGLITE_EXCLUSIONS).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConformance } from '@curio-ts/conformance';
import { closePglite } from '@curio-ts/transport-pglite';
import { connectPg } from '@curio-ts/backend-curio';
import { curioRunner } from './harness.js';

pgConformance({ ...curioRunner, connect: connectPg, peer: { kind: 'pglite', url: 'pglite:', stop: () => closePglite() } }, { describe, it, expect, beforeAll, afterAll });
