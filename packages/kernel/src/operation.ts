// operation.ts
//
// TaskOperation: an operation a task starts and gets back as an ordinary Promise (a client
// call, a request to a server), which the kernel nonetheless schedules and cancels like one
// of its own waits. For runtimes and protocol clients built on the kernel; application code
// only ever sees the Promise.
//
// Invariants:
// - `promise` is a plain native Promise. Nothing about it depends on how it is used: awaited,
//   chained with then/catch/finally and any callback, stored and awaited later, passed to
//   Promise.all/race/any/allSettled, or dropped. It settles exactly once.
// - An operation started by a task is *owned* by it (linked on the task, in start order) until
//   it settles or the task ends. Plain code's operations have no owner.
// - The settlement of an owned operation whose task is stalled on it (`waiting`, see below)
//   is delivered in that task's turn of the scheduler, never in someone else's: the task then
//   runs holding the baton, exactly as when a trap resumes it.
// - A cancellation delivered to the task (task.cancel(), or a timeout block's deadline) aborts
//   the owned operations it covers: all of them for a cancel, those started inside the expired
//   timeout block for a timeout. An aborted operation's Promise rejects with the kernel's own
//   CancelledError, and its canceller is told (a client drops or discards the call).
//
// Discussion: why the Promise is not a trap.
//
// A trap suspends its task at once, so a trap must be awaited at once. A client call's result
// cannot promise that: `client.get(k)` is evaluated before JavaScript knows whether it will be
// awaited, chained, stored or put in Promise.all. An earlier design returned a thenable and
// trapped when its `then` looked like an await's (V8's native resolving functions); but
// `.then(Number)` and `.then(JSON.parse)` pass native functions too, and `await` of a
// thenable, `Promise.resolve(x)`, `Promise.all([x])` and `return x` from an async function all
// call `then` the same way, from a job, with nothing in the arguments or the stack to tell
// them apart (measured: the stack seen from that job is empty). Any rule built on that is a
// guess about the caller, and a wrong guess corrupts the scheduler (a task marked waiting
// while it runs).
//
// So the operation is a real Promise, and the kernel learns what it needs from ownership, not
// from guesses:
// - When a task stalls (its burst ends without a trap: it awaits something that is not a
//   trap) while operations of its own are pending, it is `waiting` on them instead of in
//   FOREIGN_WAIT: the usual reason is `await op` (or Promise.all over ops, or a helper that
//   awaits one). Its state shows the oldest pending operation's name ('REDIS_REPLY').
// - Such a task's operations settle through the scheduler: the settlement is queued on the
//   task, the task gets a turn, and in that turn the Promises are settled. If the task was
//   awaiting one of them it runs then, holding the baton, with the kernel's fast path intact
//   (no stack inspection), as with any trap. If it was not, it simply stalls again.
// - Cancellation and timeouts reach the operations through ownership, so `await op` is
//   interrupted at once however it is awaited (directly, through Promise.race, in a helper).
// - A task `waiting` on its operations that really awaits something else (a plain Promise) can be resumed by
//   that instead, outside its turn. If that happens while no task holds the baton (IO
//   callbacks, timers: the usual case), the kernel cannot trust `active` and identifies the
//   caller from the async stack, then hands it the baton (handoff.ts, `adopt`). If another
//   task's code resolves that plain Promise inside its own turn, the resumed task's kernel
//   calls would be attributed to that task: the one case this design does not cover without a
//   stack check, and the reason `debug: true` verifies every kernel call's caller.
// - The cancellation error reaches the task through the operation it awaits; it counts as
//   delivered if the task enters the kernel in the turn that delivered it (it caught the
//   error and goes on: no second delivery at its next trap). If the task was not awaiting any
//   of its operations, nothing of it runs in that turn and the cancellation stays pending for
//   its next trap, as for any raw await.
// - An aborted operation's Promise is marked handled before it rejects: a task's fire-and-
//   forget call that its cancellation abandoned must not become an unhandled rejection that a
//   Node runtime would never have produced.
//
// Discussion: a settlement during a sleep. A task may race its operations against a sleep in
// one expression (`await Promise.race([client.get(k), sleep(100)])`, the usual JavaScript
// timeout): the sleep is a trap, so the task is asleep in the kernel, and its operation
// settling first would resume its code outside its turn (its next kernel call then fails as
// "outside a kernel task"). So an operation that settles while its owner sleeps in a trap
// moves the rest of that sleep into a daemon helper task whose end settles an operation of the
// owner (Kernel.moveWaitAside): the trap's Promise settles when the helper's sleep ends, the
// owner waits on its operations as after any stall, and the settled operation is delivered in
// its turn. Nothing changes for an owner that awaits the sleep itself (`const p = get(); await
// sleep(10); await p`): it stalls again after the delivery, until the sleep's operation
// settles. A join moves the same way (an operation settled at the joined task's end: everyone
// waiting for a task is woken at once, so no order is lost), which is also how two joins or
// sleeps in one expression work (Kernel.waitAside). Other blocking traps (a queue, a lock, IO)
// are not moved: their registrations cannot be re-made later without changing their order; a
// race against them stays a misuse (README, "One wait at a time per task").
//
// Discussion: operations that cannot be abandoned at once. The canceller is asked first; it may
// answer false ("not yet", trio's Abort.FAILED): a Postgres query the server must first confirm
// cancelled cannot simply be dropped, or the connection would fall out of step. The operation
// then stays pending and owned, so its task stays waiting on it (the kernel does not pretend
// the wait is over), and whenever it settles, with a value or an error, its Promise rejects
// with the cancellation instead: the task gets the TaskCancelled / TaskTimeout it was due, only
// later. Whatever the canceller does meanwhile (settling the operation from inside `cancel()`
// included) ends the same way.
//
// Discussion: size. A client can have hundreds of thousands of operations pending at once (200 000
// GETs in one Promise.all), each kept alive and copied by the young generation's scavenges until
// it settles: the garbage collector's share of the time follows the bytes an operation keeps, so
// its fields double up. While pending, `_seq` is its start number and `_outcome` its Promise (its
// cancellation once abandoned); once settled, `_seq` is its (negative) status and `_outcome` its value or error;
// a settled operation queued for its owner's turn is linked through `_next` (it left the pending
// list when it settled). A runtime's operations of one kind share their name (OwnedOperation's
// `state` getter) instead of holding it. And an object can be its own operation (OperationSlots:
// the links and `_outcome` as fields of its own, the logic in beginOperation, settleOperation and
// abortOperation): the curio runtime's Redis calls are, so a call in flight is one object, not a
// call plus an operation (about 90 bytes less each, issue 9).

import type { CancelledError } from './errors.js';
import { TaskTimeout } from './errors.js';
import { callerTask, enteredKernel, routeSettled } from './handoff.js';
import type { Task, TaskState } from './task.js';

/** What an operation's starter is told when the kernel abandons it (a task was cancelled). */
export interface OperationCanceller {
  /**
   * The kernel abandons the operation: its outcome will be ignored. Called once, before its
   * Promise rejects. Return nothing (or true) when it is over at once: the Promise rejects with
   * the cancellation now. Return false for "not yet": the operation cannot be dropped at once;
   * its task keeps waiting until it settles, and the Promise then rejects with the cancellation
   * (the value or error it settled with is dropped).
   */
  cancel(): boolean | void;
}

/** The links of an operation on its owner task (internal). */
export interface TaskOperationLink {
  /** @internal */ _prev: TaskOperationLink | null;
  /** @internal The next pending operation of the owner; once settled and queued for the owner's turn, the next queued one. */ _next: TaskOperationLink | null;
  /** @internal While pending, its start number on the owner (0: none); after it settles, its status (a negative number). */ _seq: number;
  /** @internal */ _owner: Task | null;
  /** @internal What `task.state` shows while its task waits on it (the operation's `state`). */ readonly _waitState: TaskState;
  /** @internal */ _deliver(): void;
  /** @internal Returns whether the operation settled now (false: pending, "not yet"). */ _abort(error: CancelledError): boolean;
}

/**
 * What a task keeps about the operations it started, created with its first one (most tasks
 * never start one, and a Task stays small).
 * @internal
 */
export class TaskOps {
  /** Oldest pending operation (a list linked through the operations), and the newest. */
  head: TaskOperationLink | null = null;
  tail: TaskOperationLink | null = null;
  /** Pending operations. */
  count = 0;
  /** Operations started so far (their sequence numbers). */
  seq = 0;
  /** The task stalled without a trap while operations of its own are pending. */
  waiting = false;
  /** The task is on the ready queue to deliver settled operations (not to end a trap). */
  routed = false;
  /** Settled operations waiting for the task's turn. */
  settledHead: TaskOperationLink | null = null;
  settledTail: TaskOperationLink | null = null;
  /** The cancellation just delivered through the operations, until the task next enters the kernel. */
  delivering: CancelledError | null = null;
}

/** Whether `task` is stalled on operations of its own. @internal */
export function opWaiting(task: Task): boolean {
  const ops = task._ops;
  return ops !== null && ops.waiting;
}

// The status of a settled operation, kept in `_seq` (a pending operation's is its start number,
// 0 or more): one field less per operation (see "Discussion: size" below).
const FULFILLED = -1;
const REJECTED = -2;

// One shared executor instead of a closure per operation.
let capturedResolve: (value: never) => void = () => {};
let capturedReject: (error: unknown) => void = () => {};
function captureResolvers(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}
const ignore = (): void => {};

/**
 * The slots of an operation, for an object that is its own operation: {@link OwnedOperation},
 * or a runtime's call class (a client call that is the kernel operation itself, one object per
 * call instead of two: see the curio runtime). Such an object keeps the links of
 * {@link TaskOperationLink} and these, starts with {@link beginOperation}, settles with
 * {@link settleOperation}, and delivers (`_deliver`) by reading {@link operationFulfilled} and
 * `_outcome` (then clearing it) and settling its Promise; `_abort` is {@link abortOperation}.
 * Low-level (`@curio-ts/kernel/lowlevel`): for runtimes, never for application code.
 */
export interface OperationSlots extends TaskOperationLink {
  /**
   * While pending: its Promise, until it is abandoned; then the cancellation it ends with
   * whenever it settles. Once settled: its value or error, until delivered.
   */
  _outcome: unknown;
  /** The canceller's answer when the kernel abandons the operation (see {@link OperationCanceller}). */
  _cancelOperation(): boolean | void;
}

/**
 * Start `op`, whose Promise (made by the caller) is `promise`: owned by the calling task, if
 * any. Call it before anything can settle the operation. Low-level: see {@link OperationSlots}.
 */
export function beginOperation(op: OperationSlots, promise: Promise<unknown>): void {
  op._outcome = promise;
  const owner = callerTask();
  op._owner = owner;
  if (owner !== null) {
    enteredKernel(owner);
    attach(owner, op);
  }
}

/**
 * Make `op` (just started) an operation of `owner` instead of the caller's: for the kernel,
 * which starts operations on a task's behalf from wherever it runs.
 * @internal
 */
export function reassignOperation(op: TaskOperationLink, owner: Task): void {
  const current = op._owner;
  if (current === owner) return;
  if (current !== null) detach(current._ops as TaskOps, op);
  op._owner = owner;
  attach(owner, op);
}

/**
 * Settle `op` (later calls are ignored): delivered now, or queued for its owner's turn when the
 * owner is stalled on its operations (see the file header). Low-level: see {@link OperationSlots}.
 */
export function settleOperation(op: OperationSlots, ok: boolean, value: unknown): void {
  if (op._seq < 0) return;
  let status = ok ? FULFILLED : REJECTED;
  const held = op._outcome;
  const cancelling = held instanceof Promise ? null : (held as CancelledError);
  if (cancelling !== null) {
    // Abandoned earlier: whatever it settled with, it ends with the cancellation.
    status = REJECTED;
    value = cancelling;
  }
  op._seq = status;
  op._outcome = value;
  const owner = op._owner;
  if (owner === null) {
    op._deliver();
    return;
  }
  op._owner = null;
  const ops = owner._ops as TaskOps;
  detach(ops, op);
  if (!ops.waiting) {
    // Its owner is blocked in a trap (`Promise.race([call, sleep(ms)])`): delivered now, the
    // owner's code could go on outside its turn while the kernel holds it blocked. The rest of
    // a sleep or a join becomes an operation of the owner instead, which then waits on its
    // operations and gets its turn for this one (see "Discussion: a settlement during a sleep").
    if (!owner._kernel.moveWaitAside(owner)) {
      op._deliver();
      return;
    }
  }
  // A late cancellation ("not yet" earlier) reaching a task stalled on it: delivered in this turn.
  if (cancelling !== null) ops.delivering = cancelling;
  // The owner is stalled, most likely on this operation: settle it in the owner's turn (queued
  // through `_next`, free once detached).
  if (ops.settledTail === null) ops.settledHead = op;
  else ops.settledTail._next = op;
  ops.settledTail = op;
  routeSettled(owner, ops);
}

/** Whether a settled operation fulfilled (its `_outcome` is then its value, else its error). Low-level. */
export function operationFulfilled(op: OperationSlots): boolean {
  return op._seq === FULFILLED;
}

/**
 * The kernel abandons `op`: its task's cancellation covers it. Returns whether it settled now;
 * false when its canceller answered "not yet" (see the file header). Low-level: see {@link OperationSlots}.
 */
export function abortOperation(op: OperationSlots, error: CancelledError): boolean {
  if (op._seq < 0) return false;
  const held = op._outcome;
  if (!(held instanceof Promise)) return false; // abandoned already
  op._outcome = error;
  held.then(undefined, ignore);
  const answer = op._cancelOperation();
  if (answer === false && op._seq >= 0) return false;
  // Over at once (if the canceller settled it meanwhile, `settleOperation` made that the cancellation).
  settleOperation(op, false, error);
  return true;
}

/**
 * An operation started by the calling task (or by plain code), for APIs that return ordinary
 * Promises yet must be scheduled and cancelled by the kernel: give callers {@link promise} and
 * settle the operation with {@link resolve} / {@link reject} from anywhere (an IO callback,
 * another task). See the file header for what the kernel does with it.
 *
 * The base of {@link TaskOperation}, for a runtime that starts very many operations of a few
 * kinds: a subclass names its kind with a `state` getter instead of a field in each operation
 * (see "Discussion: size").
 *
 * It is an {@link OperationSlots} (checked where it is passed as one; not declared with
 * `implements`, since its slots are left out of the published declarations).
 */
export abstract class OwnedOperation<T> {
  /** @internal The task that started the operation, while the operation is pending; null for plain code. */
  _owner: Task | null = null;
  /** @internal See {@link OperationSlots}. */
  _outcome: unknown = null;
  private readonly resolvePromise: (value: T) => void;
  private readonly rejectPromise: (error: unknown) => void;
  /** @internal */ _prev: TaskOperationLink | null = null;
  /** @internal */ _next: TaskOperationLink | null = null;
  /** @internal */ _seq = 0;
  /** Names the operation in `task.state` and the monitor while the task waits for it. */
  abstract readonly state: TaskState;

  /** Start an operation owned by the calling task; `canceller` is told if the kernel abandons it. */
  constructor(private readonly canceller: OperationCanceller | null = null) {
    const promise = new Promise<T>(captureResolvers);
    this.resolvePromise = capturedResolve as (value: T) => void;
    this.rejectPromise = capturedReject;
    beginOperation(this, promise);
  }

  /**
   * The Promise the caller gets: a plain native Promise. Read it when starting the operation,
   * before anything can settle or abandon it: the operation keeps it only that long (one field
   * less, see "Discussion: size"); reading it later throws. {@link TaskOperation} keeps it.
   */
  get promise(): Promise<T> {
    const held = this._outcome;
    if (this._seq < 0 || !(held instanceof Promise)) throw new Error('the Promise of an operation is read when it starts (TaskOperation keeps it)');
    return held as Promise<T>;
  }

  /** Whether the operation has settled. */
  get settled(): boolean {
    return this._seq < 0;
  }

  /** @internal */
  get _waitState(): TaskState {
    return this.state;
  }

  /** Fulfil the operation (later calls are ignored). */
  resolve(value: T): void {
    settleOperation(this, true, value);
  }

  /** Reject the operation (later calls are ignored). */
  reject(error: unknown): void {
    settleOperation(this, false, error);
  }

  /** @internal Settle the Promise (in the owner's turn, or at once). */
  _deliver(): void {
    const value = this._outcome;
    this._outcome = null;
    if (this._seq === FULFILLED) this.resolvePromise(value as T);
    else this.rejectPromise(value);
  }

  /** @internal */
  _cancelOperation(): boolean | void {
    return this.canceller?.cancel();
  }

  /**
   * @internal The kernel abandons the operation: its task's cancellation covers it. Returns
   * whether it settled now; false when its canceller answered "not yet" (see the file header).
   */
  _abort(error: CancelledError): boolean {
    return abortOperation(this, error);
  }
}

/** An operation whose kind is given when it starts (see {@link OwnedOperation}). */
export class TaskOperation<T> extends OwnedOperation<T> {
  /**
   * Start an operation owned by the calling task. `state` names it in `task.state` and the
   * monitor while the task waits for it; `canceller` is told if the kernel abandons it.
   */
  private readonly started: Promise<T>;

  constructor(
    readonly state: TaskState,
    canceller: OperationCanceller | null = null,
  ) {
    super(canceller);
    this.started = super.promise;
  }

  /** The Promise the caller gets: a plain native Promise. */
  override get promise(): Promise<T> {
    return this.started;
  }
}

function attach(owner: Task, op: TaskOperationLink): void {
  const ops = (owner._ops ??= new TaskOps());
  op._seq = ++ops.seq;
  const tail = ops.tail;
  op._prev = tail;
  if (tail === null) ops.head = op;
  else tail._next = op;
  ops.tail = op;
  ops.count++;
}

function detach(ops: TaskOps, op: TaskOperationLink): void {
  const prev = op._prev;
  const next = op._next;
  if (prev === null) ops.head = next;
  else prev._next = next;
  if (next === null) ops.tail = prev;
  else next._prev = prev;
  op._prev = op._next = null;
  ops.count--;
}

/**
 * Abort the task's pending operations that `error` covers: for a timeout, those started inside
 * the outermost expired timeout block; otherwise all of them. Returns how many.
 * @internal
 */
export function abortOperations(task: Task, error: CancelledError): number {
  const ops = task._ops;
  if (ops === null || ops.count === 0) return 0;
  let after = 0;
  if (error instanceof TaskTimeout) {
    const deadlines = task._deadlines;
    const marks = task._deadlineOps;
    if (deadlines !== null && marks !== null) {
      for (let i = 0; i < deadlines.length; i++) {
        const d = deadlines[i];
        if (d !== undefined && d !== null && d <= error.clock) {
          after = marks[i] ?? 0;
          break;
        }
      }
    }
  }
  let aborted = 0;
  let settled = 0;
  let op = ops.head;
  while (op !== null) {
    const next = op._next;
    if (op._seq > after) {
      if (op._abort(error)) settled++;
      aborted++;
    }
    op = next;
  }
  // Delivered in this turn only through operations that settled now; one that answered "not
  // yet" marks its own delivery when it settles.
  if (settled > 0 && ops.waiting) ops.delivering = error;
  return aborted;
}

/**
 * The task ended: operations still pending lose their owner and settle on their own (a
 * fire-and-forget call outlives its task); settlements queued for a turn are delivered now.
 * @internal
 */
export function releaseOperations(ops: TaskOps): void {
  flushSettled(ops);
  let op = ops.head;
  while (op !== null) {
    const next = op._next;
    op._prev = op._next = null;
    op._owner = null;
    op = next;
  }
  ops.head = ops.tail = null;
  ops.count = 0;
}

/** Deliver the settlements queued for the task's turn, in settlement order. @internal */
export function flushSettled(ops: TaskOps): void {
  let op = ops.settledHead;
  ops.settledHead = ops.settledTail = null;
  while (op !== null) {
    const next = op._next;
    op._next = null;
    op._deliver();
    op = next;
  }
}
