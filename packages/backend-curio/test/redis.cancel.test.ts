// On the curio runtime a call made by a kernel task belongs to it: however the task awaits the
// call (directly, through a helper, Promise.all/race, then(Number)...), task.cancel() and
// timeoutAfter() interrupt it at once, the task's state names the wait, and the client keeps
// working. Calls that the cancellation abandons never surface as unhandled rejections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import { UnhandledRejections, startPrivateRedis } from '@curio-ts/conformance';
import type { PrivateRedis } from '@curio-ts/conformance';
import type { RedisClient } from '@curio-ts/client';
import { TaskCancelled, TaskTimeout, currentTask, run, sleep, spawn, timeoutAfter } from '@curio-ts/kernel';
import { connectRedis } from '@curio-ts/backend-curio';

type Shape = (c: RedisClient) => Promise<unknown>;
const parseJson = JSON.parse as (text: unknown) => unknown;
const SLOW = ['DEBUG', 'SLEEP', '0.4'] as const;
const shapes: Record<string, Shape> = {
  'await call': (c) => c.call(...SLOW),
  'await call.then(Number)': (c) => c.call(...SLOW).then(Number),
  'await call.then(JSON.parse)': (c) => c.call(...SLOW).then(parseJson),
  'await call.catch(...)': (c) => c.call(...SLOW).catch((e: unknown) => Promise.reject(e)),
  'await call.finally(...)': (c) => c.call(...SLOW).finally(() => {}),
  'await Promise.all([call, call])': (c) => Promise.all([c.call(...SLOW), c.echo('x')]),
  'await Promise.race([call, never])': (c) => Promise.race([c.call(...SLOW), new Promise(() => {})]),
  'await Promise.allSettled([call])': async (c) => {
    const [r] = await Promise.allSettled([c.call(...SLOW)]);
    if (r?.status === 'rejected') throw r.reason;
    return r;
  },
  'await helper() that awaits the call': (c) => (async () => Number(await c.call(...SLOW)))(),
  'stored, then awaited': async (c) => {
    const p = c.call(...SLOW);
    await sleep(1);
    return p;
  },
};

describe('redis on curio: cancelling a task however it awaits its call', () => {
  let server: PrivateRedis;
  const unhandled = new UnhandledRejections();
  beforeAll(async () => {
    server = await startPrivateRedis();
    unhandled.start();
  });
  afterAll(async () => {
    unhandled.stop();
    await server.stop();
  });

  for (const [name, shape] of Object.entries(shapes)) {
    it(`${name}: task.cancel() and timeoutAfter interrupt at once`, async () => {
      await run(async () => {
        const client = await connectRedis(server.url);
        const task = spawn(() => shape(client), { name });
        await sleep(30);
        expect(task.state).toBe('REDIS_REPLY');
        const t0 = performance.now();
        await task.cancel();
        expect(performance.now() - t0).toBeLessThan(200); // DEBUG SLEEP lasts 400 ms
        expect(task.exception).toBeInstanceOf(TaskCancelled);

        const t1 = performance.now();
        await expect(timeoutAfter(50, () => shape(client))).rejects.toBeInstanceOf(TaskTimeout);
        expect(performance.now() - t1).toBeLessThan(300);
        // The task goes on normally: kernel calls work, the client answers in order.
        expect(currentTask().state).toBe('RUNNING');
        await sleep(1);
        expect(await client.echo('after')).toBe('after');
        await client.close();
      });
    });
  }

  it('a timeout abandons only the calls started inside its block', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      const outside = client.call('DEBUG', 'SLEEP', '0.2').then(() => 'outside done');
      await expect(timeoutAfter(50, () => client.call(...SLOW))).rejects.toBeInstanceOf(TaskTimeout);
      expect(await outside).toBe('outside done');
      await client.close();
    });
  });

  it('a cancellation seen through the call is delivered once: cleanup afterwards works', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      const log: string[] = [];
      const task = spawn(async () => {
        try {
          await client.call(...SLOW);
        } catch (error) {
          log.push(error instanceof TaskCancelled ? 'cancelled' : 'other');
          await sleep(5); // a blocking call after the delivery: must not be cancelled again
          log.push(String(await client.echo('cleanup')));
          throw error;
        }
      });
      await sleep(20);
      await task.cancel();
      expect(log).toEqual(['cancelled', 'cleanup']);
      await client.close();
    });
  });

  it('a cancelled task\'s fire-and-forget calls leave no unhandled rejection', async () => {
    unhandled.clear();
    await run(async () => {
      const client = await connectRedis(server.url);
      const task = spawn(async () => {
        void client.call(...SLOW);
        void client.call('DEBUG', 'SLEEP', '0.1');
        await sleep(10_000);
      });
      await sleep(20);
      await task.cancel();
      await sleep(50);
      expect(await client.echo('still in sync')).toBe('still in sync');
      await client.close();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled.seen).toEqual([]);
  });

  it('a task with a call pending that awaits fs.promises meanwhile keeps working', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      const tasks = Array.from({ length: 5 }, (_, i) =>
        spawn(async () => {
          const pending = client.echo(`v${i}`);
          await fs.stat('.');
          await sleep(1);
          const again = await client.echo(`w${i}`);
          return [await pending, again];
        }),
      );
      const results: unknown[] = [];
      for (const task of tasks) results.push(await task.join());
      expect(results).toEqual(Array.from({ length: 5 }, (_, i) => [`v${i}`, `w${i}`]));
      await client.close();
    });
  });

  it('a call shared between tasks (single flight) reaches every waiter', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      let inflight: Promise<string> | null = null;
      const load = (): Promise<string> => (inflight ??= client.call<string>('DEBUG', 'SLEEP', '0.05').then(() => 'loaded'));
      const tasks = Array.from({ length: 10 }, () => spawn(async () => (await load()) + (await client.echo('!'))));
      const out: string[] = [];
      for (const t of tasks) out.push(await t.join());
      expect(out).toEqual(Array.from({ length: 10 }, () => 'loaded!'));
      await client.close();
    });
  });

  it('calls abandoned by a cancelled task (written or still queued) are never made into later calls: every later caller gets its own reply', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      const n = 2000;
      const values = Array.from({ length: n }, (_, i) => `spare-${i}`);
      const batch = client.pipeline();
      for (let i = 0; i < n; i++) batch.set(`cancel:spare:${i}`, values[i] as string);
      await batch.exec();
      const burst = () => Promise.all(values.map((_, i) => client.get(`cancel:spare:${i}`)));
      expect(await burst()).toEqual(values); // the spares exist now
      expect(client.core.spareCalls).toBeGreaterThanOrEqual(n);
      for (let round = 0; round < 5; round++) {
        // A burst written behind a slow command, abandoned while its replies are due...
        const doomed = spawn(() => Promise.all([client.call(...SLOW), burst()]), { name: `doomed ${round}` });
        await sleep(20);
        expect(doomed.state).toBe('REDIS_REPLY');
        await doomed.cancel();
        // ...then bursts from other tasks, made of spares, while those late replies arrive.
        const later = [spawn(burst), spawn(burst)];
        for (const task of later) expect(await task.join()).toEqual(values);
        // A burst abandoned before it is written (still in the connection's queue), then more.
        await expect(timeoutAfter(0, burst)).rejects.toBeInstanceOf(TaskTimeout);
        const cut = spawn(burst);
        await sleep(0);
        await cut.cancel();
        expect(cut.exception).toBeInstanceOf(TaskCancelled);
        expect(await burst()).toEqual(values);
      }
      expect(await client.echo('after')).toBe('after');
      await client.close();
    });
  }, 30_000);
});
