// pg/session.ts
//
// One connection's PgConnection (proto-pg's sans-IO protocol object), as the engine drives it:
// each PgCall is encoded as its protocol messages ending with a Sync, so that every call is
// answered by exactly one ReadyForQuery and calls pipeline freely; the server's messages fill
// the call at the head of the session's queue, and its ReadyForQuery settles it.
//
// Invariants:
// - Calls are answered in the order they were written; `inFlight` holds them, head first.
//   Every call's messages end with Sync, so an error skips only to that call's own Sync: the
//   calls pipelined behind it are not affected (the server's "recovery to the next Sync").
// - A call settles at its ReadyForQuery: with its result, or with the first error the server
//   sent for it (a PgError); a call abandoned meanwhile ('pending') ends with its abandonment's
//   error instead (the engine sees to that).
// - Parameters are encoded when the call is written: for a statement whose ParameterDescription
//   is known, for the declared types (binary where the codec can); otherwise as text inferred
//   from the values, which the server parses for the types it infers. A value that cannot be
//   encoded fails that call alone, before any of its bytes are written.
// - An abandoned written call is cancelled on the server: when it is the one running, at once
//   (a CancelRequest on a connection of its own: SessionSink.sendAside); when it waits behind
//   others, as soon as it starts (when the call before it is answered). The connection stays
//   in use: the server answers the cancelled query with an error (57014) and ReadyForQuery.
//
// - While a CancelRequest is on its way (from sendAside until the server closed its short
//   connection), nothing more is written on this connection: calls made meanwhile are encoded
//   and held back, and go out once it is over (sendAside's `done`).
//
// Discussion: the cancel race. A CancelRequest names a server process, not a query: if the
// query ended before the request arrived, the server cancels whatever that process runs then
// (libpq, pg and postgres.js share this race). The server signals the process before it closes
// the cancel connection, and a process that gets the signal while it waits for a command
// ignores it; so holding our writes until that close means no call written after the cancel
// can be hit. What stays exposed: a call already pipelined behind the cancelled one, when the
// cancelled one ended before the request arrived (the window is the request's trip). We never
// send a request for a call that is not the one running by our count.

import { NEED_DATA, PgAuthenticationError, PgConnection, PgDataRow, PgError, TypeRegistry } from '@curio-ts/proto-pg';
import type { PgConnectionOptions, PgErrorFields, PgEvent } from '@curio-ts/proto-pg';
import { AuthenticationFailedError, ClientError, ConnectionError } from '../errors.js';
import type { AbandonResult, ProtocolSession, SessionSink } from '../engine/adapter.js';
import type { PgCall } from './call.js';
import type { PgField, PgResult } from './result.js';
import { StatementCache } from './statements.js';
import type { PreparedStatement } from './statements.js';
import { rowBuilder } from './rows.js';

/** What the main connection reports besides responses: notifications and notices. */
export type PgSessionEvent =
  | { readonly type: 'notification'; readonly processId: number; readonly channel: string; readonly payload: string }
  | { readonly type: 'notice'; readonly notice: PgErrorFields }
  | { readonly type: 'parameter-status'; readonly name: string; readonly value: string };

/** What a session needs besides the call. */
export interface PgSessionOptions {
  /** Most statements kept per connection (0: every query is unnamed). */
  readonly statementCacheSize: number;
  /** The codecs. */
  readonly types: TypeRegistry;
}

/** The SQLSTATE of "cached plan must not change result type" (feature_not_supported). */
const PLAN_CHANGED = '0A000';

/** One connection's Postgres session. */
export class PgSession implements ProtocolSession<PgCall, PgSessionEvent> {
  private connection: PgConnection | null = null;
  private readonly statements: StatementCache;
  /** Written calls not yet answered, head first. */
  private inFlight: PgCall[] = [];
  private head = 0;
  private nextId = 0;
  /** Reading paused at the SSL answer, until the TLS upgrade is done. */
  private resumeAfterSsl: (() => void) | null = null;
  /** How the server authenticated us (the 'authenticated' event). */
  private authMethod: string | null = null;
  /** The FATAL error the server sent while no call was waiting (it closes next). */
  private fatal: PgError | null = null;
  /** Statements to close before the next call's Sync. */
  private readonly closing: PreparedStatement[] = [];
  /** CancelRequests sent and not over yet: writes are held back meanwhile (see the header). */
  private cancelsInFlight = 0;

  constructor(private readonly options: PgSessionOptions) {
    this.statements = new StatementCache(options.statementCacheSize);
  }

  /** Make the protocol object (the handshake does, once it knows the password). */
  open(options: PgConnectionOptions): void {
    this.connection = new PgConnection(options);
  }

  /** The protocol object (after `open`). */
  get protocolObject(): PgConnection {
    const connection = this.connection;
    if (connection === null) throw new ClientError('the session is not open', 'ERR_PG_NOT_OPEN');
    return connection;
  }

  /** 'I' idle, 'T' in a transaction block, 'E' in a failed one (from the last ReadyForQuery). */
  get transactionStatus(): 'I' | 'T' | 'E' {
    return this.connection?.transactionStatus ?? 'I';
  }

  /** The server's parameters (server_version, TimeZone...). */
  get serverParameters(): ReadonlyMap<string, string> {
    return this.connection?.parameters ?? new Map();
  }

  /** How the server authenticated this connection ('trust', 'md5', 'SCRAM-SHA-256-PLUS'...), once it did. */
  get authenticationMethod(): string | null {
    return this.authMethod;
  }

  /** The server process of this connection (for pg_terminate_backend, logs), or 0. */
  get processId(): number {
    return this.connection?.backendKey?.processId ?? 0;
  }

  /** How many statements this connection keeps prepared. */
  get preparedCount(): number {
    return this.statements.size;
  }

  /** Let the reader go on after the TLS upgrade (or after a refused SSLRequest). */
  resumeReading(): void {
    const resume = this.resumeAfterSsl;
    this.resumeAfterSsl = null;
    resume?.();
  }

  // -------------------------------------------------------------------------------------------
  // ProtocolSession

  send(call: PgCall): number {
    const connection = this.protocolObject;
    const state = connection.state;
    if (state === 'closing' || state === 'closed' || state === 'broken') {
      // The server said it closes this connection (a FATAL while idle: terminated, shutting
      // down): the call fails as on a lost connection (nothing of it was sent).
      const reason = this.fatal;
      throw new ConnectionError(`the server is closing this connection${reason === null ? '' : `: ${reason.message}`}`, 'ERR_CONNECTION_CLOSED', reason === null ? undefined : { cause: reason });
    }
    switch (call.kind) {
      case 'ssl':
        connection.requestSsl();
        break;
      case 'startup':
        connection.startup();
        break;
      case 'query':
        this.sendQuery(connection, call);
        break;
      case 'simple':
        call.results = [];
        connection.query(call.text);
        break;
      case 'cursor-fetch':
        connection.execute(call.portal, call.maxRows);
        connection.sync();
        break;
      case 'copy-in':
      case 'copy-out':
        connection.query(call.text);
        break;
      default: {
        const never: never = call.kind;
        throw new Error(`unknown call kind ${String(never)}`);
      }
    }
    call.id = ++this.nextId;
    this.inFlight.push(call);
    return call.id;
  }

  get hasDataToSend(): boolean {
    return this.cancelsInFlight === 0 && (this.connection?.hasDataToSend ?? false);
  }

  dataToSend(): Uint8Array | null {
    if (this.cancelsInFlight > 0) return null;
    return this.connection?.dataToSend() ?? null;
  }

  receive(chunk: Uint8Array, sink: SessionSink<PgCall, PgSessionEvent>): void {
    const connection = this.protocolObject;
    connection.receiveData(chunk);
    try {
      for (;;) {
        const event = connection.nextEvent();
        if (event === NEED_DATA) return;
        // Rows first, told apart by their class: `event.type` is a megamorphic load (events
        // have many shapes), paid per row otherwise.
        if (event instanceof PgDataRow) {
          this.dataRow(event);
          continue;
        }
        if (event.type === 'closed') return;
        this.dispatch(event, sink);
        if (this.resumeAfterSsl !== null) return; // the rest is TLS: read again after the upgrade
      }
    } catch (error) {
      // An authentication the client refused keeps its own code (the engine closes the
      // connection, as for any protocol violation).
      if (error instanceof PgAuthenticationError) throw new AuthenticationFailedError(error.message, error.code, { cause: error });
      throw error;
    }
  }

  abandon(call: PgCall, sink: SessionSink<PgCall, PgSessionEvent>): AbandonResult {
    // A handshake step, or a COPY (its data is half sent or half read): the connection goes.
    if (call.kind === 'ssl' || call.kind === 'startup' || call.kind === 'copy-in' || call.kind === 'copy-out') return 'close';
    if (this.inFlight[this.head] === call) this.cancelRunning(sink);
    else call.cancelWhenStarted = true;
    return 'pending';
  }

  // -------------------------------------------------------------------------------------------

  private cancelRunning(sink: SessionSink<PgCall, PgSessionEvent>): void {
    const connection = this.connection;
    if (connection === null || connection.backendKey === null) return;
    this.cancelsInFlight++;
    sink.sendAside(connection.cancelRequest(), () => this.cancelsInFlight--);
  }

  /** Encode a query by the extended protocol (see the file header and statements.ts). */
  private sendQuery(connection: PgConnection, call: PgCall): void {
    const types = this.options.types;
    let statement: PreparedStatement | null | undefined = call.prepare && call.portal === '' ? this.statements.get(call.text) : null;
    const params = call.params;
    const encoded: (string | Uint8Array | null)[] = new Array<string | Uint8Array | null>(params.length);
    let formats: number[] | undefined;
    const declared = statement?.paramTypes ?? null;
    for (let i = 0; i < params.length; i++) {
      const value = types.encodeParam(params[i], declared === null ? 0 : (declared[i] ?? 0));
      encoded[i] = value;
      if (value instanceof Uint8Array) (formats ??= new Array<number>(params.length).fill(0))[i] = 1;
    }
    if (call.prepare && call.portal === '' && statement === undefined) {
      statement = this.statements.add(call.text, (victim) => this.closing.push(victim));
      for (const victim of this.closing.splice(0)) connection.close('S', victim.name);
      if (statement !== null) {
        connection.parse(statement.name, call.text, paramTypesOf(types, params));
        connection.describe('S', statement.name);
        call.parses = true;
      }
    }
    if (call.portal !== '') {
      // A cursor's first batch: a named portal (it lives until the transaction ends), executed
      // for at most maxRows rows; later batches are 'cursor-fetch' calls.
      connection.parse('', call.text, paramTypesOf(types, params));
      connection.bind(call.portal, '', encoded, formats);
      connection.describe('P', call.portal);
      connection.execute(call.portal, call.maxRows);
      connection.sync();
      return;
    }
    if (statement === null || statement === undefined) {
      connection.parse('', call.text, paramTypesOf(types, params));
      connection.bind('', '', encoded, formats);
      connection.describe('P', '');
    } else {
      statement.users++;
      call.statement = statement;
      const resultFormats = statement.resultFormats;
      if (resultFormats !== null) {
        call.fields = statement.fields;
        call.decoders = statement.decoders;
      }
      connection.bind('', statement.name, encoded, formats, resultFormats ?? undefined);
    }
    connection.execute('', 0);
    connection.sync();
  }

  /** The call whose answer is being received. */
  private current(): PgCall | undefined {
    return this.inFlight[this.head];
  }

  private dispatch(event: PgEvent, sink: SessionSink<PgCall, PgSessionEvent>): void {
    switch (event.type) {
      case 'data-row':
        this.dataRow(event);
        return;
      case 'command-complete': {
        const call = this.current();
        if (call === undefined) return;
        if (call.kind === 'simple') this.endSimpleResult(call, event.command, event.rowCount ?? 0);
        else {
          call.command = event.command;
          call.rowCount = event.rowCount ?? 0;
        }
        return;
      }
      case 'ready':
        this.settleHead(event.status, sink);
        return;
      case 'row-description': {
        const call = this.current();
        if (call === undefined) return;
        const fields = event.fields.slice();
        const statement = call.statement;
        if (statement !== null && call.parses) this.learnFields(statement, fields);
        call.fields = fields;
        call.decoders = fields.map((field) => this.options.types.decoder(field.typeOid, field.format === 1 ? 1 : 0));
        if (call.kind === 'simple') call.rows = [];
        return;
      }
      case 'no-data': {
        const call = this.current();
        if (call === undefined) return;
        if (call.statement !== null && call.parses) this.learnFields(call.statement, []);
        call.fields = [];
        call.decoders = [];
        return;
      }
      case 'parameter-description': {
        const statement = this.current()?.statement;
        if (statement !== undefined && statement !== null) statement.paramTypes = event.typeOids;
        return;
      }
      case 'error': {
        const call = this.current();
        if (call === undefined) {
          // An error outside any call (the server is shutting this connection down): the end
          // of the stream follows, and the engine reports the loss.
          if (isFatal(event.error)) this.fatal = event.error;
          return;
        }
        if (call.error === null) call.error = event.error;
        if (isFatal(event.error)) {
          // The server closes the connection next (authentication refused, the backend
          // terminated): no ReadyForQuery will come, so the call ends now with the server's
          // reason; the engine reports the loss to the others.
          this.takeHead(sink)?.fail(event.error);
          return;
        }
        if (call.parses && call.statement !== null && call.statement.textFields === null) {
          // The Parse (or the Describe) failed: the statement does not exist on the server.
          call.statement.failed = event.error;
          this.statements.remove(call.statement);
        }
        return;
      }
      case 'empty-query': {
        const call = this.current();
        if (call !== undefined && call.kind === 'simple') this.endSimpleResult(call, '', 0);
        return;
      }
      case 'portal-suspended': {
        const call = this.current();
        if (call !== undefined) call.suspended = true;
        return;
      }
      case 'copy-in-response': {
        const call = this.current();
        if (call?.kind === 'copy-in') call.copy?.copyIn?.();
        // COPY FROM STDIN sent by query(): refuse it, the server answers with an error and
        // the connection goes on.
        else this.protocolObject.copyFail('COPY FROM STDIN runs with copyFrom(), not query()');
        return;
      }
      case 'copy-data': {
        const call = this.current();
        call?.copy?.copyData?.(event.data.slice(), () => sink.pauseReading());
        return;
      }
      case 'ssl-response': {
        // The server answered the SSLRequest: read nothing more until the upgrade (the next
        // bytes are TLS), then settle the call with whether it agreed.
        this.resumeAfterSsl = sink.pauseReading();
        const call = this.takeHead(sink);
        call?.resolve(event.accepted);
        return;
      }
      case 'authenticated':
        this.authMethod = event.method;
        return;
      case 'notification':
        sink.event({ type: 'notification', processId: event.processId, channel: event.channel, payload: event.payload });
        return;
      case 'notice':
        sink.event({ type: 'notice', notice: event.notice });
        return;
      case 'parameter-status':
        sink.event({ type: 'parameter-status', name: event.name, value: event.value });
        return;
      default:
        // parse-complete, bind-complete, close-complete, backend-key-data,
        // negotiate-protocol-version, copy-out-response (COPY TO STDOUT by query(): its data
        // is dropped), copy-done, copy-both-response: the
        // protocol object keeps what they say; nothing to settle.
        return;
    }
  }

  /** A DataRow: a row of the result being received, built by the result's builder (rows.ts). */
  private dataRow(event: PgDataRow): void {
    const call = this.current();
    if (call === undefined || call.error !== null) return;
    let build = call.build;
    if (call.builtFor !== call.decoders || build === null) {
      // The first row of a result: its builder, made once.
      if (call.decoders === null) fieldsFromStatement(call);
      const decoders = call.decoders;
      const fields = call.fields;
      if (decoders === null || fields === null) {
        call.error = new ClientError('a DataRow came before its RowDescription', 'ERR_PG_PROTOCOL');
        return;
      }
      build = call.build = rowBuilder(fields, decoders, call.rowMode);
      call.builtFor = decoders;
    }
    try {
      call.rows.push(build(event));
    } catch (error) {
      call.error = error as Error;
    }
  }

  /** One statement of a simple query ended: keep its result, start the next. */
  private endSimpleResult(call: PgCall, command: string, rowCount: number): void {
    (call.results ??= []).push({ rows: call.rows as PgResult['rows'], fields: call.fields ?? [], command, rowCount });
    call.rows = [];
    call.fields = null;
    call.decoders = null;
  }

  /** A statement's Describe came: keep its fields and what later executions ask for. */
  private learnFields(statement: PreparedStatement, fields: PgField[]): void {
    const types = this.options.types;
    statement.textFields = fields;
    statement.textDecoders = fields.map((field) => types.decoder(field.typeOid, 0));
    const formats = fields.map((field) => types.resultFormat(field.typeOid));
    statement.resultFormats = formats;
    statement.fields = fields.map((field, i) => ({ ...field, format: formats[i] as 0 | 1 }));
    statement.decoders = fields.map((field, i) => types.decoder(field.typeOid, formats[i] as 0 | 1));
  }

  /** Take the head call off the session's queue and the engine's. */
  private takeHead(sink: SessionSink<PgCall, PgSessionEvent>): PgCall | null {
    const call = this.inFlight[this.head];
    if (call === undefined) return null;
    this.inFlight[this.head] = undefined as unknown as PgCall;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.inFlight.length) {
      this.inFlight = this.inFlight.slice(this.head);
      this.head = 0;
    }
    if (call.statement !== null) call.statement.users--;
    const next = this.inFlight[this.head];
    if (next !== undefined && next.cancelWhenStarted) this.cancelRunning(sink);
    return sink.take(call.id);
  }

  /** ReadyForQuery: the head call is answered. */
  private settleHead(status: 'I' | 'T' | 'E', sink: SessionSink<PgCall, PgSessionEvent>): void {
    const head = this.inFlight[this.head];
    if (head === undefined) return; // the ReadyForQuery that ends the startup without a call
    const call = this.takeHead(sink);
    if (call === null) return;
    const error = call.error;
    if (error === null) {
      call.resolve(resultOf(call));
      return;
    }
    const statement = call.statement;
    const failedParse = statement?.failed;
    if (error instanceof PgError && error.code === PLAN_CHANGED && statement !== null && !call.parses && status === 'I' && !call.retried && call.state === 'written') {
      // "cached plan must not change result type": the table changed under the statement.
      // Outside a transaction nothing ran: prepare it again and send the query again.
      this.statements.remove(statement);
      this.closing.push(statement);
      call.reset();
      call.retried = true;
      sink.resubmit(call);
      return;
    }
    call.fail(failedParse !== null && failedParse !== undefined && !call.parses ? failedParse : error);
  }
}

/**
 * A call bound to a statement before its Describe came (a query pipelined behind the one that
 * parses it) was sent without result formats, so its rows are text: take the statement's text
 * fields.
 */
function fieldsFromStatement(call: PgCall): void {
  const statement = call.statement;
  if (statement === null || statement.textFields === null) return;
  call.fields = statement.textFields;
  call.decoders = statement.textDecoders;
}

/** An ErrorResponse after which the server closes the connection. */
function isFatal(error: PgError): boolean {
  const severity = error.severityName ?? error.severity;
  return severity === 'FATAL' || severity === 'PANIC';
}

/** The result a query settles with. */
function resultOf(call: PgCall): unknown {
  if (call.kind === 'simple') return call.results ?? [];
  if (call.kind === 'ssl' || call.kind === 'startup') return undefined;
  if (call.fields === null) fieldsFromStatement(call);
  const result: PgResult<unknown> = { rows: call.rows, fields: call.fields ?? [], command: call.command, rowCount: call.rowCount };
  if (call.portal !== '') return { result, suspended: call.suspended };
  return result;
}

/** The parameter types to declare in Parse: only what the values say (see statements.ts). */
function paramTypesOf(types: TypeRegistry, params: readonly unknown[]): number[] | undefined {
  let declared: number[] | undefined;
  for (let i = 0; i < params.length; i++) {
    const oid = types.inferType(params[i]);
    if (oid !== 0) (declared ??= new Array<number>(params.length).fill(0))[i] = oid;
  }
  return declared;
}


