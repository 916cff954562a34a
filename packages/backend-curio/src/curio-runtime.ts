// curio-runtime.ts
//
// The curio runtime: the Runtime interface over the kernel. Connections are kernel sockets
// (CurioByteStream, CurioListener); every client call is a kernel operation: the caller
// gets a plain Promise (faithful in every use), owned by the task that made the call, so a
// task awaiting a Redis reply is resumed in its own scheduler turn and is interrupted at once
// by task.cancel() or timeoutAfter(), exactly like a task blocked on a kernel Queue (see the
// kernel's operation.ts). Background loops (the reader of each connection, reconnection) are
// daemon kernel tasks, visible in the monitor.
//
// Invariants:
// - A wait whose waiter answers "not yet" to `cancel()` keeps its task waiting until the
//   waiter settles it, then delivers the cancellation (the kernel's TaskOperation does it).
// - `spawn` makes a daemon task; `cancel()` aborts its signal (none with `signal: false`) and
//   cancels the task at its current await (or its next one), whatever `fn` awaits; `done`
//   settles once `fn` returned.
// - Time is the kernel's: `now()` is the kernel clock, `timer` a Kernel.callLater and `sleep`
//   a kernel sleep, so under a virtual clock a call's timeout expires when the clock jumps,
//   not after real time. The kernel is the one given in the options, else the one of the
//   first task that uses the runtime (and of the next task using it once that kernel has shut
//   down); before that (plain code, no kernel yet) time is real.
// - A timer's callback runs from the kernel's scheduler, outside any task: what the engine
//   runs there (failing a call, closing a stream, starting a reconnection) is safe there.

import { performance } from 'node:perf_hooks';
import { NEVER_ABORTED, rejectedWith } from '@curio-ts/client';
import type { Background, CallClass, ConnectTarget, EngineCall, Runtime, SpawnOptions, Waiter } from '@curio-ts/client';
import { KernelClosedError, openConnection, openUnixConnection, sleep, spawn } from '@curio-ts/kernel';
import type { CancelledError, Kernel, Socket, Task, TaskState } from '@curio-ts/kernel';
import {
  OwnedOperation,
  TaskOperation,
  abortOperation,
  atBurstEnd,
  atTaskExit,
  beginOperation,
  currentTaskOrNull,
  operationFulfilled,
  settleOperation,
} from '@curio-ts/kernel/lowlevel';
import type { OperationSlots, TaskOperationLink } from '@curio-ts/kernel/lowlevel';
import { runAside } from './aside.js';
import { listenCurio } from './curio-listener.js';
import type { CurioListener } from './curio-listener.js';
import { CurioByteStream, toConnectionError } from './curio-stream.js';
import { clientTls, sniName } from './curio-tls.js';

/** Open a kernel connection to `target` (a kernel trap: call it from a task). */
export async function connectCurio(target: ConnectTarget, timeout: number | undefined): Promise<CurioByteStream> {
  try {
    const options = timeout === undefined ? {} : { timeout };
    let socket: Socket;
    if ('path' in target) socket = await openUnixConnection(target.path, options);
    else if (target.tls !== undefined) {
      socket = await openConnection(target.host, target.port, { ...options, tls: clientTls(target.tls, target.host), ...sniName(target.tls.serverName, target.host) });
    } else socket = await openConnection(target.host, target.port, options);
    return new CurioByteStream(socket, 'path' in target ? {} : { host: target.host });
  } catch (error) {
    throw toConnectionError(error);
  }
}

/** Options of {@link curioRuntime}. */
export interface CurioRuntimeOptions {
  /** The kernel whose clock and tasks the runtime uses (default: that of the first task using it). */
  readonly kernel?: Kernel;
}

const ignore = (): void => {};
const closeStream = (stream: CurioByteStream): void => stream.close();
const closeListener = (listener: CurioListener): void => listener.close();

/**
 * A background activity (a daemon task): one object holding what the closures of a spawn held,
 * an AbortController only for a function that uses its signal (see SpawnOptions), and no async
 * wrapper: `done` settles from the task's exit (atTaskExit), so a running activity holds no
 * suspended function of its own.
 */
class CurioActivity implements Background {
  readonly done: Promise<void>;
  /** Settles `done`. */
  finished: () => void = ignore;
  task: Task | null = null;
  private cancelled = false;
  private readonly controller: AbortController | null;
  /** The function, until it starts. */
  private fn: ((signal: AbortSignal) => Promise<void>) | null;

  constructor(fn: (signal: AbortSignal) => Promise<void>, withSignal: boolean) {
    this.fn = fn;
    this.controller = withSignal ? new AbortController() : null;
    this.done = new Promise<void>((resolve) => {
      this.finished = resolve;
    });
  }

  /** The task's body: `fn`, unless cancelled before it started. */
  run(): Promise<void> | undefined {
    const fn = this.fn;
    this.fn = null;
    if (this.cancelled || fn === null) return undefined;
    return fn(this.controller === null ? NEVER_ABORTED : this.controller.signal);
  }

  /** Spawn the task (from a task): `done` settles when it exits. */
  spawnTask(name: string): Task {
    const task = spawn(() => this.run(), { name, daemon: true });
    this.task = task;
    atTaskExit(task, this.finished);
    return task;
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort();
    void this.task?.cancel({ blocking: false });
  }
}

type OperationKind = new (waiter: Waiter<unknown>) => OwnedOperation<unknown>;

/**
 * The operation class of each wait state: a call's operation then holds no name of its own (one
 * field less in each of the calls in flight, see the kernel's operation.ts "Discussion: size").
 * The engine's states are a few constants; past KINDS_LIMIT, a wait makes a TaskOperation.
 */
const operationKinds = new Map<string, OperationKind>();

/** The operation call class made of each call class (Runtime.callClass), with its state. */
const callClasses = new WeakMap<CallClass, { readonly state: string; readonly made: CallClass }>();

// One shared executor instead of a closure per call; the reject function is not kept (an
// error settles the call's Promise through a rejected one: see the client's rejectedWith).
let capturedResolve: (value: unknown) => void = ignore;
function captureResolve(resolve: (value: never) => void): void {
  capturedResolve = resolve as (value: unknown) => void;
}
const KINDS_LIMIT = 64;

function operationKind(state: string): OperationKind | undefined {
  let kind = operationKinds.get(state);
  if (kind === undefined && operationKinds.size < KINDS_LIMIT) {
    kind = class extends OwnedOperation<unknown> {
      get state(): string {
        return state;
      }
    };
    operationKinds.set(state, kind);
  }
  return kind;
}

/** What the engine's call classes are, for the mixin below (a mixin's base must take `any[]`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type MixinBase = new (...args: any[]) => EngineCall;

/** A call of a class made by {@link operationCallClass}: its own kernel operation. */
interface OperationCall extends OperationSlots {
  /** The call's wait begins (see EngineCall.startOwn). */
  startOwn(resolve: (value: unknown) => void): void;
}

/**
 * The curio subclass of a call class (Runtime.callClass): each call is its own kernel
 * operation, owned by the task that made it, instead of a call plus a TaskOperation (one object
 * of about 90 bytes less per call in flight, and no hop through a Wake per reply). The call is
 * the operation's canceller (its `cancel`, as a Waiter's); its outcome goes to the kernel
 * (`settleOperation`, delivered at once or in its task's turn), which then settles the Promise
 * with the resolve function the call keeps (EngineCall's TO_OWN).
 */
function operationCallClass<K extends CallClass>(base: K, state: TaskState): K {
  const Base = base as unknown as MixinBase;
  class OperationCallOf extends Base implements OperationCall {
    /** @internal */ _owner: Task | null = null;
    /** @internal */ _prev: TaskOperationLink | null = null;
    /** @internal */ _next: TaskOperationLink | null = null;
    /** @internal */ _seq = 0;
    /** @internal */ _outcome: unknown = null;

    get _waitState(): TaskState {
      return state;
    }

    protected override deliverOwn(ok: boolean, value: unknown): void {
      settleOperation(this, ok, value);
    }

    _deliver(): void {
      const value = this._outcome;
      this._outcome = null;
      const resolve = this.target as (value: unknown) => void;
      this.clearTarget();
      resolve(operationFulfilled(this) ? value : rejectedWith(value));
      this.recycleDelivered();
    }

    /** Recycled (the client's "Discussion: recycling"): a pending operation again, with no start number. */
    protected override released(): void {
      this._seq = 0;
      super.released();
    }

    _cancelOperation(): boolean | void {
      return this.cancel();
    }

    _abort(error: CancelledError): boolean {
      return abortOperation(this, error);
    }
  }
  return OperationCallOf as unknown as K;
}

/** Whether `waiter` is a call of a class made by {@link operationCallClass}. */
function isOperationCall(waiter: object): waiter is OperationCall {
  return (waiter as Partial<OperationCall>)._cancelOperation !== undefined;
}

/**
 * Make a curio Runtime. Use it from kernel tasks: connecting and listening are kernel traps.
 * Background work and timers started from outside any task (a write failure noticed at a
 * flush, a timeout firing) go to the runtime's kernel.
 */
export function curioRuntime(options: CurioRuntimeOptions = {}): Runtime {
  let kernel: Kernel | null = options.kernel ?? null;
  /**
   * The runtime's kernel: given, or learnt from the first task that uses the runtime, and learnt
   * again once that kernel has shut down (a test suite runs one kernel per test).
   */
  const kernelNow = (): Kernel | null => {
    if (kernel === null || kernel.isClosed) kernel = currentTaskOrNull()?.kernel ?? kernel;
    return kernel;
  };

  const spawnTask = (fn: (signal: AbortSignal) => Promise<void>, name: string, spawnOptions?: SpawnOptions): Background => {
    const activity = new CurioActivity(fn, spawnOptions?.signal ?? true);
    if (currentTaskOrNull() !== null) {
      kernelNow();
      activity.spawnTask(name);
      return activity;
    }
    const owner = kernelNow();
    if (owner === null) {
      // No kernel to run it in yet: a plain async call (its signal still stops it).
      let running: Promise<void>;
      try {
        running = Promise.resolve(activity.run());
      } catch (error) {
        running = Promise.reject(error);
      }
      running.then(activity.finished, (error: unknown) => {
        activity.finished();
        void Promise.reject(error);
      });
      return activity;
    }
    // From outside any task (a timer, an IO callback): a top-level task of the runtime's kernel.
    // The starter only waits: the work is a daemon task, whose error the kernel reports.
    owner.runTask(() => activity.spawnTask(name).wait(), { name: `${name} (starter)` }).then(ignore, activity.finished);
    return activity;
  };

  return {
    name: 'curio',
    connect(target, connectOptions) {
      kernelNow();
      const timeout = connectOptions?.timeout;
      // In a task of its own (aside.ts): the caller may open several at once.
      return runAside(`connect ${'path' in target ? target.path : `${target.host}:${target.port}`}`, () => connectCurio(target, timeout), closeStream);
    },
    listen(target, listenOptions) {
      kernelNow();
      const backlog = listenOptions?.backlog;
      return runAside('listen', () => listenCurio(target, backlog), closeListener);
    },
    wait<T>(state: string, waiter: Waiter<T>): Promise<T> {
      if (isOperationCall(waiter)) {
        const promise = new Promise<T>(captureResolve);
        const resolve = capturedResolve;
        beginOperation(waiter, promise);
        waiter.startOwn(resolve);
        return promise;
      }
      const kind = operationKind(state);
      const operation = kind === undefined ? new TaskOperation<T>(state, waiter) : (new kind(waiter as Waiter<unknown>) as OwnedOperation<T>);
      // Read before the wait begins: a call settled already settles the operation in `start`.
      const promise = operation.promise;
      waiter.start(operation);
      return promise;
    },
    callClass<K extends CallClass>(base: K, state: string): K {
      let made = callClasses.get(base);
      if (made === undefined || made.state !== state) {
        made = { state, made: operationCallClass(base, state as TaskState) };
        callClasses.set(base, made);
      }
      return made.made as K;
    },
    spawn: spawnTask,
    sleep(ms) {
      if (currentTaskOrNull() !== null) return sleep(ms).then(ignore);
      return new Promise<void>((resolve) => {
        startTimer(kernelNow(), ms, resolve);
      });
    },
    defer: (fn) => atBurstEnd(fn),
    now() {
      const k = kernelNow();
      return k === null ? performance.now() : k.clock();
    },
    timer: (ms, fn, timerOptions) => startTimer(kernelNow(), ms, fn, timerOptions?.unref === true),
  };
}

/**
 * A one-shot timer on `kernel`'s clock (real time without a kernel, or once it has shut down;
 * then `unref`: it alone does not keep the process alive).
 */
function startTimer(kernel: Kernel | null, ms: number, fn: () => void, unref = false): () => void {
  if (kernel !== null) {
    try {
      const call = kernel.callLater(ms, fn);
      // A bound method, not a closure: no context object held with each armed timer.
      return call.cancel.bind(call);
    } catch (error) {
      if (!(error instanceof KernelClosedError)) throw error;
    }
  }
  const handle = setTimeout(fn, ms);
  if (unref) handle.unref();
  return () => clearTimeout(handle);
}
