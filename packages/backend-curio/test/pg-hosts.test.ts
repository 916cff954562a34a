// Several PostgreSQL hosts on the curio runtime, against real private servers (a primary, a
// read-only server, a pg_basebackup hot standby, dead and silent ports, TLS servers under a test CA, a unix socket;
// sslmode per host, sslrootcert, hostaddr): the shared suite of packages/conformance/src/pg-hosts.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgHostsConformance } from '@curio-ts/conformance';
import { connectPg } from '@curio-ts/backend-curio';
import { curioRunner } from './harness.js';

pgHostsConformance({ ...curioRunner, connect: connectPg }, { describe, it, expect, beforeAll, afterAll });
