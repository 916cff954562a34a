// kernel.ts
//
// The Kernel: a table of tasks, a clock (real or virtual), a deadline queue, and the trap
// handlers. Everything a task asks of the kernel arrives through `dispatch` (called by the
// gate in traps.ts) and is served by a handler named after the trap, as in Curio. The
// hand-off of control between tasks lives in handoff.ts and is shared by all kernels.
//
// Invariants:
// - A blocking handler either returns a rejected Promise at once (a pending cancellation is
//   delivered; the task keeps running) or suspends the task with a cancel function that undoes
//   its registration.
// - `_sleepAt` / `_timeoutAt` on a task are the only deadlines that count; deadline entries
//   that do not match them are stale and ignored.
// - `_externalWaits` counts tasks waiting on something outside the kernel (IO, threads,
//   Promises); with `_foreignCount` it decides whether a virtual clock may jump.
// - A failed task has a pending report (`task._unreported`, in `unreported`) exactly while its
//   error is neither a cancellation, nor looked at, nor reported. Each such error is reported
//   once, and never after it was looked at.
//
// Discussion: errors nobody looked at. A task's error is *looked at* when it reaches user
// code: `join()` rejects with it (as the TaskError's cause), `result` throws it, `exception`
// returns it (a TaskGroup's `result(s)`, `exception(s)` and `nextResult()` read those), or it
// is the error of a task started by `run`/`runTask`, whose Promise rejects with it. `wait()`,
// `cancel()` and the monitor do not hand the error over and do not count. Cancellations are
// never reported (whoever cancelled asked for them).
// An error that was not looked at is reported through the error hook at the first moment it
// provably can no longer be: when the task is garbage-collected (a FinalizationRegistry), when
// the scoped TaskGroup it belongs to ends, or when the kernel shuts down. Reporting at the
// crash instead (Curio logs every crash at once) would also report the errors that are looked
// at a moment later, `t.join()` after a sleep, so that is only done with `debug`
// ('task-crash'). The pending report holds the error but only a WeakRef to the task, and the
// task holds its report, so looking at the error can withdraw the report whether or not the
// task is collected afterwards.

import { performance } from 'node:perf_hooks';
import {
  CancelledError,
  DeadlockError,
  KernelClosedError,
  KernelUsageError,
  TaskCancelled,
  TaskTimeout,
} from './errors.js';
import {
  activeTask,
  attachKernel,
  blockedInTurn,
  enteredKernel,
  strictCallerTask,
  deadlineAdded,
  detachKernel,
  exited,
  leave,
  recentClock,
  reschedule,
  rescheduleError,
  startOpWait,
  suspend,
  suspendAfterTurn,
  trapPromise,
} from './handoff.js';
import { JoinBarrier } from './sched.js';
import type { SchedBase, WaitCancel } from './sched.js';
import { Task } from './task.js';
import type { SpawnOptions, TaskFunction, TaskState } from './task.js';
import { TimeQueue } from './timequeue.js';
import { OwnedOperation, TaskOperation, abortOperations, operationFulfilled, opWaiting, reassignOperation, releaseOperations } from './operation.js';
import type { OperationCanceller } from './operation.js';
import type { DeadlineEntry } from './timequeue.js';
import { kernelTrap } from './traps.js';
import type { ExternalWake, TrapRequest } from './traps.js';

/** Why the kernel calls its error hook. */
export type KernelErrorReason =
  | 'unobserved-task-error'
  | 'unobserved-group-error'
  | 'task-crash'
  | 'long-foreign-await'
  | 'timeout-overrun'
  | 'monitor-error'
  | 'scheduled-call-error';

/** Context given to {@link KernelOptions.onError}. */
export interface KernelErrorInfo {
  /** Why the hook was called. */
  readonly reason: KernelErrorReason;
  /** A one-line human description. */
  readonly message: string;
  /** The task concerned, if any. */
  readonly task?: Task;
}

/** Options of {@link Kernel} and {@link run}. */
export interface KernelOptions {
  /**
   * `'real'` (default): `clock()` is `performance.now()`. `'virtual'`: `clock()` starts at 0 and,
   * whenever every task is blocked on time alone (none on IO, threads or foreign Promises),
   * jumps to the next deadline, so timeouts are exact and tests instant.
   */
  clock?: 'real' | 'virtual';
  /**
   * With a virtual clock: also jump while tasks wait on IO, threads or foreign Promises, once no
   * task of any kernel has run for this many real milliseconds (and Node's pending IO was polled
   * after that), as trio's MockClock `autojump_threshold`. For tests of code that talks to real
   * peers: a call with a 60 s timeout to a server that never answers times out after about this
   * long in wall time. Too small a value jumps while a real reply is still on its way (a loopback
   * round trip is well under 1 ms; 20 to 100 ms is a safe choice). Default: never (a virtual
   * clock jumps only when every task is blocked on time alone).
   */
  autojumpThreshold?: number;
  /**
   * Debugging aids: record the source location of every blocking await (shown by
   * `task.where()`), verify that every kernel call comes from the task the kernel thinks is
   * running (catches a missing `await`), report foreign awaits longer than
   * `longForeignAwaitMs` (default 100) and timeout blocks that overran their deadline, and
   * report every task crash at once ('task-crash', Curio's "Task Crash" log), whether or not
   * the error is looked at later.
   */
  debug?: boolean | { longForeignAwaitMs?: number };
  /**
   * Called for errors nobody else will see: a failed task whose error was never looked at
   * (reported once it no longer can be: the task was garbage-collected, its scoped task group
   * ended, or the kernel shut down), and, with `debug`, crashes and warnings. Defaults to
   * printing on stderr. It must not throw.
   */
  onError?: (error: unknown, info: KernelErrorInfo) => void;
}

/**
 * Something attached to a kernel for the rest of its life (Curio's activations); the task
 * monitor is one ({@link attachMonitor}). Attach one with {@link Kernel.activate}. For tools
 * that watch a kernel; an application never implements one. Its methods must not throw.
 */
export interface KernelActivation {
  /**
   * Ask the kernel to record the source location of every blocking await from now on (shown
   * by `task.where()`), as `debug` does; it costs about 2 us per blocking await.
   */
  readonly recordsTrapSites?: boolean;
  /** A task was created; `parent` is the task that spawned it, null for a top-level task. */
  taskCreated?(task: Task, parent: Task | null): void;
  /** The kernel shut down: every task has ended. Called once. */
  kernelClosed?(): void;
}

let nextTaskId = 1;

/**
 * @internal The pending report of a failed task's error. Holds the task weakly: a task nobody
 * can reach any more is exactly one whose error can no longer be looked at.
 */
export interface UnreportedError {
  readonly error: unknown;
  readonly label: string;
  /** Whether the task belonged to a task group when it ended (used once it is collected). */
  readonly inGroup: boolean;
  readonly task: WeakRef<Task>;
}

function defaultErrorHook(error: unknown, info: KernelErrorInfo): void {
  if (info.reason === 'long-foreign-await' || info.reason === 'timeout-overrun') {
    console.warn(`curio: ${info.message}`);
  } else {
    console.error(`curio: ${info.message}`, error);
  }
}

/**
 * A kernel: runs tasks, owns their clock and deadlines. Plain Promise code drives it with
 * {@link Kernel.runTask}; {@link run} is the one-shot form.
 */
export class Kernel {
  // The scheduler (handoff.ts, SchedulerKernel), the trap gate (traps.ts, TrapHandler) and the
  // wait queues (WaitCancel) call the Kernel through members marked internal. It is checked
  // against those interfaces where it is passed to them, not with `implements`, which would
  // name interfaces whose members the published .d.ts leaves out.

  /** Whether `clock()` is virtual. */
  readonly virtualClock: boolean;
  /** Whether debugging aids are on. */
  readonly debug: boolean;

  // Live tasks as an intrusive doubly-linked list (Task._prev/_next): O(1) add and remove with
  // no per-task allocation, which matters when 100 000 tasks are alive at once.
  private head: Task | null = null;
  private liveCount = 0;
  private readonly timers = new TimeQueue<Task | ScheduledCall>();
  private readonly autojumpMs: number | undefined;
  private readonly errorHook: (error: unknown, info: KernelErrorInfo) => void;
  /** Record trap sites (debug, or an activation asked for them: the monitor). */
  private recordTrapSites: boolean;
  private readonly activations: KernelActivation[] = [];
  private readonly longForeignMs: number;
  private virtualNow = 0;
  private foreignCount = 0;
  private externalWaits = 0;
  /** Tasks stalled on operations of their own (operation.ts): waiting on IO too. */
  private opWaits = 0;
  private attached = false;
  private closing = false;
  private closed = false;
  private readonly pendingRuns = new Set<(error: unknown) => void>();
  /** A shutdown's wait for a task to end (see shutdown). */
  private readonly pendingShutdowns = new Set<(error: unknown) => void>();
  private readonly unreported = new Set<UnreportedError>();
  private readonly collected = new FinalizationRegistry<UnreportedError>((pending) => this.reportNow(pending));
  private readonly isLive = (entry: DeadlineEntry<Task | ScheduledCall>): boolean =>
    (entry.kind === 'call'
      ? (entry.owner as ScheduledCall)._at
      : entry.kind === 'sleep'
        ? (entry.owner as Task)._sleepAt
        : (entry.owner as Task)._timeoutAt) === entry.at;

  constructor(options?: KernelOptions) {
    this.virtualClock = options?.clock === 'virtual';
    const autojump = options?.autojumpThreshold;
    if (autojump !== undefined && !(autojump >= 0)) {
      throw new TypeError(`autojumpThreshold: expected milliseconds >= 0, got ${String(autojump)}`);
    }
    this.autojumpMs = this.virtualClock ? autojump : undefined;
    this.debug = options?.debug !== undefined && options.debug !== false;
    this.longForeignMs =
      typeof options?.debug === 'object' ? (options.debug.longForeignAwaitMs ?? 100) : 100;
    this.errorHook = options?.onError ?? defaultErrorHook;
    if ((options as { monitor?: unknown } | undefined)?.monitor !== undefined) {
      // The kernel core no longer starts the monitor; say where it went rather than ignore it.
      throw new KernelUsageError(
        "Kernel options have no 'monitor': use run(main, { monitor }) or attachMonitor(kernel, options)",
        'ERR_KERNEL_OPTIONS',
      );
    }
    this.recordTrapSites = this.debug;
  }

  /**
   * Attach `activation` to this kernel until it shuts down (see {@link KernelActivation}):
   * it is told of every task created from now on and of the shutdown. Low-level: for tools
   * such as the task monitor ({@link attachMonitor}). Throws {@link KernelClosedError} once
   * the kernel is shutting down.
   */
  activate(activation: KernelActivation): void {
    if (this.closed || this.closing) throw new KernelClosedError();
    this.activations.push(activation);
    if (activation.recordsTrapSites === true) this.recordTrapSites = true;
  }

  /** The kernel clock in milliseconds (monotonic; virtual clocks start at 0). */
  clock(): number {
    return this.virtualClock ? this.virtualNow : performance.now();
  }

  /**
   * Run `fn` once the kernel clock reaches `clock() + ms` (on a virtual clock, once it jumps
   * there), from the scheduler and outside any task: `fn` must not make kernel calls that need
   * a task (it may settle operations, set events, put on queues, or start a task with
   * `runTask`). An error it throws is reported through the error hook. The returned handle
   * cancels it; a cancelled or fired call costs nothing more. Throws KernelClosedError once
   * the kernel has shut down.
   */
  callLater(ms: number, fn: () => void): ScheduledCall {
    if (this.closed || this.closing) throw new KernelClosedError();
    const delay = typeof ms === 'number' && ms > 0 ? ms : 0;
    this.ensureAttached();
    const call = new ScheduledCall(this, this.clock() + delay, fn);
    this.timers.push(call._at as number, call, 0, 'call');
    if (!this.virtualClock) deadlineAdded(call._at as number);
    return call;
  }

  /** @internal A scheduled call was cancelled: its deadline entry is stale. */
  _callCancelled(): void {
    this.timers.markStale(this.isLive);
  }

  /** Whether the kernel has shut down (or is shutting down): it runs nothing more. */
  get isClosed(): boolean {
    return this.closed || this.closing;
  }

  /** Number of tasks alive in this kernel. */
  get taskCount(): number {
    return this.liveCount;
  }

  private liveTasks(): Task[] {
    const list: Task[] = [];
    for (let task = this.head; task !== null; task = task._next) list.push(task);
    return list;
  }

  /** A snapshot of the kernel's live tasks, in id order. */
  taskList(): Task[] {
    return this.liveTasks().sort((a, b) => a.id - b.id);
  }

  /** The live task with this id, if any (a linear search, for monitors and tools). */
  findTask(id: number): Task | undefined {
    for (let task = this.head; task !== null; task = task._next) if (task.id === id) return task;
    return undefined;
  }

  /**
   * Run `fn` as a new top-level task and resolve with its result, or reject with its own
   * error. For plain Promise code; inside a task use `spawn`.
   */
  runTask<T>(fn: TaskFunction<T>, options?: SpawnOptions): Promise<T> {
    if (this.closed || this.closing) return Promise.reject(new KernelClosedError());
    if (strictCallerTask() !== null) {
      return Promise.reject(
        new KernelUsageError('run()/runTask() called from inside a kernel task; use spawn()', 'ERR_NESTED_RUN'),
      );
    }
    this.ensureAttached();
    const task = this.createTask(fn, null, options);
    task._observed = true;
    return new Promise<T>((resolve, reject) => {
      this.pendingRuns.add(reject);
      (task._doneWaiters ??= []).push(() => {
        this.pendingRuns.delete(reject);
        if (task._failed) reject(task._outcome);
        else resolve(task._outcome as T);
      });
    });
  }

  /**
   * Cancel every remaining task (newest first, each waited for), report errors nobody looked
   * at, and release the kernel. Idempotent. Rejects with a {@link DeadlockError} (the kernel is
   * released all the same) when Node runs out of work while a task it waits for cannot end: a
   * task awaiting a Promise nothing is left to settle does not see its cancellation.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    try {
      for (;;) {
        const remaining = this.liveTasks().sort((a, b) => b.id - a.id);
        if (remaining.length === 0) break;
        for (const task of remaining) {
          if (task.terminated) continue;
          // Forced: a task that caught an earlier cancellation and carried on is cancelled again.
          this.requestCancel(task, new TaskCancelled('kernel shutdown'), true);
          await this.taskEnded(task);
        }
      }
    } finally {
      this.release();
    }
  }

  /** Resolves when `task` has ended; rejects when the kernel deadlocks first (see shutdown). */
  private taskEnded(task: Task): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pendingShutdowns.add(reject);
      (task._doneWaiters ??= []).push(() => {
        this.pendingShutdowns.delete(reject);
        resolve();
      });
    });
  }

  /** The end of a shutdown, whether every task ended or not. */
  private release(): void {
    if (this.closed) return;
    for (const pending of this.unreported) this.reportNow(pending);
    this.closed = true;
    for (const activation of this.activations) activation.kernelClosed?.();
    if (this.attached) {
      this.attached = false;
      detachKernel(this, this.debug);
    }
  }

  /** Make a kernel usable with `await using kernel = new Kernel()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  // -------------------------------------------------------------------------------------------
  // The gate's other side

  /** @internal */
  dispatch(task: Task, request: TrapRequest): unknown {
    if (task._ops !== null) enteredKernel(task);
    if (task.state !== 'RUNNING') {
      const aside = this.waitAside(task, request);
      if (aside !== undefined) return aside;
      this.checkBlockedCaller(task, request);
    } else if (task._fn !== null) this.checkStartedCaller(task, request);
    if (this.recordTrapSites) this.inspectTrap(task, request);
    switch (request.trap) {
      case 'sleep':
        return this.trapSleep(task, request.ms);
      case 'schedWait':
        return this.trapSchedWait(task, request.sched, request.state, request.payload);
      case 'promiseWait':
        return this.trapPromiseWait(task, request.promise);
      case 'externalWait':
        return this.trapExternalWait(task, request.state, request.start);
      case 'spawn':
        return this.trapSpawn(task, request.fn, request.options);
      case 'cancel':
        return this.requestCancel(request.target, request.error);
      case 'setTimeout':
        return this.trapSetTimeout(task, request.deadline);
      case 'unsetTimeout':
        return this.trapUnsetTimeout(task, request.previous);
      case 'clock':
        return this.clock();
      case 'current':
        return task;
      default: {
        const unknownRequest: never = request;
        throw new KernelUsageError(`unknown trap ${JSON.stringify(unknownRequest)}`);
      }
    }
  }

  /**
   * The caller was identified for certain (from the promise hooks or the stack: the scheduler's
   * `active` task is always RUNNING) and is not running: a task already blocked in one trap
   * blocking in a second one (`Promise.all([a.join(), b.join()])`) would corrupt its wait, so it
   * is refused. Non-blocking traps (`currentTask()`...) stay allowed.
   */
  private checkBlockedCaller(task: Task, request: TrapRequest): void {
    if (task._foreign || opWaiting(task)) return;
    const trap = request.trap;
    if (isBlocking(trap)) {
      throw new KernelUsageError(
        `task ${task.id} (${task.name}) made blocking kernel call '${trap}' while already blocked in ` +
          `${task.state}: an earlier kernel call was not awaited (await each blocking call before the next)`,
        'ERR_NOT_AWAITED',
      );
    }
  }

  /**
   * The scheduler names `task` as running, but its function has not been called yet: the code
   * calling is the task that just blocked, going on in the same expression (the baton passed
   * to `task` at that trap). A blocking call from there would make `task` wait on it instead,
   * so it is refused.
   */
  private checkStartedCaller(task: Task, request: TrapRequest): void {
    const trap = request.trap;
    if (isBlocking(trap)) {
      throw new KernelUsageError(
        `blocking kernel call '${trap}' made right after another blocking call in the same expression, ` +
          'before that one was awaited (as in Promise.all([a.join(), b.join()])): a task waits on one thing ' +
          'at a time (await each in turn, or spawn a task per wait; see "One wait at a time per task")',
        'ERR_NOT_AWAITED',
      );
    }
  }

  /** With `debug`: verify the caller. With `debug` or an activation (the monitor): record blocking trap sites. */
  private inspectTrap(task: Task, request: TrapRequest): void {
    if (this.debug && task !== activeTask() && !task._foreign && !opWaiting(task) && task.state !== 'RUNNING') {
      throw new KernelUsageError(
        `task ${task.id} (${task.name}) made kernel call '${request.trap}' while the kernel ` +
          `considered it blocked in ${task.state}: an earlier kernel call was not awaited`,
        'ERR_NOT_AWAITED',
      );
    }
    if (isBlocking(request.trap)) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      task._trapSite = new Error('trap site');
      Error.stackTraceLimit = limit;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Trap handlers

  /** Deliver a pending cancellation at a blocking trap, if allowed. */
  private takeCancel(task: Task): CancelledError | null {
    const pending = task._cancelPending;
    if (pending === null || !task._allowCancel) return null;
    task._cancelPending = null;
    fireAbort(task, pending);
    return pending;
  }

  private trapSleep(task: Task, ms: number): Promise<number> {
    const pending = this.takeCancel(task);
    if (pending !== null) return Promise.reject(pending);
    if (!(ms > 0)) {
      const promise = trapPromise<number>(task);
      reschedule(task, this.virtualClock ? this.virtualNow : recentClock());
      leave(task);
      return promise;
    }
    const now = this.clock();
    const at = now + ms;
    task._sleepAt = at;
    this.pushDeadline(at, task, 'sleep');
    return suspendAfterTurn<number>(task, 'TIME_SLEEP', this);
  }

  /**
   * An operation of `task` settled while the task is blocked in a sleep or a join (operation.ts,
   * "a settlement during a sleep or a join"): the rest of that wait becomes an operation of
   * `task` (a daemon helper task sleeps the rest; a join waits for the task's end) that settles
   * the trap's Promise; `task` now waits on its operations. False (nothing done) when the task
   * is not blocked in such a wait of this kernel, or holds the baton.
   * @internal
   */
  moveWaitAside(task: Task): boolean {
    if (this.closed || task === activeTask()) return false;
    if (!this.restAsOperation(task)) return false;
    startOpWait(task);
    return true;
  }

  /**
   * A second wait in the same expression as the sleep or join the task is blocked in, while its
   * synchronous code still runs (handoff.ts, suspendAfterTurn): `Promise.all([a.join(),
   * b.join()])`, `Promise.race([sleep(50), sleep(100)])`. The wait it is blocked in and this
   * one become operations of the task, which goes on running: it then waits on its operations,
   * combined however its code combines them, and each settles in its turn. Undefined when this
   * is not such a case (the caller is then refused as before).
   */
  private waitAside(task: Task, request: TrapRequest): Promise<unknown> | undefined {
    const joined = request.trap === 'schedWait' && request.sched instanceof JoinBarrier ? request.sched.task : null;
    if ((request.trap !== 'sleep' && joined === null) || this.closed || !blockedInTurn(task)) return undefined;
    if (!this.restAsOperation(task)) return undefined;
    task.state = 'RUNNING';
    return request.trap === 'sleep' ? this.sleepOperation(task, request.ms) : this.joinOperation(task, joined as Task);
  }

  /**
   * The rest of the sleep or join `task` is blocked in, as an operation of the task, its wait
   * cancelled; false when it is blocked in neither. A join can move: everyone waiting for a task
   * is woken at its end, so no order is lost. Other waits (queues, locks) are not moved.
   */
  private restAsOperation(task: Task): boolean {
    const blockedOn = task._waitCancel;
    const at = task._sleepAt;
    // The operation settles the trap's own Promise: in the task's turn, in the order the task's
    // operations settled. (Chained with `then`, it would settle one job after the operations
    // delivered in the same turn: `Promise.race([a.join(), b.join()])` gave b when both tasks had
    // ended by the task's turn, a first.)
    const trap = { resolve: task._resolve, reject: task._reject };
    if (task.state === 'TIME_SLEEP' && at !== null) this.sleepOperation(task, Math.max(0, at - this.clock()), trap);
    else if (task.state === 'TASK_JOIN' && blockedOn instanceof JoinBarrier) this.joinOperation(task, blockedOn.task, trap);
    else return false;
    task._waitCancel = null;
    blockedOn?.cancelWait(task);
    return true;
  }

  /** A sleep of `ms` as an operation of `owner`: a daemon helper task sleeps it. */
  private sleepOperation(owner: Task, ms: number, trap?: TrapResolvers): Promise<number> {
    let helper: Task | null = null;
    const canceller = {
      cancel: () => {
        if (helper !== null) this.requestCancel(helper, new TaskCancelled());
      },
    };
    const op: OwnedOperation<number> = trap === undefined ? new TaskOperation<number>('TIME_SLEEP', canceller) : new TrapRest('TIME_SLEEP', trap, canceller);
    const promise = op.promise;
    reassignOperation(op, owner);
    helper = this.createTask(
      async () => {
        try {
          op.resolve((await kernelTrap({ trap: 'sleep', ms })) as number);
        } catch (error) {
          op.reject(error);
        }
      },
      owner,
      { daemon: true, name: `${owner.name} (sleep)` },
    );
    return promise;
  }

  /** The end of `target` as an operation of `owner` (what `target.wait()` waits for). */
  private joinOperation(owner: Task, target: Task, trap?: TrapResolvers): Promise<void> {
    const op: OwnedOperation<void> = trap === undefined ? new TaskOperation<void>('TASK_JOIN') : new TrapRest('TASK_JOIN', trap, null);
    const promise = op.promise;
    reassignOperation(op, owner);
    if (target.terminated) op.resolve();
    else (target._doneWaiters ??= []).push(() => op.resolve());
    return promise;
  }

  private trapSchedWait(task: Task, sched: SchedBase, state: TaskState, payload: unknown): Promise<unknown> {
    const pending = this.takeCancel(task);
    if (pending !== null) return Promise.reject(pending);
    task._waitSeq++;
    task._waitPayload = payload;
    sched.kernelSuspend(task);
    // A join keeps the baton to the end of the task's synchronous code, as a sleep does: a
    // second wait there (`Promise.all([a.join(), b.join()])`) is then known (waitAside).
    return sched instanceof JoinBarrier ? suspendAfterTurn(task, state, sched) : suspend(task, state, sched);
  }

  private trapPromiseWait(task: Task, promise: PromiseLike<unknown>): Promise<unknown> {
    return this.trapExternalWait(task, 'PROMISE_WAIT', (wake): (() => void) => {
      promise.then(
        (value) => wake.resolve(value),
        (error: unknown) => wake.reject(error),
      );
      return () => {};
    }) as Promise<unknown>;
  }

  private trapExternalWait(
    task: Task,
    state: TaskState,
    start: (wake: ExternalWake) => () => void,
  ): Promise<unknown> {
    const pending = this.takeCancel(task);
    if (pending !== null) return Promise.reject(pending);
    const wait = new ExternalWait(this, task);
    this.externalWaits++;
    const promise = trapPromise<unknown>(task);
    task.state = state;
    task._waitCancel = wait;
    try {
      wait.unregister = start(wait);
    } catch (error) {
      wait.reject(error);
    }
    leave(task);
    return promise;
  }

  /** @internal An external wait ended (woken or cancelled). */
  externalWaitEnded(): void {
    this.externalWaits--;
  }

  /** @internal Cancel a sleep (the kernel is the WaitCancel of TIME_SLEEP). */
  cancelWait(task: Task): void {
    task._sleepAt = null;
    this.timers.markStale(this.isLive);
  }

  private trapSpawn(parent: Task, fn: () => unknown, options: SpawnOptions | undefined): Task {
    if (this.closed) throw new KernelClosedError();
    return this.createTask(fn, parent, options);
  }

  /**
   * Request cancellation of `target` (Curio's trap_cancel_task). Delivered at once if the task
   * is blocked and cancellation is allowed, otherwise at its next blocking trap.
   * @internal
   */
  requestCancel(target: Task, error: CancelledError, force = false): void {
    if (target.terminated || (target.cancelled && !force)) return;
    target.cancelled = true;
    // Cancelling a task also cancels its pending timeout.
    if (target._timeoutAt !== null) {
      target._timeoutAt = null;
      this.timers.markStale(this.isLive);
    }
    target._cancelPending = error;
    if (!target._allowCancel) return;
    if (target._foreign || opWaiting(target)) {
      // A raw await cannot be interrupted; tell whoever listens to the task's AbortSignal, and
      // abandon the operations it started (if it awaits one, it gets the error now).
      fireAbort(target, error);
      return;
    }
    const wait = target._waitCancel;
    if (wait === null) return;
    wait.cancelWait(target);
    target._cancelPending = null;
    fireAbort(target, error);
    rescheduleError(target, error);
  }

  private trapSetTimeout(task: Task, deadline: number | null): number | null {
    const old = task._timeoutAt;
    if (deadline !== null) {
      if (old !== null) this.timers.markStale(this.isLive);
      task._timeoutAt = deadline;
      this.pushDeadline(deadline, task, 'timeout');
      if (old !== null && deadline > old) task._timeoutAt = old;
    }
    return old;
  }

  private trapUnsetTimeout(task: Task, previous: number | null): number {
    // Curio's evil corner cases, kept: if the previous (outer) deadline already passed, it is
    // re-armed so the timeout is raised at the *next* blocking call, not here in the middle of
    // the inner block's cleanup. Otherwise a TaskTimeout pending from this block is dropped.
    if (task._timeoutAt !== null) {
      task._timeoutAt = null;
      this.timers.markStale(this.isLive);
    }
    const now = this.clock();
    if (previous !== null && previous < now) {
      task._timeoutAt = previous;
      this.pushDeadline(previous, task, 'timeout');
    } else {
      if (previous !== null) this.pushDeadline(previous, task, 'timeout');
      task._timeoutAt = previous;
      if (task._cancelPending instanceof TaskTimeout) task._cancelPending = null;
    }
    return now;
  }

  // -------------------------------------------------------------------------------------------
  // Tasks

  private ensureAttached(): void {
    if (!this.attached) {
      this.attached = true;
      attachKernel(this, this.debug);
    }
  }

  private createTask(fn: () => unknown, parent: Task | null, options: SpawnOptions | undefined): Task {
    this.ensureAttached();
    const task = new Task<unknown>(this, nextTaskId++, fn, parent, options);
    for (let i = 0; i < this.activations.length; i++) (this.activations[i] as KernelActivation).taskCreated?.(task, parent);
    task._next = this.head;
    if (this.head !== null) this.head._prev = task;
    this.head = task;
    this.liveCount++;
    reschedule(task, undefined);
    return task;
  }

  /** @internal Called by the task's frame when its function has returned or thrown. */
  taskExit(task: Task, failed: boolean, value: unknown, error: unknown): void {
    task.terminated = true;
    task.state = 'TERMINATED';
    // Normally null (a task ends while it runs). Not after a blocking call it never awaited
    // (refused with ERR_NOT_AWAITED, or a raw Promise.all of two): leave that wait queue.
    const waitCancel = task._waitCancel;
    task._waitCancel = null;
    if (waitCancel !== null) waitCancel.cancelWait(task);
    if (failed) {
      task._failed = true;
      task._outcome = adoptAbort(task, error);
    } else {
      task._outcome = value;
    }
    if (task._sleepAt !== null || task._timeoutAt !== null) {
      task._sleepAt = null;
      task._timeoutAt = null;
      this.timers.markStale(this.isLive);
    }
    if (task._prev !== null) task._prev._next = task._next;
    else this.head = task._next;
    if (task._next !== null) task._next._prev = task._prev;
    task._prev = task._next = null;
    this.liveCount--;
    if (task._joining !== null) task._joining.wakeAll();
    const waiters = task._doneWaiters;
    if (waiters !== null) {
      task._doneWaiters = null;
      for (const resume of waiters) resume();
    }
    if (failed && !(task._outcome instanceof CancelledError) && !task._observed) this.crashed(task);
    if (task._group !== null) task._group._taskDone(task);
    if (task._ops !== null) releaseOperations(task._ops);
    exited(task);
  }

  // -------------------------------------------------------------------------------------------
  // Errors nobody looked at

  /** A task failed with an error that is not a cancellation and was not handed over yet. */
  private crashed(task: Task): void {
    const what = `task ${task.id} (${task.name})`;
    const pending: UnreportedError = {
      error: task._outcome,
      label: `${what} failed and its error was never looked at`,
      inGroup: task._group !== null,
      task: new WeakRef(task),
    };
    task._unreported = pending;
    this.unreported.add(pending);
    this.collected.register(task, pending, pending);
    if (this.debug) this.report(task._outcome, { reason: 'task-crash', message: `${what} crashed`, task });
  }

  /** @internal The task's error reached user code: withdraw its pending report. */
  errorLookedAt(task: Task): void {
    const pending = task._unreported;
    if (pending === null) return;
    task._unreported = null;
    this.unreported.delete(pending);
    this.collected.unregister(pending);
  }

  /** Report a pending error now, unless it was looked at or reported already. */
  private reportNow(pending: UnreportedError): void {
    if (!this.unreported.delete(pending)) return;
    this.collected.unregister(pending);
    const task = pending.task.deref();
    if (task !== undefined) task._unreported = null;
    const inGroup = task !== undefined ? task._group !== null : pending.inGroup;
    this.report(pending.error, {
      reason: inGroup ? 'unobserved-group-error' : 'unobserved-task-error',
      message: pending.label,
      ...(task !== undefined ? { task } : {}),
    });
  }

  /** @internal Report through the error hook; never throws. */
  report(error: unknown, info: KernelErrorInfo): void {
    try {
      this.errorHook(error, info);
    } catch {
      // The hook must not throw; an error in it has nowhere better to go.
    }
  }

  /** @internal Report a group child's error now if nobody looked at it (its scoped group ended). */
  reportGroupError(task: Task): void {
    if (task._unreported !== null) this.reportNow(task._unreported);
  }

  // -------------------------------------------------------------------------------------------
  // Deadlines

  private pushDeadline(at: number, task: Task, kind: 'sleep' | 'timeout'): void {
    if (at === Infinity) return;
    this.timers.push(at, task, task.id, kind);
    if (!this.virtualClock) deadlineAdded(at);
  }

  /** @internal */
  expireTimers(): void {
    const next = this.timers.peekDeadline();
    if (next === undefined) return;
    const now = this.clock();
    if (next > now) return;
    for (;;) {
      const entry = this.timers.popExpired(now);
      if (entry === undefined) break;
      if (entry.kind === 'call') {
        const call = entry.owner as ScheduledCall;
        if (call._at !== entry.at) {
          this.timers.noteStalePopped();
          continue;
        }
        call._at = null;
        this.runScheduled(call);
        continue;
      }
      const task = entry.owner as Task;
      if (entry.kind === 'sleep') {
        if (task._sleepAt !== entry.at) {
          this.timers.noteStalePopped();
          continue;
        }
        task._sleepAt = null;
        reschedule(task, now);
        continue;
      }
      if (task._timeoutAt !== entry.at) {
        this.timers.noteStalePopped();
        continue;
      }
      task._timeoutAt = null;
      const error = new TaskTimeout(now);
      const wait = task._waitCancel;
      if (task._allowCancel && wait !== null) {
        wait.cancelWait(task);
        fireAbort(task, error);
        rescheduleError(task, error);
      } else {
        task._cancelPending = error;
        if (task._allowCancel && (task._foreign || opWaiting(task))) fireAbort(task, error);
      }
    }
  }

  private runScheduled(call: ScheduledCall): void {
    try {
      call.fn();
    } catch (error) {
      this.report(error, { reason: 'scheduled-call-error', message: 'a callback scheduled with callLater() threw' });
    }
  }

  /** @internal */
  nextRealDeadline(): number | undefined {
    return this.virtualClock ? undefined : this.timers.peekDeadline();
  }

  /** @internal */
  canJump(): boolean {
    return (
      this.virtualClock &&
      this.timers.size > 0 &&
      this.foreignCount === 0 &&
      this.externalWaits === 0 &&
      this.opWaits === 0 &&
      this.liveCount > 0
    );
  }

  /** @internal */
  autojumpThreshold(): number | undefined {
    if (this.autojumpMs === undefined || this.timers.size === 0 || this.liveCount === 0) return undefined;
    return this.autojumpMs;
  }

  /** @internal `force`: an autojump, made while tasks wait on IO (see `autojumpThreshold`). */
  jump(force = false): boolean {
    if (force ? this.autojumpThreshold() === undefined : !this.canJump()) return false;
    for (;;) {
      const entry = this.timers.peek();
      if (entry === undefined) return false;
      if (!this.isLive(entry)) {
        this.timers.popExpired(entry.at);
        this.timers.noteStalePopped();
        continue;
      }
      if (entry.at > this.virtualNow) this.virtualNow = entry.at;
      this.expireTimers();
      return true;
    }
  }

  /** @internal */
  hasTasks(): boolean {
    return this.liveCount > 0;
  }

  /** @internal */
  foreignStarted(task: Task): void {
    this.foreignCount++;
    if (task._cancelPending !== null && task._allowCancel) fireAbort(task, task._cancelPending);
  }

  /** @internal */
  opWaitStarted(task: Task): void {
    this.opWaits++;
    if (task._cancelPending !== null && task._allowCancel) fireAbort(task, task._cancelPending);
  }

  /** @internal */
  opWaitEnded(_task: Task): void {
    this.opWaits--;
  }

  /** @internal */
  foreignEnded(task: Task, elapsedMs: number): void {
    this.foreignCount--;
    if (this.debug && elapsedMs >= this.longForeignMs) {
      this.report(undefined, {
        reason: 'long-foreign-await',
        message:
          `task ${task.id} (${task.name}) spent ${elapsedMs.toFixed(1)} ms in a raw await of a ` +
          `non-kernel Promise, where it could not be cancelled; use awaitPromise() to make it cancellable`,
        task,
      });
    }
  }

  /** @internal */
  deadlocked(): void {
    const tasks = this.taskList();
    const lines = tasks.map((task) => `  ${task.toString()} ${task.where()}`);
    const foreign = tasks.some((task) => task.state === 'FOREIGN_WAIT')
      ? '\n(FOREIGN_WAIT: awaiting a Promise that nothing is left to settle; or a blocking kernel call that was not awaited at once, such as two joins in one Promise.all: see "One wait at a time per task")'
      : '';
    const error = new DeadlockError(
      `deadlock: every task is blocked and nothing can wake them:\n${lines.join('\n')}${foreign}`,
    );
    for (const reject of this.pendingRuns) reject(error);
    this.pendingRuns.clear();
    if (this.pendingShutdowns.size > 0) {
      // A shutdown waits for a task that can no longer end: it ends with this error.
      for (const reject of this.pendingShutdowns) reject(error);
      this.pendingShutdowns.clear();
      return;
    }
    // Whoever awaited this kernel was told above; should the shutdown itself get stuck, the
    // next time Node runs out of work ends it (the branch above).
    this.shutdown().catch(() => {});
  }
}

/** Whether a trap blocks the task (the others return at once). */
function isBlocking(trap: TrapRequest['trap']): boolean {
  return trap === 'sleep' || trap === 'schedWait' || trap === 'promiseWait' || trap === 'externalWait';
}

/**
 * A callback waiting for a point on a kernel's clock ({@link Kernel.callLater}). Cancel it with
 * {@link ScheduledCall.cancel}.
 */
export class ScheduledCall {
  /** @internal When it runs, on the kernel clock; null once it ran or was cancelled. */
  _at: number | null;

  /** @internal */
  constructor(
    private readonly kernel: Kernel,
    at: number,
    /** @internal */ readonly fn: () => void,
  ) {
    this._at = at;
  }

  /** Whether it is still waiting to run. */
  get pending(): boolean {
    return this._at !== null;
  }

  /** Do not run it (if it has not run yet). Idempotent. */
  cancel(): void {
    if (this._at === null) return;
    this._at = null;
    this.kernel._callCancelled();
  }
}

/** One wait on something outside the kernel: the wake handed to its starter. */
class ExternalWait implements ExternalWake, WaitCancel {
  unregister: (() => void) | null = null;
  private done = false;

  constructor(
    private readonly kernel: Kernel,
    private readonly task: Task,
  ) {}

  // Methods, not per-wait closures: a blocked task costs less (10 000 idle connections...).
  // Callers that need loose functions bind them where they need them.
  resolve(value: unknown): void {
    if (this.finish()) reschedule(this.task, value);
  }

  reject(error: unknown): void {
    if (this.finish()) rescheduleError(this.task, error);
  }

  cancelWait(_task: Task): void {
    if (this.finish() && this.unregister !== null) this.unregister();
  }

  private finish(): boolean {
    if (this.done) return false;
    this.done = true;
    this.kernel.externalWaitEnded();
    return true;
  }
}

/** Fire the task's AbortSignal (if one was handed out) and forget it. */
/**
 * A cancellation reaches the task: fire its AbortSignal and abandon the operations it covers.
 * @internal
 */
export function fireAbort(task: Task, reason: CancelledError): void {
  const controller = task._abort;
  if (controller !== null) {
    task._abort = null;
    controller.abort(reason);
  }
  if (task._ops !== null) abortOperations(task, reason);
}

/**
 * If a foreign API rejected because the task's AbortSignal fired, the error the task sees is
 * the API's (an AbortError whose `cause` is the kernel's cancellation, or the reason itself).
 * Turn it back into the pending cancellation so timeouts and cancels keep their meaning.
 * @internal
 */
export function adoptAbort(task: Task, error: unknown): unknown {
  const pending = task._cancelPending;
  if (pending === null || error === pending) {
    if (error === pending) task._cancelPending = null;
    return error;
  }
  if (typeof error === 'object' && error !== null && (error as { cause?: unknown }).cause === pending) {
    task._cancelPending = null;
    return pending;
  }
  return error;
}

/** The resolvers of the trap Promise a task is blocked on. */
interface TrapResolvers {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The rest of a sleep or join a task was blocked in, as an operation of the task
 * (Kernel.restAsOperation) that settles the trap's own Promise when it is delivered, instead of
 * a Promise of its own.
 */
class TrapRest<T> extends OwnedOperation<T> {
  constructor(
    readonly state: TaskState,
    private readonly trap: TrapResolvers,
    canceller: OperationCanceller | null,
  ) {
    super(canceller);
  }

  /** @internal */
  override _deliver(): void {
    const value = this._outcome;
    this._outcome = null;
    if (operationFulfilled(this)) this.trap.resolve(value);
    else this.trap.reject(value);
  }
}
