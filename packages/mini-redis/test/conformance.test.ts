// The project's own Redis client, on both runtimes, against mini-redis.
//
// 1. The shared conformance suite (packages/client/src/conformance/redis.ts) runs unchanged,
//    pointed at mini-redis, through an `it` that registers a case only when mini-redis has
//    what the case needs. What it needs is declared here per case name; mini-redis says what
//    it has (COMMAND LIST). Cases that need more are not registered, and the selection itself
//    is a test, so that what is left out stays visible. A shared case this file does not know
//    fails that test, so a new case is never silently dropped.
// 2. Some shared cases mix families mini-redis lacks (its typed-commands case also covers
//    sorted sets and streams; its blocking case also XREAD). The parts that apply run here as
//    mini-redis cases of their own.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestFunction } from 'vitest';
import { connectRedis as connectNode } from '@curio-ts/backend-node';
import { connectRedis as connectCurio } from '@curio-ts/backend-curio';
import { CommandTimeoutError } from '@curio-ts/client';
import type { RedisClient, RedisOptions } from '@curio-ts/client';
import { redisConformance } from '@curio-ts/conformance';
import type { RedisHarness } from '@curio-ts/conformance';
import { sleep, spawn } from '@curio-ts/kernel';
import { connectRaw, startTestServer } from './helpers.js';

const server = await startTestServer();

afterAll(async () => {
  await server.stop();
  expect(server.clientErrors).toEqual([]);
});

/** What each shared case needs: commands (`container|sub` for subcommands) or `feature:...`. */
const SHARED_NEEDS: Readonly<Record<string, readonly string[]>> = {
  'connects with a URL, selects the database, names itself, speaks RESP3': ['hello', 'select', 'set', 'client|getname', 'client|info'],
  'speaks RESP2 when asked to, with the same typed results': ['hello', 'hset', 'hgetall', 'zadd', 'zscore', 'zrange'],
  'typed commands: strings, keys, hashes, lists, sets, sorted sets, streams': ['set', 'incrbyfloat', 'hset', 'rpush', 'sadd', 'zadd', 'xadd', 'xrange'],
  'error replies become RedisError with the server code; the connection stays usable': ['set', 'hget', 'get'],
  // The MULTI and the pipeline of this case are refused by the client: the server never sees them.
  'a bad argument (NaN, an object, null) rejects that call alone, typed; a batch with one is refused whole': ['set', 'get', 'ping', 'subscribe', 'client|list'],
  'an option of the wrong type or range is refused at connect with InvalidArgumentError naming it': [],
  'decodes every RESP3 type the server can send (DEBUG PROTOCOL), and their RESP2 forms': ['debug'],
  'keys and values with all 256 byte values, binary safe': ['set', 'get'],
  'a 64 MiB value both ways': ['set', 'get', 'del'],
  '100 000 pipelined commands: explicit pipeline and auto-pipelining': ['set', 'echo'],
  'pub/sub messages arrive while the main connection keeps working': ['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe', 'publish', 'incr'],
  'MULTI/EXEC, a WATCH conflict, and an aborted transaction': ['multi', 'exec', 'watch'],
  'isolated(): WATCH transactions of concurrent workers on leased connections of their own, while the main connection keeps working': ['client|id', 'watch', 'multi', 'exec', 'unwatch', 'echo'],
  'cancelling calls in the middle of a deep pipeline: every other caller gets its own reply': ['echo'],
  'calls made from recycled ones: bursts mixed with error replies, transforms, bytes, aborts and timeouts each get their own reply': ['del', 'rpush', 'hset', 'set', 'get', 'exists', 'hgetall', 'echo'],
  'a call cancelled before it is written is never sent': ['incr', 'del', 'get'],
  'per-call timeouts: the late reply is discarded and the next caller gets its own': ['debug'],
  'blocking commands run on their own connections with correct timeouts and cancellation': ['blpop', 'rpush', 'xread', 'xadd'],
  'scan iterators': ['scan', 'hscan'],
  'the script cache (with NOSCRIPT recovery)': ['eval', 'evalsha', 'script|flush'],
  'authentication: the right password works, a wrong one is a typed error': ['feature:requirepass'],
  'connection refused is a typed ConnectionError': [],
  'a durable server killed and restarted under load: no lost acknowledged write, no misrouted reply, recovery': ['feature:persistence'],
  'TLS (rediss://): a trusted certificate works, an untrusted one is a typed error': ['feature:tls'],
  'client-side caching: CLIENT TRACKING invalidations arrive as pushes': ['client|tracking'],
  'MONITOR on a connection of its own sees the commands others run': ['monitor'],
  'after a server restart a subscription subscribes again and keeps receiving': ['feature:private-server'],
  'while reconnecting, calls wait in a bounded offline queue; beyond it they fail at once, typed': ['feature:private-server'],
  'after a restart the client waits until the server has loaded its data: no LOADING error reaches a caller': ['feature:persistence'],
  // The client against a scripted TCP peer: nothing of mini-redis is involved.
  'a client closed while it reconnects stays closed: no socket left, nothing sent, calls fail with ClientClosedError': ['feature:scripted-peer'],
  'a client closed during reconnect backoff stays closed when the server comes back': ['feature:private-server'],
  'closing a client ends its blocking calls and subscriptions, and closes their connections': ['blpop', 'subscribe', 'client|list'],
  'a reply the client cannot parse fails the call with ProtocolViolationError; it is never sent again': ['feature:scripted-peer'],
  'reconnecting gives up after reconnect.maxAttempts failures in a row: the client closes, calls fail with ReconnectFailedError': ['feature:scripted-peer'],
  'a server that accepts and never answers: connectTimeout ends the connect with ConnectTimeoutError': ['feature:scripted-peer'],
  'RESP3 attributes before replies: typed commands see the reply, an error reply rejects, attributes reach onAttributes': ['feature:scripted-peer'],
  'a database the server does not have is an error of SELECT': ['select'],
  'hGetAll with bytes: true keeps binary field names and values (pairs of Uint8Array), RESP3 and RESP2': ['hello', 'hset', 'hgetall', 'del'],
  'an aborted call rejects with an AbortError: name AbortError, the signal reason as cause, code ERR_ABORTED': ['blpop', 'echo'],
};

async function capabilities(): Promise<Set<string>> {
  const c = await connectRaw(server.port);
  const names = (await c.call('COMMAND', 'LIST')) as string[];
  c.close();
  return new Set(names.map((name) => name.toLowerCase()));
}

const supported = await capabilities();
const selection = { registered: new Set<string>(), leftOut: new Set<string>(), unknown: new Set<string>() };

/** `it` for the shared suite: registers a case only when mini-redis has what it needs. */
const selectingIt = ((name: string, fn?: TestFunction, timeout?: number): void => {
  const needs = SHARED_NEEDS[name];
  if (needs === undefined) selection.unknown.add(name);
  else if (!needs.every((need) => supported.has(need))) selection.leftOut.add(name);
  else {
    selection.registered.add(name);
    it(name, fn, timeout);
  }
}) as unknown as typeof it;

/** A running Promise to join later; its failure is not unhandled meanwhile. */
function joinable<T>(running: Promise<T>): { join(): Promise<T> } {
  running.catch(() => undefined);
  return { join: () => running };
}

const harnesses: readonly RedisHarness[] = [
  {
    runtime: 'node',
    server: `redis://127.0.0.1:${server.port}`,
    connect: connectNode,
    run: (body) => body(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    start: (body) => joinable(body()),
  },
  {
    runtime: 'curio',
    server: `redis://127.0.0.1:${server.port}`,
    connect: connectCurio,
    // The client runs in the same kernel as the server it talks to.
    run: (body) => server.kernel.runTask(body),
    sleep: async (ms) => {
      await sleep(ms);
    },
    start: (body) => {
      const task = spawn(body);
      return { join: () => task.join() };
    },
  },
];

harnesses.forEach((h, index) => {
  redisConformance(h, { describe, it: selectingIt, expect, beforeAll, afterAll }, 1 + index);
});

describe('shared conformance cases selected for mini-redis', () => {
  it('runs every shared case whose commands mini-redis implements, and knows every case', () => {
    expect([...selection.unknown]).toEqual([]);
    expect([...selection.leftOut]).toEqual([
      'speaks RESP2 when asked to, with the same typed results',
      'typed commands: strings, keys, hashes, lists, sets, sorted sets, streams',
      'decodes every RESP3 type the server can send (DEBUG PROTOCOL), and their RESP2 forms',
      'RESP3 attributes before replies: typed commands see the reply, an error reply rejects, attributes reach onAttributes',
      'MULTI/EXEC, a WATCH conflict, and an aborted transaction',
      'isolated(): WATCH transactions of concurrent workers on leased connections of their own, while the main connection keeps working',
      'per-call timeouts: the late reply is discarded and the next caller gets its own',
      'blocking commands run on their own connections with correct timeouts and cancellation',
      'the script cache (with NOSCRIPT recovery)',
      'authentication: the right password works, a wrong one is a typed error',
      'TLS (rediss://): a trusted certificate works, an untrusted one is a typed error',
      'client-side caching: CLIENT TRACKING invalidations arrive as pushes',
      'MONITOR on a connection of its own sees the commands others run',
      'after a server restart a subscription subscribes again and keeps receiving',
      'while reconnecting, calls wait in a bounded offline queue; beyond it they fail at once, typed',
      'a durable server killed and restarted under load: no lost acknowledged write, no misrouted reply, recovery',
      'after a restart the client waits until the server has loaded its data: no LOADING error reaches a caller',
      'a client closed while it reconnects stays closed: no socket left, nothing sent, calls fail with ClientClosedError',
      'a client closed during reconnect backoff stays closed when the server comes back',
      'a reply the client cannot parse fails the call with ProtocolViolationError; it is never sent again',
      'reconnecting gives up after reconnect.maxAttempts failures in a row: the client closes, calls fail with ReconnectFailedError',
      'a server that accepts and never answers: connectTimeout ends the connect with ConnectTimeoutError',
    ]);
    expect(selection.registered.size).toBe(17); // 15 against mini-redis, and 2 that need no server
  });
});

// ---------------------------------------------------------------------------------------------
// The parts of mixed shared cases that mini-redis serves.

/** One typed call and what it must return, in order, on one connection. */
type Step = readonly [call: (c: RedisClient, key: (name: string) => string) => Promise<unknown>, expected: unknown];

const typedSteps: Readonly<Record<string, readonly Step[]>> = {
  'strings and keys': [
    [(c, k) => c.set(k('s'), 'v', { EX: 100 }), 'OK'],
    [(c, k) => c.set(k('s'), 'w', { NX: true }), null],
    [(c, k) => c.get(k('s')), 'v'],
    [async (c, k) => (await c.ttl(k('s'))) > 90, true],
    [(c, k) => c.incrBy(k('n'), 5), 5],
    [(c, k) => c.incrByFloat(k('n'), 0.5), 5.5],
    [(c, k) => c.mSet({ [k('m1')]: 'a', [k('m2')]: 'b' }), 'OK'],
    [(c, k) => c.mGet([k('m1'), k('m2'), k('missing')]), ['a', 'b', null]],
    [(c, k) => c.exists([k('m1'), k('m2')]), 2],
    [(c, k) => c.del([k('m1'), k('m2')]), 2],
    [(c, k) => c.type(k('s')), 'string'],
  ],
  hashes: [
    [(c, k) => c.hSet(k('h'), 'f', 'v'), 1],
    [(c, k) => c.hGetAll(k('h')), { f: 'v' }],
    [(c, k) => c.hIncrBy(k('h'), 'n', 3), 3],
    [(c, k) => c.hGet(k('h'), 'n'), '3'],
  ],
  lists: [
    [(c, k) => c.rPush(k('l'), ['a', 'b', 'c']), 3],
    [(c, k) => c.lRange(k('l'), 0, -1), ['a', 'b', 'c']],
    [(c, k) => c.lPop(k('l')), 'a'],
  ],
  sets: [
    [(c, k) => c.sAdd(k('set'), ['x', 'y', 'x']), 2],
    [async (c, k) => (await c.sMembers(k('set'))).sort(), ['x', 'y']],
    [(c, k) => c.sIsMember(k('set'), 'y'), true],
  ],
};

harnesses.forEach((h, index) => {
  const db = 1 + index;
  const key = (name: string): string => `mini:${h.runtime}:${name}`;
  const withClient = (body: (c: RedisClient) => Promise<void>, options: RedisOptions = {}): Promise<void> =>
    h.run(async () => {
      const client = await h.connect({ host: '127.0.0.1', port: server.port, db, ...options });
      try {
        await body(client);
      } finally {
        await client.close();
      }
    });

  describe(`mini-redis cases (${h.runtime} runtime)`, () => {
    for (const protocol of [3, 2] as const) {
      for (const [family, steps] of Object.entries(typedSteps)) {
        it(`typed commands in RESP${protocol}: ${family}`, () =>
          withClient(
            async (c) => {
              expect(c.protocol).toBe(protocol);
              await c.del([key('s'), key('n'), key('h'), key('l'), key('set')]);
              for (const [call, expected] of steps) expect(await call(c, key)).toEqual(expected);
            },
            { protocol },
          ));
      }
    }

    it('BLPOP and BRPOP: timeouts, two waiters woken by one push, a call timeout', () =>
      withClient(async (c) => {
        const queue = key('queue');
        expect(await c.blPop([key('none-1'), key('none-2')], 0.05)).toBeNull();
        expect(await c.brPop(queue, 0.05)).toBeNull();
        const first = c.blPop(queue, 10);
        const second = c.brPop(queue, 10);
        await h.sleep(20);
        expect(await c.lPush(queue, ['x', 'y'])).toBeGreaterThanOrEqual(1);
        const woken = await Promise.all([first, second]);
        expect(woken.map((r) => r?.element).sort()).toEqual(['x', 'y']);
        const late = await c.blPop(key('forever'), 0, { timeout: 50 }).catch((e: unknown) => e);
        expect(late).toBeInstanceOf(CommandTimeoutError);
        expect(await c.lLen(queue)).toBe(0);
      }));

    it('SCAN by type and SSCAN iterate everything, with no element missed', () =>
      withClient(async (c) => {
        const members = Array.from({ length: 300 }, (_, i) => `member-${i}`);
        await c.sAdd(key('big-set'), members);
        const pipeline = c.pipeline();
        for (let i = 0; i < 200; i++) pipeline.hSet(key(`typed:${i}`), { i: String(i) });
        await pipeline.exec();
        const hashes: string[] = [];
        for await (const k of c.scanIterator({ MATCH: key('typed:*'), TYPE: 'hash', COUNT: 7 })) hashes.push(k);
        expect(new Set(hashes).size).toBe(200);
        const seen: string[] = [];
        for await (const member of c.sScanIterator(key('big-set'), { COUNT: 20 })) seen.push(member);
        expect([...new Set(seen)].sort()).toEqual([...members].sort());
      }));
  });
});
