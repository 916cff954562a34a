// time.ts
//
// Time: the kernel clock, sleeping, and timeout blocks (Curio's time.py).
//
// Discussion: nested timeouts. Each task keeps a stack of the deadlines of the timeout blocks
// it is inside (`_deadlines`) and the kernel keeps one armed deadline per task, the earliest.
// When it expires the task gets a TaskTimeout carrying the clock value. Each block, on the way
// out, compares that clock value with the stack:
//
// 1. If this block is the outermost one whose deadline has passed, the timeout is its own: it
//    throws TaskTimeout (or returns `timeoutResult` for ignoreAfter).
// 2. If an outer block's deadline has passed too, the inner block is being cancelled because of
//    time running out elsewhere: it throws TimeoutCancellationError, which the outer block turns
//    back into its TaskTimeout.
// 3. If no deadline on the stack has passed, a timeout escaped the block it belonged to: that is
//    a programming error, reported as UncaughtTimeoutError.

import { TaskTimeout, TimeoutCancellationError, UncaughtTimeoutError } from './errors.js';
import { adoptAbort } from './kernel.js';
import { kernelTrap } from './traps.js';

/** Validate a duration: NaN is a TypeError, negative counts as 0. */
export function checkDuration(ms: number, what: string): number {
  if (typeof ms !== 'number' || Number.isNaN(ms)) {
    throw new TypeError(`${what}: duration must be a number of milliseconds, got ${String(ms)}`);
  }
  return ms < 0 ? 0 : ms;
}

/** The kernel clock in milliseconds: monotonic; a virtual clock starts at 0. */
export function clock(): number {
  return kernelTrap({ trap: 'clock' });
}

/**
 * Sleep for `ms` milliseconds; resolves with the kernel clock on waking. `sleep(0)` lets every
 * other ready task run first, and like every blocking call it is a cancellation point (it
 * resolves with the clock as of the current scheduling slice, at most ~2 ms old).
 */
export function sleep(ms: number): Promise<number> {
  try {
    return kernelTrap({ trap: 'sleep', ms: checkDuration(ms, 'sleep') });
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Yield to the other ready tasks (`sleep(0)`). */
export async function schedule(): Promise<void> {
  await kernelTrap({ trap: 'sleep', ms: 0 });
}

/** Options of {@link ignoreAfter} and {@link ignoreAt}. */
export interface IgnoreOptions<R> {
  /** What to return when the deadline expires (default `undefined`). */
  timeoutResult?: R;
}

/**
 * Run `fn` with a deadline `ms` from now. If it expires, the operation blocked inside `fn` is
 * cancelled and this throws {@link TaskTimeout}.
 */
export async function timeoutAfter<T>(ms: number, fn: () => T | PromiseLike<T>): Promise<T> {
  const duration = checkDuration(ms, 'timeoutAfter');
  return timeoutBlock(clock() + duration, fn, false, undefined) as Promise<T>;
}

/** Like {@link timeoutAfter} with an absolute deadline on {@link clock}. */
export async function timeoutAt<T>(deadline: number, fn: () => T | PromiseLike<T>): Promise<T> {
  return timeoutBlock(checkDeadline(deadline, 'timeoutAt'), fn, false, undefined) as Promise<T>;
}

/**
 * Run `fn` with a deadline `ms` from now. If it expires, the operation blocked inside `fn` is
 * cancelled and this returns `options.timeoutResult` (default `undefined`) instead of throwing.
 */
export async function ignoreAfter<T, R = undefined>(
  ms: number,
  fn: () => T | PromiseLike<T>,
  options?: IgnoreOptions<R>,
): Promise<T | R> {
  const duration = checkDuration(ms, 'ignoreAfter');
  return timeoutBlock(clock() + duration, fn, true, options?.timeoutResult) as Promise<T | R>;
}

/** Like {@link ignoreAfter} with an absolute deadline on {@link clock}. */
export async function ignoreAt<T, R = undefined>(
  deadline: number,
  fn: () => T | PromiseLike<T>,
  options?: IgnoreOptions<R>,
): Promise<T | R> {
  return timeoutBlock(checkDeadline(deadline, 'ignoreAt'), fn, true, options?.timeoutResult) as Promise<T | R>;
}

function checkDeadline(deadline: number, what: string): number {
  if (typeof deadline !== 'number' || Number.isNaN(deadline)) {
    throw new TypeError(`${what}: deadline must be a clock value in milliseconds, got ${String(deadline)}`);
  }
  return deadline;
}

async function timeoutBlock(
  deadline: number,
  fn: () => unknown,
  ignore: boolean,
  timeoutResult: unknown,
): Promise<unknown> {
  const task = kernelTrap({ trap: 'current' });
  const deadlines = (task._deadlines ??= []);
  const opMarks = (task._deadlineOps ??= []);
  deadlines.push(deadline);
  // Operations the task starts from here on belong to this block (operation.ts).
  opMarks.push(task._ops?.seq ?? 0);
  let prior: number | null;
  try {
    prior = kernelTrap({ trap: 'setTimeout', deadline });
  } catch (error) {
    deadlines.pop();
    opMarks.pop();
    throw error;
  }
  let value: unknown;
  let error: unknown;
  let failed = false;
  try {
    value = await fn();
  } catch (caught) {
    failed = true;
    error = adoptAbort(task, caught);
  }
  const now = kernelTrap({ trap: 'unsetTimeout', previous: prior });
  try {
    if (failed && (error instanceof TaskTimeout || error instanceof TimeoutCancellationError)) {
      const timeoutClock = error.clock;
      // The outermost block whose deadline has passed owns the timeout.
      let owner = -1;
      for (let i = 0; i < deadlines.length; i++) {
        const d = deadlines[i];
        if (d !== undefined && d !== null && d <= timeoutClock) {
          owner = i;
          break;
        }
      }
      if (owner === -1) throw new UncaughtTimeoutError('uncaught timeout received', { cause: error });
      if (owner < deadlines.length - 1) {
        if (error instanceof TaskTimeout) throw new TimeoutCancellationError(timeoutClock);
        throw error;
      }
      if (ignore) return timeoutResult;
      if (error instanceof TimeoutCancellationError) throw new TaskTimeout(timeoutClock);
      throw error;
    }
    if (!failed && now > deadline && task._kernel.debug) {
      task._kernel.report(undefined, {
        reason: 'timeout-overrun',
        message:
          `task ${task.id} (${task.name}): operation completed, but ${(now - deadline).toFixed(1)} ms ` +
          `after its deadline (it never blocked, so the timeout could not be delivered)`,
        task,
      });
    }
  } finally {
    deadlines.pop();
    opMarks.pop();
  }
  if (failed) throw error;
  return value;
}
