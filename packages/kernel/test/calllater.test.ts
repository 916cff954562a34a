// Kernel.callLater (callbacks on the kernel's clock, run from the scheduler outside any task)
// and the virtual clock's autojump (KernelOptions.autojumpThreshold: jump while tasks wait on IO
// once the kernel has been idle for a while), traced in order.
import { describe, expect, it } from 'vitest';
import { Event, Kernel, KernelClosedError, clock, run, sleep, spawn, timeoutAfter } from '@curio-ts/kernel';
import { currentTaskOrNull } from '@curio-ts/kernel/lowlevel';
import type { KernelErrorInfo } from '@curio-ts/kernel';
import { closeAll, connectedPair } from './socket-helpers.js';

describe('Kernel.callLater', () => {
  it('runs the callback outside any task once the real clock has passed its time; cancel stops it', async () => {
    const kernel = new Kernel();
    const log: string[] = [];
    try {
      await kernel.runTask(async () => {
        const start = clock();
        const done = new Event();
        kernel.callLater(5, () => {
          log.push(`fired: in a task ${String(currentTaskOrNull() !== null)}, on time ${String(kernel.clock() - start >= 5)}`);
          done.set();
        });
        const cancelled = kernel.callLater(1, () => log.push('cancelled one fired'));
        cancelled.cancel();
        expect(cancelled.pending).toBe(false);
        await done.wait();
        log.push('task woken');
      });
    } finally {
      await kernel.shutdown();
    }
    expect(log).toEqual(['fired: in a task false, on time true', 'task woken']);
  });

  it('follows the virtual clock: fires exactly at its time, in order with sleeping tasks', async () => {
    const kernel = new Kernel({ clock: 'virtual' });
    const log: string[] = [];
    try {
      await kernel.runTask(async () => {
        const done = new Event();
        kernel.callLater(60_000, () => {
          log.push(`call@${kernel.clock()}`);
          done.set();
        });
        const sleeper = spawn(async () => {
          await sleep(30_000);
          log.push(`sleep@${clock()}`);
        });
        await done.wait();
        log.push(`woken@${clock()}`);
        await sleeper.join();
      });
    } finally {
      await kernel.shutdown();
    }
    expect(log).toEqual(['sleep@30000', 'call@60000', 'woken@60000']);
  });

  it('a cancelled earliest call leaves the deadlines at once: no wake timer or clock read for it; later ones still fire in order', async () => {
    const kernel = new Kernel();
    const log: string[] = [];
    try {
      await kernel.runTask(async () => {
        const first = kernel.callLater(60_000, () => log.push('cancelled one fired'));
        const done = new Event();
        const second = kernel.callLater(120_000, () => log.push('second fired'));
        expect(kernel.nextRealDeadline()).toBe(first._at);
        first.cancel();
        // The front entry was stale: dropped, so the next deadline is the live one.
        expect(kernel.nextRealDeadline()).toBe(second._at);
        second.cancel();
        expect(kernel.nextRealDeadline()).toBeUndefined();
        kernel.callLater(2, () => {
          log.push('third fired');
          done.set();
        });
        await done.wait();
      });
    } finally {
      await kernel.shutdown();
    }
    expect(log).toEqual(['third fired']);
  });

  it('reports a callback that throws through the error hook and keeps going', async () => {
    const reports: string[] = [];
    const kernel = new Kernel({
      clock: 'virtual',
      onError: (error: unknown, info: KernelErrorInfo) => reports.push(`${info.reason}: ${(error as Error).message}`),
    });
    try {
      const at = await kernel.runTask(async () => {
        kernel.callLater(10, () => {
          throw new Error('boom');
        });
        await sleep(20);
        return clock();
      });
      expect(at).toBe(20);
    } finally {
      await kernel.shutdown();
    }
    expect(reports).toEqual(['scheduled-call-error: boom']);
    expect(kernel.isClosed).toBe(true);
    expect(() => kernel.callLater(1, () => {})).toThrow(KernelClosedError);
  });
});

describe('virtual clock autojump', () => {
  it('times out a read from a peer that never answers at once on the virtual clock; answered reads are not skipped', async () => {
    const out = await run(
      async () => {
        const { server, client, peer } = await connectedPair();
        const log: string[] = [];
        // Answered within the block: the IO wakes the reader before any jump.
        const answering = spawn(async () => {
          await client.sendall(Buffer.from('ping'));
        });
        const got = await timeoutAfter(1_000, () => peer.recv(100));
        await answering.join();
        log.push(`${Buffer.from(got).toString()}@${clock()}`);
        // Never answered: the clock jumps to the deadline although the task waits on IO.
        try {
          await timeoutAfter(60_000, () => peer.recv(100));
        } catch (error) {
          log.push(`${(error as Error).name}@${clock()}`);
        }
        await closeAll(client, peer, server);
        return log;
      },
      { clock: 'virtual', autojumpThreshold: 20 },
    );
    expect(out).toEqual(['ping@0', 'TaskTimeout@60000']);
  });

  it('is off by default: a virtual clock does not jump while a task waits on IO', async () => {
    const out = await run(
      async () => {
        const { server, client, peer } = await connectedPair();
        const reader = spawn(() => timeoutAfter(60_000, () => peer.recv(100)));
        const sleeper = spawn(async () => {
          await sleep(1_000);
          return clock();
        });
        // The sleeper is blocked on time, the reader on IO: no jump until the bytes arrive,
        // written by plain code outside the kernel a little later.
        setTimeout(() => client.rawSocket.write('late'), 30);
        const got = Buffer.from(await reader.join()).toString();
        const readAt = clock();
        const slept = await sleeper.join();
        await closeAll(client, peer, server);
        return { got, readAt, slept };
      },
      { clock: 'virtual' },
    );
    expect(out).toEqual({ got: 'late', readAt: 0, slept: 1_000 });
  });

  it('rejects a bad threshold', () => {
    expect(() => new Kernel({ clock: 'virtual', autojumpThreshold: -1 })).toThrow(TypeError);
  });
});
