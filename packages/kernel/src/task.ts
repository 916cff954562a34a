// task.ts
//
// The Task: one async function run by the kernel, with the attributes Curio gives a task (id,
// name, state, cycles, cancellation flags, result) and the operations other tasks apply to it
// (join, wait, cancel, where).
//
// Invariants:
// - `state` is 'READY' while on the ready queue, 'RUNNING' while it holds the baton,
//   'FOREIGN_WAIT' while it awaits something that is not a trap, 'TERMINATED' at the end, and
//   otherwise names the trap it is blocked in ('TIME_SLEEP', 'EVENT_WAIT', ...), or, while it
//   awaits without a trap and has operations of its own pending (`_ops.waiting`), the state of its
//   oldest pending operation ('REDIS_REPLY', ...: see operation.ts).
// - `_waitCancel` is non-null exactly while the task is blocked in a cancellable trap.
// - A task is not thenable: `await spawn(f)` gives the task, `await task.join()` its result.
// - A failed task's error counts as looked at once `join()`, `result` or `exception` handed it
//   to user code (`_lookedAt`); `wait()` and `cancel()` never do. An error nobody looked at is
//   reported by the kernel (see "errors nobody looked at" in kernel.ts).
//
// Discussion: size. A task is held for as long as it lives, and a server holds one per
// connection (an idle one too), so its fields are what every task needs; the few that most
// tasks never set (timeout blocks, a joiner's barrier, a pending error report, an AbortSignal,
// a recorded trap site, plain-Promise waiters, the start of a foreign wait) live in a TaskRare
// made on first need, and its eight booleans are bits of one number, all read through accessors
// of the same names: 328 -> 216 bytes per task (V8's heap snapshot, Node 20).

import type { CancelledError } from './errors.js';
import { KernelUsageError, TaskCancelled, TaskError } from './errors.js';
import type { Kernel, UnreportedError } from './kernel.js';
import { JoinBarrier } from './sched.js';
import type { WaitCancel } from './sched.js';
import type { TaskGroup } from './taskgroup.js';
import type { TaskOps } from './operation.js';
import { currentTaskOrNull, kernelTrap } from './traps.js';
import { outsideLocals } from './local.js';

/**
 * What a task is doing. The kernel uses the names below; wait queues built on
 * {@link SchedBase} may add their own.
 */
export type TaskState =
  | 'READY'
  | 'RUNNING'
  | 'TERMINATED'
  | 'TIME_SLEEP'
  | 'FOREIGN_WAIT'
  | 'PROMISE_WAIT'
  | 'TASK_JOIN'
  | 'EVENT_WAIT'
  | 'LOCK_ACQUIRE'
  | 'RLOCK_ACQUIRE'
  | 'SEMA_ACQUIRE'
  | 'COND_WAIT'
  | 'QUEUE_GET'
  | 'QUEUE_PUT'
  | 'QUEUE_JOIN'
  | 'RESULT_WAIT'
  | (string & {});

/** Options of {@link spawn}. */
export interface SpawnOptions {
  /** A name for monitors and error messages. Defaults to the function's name. */
  name?: string;
  /**
   * A daemon task runs in the background: a task group does not wait for it (it is cancelled
   * when the group ends) and the kernel cancels it at shutdown without complaint.
   */
  daemon?: boolean;
}

/** Options of {@link Task.cancel}. */
export interface CancelOptions {
  /** Wait until the task has ended (default true). `false` only requests the cancellation. */
  blocking?: boolean;
  /** The error thrown into the task (default a new {@link TaskCancelled}). */
  error?: CancelledError;
}

const noop = (): void => {};

/** Task.bits. */
const DAEMON = 1;
const CANCELLED = 2;
const TERMINATED = 4;
const TRAP_FAILED = 8;
const ALLOW_CANCEL = 16;
const FAILED = 32;
const OBSERVED = 64;
const FOREIGN = 128;

/** The parts of a task most tasks never set (see "Discussion: size"). */
class TaskRare {
  deadlines: (number | null)[] | null = null;
  deadlineOps: number[] | null = null;
  joining: JoinBarrier | null = null;
  unreported: UnreportedError | null = null;
  abort: AbortController | null = null;
  trapSite: Error | null = null;
  doneWaiters: (() => void)[] | null = null;
  foreignSince = 0;
}

/** A task run by the kernel. Create one with {@link spawn} or {@link TaskGroup.spawn}. */
export class Task<T = unknown> {
  /** Unique id, increasing in creation order. */
  readonly id: number;
  /** @internal Explicit or function name; null means the default `task-<id>`. */
  private _name: string | null;
  /** Id of the task that spawned this one, or null for a top-level task. */
  readonly parentId: number | null;
  /** What the task is doing now. */
  state: TaskState = 'READY';
  /** How many times the task has been resumed by the scheduler. */
  cycles = 0;

  /** @internal */ readonly _kernel: Kernel;
  /** @internal */ _fn: (() => T | PromiseLike<T>) | null;
  /** @internal */ _resolve: (value: unknown) => void = noop;
  /** @internal */ _reject: (error: unknown) => void = noop;
  /** @internal */ _trapValue: unknown = undefined;
  /** @internal What the task is blocked in (null when not blocked in a cancellable trap). */ _waitCancel: WaitCancel | null = null;
  /** @internal Bumped at every suspension; identifies the current wait. */ _waitSeq = 0;
  /** @internal Data kept with the current wait (a blocked put's item). */ _waitPayload: unknown = undefined;
  /** @internal */ _cancelPending: CancelledError | null = null;
  /** @internal */ _sleepAt: number | null = null;
  /** @internal */ _timeoutAt: number | null = null;
  /** @internal */ _group: TaskGroup | null = null;
  /** @internal The return value, or the error if `_failed`. */ _outcome: unknown = undefined;
  /** @internal The operations the task started (operation.ts), once it has started one. */ _ops: TaskOps | null = null;
  /** @internal */ _locals: Map<object, unknown> | null;
  /** @internal */ _prev: Task | null = null;
  /** @internal */ _next: Task | null = null;
  /** @internal The rarely set parts (see "Discussion: size"), or null. */ _rare: TaskRare | null = null;
  /** Its booleans, as bits (see "Discussion: size"). */
  private bits = ALLOW_CANCEL;

  /** @internal */
  constructor(kernel: Kernel, id: number, fn: () => T | PromiseLike<T>, parent: Task | null, options?: SpawnOptions) {
    this._kernel = kernel;
    this.id = id;
    this._fn = fn;
    this.parentId = parent === null ? null : parent.id;
    this._name = options?.name ?? (fn.name !== '' ? fn.name : null);
    if (options?.daemon ?? false) this.bits |= DAEMON; // truthy, as the field it replaced held it
    this._locals = parent === null ? outsideLocals() : parent._locals !== null ? new Map(parent._locals) : null;
  }

  /** Whether the task is a daemon (see {@link SpawnOptions.daemon}). */
  get daemon(): boolean {
    return (this.bits & DAEMON) !== 0;
  }
  set daemon(value: boolean) {
    this.setBit(DAEMON, value);
  }

  /** Whether a cancellation has been requested. */
  get cancelled(): boolean {
    return (this.bits & CANCELLED) !== 0;
  }
  set cancelled(value: boolean) {
    this.setBit(CANCELLED, value);
  }

  /** Whether the task has ended. */
  get terminated(): boolean {
    return (this.bits & TERMINATED) !== 0;
  }
  set terminated(value: boolean) {
    this.setBit(TERMINATED, value);
  }

  /** @internal Its trap rejects (with `_trapValue`) when it is resumed. */
  get _trapFailed(): boolean {
    return (this.bits & TRAP_FAILED) !== 0;
  }
  /** @internal */
  set _trapFailed(value: boolean) {
    this.setBit(TRAP_FAILED, value);
  }

  /** @internal Cancellation is delivered at its blocking traps (not inside a shield). */
  get _allowCancel(): boolean {
    return (this.bits & ALLOW_CANCEL) !== 0;
  }
  /** @internal */
  set _allowCancel(value: boolean) {
    this.setBit(ALLOW_CANCEL, value);
  }

  /** @internal `_outcome` is its error. */
  get _failed(): boolean {
    return (this.bits & FAILED) !== 0;
  }
  /** @internal */
  set _failed(value: boolean) {
    this.setBit(FAILED, value);
  }

  /**
   * @internal Whether the task's outcome was handed to user code (see "Errors nobody looked at"
   * in kernel.ts). Set by `join()`, `result`, `exception`; a root task of `runTask` starts true.
   */
  get _observed(): boolean {
    return (this.bits & OBSERVED) !== 0;
  }
  /** @internal */
  set _observed(value: boolean) {
    this.setBit(OBSERVED, value);
  }

  /** @internal It awaits something that is not a trap (FOREIGN_WAIT: handoff.ts). */
  get _foreign(): boolean {
    return (this.bits & FOREIGN) !== 0;
  }
  /** @internal */
  set _foreign(value: boolean) {
    this.setBit(FOREIGN, value);
  }

  private setBit(bit: number, value: boolean): void {
    this.bits = value ? this.bits | bit : this.bits & ~bit;
  }

  /** @internal The deadlines of the timeout blocks the task is in (time.ts). */
  get _deadlines(): (number | null)[] | null {
    return this._rare === null ? null : this._rare.deadlines;
  }
  /** @internal */
  set _deadlines(value: (number | null)[] | null) {
    if (value !== null || this._rare !== null) this.rareNow().deadlines = value;
  }

  /** @internal `_ops.seq` when each timeout block of `_deadlines` was entered. */
  get _deadlineOps(): number[] | null {
    return this._rare === null ? null : this._rare.deadlineOps;
  }
  /** @internal */
  set _deadlineOps(value: number[] | null) {
    if (value !== null || this._rare !== null) this.rareNow().deadlineOps = value;
  }

  /** @internal The barrier of the tasks waiting for this one to end. */
  get _joining(): JoinBarrier | null {
    return this._rare === null ? null : this._rare.joining;
  }
  /** @internal */
  set _joining(value: JoinBarrier | null) {
    if (value !== null || this._rare !== null) this.rareNow().joining = value;
  }

  /** @internal The pending report of this task's error, until it is looked at or reported. */
  get _unreported(): UnreportedError | null {
    return this._rare === null ? null : this._rare.unreported;
  }
  /** @internal */
  set _unreported(value: UnreportedError | null) {
    if (value !== null || this._rare !== null) this.rareNow().unreported = value;
  }

  /** @internal When its current foreign wait began (performance.now()). */
  get _foreignSince(): number {
    return this._rare === null ? 0 : this._rare.foreignSince;
  }
  /** @internal */
  set _foreignSince(value: number) {
    this.rareNow().foreignSince = value;
  }

  /** @internal The controller of its AbortSignal (cancellation.ts), once asked for. */
  get _abort(): AbortController | null {
    return this._rare === null ? null : this._rare.abort;
  }
  /** @internal */
  set _abort(value: AbortController | null) {
    if (value !== null || this._rare !== null) this.rareNow().abort = value;
  }

  /** @internal Where it last blocked (debug mode and the monitor). */
  get _trapSite(): Error | null {
    return this._rare === null ? null : this._rare.trapSite;
  }
  /** @internal */
  set _trapSite(value: Error | null) {
    if (value !== null || this._rare !== null) this.rareNow().trapSite = value;
  }

  /** @internal Functions called once it ends (plain-Promise waiters, operations). */
  get _doneWaiters(): (() => void)[] | null {
    return this._rare === null ? null : this._rare.doneWaiters;
  }
  /** @internal */
  set _doneWaiters(value: (() => void)[] | null) {
    if (value !== null || this._rare !== null) this.rareNow().doneWaiters = value;
  }

  private rareNow(): TaskRare {
    return (this._rare ??= new TaskRare());
  }

  /** The kernel running this task. */
  get kernel(): Kernel {
    return this._kernel;
  }

  /** Name for monitors and messages: the spawn option, the function's name, or `task-<id>`. */
  get name(): string {
    return this._name ?? `task-${this.id}`;
  }

  set name(value: string) {
    this._name = value;
  }

  /**
   * The task's return value. Throws if the task has not ended, and throws the task's own error
   * if it failed.
   */
  get result(): T {
    if (!this.terminated) throw new KernelUsageError(`task ${this.id} (${this.name}) has not terminated`, 'ERR_TASK_RUNNING');
    this._lookedAt();
    if (this._failed) throw this._outcome;
    return this._outcome as T;
  }

  /** The task's error if it failed, else undefined. Throws if the task has not ended. */
  get exception(): unknown {
    if (!this.terminated) throw new KernelUsageError(`task ${this.id} (${this.name}) has not terminated`, 'ERR_TASK_RUNNING');
    this._lookedAt();
    return this._failed ? this._outcome : undefined;
  }

  /**
   * Wait for the task to end and return its result. If it failed, throws a {@link TaskError}
   * whose `cause` is the task's error. Removes the task from its task group.
   */
  join(): Promise<T> {
    if (this.terminated) {
      try {
        return Promise.resolve(this.joined());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.wait().then(() => this.joined());
  }

  private joined(): T {
    if (this._group !== null) this._group._discard(this);
    this._lookedAt();
    if (this._failed) throw new TaskError(`task ${this.id} (${this.name}) failed`, { cause: this._outcome });
    return this._outcome as T;
  }

  /**
   * Wait for the task to end, without looking at how: this alone does not count as looking at
   * its error (read `result` or `exception` afterwards, or use `join()`). From plain Promise
   * code outside the kernel this returns an ordinary Promise.
   */
  wait(): Promise<void> {
    if (this.terminated) return Promise.resolve();
    if (currentTaskOrNull() === null) return this._outsideWait();
    return (this._joining ??= new JoinBarrier(this)).suspend<void>('TASK_JOIN');
  }

  /**
   * Cancel the task: a {@link TaskCancelled} (or `options.error`) is thrown into it at its
   * current blocking await, or at its next one. By default waits until the task has ended;
   * `blocking: false` only requests it (that is how a task cancels itself). Cancelling an
   * ended task does nothing; in particular it does not count as looking at the error of a task
   * that had already failed, which is still reported if nobody looks at it.
   */
  async cancel(options?: CancelOptions): Promise<void> {
    if (this.terminated) return;
    this._kernel.requestCancel(this, options?.error ?? new TaskCancelled());
    if (options?.blocking ?? true) await this.wait();
  }

  /**
   * Where the task is: its state and what it waits on, and with `debug: true` (or the monitor)
   * the source location of the await it is blocked at.
   */
  where(): string {
    let text = this.state as string;
    if (this.state === 'TIME_SLEEP' && this._sleepAt !== null) text += ` (until clock ${this._sleepAt.toFixed(1)} ms)`;
    if (this._trapSite !== null) {
      const site = userFrame(this._trapSite);
      if (site !== null) text += ` at ${site}`;
    }
    return text;
  }

  /** `Task(id=1, name='main', state='RUNNING')`, as Curio prints it. */
  toString(): string {
    return `Task(id=${this.id}, name=${JSON.stringify(this.name)}, state=${JSON.stringify(this.state)})`;
  }

  /** @internal The task's outcome reached user code: its error, if any, is not reported. */
  _lookedAt(): void {
    this._observed = true;
    if (this._unreported !== null) this._kernel.errorLookedAt(this);
  }

  /** @internal Resolve plain-Promise waiters once the task ends. */
  _outsideWait(): Promise<void> {
    return new Promise<void>((resolve) => {
      (this._doneWaiters ??= []).push(resolve);
    });
  }
}

const KERNEL_FILE = /[/\\]packages[/\\]kernel[/\\](src|dist)[/\\]|node:internal|\(native\)|<anonymous>/;

/** The first stack frame outside the kernel in a captured trap site. */
function userFrame(site: Error): string | null {
  const lines = (site.stack ?? '').split('\n').slice(1);
  for (const line of lines) {
    if (KERNEL_FILE.test(line)) continue;
    const trimmed = line.trim().replace(/^at /, '');
    if (trimmed !== '') return trimmed;
  }
  return null;
}

/** Options accepted wherever a task is spawned. */
export type TaskFunction<T> = () => T | PromiseLike<T>;

/**
 * Start a new task running `fn`. Does not switch tasks: the new task goes to the back of the
 * ready queue and `fn` is called when its turn comes. Returns the {@link Task} (not thenable).
 */
export function spawn<T>(fn: TaskFunction<T>, options?: SpawnOptions): Task<T> {
  return kernelTrap({ trap: 'spawn', fn, options }) as Task<T>;
}

/**
 * Call `fn` once `task` has ended (at once if it has), from wherever it ends: a plain callback,
 * for code that must not hold a suspended async function per task to learn it (a runtime's
 * background activities). Low-level: `fn` runs inside the kernel's exit path and must not throw.
 */
export function atTaskExit(task: Task, fn: () => void): void {
  if (task.terminated) fn();
  // A literal of one: pushing onto an empty array would reserve room for 17.
  else if (task._doneWaiters === null) task._doneWaiters = [fn];
  else task._doneWaiters.push(fn);
}

/** The task running this code. Throws {@link KernelUsageError} outside a kernel task. */
export function currentTask(): Task {
  return kernelTrap({ trap: 'current' });
}
