// The engine's own suite (the toy line protocol, its server written on the Runtime's server
// side) on the curio runtime: every body runs in a kernel task, the server's connections are
// kernel tasks too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineConformance } from '@curio-ts/conformance';
import { run, sleep, spawn } from '@curio-ts/kernel';
import { curioRuntime } from '@curio-ts/backend-curio';

const runtime = curioRuntime();

engineConformance(
  {
    name: 'curio',
    runtime,
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
);
