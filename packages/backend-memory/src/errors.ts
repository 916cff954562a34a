// errors.ts
//
// The memory runtime's own error: misuse of its API (a negative time, a fault plan that makes
// no sense, two reads at once on one stream). What happens on the simulated network (a refused
// connect, a reset, a write after close) is not misuse: it is reported exactly as the socket
// runtimes report it, with @curio-ts/client's ConnectionError and an errno-like code
// (ECONNREFUSED, ECONNRESET, EPIPE, EADDRINUSE), so the code under test cannot tell the
// difference.

/** Base (and only) error class of @curio-ts/backend-memory: the API was used wrongly. */
export class MemoryRuntimeError extends Error {
  /** Stable identifier: ERR_BAD_OPTION, ERR_CONCURRENT_ACCEPT... */
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** Throw ERR_BAD_OPTION unless `value` is a finite number ≥ `min` (an integer when asked). */
export function checkNumber(name: string, value: number, min: number, integer = false): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new MemoryRuntimeError(`${name} must be a${integer ? 'n integer' : ' finite number'} ≥ ${min}, not ${String(value)}`, 'ERR_BAD_OPTION');
  }
}
