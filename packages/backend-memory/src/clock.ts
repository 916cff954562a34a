// clock.ts
//
// Virtual time and the end of the burst, for the memory runtime. One object owns both, because
// "the program is idle" means both: no deferred function waits for the end of a burst and no
// timer is due. Tests drive it (`advance`, `next`, `runUntilIdle`) or let it jump by itself to
// the next timer whenever the program is idle (`autoAdvance`, trio's autojump clock).
//
// Invariants:
// - Nothing here reads wall time. `now()` moves only when a test advances it or, with
//   autoAdvance, when the program is idle and a timer is waiting: it then jumps straight to
//   that timer's time.
// - Timers fire in order of (time, creation), one per turn, each at an idle point: after all
//   Promise jobs and deferred functions that were pending, including those the previous timer
//   caused. Two timers due at the same time therefore never interleave their consequences.
// - A deferred function runs once the current burst is over: after every pending Promise job,
//   in a later event-loop turn (see Discussion). Functions deferred in one burst run together,
//   in the order they were deferred; those they defer run in the next turn.
// - An error thrown by a timer or a deferred function does not stop the clock: it goes to
//   `onError` (default: thrown again as an uncaught exception, as Node does with a throwing
//   timer).
//
// Discussion: where a burst ends. The node runtime defers with process.nextTick, which runs
// after the Promise jobs pending when it is called from a Promise job, but before them when it
// is called from a macrotask (a timer, an IO callback). Here a turn is a macrotask of its own
// (setImmediate): it always starts after the whole microtask queue has drained, whatever
// called `defer`. Every call issued in one burst therefore goes out in one write on this
// runtime, whoever issued it; and the same turn is where idleness is observed, so the two
// notions cannot disagree. The price is one event-loop turn per burst, irrelevant for tests.
// Real IO completing in between (the test's own, vitest's) never touches the virtual world.

import { checkNumber } from './errors.js';

interface Timer {
  readonly time: number;
  readonly seq: number;
  fn: (() => void) | null;
}

/** Options of {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** Where time starts (default 0). */
  readonly start?: number;
  /** Jump to the next timer whenever the program is idle (default false). */
  readonly autoAdvance?: boolean;
  /** Errors thrown by timers and deferred functions (default: thrown as uncaught exceptions). */
  readonly onError?: (error: unknown) => void;
}

/** Virtual time and the burst queue of one memory runtime. */
export class VirtualClock {
  private auto: boolean;
  private time: number;
  private readonly heap: Timer[] = [];
  private sequence = 0;
  private live = 0;
  private deferred: (() => void)[] = [];
  private turnScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private driving = 0;
  private readonly onError: (error: unknown) => void;

  constructor(options: VirtualClockOptions = {}) {
    this.time = options.start ?? 0;
    checkNumber('start', this.time, Number.MIN_SAFE_INTEGER);
    this.auto = options.autoAdvance ?? false;
    this.onError = options.onError ?? rethrowUncaught;
  }

  /**
   * Jump to the next timer whenever the program is idle. While `advance` or `next` runs, it
   * waits: those decide how far time goes.
   */
  get autoAdvance(): boolean {
    return this.auto;
  }

  set autoAdvance(on: boolean) {
    this.auto = on;
    if (on && this.live > 0) this.scheduleTurn();
  }

  /** The current virtual time in milliseconds. */
  now(): number {
    return this.time;
  }

  /** Timers started and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.live;
  }

  /** When the next timer is due, or null when there is none. */
  nextTimerAt(): number | null {
    return this.peek()?.time ?? null;
  }

  /**
   * Start a one-shot timer `ms` virtual milliseconds from now; returns its cancel function
   * (idempotent). A negative or NaN `ms` means 0; Infinity means never.
   */
  timer(ms: number, fn: () => void): () => void {
    if (ms === Number.POSITIVE_INFINITY) return noop;
    const timer: Timer = { time: this.time + (ms > 0 ? ms : 0), seq: this.sequence++, fn };
    this.push(timer);
    this.live++;
    if (timer.time <= this.time || this.auto) this.scheduleTurn();
    return () => {
      if (timer.fn === null) return;
      timer.fn = null;
      this.live--;
    };
  }

  /** Resolve after `ms` virtual milliseconds. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.timer(ms, resolve);
    });
  }

  /** Run `fn` once the current burst of work is over (see the file's Discussion). */
  defer(fn: () => void): void {
    this.deferred.push(fn);
    this.scheduleTurn();
  }

  /**
   * Let everything that can happen without time passing happen: pending Promise jobs,
   * deferred functions, timers already due, and whatever they cause. Time does not move.
   */
  runUntilIdle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.scheduleTurn();
    });
  }

  /**
   * Move time forward by `ms`, firing every timer due on the way in order, at its own time,
   * each once the work the previous one caused is done; then settle at the new time.
   */
  async advance(ms: number): Promise<void> {
    checkNumber('ms', ms, 0);
    const target = this.time + ms;
    this.driving++;
    try {
      for (;;) {
        await this.runUntilIdle();
        const next = this.nextTimerAt();
        if (next === null || next > target) break;
        this.time = Math.max(this.time, next);
      }
      this.time = target;
    } finally {
      this.driving--;
    }
  }

  /**
   * Settle, then jump to the next timer, fire it (and any others due at the same time) and
   * settle again. Returns false when no timer was waiting (time did not move).
   */
  async next(): Promise<boolean> {
    this.driving++;
    try {
      await this.runUntilIdle();
      const next = this.nextTimerAt();
      if (next === null) return false;
      this.time = Math.max(this.time, next);
      await this.runUntilIdle();
      return true;
    } finally {
      this.driving--;
    }
  }

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(this.turn);
  }

  /** One turn: the burst's deferred functions, else one due timer, else idle. */
  private readonly turn = (): void => {
    this.turnScheduled = false;
    if (this.deferred.length > 0) {
      const batch = this.deferred;
      this.deferred = [];
      for (const fn of batch) this.call(fn);
      this.scheduleTurn();
      return;
    }
    if (this.fireDue()) {
      this.scheduleTurn();
      return;
    }
    // Idle: nothing deferred, nothing due, and every Promise job has run.
    if (this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
      // With autoAdvance, time goes on once what the waiters do next has settled.
      if (this.auto && this.live > 0) this.scheduleTurn();
      return;
    }
    if (this.auto && this.driving === 0) {
      const next = this.nextTimerAt();
      if (next !== null) {
        this.time = Math.max(this.time, next);
        this.fireDue();
        this.scheduleTurn();
      }
    }
  };

  /** Fire the first timer due at or before now; whether there was one. */
  private fireDue(): boolean {
    const first = this.peek();
    if (first === null || first.time > this.time) return false;
    this.pop();
    const fn = first.fn as () => void;
    first.fn = null;
    this.live--;
    this.call(fn);
    return true;
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.onError(error);
    }
  }

  // A binary min-heap on (time, seq); cancelled timers are dropped when they reach the top.

  private peek(): Timer | null {
    const heap = this.heap;
    while (heap.length > 0 && (heap[0] as Timer).fn === null) this.pop();
    return heap.length > 0 ? (heap[0] as Timer) : null;
  }

  private push(timer: Timer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, heap[parent] as Timer)) break;
      heap[i] = heap[parent] as Timer;
      i = parent;
    }
    heap[i] = timer;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as Timer;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right] as Timer, heap[left] as Timer) ? right : left;
      if (!before(heap[child] as Timer, last)) break;
      heap[i] = heap[child] as Timer;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

function noop(): void {}

function rethrowUncaught(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
