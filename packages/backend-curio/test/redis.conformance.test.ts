// The shared Redis conformance suites on the curio runtime: every test body runs in a kernel
// task, and must behave exactly as on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promiseConformance, redisConformance } from '@curio-ts/conformance';
import type { RedisHarness } from '@curio-ts/conformance';
import { currentTask, run, sleep, spawn } from '@curio-ts/kernel';
import { connectRedis } from '@curio-ts/backend-curio';

const harness: RedisHarness = {
  runtime: 'curio',
  connect: connectRedis,
  run: (body) => run(body),
  sleep: async (ms) => {
    // Both are kernel calls: they throw if the task was left marked as waiting.
    expect(currentTask().state).toBe('RUNNING');
    await sleep(ms);
  },
  start: (body) => {
    const task = spawn(body);
    return { join: () => task.join() };
  },
};
const api = { describe, it, expect, beforeAll, afterAll };

redisConformance(harness, api, 2);
promiseConformance(harness, api);
