// os/signal.ts
//
// Unix signals for kernel tasks: `SignalQueue` (every signal that arrives, in order) and
// `SignalEvent` (an Event set when one arrives). Both install ordinary `process.on(signal)`
// listeners when created and remove them on `close()` (or `using` / `await using`).
//
// While a SignalQueue or SignalEvent listens for SIGINT, SIGTERM or SIGHUP, Node's default
// action for that signal (exit) is off: the program decides what the signal means. Closing
// the last listener brings the default back.
//
// Invariants:
// - No signal is lost between two `get()`s: a signal that arrives while nobody waits is
//   queued, up to `maxsize` (default 64); beyond that it is counted in `dropped`.
// - A signal that arrives while tasks wait is handed straight to the longest-waiting one: it
//   becomes ready with the signal in hand, so it keeps it even if cancelled before it runs.
// - Waiting for a signal is an external wait (state SIGNAL_WAIT): cancellable, and the program
//   keeps running while a task waits (signal listeners alone do not keep Node's event loop
//   alive, so a waiting task holds a timer that does).

import { constants as osConstants } from 'node:os';
import { waitExternal } from '../cancellation.js';
import { Deque } from '../deque.js';
import { Event } from '../sync.js';
import type { ExternalWake } from '../traps.js';
import { ClosedResourceError } from './errors.js';

/** Options of {@link SignalQueue}. */
export interface SignalQueueOptions {
  /** Signals held while nobody waits (default 64); further ones are counted in `dropped`. */
  maxsize?: number;
}

const RESOLVED: Promise<void> = Promise.resolve();
const DEFAULT_MAXSIZE = 64;
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

// Signal listeners do not keep Node's event loop alive; a task waiting for a signal must.
let loopHolds = 0;
let loopTimer: ReturnType<typeof setInterval> | null = null;

function holdLoop(): void {
  if (loopHolds++ === 0) loopTimer = setInterval(() => {}, 0x7fffffff);
}

function releaseLoop(): void {
  if (--loopHolds === 0 && loopTimer !== null) {
    clearInterval(loopTimer);
    loopTimer = null;
  }
}

function checkSignals(signals: readonly unknown[], what: string): NodeJS.Signals[] {
  if (signals.length === 0) throw new TypeError(`${what}: name at least one signal`);
  const known = osConstants.signals as Record<string, number | undefined>;
  for (const signal of signals) {
    if (typeof signal !== 'string' || known[signal] === undefined) {
      throw new TypeError(`${what}: unknown signal ${JSON.stringify(signal)}`);
    }
    if (UNCATCHABLE.has(signal)) throw new TypeError(`${what}: ${signal} cannot be caught`);
  }
  return [...new Set(signals as NodeJS.Signals[])];
}

/** The process listeners of one SignalQueue or SignalEvent. */
class Listeners {
  private installed = true;

  constructor(
    readonly signals: readonly NodeJS.Signals[],
    private readonly listener: (signal: NodeJS.Signals) => void,
  ) {
    for (const signal of signals) process.on(signal, listener);
  }

  get active(): boolean {
    return this.installed;
  }

  remove(): void {
    if (!this.installed) return;
    this.installed = false;
    for (const signal of this.signals) process.removeListener(signal, this.listener);
  }
}

/** A task waiting for a signal. */
interface Waiter {
  readonly wake: ExternalWake;
}

/**
 * The signals that arrive, in order, for kernel tasks to `await queue.get()` or iterate with
 * `for await`. Listens from construction until {@link close}.
 *
 * ```ts
 * using signals = new SignalQueue('SIGINT', 'SIGTERM');
 * for await (const signal of signals) {
 *   if (signal === 'SIGTERM') break;
 *   console.log('interrupted');
 * }
 * ```
 */
export class SignalQueue implements AsyncIterable<NodeJS.Signals>, Disposable, AsyncDisposable {
  /** Held signals at most; see {@link dropped}. */
  readonly maxsize: number;
  private readonly listeners: Listeners;
  private readonly held = new Deque<NodeJS.Signals>();
  private readonly waiters = new Set<Waiter>();
  private lost = 0;

  /** Listen for `signals` ('SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1'...). */
  constructor(...signals: NodeJS.Signals[]);
  /** Listen for `signals`, with options. */
  constructor(signals: readonly NodeJS.Signals[], options?: SignalQueueOptions);
  constructor(...args: unknown[]) {
    const [first, options] = args;
    const list = Array.isArray(first) ? (first as unknown[]) : args;
    const maxsize = Array.isArray(first) ? ((options as SignalQueueOptions | undefined)?.maxsize ?? DEFAULT_MAXSIZE) : DEFAULT_MAXSIZE;
    if (!Number.isInteger(maxsize) || maxsize < 1) throw new TypeError('SignalQueue: maxsize must be an integer >= 1');
    this.maxsize = maxsize;
    this.listeners = new Listeners(checkSignals(list, 'SignalQueue'), (signal) => this.arrived(signal));
  }

  /** The signals listened for. */
  get signals(): readonly NodeJS.Signals[] {
    return this.listeners.signals;
  }

  /** Signals that arrived while the queue was full and were not kept. */
  get dropped(): number {
    return this.lost;
  }

  /** Number of signals held, not yet taken. */
  size(): number {
    return this.held.length;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return !this.listeners.active;
  }

  /**
   * The next signal's name. Returns at once if one is held; otherwise waits (SIGNAL_WAIT),
   * cancellably. After {@link close}, held signals are still returned, then this throws
   * {@link ClosedResourceError} (as it does for a task waiting when the queue is closed).
   */
  get(): Promise<NodeJS.Signals> {
    if (this.held.length > 0) return Promise.resolve(this.held.shift() as NodeJS.Signals);
    if (this.closed) return Promise.reject(new ClosedResourceError('SignalQueue is closed'));
    return waitExternal<NodeJS.Signals>('SIGNAL_WAIT', (wake) => {
      const waiter: Waiter = { wake };
      this.waiters.add(waiter);
      holdLoop();
      return () => this.forget(waiter);
    });
  }

  /** Signals as they arrive; ends when the queue is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<NodeJS.Signals, void, undefined> {
    for (;;) {
      let signal: NodeJS.Signals;
      try {
        signal = await this.get();
      } catch (error) {
        if (error instanceof ClosedResourceError && this.closed) return;
        throw error;
      }
      yield signal;
    }
  }

  /**
   * Stop listening: the listeners are removed (Node's default action comes back if no other
   * listener remains) and waiting tasks get {@link ClosedResourceError}. Closing twice is
   * harmless.
   */
  close(): void {
    if (this.closed) return;
    this.listeners.remove();
    for (const waiter of [...this.waiters]) {
      this.forget(waiter);
      waiter.wake.reject(new ClosedResourceError('SignalQueue is closed'));
    }
  }

  /** `using signals = new SignalQueue(...)` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using` form of {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return RESOLVED;
  }

  private arrived(signal: NodeJS.Signals): void {
    const [waiter] = this.waiters;
    if (waiter !== undefined) {
      this.forget(waiter);
      waiter.wake.resolve(signal);
    } else if (this.held.length < this.maxsize) {
      this.held.push(signal);
    } else {
      this.lost++;
    }
  }

  private forget(waiter: Waiter): void {
    if (this.waiters.delete(waiter)) releaseLoop();
  }
}

/**
 * An {@link Event} that is set when one of `signals` arrives; {@link signal} tells which came
 * last. `clear()` it to wait for the next one. Listens from construction until {@link close}.
 */
export class SignalEvent extends Event implements Disposable, AsyncDisposable {
  private readonly listeners: Listeners;
  private readonly sleepers = new Set<ExternalWake>();
  private last: NodeJS.Signals | null = null;

  /** Listen for `signals` ('SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1'...). */
  constructor(...signals: NodeJS.Signals[]) {
    super();
    this.listeners = new Listeners(checkSignals(signals, 'SignalEvent'), (signal) => {
      this.last = signal;
      this.set();
    });
  }

  /** The signals listened for. */
  get signals(): readonly NodeJS.Signals[] {
    return this.listeners.signals;
  }

  /** The signal that arrived last, or null. */
  get signal(): NodeJS.Signals | null {
    return this.last;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return !this.listeners.active;
  }

  /** Set the event (as a signal does) and wake every waiter. Never switches tasks. */
  override set(): void {
    super.set();
    for (const wake of [...this.sleepers]) {
      this.forget(wake);
      wake.resolve(undefined);
    }
  }

  /**
   * Wait until the event is set (at once if it is), cancellably (SIGNAL_WAIT). Throws
   * {@link ClosedResourceError} if the event is closed while unset.
   */
  override wait(): Promise<void> {
    if (this.isSet()) return RESOLVED;
    if (this.closed) return Promise.reject(new ClosedResourceError('SignalEvent is closed'));
    return waitExternal<void>('SIGNAL_WAIT', (wake) => {
      this.sleepers.add(wake);
      holdLoop();
      return () => this.forget(wake);
    });
  }

  /** Number of tasks waiting. */
  override get waiters(): number {
    return this.sleepers.size;
  }

  /** Stop listening (see {@link SignalQueue.close}); waiting tasks get {@link ClosedResourceError}. */
  close(): void {
    if (this.closed) return;
    this.listeners.remove();
    for (const wake of [...this.sleepers]) {
      this.forget(wake);
      wake.reject(new ClosedResourceError('SignalEvent is closed'));
    }
  }

  /** `using event = new SignalEvent(...)` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using` form of {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return RESOLVED;
  }

  private forget(wake: ExternalWake): void {
    if (this.sleepers.delete(wake)) releaseLoop();
  }
}
