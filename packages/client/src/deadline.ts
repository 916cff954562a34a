// deadline.ts
//
// One lazy timer per connection, for every protocol's timeouts: a keep-alive connection moves
// its deadline (headers, body, idle) many times per second, and starting and cancelling a
// runtime timer each time would cost more than the request. Used by the HTTP server and the
// HTTP client.
//
// Invariants:
// - `set` moves the deadline; a timer is started only when none is pending early enough.
// - `clear` disarms it (a pending timer then finds nothing to do); `stop` also cancels the
//   timer (the owner is gone).
// - The target's `expire()` runs at most once per `set`, from the runtime's timer callback.
// - The timer does not keep the process alive (Runtime.timer's `unref`): while a connection
//   is in use its socket does, and one that is idle (a pooled client connection, its socket
//   unref'd) must not.

import type { Runtime } from './runtime.js';

const UNREF = { unref: true } as const;

/** What a Deadline does when it passes. */
export interface Expirable {
  expire(): void;
}

/** A deadline on the runtime's clock with one lazy timer (see the file header). */
export class Deadline {
  private at = Infinity;
  private timerAt = Infinity;
  private cancel: (() => void) | null = null;
  private target: Expirable | null = null;

  constructor(private readonly runtime: Runtime) {}

  /** `target.expire()` once `ms` from now (unless moved or cleared); no deadline for ms ≤ 0 or Infinity. */
  set(ms: number, target: Expirable): void {
    if (!(ms > 0 && ms < Infinity)) {
      this.clear();
      return;
    }
    this.at = this.runtime.now() + ms;
    this.target = target;
    if (this.cancel !== null && this.at < this.timerAt) {
      this.cancel();
      this.cancel = null;
    }
    if (this.cancel === null) this.start(ms);
  }

  /** No deadline (a pending timer will find none). */
  clear(): void {
    this.at = Infinity;
    this.target = null;
  }

  /** No deadline, and the pending timer cancelled. */
  stop(): void {
    this.clear();
    this.cancel?.();
    this.cancel = null;
  }

  private start(ms: number): void {
    this.timerAt = this.runtime.now() + ms;
    this.cancel = this.runtime.timer(
      ms,
      () => {
        this.cancel = null;
        if (this.at === Infinity) return;
        const left = this.at - this.runtime.now();
        if (left >= 1) {
          this.start(left);
          return;
        }
        const target = this.target;
        this.clear();
        target?.expire();
      },
      UNREF,
    );
  }
}
