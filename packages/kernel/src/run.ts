// run.ts
//
// `run(main)`: the short form of driving a kernel from plain Promise code. It is also where
// the task monitor is attached (as Curio's `run(..., with_monitor=True)`): the kernel core
// knows nothing of it.

import { DeadlockError, KernelUsageError } from './errors.js';
import { Kernel } from './kernel.js';
import type { KernelOptions } from './kernel.js';
import { attachMonitor } from './monitor/server.js';
import type { MonitorOptions } from './monitor/server.js';
import { strictCallerTask } from './handoff.js';
import type { TaskFunction } from './task.js';

/** Options of {@link run}: the kernel's options, a name for the main task, and the monitor. */
export interface RunOptions extends KernelOptions {
  /** Name of the main task (default: the function's name, or 'main'). */
  name?: string;
  /**
   * Start the task monitor before `main` (see {@link attachMonitor}): `true` for
   * 127.0.0.1:48802, as Curio, or `{ host, port, onListening }` (port 0 for a free one).
   * Connect with `npx curio-monitor [host] [port]`. If it cannot listen, `run` rejects with
   * a {@link MonitorError} without starting `main`.
   */
  monitor?: boolean | MonitorOptions;
}

/**
 * Start a kernel, run `main` as its first task, and resolve with its result (or reject with
 * its own error). When `main` ends, the remaining tasks are cancelled and the kernel is shut
 * down. Calling `run` from inside a kernel task is a {@link KernelUsageError}.
 */
export async function run<T>(main: TaskFunction<T>, options?: RunOptions): Promise<T> {
  if (strictCallerTask() !== null) {
    throw new KernelUsageError('run() called from inside a running kernel; use spawn()', 'ERR_NESTED_RUN');
  }
  const { name, monitor, ...kernelOptions } = options ?? {};
  const kernel = new Kernel(kernelOptions);
  let result: T;
  try {
    if (monitor !== undefined && monitor !== false) await attachMonitor(kernel, monitor === true ? {} : monitor).ready();
    result = await kernel.runTask(main, { name: name ?? (main.name !== '' ? main.name : 'main') });
  } catch (error) {
    if (error instanceof DeadlockError) {
      // Node ran out of work: a task stalled on a Promise nothing will settle cannot end, so
      // the shutdown is not awaited (it ends by itself when Node runs out of work again).
      kernel.shutdown().catch(() => {});
    } else {
      // main's own error is the one to see, also when the shutdown cannot finish (a task left
      // awaiting a Promise nothing settles: its DeadlockError ends the shutdown).
      await kernel.shutdown().catch(() => {});
    }
    throw error;
  }
  // main is done but a task it left may be unable to end: then run() rejects with the
  // shutdown's DeadlockError, which names it, instead of never settling.
  await kernel.shutdown();
  return result;
}
