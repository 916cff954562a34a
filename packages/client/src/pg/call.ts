// pg/call.ts
//
// One Postgres request on its way through the engine: a PgCall (an EngineCall) per query, per
// step of a cursor or COPY, and per step of the handshake. It carries what the session needs
// to encode it and collects its result while the server's messages arrive (the session fills
// `result`, and settles the call at its ReadyForQuery).

import type { PgError } from '@curio-ts/proto-pg';
import { EngineCall } from '../engine/call.js';
import type { CallOwner } from '../engine/call.js';
import type { PgField, PgResult, PgRowMode } from './result.js';
import type { RowBuilder } from './rows.js';
import type { PgDecoder, PreparedStatement } from './statements.js';

/**
 * What a call asks of the server:
 * - 'query': one statement by the extended protocol (Parse when not cached, Bind, Execute, Sync);
 * - 'simple': a simple Query (several statements, no parameters): one result per statement;
 * - 'ssl': SSLRequest (handshake); 'startup': StartupMessage and authentication (handshake);
 * - 'cursor-fetch': Execute of a named portal with a row limit, then Sync (see PgClient.cursor);
 * - 'copy-in', 'copy-out': a simple Query that starts COPY FROM STDIN / TO STDOUT (see copy.ts).
 */
export type PgCallKind = 'query' | 'simple' | 'ssl' | 'startup' | 'cursor-fetch' | 'copy-in' | 'copy-out';

/** What a COPY call tells its driver (copy.ts) while the server's messages arrive. */
export interface PgCopyHandler {
  /** The server waits for our data (CopyInResponse). */
  copyIn?(): void;
  /** Data from the server (a copy of it); `pause` stops reading until the returned function is called. */
  copyData?(data: Uint8Array, pause: () => () => void): void;
}

/** A Postgres request on its way. */
export class PgCall extends EngineCall {
  /** The SQL text (empty for handshake calls). */
  text: string;
  /** Parameter values, not yet encoded. */
  params: readonly unknown[];
  /** What the call asks (see PgCallKind). */
  readonly kind: PgCallKind;
  /** Rows as objects or arrays. */
  readonly rowMode: PgRowMode;
  /** Use the connection's prepared-statement cache. */
  readonly prepare: boolean;
  /** The cached statement it executes (set by the session when sent). */
  statement: PreparedStatement | null = null;
  /** Whether this call's messages include the Parse of `statement`. */
  parses = false;
  /** Fields of the result being received. */
  fields: PgField[] | null = null;
  /** Decoders per column of the result being received. */
  decoders: PgDecoder[] | null = null;
  /** The row builder of the result being received, and the decoders it was made for (rows.ts). */
  build: RowBuilder | null = null;
  builtFor: PgDecoder[] | null = null;
  /** Rows received so far. */
  rows: unknown[] = [];
  /** Command tag and row count, once CommandComplete came. */
  command = '';
  rowCount = 0;
  /** Every result of a simple query, in order. */
  results: PgResult[] | null = null;
  /** The first error the server sent for this call. */
  error: PgError | Error | null = null;
  /** For COPY calls: who hears the copy's progress. */
  copy: PgCopyHandler | null = null;
  /** Sent again once after "cached plan must not change result type". */
  retried = false;
  /** Abandoned while waiting behind others: cancel on the server when it starts (see session.ts). */
  cancelWhenStarted = false;
  /** For 'cursor-fetch': the portal, and the most rows per fetch. */
  portal = '';
  maxRows = 0;
  /** For 'cursor-fetch': the server suspended the portal (more rows remain). */
  suspended = false;

  constructor(
    kind: PgCallKind,
    text: string,
    params: readonly unknown[],
    rowMode: PgRowMode,
    prepare: boolean,
    owner: CallOwner | null,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    exclusive = false,
  ) {
    super(kind === 'query' || kind === 'simple' ? 'query' : kind, false, exclusive, owner, timeout, signal, null);
    this.kind = kind;
    this.text = text;
    this.params = params;
    this.rowMode = rowMode;
    this.prepare = prepare;
  }

  /** Forget what a previous attempt received (before it is sent again). */
  reset(): void {
    this.forgetReceived([]);
  }

  /** Forget the statement and what was received; `rows` are the rows from now on. */
  private forgetReceived(rows: unknown[]): void {
    this.statement = null;
    this.parses = false;
    this.fields = null;
    this.decoders = null;
    this.build = null;
    this.builtFor = null;
    this.rows = rows;
    this.command = '';
    this.rowCount = 0;
    this.results = null;
    this.error = null;
  }

  /**
   * Make a recycled call a new plain query (see EngineCall.renew and "Discussion: recycling"):
   * as the constructor with kind 'query', no signal.
   */
  renewQuery(text: string, params: readonly unknown[], rowMode: PgRowMode, prepare: boolean, timeout: number | undefined): void {
    this.renew('query', false, null, 0, timeout);
    this.text = text;
    this.params = params;
    (this as { rowMode: PgRowMode }).rowMode = rowMode;
    (this as { prepare: boolean }).prepare = prepare;
    this.reset();
    this.copy = null;
    this.retried = false;
    this.cancelWhenStarted = false;
    this.portal = '';
    this.maxRows = 0;
    this.suspended = false;
  }

  /** Handed back to be made anew: it keeps nothing of the caller's (the rows went with the result). */
  protected override released(): void {
    this.text = '';
    this.params = NO_PARAMS;
    this.forgetReceived(NO_PARAMS as unknown[]);
    super.released();
  }
}

/** What a recycled call holds until it is made anew (never written to: `reset` gives a new array). */
const NO_PARAMS: readonly unknown[] = Object.freeze([]);
