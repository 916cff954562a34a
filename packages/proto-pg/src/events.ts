// events.ts
//
// What `PgConnection.nextEvent()` hands out: one plain object per backend message that means
// something to the caller, discriminated on `type`, plus the events the object makes itself
// ('skipped' for a queued message the server skipped after an error, 'closed' at the end of the
// stream). Messages answered inside the object (authentication requests) make no event.
//
// Every event but 'data-row' is a fresh immutable object. The 'data-row' event is one
// PgDataRow per connection, reused: it describes a row in place (the received bytes and where
// each column lies in them) and is valid only until the next `nextEvent()` call.

import type { PgError, PgErrorFields } from './errors.js';

/** A message the frontend sent that the server answers (the queue `skipped` and `during` refer to). */
export type PgMessageKind = 'query' | 'parse' | 'bind' | 'describe-statement' | 'describe-portal' | 'execute' | 'close' | 'sync';

/** A field of a RowDescription. */
export interface PgField {
  readonly name: string;
  /** OID of the table the column comes from, or 0. */
  readonly tableOid: number;
  /** Attribute number of the column in that table, or 0. */
  readonly column: number;
  readonly typeOid: number;
  /** pg_type.typlen (negative: variable width). */
  readonly typeSize: number;
  /** pg_attribute.atttypmod (type-specific, -1 when none). */
  readonly typeModifier: number;
  /** 0 text, 1 binary (in a Describe answer for a statement, always 0: not known yet). */
  readonly format: number;
}

/**
 * One DataRow, in place: column `i` is `bytes[start(i), end(i))`, or NULL when `start(i)` is
 * -1. One object per connection, refilled for every row: read it before calling `nextEvent()`
 * again (copy what you keep). `bytes` is one of the chunks given to `receiveData` (or a
 * buffer the object assembled a cut message in); no subarray is made per row or column.
 */
export class PgDataRow {
  readonly type = 'data-row' as const;
  /** The bytes the columns lie in. */
  bytes: Uint8Array = new Uint8Array(0);
  /** Number of columns. */
  columnCount = 0;
  /** `offsets[2i]` is where column i starts (-1: NULL), `offsets[2i + 1]` where it ends. */
  offsets: Int32Array = new Int32Array(32);

  /** Where column `i` starts in `bytes`, or -1 when it is NULL. */
  start(i: number): number {
    return this.offsets[2 * i] as number;
  }

  /** Where column `i` ends in `bytes` (-1 when NULL). */
  end(i: number): number {
    return this.offsets[2 * i + 1] as number;
  }

  /** Whether column `i` is NULL. */
  isNull(i: number): boolean {
    return this.offsets[2 * i] === -1;
  }

  /** Column `i` as a copy of its bytes, or null (a convenience: copies). */
  value(i: number): Uint8Array | null {
    const start = this.offsets[2 * i] as number;
    return start === -1 ? null : this.bytes.slice(start, this.offsets[2 * i + 1] as number);
  }

  /** Column `i` decoded as UTF-8 text, or null (a convenience: makes a string). */
  text(i: number): string | null {
    const start = this.offsets[2 * i] as number;
    return start === -1 ? null : utf8.decode(this.bytes.subarray(start, this.offsets[2 * i + 1] as number));
  }
}

const utf8 = new TextDecoder();

/** Every event of a PgConnection. */
export type PgEvent =
  /** The server's answer to SSLRequest: 'S' (upgrade the stream to TLS now, then startup()) or 'N'. */
  | { readonly type: 'ssl-response'; readonly accepted: boolean }
  /** AuthenticationOk: the server accepted us (the method was answered inside the object). */
  | { readonly type: 'authenticated'; readonly method: 'trust' | 'cleartext' | 'md5' | 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS' }
  | { readonly type: 'parameter-status'; readonly name: string; readonly value: string }
  | { readonly type: 'backend-key-data'; readonly processId: number; readonly secretKey: number }
  /**
   * The server does not know the minor version or some `_pq_.` options we asked for:
   * `protocolVersion` as it sent it (major << 16 | minor; PostgreSQL sends the whole number),
   * `minorVersion` its low 16 bits.
   */
  | { readonly type: 'negotiate-protocol-version'; readonly protocolVersion: number; readonly minorVersion: number; readonly unrecognized: readonly string[] }
  /** ReadyForQuery: after the startup, a Sync or a simple query; the transaction status. */
  | { readonly type: 'ready'; readonly status: 'I' | 'T' | 'E' }
  | { readonly type: 'row-description'; readonly fields: readonly PgField[] }
  | PgDataRow
  /** CommandComplete: the tag ('INSERT 0 5'), its first word, and its row count (null when it has none). */
  | { readonly type: 'command-complete'; readonly tag: string; readonly command: string; readonly rowCount: number | null }
  | { readonly type: 'empty-query' }
  /**
   * An ErrorResponse. `during` is the sent message it answers ('startup' during startup, null
   * when none was waiting: a FATAL from a shutting-down server). After an extended-query
   * message's error the server skips every message up to the next Sync: each of those is
   * reported by a 'skipped' event before the 'ready' that answers the Sync.
   */
  | { readonly type: 'error'; readonly error: PgError; readonly during: PgMessageKind | 'startup' | null }
  /** A sent message the server skipped (it came after an error and before the next Sync). */
  | { readonly type: 'skipped'; readonly message: PgMessageKind; readonly name: string }
  | { readonly type: 'notice'; readonly notice: PgErrorFields }
  | { readonly type: 'notification'; readonly processId: number; readonly channel: string; readonly payload: string }
  | { readonly type: 'parse-complete' }
  | { readonly type: 'bind-complete' }
  | { readonly type: 'close-complete' }
  | { readonly type: 'no-data' }
  | { readonly type: 'parameter-description'; readonly typeOids: readonly number[] }
  /** Execute stopped at its row limit: execute the portal again for more. */
  | { readonly type: 'portal-suspended' }
  /** The server waits for CopyData (copyData / copyDone / copyFail). `format` 0 text, 1 binary. */
  | { readonly type: 'copy-in-response'; readonly format: number; readonly columnFormats: readonly number[] }
  | { readonly type: 'copy-out-response'; readonly format: number; readonly columnFormats: readonly number[] }
  | { readonly type: 'copy-both-response'; readonly format: number; readonly columnFormats: readonly number[] }
  /** CopyData from the server: a view of the received bytes (do not modify the chunks you fed). */
  | { readonly type: 'copy-data'; readonly data: Uint8Array }
  | { readonly type: 'copy-done' }
  /**
   * The stream ended (after every complete message was handed out); `unanswered` lists the
   * sent messages that got no answer. Handed out again if asked again.
   */
  | { readonly type: 'closed'; readonly unanswered: readonly PgMessageKind[] };

/** The `type` of every event. */
export type PgEventType = PgEvent['type'];
