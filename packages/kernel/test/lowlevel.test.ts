// The two entries: `@curio-ts/kernel` (the user API) publishes none of the low-level pieces,
// `@curio-ts/kernel/lowlevel` has them all; and kernel activations (what the monitor is built
// on): told of each task created, of the shutdown, and able to turn on trap-site recording.

import { describe, expect, it } from 'vitest';
import * as user from '@curio-ts/kernel';
import { Event, Kernel, KernelClosedError, schedule, spawn } from '@curio-ts/kernel';
import type { Task } from '@curio-ts/kernel';
import * as lowlevel from '@curio-ts/kernel/lowlevel';
import type { KernelActivation } from '@curio-ts/kernel/lowlevel';

const LOW_LEVEL_VALUES = [
  'kernelTrap',
  'currentTaskOrNull',
  'waitExternal',
  'SchedBase',
  'SchedFIFO',
  'SchedBarrier',
  'TaskOperation',
  'OwnedOperation',
  'beginOperation',
  'settleOperation',
  'operationFulfilled',
  'abortOperation',
  'atBurstEnd',
  'atTaskExit',
  'HIGH_WATER',
  'LOW_WATER',
  'DEFAULT_READ',
  'WRITE_SLICE',
  'findOnreadKeys',
];

describe('entries', () => {
  it('the user entry has none of the low-level pieces; the lowlevel entry has exactly them', () => {
    expect(LOW_LEVEL_VALUES.filter((name) => name in user)).toEqual([]);
    expect(Object.keys(lowlevel).sort()).toEqual([...LOW_LEVEL_VALUES].sort());
  });

  it('the user entry keeps the interop a user needs and the monitor', () => {
    for (const name of ['awaitPromise', 'abortSignal', 'disableCancellation', 'attachMonitor', 'MonitorError', 'run', 'Kernel']) {
      expect(typeof (user as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});

describe('kernel activations', () => {
  it('are told of every task created from then on, with its parent, and of the shutdown', async () => {
    const trace: string[] = [];
    const activation: KernelActivation = {
      taskCreated: (task: Task, parent: Task | null) => trace.push(`created ${task.name} by ${parent?.name ?? 'nobody'}`),
      kernelClosed: () => trace.push('closed'),
    };
    const kernel = new Kernel();
    await kernel.runTask(async function before() {}); // created before the activation: not told
    kernel.activate(activation);
    await kernel.runTask(async function main() {
      await spawn(async function child() {}).join();
    });
    trace.push('shutting down');
    await kernel.shutdown();
    await kernel.shutdown();
    expect(trace).toEqual(['created main by nobody', 'created child by main', 'shutting down', 'closed']);
    expect(() => kernel.activate(activation)).toThrow(KernelClosedError);
  });

  it('recordsTrapSites makes where() show the source line of a blocking await, as debug does', async () => {
    const kernel = new Kernel();
    const where = async (): Promise<string> =>
      kernel.runTask(async () => {
        const waiter = spawn(() => new Event().wait());
        await schedule();
        const text = waiter.where();
        await waiter.cancel();
        return text;
      });
    expect(await where()).toBe('EVENT_WAIT');
    kernel.activate({ recordsTrapSites: true });
    expect(await where()).toMatch(/^EVENT_WAIT at .*lowlevel\.test\.ts:\d+/);
    await kernel.shutdown();
  });
});

describe('atTaskExit', () => {
  it('calls back once when a task returns, fails or is cancelled, and at once for an ended task; the callback order is the registration order', async () => {
    const trace: string[] = [];
    const kernel = new Kernel({ onError: () => {} });
    await kernel.runTask(async function main() {
      const gate = new Event();
      const returns = spawn(async () => {
        await gate.wait();
      }, { name: 'returns' });
      const fails = spawn(async () => {
        await gate.wait();
        throw new Error('boom');
      }, { name: 'fails', daemon: true });
      const cancelled = spawn(async () => {
        await gate.wait();
      }, { name: 'cancelled' });
      lowlevel.atTaskExit(returns, () => trace.push('returns ended (1)'));
      lowlevel.atTaskExit(returns, () => trace.push('returns ended (2)'));
      lowlevel.atTaskExit(fails, () => trace.push(`fails ended, terminated ${String(fails.terminated)}`));
      lowlevel.atTaskExit(cancelled, () => trace.push('cancelled ended'));
      await schedule();
      trace.push('cancelling');
      await cancelled.cancel();
      trace.push('setting the gate');
      await gate.set();
      await returns.join();
      await fails.wait();
      lowlevel.atTaskExit(returns, () => trace.push('returns had ended already'));
    });
    await kernel.shutdown();
    expect(trace).toEqual([
      'cancelling',
      'cancelled ended',
      'setting the gate',
      'returns ended (1)',
      'returns ended (2)',
      'fails ended, terminated true',
      'returns had ended already',
    ]);
  });
});
