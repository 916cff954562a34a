// PostgreSQL faults and volume on the node runtime, against real private servers: the shared
// suite of packages/conformance/src/pg-faults.ts (a restart under load, kill -9 in a COPY, a
// million-row cursor, psql reading back, garbage peers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgFaultConformance } from '@curio-ts/conformance';
import { connectPg } from '@curio-ts/backend-node';
import { nodeRunner } from './harness.js';

pgFaultConformance({ ...nodeRunner, connect: connectPg }, { describe, it, expect, beforeAll, afterAll });
