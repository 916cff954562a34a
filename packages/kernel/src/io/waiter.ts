// io/waiter.ts
//
// The one-waiter slot that IO objects use to block a task until a Node event arrives: a task
// calls `wait(state)` (an external wait, so it can be cancelled and timed out), and an event
// handler calls `wakeUp()` when something the waiter may care about happened. The waiter then
// re-checks its object's state; `wakeUp` carries no data, so a wake-up is never lost or misread.
//
// Invariants: at most one task waits at a time (`waiting` tells the caller to refuse a second:
// Curio's ResourceBusy); a cancelled wait unregisters itself, so a later `wakeUp` finds nobody.
// Waiting allocates nothing beyond the kernel's trap: the start function is shared, and the
// unregister function is created once per Waiter.

import type { EventEmitter } from 'node:events';
import { waitExternal } from '../cancellation.js';
import type { ExternalWake } from '../traps.js';
import type { TaskState } from '../task.js';

// The waiter being armed: set just before `waitExternal`, which calls the start function
// synchronously.
let arming: Waiter | null = null;

function startWait(wake: ExternalWake): () => void {
  const waiter = arming as Waiter;
  arming = null;
  waiter.wake = wake;
  return waiter.stop;
}

/** A slot for one task waiting on an IO object. @internal */
export class Waiter {
  /** The waiting task's wake, or null. */
  wake: ExternalWake | null = null;
  /** Unregisters the waiting task (called by the kernel on cancel or timeout). */
  readonly stop = (): void => {
    this.wake = null;
  };

  /** Whether a task waits here now. */
  get waiting(): boolean {
    return this.wake !== null;
  }

  /** Block the calling task in `state` until {@link wakeUp} (or cancellation, or a timeout). */
  wait(state: TaskState): Promise<void> {
    arming = this;
    return waitExternal<void>(state, startWait);
  }

  /** Wake the waiting task, if any. */
  wakeUp(): void {
    const wake = this.wake;
    if (wake !== null) {
      this.wake = null;
      wake.resolve(undefined);
    }
  }
}

/**
 * Block the calling task in `state` until `emitter` emits `event` (resolves) or 'error'
 * (rejects with it). `begin` runs once both listeners are in place (to call `listen()`, for
 * instance). Both listeners are removed when the wait ends, is cancelled or times out. Meant
 * for one-off waits (connecting, listening, binding): it allocates its listeners per call.
 */
export function waitEvent(emitter: EventEmitter, event: string, state: TaskState, begin?: () => void): Promise<void> {
  return waitExternal<void>(state, (wake: ExternalWake) => {
    const done = (): void => {
      stop();
      wake.resolve(undefined);
    };
    const failed = (error: Error): void => {
      stop();
      wake.reject(error);
    };
    const stop = (): void => {
      emitter.removeListener(event, done);
      emitter.removeListener('error', failed);
    };
    emitter.once(event, done);
    emitter.prependOnceListener('error', failed);
    begin?.();
    return stop;
  });
}
