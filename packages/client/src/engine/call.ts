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
//
// Discussion: size. 200 000 calls in flight at once are 200 000 live objects that every
// scavenge of the young generation copies (twice, before they are promoted): in the concurrent
// GET workload the garbage collector's share of the time follows the bytes a call keeps alive,
// not the instructions it runs. So a call holds only what every call needs, in few fields:
// - where its outcome goes, in two slots (`target`, `aux`) read according to `flags`: a Wake,
//   the resolve function of a Promise (node, and the curio runtime's own call classes: the
//   reject function is not kept, an error settles the Promise through a rejected one, see
//   rejectedWith), a batch's sink and the call's number in it, or the outcome itself when it
//   settled before its wait began;
// - its booleans (retryable, exclusive, and a protocol's own: Redis's `bytes`) and its state
//   as bits;
// - what few calls have (a timeout, a signal, their timer cleanup, a leased connection's
//   hand-back, an abandonment error, a protocol's extra callback) in a CallExtra made only when
//   one of them is set. A call without options: 9 fields instead of 19 (104 bytes instead of
//   190 for a Redis GET, measured with the sampling heap profiler of apps/bench profile.js).
//
// Discussion: recycling. Even at 104 bytes, the call is what a burst pays for beyond the floor
// of a Promise per call: 200 000 GETs in one Promise.all ran at 0.82-0.84x of a client that
// keeps only the Promise's resolve (apps/bench FloorClient), and the same client keeping one
// object of 10 fields per call in flight fell by the same amount. So a call that its owner
// allows to (`allowRecycling`: the engine's plain calls, no lease) goes back to the owner's
// spares once its outcome is delivered, and the owner makes the next call from a spare
// (`renew`) instead of allocating one: a burst then allocates no call objects once the spares
// cover it (0.92-0.95x of the floor, measured the same way). Only the settlement by the
// call's own response recycles (SessionSink.take marks it RESPONDED): a call that ended any
// other way (a timeout, a signal, the runtime's cancellation, a lost connection, a close) may
// still sit in a connection's queue or ring, which must never see it again as a new call. A
// call whose CallExtra holds more than a timeout (a signal, a timer's or a lease's closures, a
// protocol's callback) is not recycled either: closures may still name it. A timeout alone is
// an entry in a lane (timeouts.ts), removed when the call settles, so such a call is recycled
// with its CallExtra, which `renew` reuses (200 000 GETs with `commandTimeout`, one client per
// process, the two builds interleaved: 532-600k/s -> 762-1046k/s). A recycled call holds none
// of the caller's data (`released` clears it). The owner bounds its spares and lets go of those
// a while unused (engine.ts).

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
  /**
   * Take back a call whose response was delivered, to make a later call from it (see
   * "Discussion: recycling"); optional.
   */
  recycle?(call: EngineCall): void;
}

/** The timeout lane a call is armed in (timeouts.ts): told when the call settles first. */
export interface TimeoutLaneRef {
  /** `call`, armed in `slot`, settled before its deadline. */
  remove(slot: number, call: EngineCall): void;
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

/** Flag bits of {@link EngineCall} (bits from PROTOCOL_FLAG up are the protocol's own). */
const RETRYABLE = 1;
const EXCLUSIVE = 2;
/** Where the outcome goes (bits 2-4): what `target` and `aux` hold. */
const TO_MASK = 0b11100;
/** Nobody yet. */
const TO_NONE = 0;
/** `target`: a Wake. */
const TO_WAKE = 0b00100;
/** `target`: the Promise's resolve (its reject is not kept: see {@link rejectedWith}). */
const TO_FUNCTIONS = 0b01000;
/** `target`: a BatchSink, `aux`: the call's number in the batch. */
const TO_BATCH = 0b01100;
/** Settled before its wait began: `aux` is the value (or the error). */
const HELD_VALUE = 0b10000;
const HELD_ERROR = 0b10100;
/**
 * `target`: the Promise's resolve (as TO_FUNCTIONS), and the outcome goes through
 * {@link EngineCall.deliverOwn}: a runtime's call class whose calls are their own waits (see
 * Runtime.callClass).
 */
const TO_OWN = 0b11000;
/** Its {@link CallState} (bits 5-6), as an index into STATES. */
const STATE_SHIFT = 5;
const STATE_MASK = 0b11 << STATE_SHIFT;
const STATES: readonly CallState[] = ['queued', 'written', 'abandoning', 'done'];
const DONE = 3 << STATE_SHIFT;
/** The first flag bit a protocol's call class may use for itself (up to bit 27). */
export const PROTOCOL_FLAG = 0b10000000;
/** Its owner may make a later call from it once it is delivered (see "Discussion: recycling"). */
const RECYCLABLE = 1 << 28;
/** Settled by its own response (SessionSink.take handed it over). */
const RESPONDED = 1 << 29;
const RECYCLE_READY = RECYCLABLE | RESPONDED;

/**
 * A Promise rejected with `error`, to settle a call's Promise through its resolve: the Promise
 * then rejects with `error` (two microtask hops later), and the call never keeps the reject
 * function of its Promise (see "Discussion: size": about 56 bytes less held per call in
 * flight, for one Promise more on the rare failure).
 */
export function rejectedWith(error: unknown): Promise<never> {
  return Promise.reject(error as Error);
}

/** What few calls have (see "Discussion: size"). */
class CallExtra {
  timeout: number | undefined = undefined;
  signal: AbortSignal | undefined = undefined;
  cleanup: (() => void) | null = null;
  onSettled: (() => void) | null = null;
  abandonedWith: unknown = null;
  /** A protocol's own rarely set data (Redis: the attributes callback). */
  protocolData: unknown = null;
  /** The timeout lane it is armed in (timeouts.ts), and its slot there. */
  lane: TimeoutLaneRef | null = null;
  slot = 0;
}

/** A request on its way. Protocols extend it with their request data. */
export class EngineCall implements Waiter<unknown> {
  /** The id the session gave it when written; 0 before. */
  id = 0;
  /** The connection it was handed to (set by the engine). */
  connection: CallConnection | null = null;
  /** Flag bits (RETRYABLE, EXCLUSIVE, TO_*, the state, and the protocol's from PROTOCOL_FLAG up). */
  protected flags: number;
  /** Where the outcome goes, as `flags` says (see "Discussion: size"); a runtime's call class reads them for TO_OWN. */
  protected target: unknown = null;
  protected aux: unknown = null;
  /** The rarely set parts, or null. */
  private extra: CallExtra | null = null;

  constructor(
    /** What the call is, for error messages ('GET', 'query'). */
    readonly label: string,
    /** Safe to send again after its connection broke before the response (idempotent). */
    retryable: boolean,
    /** Runs on a connection of its own, leased from the pool for its duration. */
    exclusive: boolean,
    /** Who begins and abandons it (null for calls settled by hand, as in batches). */
    readonly owner: CallOwner | null,
    /** Per-call timeout (ms; undefined or Infinity: none) and signal. */
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    /** Turns the response into the caller's type (applied before the caller sees it). */
    readonly transform: ((response: never) => unknown) | null,
  ) {
    this.flags = (retryable ? RETRYABLE : 0) | (exclusive ? EXCLUSIVE : 0);
    if (timeout !== undefined || signal !== undefined) {
      const extra = this.extraNow();
      extra.timeout = timeout;
      extra.signal = signal;
    }
  }

  /** Where the call is in its life (see the file header); kept in `flags`. */
  get state(): CallState {
    return STATES[(this.flags & STATE_MASK) >> STATE_SHIFT] as CallState;
  }
  set state(state: CallState) {
    const index = state === 'queued' ? 0 : state === 'written' ? 1 : state === 'abandoning' ? 2 : 3;
    // Queued again (sent again after its response said so, as Postgres's "cached plan must
    // not change result type"): the response it had no longer settles it.
    const flags = index === 0 ? this.flags & ~RESPONDED : this.flags;
    this.flags = (flags & ~STATE_MASK) | (index << STATE_SHIFT);
  }

  /** Safe to send again after its connection broke before the response (idempotent). */
  get retryable(): boolean {
    return (this.flags & RETRYABLE) !== 0;
  }

  /** Runs on a connection of its own, leased from the pool for its duration. */
  get exclusive(): boolean {
    return (this.flags & EXCLUSIVE) !== 0;
  }

  /** Per-call timeout (ms; undefined or Infinity: none). */
  get timeout(): number | undefined {
    return this.extra === null ? undefined : this.extra.timeout;
  }

  /** Per-call signal. */
  get signal(): AbortSignal | undefined {
    return this.extra === null ? undefined : this.extra.signal;
  }

  /** Cleanup of timers and abort listeners (set by the engine). */
  get cleanup(): (() => void) | null {
    return this.extra === null ? null : this.extra.cleanup;
  }
  set cleanup(fn: (() => void) | null) {
    if (fn !== null || this.extra !== null) this.extraNow().cleanup = fn;
  }

  /** Called once when the call is settled (returns a leased connection to the pool). */
  get onSettled(): (() => void) | null {
    return this.extra === null ? null : this.extra.onSettled;
  }
  set onSettled(fn: (() => void) | null) {
    if (fn !== null || this.extra !== null) this.extraNow().onSettled = fn;
  }

  /** The error an 'abandoning' call ends with (null: the runtime's cancellation). */
  get abandonedWith(): unknown {
    return this.extra === null ? null : this.extra.abandonedWith;
  }
  set abandonedWith(error: unknown) {
    if (error !== null || this.extra !== null) this.extraNow().abandonedWith = error;
  }

  /** Let the owner make a later call from this one once it is delivered (see "Discussion: recycling"). */
  allowRecycling(): void {
    this.flags |= RECYCLABLE;
  }

  /** Its response came: called by the connection that hands it to the session (SessionSink.take). */
  responded(): void {
    this.flags |= RESPONDED;
  }

  /**
   * Make a recycled call new, as the constructor does with these values (the same owner, no
   * signal, not exclusive), still recyclable. `protocolFlags`: the subclass's own flag bits.
   */
  protected renew(
    label: string,
    retryable: boolean,
    transform: ((response: never) => unknown) | null,
    protocolFlags: number,
    timeout: number | undefined,
  ): void {
    this.id = 0;
    this.connection = null;
    this.flags = (retryable ? RETRYABLE : 0) | RECYCLABLE | protocolFlags;
    (this as { label: string }).label = label;
    (this as { transform: ((response: never) => unknown) | null }).transform = transform;
    // A recycled call keeps its CallExtra only when that held nothing but a timeout (see
    // recycleDelivered): it takes the new one, or none.
    const extra = this.extra;
    if (extra !== null) extra.timeout = timeout;
    else if (timeout !== undefined) this.extraNow().timeout = timeout;
  }

  /**
   * The call is handed back to its owner to be made anew: clear what it holds of the caller's
   * (a subclass clears its request, then calls this).
   */
  protected released(): void {
    (this as { transform: ((response: never) => unknown) | null }).transform = null;
    this.connection = null;
  }

  /** After its outcome was delivered: back to its owner, if it may be (see "Discussion: recycling"). */
  protected recycleDelivered(): void {
    if ((this.flags & RECYCLE_READY) !== RECYCLE_READY) return;
    // `finish` has let go of its lane entry, cleanup and hand-back; what is left in its
    // CallExtra must be what `renew` sets anew (the timeout). A signal, an abandonment or a
    // protocol's data would carry over to the next call.
    const extra = this.extra;
    if (extra !== null && (extra.signal !== undefined || extra.abandonedWith !== null || extra.protocolData !== null)) return;
    const owner = this.owner;
    if (owner === null || owner.recycle === undefined) return;
    this.flags &= ~RECYCLE_READY;
    this.released();
    owner.recycle(this);
  }

  /** Its timeout is armed in `lane`, slot `slot` (timeouts.ts): removed from there when it settles. */
  timedBy(lane: TimeoutLaneRef, slot: number): void {
    const extra = this.extraNow();
    extra.lane = lane;
    extra.slot = slot;
  }

  /** The call's number in its batch (see startBatch); 0 outside a batch. */
  get index(): number {
    return (this.flags & TO_MASK) === TO_BATCH ? (this.aux as number) : 0;
  }

  /** A protocol's own rarely set data (kept with the other rare parts, see "Discussion: size"). */
  protected get protocolData(): unknown {
    return this.extra === null ? null : this.extra.protocolData;
  }
  protected set protocolData(data: unknown) {
    if (data !== null || this.extra !== null) this.extraNow().protocolData = data;
  }

  private extraNow(): CallExtra {
    return (this.extra ??= new CallExtra());
  }

  /** Waiter (called by the runtime): the wait began. */
  start(wake: Wake<unknown>): void {
    if (this.handOverHeld(TO_WAKE, wake, null)) return;
    this.setTarget(TO_WAKE, wake, null);
    this.owner?.begin(this);
  }

  /** Waiter (called by the runtime): the wait began (a Promise runtime hands its resolvers directly). */
  startWith(resolve: (value: unknown) => void, _reject: (error: unknown) => void): void {
    if (this.handOverHeld(TO_FUNCTIONS, resolve, null)) return;
    this.setTarget(TO_FUNCTIONS, resolve, null);
    this.owner?.begin(this);
  }

  /**
   * The wait began, for a runtime's call class whose calls are their own waits (see
   * Runtime.callClass): `resolve` is kept (as `target`, until the class clears it; an error is
   * delivered through it, see {@link rejectedWith}), and the outcome goes to
   * {@link deliverOwn}, which the class overrides.
   */
  startOwn(resolve: (value: unknown) => void): void {
    if (this.handOverHeld(TO_OWN, resolve, null)) return;
    this.setTarget(TO_OWN, resolve, null);
    this.owner?.begin(this);
  }

  /** The outcome of a call started with {@link startOwn}. By default it is delivered at once. */
  protected deliverOwn(ok: boolean, value: unknown): void {
    const resolve = this.target as (value: unknown) => void;
    this.clearTarget();
    resolve(ok ? value : rejectedWith(value));
  }

  /** A call of a batch: its outcome goes to `sink`, as number `index` (nothing allocated per call). */
  startBatch(sink: BatchSink, index: number): void {
    if (this.handOverHeld(TO_BATCH, sink, index)) return;
    this.setTarget(TO_BATCH, sink, index);
  }

  /** Waiter (called by the runtime): the runtime abandons the wait. False: not at once (see CallOwner). */
  cancel(): boolean {
    if ((this.flags & STATE_MASK) === DONE) return true;
    return this.owner === null ? true : this.owner.abandon(this, null);
  }

  /** Whether the call has been settled. */
  get done(): boolean {
    return (this.flags & STATE_MASK) === DONE;
  }

  /** Settle with a response (the transform, if any, is applied first). */
  resolve(response: unknown): void {
    if ((this.flags & STATE_MASK) === DONE) return;
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

  /**
   * End the call without telling its waiter (the runtime already ended the wait). A call
   * started with {@link startOwn} keeps its resolve and reject: the runtime rejects the wait
   * with them.
   */
  drop(): void {
    if ((this.flags & TO_MASK) === TO_OWN) {
      this.finish(false, null, false);
      return;
    }
    this.clearTarget();
    this.finish(false, null);
  }

  private setTarget(to: number, target: unknown, aux: unknown): void {
    this.flags = (this.flags & ~TO_MASK) | to;
    this.target = target;
    this.aux = aux;
  }

  protected clearTarget(): void {
    this.flags &= ~TO_MASK;
    this.target = null;
    this.aux = null;
  }

  /** Settle: run the cleanups, then hand the outcome on (unless `tell` is false). */
  private finish(ok: boolean, value: unknown, tell = true): void {
    if ((this.flags & STATE_MASK) === DONE) return;
    const extra = this.extra;
    if (extra !== null) {
      if (this.state === 'abandoning' && extra.abandonedWith !== null) {
        ok = false;
        value = extra.abandonedWith;
      }
      this.flags |= DONE;
      const lane = extra.lane;
      if (lane !== null) {
        extra.lane = null;
        lane.remove(extra.slot, this);
      }
      const cleanup = extra.cleanup;
      if (cleanup !== null) {
        extra.cleanup = null;
        cleanup();
      }
      const settled = extra.onSettled;
      if (settled !== null) {
        extra.onSettled = null;
        settled();
      }
    } else this.flags |= DONE;
    if (tell) this.deliver(ok, value);
  }

  /** Hand the outcome to whoever waits for it (or hold it until a wait begins). */
  private deliver(ok: boolean, value: unknown): void {
    const flags = this.flags;
    const to = flags & TO_MASK;
    const target = this.target;
    if (to === TO_FUNCTIONS) {
      this.clearTarget();
      (target as (value: unknown) => void)(ok ? value : rejectedWith(value));
      this.recycleDelivered();
      return;
    }
    if (to === TO_OWN) {
      this.deliverOwn(ok, value);
      return;
    }
    if (to === TO_WAKE) {
      this.clearTarget();
      if (ok) (target as Wake<unknown>).resolve(value);
      else (target as Wake<unknown>).reject(value);
      return;
    }
    if (to === TO_BATCH) {
      // The sink reads `index` (aux) while it settles; cleared after.
      (target as BatchSink).settled(this, ok, value);
      this.clearTarget();
      return;
    }
    if (to !== TO_NONE) return; // already holding an outcome
    this.setTarget(ok ? HELD_VALUE : HELD_ERROR, null, value);
  }

  /**
   * A call settled before its wait began holds its outcome: hand it to the waiter described by
   * (to, target, aux) now, and return true; false if it holds none.
   */
  private handOverHeld(to: number, target: unknown, aux: unknown): boolean {
    const held = this.flags & TO_MASK;
    if (held !== HELD_VALUE && held !== HELD_ERROR) return false;
    const value = this.aux;
    this.setTarget(to, target, aux);
    this.deliver(held === HELD_VALUE, value);
    return true;
  }
}
