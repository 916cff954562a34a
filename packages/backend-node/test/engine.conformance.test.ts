// The engine's own suite (the toy line protocol, its server written on the Runtime's server
// side) on the node runtime, over loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineConformance } from '@curio-ts/conformance';
import { nodeRuntime } from '@curio-ts/backend-node';

engineConformance(
  {
    name: 'node',
    runtime: nodeRuntime,
    run: (body) => body(),
    sleep: (ms) => nodeRuntime.sleep(ms),
    start: (body) => {
      const running = body();
      running.catch(() => {});
      return { join: () => running };
    },
  },
  { describe, it, expect, beforeAll, afterAll },
);
