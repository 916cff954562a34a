// engine/call.ts
//
// One request on its way through the engine. A call is its own Waiter (see runtime.ts), so a
// request on the hot path costs one object; a protocol extends it with what its adapter needs
// (Redis: the arguments, whether replies come as bytes, an attributes callback).
//
// Invariants:
// - A call is settled exactly once: by its response, its timeout, its signal, the runtime's
//   cancellation, the loss of its connection, or the engine's close. Later settlements are
//   ignored.
// - state: queued (not written yet: may be dropped for free) → written (its response is due)
//   → done. A written call that is abandoned while its session resynchronises (the session
//   answered 'pending', see adapter.ts) is 'abandoning' until the session settles it; it then
//   ends with the abandonment's error, never with the response.
// - A transform or callback that throws fails that call alone.

import type { Wake, Waiter } from '../runtime.js';

/** Where a call is in its life. */
export type CallState = 'queued' | 'written' | 'abandoning' | 'done';

/** What starts and ends calls (the engine, or a lease of it). */
export interface CallOwner {
  /** The call's wait began: arrange its timers and hand it to a connection. */
  begin(call: EngineCall): void;
  /**
   * End a call early: `error` is its timeout or abort error, or null for the runtime's
   * cancellation (the runtime ends the wait itself). False when the call cannot end at once
   * (its session resynchronises first): it ends when the session settles it.
   */
  abandon(call: EngineCall, error: unknown): boolean;
}

/** What a call needs to know about the connection it was handed to. */
export interface CallConnection {
  readonly isClosed: boolean;
}

/** Hears the calls of a batch settle: one object for the whole batch, no closure per call. */
export interface BatchSink {
  /** `call` (the batch's call number `call.index`) settled. */
  settled(call: EngineCall, ok: boolean, value: unknown): void;
}

/** A request on its way. Protocols extend it with their request data. */
export class EngineCall implements Waiter<unknown> {
  /** The id the session gave it when written; 0 before. */
  id = 0;
  /** See the file header. */
  state: CallState = 'queued';
  /** The connection it was handed to (set by the engine). */
  connection: CallConnection | null = null;
  /** Cleanup of timers and abort listeners (set by the engine). */
  cleanup: (() => void) | null = null;
  /** Called once when the call is settled (returns a leased connection to the pool). */
  onSettled: (() => void) | null = null;
  /** The error an 'abandoning' call ends with (null: the runtime's cancellation). */
  abandonedWith: unknown = null;
  /** Set by the waiting side; settling goes through it. */
  private wake: Wake<unknown> | null = null;
  private resolveFn: ((value: unknown) => void) | null = null;
  private rejectFn: ((error: unknown) => void) | null = null;
  /** The batch it is part of (see startBatch), and its place there. */
  private batchSink: BatchSink | null = null;
  index = 0;
  /** The settled value, kept until the wait begins (a call settled synchronously). */
  private outcome: { readonly ok: boolean; readonly value: unknown } | null = null;

  constructor(
    /** What the call is, for error messages ('GET', 'query'). */
    readonly label: string,
    /** Safe to send again after its connection broke before the response (idempotent). */
    readonly retryable: boolean,
    /** Runs on a connection of its own, leased from the pool for its duration. */
    readonly exclusive: boolean,
    /** Who begins and abandons it (null for calls settled by hand, as in batches). */
    readonly owner: CallOwner | null,
    /** Per-call timeout (ms; undefined or Infinity: none) and signal. */
    readonly timeout: number | undefined,
    readonly signal: AbortSignal | undefined,
    /** Turns the response into the caller's type (applied before the caller sees it). */
    readonly transform: ((response: never) => unknown) | null,
  ) {}

  /** Waiter (called by the runtime): the wait began. */
  start(wake: Wake<unknown>): void {
    this.wake = wake;
    if (this.flushOutcome()) return;
    this.owner?.begin(this);
  }

  /** Waiter (called by the runtime): the wait began (a Promise runtime hands its resolvers directly). */
  startWith(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
    this.resolveFn = resolve;
    this.rejectFn = reject;
    if (this.flushOutcome()) return;
    this.owner?.begin(this);
  }

  /** A call of a batch: its outcome goes to `sink`, as number `index` (nothing allocated per call). */
  startBatch(sink: BatchSink, index: number): void {
    this.batchSink = sink;
    this.index = index;
    this.flushOutcome();
  }

  /** Waiter (called by the runtime): the runtime abandons the wait. False: not at once (see CallOwner). */
  cancel(): boolean {
    if (this.state === 'done') return true;
    return this.owner === null ? true : this.owner.abandon(this, null);
  }

  /** Whether the call has been settled. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** Settle with a response (the transform, if any, is applied first). */
  resolve(response: unknown): void {
    if (this.state === 'done') return;
    const transform = this.transform as ((response: unknown) => unknown) | null;
    if (transform === null) {
      this.finish(true, response);
      return;
    }
    let result: unknown;
    try {
      result = transform(response);
    } catch (error) {
      this.finish(false, error);
      return;
    }
    this.finish(true, result);
  }

  /** Settle with an error. */
  fail(error: unknown): void {
    this.finish(false, error);
  }

  /** End the call without telling its waiter (the runtime already ended the wait). */
  drop(): void {
    this.wake = null;
    this.resolveFn = this.rejectFn = null;
    this.batchSink = null;
    this.finish(false, null);
  }

  private finish(ok: boolean, value: unknown): void {
    if (this.state === 'done') return;
    if (this.state === 'abandoning' && this.abandonedWith !== null) {
      ok = false;
      value = this.abandonedWith;
    }
    this.state = 'done';
    const cleanup = this.cleanup;
    if (cleanup !== null) {
      this.cleanup = null;
      cleanup();
    }
    const settled = this.onSettled;
    if (settled !== null) {
      this.onSettled = null;
      settled();
    }
    const wake = this.wake;
    if (wake !== null) {
      this.wake = null;
      if (ok) wake.resolve(value);
      else wake.reject(value);
      return;
    }
    const batch = this.batchSink;
    if (batch !== null) {
      this.batchSink = null;
      batch.settled(this, ok, value);
      return;
    }
    const resolve = this.resolveFn;
    if (resolve !== null) {
      const reject = this.rejectFn as (error: unknown) => void;
      this.resolveFn = this.rejectFn = null;
      if (ok) resolve(value);
      else reject(value);
      return;
    }
    this.outcome = { ok, value };
  }

  /** A call settled before its wait began hands its outcome over now. */
  private flushOutcome(): boolean {
    const outcome = this.outcome;
    if (outcome === null) return false;
    this.outcome = null;
    this.state = 'queued';
    this.finish(outcome.ok, outcome.value);
    return true;
  }
}
