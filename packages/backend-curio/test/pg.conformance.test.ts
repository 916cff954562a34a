// The shared PostgreSQL conformance suite on the curio runtime: every test body runs in a
// kernel task, against the real server, and must behave exactly as on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConformance } from '@curio-ts/conformance';
import type { PgHarness } from '@curio-ts/conformance';
import { run, sleep, spawn } from '@curio-ts/kernel';
import { connectPg } from '@curio-ts/backend-curio';

const harness: PgHarness = {
  runtime: 'curio',
  connect: connectPg,
  run: (body) => run(body),
  sleep: (ms) => sleep(ms),
  start: (body) => {
    const task = spawn(body);
    return { join: () => task.join() };
  },
};

pgConformance(harness, { describe, it, expect, beforeAll, afterAll });
