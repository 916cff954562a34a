// pg/copy.ts
//
// COPY as streams, on a connection of its own (a pool lease, or the transaction's):
// - copyFrom(sql, source): `COPY ... FROM STDIN`; the source's chunks (bytes or strings, UTF-8)
//   are written as CopyData, each write awaited (the stream's backpressure: bounded memory),
//   then CopyDone. A source that throws sends CopyFail, and the source's error is thrown.
// - copyTo(sql): `COPY ... TO STDOUT` as an async iterable of chunks; reading from the server
//   pauses while more than COPY_OUT_HIGH chunks wait for the consumer.
//
// Invariants:
// - The copy's call settles at its ReadyForQuery: with the COPY's row count, or the server's
//   error. A COPY abandoned half way closes its connection (never given back mid-copy).
// - Nothing of a copy is retried.

import { InvalidArgumentError } from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { Wake } from '../runtime.js';
import type { PgCall } from './call.js';
import type { PgEngine, PgLease } from './client.js';
import type { PgResult } from './result.js';

/** Chunks waiting for the consumer beyond which reading from the server pauses. */
const COPY_OUT_HIGH = 16;

const utf8 = new TextEncoder();

/** A source of COPY data: bytes, or strings (sent as UTF-8). */
export type PgCopySource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** Run `COPY ... FROM STDIN` on `lease` with `source`; the number of rows copied. */
export async function copyFromOn(core: PgEngine, lease: PgLease, text: string, source: PgCopySource): Promise<number> {
  if (source === null || typeof source !== 'object' || (!(Symbol.asyncIterator in source) && !(Symbol.iterator in source))) {
    throw new InvalidArgumentError('copyFrom needs an iterable of Uint8Array or string chunks', 'ERR_BAD_ARGUMENT');
  }
  const call = core.makeCall('copy-in', text, [], undefined) as PgCall;
  let ready: Wake<void> | null = null;
  let readyNow = false;
  call.copy = {
    copyIn: () => {
      readyNow = true;
      ready?.resolve();
    },
  };
  type Outcome = { readonly ok: true; readonly result: PgResult } | { readonly ok: false; readonly error: unknown };
  let settled: Outcome | null = null;
  const outcome: Promise<Outcome> = lease.perform<PgResult>(call).then(
    (result) => {
      settled = { ok: true, result };
      ready?.resolve();
      return settled;
    },
    (error: unknown) => {
      settled = { ok: false, error };
      ready?.resolve();
      return settled;
    },
  );
  // Until the server says it waits for data, or the call ends (an error in the statement).
  await core.runtime.wait<void>(
    'PG_COPY_IN',
    new FnWaiter<void>((wake) => {
      if (readyNow || settled !== null) wake.resolve();
      else ready = wake;
    }),
  );
  const early = settled as Outcome | null;
  if (early !== null) {
    if (early.ok) return early.result.rowCount;
    throw early.error;
  }
  const protocol = lease.session.protocolObject;
  let sourceError: unknown = null;
  try {
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      if (call.done) break; // the server ended the copy (an error): the rest is not wanted
      const bytes = typeof chunk === 'string' ? utf8.encode(chunk) : chunk;
      if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('copyFrom chunks must be Uint8Array or string', 'ERR_BAD_ARGUMENT');
      if (bytes.length === 0) continue;
      protocol.copyData(bytes);
      await lease.write();
    }
  } catch (error) {
    sourceError = error;
  }
  if (!call.done) {
    if (sourceError === null) protocol.copyDone();
    else protocol.copyFail(sourceError instanceof Error ? sourceError.message : String(sourceError));
    await lease.write().catch(() => {});
  }
  const final = await outcome;
  if (sourceError !== null) throw sourceError;
  if (!final.ok) throw final.error;
  return final.result.rowCount;
}

/** The chunks of a `COPY ... TO STDOUT` on `lease`, as they come (see the file header). */
export async function* copyToOn(core: PgEngine, lease: PgLease, text: string): AsyncGenerator<Uint8Array, number, undefined> {
  const call = core.makeCall('copy-out', text, [], undefined) as PgCall;
  const chunks: Uint8Array[] = [];
  /** Resumes reading from the server, while paused (set in a callback: a holder, not a narrowed let). */
  const paused: { resume: (() => void) | null } = { resume: null };
  let waiting: Wake<void> | null = null;
  const wakeUp = (): void => {
    const wake = waiting;
    waiting = null;
    wake?.resolve();
  };
  call.copy = {
    copyData: (data, pause) => {
      chunks.push(data);
      if (chunks.length > COPY_OUT_HIGH && paused.resume === null) paused.resume = pause();
      wakeUp();
    },
  };
  let finished = false;
  let result: { ok: true; rows: number } | { ok: false; error: unknown } | null = null;
  lease.perform<PgResult>(call).then(
    (value) => {
      result = { ok: true, rows: value.rowCount };
      wakeUp();
    },
    (error: unknown) => {
      result = { ok: false, error };
      wakeUp();
    },
  );
  try {
    for (;;) {
      const chunk = chunks.shift();
      if (chunk !== undefined) {
        const go = paused.resume;
        if (go !== null && chunks.length <= COPY_OUT_HIGH / 2) {
          paused.resume = null;
          go();
        }
        yield chunk;
        continue;
      }
      const outcome = result as { ok: true; rows: number } | { ok: false; error: unknown } | null;
      if (outcome !== null) {
        finished = true;
        if (outcome.ok) return outcome.rows;
        throw outcome.error;
      }
      await core.runtime.wait<void>(
        'PG_COPY_OUT',
        new FnWaiter<void>((wake) => {
          waiting = wake;
        }),
      );
    }
  } finally {
    // Reading resumes whatever happens: a copy whose whole answer came in one read (PGlite) is
    // done while reading is still paused for the consumer, and its connection is reused.
    paused.resume?.();
    paused.resume = null;
    // Left early: the rest of the copy is unwanted; the connection cannot be reused mid-copy.
    if (!finished && !call.done) lease.discard();
  }
}
