// deadline.ts
//
// One lazy timer per connection, for every protocol's timeouts: a keep-alive connection moves
// its deadline (headers, body, idle) many times per second, and starting and cancelling a
// runtime timer each time would cost more than the request. Used by the HTTP server and the
// HTTP client.
//
// Invariants:
// - `set` moves the deadline; a timer is started only when none is pending early enough.
// - A deadline of COARSE_FROM_MS or more is counted from a coarse clock (CoarseClock: the
//   runtime's clock read at most once per COARSE_MS), plus COARSE_MS: it is never early while
//   the event loop keeps up (a loop blocked for L ms past a refresh can make it up to L early),
//   and at most COARSE_MS late. A shorter one reads the clock.
//   A keep-alive request sets two deadlines (headers, idle), and reading the clock cost more
//   than the rest of the Deadline's work (about 800 instructions per read on Node's
//   performance.now()); undici's fast timers make the same trade for timeouts of a second
//   or more.
// - `clear` disarms it (a pending timer then finds nothing to do); `stop` also cancels the
//   timer (the owner is gone).
// - The target's `expire()` runs at most once per `set`, from the runtime's timer callback.
// - The timer does not keep the process alive (Runtime.timer's `unref`): while a connection
//   is in use its socket does, and one that is idle (a pooled client connection, its socket
//   unref'd) must not.

import type { Runtime } from './runtime.js';

const UNREF = { unref: true } as const;

/** ms a CoarseClock's time may be old (while the event loop keeps up). */
export const COARSE_MS = 100;
/** Deadlines of at least this many ms are counted from the coarse clock. */
export const COARSE_FROM_MS = 1000;

/**
 * The runtime's clock, read at most once per `granularity` ms: `now()` reads it when the last
 * read is older than that (a timer says so: started at the read, on the runtime's clock, so a
 * virtual clock stays exact), else answers the time read last. One per runtime (`of`).
 */
export class CoarseClock {
  private time = 0;
  private fresh = false;
  private readonly expired = (): void => {
    this.fresh = false;
  };

  private constructor(
    private readonly runtime: Runtime,
    /** The most ms the time answered may be old (while the event loop keeps up). */
    readonly granularity: number,
  ) {}

  private static readonly clocks = new WeakMap<Runtime, CoarseClock>();

  /** The coarse clock of `runtime` (granularity COARSE_MS). */
  static of(runtime: Runtime): CoarseClock {
    let clock = CoarseClock.clocks.get(runtime);
    if (clock === undefined) {
      clock = new CoarseClock(runtime, COARSE_MS);
      CoarseClock.clocks.set(runtime, clock);
    }
    return clock;
  }

  /** The runtime's time, at most `granularity` ms old (see the class). */
  now(): number {
    if (!this.fresh) {
      this.time = this.runtime.now();
      this.fresh = true;
      this.runtime.timer(this.granularity, this.expired, UNREF);
    }
    return this.time;
  }
}

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
  private readonly clock: CoarseClock;

  constructor(private readonly runtime: Runtime) {
    this.clock = CoarseClock.of(runtime);
  }

  /**
   * `target.expire()` once `ms` from now (unless moved or cleared): at most COARSE_MS late
   * from COARSE_FROM_MS on (see the file header); no deadline for ms ≤ 0 or Infinity.
   */
  set(ms: number, target: Expirable): void {
    if (!(ms > 0 && ms < Infinity)) {
      this.clear();
      return;
    }
    const clock = this.clock;
    this.at = ms >= COARSE_FROM_MS ? clock.now() + ms + clock.granularity : this.runtime.now() + ms;
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
