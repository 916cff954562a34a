// threads/pool.ts
//
// Pools of worker threads and child processes, and `runInThread` / `runInProcess` on them
// (Curio's workers.py).
//
// - A pool starts workers lazily, up to `size`; each worker runs one job at a time; jobs wait
//   in FIFO order for a free worker. A worker that is idle (or only finishing work nobody
//   waits for any more) is unref'd, so a pool never keeps the process alive by itself.
// - The caller waits in one external trap (state THREAD_WAIT / PROCESS_WAIT), so it can be
//   cancelled or timed out at once, whether its job is still queued or already running:
//   a queued job is dropped; a running job in a *thread* finishes in the background and its
//   result is dropped (JavaScript cannot interrupt a thread); a running job in a *process* is
//   stopped by killing the process (SIGKILL), which the pool replaces.
// - A worker that dies while running a job (process.exit() in a thread, a crash, a signal)
//   fails that job with WorkerExited; the pool starts a new worker for the next job.
// - Inside a kernel, `runInThread` / `runInProcess` use the kernel's own default pools,
//   created on first use and closed when the kernel shuts down (a daemon task named
//   'worker-pools' holds them and closes them when the kernel cancels it at shutdown).
//   Their size is `configureWorkerPools()`'s, by default the number of CPUs.
//
// Invariants: a slot (one worker) has at most one job in `current`; a job is settled exactly
// once (its state leaves RUNNING/QUEUED before it is settled); dead slots never get jobs.

import type { TransferListItem } from 'node:worker_threads';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Deque } from '../deque.js';
import { Event } from '../sync.js';
import { spawn, currentTask } from '../task.js';
import { currentTaskOrNull } from '../traps.js';
import { waitExternal, disableCancellation, awaitPromise } from '../cancellation.js';
import type { Kernel } from '../kernel.js';
import { TypeScriptLoaderMissing, WorkerError, WorkerExited, workerFailure } from './errors.js';
import type { ErrorData } from './errors.js';
import { BOOTSTRAP_URL, RUNTIME_URL, workerExecArgv } from './launch.js';
import type { ProcessInit, ThreadPoolInit } from './launch.js';
import { STATUS_ENCODED, STATUS_ERROR } from './protocol.js';
import type { AnswerMessage, JobMessage } from './protocol.js';
import { abandonTransfer, decodeValue, encodeContext, encodeValue } from './transfer.js';
import type { EncodeContext } from './transfer.js';
import { describeFunction } from './workfn.js';
import type { WorkerFunction } from './workfn.js';

/** Options of {@link ThreadPool} and {@link ProcessPool}. */
export interface PoolOptions {
  /** Maximum number of workers (default: the number of CPUs). */
  size?: number;
}

interface Settle {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const QUEUED = 0;
const RUNNING = 1;
const ABANDONED = 2;
const DONE = 3;

class Job {
  state: number = QUEUED;
  slot: Slot | null = null;
  constructor(
    readonly id: number,
    readonly fn: WorkerFunction,
    readonly args: readonly unknown[],
    readonly settle: Settle,
  ) {}
}

/** One worker thread or child process. */
abstract class Slot {
  current: Job | null = null;
  dead = false;
  error: unknown = undefined;
  readonly sentFunctions = new Set<number>();
  abstract post(message: JobMessage, transfer: TransferListItem[]): void;
  /** Keep the process alive (a job someone waits for is running). */
  abstract hold(): void;
  /** Stop keeping the process alive. */
  abstract letGo(): void;
  /** Stop the worker; resolves when it is gone. */
  abstract stop(): Promise<void>;
}

const NO_TRANSFER: TransferListItem[] = [];

function allPrimitive(values: readonly unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value !== null && typeof value === 'object') return false;
  }
  return true;
}

function describeExit(code: number | null, signal: string | null): string {
  return signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`;
}

/** What tells a thread pool from a process pool. */
interface PoolKind {
  /** Task state of a caller waiting for a job. */
  readonly waitState: string;
  /** 'runInThread' or 'runInProcess', for messages. */
  readonly label: string;
  /** Whether arguments cross a process boundary (no universal objects). */
  readonly crossProcess: boolean;
  /** Size when none is given. */
  defaultSize(): number;
  /** Start one worker reporting to `events`. */
  start(events: SlotEvents): Slot;
  /** A running job was abandoned by its caller: what becomes of its worker. */
  abandon(slot: Slot, discard: (slot: Slot) => void): void;
}

/** How a slot reports to its pool. */
interface SlotEvents {
  answer(slot: Slot, message: AnswerMessage): void;
  exit(slot: Slot, code: number | null, signal: string | null): void;
}

/** What thread and process pools share: the queue of jobs and the life of their workers. */
export abstract class WorkerPool {
  /** Maximum number of workers. */
  readonly size: number;
  private readonly kind: PoolKind;
  private readonly events: SlotEvents;
  private readonly slots = new Set<Slot>();
  private idle: Slot[] = [];
  private readonly queue = new Deque<Job>();
  private queuedDead = 0;
  private closedFlag = false;
  private closing: Promise<void> | null = null;
  private lastJobId = 0;
  private readonly functionIndex = new Map<string, number>();
  private readonly handleIndex = new WeakMap<WorkerFunction, number>();

  /** @internal Use {@link ThreadPool} or {@link ProcessPool}. */
  constructor(kind: PoolKind, options?: PoolOptions) {
    const size = options?.size ?? kind.defaultSize();
    if (!Number.isInteger(size) || size < 1) throw new TypeError('pool size must be an integer >= 1');
    this.size = size;
    this.kind = kind;
    this.events = {
      answer: (slot, message) => this.onAnswer(slot, message),
      exit: (slot, code, signal) => this.onExit(slot, code, signal),
    };
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Number of live workers. */
  get workerCount(): number {
    return this.slots.size;
  }

  /** Number of jobs waiting for a worker. */
  get queued(): number {
    return this.queue.length - this.queuedDead;
  }

  /**
   * Call `fn(...args)` in a worker and resolve with its result. Arguments and result are
   * copied by structured clone (UniversalQueue and UniversalEvent arguments are linked, not
   * copied). In a kernel task this is a cancellable trap; see the module notes for what
   * happens to cancelled work. Errors: {@link WorkerError} (`cause` is the worker's error),
   * {@link WorkerExited}, {@link TypeScriptLoaderMissing}.
   */
  run<A extends readonly unknown[], R>(fn: WorkerFunction<A, R>, ...args: A): Promise<R> {
    if (currentTaskOrNull() !== null) return this._runInTask<R>(fn as WorkerFunction, args);
    const id = ++this.lastJobId;
    return new Promise<R>((resolve, reject) => {
      this.submit(new Job(id, fn as WorkerFunction, args, { resolve: resolve as (value: unknown) => void, reject }));
    });
  }

  /**
   * {@link run} for a caller known to be a kernel task (no need to find out, which costs a
   * stack inspection while the kernel is busy): `runInThread` and `runInProcess`.
   * @internal
   */
  _runInTask<R>(fn: WorkerFunction, args: readonly unknown[]): Promise<R> {
    const id = ++this.lastJobId;
    return waitExternal<R>(this.kind.waitState, (wake) => {
      const job = new Job(id, fn as WorkerFunction, args, wake);
      this.submit(job);
      return () => this.abandon(job);
    });
  }

  /**
   * Stop every worker. Jobs still queued or running fail with a WorkerError (code
   * `ERR_POOL_CLOSED`); later calls too. Resolves when every worker is gone. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closedFlag = true;
    for (;;) {
      const job = this.queue.shift();
      if (job === undefined) break;
      if (job.state === QUEUED) this.fail(job, this.closedError());
    }
    this.queuedDead = 0;
    const stops: Promise<void>[] = [];
    for (const slot of this.slots) {
      slot.dead = true;
      const job = slot.current;
      slot.current = null;
      if (job !== null && job.state === RUNNING) this.fail(job, this.closedError());
      stops.push(slot.stop());
    }
    this.slots.clear();
    this.idle = [];
    this.closing = Promise.all(stops).then(() => undefined);
    return this.closing;
  }

  /** `await using pool = new ThreadPool()` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private closedError(): WorkerError {
    return new WorkerError(`${this.kind.label}: the pool is closed`, { code: 'ERR_POOL_CLOSED' });
  }

  private fail(job: Job, error: unknown): void {
    job.state = DONE;
    job.settle.reject(error);
  }

  private submit(job: Job): void {
    if (this.closedFlag) {
      this.fail(job, this.closedError());
      return;
    }
    for (;;) {
      const slot = this.idle.pop();
      if (slot === undefined) break;
      if (slot.dead) continue;
      if (!this.dispatch(slot, job)) this.idle.push(slot);
      return;
    }
    if (this.slots.size < this.size) {
      const slot = this.newSlot();
      if (!this.dispatch(slot, job)) this.idle.push(slot);
      return;
    }
    this.queue.push(job);
  }

  private newSlot(): Slot {
    const slot = this.kind.start(this.events);
    this.slots.add(slot);
    return slot;
  }

  /** Send `job` to `slot`. False (and the job failed) if its arguments cannot be sent. */
  private dispatch(slot: Slot, job: Job): boolean {
    const fn = job.fn;
    const index = this.indexOf(fn);
    const first = !slot.sentFunctions.has(index);
    const what = (): string => `${this.kind.label}(${describeFunction(fn)})`;
    let context: EncodeContext | null = null;
    let args = job.args;
    if (!allPrimitive(args)) {
      context = encodeContext(what, { crossProcess: this.kind.crossProcess });
      try {
        args = encodeValue(job.args, context) as readonly unknown[];
      } catch (error) {
        this.fail(job, error);
        return false;
      }
    }
    const message: JobMessage = [job.id, index, first ? fn.url : null, first ? fn.exportName : null, args, args === job.args ? 0 : 1];
    try {
      slot.post(message, context === null ? NO_TRANSFER : context.transfer);
    } catch (error) {
      if (context !== null) abandonTransfer(context);
      this.fail(job, new WorkerError(`${what()}: an argument cannot be copied to the worker`, { code: 'ERR_WORKER_DATA_CLONE', cause: error }));
      return false;
    }
    if (first) slot.sentFunctions.add(index);
    job.state = RUNNING;
    job.slot = slot;
    slot.current = job;
    slot.hold();
    return true;
  }

  /** The small integer naming `fn` in job messages (one per module URL and export). */
  private indexOf(fn: WorkerFunction): number {
    let index = this.handleIndex.get(fn);
    if (index !== undefined) return index;
    const key = `${fn.exportName}\0${fn.url}`;
    index = this.functionIndex.get(key);
    if (index === undefined) {
      index = this.functionIndex.size;
      this.functionIndex.set(key, index);
    }
    this.handleIndex.set(fn, index);
    return index;
  }

  private abandon(job: Job): void {
    if (job.state === QUEUED) {
      job.state = ABANDONED;
      if (++this.queuedDead > 32 && this.queuedDead * 2 > this.queue.length) this.compactQueue();
    } else if (job.state === RUNNING) {
      job.state = ABANDONED;
      this.kind.abandon(job.slot as Slot, (slot) => this.discard(slot));
    }
  }

  private compactQueue(): void {
    const live: Job[] = [];
    for (const job of this.queue) if (job.state === QUEUED) live.push(job);
    this.queue.clear();
    for (const job of live) this.queue.push(job);
    this.queuedDead = 0;
  }

  /** The next live queued job, or undefined. */
  private nextQueued(): Job | undefined {
    for (;;) {
      const job = this.queue.shift();
      if (job === undefined) return undefined;
      if (job.state === QUEUED) return job;
      this.queuedDead--;
    }
  }

  /** `slot` finished its job: give it the next one, or let it idle. */
  private slotFree(slot: Slot): void {
    slot.current = null;
    for (;;) {
      const job = this.nextQueued();
      if (job === undefined) break;
      if (this.dispatch(slot, job)) return;
    }
    slot.letGo();
    this.idle.push(slot);
  }

  /** A worker answered. */
  private onAnswer(slot: Slot, message: AnswerMessage): void {
    const job = slot.current;
    if (job === null || job.id !== message[0] || slot.dead) return;
    if (job.state === RUNNING) {
      job.state = DONE;
      const status = message[1];
      if (status === STATUS_ERROR) {
        job.settle.reject(workerFailure(message[2] as ErrorData, `${this.kind.label}(${describeFunction(job.fn)})`));
      } else {
        let value = message[2];
        if (status === STATUS_ENCODED) {
          try {
            value = decodeValue(value);
          } catch (error) {
            job.settle.reject(error);
            this.slotFree(slot);
            return;
          }
        }
        job.settle.resolve(value);
      }
    }
    this.slotFree(slot);
  }

  /** A worker is gone. */
  private onExit(slot: Slot, code: number | null, signal: string | null): void {
    if (!this.slots.delete(slot)) return;
    slot.dead = true;
    const job = slot.current;
    slot.current = null;
    if (job !== null && job.state === RUNNING) {
      const what = `${this.kind.label}(${describeFunction(job.fn)})`;
      const cause = slot.error;
      const code_ = (cause as { code?: unknown } | undefined)?.code;
      this.fail(
        job,
        code_ === 'ERR_TS_LOADER_MISSING'
          ? new TypeScriptLoaderMissing(`${what}: ${(cause as Error).message}`, cause)
          : new WorkerExited(`${what}: the worker ${describeExit(code, signal)} before answering`, code, signal, cause),
      );
    }
    this.refill();
  }

  /** Remove a slot and stop its worker (its exit will be ignored). */
  private discard(slot: Slot): void {
    this.slots.delete(slot);
    slot.dead = true;
    slot.current = null;
    void slot.stop();
    this.refill();
  }

  /** Start workers for queued jobs, up to the pool size. */
  private refill(): void {
    while (!this.closedFlag && this.slots.size < this.size) {
      const job = this.nextQueued();
      if (job === undefined) return;
      const slot = this.newSlot();
      if (!this.dispatch(slot, job)) this.slotFree(slot);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Threads

class ThreadSlot extends Slot {
  readonly worker: Worker;
  private readonly port: MessagePort;

  constructor(events: SlotEvents) {
    super();
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const init: ThreadPoolInit = { kind: 'pool', runtime: RUNTIME_URL, jobs: port2 };
    this.worker = new Worker(BOOTSTRAP_URL, { workerData: init, transferList: [port2], execArgv: workerExecArgv() });
    port1.on('message', (message: AnswerMessage) => events.answer(this, message));
    // Liveness follows the worker's ref (hold/letGo), not the port's.
    port1.unref();
    this.worker.on('error', (error) => {
      this.error = error;
    });
    this.worker.on('exit', (code) => events.exit(this, code, null));
    this.worker.unref();
  }

  post(message: JobMessage, transfer: TransferListItem[]): void {
    this.port.postMessage(message, transfer);
  }

  hold(): void {
    this.worker.ref();
  }

  letGo(): void {
    this.worker.unref();
  }

  async stop(): Promise<void> {
    // Referenced until it is gone, so that whoever awaits this keeps the process alive.
    this.worker.ref();
    await this.worker.terminate();
  }
}

/**
 * A pool of worker threads for {@link ThreadPool.run}. A cancelled caller gets its
 * CancelledError at once; the thread finishes the job in the background and the result is
 * dropped. Use `await pool.close()` (or `await using`) when done; idle workers never keep the
 * process alive.
 */
export class ThreadPool extends WorkerPool {
  constructor(options?: PoolOptions) {
    super(THREADS, options);
  }
}

const THREADS: PoolKind = {
  waitState: 'THREAD_WAIT',
  label: 'runInThread',
  crossProcess: false,
  defaultSize: () => defaultPoolSize,
  start: (events) => new ThreadSlot(events),
  // The thread cannot be interrupted: it finishes in the background (result dropped) and no
  // longer keeps the process alive.
  abandon: (slot) => slot.letGo(),
};

// ---------------------------------------------------------------------------------------------
// Processes

class ProcessSlot extends Slot {
  readonly child: ChildProcess;
  private exited = false;
  private readonly gone: Promise<void>;

  constructor(events: SlotEvents) {
    super();
    const init: ProcessInit = { kind: 'process', runtime: RUNTIME_URL };
    this.child = fork(fileURLToPath(BOOTSTRAP_URL), ['--curio-worker', JSON.stringify(init)], {
      serialization: 'advanced',
      execArgv: workerExecArgv(),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.gone = new Promise<void>((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = true;
        resolve();
        events.exit(this, code, signal);
      });
    });
    this.child.on('message', (message) => events.answer(this, message as AnswerMessage));
    this.child.on('error', (error) => {
      // Spawning failed, or a message could not be sent (the child is gone): 'exit' follows.
      this.error ??= error;
    });
    this.letGo();
  }

  post(message: JobMessage): void {
    this.child.send(message);
  }

  hold(): void {
    this.child.ref();
    this.child.channel?.ref();
  }

  letGo(): void {
    this.child.unref();
    this.child.channel?.unref();
  }

  stop(): Promise<void> {
    if (!this.exited) {
      // Referenced until it is gone, so that whoever awaits this keeps the process alive.
      this.child.ref();
      this.child.kill('SIGKILL');
    }
    return this.gone;
  }
}

/**
 * A pool of child processes for {@link ProcessPool.run}. Arguments and results travel by
 * structured clone over IPC (no universal objects). A cancelled caller gets its
 * CancelledError at once and the child running its job is killed (SIGKILL) and replaced.
 */
export class ProcessPool extends WorkerPool {
  constructor(options?: PoolOptions) {
    super(PROCESSES, options);
  }
}

const PROCESSES: PoolKind = {
  waitState: 'PROCESS_WAIT',
  label: 'runInProcess',
  crossProcess: true,
  defaultSize: () => defaultProcessPoolSize,
  start: (events) => new ProcessSlot(events),
  // Stop the work by killing the process; the pool starts another when needed.
  abandon: (slot, discard) => discard(slot),
};

// ---------------------------------------------------------------------------------------------
// Default pools, one pair per kernel

let defaultPoolSize = Math.max(1, availableParallelism());
let defaultProcessPoolSize = defaultPoolSize;

/** Sizes of the pools {@link runInThread} and {@link runInProcess} create. */
export interface WorkerPoolSizes {
  /** Worker threads per kernel (default: the number of CPUs). */
  threads?: number;
  /** Child processes per kernel (default: the number of CPUs). */
  processes?: number;
}

/**
 * Set the size of the default pools (and of pools made without a `size`). Applies to pools
 * created afterwards; a kernel's default pools are created on its first runInThread /
 * runInProcess.
 */
export function configureWorkerPools(sizes: WorkerPoolSizes): void {
  for (const value of [sizes.threads, sizes.processes]) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new TypeError('pool sizes must be integers >= 1');
  }
  if (sizes.threads !== undefined) defaultPoolSize = sizes.threads;
  if (sizes.processes !== undefined) defaultProcessPoolSize = sizes.processes;
}

interface KernelPools {
  thread: ThreadPool | null;
  process: ProcessPool | null;
}

const kernelPools = new WeakMap<Kernel, KernelPools>();

function poolsOf(kernel: Kernel): KernelPools {
  let pools = kernelPools.get(kernel);
  if (pools === undefined) {
    const created: KernelPools = { thread: null, process: null };
    pools = created;
    kernelPools.set(kernel, created);
    // A daemon task holds the pools; the kernel cancels it at shutdown, and it closes them.
    spawn(
      async () => {
        try {
          await new Event().wait();
        } finally {
          kernelPools.delete(kernel);
          await disableCancellation(() =>
            awaitPromise(Promise.all([created.thread?.close(), created.process?.close()])),
          );
        }
      },
      { daemon: true, name: 'worker-pools' },
    );
  }
  return pools;
}

/**
 * The calling kernel's default thread pool (created on first use, closed at kernel shutdown).
 * Must be called from a kernel task.
 */
export function kernelThreadPool(): ThreadPool {
  const pools = poolsOf(currentTask()._kernel);
  return (pools.thread ??= new ThreadPool({ size: defaultPoolSize }));
}

/** The calling kernel's default process pool (created on first use, closed at kernel shutdown). */
export function kernelProcessPool(): ProcessPool {
  const pools = poolsOf(currentTask()._kernel);
  return (pools.process ??= new ProcessPool());
}

/**
 * Run `fn(...args)` in a worker thread of the kernel's default pool and return its result.
 * Cancellable: the caller gets CancelledError at once, while the thread finishes the call in
 * the background and its result is dropped. See {@link ThreadPool.run}.
 */
export function runInThread<A extends readonly unknown[], R>(fn: WorkerFunction<A, R>, ...args: A): Promise<R> {
  return kernelThreadPool()._runInTask<R>(fn as WorkerFunction, args);
}

/**
 * Run `fn(...args)` in a child process of the kernel's default pool and return its result.
 * Cancellable: the caller gets CancelledError at once and the child is killed and replaced.
 * See {@link ProcessPool.run}.
 */
export function runInProcess<A extends readonly unknown[], R>(fn: WorkerFunction<A, R>, ...args: A): Promise<R> {
  return kernelProcessPool()._runInTask<R>(fn as WorkerFunction, args);
}
