// @curio-ts/kernel: a Curio-style concurrency kernel for Node.js.
//
// Tasks are plain async functions. Every blocking operation is a kernel trap, so the kernel
// can schedule, time out and cancel any task at its awaits.

export {
  CurioError,
  CancelledError,
  TaskCancelled,
  TaskTimeout,
  TimeoutCancellationError,
  UncaughtTimeoutError,
  TaskError,
  ResourceBusy,
  ReadResourceBusy,
  WriteResourceBusy,
  KernelUsageError,
  DeadlockError,
  KernelClosedError,
  SuppressedError,
} from './errors.js';
export type { SuppressedErrorLike } from './errors.js';
export { Kernel } from './kernel.js';
export type { KernelOptions, KernelErrorInfo, KernelErrorReason } from './kernel.js';
export { run } from './run.js';
export type { RunOptions } from './run.js';
export { Task, spawn, currentTask } from './task.js';
export type { TaskState, SpawnOptions, CancelOptions, TaskFunction } from './task.js';
export { TaskGroup } from './taskgroup.js';
export type { WaitPolicy, TaskGroupOptions } from './taskgroup.js';
export { clock, sleep, schedule, timeoutAfter, timeoutAt, ignoreAfter, ignoreAt } from './time.js';
export type { IgnoreOptions } from './time.js';
export {
  disableCancellation,
  checkCancellation,
  setCancellation,
  awaitPromise,
  abortSignal,
  waitExternal,
} from './cancellation.js';
export { Event, Lock, RLock, Semaphore, BoundedSemaphore, Condition, Result } from './sync.js';
export type { Held } from './sync.js';
export { Queue, LifoQueue, PriorityQueue, defaultCompare } from './queue.js';
export { Local } from './local.js';
export { SchedBase, SchedFIFO, SchedBarrier } from './sched.js';
export { kernelTrap, currentTaskOrNull } from './traps.js';
export type { TrapRequest, TrapResults, ExternalWake } from './traps.js';
