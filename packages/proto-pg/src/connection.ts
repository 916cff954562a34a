// connection.ts
//
// PgConnection: the frontend side of one PostgreSQL protocol 3.0 connection as a sans-IO
// object. Calls in (startup, query, parse, bind...), bytes out (`dataToSend()`); bytes in
// (`receiveData`), events out (`nextEvent()`). No sockets, timers or Promises: the caller does
// the IO (packages/client's Postgres client, on every runtime).
//
// Changes to the contract of /work/notes/pg-plan.md (pg-proto owns it):
// - Events added: 'closed' {unanswered} at the end of the stream; 'skipped' {message, name} for
//   each sent message the server skipped after an error (before the 'ready' of the Sync);
//   'error' carries `during` (the sent message it answers, 'startup', or null);
//   'authenticated' carries `method`. 'backend-key-data' has processId and secretKey.
// - The 'data-row' event is one reused PgDataRow per connection (events.ts): `bytes`,
//   `columnCount`, `start(i)` / `end(i)` (-1 = NULL), valid until the next nextEvent() call.
// - Query messages sent after startup() and before AuthenticationOk are held back and sent
//   once authentication succeeds (a driver may queue its first query with the startup).
// - A Sync sent behind an Execute that turns out to be COPY FROM STDIN is ignored by the
//   server (it ignores Sync and Flush in copy-in); the object sends it again after
//   copyDone() / copyFail() (or at once if the server ends the copy with an error), so that
//   every sync() still gets its 'ready'.
// - After an ErrorResponse ends a COPY FROM STDIN, copyData/copyDone/copyFail are accepted and
//   dropped (the server would drop them too), so a producer racing the error does not throw.
// - `options.maxScramIterations` bounds the PBKDF2 work a server may ask for.
// - `startup(channelBinding?)` takes the channel-binding data too: a driver knows the server's
//   certificate only after the TLS upgrade that follows requestSsl(), after the object exists.
// - `pendingCount` / `pendingMessages()` show the queue of sent messages waiting for answers.
// - State names: see state.ts.
//
// Invariants:
// - Every state change is a transition of PG_STATES (state.ts). A backend message the state
//   does not accept, or one that does not answer the message at the head of the queue of sent
//   messages, is a RemoteProtocolError; from then on receiveData / nextEvent throw that same
//   error and every send throws LocalProtocolError (ERR_PG_BROKEN). So does a
//   PgAuthenticationError.
// - Sent messages that the server answers (Query, Parse, Bind, Describe, Execute, Close, Sync)
//   wait in a FIFO; each backend message is matched against its head. Pipelining has no depth
//   limit here.
// - Authentication requests are answered inside the object (cleartext, MD5, SCRAM-SHA-256,
//   SCRAM-SHA-256-PLUS); a SCRAM server must prove it knows the password before
//   AuthenticationOk is believed.
// - Nothing here reads a clock or does IO; the object is a deterministic function of the calls
//   and bytes it was given (but for the random SCRAM nonce).

import { BodyCursor, decodeCommandComplete, decodeCopyResponse, decodeDataRow, decodeErrorFields, decodeParameterDescription, decodeRowDescription } from './backend.js';
import { LocalProtocolError, PgAuthenticationError, PgError, ProtocolError, RemoteProtocolError } from './errors.js';
import { PgDataRow } from './events.js';
import type { PgEvent, PgMessageKind } from './events.js';
import { FrontendWriter, encodeCancelRequest } from './frontend.js';
import type { PgParam } from './frontend.js';
import { MessageReader } from './reader.js';
import { ScramClient, md5Password, saslBytes, saslText } from './scram.js';
import { ACCEPTS, PG_STATES, nextState } from './state.js';
import type { PgInput, PgSendMode, PgState, PgStateRow } from './state.js';

/** No complete event is buffered: call `receiveData` with more bytes, then ask again. */
export const NEED_DATA: unique symbol = Symbol('NEED_DATA');
/** The type of {@link NEED_DATA}. */
export type NeedData = typeof NEED_DATA;

/** Options of a {@link PgConnection}. */
export interface PgConnectionOptions {
  readonly user: string;
  /** Database name (the server's default: the user name). */
  readonly database?: string;
  /** Password, for cleartext, MD5 and SCRAM authentication (null: none; asked for → error). */
  readonly password?: string | null;
  /** More startup parameters (application_name, options, search_path...); client_encoding defaults to UTF8. */
  readonly parameters?: Readonly<Record<string, string>>;
  /** tls-server-end-point hash of the server certificate: enables SCRAM-SHA-256-PLUS. */
  readonly channelBinding?: Uint8Array | null;
  /**
   * Authenticate only by SCRAM-SHA-256-PLUS (libpq's channel_binding=require): a cleartext or
   * MD5 request, a SCRAM exchange without channel binding (no TLS data, or a server that does
   * not offer it) and an AuthenticationOk without SASL (trust) throw PgAuthenticationError
   * ERR_PG_CHANNEL_BINDING_REQUIRED, before any password or proof is sent.
   */
  readonly requireChannelBinding?: boolean;
  /** Largest backend message accepted (its length field), default 128 MiB. */
  readonly maxMessageSize?: number;
  /** Largest SCRAM iteration count accepted (default 1 000 000). */
  readonly maxScramIterations?: number;
}

/** The transaction status of the last ReadyForQuery: idle, in a transaction, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E';

/** The backend's process id and cancel key (BackendKeyData). */
export interface BackendKey {
  readonly processId: number;
  readonly secretKey: number;
}

// Kinds of sent messages waiting for an answer.
const QUERY = 1;
const PARSE = 2;
const BIND = 3;
const DESCRIBE_STATEMENT = 4;
const DESCRIBE_PORTAL = 5;
const EXECUTE = 6;
const CLOSE = 7;
const SYNC = 8;
/** A Sync the server ignored because it arrived during COPY FROM STDIN (sent again later). */
const SYNC_IGNORED = 9;

const KIND_NAMES: readonly PgMessageKind[] = ['sync', 'query', 'parse', 'bind', 'describe-statement', 'describe-portal', 'execute', 'close', 'sync', 'sync'];

const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024;

const PARSE_COMPLETE: PgEvent = Object.freeze({ type: 'parse-complete' });
const BIND_COMPLETE: PgEvent = Object.freeze({ type: 'bind-complete' });
const CLOSE_COMPLETE: PgEvent = Object.freeze({ type: 'close-complete' });
const NO_DATA: PgEvent = Object.freeze({ type: 'no-data' });
const EMPTY_QUERY: PgEvent = Object.freeze({ type: 'empty-query' });
const PORTAL_SUSPENDED: PgEvent = Object.freeze({ type: 'portal-suspended' });
const COPY_DONE: PgEvent = Object.freeze({ type: 'copy-done' });
const READY: { readonly [S in TransactionStatus]: PgEvent } = {
  I: Object.freeze({ type: 'ready', status: 'I' }),
  T: Object.freeze({ type: 'ready', status: 'T' }),
  E: Object.freeze({ type: 'ready', status: 'E' }),
};

/**
 * The messages sent and not yet answered, in order: a ring of kind codes and a parallel ring
 * of names (statement or portal; '' for the unnamed ones). Nothing is allocated per message.
 */
class SentQueue {
  private kinds = new Uint8Array(64);
  /**
   * The names of queued messages that have one, by sequence number (most have none: the unnamed
   * portal and statement, Sync). Not an array beside `kinds`: a long pipeline would grow it to
   * one slot per message, and growing a large array is a fresh allocation that costs ~25 ns
   * per slot (page faults), more than the messages themselves.
   */
  private names: Map<number, string> | null = null;
  private head = 0;
  /** The sequence number of the head message (counts every message pushed). */
  private seq = 0;
  length = 0;

  push(kind: number, name: string): void {
    if (this.length === this.kinds.length) this.grow();
    this.kinds[(this.head + this.length) & (this.kinds.length - 1)] = kind;
    if (name !== '') (this.names ??= new Map()).set(this.seq + this.length, name);
    this.length++;
  }

  /** The kind at position `i` from the head (0 when there is none). */
  kindAt(i: number): number {
    return i < this.length ? (this.kinds[(this.head + i) & (this.kinds.length - 1)] as number) : 0;
  }

  setKindAt(i: number, kind: number): void {
    this.kinds[(this.head + i) & (this.kinds.length - 1)] = kind;
  }

  get headKind(): number {
    return this.length === 0 ? 0 : (this.kinds[this.head] as number);
  }

  get headName(): string {
    return this.names?.get(this.seq) ?? '';
  }

  shift(): void {
    const names = this.names;
    if (names !== null && names.size > 0) names.delete(this.seq);
    this.head = (this.head + 1) & (this.kinds.length - 1);
    this.seq++;
    this.length--;
  }

  list(): PgMessageKind[] {
    const out: PgMessageKind[] = [];
    for (let i = 0; i < this.length; i++) out.push(KIND_NAMES[this.kindAt(i)] as PgMessageKind);
    return out;
  }

  private grow(): void {
    const size = this.kinds.length;
    const kinds = new Uint8Array(size * 2);
    for (let i = 0; i < size; i++) kinds[i] = this.kinds[(this.head + i) & (size - 1)] as number;
    this.kinds = kinds;
    this.head = 0;
  }
}

/** The authentication step reached. */
type AuthStep = 'none' | 'sasl-first-sent' | 'sasl-final-sent' | 'sasl-verified';

/** What a state allows to send (PG_STATES' `send`), and whether a message sent moves it on. */
interface SendRule {
  readonly send: PgStateRow['send'];
  readonly moves: boolean;
}
const SEND_RULES = Object.fromEntries(
  Object.entries(PG_STATES).map(([state, row]) => [state, { send: row.send, moves: row.on.send !== undefined }]),
) as Record<PgState, SendRule>;

/** One PostgreSQL frontend connection, sans IO (see the file header). */
export class PgConnection {
  private current: PgState = 'initial';
  /** ACCEPTS of `current`, kept with it (a keyed lookup by state name per message is megamorphic). */
  private accepts: Uint8Array = ACCEPTS.initial;
  /** SEND_RULES of `current`, kept with it for the same reason (read by every message sent). */
  private sendRule: SendRule = SEND_RULES.initial;
  private readonly options: PgConnectionOptions;
  private readonly maxMessageSize: number;
  private readonly reader = new MessageReader();
  private readonly cursor = new BodyCursor();
  private readonly out = new FrontendWriter();
  /** Query messages sent before authentication ended (send mode 'held'). */
  private held: FrontendWriter | null = null;
  private readonly sent = new SentQueue();
  private readonly row = new PgDataRow();
  private failure: ProtocolError | null = null;
  private closedEvent: PgEvent | null = null;
  private terminated = false;
  private status: TransactionStatus = 'I';
  private readonly parameterMap = new Map<string, string>();
  private key: BackendKey | null = null;
  private authStep: AuthStep = 'none';
  private authMethod: 'trust' | 'cleartext' | 'md5' | 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS' = 'trust';
  private scram: ScramClient | null = null;
  private channelBinding: Uint8Array | null;
  /** A COPY FROM STDIN ended by the server's error: the caller's copy messages are dropped until the next copy. */
  private copyAbandoned = false;

  constructor(options: PgConnectionOptions) {
    if (typeof options.user !== 'string' || options.user === '') throw new LocalProtocolError('a user name is required', 'ERR_PG_BAD_ARGUMENT');
    this.options = options;
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.channelBinding = options.channelBinding ?? null;
  }

  /** The state (state.ts). */
  get state(): PgState {
    return this.current;
  }

  /** The transaction status of the last ReadyForQuery ('I' before the first). */
  get transactionStatus(): TransactionStatus {
    return this.status;
  }

  /** The server's parameters (ParameterStatus), as last reported. */
  get parameters(): ReadonlyMap<string, string> {
    return this.parameterMap;
  }

  /** BackendKeyData, once received. */
  get backendKey(): BackendKey | null {
    return this.key;
  }

  /** How many sent messages wait for an answer (queries, parses, binds, describes, executes, closes, syncs). */
  get pendingCount(): number {
    return this.sent.length;
  }

  /** The kinds of the sent messages waiting for an answer, oldest first. */
  pendingMessages(): PgMessageKind[] {
    return this.sent.list();
  }

  // ------------------------------------------------------------------------------------------
  // Sending

  /** Ask for TLS (SSLRequest); the answer is an 'ssl-response' event. Only as the first call. */
  requestSsl(): void {
    this.checkSend('startup', 'requestSsl');
    if (this.current !== 'initial') throw new LocalProtocolError('requestSsl() only comes first', 'ERR_PG_NOT_ALLOWED');
    this.out.sslRequest();
    this.move('request-ssl');
  }

  /**
   * Send the StartupMessage (after the 'ssl-response' and the TLS upgrade, when SSL was
   * requested). `channelBinding`: the tls-server-end-point data of the TLS session just made
   * (known only after the upgrade), which replaces `options.channelBinding`.
   */
  startup(channelBinding?: Uint8Array | null): void {
    this.checkSend('startup', 'startup');
    if (channelBinding !== undefined) this.channelBinding = channelBinding;
    const options = this.options;
    const parameters: [string, string][] = [['user', options.user]];
    if (options.database !== undefined) parameters.push(['database', options.database]);
    const extra = options.parameters ?? {};
    for (const [name, value] of Object.entries(extra)) if (name !== 'user' && name !== 'database') parameters.push([name, value]);
    if (!('client_encoding' in extra)) parameters.push(['client_encoding', 'UTF8']);
    this.out.startup(parameters);
    this.move('startup');
  }

  /** Query (simple query protocol): one or more statements; results come per statement, then 'ready'. */
  query(text: string): void {
    const writer = this.queryWriter('query');
    writer.query(text);
    this.push(QUERY, '');
  }

  /** Parse a statement ('' = the unnamed one); `paramTypes` OIDs (0 = let the server infer). */
  parse(name: string, text: string, paramTypes?: readonly number[]): void {
    this.queryWriter('parse').parse(name, text, paramTypes);
    this.push(PARSE, name);
  }

  /**
   * Bind a portal ('' = unnamed) to a statement with encoded parameters (string: text, a
   * Uint8Array: binary, null: NULL). Without `paramFormats`, a Uint8Array is sent as binary
   * and a string as text; `resultFormats`: one for all columns, one per column, or none (text).
   */
  bind(portal: string, statement: string, params: readonly PgParam[], paramFormats?: readonly number[], resultFormats?: readonly number[]): void {
    this.queryWriter('bind').bind(portal, statement, params, paramFormats, resultFormats);
    this.push(BIND, portal);
  }

  /** Describe a statement ('S': parameter-description, then row-description or no-data) or a portal ('P'). */
  describe(kind: 'S' | 'P', name: string): void {
    this.queryWriter('describe').describe(kind, name);
    this.push(kind === 'S' ? DESCRIBE_STATEMENT : DESCRIBE_PORTAL, name);
  }

  /** Execute a portal; `maxRows` > 0 stops after that many rows with 'portal-suspended'. */
  execute(portal: string, maxRows = 0): void {
    if (!Number.isInteger(maxRows) || maxRows < 0 || maxRows > 0x7fffffff) throw new LocalProtocolError(`maxRows must be an integer from 0, not ${maxRows}`, 'ERR_PG_BAD_ARGUMENT');
    this.queryWriter('execute').execute(portal, maxRows);
    this.push(EXECUTE, portal);
  }

  /** Close a statement ('S') or a portal ('P'). */
  close(kind: 'S' | 'P', name: string): void {
    this.queryWriter('close').close(kind, name);
    this.push(CLOSE, name);
  }

  /** Sync: ends an extended-query sequence (the server answers 'ready'). */
  sync(): void {
    this.queryWriter('sync').sync();
    this.push(SYNC, '');
  }

  /** Flush: asks the server to send what it has (no answer of its own). */
  flush(): void {
    this.queryWriter('flush').flush();
  }

  /** CopyData during COPY FROM STDIN (copy-in state). */
  copyData(data: Uint8Array): void {
    if (this.copySendDropped('copyData')) return;
    this.out.copyData(data);
  }

  /** CopyDone: the end of COPY FROM STDIN's data. */
  copyDone(): void {
    if (this.copySendDropped('copyDone')) return;
    this.out.copyDone();
    this.endCopyIn();
  }

  /** CopyFail: abort COPY FROM STDIN with a reason (the server answers with an error). */
  copyFail(message: string): void {
    if (this.copySendDropped('copyFail')) return;
    this.out.copyFail(message);
    this.endCopyIn();
  }

  /** Terminate: the polite end; nothing may be sent after it. */
  terminate(): void {
    if (this.terminated) return;
    if (this.failure !== null || this.current === 'closed' || this.current === 'broken') return;
    this.held = null;
    this.out.terminate();
    this.terminated = true;
  }

  /**
   * The 16 bytes of a CancelRequest for this connection's backend: send them on a new
   * connection of their own (the server closes it without answering).
   */
  cancelRequest(): Uint8Array {
    const key = this.key;
    if (key === null) throw new LocalProtocolError('no BackendKeyData received: nothing to cancel', 'ERR_PG_NO_BACKEND_KEY');
    return encodeCancelRequest(key.processId, key.secretKey);
  }

  /** Whether bytes wait for {@link dataToSend}. */
  get hasDataToSend(): boolean {
    return this.out.length > 0;
  }

  /** The bytes to write (the view is the caller's for good), or null when there are none. */
  dataToSend(): Uint8Array | null {
    return this.out.take();
  }

  // ------------------------------------------------------------------------------------------
  // Receiving

  /** Bytes from the server; an empty array is the end of the stream. Do not modify them afterwards. */
  receiveData(data: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (this.reader.ended) {
      if (data.length === 0) return;
      throw new LocalProtocolError('data received after the end of the stream', 'ERR_PG_CLOSED');
    }
    this.reader.feed(data);
  }

  /**
   * The next event, or NEED_DATA. A protocol violation or an authentication failure is thrown
   * (RemoteProtocolError, PgAuthenticationError), and thrown again by every later call.
   * A 'data-row' event is valid only until the next call.
   */
  nextEvent(): PgEvent | NeedData {
    if (this.failure !== null) throw this.failure;
    try {
      return this.step();
    } catch (error) {
      if (error instanceof RemoteProtocolError || error instanceof PgAuthenticationError) {
        this.failure = error;
        this.setState('broken');
        this.held = null;
      }
      throw error;
    }
  }

  private step(): PgEvent | NeedData {
    const reader = this.reader;
    for (;;) {
      const state = this.current;
      if (state === 'closed') return this.closedEvent as PgEvent;
      if (state === 'recovering') {
        const skipped = this.skipOne();
        if (skipped !== null) return skipped;
      }
      if (state === 'ssl-requested') {
        const byte = reader.readByte();
        if (byte === -1) return this.atEnd();
        if (byte !== 0x53 && byte !== 0x4e) {
          throw new RemoteProtocolError(`the answer to SSLRequest is ${byteName(byte)}, not 'S' or 'N'`, 'ERR_PG_BAD_SSL_RESPONSE', reader.offset - 1);
        }
        if (reader.buffered > 0) {
          // Bytes after the answer were sent before any TLS handshake: not from the server we
          // asked (CVE-2021-23214), or garbage. Nothing may follow the single byte.
          throw new RemoteProtocolError('bytes after the answer to SSLRequest', 'ERR_PG_DATA_AFTER_SSL_RESPONSE', reader.offset);
        }
        this.move('ssl-response');
        return { type: 'ssl-response', accepted: byte === 0x53 };
      }
      if (!reader.next(this.accepts, this.maxMessageSize)) return this.atEnd();
      const event = this.handle(reader.type, reader.bytes, reader.start, reader.end);
      if (event !== null) return event;
    }
  }

  /** NEED_DATA, or at the end of the stream the 'closed' event (or the truncation error). */
  private atEnd(): PgEvent | NeedData {
    if (!this.reader.ended) return NEED_DATA;
    const truncated = this.reader.truncation();
    if (truncated !== null) throw truncated;
    const event: PgEvent = { type: 'closed', unanswered: this.sent.list() };
    this.move('end-of-stream');
    this.closedEvent = event;
    return event;
  }

  /** In recovery: the next sent message before the Sync, reported as skipped (null when none is left). */
  private skipOne(): PgEvent | null {
    const kind = this.sent.headKind;
    if (kind === 0 || kind === SYNC) return null;
    const name = this.sent.headName;
    this.sent.shift();
    return { type: 'skipped', message: KIND_NAMES[kind] as PgMessageKind, name };
  }

  private handle(type: number, bytes: Uint8Array, start: number, end: number): PgEvent | null {
    const sent = this.sent;
    switch (type) {
      case 0x44: {
        // DataRow
        const head = sent.headKind;
        if (head !== EXECUTE && head !== QUERY) throw this.unexpected(type);
        decodeDataRow(this.row, bytes, start, end, this.cursor, this.reader.offset);
        return this.row;
      }
      case 0x43: {
        // CommandComplete
        const head = sent.headKind;
        if (head === EXECUTE) sent.shift();
        else if (head !== QUERY) throw this.unexpected(type);
        const { tag, command, rowCount } = decodeCommandComplete(this.body(type, bytes, start, end));
        return { type: 'command-complete', tag, command, rowCount };
      }
      case 0x5a:
        return this.readyForQuery(bytes[start] as number);
      case 0x31:
        this.answer(type, PARSE);
        return PARSE_COMPLETE;
      case 0x32:
        this.answer(type, BIND);
        return BIND_COMPLETE;
      case 0x33:
        this.answer(type, CLOSE);
        return CLOSE_COMPLETE;
      case 0x6e: {
        const head = sent.headKind;
        if (head !== DESCRIBE_STATEMENT && head !== DESCRIBE_PORTAL) throw this.unexpected(type);
        sent.shift();
        return NO_DATA;
      }
      case 0x54: {
        // RowDescription
        const head = sent.headKind;
        if (head === DESCRIBE_STATEMENT || head === DESCRIBE_PORTAL) sent.shift();
        else if (head !== QUERY) throw this.unexpected(type);
        return { type: 'row-description', fields: decodeRowDescription(this.body(type, bytes, start, end)) };
      }
      case 0x74: {
        if (sent.headKind !== DESCRIBE_STATEMENT) throw this.unexpected(type);
        return { type: 'parameter-description', typeOids: decodeParameterDescription(this.body(type, bytes, start, end)) };
      }
      case 0x49: {
        const head = sent.headKind;
        if (head === EXECUTE) sent.shift();
        else if (head !== QUERY) throw this.unexpected(type);
        return EMPTY_QUERY;
      }
      case 0x73:
        this.answer(type, EXECUTE);
        return PORTAL_SUSPENDED;
      case 0x45:
        return this.errorResponse(bytes, start, end);
      case 0x4e:
        return { type: 'notice', notice: decodeErrorFields(this.body(type, bytes, start, end)) };
      case 0x41: {
        const c = this.body(type, bytes, start, end);
        const processId = c.int32();
        const channel = c.cstring();
        const payload = c.cstring();
        c.done();
        return { type: 'notification', processId, channel, payload };
      }
      case 0x53: {
        const c = this.body(type, bytes, start, end);
        const name = c.cstring();
        const value = c.cstring();
        c.done();
        this.parameterMap.set(name, value);
        return { type: 'parameter-status', name, value };
      }
      case 0x4b: {
        const c = this.body(type, bytes, start, end);
        const processId = c.int32();
        const secretKey = c.int32();
        this.key = { processId, secretKey };
        return { type: 'backend-key-data', processId, secretKey };
      }
      case 0x76: {
        const c = this.body(type, bytes, start, end);
        const protocolVersion = c.int32();
        const count = c.int32();
        if (count < 0 || count > c.remaining()) throw c.malformed(`option count ${count}`);
        const unrecognized: string[] = [];
        for (let i = 0; i < count; i++) unrecognized.push(c.cstring());
        c.done();
        return { type: 'negotiate-protocol-version', protocolVersion, minorVersion: protocolVersion & 0xffff, unrecognized };
      }
      case 0x47:
      case 0x48:
      case 0x57:
        return this.copyResponse(type, bytes, start, end);
      case 0x64:
        return { type: 'copy-data', data: bytes.subarray(start, end) };
      case 0x63:
        this.move('copy-done');
        return COPY_DONE;
      case 0x52:
        return this.authentication(bytes, start, end);
      default:
        // Known to the framing but never sent to a frontend that does not ask for it
        // (FunctionCallResponse).
        throw this.unexpected(type);
    }
  }

  private body(type: number, bytes: Uint8Array, start: number, end: number): BodyCursor {
    return this.cursor.reset(type, bytes, start, end, this.reader.offset);
  }

  private unexpected(type: number): RemoteProtocolError {
    const head = this.sent.headKind;
    const waiting = head === 0 ? 'nothing' : KIND_NAMES[head];
    return new RemoteProtocolError(
      `backend message '${String.fromCharCode(type)}' does not answer what was sent (waiting for: ${waiting})`,
      'ERR_PG_UNEXPECTED_MESSAGE',
      this.reader.offset,
    );
  }

  /** A message that answers exactly the head of the queue (ParseComplete, BindComplete...). */
  private answer(type: number, kind: number): void {
    if (this.sent.headKind !== kind) throw this.unexpected(type);
    this.sent.shift();
  }

  private readyForQuery(statusByte: number): PgEvent {
    if (statusByte !== 0x49 && statusByte !== 0x54 && statusByte !== 0x45) {
      throw new RemoteProtocolError(`ReadyForQuery with transaction status ${byteName(statusByte)}`, 'ERR_PG_MALFORMED', this.reader.offset);
    }
    if (this.current !== 'starting') {
      const head = this.sent.headKind;
      if (head !== SYNC && head !== QUERY) throw this.unexpected(0x5a);
      this.sent.shift();
    }
    this.status = String.fromCharCode(statusByte) as TransactionStatus;
    this.move(this.sent.length === 0 ? 'ready-idle' : 'ready-busy');
    return READY[this.status];
  }

  private errorResponse(bytes: Uint8Array, start: number, end: number): PgEvent {
    const fields = decodeErrorFields(this.body(0x45, bytes, start, end));
    const error = new PgError(fields);
    const severity = fields.severityName ?? fields.severity;
    const state = this.current;
    const head = this.sent.headKind;
    let during: PgMessageKind | 'startup' | null = head === 0 ? null : (KIND_NAMES[head] as PgMessageKind);
    if (state === 'authenticating' || state === 'starting') during = 'startup';
    if (severity === 'FATAL' || severity === 'PANIC') {
      this.held = null;
      this.move('fatal');
    } else if (state === 'busy' || state === 'copy-in' || state === 'copy-out' || state === 'copy-both') {
      const copying = state !== 'busy';
      if (copying && state !== 'copy-out') this.copyAbandoned = true;
      if (copying) this.resendIgnoredSyncs();
      if (head === QUERY || head === SYNC) {
        // A simple query's error: ReadyForQuery follows. (An error at a Sync: the implicit
        // commit failed; its ReadyForQuery follows too.)
        if (copying) this.move('simple-error');
      } else if (head !== 0) {
        // An extended-query message failed: the server skips everything up to the next Sync.
        this.sent.shift();
        this.move('extended-error');
      }
    }
    return { type: 'error', error, during };
  }

  private copyResponse(type: number, bytes: Uint8Array, start: number, end: number): PgEvent {
    const head = this.sent.headKind;
    if (head !== QUERY && head !== EXECUTE) throw this.unexpected(type);
    const { format, columnFormats } = decodeCopyResponse(this.body(type, bytes, start, end));
    if (type === 0x47) {
      this.copyAbandoned = false;
      // Syncs sent right behind the COPY arrive during copy-in: the server ignores them (it
      // ignores Sync and Flush in copy-in). They are sent again once the copy ends.
      for (let i = 1; this.sent.kindAt(i) === SYNC; i++) this.sent.setKindAt(i, SYNC_IGNORED);
      this.move('copy-in');
      return { type: 'copy-in-response', format, columnFormats };
    }
    if (type === 0x48) {
      this.move('copy-out');
      return { type: 'copy-out-response', format, columnFormats };
    }
    this.copyAbandoned = false;
    this.move('copy-both');
    return { type: 'copy-both-response', format, columnFormats };
  }

  private endCopyIn(): void {
    this.move('copy-end-sent');
    this.resendIgnoredSyncs();
  }

  /** Send again the Syncs the server ignored during copy-in (their queue entries stay where they are). */
  private resendIgnoredSyncs(): void {
    for (let i = 0; i < this.sent.length; i++) {
      if (this.sent.kindAt(i) === SYNC_IGNORED) {
        this.sent.setKindAt(i, SYNC);
        this.out.sync();
      }
    }
  }

  private authentication(bytes: Uint8Array, start: number, end: number): PgEvent | null {
    const c = this.body(0x52, bytes, start, end);
    const code = c.int32();
    const options = this.options;
    switch (code) {
      case 0: {
        c.done();
        if (this.scram !== null && !this.scram.verified) {
          throw new PgAuthenticationError('AuthenticationOk before the server proved it knows the password (SCRAM final message missing)', 'ERR_PG_SCRAM_INCOMPLETE');
        }
        this.checkChannelBinding(this.authMethod);
        this.move('auth-ok');
        const held = this.held;
        this.held = null;
        const bytesHeld = held?.take();
        if (bytesHeld !== null && bytesHeld !== undefined) this.out.append(bytesHeld);
        return { type: 'authenticated', method: this.authMethod };
      }
      case 3: {
        c.done();
        this.checkChannelBinding('cleartext');
        this.needPassword('cleartext');
        this.authMethod = 'cleartext';
        this.out.password(options.password as string);
        return null;
      }
      case 5: {
        const salt = c.rest();
        if (salt.length !== 4) throw c.malformed(`MD5 salt of ${salt.length} bytes`);
        this.checkChannelBinding('md5');
        this.needPassword('MD5');
        this.authMethod = 'md5';
        this.out.password(md5Password(options.user, options.password as string, salt));
        return null;
      }
      case 10: {
        if (this.authStep !== 'none') throw c.malformed('a second AuthenticationSASL');
        const mechanisms: string[] = [];
        for (;;) {
          const mechanism = c.cstring();
          if (mechanism === '') break;
          mechanisms.push(mechanism);
        }
        c.done();
        this.needPassword('SCRAM');
        const scram = new ScramClient(options.password as string, {
          mechanisms,
          channelBinding: this.channelBinding,
          ...(options.maxScramIterations !== undefined ? { maxIterations: options.maxScramIterations } : {}),
        });
        this.checkChannelBinding(scram.mechanism);
        this.scram = scram;
        this.authMethod = scram.mechanism;
        this.out.saslInitialResponse(scram.mechanism, saslBytes(scram.clientFirst()));
        this.authStep = 'sasl-first-sent';
        return null;
      }
      case 11: {
        if (this.authStep !== 'sasl-first-sent' || this.scram === null) throw c.malformed('AuthenticationSASLContinue out of order');
        const final = this.scram.clientFinal(saslText(c.rest()));
        this.out.saslResponse(saslBytes(final));
        this.authStep = 'sasl-final-sent';
        return null;
      }
      case 12: {
        if (this.authStep !== 'sasl-final-sent' || this.scram === null) throw c.malformed('AuthenticationSASLFinal out of order');
        this.scram.verifyServerFinal(saslText(c.rest()));
        this.authStep = 'sasl-verified';
        return null;
      }
      case 2:
      case 6:
      case 7:
      case 8:
      case 9: {
        const names: Record<number, string> = { 2: 'Kerberos V5', 6: 'SCM credentials', 7: 'GSSAPI', 8: 'GSSAPI', 9: 'SSPI' };
        throw new PgAuthenticationError(`the server asks for ${names[code] as string} authentication, which proto-pg does not support`, 'ERR_PG_AUTH_UNSUPPORTED');
      }
      default:
        throw c.malformed(`unknown authentication request ${code}`);
    }
  }

  /** With requireChannelBinding, refuse to authenticate by any `method` but SCRAM-SHA-256-PLUS. */
  private checkChannelBinding(method: string): void {
    if (this.options.requireChannelBinding !== true || method === 'SCRAM-SHA-256-PLUS') return;
    const why = method === 'SCRAM-SHA-256' ? (this.channelBinding === null ? 'SCRAM without channel binding (not a TLS connection)' : 'SCRAM without channel binding (the server does not offer SCRAM-SHA-256-PLUS)') : method === 'trust' ? 'no authentication at all (trust)' : `${method} authentication`;
    throw new PgAuthenticationError(`channel binding is required, but the server asked for ${why}`, 'ERR_PG_CHANNEL_BINDING_REQUIRED');
  }

  private needPassword(method: string): void {
    const password = this.options.password;
    if (typeof password !== 'string') {
      throw new PgAuthenticationError(`the server asks for a password (${method}) and none was given`, 'ERR_PG_PASSWORD_REQUIRED');
    }
  }

  // ------------------------------------------------------------------------------------------
  // Bookkeeping

  private move(input: PgInput): void {
    const next = nextState(this.current, input);
    if (next === undefined) {
      throw new RemoteProtocolError(`'${input}' is not allowed in state ${this.current}`, 'ERR_PG_UNEXPECTED_MESSAGE', this.reader.offset);
    }
    this.setState(next);
  }

  private setState(state: PgState): void {
    this.current = state;
    this.accepts = ACCEPTS[state];
    this.sendRule = SEND_RULES[state];
  }

  /** Refuse any send on a broken or terminated connection (LocalProtocolError). */
  private checkUsable(what: string): void {
    if (this.failure !== null) throw new LocalProtocolError(`${what}() on a broken connection`, 'ERR_PG_BROKEN', { cause: this.failure });
    if (this.terminated) throw new LocalProtocolError(`${what}() after terminate()`, 'ERR_PG_TERMINATED');
  }

  /** Refuse a send the state does not allow (LocalProtocolError). */
  private checkSend(mode: PgSendMode, what: string): void {
    this.checkUsable(what);
    if (this.sendRule.send !== mode) throw new LocalProtocolError(`${what}() is not allowed in state ${this.current}`, 'ERR_PG_NOT_ALLOWED');
  }

  /** The writer a query message goes to in this state (held back during authentication). */
  private queryWriter(what: string): FrontendWriter {
    this.checkUsable(what);
    const allowed = this.sendRule.send;
    if (allowed === 'queries') return this.out;
    if (allowed === 'held') return (this.held ??= new FrontendWriter());
    throw new LocalProtocolError(`${what}() is not allowed in state ${this.current}`, 'ERR_PG_NOT_ALLOWED');
  }

  private push(kind: number, name: string): void {
    this.sent.push(kind, name);
    if (this.sendRule.moves) this.move('send');
  }

  /** Whether a copy message is to be dropped (a copy ended by the server's error); throws when it is not allowed at all. */
  private copySendDropped(what: string): boolean {
    this.checkUsable(what);
    if (this.sendRule.send === 'copy') return false;
    if (this.copyAbandoned) return true;
    throw new LocalProtocolError(`${what}() outside COPY FROM STDIN (state ${this.current})`, 'ERR_PG_NOT_ALLOWED');
  }
}

function byteName(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `0x${byte.toString(16).padStart(2, '0')}`;
}
