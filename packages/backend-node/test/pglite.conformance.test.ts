// The shared PostgreSQL conformance suite on the node runtime against PGlite (`pglite:`): one
// PGlite for the whole file, one session; the cases that cannot apply there are left out with
// their reasons (PGLITE_EXCLUSIONS).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConformance } from '@curio-ts/conformance';
import { closePglite } from '@curio-ts/transport-pglite';
import { connectPg } from '@curio-ts/backend-node';
import { nodeRunner } from './harness.js';

pgConformance({ ...nodeRunner, connect: connectPg, peer: { kind: 'pglite', url: 'pglite:', stop: () => closePglite() } }, { describe, it, expect, beforeAll, afterAll });
