// errors.ts
//
// The kernel's error classes. Two families, as in Curio:
//
// - `CurioError` is the base of every ordinary kernel error (a task crashed, a resource is busy,
//   the kernel was misused). A generic `catch (e) { if (e instanceof CurioError) ... }` handles
//   them.
// - `CancelledError` is NOT a CurioError. Cancellation and timeouts travel as errors thrown at an
//   await, and code that catches "library errors" must not swallow them by accident.
//
// Every class has a stable `code` string (as Node and undici do) so callers can switch on it
// without `instanceof` across package copies.

/** Base class of every non-cancellation kernel error. */
export class CurioError extends Error {
  /** Stable machine-readable identifier of the error kind. */
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code ?? 'ERR_CURIO';
  }
}

/**
 * Base class of cancellation. Thrown into a task at a blocking await when the task is cancelled
 * or a timeout expires. Deliberately not a {@link CurioError}.
 */
export class CancelledError extends Error {
  readonly code: string = 'ERR_CANCELLED';
  constructor(message = 'task cancelled') {
    super(message);
    this.name = new.target.name;
  }
}

/** Thrown into a task that was cancelled with `task.cancel()`. */
export class TaskCancelled extends CancelledError {
  override readonly code: string = 'ERR_TASK_CANCELLED';
}

/**
 * Thrown into a task whose own (innermost expired) deadline passed. `clock` is the kernel clock
 * value (ms) at which the timeout was detected.
 */
export class TaskTimeout extends CancelledError {
  override readonly code: string = 'ERR_TASK_TIMEOUT';
  readonly clock: number;
  constructor(clock: number, message = 'task timed out') {
    super(message);
    this.clock = clock;
  }
}

/**
 * Thrown inside an inner timeout block when an *outer* deadline expired: the inner block is
 * being cancelled because time ran out elsewhere, not because of its own deadline.
 */
export class TimeoutCancellationError extends CancelledError {
  override readonly code: string = 'ERR_TIMEOUT_CANCELLATION';
  readonly clock: number;
  constructor(clock: number, message = 'cancelled by an outer timeout') {
    super(message);
    this.clock = clock;
  }
}

/** A timeout error escaped the block it belonged to and reached an unrelated timeout block. */
export class UncaughtTimeoutError extends CurioError {
  constructor(message = 'uncaught timeout received', options?: { cause?: unknown }) {
    super(message, { ...options, code: 'ERR_UNCAUGHT_TIMEOUT' });
  }
}

/** `task.join()` of a task that failed. `cause` is the task's own error. */
export class TaskError extends CurioError {
  constructor(message: string, options: { cause: unknown }) {
    super(message, { ...options, code: 'ERR_TASK_CRASHED' });
  }
}

/** A resource (a socket direction, for instance) already has a task waiting on it. */
export class ResourceBusy extends CurioError {
  constructor(message: string, code = 'ERR_RESOURCE_BUSY') {
    super(message, { code });
  }
}

/** A second task tried to wait for reading on a resource that already has a reader waiting. */
export class ReadResourceBusy extends ResourceBusy {
  constructor(message: string) {
    super(message, 'ERR_READ_RESOURCE_BUSY');
  }
}

/** A second task tried to wait for writing on a resource that already has a writer waiting. */
export class WriteResourceBusy extends ResourceBusy {
  constructor(message: string) {
    super(message, 'ERR_WRITE_RESOURCE_BUSY');
  }
}

/**
 * The kernel was used in a way it cannot honour: a blocking kernel call made outside any
 * kernel task, a `run()` nested inside a running kernel, a released lock that was not held...
 */
export class KernelUsageError extends CurioError {
  constructor(message: string, code = 'ERR_KERNEL_USAGE') {
    super(message, { code });
  }
}

/**
 * Every task of a kernel is blocked on kernel objects only, no timer is pending and nothing
 * outside the kernel can wake them: the program can never make progress. `run()` rejects with
 * this instead of hanging or letting Node exit silently.
 */
export class DeadlockError extends CurioError {
  constructor(message: string) {
    super(message, { code: 'ERR_DEADLOCK' });
  }
}

/** A kernel that was shut down was asked to run more work. */
export class KernelClosedError extends CurioError {
  constructor(message = 'the kernel has been shut down') {
    super(message, { code: 'ERR_KERNEL_CLOSED' });
  }
}

/**
 * `SuppressedError` from the explicit resource management proposal. Node 20 lacks it, and
 * TypeScript's down-levelled `await using` needs it when a disposer throws while another error
 * is in flight. Installed on `globalThis` only when missing.
 */
export interface SuppressedErrorLike extends Error {
  readonly error: unknown;
  readonly suppressed: unknown;
}

class SuppressedErrorPolyfill extends Error implements SuppressedErrorLike {
  readonly error: unknown;
  readonly suppressed: unknown;
  constructor(error: unknown, suppressed: unknown, message = 'an error was suppressed during disposal') {
    super(message);
    this.name = 'SuppressedError';
    this.error = error;
    this.suppressed = suppressed;
  }
}

const globalWithSuppressed = globalThis as { SuppressedError?: unknown };
if (typeof globalWithSuppressed.SuppressedError !== 'function') {
  Object.defineProperty(globalThis, 'SuppressedError', {
    value: SuppressedErrorPolyfill,
    writable: true,
    configurable: true,
  });
}

/** The `SuppressedError` constructor: the platform's own, or the kernel's polyfill on Node 20. */
export const SuppressedError = globalWithSuppressed.SuppressedError as new (
  error: unknown,
  suppressed: unknown,
  message?: string,
) => SuppressedErrorLike;
