// Several PostgreSQL hosts on the node runtime, against real private servers (a primary, a
// read-only server, a pg_basebackup hot standby, dead and silent ports, TLS servers under a test CA, a unix socket;
// sslmode per host, sslrootcert, hostaddr): the shared suite of packages/conformance/src/pg-hosts.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgHostsConformance } from '@curio-ts/conformance';
import { connectPg } from '@curio-ts/backend-node';
import { nodeRunner } from './harness.js';

pgHostsConformance({ ...nodeRunner, connect: connectPg }, { describe, it, expect, beforeAll, afterAll });
