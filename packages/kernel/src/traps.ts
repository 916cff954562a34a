// traps.ts
//
// The single gate into the kernel (Curio's traps.py). Every operation that needs to know the
// calling task, and every operation that may block, is a typed trap request passed to
// `kernelTrap`. The gate finds the calling task, hands the request to that task's kernel, and
// the kernel runs the handler named after the trap (`trapSleep`, `trapSchedWait`, ...).
// Nothing outside kernel.ts knows the kernel's internals; new primitives are built from these
// traps and the wait queues of sched.ts.
//
// Blocking traps return a Promise that the kernel settles when it resumes the task; the task
// must `await` it at once. Non-blocking traps return their value directly.

import { KernelUsageError } from './errors.js';
import type { CancelledError } from './errors.js';
import { callerTask, strictCallerTask } from './handoff.js';
import type { SchedBase } from './sched.js';
import type { SpawnOptions, Task, TaskState } from './task.js';

/** Every request the kernel understands. */
export type TrapRequest =
  | { readonly trap: 'sleep'; readonly ms: number }
  | {
      readonly trap: 'schedWait';
      readonly sched: SchedBase;
      readonly state: TaskState;
      readonly payload?: unknown;
    }
  | { readonly trap: 'promiseWait'; readonly promise: PromiseLike<unknown> }
  | {
      readonly trap: 'externalWait';
      readonly state: TaskState;
      readonly start: (wake: ExternalWake) => () => void;
    }
  | { readonly trap: 'spawn'; readonly fn: () => unknown; readonly options: SpawnOptions | undefined }
  | { readonly trap: 'cancel'; readonly target: Task; readonly error: CancelledError }
  | { readonly trap: 'setTimeout'; readonly deadline: number | null }
  | { readonly trap: 'unsetTimeout'; readonly previous: number | null }
  | { readonly trap: 'clock' }
  | { readonly trap: 'current' };

/**
 * How an external wait (IO, a thread, a timer outside the kernel...) resumes its task: call
 * `resolve` or `reject` once. Calls after the wait was cancelled are ignored. They are methods:
 * call them on the object (`wake.resolve(v)`), or bind them to pass them around.
 */
export interface ExternalWake {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What each trap gives back. */
export interface TrapResults {
  sleep: Promise<number>;
  schedWait: Promise<unknown>;
  promiseWait: Promise<unknown>;
  externalWait: Promise<unknown>;
  spawn: Task<unknown>;
  cancel: void;
  setTimeout: number | null;
  unsetTimeout: number;
  clock: number;
  current: Task<unknown>;
}

/** The handler side of the gate, implemented by Kernel. @internal */
export interface TrapHandler {
  dispatch(task: Task, request: TrapRequest): unknown;
}

/**
 * Enter the kernel. Throws {@link KernelUsageError} (code `ERR_OUTSIDE_KERNEL`) when called
 * from code that is not running in a kernel task.
 */
export function kernelTrap<R extends TrapRequest>(request: R): TrapResults[R['trap']] {
  const task = callerTask();
  if (task === null) {
    throw new KernelUsageError(
      `kernel call '${request.trap}' made outside a kernel task (use run() or Kernel.runTask(); inside a ` +
        'task, this is also what a blocking call right after another one in the same expression looks like, ' +
        'as in Promise.all([sleep(10), queue.get()]): a task waits on one thing at a time, see "One wait at a time per task")',
      'ERR_OUTSIDE_KERNEL',
    );
  }
  return task._kernel.dispatch(task, request) as TrapResults[R['trap']];
}

/**
 * The calling task, or null when the caller is not a kernel task (plain Promise code, even
 * when it runs interleaved with the kernel's tasks). Never throws. For APIs that work both in
 * and out of tasks; while the kernel is busy it inspects the async stack (~3 us), except in
 * Promise jobs the kernel follows (while a task sits in a raw foreign await).
 */
export function currentTaskOrNull(): Task | null {
  return strictCallerTask();
}
