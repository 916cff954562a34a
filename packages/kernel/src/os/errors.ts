// os/errors.ts
//
// Errors of the operating-system layer: files (`aopen`), pipes, subprocesses and signals.
//
// - `OSError` wraps an error the operating system reported (ENOENT, EACCES, EPIPE...). Its
//   `code` is the system's own code, unchanged, so `error.code === 'ENOENT'` works as it does
//   with Node's fs errors; the original Node error is the `cause`.
// - The other classes are misuse or outcome errors with stable `ERR_...` codes.
// All are CurioErrors, so none of them is mistaken for a cancellation.

import { CurioError } from '../errors.js';

/** What Node attaches to a system error. */
interface ErrnoLike {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  path?: unknown;
  message?: unknown;
}

/**
 * An error reported by the operating system. `code` is the system code (`'ENOENT'`, `'EACCES'`,
 * `'EISDIR'`, `'EPIPE'`...), `errno` Node's (negative) error number, `syscall` the failing call
 * and `path` the file involved, when known. `cause` is Node's original error.
 */
export class OSError extends CurioError {
  /** Node's error number (negative on POSIX), when known. */
  readonly errno: number | undefined;
  /** The system call that failed (`'open'`, `'read'`, `'spawn cat'`...), when known. */
  readonly syscall: string | undefined;
  /** The path involved, when known. */
  readonly path: string | undefined;

  constructor(
    message: string,
    options: { code: string; errno?: number; syscall?: string; path?: string; cause?: unknown },
  ) {
    super(message, { code: options.code, cause: options.cause });
    this.errno = options.errno;
    this.syscall = options.syscall;
    this.path = options.path;
  }

  /**
   * Wrap a Node system error (one with a string `code`) as an OSError; anything else (a
   * TypeError, a cancellation, an OSError already) is returned unchanged.
   */
  static from(error: unknown): unknown {
    if (error instanceof OSError || typeof error !== 'object' || error === null) return error;
    const errno = error as ErrnoLike;
    if (typeof errno.code !== 'string' || !/^E[A-Z0-9]+$/.test(errno.code)) return error;
    return new OSError(typeof errno.message === 'string' ? errno.message : errno.code, {
      code: errno.code,
      ...(typeof errno.errno === 'number' ? { errno: errno.errno } : {}),
      ...(typeof errno.syscall === 'string' ? { syscall: errno.syscall } : {}),
      ...(typeof errno.path === 'string' ? { path: errno.path } : {}),
      cause: error,
    });
  }
}

/** The operation is not supported by this object: reading a file opened for writing only,
 * seeking a pipe... (Python's io.UnsupportedOperation). Code `ERR_UNSUPPORTED_OPERATION`. */
export class UnsupportedOperation extends CurioError {
  constructor(message: string) {
    super(message, { code: 'ERR_UNSUPPORTED_OPERATION' });
  }
}

/** The file, pipe or signal queue was closed. Code `ERR_CLOSED_RESOURCE`. */
export class ClosedResourceError extends CurioError {
  constructor(message: string) {
    super(message, { code: 'ERR_CLOSED_RESOURCE' });
  }
}

/** Output captured from a child process: bytes, or text when an encoding was asked for. */
export type ProcessOutput = Uint8Array | string;

/** How a child process ended: what {@link CalledProcessError} and {@link TimeoutExpired} carry. */
interface ProcessOutcome {
  readonly args: readonly string[];
  readonly stdout: ProcessOutput | null;
  readonly stderr: ProcessOutput | null;
}

/**
 * A child process run with `check: true` (or by `subprocess.checkOutput`) exited with a
 * non-zero status or was killed by a signal. Code `ERR_CALLED_PROCESS`.
 */
export class CalledProcessError extends CurioError implements ProcessOutcome {
  /** The command that was run. */
  readonly args: readonly string[];
  /** The exit status, or minus the signal number if a signal ended the process (as Python). */
  readonly returncode: number;
  /** The signal that ended the process, or null if it exited. */
  readonly signal: NodeJS.Signals | null;
  /** Captured standard output (null if it was not captured). */
  readonly stdout: ProcessOutput | null;
  /** Captured standard error (null if it was not captured). */
  readonly stderr: ProcessOutput | null;

  constructor(outcome: ProcessOutcome & { returncode: number; signal: NodeJS.Signals | null }) {
    const how = outcome.signal !== null ? `died with ${outcome.signal}` : `returned non-zero exit status ${outcome.returncode}`;
    super(`command ${JSON.stringify(outcome.args)} ${how}`, { code: 'ERR_CALLED_PROCESS' });
    this.args = outcome.args;
    this.returncode = outcome.returncode;
    this.signal = outcome.signal;
    this.stdout = outcome.stdout;
    this.stderr = outcome.stderr;
  }
}

/**
 * `subprocess.run(..., { timeout })` ran out of time: the child was killed and reaped, and this
 * carries the output read before the deadline. Code `ERR_PROCESS_TIMEOUT`. The kernel's
 * `TaskTimeout` is its `cause`.
 */
export class TimeoutExpired extends CurioError implements ProcessOutcome {
  /** The command that was run. */
  readonly args: readonly string[];
  /** The time limit in milliseconds. */
  readonly timeout: number;
  /** Standard output read before the deadline (null if it was not captured). */
  readonly stdout: ProcessOutput | null;
  /** Standard error read before the deadline (null if it was not captured). */
  readonly stderr: ProcessOutput | null;

  constructor(outcome: ProcessOutcome & { timeout: number; cause: unknown }) {
    super(`command ${JSON.stringify(outcome.args)} timed out after ${outcome.timeout} ms`, {
      code: 'ERR_PROCESS_TIMEOUT',
      cause: outcome.cause,
    });
    this.args = outcome.args;
    this.timeout = outcome.timeout;
    this.stdout = outcome.stdout;
    this.stderr = outcome.stderr;
  }
}
