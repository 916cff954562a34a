// The shared Redis conformance suites on the node runtime (the reference behaviour).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promiseConformance, redisConformance } from '@curio-ts/conformance';
import type { RedisHarness } from '@curio-ts/conformance';
import { connectRedis } from '@curio-ts/backend-node';
import { nodeRunner } from './harness.js';

const harness: RedisHarness = { ...nodeRunner, connect: connectRedis };
const api = { describe, it, expect, beforeAll, afterAll };

redisConformance(harness, api, 1);
promiseConformance(harness, api);
