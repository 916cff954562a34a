// The engine's own suite (the toy line protocol, its server written on the Runtime's server
// side) on the memory runtime: no server process, no socket, virtual time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineConformance } from '@curio-ts/conformance';
import { createMemoryRuntime } from '@curio-ts/backend-memory';

const memory = createMemoryRuntime({ autoAdvance: true });

engineConformance(
  {
    name: 'memory',
    runtime: memory.runtime,
    run: (body) => body(),
    sleep: (ms) => memory.runtime.sleep(ms),
    start: (body) => {
      const running = body();
      running.catch(() => {});
      return { join: () => running };
    },
  },
  { describe, it, expect, beforeAll, afterAll },
);
