// handoff.ts
//
// The kernel's scheduler core: the hand-off scheduler shared by every Kernel in the process.
// It knows which task is running now and which are ready, and passes control (the "baton")
// from one task to the next. The wait queues that sync primitives block on are in sched.ts;
// the Kernel (kernel.ts) owns tasks, clocks and deadlines and calls in here to suspend and
// resume them.
//
// Discussion: knowing the current task without AsyncLocalStorage.
//
// JavaScript runs one piece of code at a time, and a kernel task only stops running at an
// `await`. The kernel resumes a task by settling the Promise that the task's last trap
// returned; the task then runs (in a microtask) until its next trap. A trap that blocks
// marks the task suspended and, before returning its own pending Promise, settles the
// Promise of the next ready task. So exactly one task is "active" at a time, the kernel
// always knows which, and a trap is attributed to `active` at the cost of reading a variable.
// This is Curio's run loop turned inside out: instead of a loop calling `send()`, every trap
// hands the baton to the next task. Each scheduling cycle runs only the tasks that were ready
// when it began (new arrivals wait for the next cycle), as in Curio.
//
// AsyncLocalStorage would give the same knowledge for free in code but not in time: on Node 20
// it makes every Promise in the process ~2.5x slower, which would cost the kernel and every
// library around it far more than the whole scheduler does.
//
// Two things break the baton chain, and both are caught here:
//
// 1. A task awaits a foreign Promise (fs, fetch, a plain async library) instead of a trap.
//    The chain stalls: no trap is called, and the microtask queue drains. A `process.nextTick`
//    check armed whenever a task is resumed runs right then (a nextTick queued from a microtask
//    waits for the queue to drain), finds a task still marked active, and moves it to the
//    FOREIGN_WAIT state; the chain continues with the next task. (A nextTick, not a
//    setImmediate: it costs no extra turn of the event loop per burst.)
//    While any task is in FOREIGN_WAIT, its continuation may run interleaved with other
//    tasks, so `active` can no longer be trusted. The kernel then follows tasks through their
//    Promise jobs with V8's promise hooks (see "Following tasks while a foreign wait exists"
//    below), enabled only while such a task exists and only once the stack has been read for
//    the first STACK_READS_BEFORE_HOOKS callers (enabling a promise hook slows every Promise in
//    the process for good); before that, and where the hooks cannot tell, a trap identifies its
//    caller from V8's async stack trace, which contains the task's outermost frame, an async
//    function named `curio$task$<id>` (a few microseconds per trap).
//    `awaitPromise(p)` is the cheap and cancellable alternative to a raw await.
//    A task that stalls while operations of its own are pending (operation.ts: a client call
//    it awaits) is not counted as foreign: those operations settle in its own turn. Should it
//    be resumed by something else while no task holds the baton, the caller is identified
//    from the stack and handed the baton (`adopt`).
// 2. Node must keep running timers, IO and other Promise code. The chain runs in microtasks,
//    so it yields back to the event loop when a slice of SLICE_MS has been used and continues
//    from the same tick.
//
// Discussion: what a hop costs (issue 9). A task woken by IO (a reply on a socket) reaches its
// code through the scheduler's hops, and a sequential request/reply loop pays them on every
// call. Measured with callgrind on Node 20 (instructions per hop): a Promise reaction on an
// already settled Promise ~400, `process.nextTick` ~1 050, `queueMicrotask` ~1 570 (Node wraps
// each callback in an AsyncResource, binds it and runs it in its async scope), a
// `performance.now()` ~200. So the chain's own microtasks are reactions on one settled Promise
// (`enqueueJob`), a chain started by IO reads the clock only when a slice check or a yield
// needs it (`recentClock`), and a stall check that finds nothing ready stops the chain there
// instead of one more hop later. The one nextTick per burst (the stall check) stays: it is the
// only callback Node runs after the microtask queue has drained. A deadline cancelled at the
// front of a kernel's deadline queue leaves it at once (timequeue.ts), so that `expireTimers`,
// run by every cycle and by a stall check that finds nothing ready, reads no clock for a
// deadline nobody waits for (a Redis client's connect timeout made it two clock reads per
// sequential call).
//
// What a task's turn costs, measured (issue 9; profile workloads kernel-op-turns and
// kernel-op-loops, 200 000 operations awaited by 1 000 tasks or by 1 000 async loops in one task,
// settled in batches from an IO-like callback): ~540 ns per operation from tasks against ~200 ns
// from loops; 6.3 objects (771 B) against 3.3 (564 B). The extra three objects are Node's tick
// object for the stall check (88 B) and the job's Promise and reaction (~96 B). Of the time, about
// half is Node's tick cycle (nextTick, processTicksAndRejections, one more runMicrotasks entry per
// turn), the rest the switch itself (stallCheck, continueAfterStall, resume) and cache misses from
// touching a different task's objects each turn (resolving the same Promise costs ~4x more there
// than in a loop). Moving a Task's hot fields to its first cache line changed nothing measurable.
// The stall check's nextTick and one job per turn are the floor of this design (below): a
// Redis GET from 1 000 tasks runs at ~0.55-0.75x the rate of the same GETs from 1 000 async loops
// in one task.
//
// Two costs of that nextTick were Node's, not the design's, and are gone (measured with callgrind
// and `perf record -e cpu-clock --perf-basic-prof`): `process.nextTick` read off the global (an
// accessor on globalThis, then a lookup in the process object's dictionary: ~250 instructions per
// turn, now imported from node:process; kernel-op-turns +5-8% in interleaved A/B runs), and the
// tick object's map deprecation that Node's own streams cause (primeNextTick below: ~400 ns per
// turn in any process that had used a node:net socket; the 1000-task Redis workload measured
// beside the node runtime went from ~330k/s to ~500k/s).
//
// Rejected (issue 9): resuming a task woken by IO (its operation settled from a socket's read
// callback) from that callback itself, without the scheduler's microtask (`kick`), to save one
// Promise job per sequential call (per GET on curio: 2 jobs, 3 Promises, 1 nextTick; on the node
// runtime 1, 2, 1; profile/hops.ts). The task would hold the baton from the callback on, and its
// stall check must run after the microtask queue drains; but a nextTick queued from an IO
// callback runs before the microtasks (Node drains its tick queue first when it is not empty),
// which would take the baton from the task before its code runs. Arming the check lazily, at
// the task's first kernel call after the resumption, leaves none at all for a task whose
// continuation makes no kernel call (`Promise.all` over its calls, `await get(); await
// fsp.stat(f)`): `active` would then name a task that no longer runs, until whatever code a later
// IO callback runs calls the kernel and is taken for it. Nothing cheaper than a microtask of the
// kernel's own tells the two apart, so a resumption from IO keeps its one job.

import { performance } from 'node:perf_hooks';
// Imported, not read off the global `process` at each use: `process` on globalThis is an accessor
// and the process object is in dictionary mode, so `process.nextTick` costs a getter call and a
// hash lookup that the JIT cannot inline (~250 instructions, once per task turn).
import { nextTick } from 'node:process';
import { promiseHooks } from 'node:v8';
import { Deque } from './deque.js';
import type { Task } from './task.js';
import type { WaitCancel } from './sched.js';
import { flushSettled, opWaiting } from './operation.js';
import type { TaskOperationLink, TaskOps } from './operation.js';

/** How long a burst of task switches may keep the event loop busy before yielding (ms). */
const SLICE_MS = 2;
/** Check the clock for slice expiry every this many task resumptions. */
const RESUMES_PER_CLOCK_CHECK = 32;

/** The part of a Kernel the scheduler needs. @internal */
export interface SchedulerKernel {
  /** Move expired deadlines' tasks to the ready queue. */
  expireTimers(): void;
  /** The earliest pending real-time deadline in `performance.now()` ms, or undefined. */
  nextRealDeadline(): number | undefined;
  /** Whether a virtual clock could jump now (every task blocked on time alone). */
  canJump(): boolean;
  /**
   * Jump a virtual clock to its next deadline and wake what expires. True if it jumped.
   * `force`: an autojump (tasks may be waiting on IO).
   */
  jump(force?: boolean): boolean;
  /** With a virtual clock that autojumps: how long the kernel must stay idle first (real ms). */
  autojumpThreshold(): number | undefined;
  /** Called when the process is about to exit while the kernel still has tasks. */
  deadlocked(): void;
  /** Whether the kernel still holds tasks. */
  hasTasks(): boolean;
  /** A task of this kernel entered the FOREIGN_WAIT state. */
  foreignStarted(task: Task): void;
  /** A task of this kernel left the FOREIGN_WAIT state after `elapsedMs`. */
  foreignEnded(task: Task, elapsedMs: number): void;
  /** A task of this kernel stalled while operations of its own are pending (operation.ts). */
  opWaitStarted(task: Task): void;
  /** A task of this kernel left that state. */
  opWaitEnded(task: Task): void;
}

/**
 * Prime Node's `process.nextTick` before anything else calls it with arguments (issue 9).
 *
 * nextTick builds each tick as an object literal with two symbol keys and an `args` field that
 * holds undefined or an array of the extra arguments, whose kind depends on their number (four
 * or more make a holey array). If V8 optimizes nextTick before that field has seen every kind,
 * the first later call with another kind (Node's own streams pass up to four arguments)
 * deprecates the tick object's map, and from then on every nextTick in the process defines its
 * symbol keys in the runtime and migrates the object to the new map: measured with `perf` on the
 * 1000-task Redis workload after the node runtime had run in the same process, 7% of all samples
 * in `Runtime_DefineKeyedOwnPropertyInLiteral` and `JSObject::MigrateToMap` (called from the stall
 * check's nextTick), ~400 ns per task turn. Priming must come first: once the map is deprecated
 * this does not mend it, and fewer calls or fewer kinds did not prevent it (V8 of Node 20). It
 * costs ~1 400 empty ticks, once, when the kernel is imported.
 */
function primeNextTick(): void {
  const noop = (): void => {};
  for (let i = 0; i < 200; i++) {
    nextTick(noop);
    nextTick(noop, 1);
    nextTick(noop, noop);
    nextTick(noop, 1.5);
    nextTick(noop, 'x', 2);
    nextTick(noop, 1, 2, 3);
    nextTick(noop, 1, 2, 3, 4, 5);
  }
}
primeNextTick();

const ready = new Deque<Task>(1024);
let kernels: SchedulerKernel[] = [];

let active: Task | null = null;
let cycleLeft = 0;
let chainLive = false;
let tickPending = false;
let stallCheckPending = false;
/** When the current slice began (ms); negative until the clock is first read in it. */
let sliceStart = -1;
let sliceNow = performance.now();
let resumesSinceCheck = 0;
let foreignCount = 0;
let opWaitCount = 0;
let burstEnd: (() => void)[] = [];
let verifyingKernels = 0;
let wakeTimer: ReturnType<typeof setTimeout> | null = null;
let wakeTimerAt = Infinity;
/** Bumped whenever a chain of task hand-offs starts: an autojump needs it unchanged. */
let idleEpoch = 0;
let autojumpTimer: ReturnType<typeof setTimeout> | null = null;
let autojumpEpoch = -1;
let beforeExitInstalled = false;

const TASK_FRAME_PREFIX = 'curio$task$';

/** Register a kernel with the scheduler (it then receives timer and idle callbacks). @internal */
export function attachKernel(kernel: SchedulerKernel, verifyCallers: boolean): void {
  if (!kernels.includes(kernel)) kernels = [...kernels, kernel];
  if (verifyCallers) verifyingKernels++;
  if (!beforeExitInstalled) {
    beforeExitInstalled = true;
    process.on('beforeExit', onBeforeExit);
  }
}

/** Unregister a kernel. @internal */
export function detachKernel(kernel: SchedulerKernel, verifyCallers: boolean): void {
  if (kernels.includes(kernel)) {
    kernels = kernels.filter((k) => k !== kernel);
    if (verifyCallers) verifyingKernels--;
  }
  if (kernels.length === 0 && wakeTimer !== null) {
    clearTimeout(wakeTimer);
    wakeTimer = null;
    wakeTimerAt = Infinity;
  }
  if (kernels.length === 0) disarmAutojump();
}

/** The task whose code is running now, or null outside any kernel task. @internal */
export function callerTask(): Task | null {
  if (foreignCount === 0 && verifyingKernels === 0 && (active !== null || opWaitCount === 0)) return active;
  return followedCaller();
}

/** callerTask() while `active` cannot be trusted: from the promise hooks, else the stack. */
function followedCaller(): Task | null {
  let task = jobTask;
  if (task === null || hooksStop === null || verifyingKernels !== 0) {
    task = identifyCaller();
    if (hooksStop === null) countStackRead();
    if (task !== null) {
      if (inJob && hooksStop !== null) jobTask = task;
    } else {
      task = active;
    }
  }
  if (active === null && task !== null && (task._foreign || opWaiting(task))) adopt(task);
  return task;
}

/**
 * The calling task, or null for plain code, without trusting `active`: plain Promise code can
 * run interleaved with the kernel's hand-off chain (its Promise settled while a task held the
 * baton), so whenever a task is running or waiting on a foreign Promise the answer comes from
 * the promise hooks (a job the kernel follows) or else the async stack. For APIs that behave
 * differently in and out of tasks. Costs ~3 us while the kernel is busy (a variable read in a
 * followed job), nothing when it is idle.
 * @internal
 */
export function strictCallerTask(): Task | null {
  if (active === null && foreignCount === 0 && opWaitCount === 0) return null;
  let task = hooksStop !== null && verifyingKernels === 0 ? jobTask : null;
  if (task === null) {
    task = identifyCaller();
    if (hooksStop === null) countStackRead();
    if (task !== null && inJob && hooksStop !== null) jobTask = task;
  }
  if (active === null && task !== null && (task._foreign || opWaiting(task))) adopt(task);
  return task;
}

/** The task the scheduler last resumed and that has not trapped since (no stack inspection). @internal */
export function activeTask(): Task | null {
  return active;
}

/** Number of tasks currently waiting on a raw foreign await. @internal */
export function foreignTaskCount(): number {
  return foreignCount;
}

/** Whether promise hooks follow tasks from job to job now (a task is in FOREIGN_WAIT). @internal */
export function followingTasks(): boolean {
  return hooksStop !== null;
}

/**
 * Create the Promise that the task's current trap returns; the scheduler settles it when the
 * task is resumed.
 * @internal
 */
export function trapPromise<V>(task: Task): Promise<V> {
  const promise = new Promise<V>(captureResolvers);
  task._resolve = capturedResolve;
  task._reject = capturedReject;
  return promise;
}

// One shared executor instead of a closure per trap.
let capturedResolve: (value: unknown) => void = () => {};
let capturedReject: (error: unknown) => void = () => {};
function captureResolvers(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve as (value: unknown) => void;
  capturedReject = reject;
}

/**
 * The real clock as read at most a scheduling slice ago (~2 ms): what `sleep(0)` returns, so
 * that a yield does not pay for a clock read.
 * @internal
 */
export function recentClock(): number {
  if (sliceStart < 0) sliceStart = sliceNow = performance.now();
  return sliceNow;
}

/**
 * A chain of hand-offs starts: a new slice, whose clock is read only when something needs it
 * (the slice check, or `recentClock`).
 */
function startSlice(): void {
  chainLive = true;
  idleEpoch++;
  sliceStart = -1;
  resumesSinceCheck = 0;
}

// The chain's microtasks: reactions on one settled Promise (see "what a hop costs"). Created
// with no task named, so that promise hooks (while tasks are followed) tag them with nobody:
// the scheduler's own jobs belong to no task, as a queueMicrotask callback did.
const SETTLED: Promise<void> = Promise.resolve();

function enqueueJob(job: () => void): void {
  const tag = jobTask;
  jobTask = null;
  void SETTLED.then(job);
  jobTask = tag;
}

/**
 * The calling task stops executing until the scheduler resumes it: its trap Promise must
 * already exist. If it held the baton, the next ready task runs.
 * @internal
 */
export function leave(task: Task): void {
  const ops = task._ops;
  if (ops !== null) ops.delivering = null;
  if (task === active) {
    active = null;
    switchNext();
  } else if (task._foreign) {
    endForeign(task);
  } else if (ops !== null && ops.waiting) {
    endOpWait(task, ops);
    flushSettled(ops);
  }
}

/**
 * Suspend the calling task in `state`; `cancel.cancelWait(task)` undoes its registration if it
 * is cancelled or times out.
 * @internal
 */
export function suspend<V>(task: Task, state: Task['state'], cancel: WaitCancel): Promise<V> {
  const promise = trapPromise<V>(task);
  task.state = state;
  task._waitCancel = cancel;
  leave(task);
  return promise;
}

/**
 * {@link suspend}, but the calling task keeps the baton until its synchronous code ends (one
 * microtask), so that what that code starts is known to be its own: a call made after a sleep in
 * the same expression (`Promise.race([sleep(100), client.get(k)])`) is an operation of the task,
 * as in the other order; a second join or sleep there combines with the first (Kernel.waitAside);
 * any other blocking call there is refused (`Promise.all([sleep(10), queue.get()])`:
 * ERR_NOT_AWAITED) instead of being taken for the next task's. For sleeps of some time and for
 * joins, whose waits cost far more than the one job; queues and locks pass the baton at once.
 * @internal
 */
export function suspendAfterTurn<V>(task: Task, state: Task['state'], cancel: WaitCancel): Promise<V> {
  if (task !== active) return suspend<V>(task, state, cancel);
  const promise = trapPromise<V>(task);
  task.state = state;
  task._waitCancel = cancel;
  const ops = task._ops;
  if (ops !== null) ops.delivering = null;
  leavingAfterTurn = task;
  enqueueJob(leaveAfterTurn);
  return promise;
}

/** The task that keeps the baton to the end of its turn (suspendAfterTurn). */
let leavingAfterTurn: Task | null = null;

/** Whether `task` is blocked in a trap of {@link suspendAfterTurn} and still in its turn. @internal */
export function blockedInTurn(task: Task): boolean {
  return task === leavingAfterTurn && task === active && task.state !== 'RUNNING';
}

function leaveAfterTurn(): void {
  const task = leavingAfterTurn;
  leavingAfterTurn = null;
  // Unless it passed the baton meanwhile (it ended: its refused second call was not caught).
  if (task !== null && task === active && task.state !== 'RUNNING') {
    active = null;
    switchNext();
  }
}

/** Make a blocked task ready; its trap resolves with `value`. @internal */
export function reschedule(task: Task, value: unknown): void {
  task.state = 'READY';
  task._waitCancel = null;
  task._trapFailed = false;
  task._trapValue = value;
  ready.push(task);
  if (!chainLive) kick();
}

/** Make a blocked task ready; its trap rejects with `error`. @internal */
export function rescheduleError(task: Task, error: unknown): void {
  task.state = 'READY';
  task._waitCancel = null;
  task._trapFailed = true;
  task._trapValue = error;
  ready.push(task);
  if (!chainLive) kick();
}

/** A task finished (its frame returned). Passes the baton on if it held it. @internal */
export function exited(task: Task): void {
  leave(task);
}

/** Tell the scheduler a real-time deadline was added; re-arms the wake timer when idle. @internal */
export function deadlineAdded(at: number): void {
  if (!chainLive && at < wakeTimerAt) armWakeTimer(at);
}

/**
 * An operation of `task` settled while the task is stalled on its operations: give the task a
 * turn, in which the settlement is delivered (operation.ts).
 * @internal
 */
export function routeSettled(task: Task, ops: TaskOps): void {
  if (task.state === 'READY') return;
  task.state = 'READY';
  ops.routed = true;
  ready.push(task);
  if (!chainLive) kick();
}

/**
 * `task` (the caller, known for certain) entered the kernel: if it is in the turn that
 * delivered a cancellation through its operations, it has seen that cancellation.
 * @internal
 */
export function enteredKernel(task: Task): void {
  const ops = task._ops;
  if (ops === null) return;
  const delivering = ops.delivering;
  if (delivering !== null) {
    ops.delivering = null;
    if (task._cancelPending === delivering) task._cancelPending = null;
  }
}

/**
 * Run `fn` once the current burst of task hand-offs has ended (every ready task ran and the
 * chain went idle or yielded to the event loop); outside a burst, at the next tick. Where a
 * runtime flushes the writes of everything its tasks did in the burst, in one write.
 */
export function atBurstEnd(fn: () => void): void {
  if (!chainLive) {
    nextTick(fn);
    return;
  }
  burstEnd.push(fn);
}

function chainStopped(): void {
  chainLive = false;
  if (burstEnd.length === 0) return;
  const fns = burstEnd;
  burstEnd = [];
  for (let i = 0; i < fns.length; i++) {
    try {
      (fns[i] as () => void)();
    } catch (error) {
      // Not the scheduler's to handle, and it must not stop the others or the chain: an
      // uncaught exception, as if the function had run on its own.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/** Whether a chain of task hand-offs is in progress. @internal */
export function isChainLive(): boolean {
  return chainLive;
}

// ---------------------------------------------------------------------------------------------
// The baton chain

function kick(): void {
  startSlice();
  enqueueJob(startCycle);
}

function resume(task: Task): void {
  active = task;
  task.state = 'RUNNING';
  task.cycles++;
  if (!stallCheckPending) {
    stallCheckPending = true;
    nextTick(stallCheck);
  }
  const ops = task._ops;
  if (ops !== null && ops.routed) {
    // A turn to deliver the task's settled operations: settling their Promises lets the task
    // run (if it awaits one of them) holding the baton.
    endOpWait(task, ops);
    flushSettled(ops);
    return;
  }
  if (task._fn !== null) {
    // First run: call the task's function from a fresh microtask, never from inside the
    // trap that passed the baton (that would nest one task's stack inside another's).
    starting.push(task);
    enqueueJob(startNext);
    return;
  }
  const value = task._trapValue;
  task._trapValue = undefined;
  if (task._trapFailed) {
    task._trapFailed = false;
    task._reject(value);
  } else {
    task._resolve(value);
  }
}

function switchNext(): void {
  while (cycleLeft > 0) {
    cycleLeft--;
    const task = ready.shift() as Task;
    // An entry is stale if its task was handed the baton outside its turn (`adopt`).
    if (task.state === 'READY') {
      resume(task);
      return;
    }
  }
  if (++resumesSinceCheck >= RESUMES_PER_CLOCK_CHECK) {
    resumesSinceCheck = 0;
    sliceNow = performance.now();
    if (sliceStart < 0) sliceStart = sliceNow;
    else if (sliceNow - sliceStart > SLICE_MS) {
      // Yield to the event loop; the pending tick continues the work.
      chainStopped();
      if (!tickPending) {
        tickPending = true;
        setImmediate(tick);
      }
      return;
    }
  }
  startCycle();
}

function startCycle(): void {
  // A task adopted meanwhile (found running from the stack while no task held the baton, e.g.
  // resumed by a plain Promise settled in an IO callback before this job ran) holds the baton:
  // it goes on, and its next trap or stall continues the chain. Resuming another task now
  // would take the baton from a task still running, which would then be invisible to the
  // kernel (its traps "outside a kernel task").
  if (active !== null) return;
  const list = kernels;
  for (let i = 0; i < list.length; i++) (list[i] as SchedulerKernel).expireTimers();
  let n = ready.length;
  while (n > 0) {
    n--;
    const task = ready.shift() as Task;
    if (task.state === 'READY') {
      cycleLeft = n;
      resume(task);
      return;
    }
  }
  chainStopped();
  goIdle();
}

/**
 * Runs once the microtask queue has drained (a nextTick queued from inside the chain waits for
 * that): if a task still holds the baton then, it awaits something that is not a trap.
 */
function stallCheck(): void {
  stallCheckPending = false;
  if (active === null) return;
  const task = active;
  active = null;
  const ops = task._ops;
  if (ops !== null) ops.delivering = null;
  if (ops !== null && ops.count > 0) {
    // Most likely awaiting its own operations: they will settle in its turn.
    beginOpWait(task, ops);
  } else {
    task.state = 'FOREIGN_WAIT';
    task._foreign = true;
    task._foreignSince = performance.now();
    if (foreignCount++ === 0) startFollowing();
    task._kernel.foreignStarted(task);
  }
  if (ready.length === 0) {
    // Nothing may be ready to run: then the chain stops here, without one more hop. Due timers
    // are expired first, as a new cycle would (what they wake is resumed from a microtask).
    const list = kernels;
    for (let i = 0; i < list.length; i++) (list[i] as SchedulerKernel).expireTimers();
    if (ready.length === 0) {
      chainStopped();
      goIdle();
      return;
    }
  }
  // From a microtask: a nextTick armed by the next resume must wait for that task's code.
  enqueueJob(continueAfterStall);
}

/**
 * `task`, not running, now waits on its operations (as a stall with operations pending makes
 * it): for the kernel, which moved the task's trap into an operation (Kernel.moveWaitAside).
 * @internal
 */
export function startOpWait(task: Task): void {
  const ops = task._ops;
  if (ops !== null && ops.count > 0 && !ops.waiting) beginOpWait(task, ops);
}

/** `task` waits on its pending operations, in the oldest one's state. */
function beginOpWait(task: Task, ops: TaskOps): void {
  task.state = (ops.head as TaskOperationLink)._waitState;
  ops.waiting = true;
  opWaitCount++;
  task._kernel.opWaitStarted(task);
}

function continueAfterStall(): void {
  // A task handed the baton meanwhile (`adopt`) continues the chain when it leaves.
  if (active === null) switchNext();
}

/**
 * A task stalled outside any turn (FOREIGN_WAIT or waiting on its operations) is running again, found from the
 * stack while no task holds the baton: hand it the baton, as if the scheduler had resumed it.
 */
function adopt(task: Task): void {
  if (!chainLive) startSlice();
  if (task._foreign) endForeign(task);
  const ops = task._ops;
  if (ops !== null && ops.waiting) {
    endOpWait(task, ops);
    flushSettled(ops);
  }
  active = task;
  task.state = 'RUNNING';
  if (!stallCheckPending) {
    stallCheckPending = true;
    nextTick(stallCheck);
  }
}

function endOpWait(task: Task, ops: TaskOps): void {
  ops.waiting = false;
  ops.routed = false;
  opWaitCount--;
  task._kernel.opWaitEnded(task);
}

function tick(): void {
  tickPending = false;
  if (active !== null) {
    stallCheck();
    return;
  }
  if (chainLive) return;
  // Start a new slice. chainLive is set first so that tasks woken below do not kick again.
  startSlice();
  if (ready.length === 0) {
    let jumped = false;
    for (const kernel of kernels) if (kernel.jump()) jumped = true;
    if (!jumped) {
      chainStopped();
      goIdle();
      return;
    }
  }
  // Resumptions always happen inside microtasks, so the stall check (a nextTick) sees the end of
  // the burst and not the end of this callback.
  enqueueJob(startCycle);
}

function endForeign(task: Task): void {
  task._foreign = false;
  if (--foreignCount === 0) stopFollowing();
  task._kernel.foreignEnded(task, performance.now() - task._foreignSince);
  if (!chainLive) goIdle();
}

function goIdle(): void {
  let earliest = Infinity;
  let jumpPossible = false;
  for (const kernel of kernels) {
    const at = kernel.nextRealDeadline();
    if (at !== undefined && at < earliest) earliest = at;
    if (kernel.canJump()) jumpPossible = true;
  }
  if (earliest !== wakeTimerAt) armWakeTimer(earliest);
  if (jumpPossible && !tickPending) {
    tickPending = true;
    setImmediate(tick);
  } else if (!jumpPossible) {
    armAutojump();
  }
}

function armWakeTimer(at: number): void {
  if (wakeTimer !== null) {
    clearTimeout(wakeTimer);
    wakeTimer = null;
  }
  wakeTimerAt = at;
  if (at === Infinity) return;
  const delay = Math.max(0, Math.ceil(at - performance.now()));
  wakeTimer = setTimeout(onWakeTimer, delay);
}

function onWakeTimer(): void {
  wakeTimer = null;
  wakeTimerAt = Infinity;
  if (!chainLive) {
    startSlice();
    enqueueJob(startCycle);
  }
}

// ---------------------------------------------------------------------------------------------
// Autojump (a virtual clock that jumps while tasks wait on IO; KernelOptions.autojumpThreshold)
//
// Discussion: when the kernel goes idle, a real timer of the smallest threshold is armed. When
// it fires, Node may still hold IO that arrived meanwhile (timers run before the poll phase of
// the same loop turn, and a busy process may fire a timer long overdue), so the jump waits one
// more setImmediate, which runs after the poll phase: only if no chain of hand-offs started in
// between (no task was woken by that IO) does the clock jump.

function armAutojump(): void {
  let threshold = Infinity;
  for (const kernel of kernels) {
    const ms = kernel.autojumpThreshold();
    if (ms !== undefined && ms < threshold) threshold = ms;
  }
  disarmAutojump();
  if (threshold === Infinity) return;
  autojumpEpoch = idleEpoch;
  autojumpTimer = setTimeout(onAutojumpTimer, threshold);
}

function disarmAutojump(): void {
  if (autojumpTimer !== null) {
    clearTimeout(autojumpTimer);
    autojumpTimer = null;
  }
}

function onAutojumpTimer(): void {
  autojumpTimer = null;
  if (chainLive || idleEpoch !== autojumpEpoch) return;
  setImmediate(autojump);
}

function autojump(): void {
  if (chainLive || idleEpoch !== autojumpEpoch) return;
  startSlice();
  let jumped = false;
  for (const kernel of kernels) if (kernel.autojumpThreshold() !== undefined && kernel.jump(true)) jumped = true;
  if (!jumped) {
    chainStopped();
    goIdle();
    return;
  }
  enqueueJob(startCycle);
}

function onBeforeExit(): void {
  // Node found nothing left to do. A kernel that still has tasks can never make progress.
  if (chainLive || ready.length > 0) return;
  for (const kernel of [...kernels]) {
    if (kernel.hasTasks()) kernel.deadlocked();
  }
}

// ---------------------------------------------------------------------------------------------
// Slow path: identify the caller from V8's async stack trace.

type CallSiteLike = { getFunctionName(): string | null };

function captureCallSites(): CallSiteLike[] {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  Error.prepareStackTrace = (_error, sites) => sites;
  Error.stackTraceLimit = 200;
  const holder: { stack?: unknown } = {};
  Error.captureStackTrace(holder, captureCallSites);
  const sites = holder.stack as CallSiteLike[] | undefined;
  Error.prepareStackTrace = prepare;
  Error.stackTraceLimit = limit;
  return sites ?? [];
}

/** The task whose frame is on the (async) stack, or null. */
function identifyCaller(): Task | null {
  const sites = captureCallSites();
  for (let i = 0; i < sites.length; i++) {
    const name = (sites[i] as CallSiteLike).getFunctionName();
    if (name !== null && name.startsWith(TASK_FRAME_PREFIX)) {
      const task = taskInSlot(Number(name.slice(TASK_FRAME_PREFIX.length)));
      if (task !== undefined) return task;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Following tasks while a foreign wait exists
//
// Discussion. A task in FOREIGN_WAIT resumes in the Promise job that its foreign Promise's
// settlement queues, at a moment the kernel cannot see, and may trap while another task holds
// the baton. Identifying every caller from the stack (~3 us a trap) made every task ~30x
// slower for as long as one foreign await lasted. Instead, while any task is in FOREIGN_WAIT
// (and only then), V8's promise hooks carry the calling task from job to job, as
// AsyncLocalStorage would but with three small callbacks and no async ids. Not from the first
// foreign wait, though: enabling a promise hook, even for a moment, makes V8 drop its PromiseHook
// protector for the rest of the process, so every async function and Promise in it runs slower
// from then on, kernel or not (STACK_READS_BEFORE_HOOKS has the figures). So the stack identifies
// the first callers, and only a program that keeps needing it (1 000 reads, a few milliseconds)
// switches to the hooks. The hooks:
//
// - init: a Promise created while the code of task T runs is tagged with T. `await` and
//   `then` create such a Promise (the "throwaway" of an await, the derived Promise of a then),
//   and the job that runs the continuation receives it.
// - before: the job about to run belongs to the task its Promise was tagged with (`jobTask`),
//   or to nobody known (untagged: created outside any known task).
// - after: the job ended; nothing is known until the next job begins.
//
// Invariants.
// - `jobTask` is non-null only inside a Promise job whose before hook ran (`inJob`), or while
//   a task's first run is being called (startNext); it is reset when the job ends. A Promise
//   job whose reaction was registered before the hooks were enabled (the pending await of the
//   task that just stalled, and of every other task at that moment) runs without before/after
//   hooks: `inJob` is false and `jobTask` null there, so its traps take the stack path and
//   nothing is cached. Non-Promise callbacks (queueMicrotask, nextTick, IO, timers) likewise, and
//   the scheduler's own jobs (`enqueueJob`: Promise jobs created with no task named) run with
//   `jobTask` null.
// - When the stack identifies the caller inside a job with before/after hooks, the rest of
//   that job is the same synchronous code: `jobTask` caches the answer, so the Promises it
//   creates (the await right after the trap) are tagged and the task's later jobs are known.
// - A tag is a Task, never a frame slot: a tagged Promise outliving its task still names the
//   task whose code created it.
// So the stack is read at most once or twice per task after each start of following, and the
// fast path (`active`, no hooks) returns as soon as no task is in FOREIGN_WAIT.
//
// Rejected (issue 9): using the stack only while a foreign-waiting task "may have resumed".
// Its continuation runs after its foreign Promise settles, but the kernel cannot name that
// Promise (V8 exposes nothing about what a stalled async function awaits, and `await` of a
// native Promise never calls `then`). Watching every settlement instead (an `onSettled`
// hook) would have to keep the stack path until the microtask queue drains after any
// settlement not the kernel's own (the resumed task may go on through already settled
// Promises, with no further settlement, before it traps), and inside a burst the queue never
// drains while the tasks' own async functions settle Promises all the time. Recognising the
// Promise is possible only for Promises the kernel hands out: that is `awaitPromise`.
//
// Not available on Node 20 (issue 9): following without promise hooks. V8 carries a value
// through every Promise job without hooks and without touching the protector ("continuation
// preserved embedder data", what Node 22's AsyncContextFrame builds AsyncLocalStorage on), but
// Node 20 exposes it to no JavaScript API; a native addon could, at the price of a compiler at
// install time. AsyncLocalStorage on Node 20 is built on promise hooks itself (the same
// protector, and a plain Promise ping-pong at 0.27x once a context is active: the kernel bench's
// "why not AsyncLocalStorage" row). On a Node whose AsyncLocalStorage uses AsyncContextFrame, a
// store per task would replace the hooks here.

const TASK_TAG = Symbol('curio.task');
type Tagged = { [TASK_TAG]?: Task };

let hooksStop: (() => void) | null = null;
let jobTask: Task | null = null;
let inJob = false;

function hookInit(promise: Promise<unknown>): void {
  if (jobTask !== null) (promise as Tagged)[TASK_TAG] = jobTask;
}

function hookBefore(promise: Promise<unknown>): void {
  inJob = true;
  jobTask = (promise as Tagged)[TASK_TAG] ?? null;
}

function hookAfter(): void {
  inJob = false;
  jobTask = null;
}

/**
 * How many callers the stack may identify while tasks are in FOREIGN_WAIT before following
 * switches to promise hooks for good. Enabling any promise hook makes V8 drop its PromiseHook
 * protector, for the rest of the process: optimized code no longer inlines Promise construction,
 * `then` or `await`, so every async function and Promise in the process runs slower from then on,
 * whether or not it uses the kernel. Measured on Node 20 (issue 9): plain async/await code runs
 * +19.5-23.5% instructions per call under callgrind, and ran at 0.74-0.89x the rate in five
 * alternated pairs of processes (apps/bench protector-child.ts); the Redis GET workloads showed
 * no difference above the machine's noise. `node --trace-protector-invalidation` shows the
 * moment. A program whose foreign awaits are few (a config file read at start, an occasional
 * lookup) pays a few microseconds per trap for a while instead (~6 us a read on a slow machine);
 * one that awaits foreign Promises all the time (a server reading files) pays those few
 * milliseconds once and then the hooks' cheaper following.
 */
const STACK_READS_BEFORE_HOOKS = 1000;
/** Stack identifications left before promise hooks; 0 once they have been enabled. */
let stackReadsLeft = STACK_READS_BEFORE_HOOKS;

/** A caller was identified from the stack because no hooks follow tasks now. */
function countStackRead(): void {
  if (foreignCount > 0 && stackReadsLeft > 0 && --stackReadsLeft === 0) startFollowing();
}

/**
 * Set how many stack identifications come before promise hooks, for tests of both ways of
 * following: 0 follows with hooks from a foreign wait's start, Infinity never does. Hooks that
 * follow tasks now stay on until the last foreign wait ends. @internal
 */
export function setStackReadsBeforeHooks(reads: number): void {
  stackReadsLeft = Math.max(0, reads);
  if (stackReadsLeft === 0 && foreignCount > 0) startFollowing();
}

/**
 * A task entered FOREIGN_WAIT, or the stack budget ran out while one is: follow with hooks if
 * the budget is spent.
 */
function startFollowing(): void {
  if (hooksStop !== null || stackReadsLeft > 0) return;
  jobTask = null;
  inJob = false;
  hooksStop = promiseHooks.createHook({ init: hookInit, before: hookBefore, after: hookAfter }) as () => void;
}

function stopFollowing(): void {
  if (hooksStop === null) return;
  hooksStop();
  hooksStop = null;
  jobTask = null;
  inJob = false;
}

// ---------------------------------------------------------------------------------------------
// Task frames
//
// Every task runs inside an outermost async function whose name is `curio$task$<slot>`. The
// slow path above reads that name from the async stack trace and maps the slot to the task
// that occupies it. Frame functions are pooled by slot (a slot is reused once its task has
// ended), so a task costs no function object of its own and all frames share a hidden class.

type Frame = (task: Task) => Promise<void>;

const starting = new Deque<Task>();
const frames: Frame[] = [];
const frameSlots: (Task | null)[] = [];
const freeSlots: number[] = [];

function startNext(): void {
  const task = starting.shift() as Task;
  let slot = freeSlots.pop();
  if (slot === undefined) {
    slot = frames.length;
    frames.push(makeFrame(slot));
    frameSlots.push(null);
  }
  frameSlots[slot] = task;
  const frame = frames[slot] as Frame;
  // The scheduler's job is tagged with no task (or runs without hooks): name the task for the
  // code it runs now.
  jobTask = task;
  inJob = true;
  void frame(task);
  jobTask = null;
  inJob = false;
}

function makeFrame(slot: number): Frame {
  // Named through a computed key, not defineProperty(frame, 'name'): redefining `name` turns
  // the function's properties into a dictionary, ~250 bytes more per live task slot.
  const name = TASK_FRAME_PREFIX + slot;
  const named: Record<string, Frame> = {
    [name]: async (task: Task): Promise<void> => {
      let failed = false;
      let value: unknown;
      let error: unknown;
      try {
        // Called by a helper, not through a local: a local would keep the function (and all
        // it captures) alive in this frame's suspended state for the task's whole life.
        value = await callTaskFunction(task);
      } catch (caught) {
        failed = true;
        error = caught;
      }
      frameSlots[slot] = null;
      freeSlots.push(slot);
      task._kernel.taskExit(task, failed, value, error);
    },
  };
  return named[name] as Frame;
}

/** Take the task's function (the task no longer holds it) and call it. */
function callTaskFunction(task: Task): unknown {
  const fn = task._fn as () => unknown;
  task._fn = null;
  return fn();
}

function taskInSlot(slot: number): Task | undefined {
  return frameSlots[slot] ?? undefined;
}
