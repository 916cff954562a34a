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

/** What a {@link DeadlineSweep} checks: expire what has passed; true while deadlines remain. */
export interface Sweepable {
  sweep(now: number): boolean;
}

/**
 * Many deadlines, one timer: a server's connections keep a deadline each as a plain number
 * (`sweep.deadline(ms)`), and one runtime timer every `granularity` ms asks the owner to expire
 * those passed (it walks its connections). Nothing is started, moved or cancelled per request,
 * and an idle connection holds no timer (about 0.25 KiB each on Node).
 *
 * Invariants:
 * - A deadline is never early and at most two granularities late: it is counted from the clock
 *   read at the last tick (at most one granularity old), plus one granularity.
 * - The timer runs only while the owner says deadlines remain, or one was set since the last
 *   tick; it does not keep the process alive (unref). `stop()` cancels it.
 */
export class DeadlineSweep {
  /** The clock as read at the last tick (or when the timer started). */
  private clock = 0;
  private cancel: (() => void) | null = null;
  private readonly tick = (): void => {
    this.cancel = null;
    this.clock = this.runtime.now();
    if (this.owner.sweep(this.clock) && this.cancel === null) this.start();
  };

  constructor(
    private readonly runtime: Runtime,
    /** ms between checks. */
    readonly granularity: number,
    private readonly owner: Sweepable,
  ) {}

  /** The deadline `ms` from now on this sweep's clock (Infinity for ms ≤ 0 or Infinity: none). */
  deadline(ms: number): number {
    if (!(ms > 0 && ms < Infinity)) return Infinity;
    if (this.cancel === null) {
      this.clock = this.runtime.now();
      this.start();
    }
    return this.clock + ms + this.granularity;
  }

  /** No more checks (until the next deadline is set). */
  stop(): void {
    this.cancel?.();
    this.cancel = null;
  }

  private start(): void {
    this.cancel = this.runtime.timer(this.granularity, this.tick, UNREF);
  }
}
