// threads/universal-common.ts
//
// What UniversalQueue and UniversalEvent share: their transferable handles, the per-thread
// registry that gives one object per id per thread, the options and errors of their calls,
// the queue's wire format between a remote copy and the owner, and small helpers.

import { threadId } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { KernelUsageError } from '../errors.js';
import { WorkerError } from './errors.js';

/** The transferable form of a UniversalQueue; see `UniversalQueue.handle()`. */
export interface UniversalQueueHandle {
  readonly __curio: 'uq';
  readonly id: string;
  readonly maxsize: number;
  /** Null in the form AWAIT operations use to name a queue the kernel's thread holds. */
  readonly port: MessagePort | null;
  readonly flag: SharedArrayBuffer | null;
  readonly size: SharedArrayBuffer;
}

/** The transferable form of a UniversalEvent; see `UniversalEvent.handle()`. */
export interface UniversalEventHandle {
  readonly __curio: 'ue';
  readonly id: string;
  readonly flag: SharedArrayBuffer;
}

let lastLocalId = 0;
/** A new id, unique in the process. */
export function newId(): string {
  return `${process.pid}.${threadId}.${++lastLocalId}`;
}

/** Universal objects this thread holds, by id: one object per id per thread. */
const registry = new Map<string, WeakRef<object>>();
const forget = new FinalizationRegistry<string>((id) => {
  const ref = registry.get(id);
  if (ref !== undefined && ref.deref() === undefined) registry.delete(id);
});
/** Record `object` as this thread's UniversalQueue or UniversalEvent `id` (held weakly). */
export function remember(id: string, object: object): void {
  registry.set(id, new WeakRef(object));
  forget.register(object, id);
}

/** The universal object this thread holds under `id`, if any. */
export function lookupUniversal(id: string): object | undefined {
  return registry.get(id)?.deref();
}

/** Options of the blocking forms (`getSync`, `putSync`, `waitSync`). */
export interface SyncOptions {
  /** Give up after this many milliseconds with a {@link UniversalTimeout}. */
  timeout?: number;
}

/** Options of the async forms when called from plain Promise code (kernel tasks are cancelled as usual). */
export interface AsyncOptions {
  /** Abort the wait; the Promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The error of a blocking call that would freeze the thread serving the object. */
export function wouldBlock(what: string): KernelUsageError {
  return new KernelUsageError(
    `${what} would block the thread that serves this object (its event loop answers the other threads); ` +
      'use the async form (await) here',
    'ERR_WOULD_BLOCK',
  );
}

/** What an aborted call rejects with. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** Atomics.waitAsync (Node 16+), missing from TypeScript's ES2023 library. */
type WaitAsyncResult =
  | { readonly async: false; readonly value: 'not-equal' | 'timed-out' }
  | { readonly async: true; readonly value: Promise<'ok' | 'timed-out'> };
export const waitAsync = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number): WaitAsyncResult })
  .waitAsync;

/** The timeout of a blocking call in ms (Infinity if none); TypeError if NaN. */
export function checkTimeout(options: SyncOptions | undefined): number {
  const timeout = options?.timeout;
  if (timeout === undefined) return Infinity;
  if (Number.isNaN(timeout)) throw new TypeError('timeout must be a number of milliseconds');
  return Math.max(0, timeout);
}

/** The owner of a queue is gone. */
export function ownerGone(): WorkerError {
  return new WorkerError('the thread that owns this UniversalQueue has exited', { code: 'ERR_QUEUE_OWNER_GONE' });
}

/** An item could not be copied to another thread. */
export function cloneFailure(cause: unknown): WorkerError {
  return new WorkerError('queue item cannot be copied to another thread (structured clone failed)', {
    code: 'ERR_WORKER_DATA_CLONE',
    cause,
  });
}

// ---------------------------------------------------------------------------------------------
// A queue's shared buffer
//
//   byte 0:  Int32   items held (the owner stores it; other threads read a recent value)
//   byte 4:  Int32   tickets: how many messages remote copies have sent the owner (wraps)
//   byte 8:  Uint64  unfinished items (low 32 bits) and their epoch (high 32 bits)
//
// Tickets: a remote copy takes the next ticket (Atomics.add) for every message it posts to the
// owner and sends it along. The owner compares the count of tickets with the count of messages
// it has taken from its ports to know, without a system call, whether anything is still in a
// port; and it handles messages of different ports in ticket order. See universal.ts.
//
// The unfinished count: items put and not yet marked done (low 32 bits) and how many times that
// number has come down to zero (high 32 bits: the epoch). A put adds 1 before it returns (a
// remote copy's unbounded put in its own thread, every other put in the owner when it accepts
// the item); taskDone in any thread takes 1 away with a compare-and-swap, so "too many taskDone
// calls" is caught at once, in the thread that made it. A join begun in epoch E is released once
// the epoch is no longer E: the count reached zero after it began, even if new items came since.

/** Byte offset of the ticket count in a queue's shared buffer. */
export const TICKETS_OFFSET = 4;
/** Byte offset of the unfinished-items word in a queue's shared buffer. */
export const COUNTER_OFFSET = 8;
/** Size of a queue's shared buffer (size, tickets, counter word). */
export const QUEUE_SHARED_BYTES = 16;
const COUNT_MASK = 0xffffffffn;

/** The ticket count of a queue's shared buffer. */
export function ticketsView(buffer: SharedArrayBuffer): Int32Array {
  return new Int32Array(buffer, TICKETS_OFFSET, 1);
}

/** Whether ticket `a` was taken before ticket `b` (tickets wrap around at 2^32). */
export function ticketBefore(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** The counter word of a queue's shared buffer. */
export function counterView(buffer: SharedArrayBuffer): BigUint64Array {
  return new BigUint64Array(buffer, COUNTER_OFFSET, 1);
}

/** Items put and not yet marked done. */
export function unfinishedCount(view: BigUint64Array): number {
  return Number(Atomics.load(view, 0) & COUNT_MASK);
}

/** The counter's epoch: how many times the count has come down to zero. */
export function counterEpoch(view: BigUint64Array): number {
  return Number(Atomics.load(view, 0) >> 32n);
}

/**
 * What a join begun now waits for: null if nothing is unfinished (it returns at once), else
 * the epoch whose end releases it. One read, so the count and its epoch agree.
 */
export function joinEpoch(view: BigUint64Array): number | null {
  const word = Atomics.load(view, 0);
  return (word & COUNT_MASK) === 0n ? null : Number(word >> 32n);
}

/** One more item put. */
export function addUnfinished(view: BigUint64Array): void {
  Atomics.add(view, 0, 1n);
}

/**
 * One item marked done. Returns true if the count came down to zero (joiners are due); throws
 * KernelUsageError `ERR_TASK_DONE` if no item was unfinished.
 */
export function finishOne(view: BigUint64Array): boolean {
  for (;;) {
    const word = Atomics.load(view, 0);
    const count = word & COUNT_MASK;
    if (count === 0n) throw new KernelUsageError('UniversalQueue.taskDone() called more times than items were put', 'ERR_TASK_DONE');
    const next = count === 1n ? ((word >> 32n) + 1n) << 32n : word - 1n;
    if (Atomics.compareExchange(view, 0, word, next) === word) return count === 1n;
  }
}

/** A settled Promise for calls that need not wait. */
export const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Wait from plain Promise code, abortable by a signal. `register(resolve, done)` adds a waiter
 * (which calls `done` then `resolve` when served) and returns how to withdraw it.
 */
export function promiseWait<V>(
  signal: AbortSignal | undefined,
  register: (resolve: (value: V) => void, done: () => void) => () => void,
): Promise<V> {
  if (signal?.aborted === true) return Promise.reject(abortReason(signal));
  return new Promise<V>((resolve, reject) => {
    const onAbort = (): void => {
      withdraw();
      reject(abortReason(signal as AbortSignal));
    };
    const withdraw = register(resolve, () => signal?.removeEventListener('abort', onAbort));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// The queue's wire format

/** Message kinds, remote copy to owner. */
export const OP_GET = 1;
export const OP_PUT = 2;
export const OP_CANCEL = 3;
export const OP_ATTACH = 4;
export const OP_JOIN = 5;
export const OP_ZERO = 6;

/** Answer kinds, owner to remote copy. */
export const R_ITEM = 0;
export const R_ADMITTED = 1;
export const R_WITHDRAWN = 2;
export const R_ERROR = 3;

/** A message's ticket (slot 1 of every message to the owner); see the shared buffer's notes. */
export type Ticket = number;

/**
 * A remote copy to the owner, each with its ticket: get; put (request id 0: an unbounded
 * queue's put, already counted as unfinished, never answered); cancel; attach a new copy; join
 * (with the epoch it waits out; answered with R_ADMITTED once the epoch has ended); and "the
 * count came down to zero here" (a taskDone in the remote thread: release the joiners).
 */
export type ToOwner =
  | [typeof OP_GET, Ticket, number, 0 | 1]
  | [typeof OP_PUT, Ticket, number, unknown, 0 | 1]
  | [typeof OP_CANCEL, Ticket, number]
  | [typeof OP_ATTACH, Ticket, MessagePort, SharedArrayBuffer]
  | [typeof OP_JOIN, Ticket, number, 0 | 1, number]
  | [typeof OP_ZERO, Ticket];

/** The owner to a remote copy: [request id, answer kind, value]. */
export type ToRemote = [number, number, unknown?];
