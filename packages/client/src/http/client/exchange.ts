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
//   one per chunk.

import { AbortedError, BodyTimeoutError, ClientClosedError, HeadersTimeoutError } from '../../errors.js';
import { FnWaiter } from '../../runtime.js';
import type { Runtime, Wake } from '../../runtime.js';
import type { Deadline, Expirable } from '../../deadline.js';


/** What an exchange holds: the connection, which it closes if it fails, and its deadline. */
export interface Held {
  /** Close it; `failed`: the exchange whose failure closes it. */
  destroy(failed?: Exchange): void;
  readonly deadline: Deadline;
}

/** Which timeout is armed. */
type Phase = 'headers' | 'body' | 'none';

export class Exchange implements Expirable {
  failure: unknown = null;
  /** The connection in use (closed if the exchange fails). */
  holding: Held | null = null;
  private wake: Wake<never> | null = null;
  private disarm: (() => void) | null = null;
  private phase: Phase = 'none';
  private readonly onAbort: (() => void) | null = null;

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
    return this.runtime.wait<T>(
      state,
      new FnWaiter<T>(
        (wake) => {
          this.wake = wake as Wake<never>;
          this.disarm = arm(wake);
        },
        () => {
          // The runtime abandons the wait (curio: the task was cancelled or timed out): the
          // caller gets the runtime's cancellation, not this failure (the wake is dropped first);
          // the request is over and its connection closed.
          this.wake = null;
          this.fail(new ClientClosedError(`${this.label}: the waiting task was cancelled`));
        },
      ),
    );
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
    this.wake = null;
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
