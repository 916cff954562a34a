// threads/errors.ts
//
// Errors of worker threads, child processes and async threads, and how errors travel between
// threads as plain data.
//
// An error thrown in another thread cannot cross as itself: structured cloning keeps neither
// its class nor its extra fields reliably, and IPC to a child process keeps even less. It is
// flattened into `ErrorData` (name, message, stack, code) where it was thrown and rebuilt on
// the other side: kernel cancellations become the kernel's own cancellation classes again (so
// an async thread can `catch (e) { if (e instanceof CancelledError) ... }`); anything else
// becomes a `RemoteError` that carries the original name, message and stack, and is given as
// the `cause` of a typed kernel error.

import {
  CancelledError,
  CurioError,
  KernelUsageError,
  TaskCancelled,
  TaskTimeout,
  TimeoutCancellationError,
} from '../errors.js';

/** An error as plain data, fit for postMessage and IPC. */
export interface ErrorData {
  readonly name: string;
  readonly message: string;
  readonly stack: string;
  readonly code?: string;
  /** Kernel clock of a timeout error. */
  readonly clock?: number;
}

/**
 * An error thrown in a worker thread or child process, rebuilt in the calling thread: same
 * `name`, `message` and `stack` (the stack is the worker's), and `code` if it had one.
 */
export class RemoteError extends Error {
  /** The original error's `code` property, if it had a string one. */
  readonly code: string | undefined;
  constructor(data: ErrorData) {
    super(data.message);
    this.name = data.name;
    this.code = data.code;
    this.stack = data.stack;
  }
}

/**
 * Work given to a worker thread or child process failed. `code` says how:
 * - `ERR_WORKER_FAILED`: the worker function threw; `cause` is a {@link RemoteError} with the
 *   worker's error name, message and stack.
 * - `ERR_WORKER_LOAD`: the module could not be loaded or has no such function.
 * - `ERR_WORKER_DATA_CLONE`: an argument or the result cannot be copied between threads
 *   (functions, class instances with private state, kernel objects given to `runInThread`...).
 * - `ERR_POOL_CLOSED`: the pool was closed before the work could start.
 */
export class WorkerError extends CurioError {
  constructor(message: string, options: { code: string; cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The worker thread or child process running the work died (`process.exit()` in a thread, a
 * crash, a signal) before answering. The pool replaces it.
 */
export class WorkerExited extends WorkerError {
  /** The exit code, or null if the process was killed by a signal. */
  readonly exitCode: number | null;
  /** The signal that killed the process, if any. */
  readonly signal: string | null;
  constructor(message: string, exitCode: number | null, signal: string | null, cause?: unknown) {
    super(message, { code: 'ERR_WORKER_EXITED', ...(cause === undefined ? {} : { cause }) });
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/**
 * A TypeScript module (`.ts`, `.mts`, `.cts`) was given to a worker, but the TypeScript loader
 * (the `tsx` package) is not installed where the kernel can import it. Install it
 * (`npm install --save-dev tsx`) or build the module to JavaScript first.
 */
export class TypeScriptLoaderMissing extends WorkerError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'ERR_TS_LOADER_MISSING', ...(cause === undefined ? {} : { cause }) });
  }
}

/**
 * A blocking call of a UniversalQueue or UniversalEvent (`getSync`, `putSync`, `waitSync`)
 * timed out, having taken or added nothing. Not a cancellation: worker threads have no kernel
 * to cancel them.
 */
export class UniversalTimeout extends WorkerError {
  constructor(message: string) {
    super(message, { code: 'ERR_UNIVERSAL_TIMEOUT' });
  }
}

/** The message worker code gives when tsx cannot be imported. */
export const TS_LOADER_MISSING_MESSAGE =
  "worker module is TypeScript but the 'tsx' package is not installed: run `npm install --save-dev tsx` " +
  '(or build the module to .js and pass the .js URL)';

/** Flatten any thrown value into {@link ErrorData}. */
export function errorToData(error: unknown): ErrorData {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const clock = (error as { clock?: unknown }).clock;
    return {
      name: error.name,
      message: error.message,
      stack: error.stack ?? `${error.name}: ${error.message}`,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof clock === 'number' ? { clock } : {}),
    };
  }
  let message: string;
  try {
    message = String(error);
  } catch {
    message = Object.prototype.toString.call(error);
  }
  return { name: 'Error', message: `non-Error value thrown: ${message}`, stack: '' };
}

/**
 * Rebuild an error received from another thread: the kernel's cancellation and usage errors
 * become their own classes (with the remote stack); anything else a {@link RemoteError}.
 */
export function errorFromData(data: ErrorData): Error {
  let error: Error;
  switch (data.code) {
    case 'ERR_TASK_CANCELLED':
      error = new TaskCancelled(data.message);
      break;
    case 'ERR_TASK_TIMEOUT':
      error = new TaskTimeout(data.clock ?? 0, data.message);
      break;
    case 'ERR_TIMEOUT_CANCELLATION':
      error = new TimeoutCancellationError(data.clock ?? 0, data.message);
      break;
    case 'ERR_CANCELLED':
      error = new CancelledError(data.message);
      break;
    case 'ERR_UNIVERSAL_TIMEOUT':
      error = new UniversalTimeout(data.message);
      break;
    case 'ERR_WORKER_DATA_CLONE':
    case 'ERR_QUEUE_OWNER_GONE':
      error = new WorkerError(data.message, { code: data.code });
      break;
    default:
      if (data.name === 'KernelUsageError' && data.code !== undefined) {
        error = new KernelUsageError(data.message, data.code);
        break;
      }
      return new RemoteError(data);
  }
  error.stack = data.stack;
  return error;
}

/** The typed error for a worker function that threw (or could not be loaded). */
export function workerFailure(data: ErrorData, what: string): WorkerError {
  const cause = errorFromData(data);
  switch (data.code) {
    case 'ERR_TS_LOADER_MISSING':
      return new TypeScriptLoaderMissing(`${what}: ${data.message}`, cause);
    case 'ERR_WORKER_LOAD':
    case 'ERR_WORKER_DATA_CLONE':
      return new WorkerError(`${what}: ${data.message}`, { code: data.code, cause });
    default:
      return new WorkerError(`${what} failed: ${data.name}: ${data.message}`, { code: 'ERR_WORKER_FAILED', cause });
  }
}
