// cancellation.ts
//
// Cancellation control and interop with ordinary Promise code.
//
// Cancellation is delivered only at blocking traps. `disableCancellation` shields a region:
// blocking still works inside it, and a cancellation requested meanwhile stays pending until
// the first blocking trap after the region (leaving the region is not itself a delivery
// point). A raw `await` of a foreign Promise cannot be interrupted by anything in JavaScript;
// `awaitPromise` is the cancellable form, and `abortSignal` tells foreign APIs that take an
// AbortSignal when the task is cancelled.

import { CancelledError } from './errors.js';
import { fireAbort } from './kernel.js';
import { kernelTrap } from './traps.js';
import type { ExternalWake } from './traps.js';
import type { TaskState } from './task.js';

/**
 * Run `fn` with cancellation delivery disabled for the calling task. Blocking calls inside work
 * normally; a cancellation or timeout that arrives meanwhile is delivered at the first blocking
 * call after `fn` ends.
 *
 * As in Curio, if `fn` itself throws a CancelledError (explicitly: the kernel never delivers one
 * inside the region) while the enclosing code is also shielded, the error does not propagate:
 * it becomes the task's pending cancellation, and this resolves with `undefined`.
 */
export async function disableCancellation<T>(fn: () => T | PromiseLike<T>): Promise<T> {
  const task = kernelTrap({ trap: 'current' });
  const previous = task._allowCancel;
  task._allowCancel = false;
  try {
    return await fn();
  } catch (error) {
    if (error instanceof CancelledError && !previous) {
      task._cancelPending = error;
      return undefined as T;
    }
    throw error;
  } finally {
    task._allowCancel = previous;
  }
}

/**
 * Look at the calling task's pending cancellation. Inside a {@link disableCancellation} region
 * it is returned (or null) and stays pending; outside one, a pending cancellation is thrown
 * (and so delivered) here.
 */
export function checkCancellation(): CancelledError | null {
  const task = kernelTrap({ trap: 'current' });
  const pending = task._cancelPending;
  if (pending !== null && task._allowCancel) {
    task._cancelPending = null;
    fireAbort(task, pending);
    throw pending;
  }
  return pending;
}

/** Replace the calling task's pending cancellation (null clears it); returns the old one. */
export function setCancellation(error: CancelledError | null): CancelledError | null {
  if (error !== null && !(error instanceof CancelledError)) {
    throw new TypeError('setCancellation: expected a CancelledError or null');
  }
  const task = kernelTrap({ trap: 'current' });
  const previous = task._cancelPending;
  task._cancelPending = error;
  return previous;
}

/**
 * Await a foreign Promise in a way the kernel can interrupt: a cancellation or timeout is
 * delivered at once and the Promise is abandoned (its outcome is ignored). Resolves or rejects
 * as the Promise does.
 */
export function awaitPromise<T>(promise: PromiseLike<T> | T): Promise<T> {
  if (promise === null || (typeof promise !== 'object' && typeof promise !== 'function') ||
      typeof (promise as PromiseLike<T>).then !== 'function') {
    return Promise.resolve(promise as T);
  }
  return kernelTrap({ trap: 'promiseWait', promise: promise as PromiseLike<T> }) as Promise<T>;
}

/**
 * An AbortSignal that fires when the calling task's cancellation (or timeout) is delivered,
 * or requested while the task sits in a raw await of a foreign Promise. Pass it to APIs that
 * accept one (`fetch`, `fs/promises`, `events.once`...). Its `reason` is the kernel's
 * CancelledError. After a cancellation has been delivered and handled, call it again for a
 * fresh signal.
 */
export function abortSignal(): AbortSignal {
  const task = kernelTrap({ trap: 'current' });
  const pending = task._cancelPending;
  if (pending !== null && task._allowCancel) return AbortSignal.abort(pending);
  task._abort ??= new AbortController();
  return task._abort.signal;
}

/**
 * Block the calling task on something outside the kernel: `start` registers interest and gets
 * a `wake` to call once (from any callback); it returns a function that unregisters, called if
 * the task is cancelled or times out first. The building block for IO and thread waits.
 */
export function waitExternal<T>(state: TaskState, start: (wake: ExternalWake) => () => void): Promise<T> {
  return kernelTrap({ trap: 'externalWait', state, start }) as Promise<T>;
}
