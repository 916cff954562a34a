// What only the curio runtime offers: client calls are kernel traps, so task cancellation and
// timeoutAfter interrupt them, and the monitor-visible state says what a task waits for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis } from '@curio-ts/conformance';
import type { PrivateRedis } from '@curio-ts/conformance';
import { TaskCancelled, TaskTimeout, run, sleep, spawn, timeoutAfter } from '@curio-ts/kernel';
import { connectRedis } from '@curio-ts/backend-curio';

describe('redis on the curio runtime: kernel cancellation', () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a task blocked on a reply is cancelled at once; the connection keeps working', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      const slow = spawn(() => client.call('DEBUG', 'SLEEP', '0.5'), { name: 'slow' });
      await sleep(20);
      expect(slow.state).toBe('REDIS_REPLY');
      await slow.cancel();
      expect(slow.exception).toBeInstanceOf(TaskCancelled);
      // The late reply of DEBUG SLEEP is discarded; this caller gets its own.
      expect(await client.echo('next')).toBe('next');
      await client.close();
    });
  });

  it('timeoutAfter around a call raises TaskTimeout and leaves the client usable', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      await expect(timeoutAfter(50, () => client.call('DEBUG', 'SLEEP', '0.3'))).rejects.toBeInstanceOf(TaskTimeout);
      expect(await client.echo('after timeout')).toBe('after timeout');
      await client.close();
    });
  });

  it('cancelling a task blocked in BLPOP frees it and other calls are not blocked', async () => {
    await run(async () => {
      const client = await connectRedis(server.url);
      const popper = spawn(() => client.blPop('curio:never', 0));
      await sleep(20);
      expect(await client.echo('not blocked')).toBe('not blocked');
      await popper.cancel();
      expect(popper.exception).toBeInstanceOf(TaskCancelled);
      expect(await client.rPush('curio:list', 'x')).toBe(1);
      expect(await client.blPop('curio:list', 1)).toEqual({ key: 'curio:list', element: 'x' });
      await client.close();
    });
  });

  it('thousands of tasks share one connection, auto-pipelined', async () => {
    const count = await run(async () => {
      const client = await connectRedis(server.url);
      const tasks = [];
      for (let i = 0; i < 5000; i++) tasks.push(spawn(async () => (await client.echo(`t${i}`)) === `t${i}`));
      let ok = 0;
      for (const t of tasks) if (await t.join()) ok++;
      await client.close();
      return ok;
    });
    expect(count).toBe(5000);
  });
});
