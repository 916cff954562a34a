// The project's own Redis client, on both runtimes, against mini-redis: the cases of the shared
// conformance suite (packages/client/src/conformance/redis.ts) that mini-redis can serve.
//
// The shared suite registers all of its cases at once against real servers, so its cases are
// transcribed here, split where a shared case mixes families (its typed-commands case covers
// sorted sets and streams too), and each declares the commands (or server features) it needs.
// Cases are then selected by asking the running mini-redis what it implements (COMMAND LIST):
// a case that needs something it lacks is not registered at all; the selection itself is a
// test, so that what is left out is visible.

import { afterAll, describe, expect, it } from 'vitest';
import { connectRedis as connectNode } from '@curio-ts/backend-node';
import { connectRedis as connectCurio } from '@curio-ts/backend-curio';
import { AbortedError, RedisError } from '@curio-ts/client';
import type { RedisClient, RedisOptions } from '@curio-ts/client';
import { sleep, spawn } from '@curio-ts/kernel';
import { connectRaw, startTestServer } from './helpers.js';

const server = await startTestServer();

afterAll(async () => {
  await server.stop();
  expect(server.clientErrors).toEqual([]);
});

/** What mini-redis says it implements, plus server features it does not have. */
async function capabilities(): Promise<Set<string>> {
  const c = await connectRaw(server.port);
  const names = (await c.call('COMMAND', 'LIST')) as string[];
  c.close();
  return new Set(names.map((name) => name.toLowerCase()));
}

/** How a test body runs on one runtime (the shared suite's RedisHarness). */
interface Harness {
  readonly runtime: 'node' | 'curio';
  connect(options?: RedisOptions): Promise<RedisClient>;
  run<T>(body: () => Promise<T>): Promise<T>;
  sleep(ms: number): Promise<void>;
  start<T>(body: () => Promise<T>): { join(): Promise<T> };
}

const harnesses: readonly Harness[] = [
  {
    runtime: 'node',
    connect: (options) => connectNode({ port: server.port, ...options }),
    run: (body) => body(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    start: (body) => {
      const running = body();
      running.catch(() => {});
      return { join: () => running };
    },
  },
  {
    runtime: 'curio',
    connect: (options) => connectCurio({ port: server.port, ...options }),
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

interface Case {
  readonly name: string;
  /** Commands (lower-case, `container|sub` for subcommands) or `feature:...` it needs. */
  readonly needs: readonly string[];
  readonly timeout?: number;
  /** Absent for shared cases mini-redis cannot serve (they are listed so the selection shows them). */
  readonly body?: (h: Harness, key: (name: string) => string, db: number) => Promise<void>;
}

async function withClient<T>(h: Harness, db: number, body: (client: RedisClient) => Promise<T>, options?: RedisOptions): Promise<T> {
  return h.run(async () => {
    const client = await h.connect({ db, ...options });
    try {
      return await body(client);
    } finally {
      await client.close();
    }
  });
}

const cases: readonly Case[] = [
  {
    name: 'connects with options, selects the database, names itself, speaks RESP3',
    needs: ['hello', 'select', 'set', 'client|getname', 'client|info'],
    body: (h, key, db) =>
      withClient(
        h,
        db,
        async (c) => {
          expect(c.protocol).toBe(3);
          expect(await c.call('CLIENT', 'GETNAME')).toBe('conformance');
          await c.set(key('db'), 'here');
          const info = await c.call('CLIENT', 'INFO');
          expect(String(info)).toMatch(new RegExp(`db=${db}`));
        },
        { clientName: 'conformance' },
      ),
  },
  {
    name: 'speaks RESP2 when asked to, with the same typed results (hashes)',
    needs: ['hello', 'hset', 'hgetall'],
    body: (h, key, db) =>
      withClient(
        h,
        db,
        async (c) => {
          expect(c.protocol).toBe(2);
          await c.hSet(key('h2'), { a: '1', b: '2' });
          expect(await c.hGetAll(key('h2'))).toEqual({ a: '1', b: '2' });
        },
        { protocol: 2 },
      ),
  },
  {
    name: 'speaks RESP2 when asked to, with the same typed results (sorted sets)',
    needs: ['hello', 'zadd', 'zscore', 'zrange'],
  },
  {
    name: 'typed commands: strings and keys',
    needs: ['set', 'get', 'ttl', 'incrby', 'incrbyfloat', 'mset', 'mget', 'exists', 'del'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        expect(await c.set(key('s'), 'v', { EX: 100 })).toBe('OK');
        expect(await c.set(key('s'), 'w', { NX: true })).toBeNull();
        expect(await c.get(key('s'))).toBe('v');
        expect(await c.ttl(key('s'))).toBeGreaterThan(90);
        expect(await c.incrBy(key('n'), 5)).toBe(5);
        expect(await c.incrByFloat(key('n'), 0.5)).toBe(5.5);
        expect(await c.mSet({ [key('m1')]: 'a', [key('m2')]: 'b' })).toBe('OK');
        expect(await c.mGet([key('m1'), key('m2'), key('missing')])).toEqual(['a', 'b', null]);
        expect(await c.exists([key('m1'), key('m2')])).toBe(2);
        expect(await c.del([key('m1'), key('m2')])).toBe(2);
      }),
  },
  {
    name: 'typed commands: hashes',
    needs: ['hset', 'hgetall', 'hincrby'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        expect(await c.hSet(key('h'), 'f', 'v')).toBe(1);
        expect(await c.hGetAll(key('h'))).toEqual({ f: 'v' });
        expect(await c.hIncrBy(key('h'), 'n', 3)).toBe(3);
      }),
  },
  {
    name: 'typed commands: lists',
    needs: ['rpush', 'lrange', 'lpop'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        expect(await c.rPush(key('l'), ['a', 'b', 'c'])).toBe(3);
        expect(await c.lRange(key('l'), 0, -1)).toEqual(['a', 'b', 'c']);
        expect(await c.lPop(key('l'))).toBe('a');
      }),
  },
  {
    name: 'typed commands: sets',
    needs: ['sadd', 'smembers', 'sismember'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        expect(await c.sAdd(key('set'), ['x', 'y', 'x'])).toBe(2);
        expect((await c.sMembers(key('set'))).sort()).toEqual(['x', 'y']);
        expect(await c.sIsMember(key('set'), 'y')).toBe(true);
      }),
  },
  { name: 'typed commands: sorted sets', needs: ['zadd', 'zrange', 'zrank'] },
  { name: 'typed commands: streams', needs: ['xadd', 'xrange', 'type'] },
  {
    name: 'error replies become RedisError with the server code; the connection stays usable',
    needs: ['set', 'hget', 'get'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        await c.set(key('str'), 'x');
        const error = await c.hGet(key('str'), 'f').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RedisError);
        expect((error as RedisError).code).toBe('WRONGTYPE');
        const unknown = await c.call('NOSUCHCOMMAND').catch((e: unknown) => e);
        expect((unknown as RedisError).code).toBe('ERR');
        expect(await c.get(key('str'))).toBe('x');
      }),
  },
  { name: 'decodes every RESP3 type the server can send (DEBUG PROTOCOL)', needs: ['debug'] },
  {
    name: 'keys and values with all 256 byte values, binary safe',
    needs: ['set', 'get'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        const prefix = key('');
        const all = new Uint8Array(256).map((_, i) => i);
        const binaryKey = new Uint8Array([...new TextEncoder().encode(prefix), ...all]);
        await c.set(binaryKey, all);
        const back = await c.get(binaryKey, { bytes: true });
        expect(Array.from(back as Uint8Array)).toEqual(Array.from(all));
        for (let b = 0; b < 256; b += 51) {
          const k = new Uint8Array([...new TextEncoder().encode(`${prefix}b`), b, b, 13, 10]);
          await c.set(k, new Uint8Array([b, 13, 10, b]));
          expect(Array.from((await c.get(k, { bytes: true })) as Uint8Array)).toEqual([b, 13, 10, b]);
        }
      }),
  },
  {
    name: 'a 64 MiB value both ways',
    needs: ['set', 'get', 'del'],
    timeout: 60_000,
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        const size = 64 * 1024 * 1024;
        const value = new Uint8Array(size);
        for (let i = 0; i < size; i += 4096) value[i] = i % 251;
        await c.set(key('big'), value);
        const back = (await c.get(key('big'), { bytes: true })) as Uint8Array;
        expect(back.length).toBe(size);
        let same = true;
        for (let i = 0; i < size; i += 4096) if (back[i] !== value[i]) same = false;
        expect(same).toBe(true);
        await c.del(key('big'));
      }),
  },
  {
    name: 'pipelines: 10 000 in an explicit pipeline, 100 000 auto-pipelined',
    needs: ['set', 'echo'],
    timeout: 60_000,
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        const pipeline = c.pipeline();
        for (let i = 0; i < 10_000; i++) pipeline.set(key(`p${i % 1000}`), String(i));
        const results = await pipeline.exec();
        expect(results).toHaveLength(10_000);
        expect(results.every((r) => r === 'OK')).toBe(true);
        const echoes: Promise<string | null>[] = [];
        for (let i = 0; i < 100_000; i++) echoes.push(c.echo(`v${i}`));
        const values = await Promise.all(echoes);
        expect(values.every((v, i) => v === `v${i}`)).toBe(true);
      }),
  },
  {
    name: 'pub/sub messages arrive while the main connection keeps working',
    needs: ['subscribe', 'psubscribe', 'publish', 'incr', 'unsubscribe', 'punsubscribe'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        const channel = key('chan');
        const subscription = await c.subscribe(channel);
        const pattern = await c.pSubscribe(`${channel}*`);
        const received: string[] = [];
        const reader = h.start(async () => {
          for await (const message of subscription) {
            received.push(message.message);
            if (received.length === 50) break;
          }
        });
        for (let i = 0; i < 50; i++) {
          expect(await c.publish(channel, `m${i}`)).toBe(2);
          expect(await c.incr(key('during-pubsub'))).toBe(i + 1);
        }
        await reader.join();
        expect(received).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
        const viaPattern = await pattern.next();
        expect(viaPattern).toMatchObject({ kind: 'pmessage', pattern: `${channel}*`, channel, message: 'm0' });
        await subscription.close();
        await pattern.close();
      }),
  },
  { name: 'MULTI/EXEC, a WATCH conflict, and an aborted transaction', needs: ['multi', 'exec', 'watch'] },
  {
    name: 'cancelling calls in the middle of a deep pipeline: every other caller gets its own reply',
    needs: ['echo'],
    body: (h, _key, db) =>
      withClient(h, db, async (c) => {
        const n = 20_000;
        const controllers: AbortController[] = [];
        const calls: Promise<string>[] = [];
        for (let i = 0; i < n; i++) {
          const controller = new AbortController();
          controllers.push(controller);
          calls.push(c.echo(`reply-${i}`, { signal: controller.signal }));
        }
        const outcomes = Promise.allSettled(calls);
        for (let i = 0; i < n; i += 7) controllers[i]?.abort();
        await h.sleep(0);
        for (let i = 3; i < n; i += 11) controllers[i]?.abort();
        const settled = await outcomes;
        let fulfilled = 0;
        settled.forEach((outcome, i) => {
          if (outcome.status === 'fulfilled') {
            fulfilled++;
            expect(outcome.value).toBe(`reply-${i}`);
          } else expect(outcome.reason).toBeInstanceOf(AbortedError);
          if (i % 7 === 0) expect(outcome.status).toBe('rejected');
        });
        expect(fulfilled).toBeGreaterThan(n / 2);
        expect(await c.echo('after')).toBe('after');
      }),
  },
  { name: 'per-call timeouts (DEBUG SLEEP)', needs: ['debug'] },
  {
    name: 'blocking commands: BLPOP timeout, wake-up and cancellation',
    needs: ['blpop', 'rpush', 'echo'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        const list = key('blocking');
        expect(await c.blPop(list, 0.2)).toBeNull();
        const waiting = c.blPop(list, 5);
        expect(await c.rPush(list, 'woken')).toBe(1);
        expect(await waiting).toEqual({ key: list, element: 'woken' });
        const controller = new AbortController();
        const cancelled = c.blPop(key('never'), 0, { signal: controller.signal }).catch((e: unknown) => e);
        await h.sleep(20);
        controller.abort();
        expect(await cancelled).toBeInstanceOf(AbortedError);
        expect(await c.echo('still fine')).toBe('still fine');
      }),
  },
  { name: 'blocking commands: XREAD BLOCK', needs: ['xread', 'xadd'] },
  {
    name: 'scan iterators',
    needs: ['set', 'scan', 'hset', 'hscan'],
    body: (h, key, db) =>
      withClient(h, db, async (c) => {
        const pipeline = c.pipeline();
        for (let i = 0; i < 500; i++) pipeline.set(key(`scan:${i}`), String(i));
        await pipeline.exec();
        const seen = new Set<string>();
        for await (const k of c.scanIterator({ MATCH: key('scan:*'), COUNT: 50 })) seen.add(k);
        expect(seen.size).toBe(500);
        await c.hSet(key('hscan'), { a: '1', b: '2', c: '3' });
        const fields: string[] = [];
        for await (const entry of c.hScanIterator(key('hscan'))) fields.push(`${entry.field}=${entry.value}`);
        expect(fields.sort()).toEqual(['a=1', 'b=2', 'c=3']);
      }),
  },
  { name: 'the script cache (with NOSCRIPT recovery)', needs: ['eval', 'evalsha', 'script|flush'] },
  { name: 'authentication: the right password works, a wrong one is a typed error', needs: ['feature:requirepass'] },
  { name: 'a durable server killed and restarted under load', needs: ['feature:persistence'] },
];

const supported = await capabilities();
const runnable = cases.filter((c) => c.needs.every((need) => supported.has(need)));

describe('client conformance against mini-redis', () => {
  it('selects every shared case whose commands mini-redis implements', () => {
    const left = cases.filter((c) => !runnable.includes(c)).map((c) => c.name);
    expect(left).toEqual([
      'speaks RESP2 when asked to, with the same typed results (sorted sets)',
      'typed commands: sorted sets',
      'typed commands: streams',
      'decodes every RESP3 type the server can send (DEBUG PROTOCOL)',
      'MULTI/EXEC, a WATCH conflict, and an aborted transaction',
      'per-call timeouts (DEBUG SLEEP)',
      'blocking commands: XREAD BLOCK',
      'the script cache (with NOSCRIPT recovery)',
      'authentication: the right password works, a wrong one is a typed error',
      'a durable server killed and restarted under load',
    ]);
  });

  harnesses.forEach((h, index) => {
    describe(`${h.runtime} runtime`, () => {
      for (const c of runnable) {
        const db = 1 + index;
        const key = (name: string): string => `conf:${h.runtime}:${name}`;
        const body = c.body;
        if (body === undefined) throw new Error(`case '${c.name}' is runnable but has no body`);
        it(c.name, () => body(h, key, db), c.timeout);
      }
    });
  });
});
