// The shared Redis conformance suites on the node runtime (the reference behaviour).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promiseConformance, redisConformance } from '@curio-ts/conformance';
import type { RedisHarness } from '@curio-ts/conformance';
import { connectRedis } from '@curio-ts/backend-node';

const harness: RedisHarness = {
  runtime: 'node',
  connect: connectRedis,
  run: (body) => body(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  start: (body) => {
    const running = body();
    running.catch(() => {});
    return { join: () => running };
  },
};
const api = { describe, it, expect, beforeAll, afterAll };

redisConformance(harness, api, 1);
promiseConformance(harness, api);
