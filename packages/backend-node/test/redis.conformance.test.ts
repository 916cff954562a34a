// The shared Redis conformance suite on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisConformance } from '@curio-ts/client/conformance';
import { connectRedis } from '@curio-ts/backend-node';

redisConformance(
  {
    runtime: 'node',
    connect: connectRedis,
    run: (body) => body(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    start: (body) => {
      const running = body();
      running.catch(() => {});
      return { join: () => running };
    },
  },
  { describe, it, expect, beforeAll, afterAll },
  1,
);
