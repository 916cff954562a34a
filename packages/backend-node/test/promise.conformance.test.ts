// The faithful-Promise suite on the node runtime (the reference behaviour).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promiseConformance } from '@curio-ts/client/conformance';
import { connectRedis } from '@curio-ts/backend-node';

promiseConformance(
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
);
