// run.ts
//
// `run(main)`: the short form of driving a kernel from plain Promise code.

import { KernelUsageError } from './errors.js';
import { Kernel } from './kernel.js';
import type { KernelOptions } from './kernel.js';
import { strictCallerTask } from './handoff.js';
import type { TaskFunction } from './task.js';

/** Options of {@link run}: the kernel's options, plus a name for the main task. */
export interface RunOptions extends KernelOptions {
  /** Name of the main task (default: the function's name, or 'main'). */
  name?: string;
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
  const kernel = new Kernel(options);
  try {
    if (options?.monitor !== undefined && options.monitor !== false) await kernel.monitorReady();
    return await kernel.runTask(main, { name: options?.name ?? (main.name !== '' ? main.name : 'main') });
  } finally {
    await kernel.shutdown();
  }
}
