// PostgreSQL faults and volume on the curio runtime, against real private servers: the shared
// suite of packages/conformance/src/pg-faults.ts, every body in a kernel task (a restart under
// load from four tasks, kill -9 in a COPY, a million-row cursor, psql reading back, garbage peers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgFaultConformance } from '@curio-ts/conformance';
import { connectPg } from '@curio-ts/backend-curio';
import { curioRunner } from './harness.js';

pgFaultConformance({ ...curioRunner, connect: connectPg }, { describe, it, expect, beforeAll, afterAll });
