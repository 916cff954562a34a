// The shared Redis conformance suites on the memory runtime: the client runs unchanged against
// an in-process Redis (proto-redis's server role on the runtime's listen) and scripted peers on
// the runtime's own network, under virtual time that jumps whenever the program is idle. Cases
// that need what an in-process server cannot give are not registered (README: "What the
// conformance suite leaves out here").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promiseConformance, redisConformance, startFakeRedisOn, startInProcessRedis } from '@curio-ts/conformance';
import type { RedisHarness } from '@curio-ts/conformance';
import { createMemoryRuntime } from '@curio-ts/backend-memory';
import { startConcurrently } from './helpers.js';

// Each chunk takes 0.5 virtual ms each way: loops of requests that never sleep (the suite's
// writers under load) still let virtual time pass.
const memory = createMemoryRuntime({ autoAdvance: true, latency: 0.5 });
const main = await startInProcessRedis(memory.runtime);

const harness: RedisHarness = {
  runtime: 'memory',
  connect: (options) => memory.connectRedis(options),
  run: (body) => body(),
  sleep: (ms) => memory.runtime.sleep(ms),
  start: startConcurrently,
  server: main.url,
  now: () => memory.clock.now(),
  // Its data survives kill()/restart() (as a durable server's would); it has no TLS and takes no
  // redis-server arguments (the suite asks for neither here: see `capabilities`).
  startServer: (options) => {
    if (options?.tls === true || options?.extraArgs !== undefined) return Promise.reject(new Error('the in-process Redis has no TLS and takes no redis-server arguments'));
    return startInProcessRedis(memory.runtime, { port: 0, ...(options?.password !== undefined ? { password: options.password } : {}) });
  },
  startFakeRedis: (answer) => startFakeRedisOn(memory.runtime, answer),
  capabilities: new Set(),
};
const api = { describe, it, expect, beforeAll, afterAll };

const leftOut = redisConformance(harness, api, 1);
promiseConformance(harness, api);

describe('the conformance suites on the memory runtime', () => {
  it('leave out only the cases an in-process server cannot serve (README of backend-memory)', () => {
    expect(leftOut).toEqual([
      { name: 'the script cache (with NOSCRIPT recovery)', missing: ['lua'] },
      { name: 'TLS (rediss://): a trusted certificate works, an untrusted one is a typed error', missing: ['tls'] },
      { name: 'after a restart the client waits until the server has loaded its data: no LOADING error reaches a caller', missing: ['loading'] },
    ]);
  });

  it('ran on the in-process network, under virtual time', () => {
    expect(memory.network.connectionsMade).toBeGreaterThan(50);
    expect(memory.clock.now()).toBeGreaterThan(1000);
  });
});
