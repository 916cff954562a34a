// conformance/redis.ts
//
// The Redis conformance suite every runtime runs unchanged, against real servers: the test
// Redis (CURIO_TEST_REDIS_URL, which `npm test` points at a private redis-server it starts, or
// else a private one the suite starts itself) and private instances (DEBUG PROTOCOL needs
// --enable-debug-command; the crash test needs a durable server it can kill). Nothing here
// depends on a Redis listening on 127.0.0.1:6379. A backend calls `redisConformance` from its
// own test file with its `connectRedis` and a `run` that executes a test body the way its users
// would (plain async code on node, inside a kernel task on curio).
//
// A harness may bring its own servers and clock (the memory runtime: an in-process Redis and
// scripted peers on its own network, virtual time), and says which capabilities its servers
// lack; a case that needs one of those is not registered for it (README of backend-memory).

import { RemoteProtocolError, RespVerbatim } from '@curio-ts/proto-redis';
import type { RespAttributes, RespValue } from '@curio-ts/proto-redis';
import type * as Vitest from 'vitest';
import {
  AbortedError,
  ClientClosedError,
  ClientError,
  CommandTimeoutError,
  ConnectTimeoutError,
  ConnectionError,
  ConnectionLostError,
  InvalidArgumentError,
  OfflineQueueFullError,
  ProtocolViolationError,
  ReconnectFailedError,
  RedisError,
} from '@curio-ts/client';
import type { RedisOptions } from '@curio-ts/client';
import type { RedisClient } from '@curio-ts/client';
import { answerLikeRedis, freePort, sawServerLoading, startFakeRedis, startPrivateRedis } from './servers.js';
import type { FakeRedis, FakeRedisAnswer, FakeRedisCommand, PrivateRedis, PrivateRedisOptions } from './servers.js';

/** What a backend provides to the suite. */
export interface RedisHarness {
  /** 'node', 'curio'... (used in test names). */
  readonly runtime: string;
  /** The backend's connectRedis. */
  connect(options?: string | RedisOptions): Promise<RedisClient>;
  /** Run a test body the way users of this runtime would. */
  run<T>(body: () => Promise<T>): Promise<T>;
  /** Sleep in the runtime's own way (a kernel sleep on curio). */
  sleep(ms: number): Promise<void>;
  /**
   * Run `body` concurrently with the caller (a plain async call on node, a kernel task on
   * curio, where one task may wait on one thing at a time); `join` waits for its result.
   */
  start<T>(body: () => Promise<T>): { join(): Promise<T> };
  /**
   * The server the suite addresses, as a URL without a database (the suite picks one), e.g. a
   * mini-redis of the test's own. Default: {@link testRedisUrl}, else a private redis-server.
   */
  readonly server?: string;
  /** The runtime's clock in ms, for the suite's deadlines (default Date.now). */
  now?(): number;
  /**
   * Start a private server the suite may kill, restart, or give a password (default
   * {@link startPrivateRedis}: a redis-server process). It also serves DEBUG PROTOCOL, DEBUG
   * SLEEP and MONITOR. A harness without TLS (`capabilities`) is never asked for `tls`.
   */
  startServer?(options?: PrivateRedisOptions): Promise<PrivateRedis>;
  /** Start a scripted peer reachable through `connect` (default {@link startFakeRedis}, over TCP). */
  startFakeRedis?(answer: (command: FakeRedisCommand) => FakeRedisAnswer | Promise<FakeRedisAnswer>): Promise<FakeRedis>;
  /**
   * What the harness's servers can do (default: everything). A case that needs a capability
   * missing here is not registered.
   */
  readonly capabilities?: ReadonlySet<RedisCapability>;
}

/**
 * What some cases need of the servers beyond the commands every Redis has:
 * - 'lua': EVAL / EVALSHA / SCRIPT (the script cache);
 * - 'tls': a server that speaks TLS, and TLS in the runtime;
 * - 'loading': a server that, restarted, loads a large data set from disk and answers -LOADING
 *   meanwhile (it also needs DEBUG POPULATE, BGREWRITEAOF and INFO persistence's counters).
 */
export type RedisCapability = 'lua' | 'tls' | 'loading';

/** Every capability: what a harness has unless it says otherwise. */
export const ALL_REDIS_CAPABILITIES: ReadonlySet<RedisCapability> = new Set<RedisCapability>(['lua', 'tls', 'loading']);

/** The parts of vitest the suite uses. */
export interface TestApi {
  readonly describe: typeof Vitest.describe;
  readonly it: typeof Vitest.it;
  readonly expect: typeof Vitest.expect;
  readonly beforeAll: typeof Vitest.beforeAll;
  readonly afterAll: typeof Vitest.afterAll;
}

/** The environment variable that names the Redis the tests use (set by `npm test`). */
export const TEST_REDIS_ENV = 'CURIO_TEST_REDIS_URL';

/**
 * The Redis the tests use: the URL in CURIO_TEST_REDIS_URL (`npm test` starts a private
 * redis-server on a free port and sets it), or `undefined` when it is not set.
 */
export function testRedisUrl(): string | undefined {
  const url = process.env[TEST_REDIS_ENV];
  return url === undefined || url === '' ? undefined : url;
}

/** `base` with its path set to the database number. */
function withDb(base: string, db: number): string {
  const url = new URL(base);
  url.pathname = `/${db}`;
  return url.toString();
}

/** A case the suite did not register for a harness, and the capabilities it lacked. */
export interface LeftOutCase {
  readonly name: string;
  readonly missing: readonly RedisCapability[];
}

/**
 * Register the suite. `db` picks the database on the test Redis (backends use different ones,
 * since their test files may run at the same time). Returns the cases left out for lack of a
 * capability (filled as the suite's `describe` is collected), so that a harness can assert what
 * it leaves out.
 */
export function redisConformance(h: RedisHarness, t: TestApi, db: number): readonly LeftOutCase[] {
  const leftOut: LeftOutCase[] = [];
  const { describe, expect, beforeAll, afterAll } = t;
  const capabilities = h.capabilities ?? ALL_REDIS_CAPABILITIES;
  /** Register a case only where every capability it needs is there. */
  const it = (name: string, ...rest: [body: () => Promise<void>, timeout?: number]): void => t.it(name, ...rest);
  const itNeeds = (needs: readonly RedisCapability[], name: string, body: () => Promise<void>, timeout?: number): void => {
    const missing = needs.filter((need) => !capabilities.has(need));
    if (missing.length === 0) t.it(name, body, timeout);
    else leftOut.push({ name, missing });
  };
  const now = (): number => (h.now === undefined ? Date.now() : h.now());
  const startServer = (options?: PrivateRedisOptions): Promise<PrivateRedis> => (h.startServer === undefined ? startPrivateRedis(options) : h.startServer(options));
  const startPeer = (answer: (command: FakeRedisCommand) => FakeRedisAnswer | Promise<FakeRedisAnswer>): Promise<FakeRedis> =>
    h.startFakeRedis === undefined ? startFakeRedis(answer) : h.startFakeRedis(answer);
  /** The test Redis and `db`; set before the first test runs. */
  let url = '';
  const prefix = `conf:${h.runtime}:`;
  const key = (name: string): string => `${prefix}${name}`;
  const withClient = <T>(body: (client: RedisClient) => Promise<T>, options?: RedisOptions): Promise<T> =>
    h.run(async () => {
      const client = await h.connect(options ?? url);
      try {
        return await body(client);
      } finally {
        await client.close();
      }
    });

  /** Poll `condition` every few ms until it holds or `ms` pass; whether it held. */
  const until = async (condition: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> => {
    const deadline = now() + ms;
    for (;;) {
      if (await condition()) return true;
      if (now() > deadline) return false;
      await h.sleep(5);
    }
  };

  /**
   * Writers that SET a key of their own and GET it back, over and over, until `stop()`: what
   * the server acknowledged, and every failure a caller saw (a wrong value read back counts).
   */
  const underLoad = (client: RedisClient, writers = 4): { acknowledged: string[]; failures: unknown[]; stop(): Promise<void> } => {
    const acknowledged: string[] = [];
    const failures: unknown[] = [];
    let stopped = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stopped && i < 100_000; i++) {
        const k = `w${w}:${i}`;
        try {
          expect(await client.set(k, k)).toBe('OK');
          acknowledged.push(k);
          const back = await client.get(k);
          expect(back === k || back === null).toBe(true);
        } catch (error) {
          failures.push(error);
          await h.sleep(5);
        }
      }
    };
    const running = Array.from({ length: writers }, (_, w) => h.start(() => writer(w)));
    return {
      acknowledged,
      failures,
      async stop() {
        stopped = true;
        for (const w of running) await w.join();
      },
    };
  };

  describe(`redis conformance (${h.runtime} runtime)`, () => {
    let debugServer: PrivateRedis;
    beforeAll(async () => {
      debugServer = await startServer();
      url = withDb(h.server ?? testRedisUrl() ?? debugServer.url, db);
      await withClient((c) => c.flushDb());
    });
    afterAll(async () => {
      await debugServer.stop();
    });

    it('connects with a URL, selects the database, names itself, speaks RESP3', async () => {
      await withClient(
        async (c) => {
          expect(c.protocol).toBe(3);
          expect(await c.call('CLIENT', 'GETNAME')).toBe('conformance');
          await c.set(key('db'), 'here');
          const info = await c.call<RespValue>('CLIENT', 'INFO');
          expect(String(info)).toMatch(new RegExp(`db=${db}`));
        },
        { ...parse(url), clientName: 'conformance' },
      );
    });

    it('speaks RESP2 when asked to, with the same typed results', async () => {
      await withClient(
        async (c) => {
          expect(c.protocol).toBe(2);
          await c.hSet(key('h2'), { a: '1', b: '2' });
          expect(await c.hGetAll(key('h2'))).toEqual({ a: '1', b: '2' });
          await c.zAdd(key('z2'), [{ value: 'x', score: 1.5 }]);
          expect(await c.zScore(key('z2'), 'x')).toBe(1.5);
          expect(await c.zRangeWithScores(key('z2'), 0, -1)).toEqual([{ value: 'x', score: 1.5 }]);
        },
        { ...parse(url), protocol: 2 },
      );
    });

    it('typed commands: strings, keys, hashes, lists, sets, sorted sets, streams', async () => {
      await withClient(async (c) => {
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
        expect(await c.hSet(key('h'), 'f', 'v')).toBe(1);
        expect(await c.hGetAll(key('h'))).toEqual({ f: 'v' });
        expect(await c.hIncrBy(key('h'), 'n', 3)).toBe(3);
        expect(await c.rPush(key('l'), ['a', 'b', 'c'])).toBe(3);
        expect(await c.lRange(key('l'), 0, -1)).toEqual(['a', 'b', 'c']);
        expect(await c.lPop(key('l'))).toBe('a');
        expect(await c.sAdd(key('set'), ['x', 'y', 'x'])).toBe(2);
        expect((await c.sMembers(key('set'))).sort()).toEqual(['x', 'y']);
        expect(await c.sIsMember(key('set'), 'y')).toBe(true);
        expect(await c.zAdd(key('z'), [{ value: 'a', score: 2 }, { value: 'b', score: 1 }])).toBe(2);
        expect(await c.zRange(key('z'), 0, -1)).toEqual(['b', 'a']);
        expect(await c.zRank(key('z'), 'a')).toBe(1);
        const id = await c.xAdd(key('x'), '*', { field: 'value' });
        expect(await c.xRange(key('x'), '-', '+')).toEqual([{ id, fields: { field: 'value' } }]);
        expect(await c.type(key('x'))).toBe('stream');
      });
    });

    it('error replies become RedisError with the server code; the connection stays usable', async () => {
      await withClient(async (c) => {
        await c.set(key('str'), 'x');
        const error = await c.hGet(key('str'), 'f').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RedisError);
        expect((error as RedisError).code).toBe('WRONGTYPE');
        const unknown = await c.call('NOSUCHCOMMAND').catch((e: unknown) => e);
        expect((unknown as RedisError).code).toBe('ERR');
        expect(await c.get(key('str'))).toBe('x');
      });
    });

    it('a bad argument (NaN, an object, null) rejects that call alone, typed; a batch with one is refused whole', async () => {
      await withClient(async (c) => {
        const before = c.set(key('arg'), 'before');
        const bad = [Number.NaN, Number.POSITIVE_INFINITY, {}, null, undefined, Symbol('s')] as unknown as string[];
        const errors = await Promise.all(bad.map((value) => c.call('SET', key('arg'), value).catch((e: unknown) => e)));
        for (const error of errors) {
          expect(error).toBeInstanceOf(InvalidArgumentError);
          expect((error as InvalidArgumentError).code).toBe('ERR_BAD_ARGUMENT');
        }
        expect(((await c.call(...([] as unknown as [string])).catch((e: unknown) => e)) as InvalidArgumentError).code).toBe('ERR_EMPTY_COMMAND');
        // The one-key typed methods (made without an argument array) check their key the same way.
        const keyErrors = await Promise.all(bad.map((value) => c.get(value).catch((e: unknown) => e)));
        for (const error of keyErrors) expect((error as InvalidArgumentError).code).toBe('ERR_BAD_ARGUMENT');
        expect(await c.incr(key('n1'))).toBe(1);
        expect([...((await c.get(key('n1'), { bytes: true })) as Uint8Array)]).toEqual([0x31]);
        expect(await before).toBe('OK');
        expect(await c.get(key('arg'))).toBe('before');
        const refused = await c.multi().set(key('arg'), 'in multi').sendCommand(['SET', key('other'), Number.NaN]).exec().catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(InvalidArgumentError);
        const pipeline = await c.pipeline().set(key('arg'), 'in pipeline').sendCommand(['INCRBY', key('n'), {} as unknown as string]).exec().catch((e: unknown) => e);
        expect(pipeline).toBeInstanceOf(InvalidArgumentError);
        expect(await c.get(key('arg'))).toBe('before'); // nothing of either batch ran
        expect(await c.ping()).toBe('PONG');
        // Good and bad calls in one burst (one write): each good call gets its own reply.
        const burst = Array.from({ length: 30 }, (_, i) =>
          (i % 3 === 1 ? c.call<string>('PING', [`nested ${i}`] as unknown as string) : c.ping(`good ${i}`)).then((v) => v, (e: unknown) => e),
        );
        const outcomes = await Promise.all(burst);
        outcomes.forEach((outcome, i) => {
          if (i % 3 === 1) expect(outcome).toBeInstanceOf(InvalidArgumentError);
          else expect(outcome).toBe(`good ${i}`);
        });
        // Typed methods check their arguments the same way.
        expect(await c.set(key('arg'), undefined as unknown as string).then((v) => v, (e: unknown) => e)).toBeInstanceOf(InvalidArgumentError);
        expect(await c.get(key('arg'))).toBe('before');
        // A subscription refused for a bad channel leaves no connection behind.
        const name = `bad-subscribe-${h.runtime}`;
        const named = await h.connect({ ...parse(url), clientName: name });
        expect(await named.subscribe([{}] as unknown as string[]).then((v) => v, (e: unknown) => e)).toBeInstanceOf(InvalidArgumentError);
        expect(await until(async () => !String(await c.sendCommand(['CLIENT', 'LIST'])).includes(`name=${name}:sub`))).toBe(true);
        await named.close();
      });
    });

    it('an option of the wrong type or range is refused at connect with InvalidArgumentError naming it', async () => {
      const bad: readonly RedisOptions[] = [
        { clientName: {} as unknown as string },
        { password: 42 as unknown as string },
        { db: -1 },
        { db: 1.5 },
        { connectTimeout: Infinity },
        { reconnect: { maxAttempts: 0 } },
        { protocol: 4 as unknown as 3 },
      ];
      for (const options of bad) {
        const failure = await h.run(() => h.connect({ ...parse(url), ...options }).then(() => null, (e: unknown) => e));
        expect(failure).toBeInstanceOf(InvalidArgumentError);
        expect((failure as InvalidArgumentError).code).toBe('ERR_BAD_OPTION');
        expect((failure as InvalidArgumentError).message).toContain(Object.keys(options)[0]);
      }
    });

    it('decodes every RESP3 type the server can send (DEBUG PROTOCOL), and their RESP2 forms', async () => {
      for (const protocol of [3, 2] as const) {
        await withClient(
          async (c) => {
            const probe = (type: string): Promise<RespValue> => c.call<RespValue>('DEBUG', 'PROTOCOL', type);
            expect(await probe('string')).toBe('Hello World');
            expect(await probe('integer')).toBe(12345);
            expect(await probe('null')).toBeNull();
            expect(await probe('array')).toEqual([0, 1, 2]);
            if (protocol === 3) {
              expect(await probe('double')).toBe(3.141);
              expect(await probe('bignum')).toBe(1234567999999999999999999999999999999n);
              expect(await probe('true')).toBe(true);
              expect(await probe('false')).toBe(false);
              expect(await probe('set')).toEqual(new Set([0, 1, 2]));
              expect(await probe('map')).toEqual(new Map([[0, false], [1, true], [2, false]]));
              expect(await probe('verbatim')).toEqual(new RespVerbatim('txt', 'This is a verbatim\nstring'));
              // An attribute is not the reply: the value after it is; attributes go to those who ask.
              expect(await probe('attrib')).toBe('Some real reply following the attribute');
              const seen: RespAttributes[] = [];
              const reply = await c.sendCommand<RespValue>(['DEBUG', 'PROTOCOL', 'attrib'], { onAttributes: (attributes) => seen.push(attributes) });
              expect(reply).toBe('Some real reply following the attribute');
              expect(seen).toEqual([new Map([['key-popularity', ['key:123', 90]]])]);
            } else {
              expect(await probe('double')).toBe('3.141');
              expect(await probe('true')).toBe(1);
              expect(await probe('map')).toEqual([0, 0, 1, 1, 2, 0]);
              expect(await probe('verbatim')).toBe('This is a verbatim\nstring');
            }
          },
          { url: debugServer.url, protocol },
        );
      }
    });

    it('RESP3 attributes before replies: typed commands see the reply, an error reply rejects, attributes reach onAttributes', async () => {
      // Redis sends attributes only for DEBUG PROTOCOL attrib (above); this peer speaks RESP3 by
      // hand and puts one before every reply, as a server reporting key popularity would.
      const peer = await startPeer(attributeAnswer);
      try {
        await withClient(
          async (c) => {
            const popular = new Map([['key-popularity', ['k', 0.25]]]);
            expect(await c.get('k')).toBe('value');
            expect(await c.incr('n')).toBe(6);
            expect(await c.hGetAll('h')).toEqual({ a: '1', b: '2' });
            expect(await c.mGet(['k', 'l'])).toEqual(['value', null]);
            const failed = await c.set('k', 'v').catch((e: unknown) => e);
            expect(failed).toBeInstanceOf(RedisError);
            expect((failed as RedisError).code).toBe('WRONGTYPE');
            const seen: RespAttributes[] = [];
            expect(await c.get('k', { onAttributes: (attributes) => seen.push(attributes) })).toBe('value');
            expect(await c.incr('n', { onAttributes: (attributes) => seen.push(attributes) })).toBe(6);
            expect(await c.set('k', 'v', { onAttributes: (attributes) => seen.push(attributes) }).catch((e: unknown) => e)).toBeInstanceOf(RedisError);
            expect(seen).toEqual([popular, popular, popular]);
            const hookError = new Error('rejected by the hook');
            expect(await c.get('k', { onAttributes: () => { throw hookError; } }).catch((e: unknown) => e)).toBe(hookError);
            const results = await c.pipeline().get('k').incr('n').set('k', 'v').exec({ onAttributes: (attributes) => seen.push(attributes) });
            expect(results.slice(0, 2)).toEqual(['value', 6]);
            expect(results[2]).toBeInstanceOf(RedisError);
            expect(seen).toHaveLength(6);
            expect(await c.ping()).toBe('PONG');
          },
          { host: '127.0.0.1', port: peer.port, protocol: 3, reconnect: false },
        );
      } finally {
        await peer.stop();
      }
    });

    it('keys and values with all 256 byte values, binary safe', async () => {
      await withClient(async (c) => {
        const all = new Uint8Array(256).map((_, i) => i);
        const binaryKey = new Uint8Array([...new TextEncoder().encode(prefix), ...all]);
        await c.set(binaryKey, all);
        const back = await c.get(binaryKey, { bytes: true });
        expect(back).not.toBeNull();
        expect(Array.from(back as Uint8Array)).toEqual(Array.from(all));
        for (let b = 0; b < 256; b += 51) {
          const k = new Uint8Array([...new TextEncoder().encode(`${prefix}b`), b, b, 13, 10]);
          await c.set(k, new Uint8Array([b, 13, 10, b]));
          expect(Array.from((await c.get(k, { bytes: true })) as Uint8Array)).toEqual([b, 13, 10, b]);
        }
      });
    });

    it('a 64 MiB value both ways', async () => {
      await withClient(async (c) => {
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
      });
    }, 60_000);

    it('100 000 pipelined commands: explicit pipeline and auto-pipelining', async () => {
      await withClient(async (c) => {
        const n = 100_000;
        const pipeline = c.pipeline();
        for (let i = 0; i < n; i++) pipeline.set(key(`p${i % 1000}`), String(i));
        const results = await pipeline.exec();
        expect(results).toHaveLength(n);
        expect(results.every((r) => r === 'OK')).toBe(true);
        const gets: Promise<string | null>[] = [];
        for (let i = 0; i < n; i++) gets.push(c.echo(`v${i}`));
        const values = await Promise.all(gets);
        expect(values.every((v, i) => v === `v${i}`)).toBe(true);
      });
    }, 60_000);

    it('pub/sub messages arrive while the main connection keeps working', async () => {
      await withClient(async (c) => {
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
      });
    });

    it('MULTI/EXEC, a WATCH conflict, and an aborted transaction', async () => {
      await withClient(async (c) => {
        expect(await c.multi().set(key('t'), '1').incr(key('t')).get(key('t')).exec()).toEqual(['OK', 2, '2']);
        const other = await h.connect(url);
        await c.watch(key('t'));
        await other.set(key('t'), 'changed');
        expect(await c.multi().incr(key('t')).exec()).toBeNull();
        expect(await c.get(key('t'))).toBe('changed');
        await other.close();
        const aborted = await c.multi().set(key('t'), 'x').sendCommand(['SET']).exec().catch((e: unknown) => e);
        expect((aborted as RedisError).code).toBe('EXECABORT');
        const runtimeError = await c.multi().set(key('t2'), 'x').incr(key('t2')).exec();
        expect(runtimeError?.[0]).toBe('OK');
        expect((runtimeError?.[1] as RedisError).code).toBe('ERR');
      });
    });

    it('isolated(): WATCH transactions of concurrent workers on leased connections of their own, while the main connection keeps working', async () => {
      await withClient(async (c) => {
        const counter = key('iso:counter');
        await c.set(counter, '0');
        const mainId = await c.sendCommand<number>(['CLIENT', 'ID']);
        const leasedIds = new Set<number>();
        const incrementBy = (worker: number): Promise<number> =>
          c.isolated(async (own) => {
            leasedIds.add(await own.sendCommand<number>(['CLIENT', 'ID']));
            let conflicts = 0;
            for (let done = 0; done < 10; ) {
              await own.watch(counter);
              const value = Number(await own.get(counter));
              // Between WATCH and EXEC the other workers write: some EXECs must fail.
              await h.sleep(worker % 3);
              const result = await own.multi().set(counter, String(value + 1)).exec();
              if (result === null) conflicts++;
              else done++;
            }
            return conflicts;
          });
        const workers = Array.from({ length: 6 }, (_, w) => h.start(() => incrementBy(w)));
        // The main connection serves others meanwhile, and is never one of the leased ones.
        for (let i = 0; i < 20; i++) expect(await c.echo(`main ${i}`)).toBe(`main ${i}`);
        let conflicts = 0;
        for (const worker of workers) conflicts += await worker.join();
        expect(await c.get(counter)).toBe('60');
        expect(conflicts).toBeGreaterThan(0);
        expect(leasedIds.has(mainId)).toBe(false);
        // The pool (blockingPoolSize, default 4) bounds the connections: 6 workers shared them.
        expect(leasedIds.size).toBeLessThanOrEqual(4);
        // A lease given back after WATCH is clean: the next isolated block's EXEC is not aborted.
        await c.isolated(async (own) => own.watch(counter));
        expect(await c.isolated(async (own) => own.multi().incr(counter).exec())).toEqual([61]);
      });
    });

    it('cancelling calls in the middle of a deep pipeline: every other caller gets its own reply', async () => {
      await withClient(async (c) => {
        const n = 20_000;
        const controllers: AbortController[] = [];
        const calls: Promise<string>[] = [];
        for (let i = 0; i < n; i++) {
          const controller = new AbortController();
          controllers.push(controller);
          calls.push(c.echo(`reply-${i}`, { signal: controller.signal }));
        }
        const outcomes = Promise.allSettled(calls);
        // Some are cancelled before they are written, some after.
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
      });
    });

    it('calls made from recycled ones: bursts mixed with error replies, transforms, bytes, aborts and timeouts each get their own reply', async () => {
      await withClient(async (c) => {
        const n = 3000;
        const list = key('spare-list');
        await c.del(list);
        await c.rPush(list, 'x');
        const hash = key('spare-hash');
        await c.hSet(hash, { a: '1', b: '2' });
        const values = Array.from({ length: n }, (_, i) => `v${i}:${'y'.repeat(i % 50)}`);
        const batch = c.pipeline();
        for (let i = 0; i < n; i++) batch.set(key(`spare:${i}`), values[i] as string);
        await batch.exec();
        const check = (outcome: PromiseSettledResult<unknown>, i: number, round: number): void => {
          const kind = (i + round) % 7;
          if (kind === 1) {
            expect(outcome.status).toBe('rejected');
            expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(RedisError);
            return;
          }
          if (kind === 5) {
            if (outcome.status === 'rejected') expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(AbortedError);
            else expect(outcome.value).toBe(values[i]);
            return;
          }
          expect(outcome.status).toBe('fulfilled');
          const value = (outcome as PromiseFulfilledResult<unknown>).value;
          if (kind === 2) expect(value).toBe(1);
          else if (kind === 3) expect(value).toEqual({ a: '1', b: '2' });
          else if (kind === 4) expect(Buffer.from(value as Uint8Array).toString()).toBe(values[i]);
          else if (kind === 6) expect(value).toEqual(['GET', values[i]]);
          else expect(value).toBe(values[i]);
        };
        for (let round = 0; round < 4; round++) {
          const controllers: AbortController[] = [];
          const calls: Promise<unknown>[] = [];
          for (let i = 0; i < n; i++) {
            const k = key(`spare:${i}`);
            switch ((i + round) % 7) {
              case 1:
                calls.push(c.get(list)); // WRONGTYPE
                break;
              case 2:
                calls.push(c.exists(k));
                break;
              case 3:
                calls.push(c.hGetAll(hash));
                break;
              case 4:
                calls.push(c.get(k, { bytes: true }));
                break;
              case 5: {
                const controller = new AbortController();
                controllers.push(controller);
                calls.push(c.get(k, { signal: controller.signal, timeout: 60_000 }));
                break;
              }
              case 6:
                calls.push(Promise.all([c.sendCommand(['ECHO', 'GET']), c.sendCommand(['GET', k])]));
                break;
              default:
                // A timeout alone: made from a spare, and recycled, like a plain call.
                calls.push(i % 2 === 0 ? c.get(k, { timeout: 60_000 }) : c.get(k));
            }
          }
          const outcomes = Promise.allSettled(calls);
          // Aborted before they are written, and after (their late replies are discarded).
          for (let j = 0; j < controllers.length; j += 3) controllers[j]?.abort();
          await h.sleep(0);
          for (let j = 1; j < controllers.length; j += 3) controllers[j]?.abort();
          (await outcomes).forEach((outcome, i) => check(outcome, i, round));
          // One at a time too, between bursts.
          for (let i = 0; i < 50; i++) expect(await c.get(key(`spare:${i}`))).toBe(values[i]);
        }
      });
    });

    it('a call cancelled before it is written is never sent', async () => {
      await withClient(async (c) => {
        const counter = key('never-sent');
        await c.del(counter);
        const controllers = Array.from({ length: 10 }, () => new AbortController());
        const calls = controllers.map((controller) => c.incr(counter, { signal: controller.signal }).then((v) => v, (e: unknown) => e));
        // Still in the same burst: nothing has been written yet.
        for (let i = 0; i < 10; i += 2) controllers[i]?.abort();
        const outcomes = await Promise.all(calls);
        outcomes.forEach((outcome, i) => {
          if (i % 2 === 0) expect(outcome).toBeInstanceOf(AbortedError);
          else expect(typeof outcome).toBe('number');
        });
        expect(await c.get(counter)).toBe('5');
      });
    });

    it('per-call timeouts: the late reply is discarded and the next caller gets its own', async () => {
      await withClient(
        async (c) => {
          const timedOut = await c.call('DEBUG', 'SLEEP', '0.3').then(
            () => 'finished',
            (e: unknown) => e,
          );
          expect(timedOut).toBe('finished');
          const error = await c.sendCommand(['DEBUG', 'SLEEP', '0.3'], { timeout: 50 }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(CommandTimeoutError);
          expect(await c.echo('mine')).toBe('mine');
        },
        { url: debugServer.url },
      );
    });

    it('blocking commands run on their own connections with correct timeouts and cancellation', async () => {
      await withClient(async (c) => {
        const list = key('blocking');
        const t0 = now();
        expect(await c.blPop(list, 0.2)).toBeNull();
        expect(now() - t0).toBeGreaterThanOrEqual(150);
        const waiting = c.blPop(list, 5);
        expect(await c.rPush(list, 'woken')).toBe(1);
        expect(await waiting).toEqual({ key: list, element: 'woken' });
        const controller = new AbortController();
        const cancelled = c.blPop(key('never'), 0, { signal: controller.signal }).catch((e: unknown) => e);
        await h.sleep(20);
        controller.abort();
        expect(await cancelled).toBeInstanceOf(AbortedError);
        expect(await c.echo('still fine')).toBe('still fine');
        // From ID 0-0 of a new stream, not '$': the blocking read runs on a connection of its own,
        // which may reach the server after the XADD on a loaded machine ('$' would then wait for
        // a later entry until its BLOCK timeout).
        const stream = key('stream');
        await c.del(stream);
        const read = c.xRead({ [stream]: '0-0' }, { BLOCK: 2000 });
        await h.sleep(20);
        const id = await c.xAdd(stream, '*', { k: 'v' });
        expect(await read).toEqual({ [stream]: [{ id, fields: { k: 'v' } }] });
      });
    });

    it('scan iterators', async () => {
      await withClient(async (c) => {
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
      });
    });

    itNeeds(['lua'], 'the script cache (with NOSCRIPT recovery)', async () => {
      await withClient(async (c) => {
        const script = 'return redis.call("INCRBY", KEYS[1], ARGV[1])';
        expect(await c.runScript(script, [key('lua')], [5])).toBe(5);
        await c.call('SCRIPT', 'FLUSH');
        expect(await c.runScript(script, [key('lua')], [5])).toBe(10);
      });
    });

    it('authentication: the right password works, a wrong one is a typed error', async () => {
      const secured = await startServer({ password: 's3cret' });
      try {
        await withClient(async (c) => expect(await c.echo('authed')).toBe('authed'), { url: secured.url });
        const failure = await h.run(() => h.connect({ port: secured.port, password: 'wrong', reconnect: false }).then(() => null, (e: unknown) => e));
        expect(failure).toBeInstanceOf(RedisError);
        expect((failure as RedisError).code).toBe('WRONGPASS');
      } finally {
        await secured.stop();
      }
    });

    it('connection refused is a typed ConnectionError', async () => {
      const port = await freePort();
      const failure = await h.run(() => h.connect({ port, reconnect: false, connectTimeout: 2000 }).then(() => null, (e: unknown) => e));
      expect(failure).toBeInstanceOf(ConnectionError);
      expect((failure as ConnectionError).code).toBe('ECONNREFUSED');
    });

    itNeeds(['tls'], 'TLS (rediss://): a trusted certificate works, an untrusted one is a typed error', async () => {
      const secure = await startServer({ tls: true });
      try {
        await withClient(async (c) => {
          expect(await c.echo('over tls')).toBe('over tls');
          expect(c.protocol).toBe(3);
        }, { url: secure.url, tls: { ca: secure.ca as string, serverName: 'localhost' } });
        const failure = await h.run(() => h.connect({ url: secure.url, reconnect: false }).then(() => null, (e: unknown) => e));
        expect(failure).toBeInstanceOf(ConnectionError);
      } finally {
        await secure.stop();
      }
    });

    it('client-side caching: CLIENT TRACKING invalidations arrive as pushes', async () => {
      await withClient(async (c) => {
        const invalidated: string[] = [];
        const stop = c.onPush((push) => {
          if (push.kind === 'invalidate') for (const k of (push.data[1] as RespValue[] | null) ?? []) invalidated.push(String(k));
        });
        await c.set(key('tracked'), 'v1');
        await c.call('CLIENT', 'TRACKING', 'ON');
        expect(await c.get(key('tracked'))).toBe('v1');
        const other = await h.connect(url);
        await other.set(key('tracked'), 'v2');
        await other.close();
        for (let i = 0; i < 100 && invalidated.length === 0; i++) await h.sleep(10);
        expect(invalidated).toEqual([key('tracked')]);
        stop();
        await c.call('CLIENT', 'TRACKING', 'OFF');
      });
    });

    it('MONITOR on a connection of its own sees the commands others run', async () => {
      await withClient(async (c) => {
        const monitor = await c.monitor();
        await c.set(key('watched'), 'seen');
        let line: string | null = null;
        for (let i = 0; i < 20; i++) {
          line = await monitor.next();
          if (line !== null && line.includes(key('watched'))) break;
        }
        expect(line).toMatch(/"set" ".*watched" "seen"/i);
        await monitor.close();
        expect(await c.echo('main still free')).toBe('main still free');
      }, { url: debugServer.url });
    });

    it('after a server restart a subscription subscribes again and keeps receiving', async () => {
      const server = await startServer();
      try {
        await h.run(async () => {
          const c = await h.connect({ port: server.port, reconnect: { initialDelay: 20, maxDelay: 100 } });
          const subscription = await c.subscribe(key('restart'));
          await server.kill();
          await server.restart();
          let received: string | null = null;
          for (let i = 0; i < 200 && received === null; i++) {
            try {
              if ((await c.publish(key('restart'), 'after restart')) > 0) received = (await subscription.next())?.message ?? null;
            } catch {
              // still reconnecting
            }
            if (received === null) await h.sleep(20);
          }
          expect(received).toBe('after restart');
          await subscription.close();
          await c.close();
        });
      } finally {
        await server.stop();
      }
    });

    it('while reconnecting, calls wait in a bounded offline queue; beyond it they fail at once, typed', async () => {
      const server = await startServer();
      try {
        await h.run(async () => {
          const c = await h.connect({ port: server.port, offlineQueueLimit: 3, reconnect: { initialDelay: 50, maxDelay: 100 } });
          await server.kill();
          for (let i = 0; i < 100 && c.status === 'ready'; i++) {
            await c.echo('probe', { timeout: 100 }).catch(() => undefined); // retried on reconnect: it must not wait for the restart
            await h.sleep(5);
          }
          expect(c.status).toBe('reconnecting');
          const calls = Array.from({ length: 6 }, (_, i) => c.echo(`queued ${i}`).then((v) => v, (e: unknown) => e));
          await server.restart();
          const outcomes = await Promise.all(calls);
          expect(outcomes.slice(0, 3)).toEqual(['queued 0', 'queued 1', 'queued 2']);
          for (const outcome of outcomes.slice(3)) expect(outcome).toBeInstanceOf(OfflineQueueFullError);
          await c.close();
        });
      } finally {
        await server.stop();
      }
    }, 30_000);

    it('a durable server killed and restarted under load: no lost acknowledged write, no misrouted reply, recovery', async () => {
      const server = await startServer({ durable: true });
      try {
        await h.run(async () => {
          const client = await h.connect({ port: server.port, reconnect: { initialDelay: 20, maxDelay: 200 } });
          const load = underLoad(client);
          await h.sleep(150);
          await server.kill();
          await h.sleep(200);
          await server.restart();
          await h.sleep(300);
          await load.stop();
          expect(load.acknowledged.length).toBeGreaterThan(0);
          for (const failure of load.failures) {
            expect(failure).toBeInstanceOf(ClientError);
            expect(failure instanceof ConnectionLostError || failure instanceof ConnectionError || failure instanceof CommandTimeoutError).toBe(true);
          }
          const values = await client.mGet(load.acknowledged);
          const missing = load.acknowledged.filter((k, i) => values[i] !== k);
          expect(missing).toEqual([]);
          expect(client.status).toBe('ready');
          expect(await client.echo('recovered')).toBe('recovered');
          await client.close();
        });
      } finally {
        await server.stop();
      }
    }, 60_000);

    itNeeds(['loading'], 'after a restart the client waits until the server has loaded its data: no LOADING error reaches a caller', async () => {
      const server = await startServer({ durable: true });
      try {
        await h.run(async () => {
          // Enough data that loading it takes a while, written into the append-only file.
          const setup = await h.connect({ port: server.port });
          await setup.sendCommand(['DEBUG', 'POPULATE', 200_000, 'filler', 64]);
          await setup.sendCommand(['BGREWRITEAOF']);
          const rewritten = await until(async () => /aof_rewrite_in_progress:0[\s\S]*aof_rewrite_scheduled:0/.test(await setup.info('persistence')), 20_000);
          expect(rewritten).toBe(true);
          await setup.close();
          const client = await h.connect({ port: server.port, reconnect: { initialDelay: 20, maxDelay: 100 } });
          const load = underLoad(client);
          await h.sleep(100);
          await server.kill();
          await server.restart();
          expect(await sawServerLoading(server.port)).toBe(true);
          const acknowledgedAtRestart = load.acknowledged.length;
          expect(await until(() => load.acknowledged.length > acknowledgedAtRestart + 100, 20_000)).toBe(true);
          await load.stop();
          expect(load.failures.filter((failure) => failure instanceof RedisError)).toEqual([]);
          for (const failure of load.failures) expect(failure).toBeInstanceOf(ConnectionError);
          expect(await client.dbSize()).toBeGreaterThanOrEqual(200_000);
          await client.close();
        });
      } finally {
        await server.stop();
      }
    }, 60_000);

    it('a client closed while it reconnects stays closed: no socket left, nothing sent, calls fail with ClientClosedError', async () => {
      let helloHeld = false;
      let releaseHello = (): void => {};
      const held = new Promise<void>((resolve) => {
        releaseHello = resolve;
      });
      const peer = await startPeer(async (command) => {
        if (command.connection > 1 && command.name === 'HELLO') {
          helloHeld = true;
          await held;
        }
        return answerLikeRedis(command);
      });
      try {
        await h.run(async () => {
          const c = await h.connect({ port: peer.port, reconnect: { initialDelay: 10, maxDelay: 20 } });
          expect(await c.echo('first')).toBe('first');
          peer.dropAll();
          expect(await until(() => helloHeld)).toBe(true); // the reconnect handshake is under way
          const offline = c.echo('offline').then((v) => v, (e: unknown) => e);
          await c.close();
          releaseHello(); // the server answers the handshake after all
          await h.sleep(100);
          expect(c.status).toBe('closed');
          expect(await offline).toBeInstanceOf(ClientClosedError);
          expect(await c.echo('after').then((v) => v, (e: unknown) => e)).toBeInstanceOf(ClientClosedError);
          expect(await until(() => peer.open === 0)).toBe(true);
          expect(peer.commands.filter((command) => command.name === 'ECHO').map((command) => command.args[0])).toEqual(['first']);
        });
      } finally {
        releaseHello();
        await peer.stop();
      }
    });

    it('a client closed during reconnect backoff stays closed when the server comes back', async () => {
      const server = await startServer();
      try {
        await h.run(async () => {
          const c = await h.connect({ port: server.port, clientName: 'backoff-closed', reconnect: { initialDelay: 100, maxDelay: 100 } });
          await server.kill();
          expect(await until(() => c.status === 'reconnecting')).toBe(true);
          const offline = c.echo('offline').then((v) => v, (e: unknown) => e);
          await c.close();
          expect(await offline).toBeInstanceOf(ClientClosedError);
          await server.restart();
          await h.sleep(300);
          expect(c.status).toBe('closed');
          const observer = await h.connect({ port: server.port });
          expect(String(await observer.sendCommand(['CLIENT', 'LIST']))).not.toContain('backoff-closed');
          await observer.close();
        });
      } finally {
        await server.stop();
      }
    });

    it('closing a client ends its blocking calls and subscriptions, and closes their connections', async () => {
      const name = `closing-${h.runtime}`;
      await withClient(async (observer) => {
        const ours = async (): Promise<string[]> =>
          String(await observer.sendCommand(['CLIENT', 'LIST']))
            .split('\n')
            .filter((line) => line.includes(`name=${name}`));
        const c = await h.connect({ ...parse(url), clientName: name });
        const blocked = c.blPop(key('closing-never'), 0).then((v) => v, (e: unknown) => e);
        const subscription = await c.subscribe(key('closing-channel'));
        const message = subscription.next();
        expect(await until(async () => (await ours()).some((line) => line.includes('cmd=blpop')))).toBe(true);
        const subscribing = c.subscribe(key('closing-late')).then((v) => v, (e: unknown) => e);
        await c.close();
        expect(await blocked).toBeInstanceOf(ClientClosedError);
        expect(await message).toBeNull();
        expect(await subscribing).toBeInstanceOf(ClientClosedError);
        expect(await c.subscribe(key('closing-after')).then((v) => v, (e: unknown) => e)).toBeInstanceOf(ClientClosedError);
        expect(c.status).toBe('closed');
        expect(await until(async () => (await ours()).length === 0)).toBe(true);
      });
    });

    it('a reply the client cannot parse fails the call with ProtocolViolationError; it is never sent again', async () => {
      const peer = await startPeer((command) => (command.name === 'GET' ? '?not RESP\r\n' : answerLikeRedis(command)));
      try {
        await h.run(async () => {
          const c = await h.connect({ port: peer.port, reconnect: { initialDelay: 10, maxDelay: 50 } });
          const failure = await c.get(key('garbled'), { timeout: 3000 }).then((v) => v, (e: unknown) => e);
          expect(failure).toBeInstanceOf(ProtocolViolationError);
          expect((failure as ProtocolViolationError).code).toBe('ERR_PROTOCOL_VIOLATION');
          expect((failure as ProtocolViolationError).cause).toBeInstanceOf(RemoteProtocolError);
          expect(peer.commands.filter((command) => command.name === 'GET')).toHaveLength(1);
          expect(await c.echo('reconnected')).toBe('reconnected');
          await c.close();
        });
      } finally {
        await peer.stop();
      }
    });

    it('reconnecting gives up after reconnect.maxAttempts failures in a row: the client closes, calls fail with ReconnectFailedError', async () => {
      // Every connection after the first answers its handshake with garbage.
      const garbled = await startPeer((command) => (command.connection === 1 ? answerLikeRedis(command) : '?not RESP\r\n'));
      // Every connection does its handshake, then answers ECHO with garbage.
      const garbledAfterHandshake = await startPeer((command) => (command.name === 'ECHO' ? '?not RESP\r\n' : answerLikeRedis(command)));
      try {
        await h.run(async () => {
          const reconnect = { initialDelay: 10, maxDelay: 20, maxAttempts: 3 };
          const c = await h.connect({ port: garbled.port, reconnect });
          expect(await c.echo('first')).toBe('first');
          garbled.dropAll();
          const failure = await c.echo('offline', { timeout: 5000 }).then((v) => v, (e: unknown) => e);
          expect(failure).toBeInstanceOf(ReconnectFailedError);
          expect((failure as ReconnectFailedError).code).toBe('ERR_RECONNECT_FAILED');
          expect((failure as ReconnectFailedError).cause).toBeInstanceOf(ProtocolViolationError);
          expect(c.status).toBe('closed');
          expect(await c.echo('later').then((v) => v, (e: unknown) => e)).toBeInstanceOf(ReconnectFailedError);
          expect(garbled.accepted).toBe(1 + 3);

          const d = await h.connect({ port: garbledAfterHandshake.port, reconnect });
          const outcomes: unknown[] = [];
          for (let i = 0; i < 10 && !(outcomes.at(-1) instanceof ReconnectFailedError); i++) {
            outcomes.push(await d.echo(`try ${i}`, { timeout: 5000 }).then((v) => v, (e: unknown) => e));
          }
          expect(outcomes.map((outcome) => (outcome as Error).constructor.name)).toEqual([
            'ProtocolViolationError',
            'ProtocolViolationError',
            'ProtocolViolationError',
            'ReconnectFailedError',
          ]);
          expect(d.status).toBe('closed');
          await c.close();
          await d.close();
        });
      } finally {
        await garbled.stop();
        await garbledAfterHandshake.stop();
      }
    });

    it('a server that accepts and never answers: connectTimeout ends the connect with ConnectTimeoutError', async () => {
      const silent = await startPeer(() => null);
      const silentAfterHello = await startPeer((command) => (command.name === 'HELLO' ? answerLikeRedis(command) : null));
      try {
        for (const peer of [silent, silentAfterHello]) {
          const failure = await h.run(() => h.connect({ port: peer.port, connectTimeout: 300, reconnect: false }).then(() => null, (e: unknown) => e));
          expect(failure).toBeInstanceOf(ConnectTimeoutError);
          expect(failure).toBeInstanceOf(ConnectionError);
          expect((failure as ConnectTimeoutError).code).toBe('ETIMEDOUT');
          expect((failure as ConnectTimeoutError).message).toMatch(/300 ms/);
          expect(await h.run(() => until(() => peer.open === 0))).toBe(true);
        }
      } finally {
        await silent.stop();
        await silentAfterHello.stop();
      }
    });

    it('a database the server does not have is an error of SELECT', async () => {
      const failure = await h.run(() => h.connect({ ...parse(url), db: 4096, reconnect: false }).then(() => null, (e: unknown) => e));
      expect(failure).toBeInstanceOf(RedisError);
      expect((failure as RedisError).command).toBe('SELECT');
      expect((failure as RedisError).message).toMatch(/DB index is out of range/);
    });

    it('hGetAll with bytes: true keeps binary field names and values (pairs of Uint8Array), RESP3 and RESP2', async () => {
      const field = new Uint8Array([0xff, 0x00, 0x80, 0x0d, 0x0a]);
      const value = new Uint8Array([0xc3, 0x28, 0x00]);
      for (const protocol of [3, 2] as const) {
        await withClient(
          async (c) => {
            const k = key(`binary-hash-${protocol}`);
            await c.del(k);
            await c.hSet(k, new Map<Uint8Array | string, Uint8Array | string>([[field, value], ['text', 'plain']]));
            const entries = await c.hGetAll(k, { bytes: true });
            const asLists = entries.map(([f, v]) => [Array.from(f), Array.from(v)]);
            expect(asLists).toContainEqual([Array.from(field), Array.from(value)]);
            expect(asLists).toContainEqual([Array.from(new TextEncoder().encode('text')), Array.from(new TextEncoder().encode('plain'))]);
            expect(entries).toHaveLength(2);
            expect(await c.hGetAll(k)).toMatchObject({ text: 'plain' });
          },
          { ...parse(url), protocol },
        );
      }
    });

    it('an aborted call rejects with an AbortError: name AbortError, the signal reason as cause, code ERR_ABORTED', async () => {
      await withClient(async (c) => {
        const reason = new Error('user went away');
        const already = new AbortController();
        already.abort(reason);
        const pending = new AbortController();
        const written = c.blPop(key('abort-never'), 0, { signal: pending.signal }).then((v) => v, (e: unknown) => e);
        const batch = new AbortController();
        const pipeline = c.pipeline().echo('in a pipeline').exec({ signal: batch.signal }).then((v) => v, (e: unknown) => e);
        batch.abort();
        await h.sleep(20);
        pending.abort(reason);
        const failures = [await c.echo('x', { signal: already.signal }).then((v) => v, (e: unknown) => e), await written];
        for (const failure of failures) {
          expect(failure).toBeInstanceOf(AbortedError);
          expect(failure).toBeInstanceOf(ClientError);
          expect((failure as Error).name).toBe('AbortError');
          expect((failure as Error).cause).toBe(reason);
          expect((failure as AbortedError).code).toBe('ERR_ABORTED');
        }
        const batchFailure = (await pipeline) as Error;
        expect(batchFailure.name).toBe('AbortError');
        expect(batchFailure.cause).toBe(batch.signal.reason);
        expect(await c.echo('still fine')).toBe('still fine');
      });
    });
  });
  return leftOut;
}

function parse(url: string): RedisOptions {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), db: Number(u.pathname.slice(1) || 0) };
}

/**
 * A RESP3 peer's answers, for what no real server sends: an attribute map (key popularity)
 * before every reply. It answers HELLO, PING, INFO, GET, MGET, INCR, HGETALL and SET (with a
 * WRONGTYPE error reply); anything else gets +OK.
 */
function attributeAnswer(command: FakeRedisCommand): FakeRedisAnswer {
  const attribute = '|1\r\n+key-popularity\r\n*2\r\n$1\r\nk\r\n,0.25\r\n';
  const replies: Record<string, string> = {
    HELLO: `${attribute}%2\r\n$6\r\nserver\r\n$4\r\npeer\r\n$5\r\nproto\r\n:3\r\n`,
    PING: `${attribute}+PONG\r\n`,
    INFO: `${attribute}$11\r\nloading:0\r\n\r\n`,
    GET: `${attribute}$5\r\nvalue\r\n`,
    MGET: `${attribute}*2\r\n|1\r\n+ttl\r\n:60\r\n$5\r\nvalue\r\n_\r\n`,
    INCR: `${attribute}:6\r\n`,
    HGETALL: `${attribute}%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n`,
    SET: `${attribute}-WRONGTYPE Operation against a key holding the wrong kind of value\r\n`,
  };
  return replies[command.name] ?? `${attribute}+OK\r\n`;
}
