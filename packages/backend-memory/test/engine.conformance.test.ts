// The engine's own suite (the toy line protocol, its server written on the Runtime's server
// side) on the memory runtime: no server process, no socket, virtual time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineConformance } from '@curio-ts/conformance';
import { createMemoryRuntime } from '@curio-ts/backend-memory';
import { startConcurrently } from './helpers.js';

const memory = createMemoryRuntime({ autoAdvance: true });

engineConformance(
  {
    name: 'memory',
    runtime: memory.runtime,
    run: (body) => body(),
    sleep: (ms) => memory.runtime.sleep(ms),
    start: startConcurrently,
  },
  { describe, it, expect, beforeAll, afterAll },
);
