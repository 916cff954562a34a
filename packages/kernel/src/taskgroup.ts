// taskgroup.ts
//
// Structured concurrency: a TaskGroup owns the tasks spawned into it, and no task outlives its
// group (Curio's TaskGroup, with Curio's semantics).
//
// - Wait policies decide when `join` stops waiting: 'all' (every task), 'any' (the first to
//   finish), 'object' (the first to return something other than undefined), 'none' (cancel at
//   once). Under every policy a task that fails ends the join. When `join` ends, every task
//   still running (daemons included) is cancelled and waited for.
// - `join` does not throw child errors. `result`/`results` throw the child's own error;
//   `exception`/`exceptions` report them. A child error nobody looked at is reported through
//   the kernel's error hook when a scoped group ends (for manually joined groups, when the
//   task is garbage-collected or at shutdown), never silently dropped.
// - `TaskGroup.scope(fn)`: an error thrown by `fn` cancels the remaining tasks and propagates.
//   `await using g = new TaskGroup()` joins when the block ends. JavaScript does not tell a
//   disposer whether its block threw, so on that path the group cannot cancel first: when
//   the body may throw while long-running children exist, prefer `scope`.

import { KernelUsageError } from './errors.js';
import { Deque } from './deque.js';
import { Semaphore } from './sync.js';
import { spawn } from './task.js';
import type { SpawnOptions, Task, TaskFunction } from './task.js';

/** When {@link TaskGroup.join} stops waiting. */
export type WaitPolicy = 'all' | 'any' | 'object' | 'none';

/** Options of {@link TaskGroup}. */
export interface TaskGroupOptions {
  /** The wait policy (default 'all'). */
  wait?: WaitPolicy;
  /** Existing tasks to adopt. */
  tasks?: Iterable<Task>;
}

/** A group of tasks that end together. */
export class TaskGroup<T = unknown> {
  private readonly running = new Set<Task>();
  private readonly finished = new Deque<Task>();
  private readonly daemonic = new Set<Task>();
  private readonly members = new Set<Task>();
  private readonly done: Semaphore;
  private readonly policy: WaitPolicy;
  private joined = false;
  private firstCompleted: Task | null = null;

  constructor(options?: TaskGroupOptions) {
    this.policy = options?.wait ?? 'all';
    this.done = new Semaphore(0);
    for (const task of options?.tasks ?? []) this.addTask(task);
  }

  /**
   * Run `fn` with a new group, then join it. If `fn` throws, the remaining tasks are cancelled
   * and the error propagates. Unobserved child errors are reported through the kernel's error
   * hook. Resolves with `fn`'s result.
   */
  static async scope<R, T = unknown>(
    fn: (group: TaskGroup<T>) => R | PromiseLike<R>,
    options?: TaskGroupOptions,
  ): Promise<R> {
    const group = new TaskGroup<T>(options);
    let value: R;
    try {
      value = await fn(group);
    } catch (error) {
      await group.cancelRemaining();
      await group.join();
      group.reportUnobserved();
      throw error;
    }
    await group.join();
    group.reportUnobserved();
    return value;
  }

  /** Join on disposal (`await using g = new TaskGroup()`); see the module notes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.join();
    this.reportUnobserved();
  }

  /** Every non-daemon task of the group, in creation order. */
  get tasks(): Task<T>[] {
    return [...this.members].sort((a, b) => a.id - b.id) as Task<T>[];
  }

  /** The first task that completed (under 'object': the first with a defined result). */
  get completed(): Task<T> | null {
    return this.firstCompleted as Task<T> | null;
  }

  /** The result of the first completed task; throws its error if it failed. */
  get result(): T {
    this.checkJoined();
    if (this.firstCompleted === null) throw new KernelUsageError('TaskGroup: no task successfully completed', 'ERR_NO_RESULT');
    return this.firstCompleted.result as T;
  }

  /** The error of the first completed task, or undefined. */
  get exception(): unknown {
    this.checkJoined();
    return this.firstCompleted === null ? undefined : this.firstCompleted.exception;
  }

  /** Every task's result in creation order; throws the first failed task's own error. */
  get results(): T[] {
    this.checkJoined();
    return this.tasks.map((task) => task.result);
  }

  /** Every task's error (undefined for those that succeeded), in creation order. */
  get exceptions(): unknown[] {
    this.checkJoined();
    return this.tasks.map((task) => task.exception);
  }

  /** Spawn a task into the group. */
  spawn<R extends T>(fn: TaskFunction<R>, options?: SpawnOptions): Task<R> {
    if (this.joined) throw new KernelUsageError('TaskGroup already joined', 'ERR_GROUP_JOINED');
    const task = spawn(fn, options);
    this.addTask(task);
    return task;
  }

  /** Adopt an existing task (which must not belong to another group). */
  addTask(task: Task): void {
    if (task._group !== null) throw new KernelUsageError('task is already part of a task group', 'ERR_IN_GROUP');
    if (this.joined) throw new KernelUsageError('TaskGroup already joined', 'ERR_GROUP_JOINED');
    task._group = this as TaskGroup<unknown>;
    if (!task.daemon) this.members.add(task);
    if (task.terminated) this._taskDone(task);
    else if (task.daemon) this.daemonic.add(task);
    else this.running.add(task);
  }

  /** Wait for the next task to finish and return it (removing it from the group), or null. */
  async nextDone(): Promise<Task<T> | null> {
    while (this.finished.length === 0 && this.running.size > 0) await this.done.acquire();
    const task = this.finished.shift();
    if (task === undefined) return null;
    task._group = null;
    this.members.delete(task);
    return task as Task<T>;
  }

  /** The result of the next task to finish; throws its error if it failed. */
  async nextResult(): Promise<T> {
    const task = await this.nextDone();
    if (task === null) throw new KernelUsageError('TaskGroup: no task available', 'ERR_NO_TASK');
    return task.result;
  }

  /** Cancel every remaining non-daemon task and wait for them; they leave the group. */
  async cancelRemaining(): Promise<void> {
    const tasks = [...this.running].sort((a, b) => a.id - b.id);
    for (const task of tasks) await task.cancel({ blocking: false });
    for (const task of tasks) {
      await task.wait();
      this.discard(task);
    }
  }

  /**
   * Wait according to the wait policy; then cancel whatever still runs (daemons included).
   * Does not throw child errors: look at `result(s)` / `exception(s)`.
   */
  async join(): Promise<void> {
    try {
      if (this.policy === 'none') return;
      while (this.finished.length > 0 || this.running.size > 0) {
        while (this.finished.length === 0) await this.done.acquire();
        while (this.finished.length > 0) {
          const task = this.finished.shift() as Task;
          const failed = task._failed;
          if (this.firstCompleted === null) {
            if (!(this.policy === 'object' && !failed && task._outcome === undefined)) this.firstCompleted = task;
          }
          if (failed || this.policy === 'any' || (this.policy === 'object' && task._outcome !== undefined)) return;
        }
      }
    } finally {
      const remaining = [...this.running, ...this.daemonic].sort((a, b) => a.id - b.id);
      this.running.clear();
      this.daemonic.clear();
      for (const task of remaining) await task.cancel({ blocking: false });
      for (const task of remaining) await task.wait();
      this.joined = true;
    }
  }

  /** Async iteration over tasks as they finish (each leaves the group). */
  async *[Symbol.asyncIterator](): AsyncIterator<Task<T>> {
    for (;;) {
      const task = await this.nextDone();
      if (task === null) return;
      yield task;
    }
  }

  /** @internal Called by the kernel when a member task ends. */
  _taskDone(task: Task): void {
    if (task.daemon) {
      this.daemonic.delete(task);
      return;
    }
    this.running.delete(task);
    this.finished.push(task);
    this.done.release();
  }

  /** @internal A member was joined directly: it leaves the group. */
  _discard(task: Task): void {
    this.discard(task);
  }

  private discard(task: Task): void {
    this.finished.remove(task);
    this.members.delete(task);
    this.running.delete(task);
    task._group = null;
  }

  private checkJoined(): void {
    if (!this.joined) throw new KernelUsageError('TaskGroup not yet joined', 'ERR_GROUP_NOT_JOINED');
  }

  /** The scope ended: a member's error nobody looked at can no longer be, so report it now. */
  private reportUnobserved(): void {
    for (const task of this.members) task._kernel.reportGroupError(task);
  }
}
