// The shared PostgreSQL conformance suite on the node runtime, against the real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConformance } from '@curio-ts/conformance';
import type { PgHarness } from '@curio-ts/conformance';
import { connectPg } from '@curio-ts/backend-node';

const harness: PgHarness = {
  runtime: 'node',
  connect: connectPg,
  run: (body) => body(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  start: (body) => {
    const running = body();
    running.catch(() => {});
    return { join: () => running };
  },
};

pgConformance(harness, { describe, it, expect, beforeAll, afterAll });
