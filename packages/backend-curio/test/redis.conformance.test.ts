// The shared Redis conformance suite on the curio runtime: every test body runs in a kernel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisConformance } from '@curio-ts/client/conformance';
import { run, sleep, spawn } from '@curio-ts/kernel';
import { connectRedis } from '@curio-ts/backend-curio';

redisConformance(
  {
    runtime: 'curio',
    connect: connectRedis,
    run: (body) => run(body),
    sleep: async (ms) => {
      await sleep(ms);
    },
    start: (body) => {
      const task = spawn(body);
      return { join: () => task.join() };
    },
  },
  { describe, it, expect, beforeAll, afterAll },
  2,
);
