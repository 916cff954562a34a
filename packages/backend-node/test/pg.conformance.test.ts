// The shared PostgreSQL conformance suite on the node runtime, against real servers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConformance } from '@curio-ts/conformance';
import { connectPg } from '@curio-ts/backend-node';
import { nodeRunner } from './harness.js';

pgConformance({ ...nodeRunner, connect: connectPg }, { describe, it, expect, beforeAll, afterAll });
