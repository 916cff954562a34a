// threads/asyncthread.ts
//
// Async threads (Curio's thread.py): synchronous code in a worker thread that blocks on kernel
// objects with `AWAIT(operation)`.
//
//    ________          ___________  answer + Atomics.notify   _________
//   |        | await  |  helper   |-------------------------->|         |
//   | kernel |<-------|   task    |                           | thread  |
//   |________|------->|___________|<--------------------------|_________|
//                                      [AWAIT_REQUEST, op]
//
// `spawnThread(fn, ...args)` starts a worker thread running `fn` and a helper task in the
// kernel. An operation is plain data (`op.get(queue)`, `op.sleep(100)`, `op.acquire(lock)`):
// the thread posts it and blocks in Atomics.wait; the helper task performs it as an ordinary
// kernel call (so it is cancellable, subject to timeouts, and visible to the monitor in the
// helper's state), posts the outcome and notifies. Kernel objects given as arguments stay in
// the kernel: the thread gets a `KernelRef` naming them in the helper's table.
//
// Cancellation (`thread.cancel()`) cancels the helper task. If the thread is blocked in AWAIT,
// the operation is interrupted and the thread's AWAIT throws the CancelledError; if it is
// running its own code, the cancellation is raised at its next AWAIT. The thread may catch it
// and keep going (AWAIT still works afterwards), exactly like a task. JavaScript cannot stop
// a thread that never calls AWAIT: `cancel()` then waits until it returns; `terminate()` stops
// the thread by force.

import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort, TransferListItem } from 'node:worker_threads';
import { CancelledError, KernelUsageError } from '../errors.js';
import { Deque } from '../deque.js';
import { currentTask, spawn } from '../task.js';
import type { Task, TaskState, CancelOptions } from '../task.js';
import { sleep, timeoutAfter } from '../time.js';
import { waitExternal } from '../cancellation.js';
import type { ExternalWake } from '../traps.js';
import type { Event, Lock, RLock, Semaphore, Condition, Result } from '../sync.js';
import type { Queue, LifoQueue, PriorityQueue } from '../queue.js';
import { WorkerError, WorkerExited, errorFromData, errorToData, workerFailure } from './errors.js';
import type { ErrorData } from './errors.js';
import { BOOTSTRAP_URL, RUNTIME_URL, workerExecArgv } from './launch.js';
import type { ThreadInit } from './launch.js';
import { ASYNC_THREAD_KEY, STATUS_ENCODED, STATUS_ERROR, STATUS_VALUE, THREAD_DONE } from './protocol.js';
import type { AsyncThreadLink, Status, ThreadMessage } from './protocol.js';
import { abandonTransfer, decodeValue, encodeContext, encodeValue, isKernelRef } from './transfer.js';
import type { KernelRef } from './transfer.js';
import { UniversalQueue } from './universal.js';
import { UniversalEvent } from './universal-event.js';
import type { UniversalEventHandle, UniversalQueueHandle } from './universal-common.js';
import { describeFunction } from './workfn.js';
import type { WorkerFunction } from './workfn.js';

// ---------------------------------------------------------------------------------------------
// Operations (built in the thread, performed in the kernel)

declare const operationResult: unique symbol;

type Target = KernelRef | UniversalQueueHandle | UniversalEventHandle;

/** An operation as data. */
export type OperationData =
  | { readonly op: 'sleep'; readonly ms: number }
  | { readonly op: 'call'; readonly target: Target; readonly method: string; readonly args: readonly unknown[] };

/** An operation for {@link AWAIT} whose result is `R`. Build one with {@link op}. */
export type Operation<R> = OperationData & { readonly [operationResult]?: R };

/** A kernel queue as an async thread sees it. */
export type QueueRef<T> = KernelRef<Queue<T> | LifoQueue<T> | PriorityQueue<T>>;
/** Something that can be acquired and released. */
export type LockRef = KernelRef<Lock | RLock | Semaphore | Condition>;

type Methods<T> = { [K in keyof T]: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T] & string;
type MethodArgs<T, K extends keyof T> = T[K] extends (...args: infer A) => unknown ? A : never;
type MethodResult<T, K extends keyof T> = T[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

function targetOf(object: UniversalQueue<unknown> | UniversalEvent | KernelRef): Target {
  if (object instanceof UniversalQueue) return object.knownHandle();
  if (object instanceof UniversalEvent) return object.handle();
  if (isKernelRef(object)) return object;
  throw new TypeError('AWAIT operations take a UniversalQueue, a UniversalEvent or a KernelRef given to the thread');
}

function call<R>(object: UniversalQueue<unknown> | UniversalEvent | KernelRef, method: string, args: readonly unknown[]): Operation<R> {
  return { op: 'call', target: targetOf(object), method, args };
}

/**
 * Builders of {@link AWAIT} operations. Each returns plain data; nothing happens until the
 * thread AWAITs it.
 */
export const op = {
  /** Sleep `ms` milliseconds on the kernel's clock. Result: the kernel clock. */
  sleep(ms: number): Operation<number> {
    if (typeof ms !== 'number' || Number.isNaN(ms)) throw new TypeError('op.sleep: ms must be a number');
    return { op: 'sleep', ms };
  },
  /** Take the next item of a queue (a UniversalQueue, or a kernel queue given to the thread). */
  get<T>(queue: UniversalQueue<T> | QueueRef<T>): Operation<T> {
    return call<T>(queue as UniversalQueue<unknown> | KernelRef, 'get', []);
  },
  /** Put an item on a queue. */
  put<T>(queue: UniversalQueue<T> | QueueRef<T>, item: T): Operation<void> {
    return call<void>(queue as UniversalQueue<unknown> | KernelRef, 'put', [item]);
  },
  /** Mark one item taken from a queue as processed (see `taskDone` on the queues). */
  taskDone<T>(queue: UniversalQueue<T> | QueueRef<T>): Operation<void> {
    return call<void>(queue as UniversalQueue<unknown> | KernelRef, 'taskDone', []);
  },
  /** Wait until every item put on a queue has been marked done. */
  join<T>(queue: UniversalQueue<T> | QueueRef<T>): Operation<void> {
    return call<void>(queue as UniversalQueue<unknown> | KernelRef, 'join', []);
  },
  /** Wait for an event (a UniversalEvent or a kernel Event given to the thread). */
  wait(event: UniversalEvent | KernelRef<Event>): Operation<void> {
    return call<void>(event, 'wait', []);
  },
  /** Set an event. */
  set(event: UniversalEvent | KernelRef<Event>): Operation<void> {
    return call<void>(event, 'set', []);
  },
  /** Acquire a kernel Lock, RLock, Semaphore or Condition given to the thread. */
  acquire(lock: LockRef): Operation<void> {
    return call<void>(lock, 'acquire', []);
  },
  /** Release what {@link op.acquire} acquired. */
  release(lock: LockRef): Operation<void> {
    return call<void>(lock, 'release', []);
  },
  /** Wait for a kernel Result given to the thread and return its value. */
  unwrap<T>(result: KernelRef<Result<T>>): Operation<T> {
    return call<T>(result, 'unwrap', []);
  },
  /** Call any method of a kernel object given to the thread, in the helper task, and await it. */
  call<T, K extends Methods<T>>(ref: KernelRef<T>, method: K, ...args: MethodArgs<T, K>): Operation<MethodResult<T, K>> {
    return call<MethodResult<T, K>>(ref as KernelRef, method, args);
  },
};

/** Options of {@link AWAIT}. */
export interface AwaitOptions {
  /** Kernel timeout for this operation (ms): the thread gets a TaskTimeout if it expires. */
  timeout?: number;
}

/**
 * In an async thread (code started by {@link spawnThread}): have the kernel perform
 * `operation` and block this thread until it is done; return its result or throw its error.
 * A cancellation of the thread is thrown here as the kernel's CancelledError (it can be
 * caught). Throws KernelUsageError `ERR_NOT_ASYNC_THREAD` anywhere else.
 */
export function AWAIT<R>(operation: Operation<R>, options?: AwaitOptions): R {
  const link = (globalThis as { [ASYNC_THREAD_KEY]?: AsyncThreadLink })[ASYNC_THREAD_KEY];
  if (link === undefined) {
    throw new KernelUsageError('AWAIT() used outside an async thread (code started by spawnThread())', 'ERR_NOT_ASYNC_THREAD');
  }
  const timeout = options?.timeout;
  if (timeout !== undefined && Number.isNaN(timeout)) throw new TypeError('AWAIT: timeout must be a number');
  return link.call(operation, timeout ?? null) as R;
}

/** Whether this code runs in an async thread. */
export function isAsyncThread(): boolean {
  return (globalThis as { [ASYNC_THREAD_KEY]?: AsyncThreadLink })[ASYNC_THREAD_KEY] !== undefined;
}

// ---------------------------------------------------------------------------------------------
// The kernel's side

/** A thread parameter as the caller passes it: `KernelRef<X>` takes an X (also inside a union). */
export type ThreadArg<P> = P extends KernelRef<infer O> ? O : P;

/** Arguments as the caller passes them: a thread parameter typed `KernelRef<X>` takes an X. */
export type ThreadArgs<A extends readonly unknown[]> = { [K in keyof A]: ThreadArg<A[K]> };

/** Kernel objects handed to one thread, by reference id. */
class RefTable {
  private readonly objects: object[] = [];
  private readonly ids = new Map<object, number>();

  add = (object: object): KernelRef => {
    let id = this.ids.get(object);
    if (id === undefined) {
      id = this.objects.length;
      this.objects.push(object);
      this.ids.set(object, id);
    }
    return { __curio: 'ref', id, kind: object.constructor.name };
  };

  get(ref: KernelRef): object {
    const object = this.objects[ref.id];
    if (object === undefined) throw new KernelUsageError(`unknown kernel reference ${ref.id} (${ref.kind})`, 'ERR_UNKNOWN_HANDLE');
    return object;
  }
}

type Inbox = { kind: 'message'; message: ThreadMessage } | { kind: 'exit'; code: number };

/**
 * A running async thread. Mimics a Task: `join()`, `wait()`, `cancel()`, `id`, `state`,
 * `terminated`, `cancelled`, `result`, `exception`; `task` is its helper task (add it to a
 * TaskGroup with `group.addTask(thread.task)`).
 */
export class AsyncThread<R = unknown> {
  /** The helper task that serves this thread's AWAITs and ends when the thread ends. */
  readonly task: Task<R>;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private readonly refs: RefTable;
  private readonly what: string;
  private readonly inbox = new Deque<Inbox>();
  private wake: ExternalWake | null = null;
  private exitCode: number | null = null;
  private error: unknown = undefined;
  private terminating = false;
  /**
   * Universal objects given as arguments, kept alive with the thread: AWAIT operations name
   * them by id and the helper finds them in this thread's registry, which holds them weakly.
   */
  private readonly linked: readonly object[];

  /** @internal Use {@link spawnThread}. */
  constructor(fn: WorkerFunction, args: readonly unknown[]) {
    currentTask(); // a kernel task must serve the thread: fail before starting anything
    this.what = `async thread ${describeFunction(fn)}`;
    this.refs = new RefTable();
    const context = encodeContext(`spawnThread(${describeFunction(fn)})`, { ref: this.refs.add });
    const encoded = encodeValue(args, context) as readonly unknown[];
    this.linked = context.linked;
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    this.port = port1;
    this.flag = new Int32Array(flag);
    const init: ThreadInit = {
      kind: 'thread',
      runtime: RUNTIME_URL,
      url: fn.url,
      exportName: fn.exportName,
      args: encoded,
      encoded: encoded !== args,
      port: port2,
      flag,
    };
    try {
      this.worker = new Worker(BOOTSTRAP_URL, {
        workerData: init,
        transferList: [port2, ...context.transfer],
        execArgv: workerExecArgv(),
      });
    } catch (error) {
      abandonTransfer(context);
      port1.close();
      if ((error as { name?: unknown }).name === 'DataCloneError') {
        throw new WorkerError(`${this.what}: an argument cannot be copied to the thread`, { code: 'ERR_WORKER_DATA_CLONE', cause: error });
      }
      throw new WorkerExited(`${this.what}: cannot start the thread`, null, null, error);
    }
    port1.on('message', (message: ThreadMessage) => this.deliver({ kind: 'message', message }));
    port1.unref();
    this.worker.on('error', (error) => {
      this.error = error;
    });
    this.worker.on('exit', (code) => {
      this.exitCode = code;
      // Answers still in the port come first.
      for (;;) {
        const left = receiveFromPort(this.port);
        if (left === undefined) break;
        this.deliver({ kind: 'message', message: left });
      }
      this.deliver({ kind: 'exit', code });
    });
    this.task = spawn(() => this.serve(), { name: `async-thread ${fn.exportName}` }) as Task<R>;
  }

  private deliver(item: Inbox): void {
    const wake = this.wake;
    if (wake !== null) {
      this.wake = null;
      wake.resolve(item);
    } else {
      this.inbox.push(item);
    }
  }

  private next(): Promise<Inbox> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return waitExternal<Inbox>('ASYNC_THREAD', (wake) => {
      this.wake = wake;
      return () => {
        this.wake = null;
      };
    });
  }

  private answer(seq: number, status: Status, payload: unknown, transfer: readonly TransferListItem[] = []): void {
    this.port.postMessage([seq, status, payload], transfer);
    Atomics.add(this.flag, 0, 1);
    Atomics.notify(this.flag, 0);
  }

  /** The helper task: serve AWAITs until the thread ends. */
  private async serve(): Promise<R> {
    let pendingCancel: CancelledError | null = null;
    for (;;) {
      let item: Inbox;
      try {
        item = await this.next();
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        // The thread is running its own code: raise this at its next AWAIT.
        pendingCancel = error;
        continue;
      }
      if (item.kind === 'exit') {
        const how = this.terminating ? 'was terminated' : `exited with code ${item.code}`;
        throw new WorkerExited(`${this.what}: the thread ${how} before returning`, item.code, null, this.error);
      }
      const message = item.message;
      if (message[0] === THREAD_DONE) {
        await this.stopped();
        const [, status, payload] = message;
        if (status === STATUS_ERROR) {
          const data = payload as ErrorData;
          const error = errorFromData(data);
          if (error instanceof CancelledError) throw error;
          throw workerFailure(data, this.what);
        }
        return (status === STATUS_ENCODED ? decodeValue(payload) : payload) as R;
      }
      const [, seq, operation, timeout] = message;
      if (pendingCancel !== null) {
        const error = pendingCancel;
        pendingCancel = null;
        this.answer(seq, STATUS_ERROR, errorToData(error));
        continue;
      }
      try {
        const value = timeout === null ? await this.perform(operation) : await timeoutAfter(timeout, () => this.perform(operation));
        const context = encodeContext('AWAIT result', { ref: this.refs.add });
        const encoded = encodeValue(value, context);
        try {
          this.answer(seq, encoded === value ? STATUS_VALUE : STATUS_ENCODED, encoded, context.transfer);
        } catch (error) {
          abandonTransfer(context);
          this.answer(seq, STATUS_ERROR, errorToData(error));
        }
      } catch (error) {
        this.answer(seq, STATUS_ERROR, errorToData(error));
      }
    }
  }

  /**
   * The thread's function has ended: stop the worker (timers or handles it left behind must
   * not keep it alive) and wait until it is gone.
   */
  private async stopped(): Promise<void> {
    if (this.exitCode !== null) return;
    void this.worker.terminate();
    for (;;) {
      const item = this.inbox.shift();
      if (item?.kind === 'exit') return;
      if (item !== undefined) continue;
      try {
        const next = await waitExternal<Inbox>('ASYNC_THREAD_EXIT', (wake) => {
          this.wake = wake;
          return () => {
            this.wake = null;
          };
        });
        if (next.kind === 'exit') return;
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        // The thread has already ended; finishing is not a blocking operation.
        return;
      }
    }
  }

  private async perform(data: unknown): Promise<unknown> {
    const operation = decodeValue(data) as OperationData;
    if (operation.op === 'sleep') return sleep(operation.ms);
    if (operation.op !== 'call') throw new KernelUsageError(`AWAIT: unknown operation ${JSON.stringify(operation)}`, 'ERR_BAD_OPERATION');
    const target = this.resolve(operation.target);
    const method = (target as Record<string, unknown>)[operation.method];
    if (typeof method !== 'function') {
      throw new KernelUsageError(`AWAIT: ${target.constructor.name} has no method '${operation.method}'`, 'ERR_BAD_OPERATION');
    }
    const result: unknown = await (method as (...args: unknown[]) => unknown).apply(target, operation.args as unknown[]);
    // acquire() resolves with the lock itself; the thread already holds a reference to it.
    return result === target ? undefined : result;
  }

  private resolve(target: unknown): object {
    if (target instanceof UniversalQueue || target instanceof UniversalEvent) return target;
    if (isKernelRef(target)) return this.refs.get(target);
    throw new KernelUsageError('AWAIT: operation target is not a kernel object known to this thread', 'ERR_BAD_OPERATION');
  }

  /** The helper task's id. */
  get id(): number {
    return this.task.id;
  }

  /** `ASYNC_THREAD` while the thread runs its own code; the operation's state during an AWAIT. */
  get state(): TaskState {
    return this.task.state;
  }

  /** Whether the thread has ended. */
  get terminated(): boolean {
    return this.task.terminated;
  }

  /** Whether a cancellation was requested. */
  get cancelled(): boolean {
    return this.task.cancelled;
  }

  /** The thread's return value (throws its error; throws if it has not ended). */
  get result(): R {
    return this.task.result;
  }

  /** The thread's error, or undefined. */
  get exception(): unknown {
    return this.task.exception;
  }

  /**
   * Wait for the thread to end and return its return value. If it threw, a TaskError whose
   * `cause` is the thread's error (a WorkerError with the thread's stack, or the
   * CancelledError it let escape).
   */
  join(): Promise<R> {
    return this.task.join();
  }

  /** Wait for the thread to end. */
  wait(): Promise<void> {
    return this.task.wait();
  }

  /**
   * Cancel the thread: the CancelledError is raised in it at its current or next AWAIT. By
   * default waits until the thread has ended (which needs the thread to AWAIT again, or to
   * return).
   */
  cancel(options?: CancelOptions): Promise<void> {
    return this.task.cancel(options);
  }

  /**
   * Stop the thread by force (worker.terminate()): it ends without running any more of its
   * code; `join()` then fails with WorkerExited. Resolves when the thread is gone.
   */
  async terminate(): Promise<void> {
    if (this.exitCode === null) this.terminating = true;
    await this.worker.terminate();
  }
}

function receiveFromPort(port: MessagePort): ThreadMessage | undefined {
  return (receiveMessageOnPort(port) as { message: ThreadMessage } | undefined)?.message;
}

/**
 * Start an async thread running `fn(...args)` (sync or async code) in a new worker thread,
 * with a helper task in the calling kernel that performs its {@link AWAIT}s. Kernel objects
 * among the arguments (Lock, Event, Queue, Semaphore, Result...) reach the thread as
 * {@link KernelRef}s; UniversalQueue and UniversalEvent arguments are linked. Must be called
 * from a kernel task; returns at once.
 */
export function spawnThread<A extends readonly unknown[], R>(fn: WorkerFunction<A, R>, ...args: ThreadArgs<A>): AsyncThread<R> {
  return new AsyncThread<R>(fn as WorkerFunction, args);
}
