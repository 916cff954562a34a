// http/client/exchange.ts
//
// Exchange: one request's life as the caller sees it, across the waits it makes (a pooled
// connection, connecting, the response head, each body chunk). It owns what can end the request
// from outside: the AbortSignal, the headers and body timeouts, and on curio the calling task's
// cancellation.
//
// Invariants:
// - Every wait of a request goes through `wait` (the Runtime's `wait`): on curio it is a kernel
//   operation of the calling task, so the task's cancellation or an enclosing timeoutAfter
//   interrupts it; the waiter's `cancel` then fails the exchange like an abort.
// - The first failure wins (`failure`), and is what every later wait of the exchange rejects
//   with; failing closes the connection the exchange holds (a half-read response cannot be
//   mended), so the connection never goes back to its pool.
// - Timeouts use the Deadline of the connection held (one lazy runtime timer per connection,
//   shared with its idle timeout in the pool): re-arming only moves the deadline, so a
//   keep-alive connection does not start and stop a timer per request, nor the body timeout
//   one per chunk; from a second on, the deadline is counted from the runtime's coarse clock
//   (deadline.ts): no clock read per request either.
// - A wait for the head may be the caller's own (`awaitHead`): parked with the exchange as its
//   watcher, it is settled by whoever reads the head when bytes arrive (HttpAgent), and its
//   failure settles it as any other wait's.

import { AbortedError, BodyTimeoutError, ClientClosedError, HeadersTimeoutError } from '../../errors.js';
import type { Runtime, Waiter, Wake } from '../../runtime.js';
import type { Deadline, Expirable } from '../../deadline.js';


/** What an exchange holds: the connection, which it closes if it fails, and its deadline. */
export interface Held {
  /** Close it; `failed`: the exchange whose failure closes it. */
  destroy(failed?: Exchange): void;
  readonly deadline: Deadline;
}

/** Where a wait parks its wake (a connection's slot for arriving bytes): see `park`. */
export interface Parking {
  set(wake: Wake<void>): void;
  /**
   * Park `wake` with a watcher: when the slot fires, `watcher.arrived(wake)` decides what
   * becomes of the wait (settle it, or park it again) instead of the wake being resolved.
   */
  watch(wake: Wake<unknown>, watcher: Watcher): void;
  /** Drop `wake` if it is still the one parked. */
  forget(wake: Wake<void>): void;
}

/** Who decides what becomes of a wait parked with `watch` when its slot fires. */
export interface Watcher {
  arrived(wake: Wake<unknown>): void;
}

/**
 * What reads a response's head for an exchange whose wait is the caller's own (`awaitHead`):
 * called when bytes arrived (see HttpAgent's headArrived).
 */
export type HeadReader = (exchange: Exchange, wake: Wake<unknown>) => void;

/** Which timeout is armed. */
type Phase = 'headers' | 'body' | 'none';

// The exchange is the Waiter of its own waits (one at a time; passed as one, not declared with
// `implements`, whose members are stripped from the declarations: see scripts/check-dts.mjs), and on a runtime built on plain
// Promises (`startWith`) also their Wake: a wait then allocates nothing but the runtime's Promise.
export class Exchange implements Expirable {
  failure: unknown = null;
  /** The connection in use (closed if the exchange fails). */
  holding: Held | null = null;
  private wake: Wake<never> | null = null;
  private disarm: (() => void) | null = null;
  /** The wait being started: where it parks (`park`), or how it arms (`wait`). */
  private parking: Parking | null = null;
  private arming: ((wake: Wake<never>) => () => void) | null = null;
  /** The slot the current wait is parked in (forgotten if the exchange fails). */
  private parkedIn: Parking | null = null;
  /** The current wait's resolvers, when the exchange is its Wake (`startWith`). */
  private resolveWait: ((value: never) => void) | null = null;
  private rejectWait: ((error: unknown) => void) | null = null;
  private phase: Phase = 'none';
  private readonly onAbort: (() => void) | null = null;
  /** The wait being started is the caller's wait for the response head (`awaitHead`). */
  private headReader: HeadReader | null = null;
  /** What the request is (kept for `awaitHead`'s reader: a request sent again). */
  spec: unknown = null;

  constructor(
    readonly runtime: Runtime,
    private readonly method: string,
    private readonly url: URL,
    private readonly signal: AbortSignal | undefined,
    private readonly headersTimeout: number,
    private readonly bodyTimeout: number,
  ) {
    if (signal !== undefined) {
      if (signal.aborted) {
        this.failure = new AbortedError(this.label, signal.reason);
        return;
      }
      this.onAbort = () => this.fail(new AbortedError(this.label, signal.reason));
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** 'GET http://host/path', for messages (made only when one is). */
  get label(): string {
    return `${this.method} ${this.url.href}`;
  }

  /** Throw the failure, if any. */
  check(): void {
    if (this.failure !== null) throw this.failure;
  }

  /**
   * Wait through the runtime: `arm` keeps the wake and returns how to forget it (called if the
   * exchange fails; it must be harmless once the wake was used). Rejects with the exchange's
   * failure if it fails meanwhile. The returned Promise is the runtime's own (on curio, a
   * kernel operation the calling task awaits).
   */
  wait<T>(state: string, arm: (wake: Wake<T>) => () => void): Promise<T> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.arming = arm as (wake: Wake<never>) => () => void;
    return this.runtime.wait<T>(state, this as Waiter<unknown> as Waiter<T>);
  }

  /** `wait` for a wake put in `slot` (the hot path: no closure, no Waiter object). */
  park(state: string, slot: Parking): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.parking = slot;
    this.headReader = null;
    return this.runtime.wait<void>(state, this as Waiter<unknown> as Waiter<void>);
  }

  /**
   * The caller's wait for the response: parked in `slot` (the connection's slot for arriving
   * bytes) with the exchange as its watcher, so that when bytes arrive `reader` reads them and
   * settles the wait with the response itself (or parks it again). The Promise is the
   * runtime's own, handed to the caller as it is: no hop of an async function between the
   * head's arrival and the caller, and on curio a kernel operation of the calling task.
   */
  awaitHead<T>(state: string, slot: Parking, reader: HeadReader): Promise<T> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.parking = slot;
    this.headReader = reader;
    return this.runtime.wait<T>(state, this as Waiter<unknown> as Waiter<T>);
  }

  /** @internal Watcher: bytes arrived for the head wait (see awaitHead). */
  arrived(wake: Wake<unknown>): void {
    (this.headReader as HeadReader)(this, wake);
  }

  /** Park the head wait again (the head is not complete yet). */
  parkAgain(slot: Parking, wake: Wake<unknown>): void {
    slot.watch(wake, this);
  }

  /** @internal Waiter: the wait begins. */
  start(wake: Wake<unknown>): void {
    this.begin(wake as Wake<never>);
  }

  /** @internal Waiter: the wait begins (a runtime on plain Promises): the exchange is the wake. */
  startWith(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
    this.resolveWait = resolve;
    this.rejectWait = reject;
    this.begin(this as Wake<unknown> as Wake<never>);
  }

  private begin(wake: Wake<never>): void {
    this.wake = wake;
    const slot = this.parking;
    if (slot !== null) {
      this.parking = null;
      this.parkedIn = slot;
      if (this.headReader !== null) slot.watch(wake, this);
      else slot.set(wake as Wake<void>);
      return;
    }
    const arm = this.arming as (wake: Wake<never>) => () => void;
    this.arming = null;
    this.disarm = arm(wake);
  }

  /**
   * @internal Waiter: the runtime abandons the wait (curio: the task was cancelled or timed
   * out): the caller gets the runtime's cancellation, not this failure (the wake is dropped
   * first); the request is over and its connection closed.
   */
  cancel(): void {
    const wake = this.wake;
    const slot = this.parkedIn;
    this.parkedIn = null;
    if (slot !== null && wake !== null) slot.forget(wake as Wake<void>);
    this.wake = null;
    this.resolveWait = this.rejectWait = null;
    this.fail(new ClientClosedError(`${this.label}: the waiting task was cancelled`));
  }

  /** @internal Wake (see `startWith`): calls after the first are ignored. */
  resolve(value: unknown): void {
    const resolve = this.resolveWait;
    if (resolve !== null) {
      this.woken();
      resolve(value as never);
    }
  }

  /** @internal Wake (see `startWith`). */
  reject(error: unknown): void {
    const reject = this.rejectWait;
    if (reject !== null) {
      this.woken();
      reject(error);
    }
  }

  /** The wait whose Wake the exchange is has ended. */
  private woken(): void {
    this.resolveWait = this.rejectWait = null;
    if (this.wake === (this as Wake<unknown>)) this.wake = null;
    this.parkedIn = null;
  }

  /** Wait for a Promise made elsewhere (connecting); `late` gets its value if the exchange failed first. */
  settle<T>(state: string, promise: Promise<T>, late: (value: T) => void): Promise<T> {
    let abandoned = false;
    promise.then(
      (value) => {
        if (abandoned) late(value);
      },
      () => {},
    );
    return this.wait<T>(state, (wake) => {
      promise.then(
        (value) => wake.resolve(value),
        (error: unknown) => wake.reject(error),
      );
      return () => {};
    }).catch((error: unknown) => {
      if (this.failure !== null) abandoned = true;
      throw error;
    });
  }

  private forget(): void {
    const wake = this.wake;
    this.wake = null;
    const slot = this.parkedIn;
    if (slot !== null) {
      this.parkedIn = null;
      if (wake !== null) slot.forget(wake as Wake<void>);
    }
    const disarm = this.disarm;
    this.disarm = null;
    disarm?.();
  }

  /** End the exchange with `error` (first failure wins): close the connection, reject the wait. */
  fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.done();
    this.holding?.destroy(this);
    this.holding = null;
    const wake = this.wake;
    this.forget();
    wake?.reject(error);
  }

  /** The exchange is over (its response read, or it failed): no more timeout, nor signal. */
  done(): void {
    if (this.phase !== 'none') {
      this.phase = 'none';
      this.holding?.deadline.clear();
    }
    if (this.onAbort !== null) this.signal?.removeEventListener('abort', this.onAbort);
  }

  /** Arm the headers timeout (the request is being sent on the connection held). */
  awaitHeaders(): void {
    this.arm('headers', this.headersTimeout);
  }

  /** Arm (or move) the body timeout: called when the head and each body chunk arrive. */
  awaitBody(): void {
    this.arm('body', this.bodyTimeout);
  }

  private arm(phase: Phase, ms: number): void {
    if (this.failure !== null || this.holding === null) return;
    this.phase = phase;
    this.holding.deadline.set(ms, this);
  }

  /** The deadline passed: the request fails with the timeout of its phase. */
  expire(): void {
    if (this.phase === 'none') return;
    this.fail(this.phase === 'headers' ? new HeadersTimeoutError(this.headersTimeout) : new BodyTimeoutError(this.bodyTimeout));
  }
}
