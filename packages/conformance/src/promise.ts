// conformance/promise.ts
//
// A call's result is a Promise, on every runtime, in every way JavaScript code uses one:
// then with any callback (native ones such as Number and JSON.parse included), catch, finally,
// chaining, storing and awaiting later or twice, Promise.all/race/any/allSettled,
// Promise.resolve, returning it from an async function, wrapping it in `new Promise`, and
// fire-and-forget. Each body runs the way the runtime's users run code (inside a kernel task
// on curio), and after each use the runtime must still work (`h.sleep`, which is a kernel trap
// on curio, would throw if the task had been left marked as waiting).

import { types } from 'node:util';
import type { RedisClient } from '@curio-ts/client';
import { RedisError } from '@curio-ts/client';
import type { RedisHarness, TestApi } from './redis.js';
import { startPrivateRedis } from './servers.js';
import type { PrivateRedis } from './servers.js';

/** Records the process's unhandled Promise rejections between `start` and `stop`. */
export class UnhandledRejections {
  /** The reasons seen since the last `clear`. */
  readonly seen: unknown[] = [];
  private readonly listener = (reason: unknown): void => {
    this.seen.push(reason);
  };

  start(): void {
    process.on('unhandledRejection', this.listener);
  }

  stop(): void {
    process.off('unhandledRejection', this.listener);
  }

  clear(): void {
    this.seen.length = 0;
  }
}

/** Register the suite (a private server is started for it: `h.startServer`, else a redis-server). */
// Native functions passed as callbacks, typed for a reply that may be null.
const parseJson = JSON.parse as (text: string | null) => unknown;
const parseInteger = parseInt as (text: string | null) => number;

export function promiseConformance(h: RedisHarness, t: TestApi): void {
  const { describe, it, expect, beforeAll, afterAll } = t;

  describe(`a call's result is a faithful Promise (${h.runtime} runtime)`, () => {
    let server: PrivateRedis;
    const unhandled = new UnhandledRejections();
    beforeAll(async () => {
      server = await (h.startServer === undefined ? startPrivateRedis() : h.startServer());
      unhandled.start();
    });
    afterAll(async () => {
      unhandled.stop();
      await server.stop();
    });

    const withClient = <T>(body: (c: RedisClient) => Promise<T>): Promise<T> =>
      h.run(async () => {
        const client = await h.connect(server.url);
        try {
          await client.mSet({ n: '42', json: '{"a":[1,2]}', s: 'text' });
          return await body(client);
        } finally {
          await client.close();
        }
      });

    it('is a real Promise', async () => {
      await withClient(async (c) => {
        const p = c.get('n');
        expect(p).toBeInstanceOf(Promise);
        expect(types.isPromise(p)).toBe(true);
        expect(Object.prototype.toString.call(p)).toBe('[object Promise]');
        expect(p.constructor).toBe(Promise);
        expect(await p).toBe('42');
        await h.sleep(1);
      });
    });

    it('then with any callback, native or not, and chains of then', async () => {
      await withClient(async (c) => {
        expect(await c.get('n').then(Number)).toBe(42);
        expect(await c.get('json').then(parseJson)).toEqual({ a: [1, 2] });
        expect(await c.get('n').then(String)).toBe('42');
        expect(await c.get('n').then(Boolean)).toBe(true);
        expect(await c.get('s').then((s) => `${String(s)}!`)).toBe('text!');
        expect(await c.get('n').then(parseInteger).then((x) => x + 1).then(String)).toBe('43');
        expect(await c.get('n').then(null)).toBe('42');
        expect(await c.get('n').then(undefined, () => 'never')).toBe('42');
        expect(await c.get('n').then(Number).catch(() => -1)).toBe(42);
        expect(await c.get('n').then(String).catch((e: unknown) => e)).toBe('42');
        expect(await c.get('n').then((v) => c.get('s').then((s) => [v, s]))).toEqual(['42', 'text']);
        await h.sleep(1);
      });
    });

    it('a then registered and left pending while the caller goes on', async () => {
      await withClient(async (c) => {
        const seen: unknown[] = [];
        const pending = c.get('n').then((v) => {
          seen.push(v);
          return Number(v);
        });
        expect(seen).toEqual([]);
        await h.sleep(20);
        expect(seen).toEqual(['42']);
        expect(await pending).toBe(42);
        // Fire a then and never look at it again.
        void c.get('s').then((v) => seen.push(v));
        expect(await c.get('n')).toBe('42');
        await h.sleep(5);
        expect(seen).toEqual(['42', 'text']);
      });
    });

    it('catch, then(_, onRejected), finally, and try/await on an error reply', async () => {
      await withClient(async (c) => {
        const error = await c.incr('s').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RedisError);
        expect(await c.incr('s').then(() => 'no', (e: unknown) => (e as RedisError).code)).toBe('ERR');
        let finallyCalls = 0;
        await expect(
          c.incr('s').finally(() => {
            finallyCalls++;
          }),
        ).rejects.toBeInstanceOf(RedisError);
        expect(await c.get('n').finally(() => finallyCalls++)).toBe('42');
        expect(finallyCalls).toBe(2);
        await expect(
          c.get('n').finally(() => {
            throw new Error('from finally');
          }),
        ).rejects.toThrow('from finally');
        try {
          await c.incr('s');
          expect.unreachable();
        } catch (e) {
          expect(e).toBeInstanceOf(RedisError);
        }
        await h.sleep(1);
      });
    });

    it('stored and awaited later, awaited twice, observed by several thens', async () => {
      await withClient(async (c) => {
        const a = c.get('n');
        const b = c.get('s');
        await h.sleep(10);
        expect(await b).toBe('text');
        expect(await a).toBe('42');
        expect(await a).toBe('42');
        const twice = c.get('json');
        const [x, y] = await Promise.all([twice.then(parseJson), twice.then((v) => String(v).length)]);
        expect(x).toEqual({ a: [1, 2] });
        expect(y).toBe(11);
        const failing = c.incr('s');
        const handled = failing.catch((e: unknown) => e);
        await h.sleep(10);
        expect(await handled).toBeInstanceOf(RedisError);
        await expect(failing).rejects.toBeInstanceOf(RedisError);
      });
    });

    it('Promise.all, race, any, allSettled and Promise.resolve', async () => {
      await withClient(async (c) => {
        expect(await Promise.all([c.get('n'), c.get('s'), 7, c.get('missing')])).toEqual(['42', 'text', 7, null]);
        expect(await Promise.race([c.get('n'), new Promise(() => {})])).toBe('42');
        expect(await Promise.any([c.incr('s'), c.get('s')])).toBe('text');
        const settled = await Promise.allSettled([c.get('n'), c.incr('s')]);
        expect(settled[0]).toEqual({ status: 'fulfilled', value: '42' });
        expect(settled[1]?.status).toBe('rejected');
        await expect(Promise.all([c.get('n'), c.incr('s')])).rejects.toBeInstanceOf(RedisError);
        const resolved = Promise.resolve(c.get('n'));
        expect(await resolved).toBe('42');
        const many = await Promise.all(Array.from({ length: 500 }, (_, i) => c.echo(`e${i}`)));
        expect(many[499]).toBe('e499');
        await h.sleep(1);
      });
    });

    it('wrapped: returned from async functions, new Promise, thenables of our own', async () => {
      await withClient(async (c) => {
        const returned = async (): Promise<string | null> => c.get('n');
        const returnAwait = async (): Promise<number> => Number(await c.get('n'));
        expect(await returned()).toBe('42');
        expect(await returnAwait()).toBe(42);
        expect(await new Promise((resolve) => resolve(c.get('s')))).toBe('text');
        expect(await new Promise((resolve, reject) => c.get('s').then(resolve, reject))).toBe('text');
        const thenable = { then: (f: (v: unknown) => void) => c.get('n').then(f) };
        expect(await thenable).toBe('42');
        // Two helpers started together, awaited in the other order.
        const first = returnAwait();
        const second = (async () => JSON.parse(String(await c.get('json'))) as unknown)();
        expect(await second).toEqual({ a: [1, 2] });
        expect(await first).toBe(42);
        await h.sleep(1);
      });
    });

    it('fire and forget: the command runs, nothing is left unhandled', async () => {
      unhandled.clear();
      await withClient(async (c) => {
        void c.set('ff', 'done');
        void c.incr('ff-counter');
        c.set('ff2', 'done').catch(() => {});
        expect(await c.get('ff')).toBe('done');
        expect(await c.get('ff2')).toBe('done');
        expect(await c.get('ff-counter')).toBe('1');
      });
      expect(unhandled.seen).toEqual([]);
    });

    it('a connect is a faithful Promise too: several at once in one flow, or started and awaited after other awaits', async () => {
      await h.run(async () => {
        // Opening a connection blocks in the runtime (kernel traps on curio): none of it may
        // block the caller's flow, which goes on making calls and sleeping meanwhile.
        const clients: RedisClient[] = await Promise.all([h.connect(server.url), h.connect(server.url), h.connect(server.url)]);
        try {
          expect(await Promise.all(clients.map((c, i) => c.echo(`c${i}`)))).toEqual(['c0', 'c1', 'c2']);
          const later = h.connect(server.url);
          await h.sleep(1);
          expect(await clients[0]!.ping()).toBe('PONG');
          const settled = await Promise.allSettled([later, h.connect(server.url)]);
          expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
          for (const r of settled) if (r.status === 'fulfilled') clients.push(r.value);
          expect(await clients[3]!.echo('later')).toBe('later');
          expect(await clients[4]!.echo('allSettled')).toBe('allSettled');
          await h.sleep(1);
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
      });
      expect(unhandled.seen).toEqual([]);
    });

    it('raced against a sleep of the runtime (the usual timeout idiom): the call wins at once and the flow goes on', async () => {
      await withClient(async (c) => {
        const started = Date.now();
        const winner = await Promise.race([c.get('n'), h.sleep(3_000).then(() => 'timed out')]);
        expect(winner).toBe('42');
        expect(Date.now() - started).toBeLessThan(2_000);
        // The flow's own waits and calls work right after (on curio: it runs in its turn).
        await h.sleep(1);
        const [s, late] = await Promise.all([c.get('s'), Promise.race([c.get('json'), h.sleep(3_000)])]);
        expect(s).toBe('text');
        expect(late).toBe('{"a":[1,2]}');
        const settled = await Promise.allSettled([Promise.race([c.hGet('s', 'x'), h.sleep(3_000)])]);
        expect(settled[0]?.status).toBe('rejected');
        await h.sleep(1);
      });
    });

    it('raced with the sleep first (Promise.race([sleep, call])), beside other flows: the call wins at once, and both orders of Promise.all wait for both', async () => {
      await withClient(async (c) => {
        // Other flows of the runtime, already running, loop over sleeps and calls meanwhile.
        let stop = false;
        const others = Array.from({ length: 3 }, (_, i) =>
          h.start(async () => {
            let n = 0;
            while (!stop) {
              expect(await c.echo(`o${i}`)).toBe(`o${i}`);
              await h.sleep(2);
              n++;
            }
            return n;
          }),
        );
        await h.sleep(5);
        const started = Date.now();
        const winner = await Promise.race([h.sleep(3_000).then(() => 'timed out'), c.get('n')]);
        expect(winner).toBe('42');
        expect(Date.now() - started).toBeLessThan(2_000);
        await h.sleep(1);
        const [slept, s] = await Promise.all([h.sleep(20).then(() => 'slept'), c.get('s')]);
        expect([slept, s]).toEqual(['slept', 'text']);
        // The sleep wins against a slow call (a blocking pop on an empty list, 300 ms): the call
        // still gets its reply, awaited later.
        const slow = c.sendCommand(['BLPOP', `empty-${Date.now()}-${Math.random()}`, '0.3']);
        expect(await Promise.race([h.sleep(20).then(() => 'slept'), slow])).toBe('slept');
        expect(await slow).toBeNull();
        stop = true;
        for (const other of others) expect(await other.join()).toBeGreaterThan(0);
      });
    });

    it('from concurrent flows of the runtime, each sees its own results', async () => {
      await withClient(async (c) => {
        const flows = Array.from({ length: 20 }, (_, i) =>
          h.start(async () => {
            let sum = 0;
            for (let j = 0; j < 20; j++) {
              sum += await c.echo(String(j)).then(Number);
              if (j % 7 === 0) await h.sleep(1);
            }
            return `${i}:${sum}`;
          }),
        );
        const results: string[] = [];
        for (const flow of flows) results.push(await flow.join());
        expect(results).toEqual(Array.from({ length: 20 }, (_, i) => `${i}:190`));
      });
    });

    it('the ends of concurrent flows awaited together: Promise.all and Promise.race over their joins, mixed with calls and sleeps', async () => {
      await withClient(async (c) => {
        const flow = (i: number, pause: number) =>
          h.start(async () => {
            await h.sleep(pause);
            return `${i}:${await c.echo(String(i))}`;
          });
        const flows = Array.from({ length: 10 }, (_, i) => flow(i, i % 4));
        expect(await Promise.all(flows.map((f) => f.join()))).toEqual(Array.from({ length: 10 }, (_, i) => `${i}:${i}`));
        const slow = flow(1, 50);
        const quick = flow(2, 1);
        expect(await Promise.race([slow.join(), quick.join()])).toBe('2:2');
        // The flow goes on with its own calls and waits while the loser is still running.
        const [n, , late] = await Promise.all([c.get('n'), h.sleep(5), slow.join()]);
        expect([n, late]).toEqual(['42', '1:1']);
        expect(await Promise.all([h.sleep(2), flow(3, 1).join(), h.sleep(4), flow(4, 0).join()]).then((r) => [r[1], r[3]])).toEqual(['3:3', '4:4']);
      });
    });
  });
}
