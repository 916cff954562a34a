// inprocess/pg-scripted.ts
//
// A scripted PostgreSQL peer on any Runtime's `listen`: it reads the frontend protocol (the
// startup packet, SSLRequest, CancelRequest, Parse/Bind/Describe/Execute/Sync, Query, Close,
// Flush, Terminate) with its own small parser, and answers each query with what the test's
// `answer` says (rows, an error, 'close', or a Promise that holds the answer: a stall), in
// backend messages written by its own small encoder. Everything it receives is recorded in
// arrival order, cancels among queries, so a test can assert orderings across connections.
//
// Invariants:
// - One connection's queries are answered one after another, in arrival order; an answer
//   that is a Promise holds every answer behind it on that connection.
// - A CancelRequest is recorded when it arrives, then the peer closes that connection (as the
//   server does). If its process id and secret name a connection whose query is being
//   answered, that query ends at once with 57014 ("canceling statement due to user request")
//   and the held answer is dropped; a cancel for an idle connection or a wrong secret does
//   nothing, as on PostgreSQL.
// - Connection n (counting every accepted connection, cancel ones included) has process id
//   `10000 + n` and the secret `fakePgSecret(n)`.
// - Replies to the extended protocol go out at Sync, whole: ParseComplete, ParameterDescription,
//   RowDescription or NoData, BindComplete, DataRows, CommandComplete, CloseComplete in the
//   order of the messages, then ReadyForQuery.
//
// What it does not emulate (honestly): authentication other than trust (AuthenticationOk at
// once), TLS (SSLRequest is always answered 'N'), COPY, LISTEN/NOTIFY, portals executed with a
// row limit (every Execute returns all rows), several statements in one simple Query (the whole
// text is one query, one answer), Flush (answers still wait for the Sync), and SQL itself:
// `answer` decides everything. Parameters arrive as text: a binary parameter is read as UTF-8
// (bytea as its '\x...' hex), which holds because ParameterDescription declares every
// parameter the client did not type as text. Rows go out in text format; a column the client
// asks in binary is encoded in binary for bool, int2, int4, int8, float4, float8 and the text
// types only, any other fails the query with 0A000. The transaction status follows the
// statements' first word (BEGIN/START → 'T', COMMIT/ROLLBACK/END/ABORT → 'I', an error inside
// → 'E'). An error answer to a batch that parses its statement is reported as PostgreSQL
// reports a statement it refuses at Parse: the ErrorResponse alone, and the statement is not
// kept (a real server would keep a statement whose execution failed).

import type { ByteStream, Runtime } from '@curio-ts/client';
import { acceptScripted } from './accept-loop.js';

/** A query as the peer received it. */
export interface FakePgQuery {
  /** The SQL text. */
  readonly text: string;
  /** Its parameters as text (null for NULL); none for a simple Query. */
  readonly params: readonly (string | null)[];
  /** The connection number (1 for the first connection the peer accepted). */
  readonly connection: number;
  /** 'simple' (Query) or 'extended' (Parse/Bind/Execute). */
  readonly protocol: 'simple' | 'extended';
}

/** A result column: a name, or a name and a type OID (default 25, text). */
export type FakePgField = string | { readonly name: string; readonly typeOid: number };

/** What `answer` returns for a query. */
export type FakePgAnswer =
  | {
      /** The columns (default: none, NoData). */
      readonly fields?: readonly FakePgField[];
      /** The rows, each value as text or null. */
      readonly rows?: readonly (readonly (string | null)[])[];
      /** The command tag (default 'SELECT n' with fields, else the text's first word upper-cased). */
      readonly command?: string;
    }
  | {
      /** An ErrorResponse: SQLSTATE, message, severity (default 'ERROR'; 'FATAL' closes the connection after it). */
      readonly error: { readonly code: string; readonly message: string; readonly severity?: string; readonly detail?: string };
    }
  | 'close';

/** A CancelRequest the peer received. */
export interface FakePgCancel {
  readonly processId: number;
  readonly secret: number;
  /** The number of the connection it came on. */
  readonly connection: number;
}

/** What the peer saw, in arrival order. */
export type FakePgEvent =
  | { readonly type: 'startup'; readonly connection: number; readonly at: number; readonly parameters: Readonly<Record<string, string>> }
  | { readonly type: 'ssl-request'; readonly connection: number; readonly at: number }
  | { readonly type: 'query'; readonly connection: number; readonly at: number; readonly query: FakePgQuery }
  | { readonly type: 'cancel'; readonly connection: number; readonly at: number; readonly cancel: FakePgCancel }
  | { readonly type: 'terminate'; readonly connection: number; readonly at: number };

/** A running scripted peer. */
export interface FakePg {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Connections accepted so far (cancel connections included). */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Queries in arrival order. */
  readonly queries: readonly FakePgQuery[];
  /** CancelRequests in arrival order. */
  readonly cancels: readonly FakePgCancel[];
  /** Everything, in arrival order (`at`: the runtime's `now()`). */
  readonly events: readonly FakePgEvent[];
  /** Process id of connection `n`. */
  processIdOf(connection: number): number;
  /** Secret key of connection `n`. */
  secretOf(connection: number): number;
  /** Close every open connection (the listener stays). */
  dropAll(): void;
  /** Close the listener and every connection. */
  stop(): Promise<void>;
}

/** The secret key the peer gives connection `n`. */
export function fakePgSecret(connection: number): number {
  return (Math.imul(connection, 0x9e3779b1) ^ 0x5bd1e995) | 0;
}

const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;
const GSS_REQUEST_CODE = 80877104;
const PROTOCOL_3 = 196608;
const TEXT_OID = 25;

// ---------------------------------------------------------------------------------------------
// Backend messages

const utf8 = new TextEncoder();
const decoder = new TextDecoder();

/** A growing buffer of backend messages. */
class BackendWriter {
  private buffer = new Uint8Array(256);
  private length = 0;
  private start = 0;

  private ensure(more: number): void {
    if (this.length + more <= this.buffer.length) return;
    const next = new Uint8Array(Math.max(this.buffer.length * 2, this.length + more));
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  private begin(type: string): this {
    this.ensure(5);
    this.start = this.length;
    this.buffer[this.length++] = type.charCodeAt(0);
    this.length += 4;
    return this;
  }

  private end(): void {
    new DataView(this.buffer.buffer).setInt32(this.start + 1, this.length - this.start - 1);
  }

  private int16(value: number): this {
    this.ensure(2);
    new DataView(this.buffer.buffer).setInt16(this.length, value);
    this.length += 2;
    return this;
  }

  private int32(value: number): this {
    this.ensure(4);
    new DataView(this.buffer.buffer).setInt32(this.length, value);
    this.length += 4;
    return this;
  }

  private raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  private cstring(text: string): this {
    this.raw(utf8.encode(text));
    this.ensure(1);
    this.buffer[this.length++] = 0;
    return this;
  }

  /** A message with no body ('1' ParseComplete, '2' BindComplete, '3' CloseComplete, 'n' NoData, 'I' EmptyQueryResponse). */
  empty(type: '1' | '2' | '3' | 'n' | 'I'): void {
    this.begin(type).end();
  }

  authenticationOk(): void {
    this.begin('R').int32(0).end();
  }

  parameterStatus(name: string, value: string): void {
    this.begin('S').cstring(name).cstring(value).end();
  }

  backendKeyData(processId: number, secret: number): void {
    this.begin('K').int32(processId).int32(secret).end();
  }

  readyForQuery(status: 'I' | 'T' | 'E'): void {
    this.begin('Z');
    this.ensure(1);
    this.buffer[this.length++] = status.charCodeAt(0);
    this.end();
  }

  parameterDescription(typeOids: readonly number[]): void {
    this.begin('t').int16(typeOids.length);
    for (const oid of typeOids) this.int32(oid);
    this.end();
  }

  rowDescription(fields: readonly { readonly name: string; readonly typeOid: number }[], formats: readonly number[]): void {
    this.begin('T').int16(fields.length);
    fields.forEach((field, i) => {
      this.cstring(field.name).int32(0).int16(0).int32(field.typeOid).int16(typeSize(field.typeOid)).int32(-1).int16(formatOf(formats, i));
    });
    this.end();
  }

  dataRow(values: readonly (Uint8Array | null)[]): void {
    this.begin('D').int16(values.length);
    for (const value of values) {
      if (value === null) this.int32(-1);
      else this.int32(value.length).raw(value);
    }
    this.end();
  }

  commandComplete(tag: string): void {
    this.begin('C').cstring(tag).end();
  }

  errorResponse(fields: Readonly<Record<string, string>>): void {
    this.begin('E');
    for (const [code, value] of Object.entries(fields)) this.raw(utf8.encode(code)).cstring(value);
    this.ensure(1);
    this.buffer[this.length++] = 0;
    this.end();
  }

  /** The single byte answering an SSLRequest (not a message). */
  byte(value: string): void {
    this.ensure(1);
    this.buffer[this.length++] = value.charCodeAt(0);
  }

  /** Everything written so far, and start over. */
  take(): Uint8Array {
    const out = this.buffer.slice(0, this.length);
    this.length = 0;
    return out;
  }
}

function typeSize(oid: number): number {
  switch (oid) {
    case 16:
      return 1;
    case 21:
      return 2;
    case 23:
    case 700:
      return 4;
    case 20:
    case 701:
      return 8;
    default:
      return -1;
  }
}

function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? (formats[0] as number) : (formats[i] ?? 0);
}

/** A text value in binary format for `oid`, or null when the peer cannot encode it. */
function binaryValue(oid: number, text: string): Uint8Array | null {
  const view = (size: number, fill: (v: DataView) => void): Uint8Array => {
    const out = new Uint8Array(size);
    fill(new DataView(out.buffer));
    return out;
  };
  switch (oid) {
    case 16:
      return new Uint8Array([text === 't' || text === 'true' ? 1 : 0]);
    case 21:
      return view(2, (v) => v.setInt16(0, Number(text)));
    case 23:
      return view(4, (v) => v.setInt32(0, Number(text)));
    case 20:
      return view(8, (v) => v.setBigInt64(0, BigInt(text)));
    case 700:
      return view(4, (v) => v.setFloat32(0, Number(text)));
    case 701:
      return view(8, (v) => v.setFloat64(0, Number(text)));
    case 18:
    case 19:
    case 25:
    case 114:
    case 1042:
    case 1043:
      return utf8.encode(text);
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Frontend messages

/** A frontend message after the startup packet. */
interface FrontendMessage {
  readonly type: string;
  readonly body: Uint8Array;
}

/** Reads the fields of one message body. */
class BodyReader {
  private offset = 0;
  private readonly view: DataView;
  constructor(private readonly body: Uint8Array) {
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }
  byte(): string {
    return String.fromCharCode(this.body[this.offset++] ?? 0);
  }
  int16(): number {
    const value = this.view.getInt16(this.offset);
    this.offset += 2;
    return value;
  }
  int32(): number {
    const value = this.view.getInt32(this.offset);
    this.offset += 4;
    return value;
  }
  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end === -1) throw new Error('a string without its NUL');
    const text = decoder.decode(this.body.subarray(this.offset, end));
    this.offset = end + 1;
    return text;
  }
  bytes(length: number): Uint8Array {
    const out = this.body.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
  get done(): boolean {
    return this.offset >= this.body.length;
  }
}

/** Cuts the byte stream into the startup packet(s) and then typed messages. */
class FrontendReader {
  private buffer = new Uint8Array(0);
  /** Until the StartupMessage: untyped packets (SSLRequest, CancelRequest, StartupMessage). */
  startupPhase = true;

  push(chunk: Uint8Array): void {
    const next = new Uint8Array(this.buffer.length + chunk.length);
    next.set(this.buffer);
    next.set(chunk, this.buffer.length);
    this.buffer = next;
  }

  /** The next untyped packet's body (code first), or null for more data. */
  nextPacket(): Uint8Array | null {
    if (this.buffer.length < 4) return null;
    const length = new DataView(this.buffer.buffer, this.buffer.byteOffset).getInt32(0);
    if (length < 8 || length > 10_000) throw new Error(`a startup packet of length ${length}`);
    if (this.buffer.length < length) return null;
    const body = this.buffer.slice(4, length);
    this.buffer = this.buffer.subarray(length);
    return body;
  }

  /** The next typed message, or null for more data. */
  nextMessage(): FrontendMessage | null {
    if (this.buffer.length < 5) return null;
    const length = new DataView(this.buffer.buffer, this.buffer.byteOffset).getInt32(1);
    if (length < 4) throw new Error(`a message of length ${length}`);
    if (this.buffer.length < 1 + length) return null;
    const message = { type: String.fromCharCode(this.buffer[0] as number), body: this.buffer.slice(5, 1 + length) };
    this.buffer = this.buffer.subarray(1 + length);
    return message;
  }
}

// ---------------------------------------------------------------------------------------------
// The peer

/** One extended-protocol step, kept until the Sync. */
type Step =
  | { readonly kind: 'parse'; readonly name: string; readonly text: string; readonly declared: readonly number[] }
  | { readonly kind: 'bind'; readonly portal: string; readonly statement: string; readonly params: readonly (string | null)[]; readonly resultFormats: readonly number[] }
  | { readonly kind: 'describe'; readonly what: 'S' | 'P'; readonly name: string }
  | { readonly kind: 'execute'; readonly portal: string }
  | { readonly kind: 'close' };

interface Statement {
  readonly text: string;
  readonly paramTypes: readonly number[];
}

interface Portal {
  readonly text: string;
  readonly params: readonly (string | null)[];
  readonly resultFormats: readonly number[];
}

/** A query's answer, once known, ready to encode. */
type Outcome =
  | { readonly kind: 'rows'; readonly fields: readonly { readonly name: string; readonly typeOid: number }[]; readonly rows: readonly (readonly (string | null)[])[]; readonly command: string }
  | { readonly kind: 'error'; readonly fields: Readonly<Record<string, string>>; readonly fatal: boolean }
  | { readonly kind: 'close' };

/** The highest $n in the SQL text: how many parameters it takes. */
function parameterCount(text: string): number {
  let count = 0;
  for (const match of text.matchAll(/\$(\d+)/g)) count = Math.max(count, Number(match[1]));
  return count;
}

function firstWord(text: string): string {
  return (/^\s*(\w+)/.exec(text)?.[1] ?? '').toUpperCase();
}

function outcomeOf(reply: FakePgAnswer, text: string): Outcome {
  if (reply === 'close') return { kind: 'close' };
  if ('error' in reply) {
    const severity = reply.error.severity ?? 'ERROR';
    const fields: Record<string, string> = { S: severity, V: severity, C: reply.error.code, M: reply.error.message };
    if (reply.error.detail !== undefined) fields.D = reply.error.detail;
    return { kind: 'error', fields, fatal: severity === 'FATAL' || severity === 'PANIC' };
  }
  const fields = (reply.fields ?? []).map((field) => (typeof field === 'string' ? { name: field, typeOid: TEXT_OID } : field));
  const rows = reply.rows ?? [];
  const word = firstWord(text);
  const command = reply.command ?? (fields.length > 0 || word === 'SELECT' ? `SELECT ${rows.length}` : word);
  return { kind: 'rows', fields, rows, command };
}

function errorFields(code: string, message: string): Record<string, string> {
  return { S: 'ERROR', V: 'ERROR', C: code, M: message };
}

/** Decode a Bind's parameter as text (see the header). */
function paramText(value: Uint8Array, binary: boolean, oid: number): string {
  if (binary && oid === 17) return `\\x${[...value].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
  return decoder.decode(value);
}

/**
 * Start a scripted PostgreSQL peer on a free port of `runtime`'s network (127.0.0.1). `answer`
 * is called once per query, in each connection's arrival order (see the file header).
 */
export async function startFakePgOn(runtime: Runtime, answer: (query: FakePgQuery) => FakePgAnswer | Promise<FakePgAnswer>): Promise<FakePg> {
  const streams = new Set<ByteStream>();
  const queries: FakePgQuery[] = [];
  const cancels: FakePgCancel[] = [];
  const events: FakePgEvent[] = [];
  /** The cancel of the query being answered, by process id. */
  const running = new Map<number, { readonly secret: number; cancel: (() => void) | null }>();

  const serve = async (stream: ByteStream, connection: number): Promise<void> => {
    const reader = new FrontendReader();
    const processId = 10000 + connection;
    const secret = fakePgSecret(connection);
    const statements = new Map<string, Statement>();
    const portals = new Map<string, Portal>();
    /** Statements as they arrive (`statements` follows the answers): what an Execute records. */
    const parsed = new Map<string, Statement>();
    let steps: Step[] = [];
    let status: 'I' | 'T' | 'E' = 'I';
    let answering = Promise.resolve();
    const end = (): void => {
      running.delete(processId);
      if (!streams.delete(stream)) return;
      stream.close();
    };
    const write = async (out: BackendWriter): Promise<void> => {
      if (streams.has(stream)) await stream.write(out.take());
    };

    /** The answer of one query, or 57014 if a CancelRequest for this connection comes first. */
    const answerOf = async (query: FakePgQuery): Promise<Outcome> => {
      const slot = { secret, cancel: null as (() => void) | null };
      running.set(processId, slot);
      try {
        const cancelled = new Promise<Outcome>((resolve) => {
          slot.cancel = () => resolve({ kind: 'error', fields: errorFields('57014', 'canceling statement due to user request'), fatal: false });
        });
        return await Promise.race([Promise.resolve(answer(query)).then((reply) => outcomeOf(reply, query.text)), cancelled]);
      } finally {
        if (running.get(processId) === slot) running.delete(processId);
      }
    };

    const nextStatus = (text: string, failed: boolean): void => {
      const word = firstWord(text);
      if (failed) status = status === 'I' ? 'I' : 'E';
      else if (word === 'BEGIN' || word === 'START') status = 'T';
      else if (word === 'COMMIT' || word === 'ROLLBACK' || word === 'END' || word === 'ABORT') status = 'I';
    };

    /** Answer a simple Query. Returns false once the connection is to close. */
    const simple = async (text: string): Promise<boolean> => {
      const out = new BackendWriter();
      if (text.trim() === '') {
        out.empty('I');
        out.readyForQuery(status);
        await write(out);
        return true;
      }
      const outcome = await answerOf({ text, params: [], connection, protocol: 'simple' });
      if (outcome.kind === 'close') return false;
      if (outcome.kind === 'error') {
        out.errorResponse(outcome.fields);
        if (outcome.fatal) {
          await write(out);
          return false;
        }
        nextStatus(text, true);
      } else {
        if (outcome.fields.length > 0) out.rowDescription(outcome.fields, []);
        for (const row of outcome.rows) out.dataRow(row.map((value) => (value === null ? null : utf8.encode(value))));
        out.commandComplete(outcome.command);
        nextStatus(text, false);
      }
      out.readyForQuery(status);
      await write(out);
      return true;
    };

    /** Answer the steps up to a Sync. Returns false once the connection is to close. */
    const sync = async (batch: readonly Step[]): Promise<boolean> => {
      // The query of the batch: the Execute's portal, bound from its statement.
      const local = new Map(statements);
      const localPortals = new Map(portals);
      let query: FakePgQuery | null = null;
      let executed: Portal | null = null;
      for (const step of batch) {
        if (step.kind === 'parse') {
          const count = Math.max(parameterCount(step.text), step.declared.length);
          const paramTypes = Array.from({ length: count }, (_, i) => (step.declared[i] ?? 0) || TEXT_OID);
          local.set(step.name, { text: step.text, paramTypes });
        } else if (step.kind === 'bind') {
          const statement = local.get(step.statement);
          if (statement !== undefined) localPortals.set(step.portal, { text: statement.text, params: step.params, resultFormats: step.resultFormats });
        } else if (step.kind === 'execute' && query === null) {
          executed = localPortals.get(step.portal) ?? null;
          if (executed !== null) query = { text: executed.text, params: executed.params, connection, protocol: 'extended' };
        }
      }
      let outcome: Outcome | null = query === null ? null : await answerOf(query);
      if (outcome?.kind === 'close') return false;
      const out = new BackendWriter();
      const fail = (fields: Readonly<Record<string, string>>): void => {
        out.errorResponse(fields);
        status = status === 'I' ? 'I' : 'E';
      };
      if (outcome?.kind === 'error') {
        // Reported as PostgreSQL reports a statement it refuses: the error, then Sync's answer.
        out.errorResponse(outcome.fields);
        if (outcome.fatal) {
          await write(out);
          return false;
        }
        nextStatus(query?.text ?? '', true);
        out.readyForQuery(status);
        await write(out);
        return true;
      }
      if (outcome !== null && outcome.kind === 'rows' && executed !== null) {
        // A column asked in binary that the peer cannot encode fails the query (see the header).
        const formats = executed.resultFormats;
        const unencodable = outcome.fields.findIndex((field, i) => formatOf(formats, i) === 1 && binaryValue(field.typeOid, '0') === null);
        if (unencodable !== -1) outcome = { kind: 'error', fields: errorFields('0A000', `fake peer: binary format of type ${outcome.fields[unencodable]?.typeOid} is not emulated`), fatal: false };
      }
      for (const step of batch) {
        if (step.kind === 'parse') {
          statements.set(step.name, local.get(step.name) as Statement);
          out.empty('1');
        } else if (step.kind === 'bind') {
          const statement = statements.get(step.statement);
          if (statement === undefined) {
            fail(errorFields('26000', `prepared statement "${step.statement}" does not exist`));
            break;
          }
          portals.set(step.portal, { text: statement.text, params: step.params, resultFormats: step.resultFormats });
          out.empty('2');
        } else if (step.kind === 'describe') {
          const fields = outcome?.kind === 'rows' ? outcome.fields : [];
          if (step.what === 'S') out.parameterDescription(statements.get(step.name)?.paramTypes ?? []);
          const formats = step.what === 'P' ? (portals.get(step.name)?.resultFormats ?? []) : [];
          if (fields.length > 0) out.rowDescription(fields, formats);
          else out.empty('n');
        } else if (step.kind === 'execute') {
          if (outcome === null) {
            fail(errorFields('34000', `portal "${step.portal}" does not exist`));
            break;
          }
          if (outcome.kind === 'error') {
            fail(outcome.fields);
            break;
          }
          if (outcome.kind === 'rows') {
            const formats = portals.get(step.portal)?.resultFormats ?? [];
            for (const row of outcome.rows) {
              out.dataRow(
                row.map((value, i) => {
                  if (value === null) return null;
                  const field = outcome.kind === 'rows' ? outcome.fields[i] : undefined;
                  return formatOf(formats, i) === 1 && field !== undefined ? (binaryValue(field.typeOid, value) as Uint8Array) : utf8.encode(value);
                }),
              );
            }
            out.commandComplete(outcome.command);
            nextStatus(query?.text ?? '', false);
          }
        } else out.empty('3');
      }
      portals.delete('');
      out.readyForQuery(status);
      await write(out);
      return true;
    };

    const startup = async (body: Uint8Array): Promise<boolean> => {
      const packet = new BodyReader(body);
      const code = packet.int32();
      const out = new BackendWriter();
      if (code === SSL_REQUEST_CODE || code === GSS_REQUEST_CODE) {
        events.push({ type: 'ssl-request', connection, at: runtime.now() });
        out.byte('N');
        await write(out);
        return true;
      }
      if (code === CANCEL_REQUEST_CODE) {
        const cancel = { processId: packet.int32(), secret: packet.int32(), connection };
        cancels.push(cancel);
        events.push({ type: 'cancel', connection, at: runtime.now(), cancel });
        const target = running.get(cancel.processId);
        if (target !== undefined && target.secret === cancel.secret) target.cancel?.();
        return false;
      }
      if (code !== PROTOCOL_3) throw new Error(`unsupported protocol ${code}`);
      const parameters: Record<string, string> = {};
      for (let name = packet.cstring(); name !== ''; name = packet.cstring()) parameters[name] = packet.cstring();
      events.push({ type: 'startup', connection, at: runtime.now(), parameters });
      reader.startupPhase = false;
      out.authenticationOk();
      out.parameterStatus('server_version', '17.0 (curio-ts fake peer)');
      out.parameterStatus('server_encoding', 'UTF8');
      out.parameterStatus('client_encoding', 'UTF8');
      out.parameterStatus('DateStyle', 'ISO, MDY');
      out.parameterStatus('IntervalStyle', 'postgres');
      out.parameterStatus('TimeZone', 'UTC');
      out.parameterStatus('integer_datetimes', 'on');
      out.parameterStatus('standard_conforming_strings', 'on');
      out.parameterStatus('application_name', parameters.application_name ?? '');
      out.backendKeyData(processId, secret);
      out.readyForQuery('I');
      await write(out);
      return true;
    };

    /** Turn one message into a step or an answer; false once the connection is to close. */
    const handle = (message: FrontendMessage): boolean => {
      const body = new BodyReader(message.body);
      switch (message.type) {
        case 'Q': {
          const text = body.cstring();
          const query: FakePgQuery = { text, params: [], connection, protocol: 'simple' };
          if (text.trim() !== '') {
            queries.push(query);
            events.push({ type: 'query', connection, at: runtime.now(), query });
          }
          chain(() => simple(text));
          return true;
        }
        case 'P': {
          const name = body.cstring();
          const text = body.cstring();
          const declared = Array.from({ length: body.int16() }, () => body.int32());
          steps.push({ kind: 'parse', name, text, declared });
          parsed.set(name, { text, paramTypes: declared });
          return true;
        }
        case 'B': {
          const portal = body.cstring();
          const statement = body.cstring();
          const formats = Array.from({ length: body.int16() }, () => body.int16());
          const count = body.int16();
          const types = (statements.get(statement) ?? parsed.get(statement))?.paramTypes ?? [];
          const params: (string | null)[] = [];
          for (let i = 0; i < count; i++) {
            const length = body.int32();
            params.push(length === -1 ? null : paramText(body.bytes(length), formatOf(formats, i) === 1, types[i] ?? 0));
          }
          const resultFormats = Array.from({ length: body.int16() }, () => body.int16());
          steps.push({ kind: 'bind', portal, statement, params, resultFormats });
          return true;
        }
        case 'D': {
          const what = body.byte() === 'S' ? 'S' : 'P';
          steps.push({ kind: 'describe', what, name: body.cstring() });
          return true;
        }
        case 'E': {
          const portal = body.cstring();
          steps.push({ kind: 'execute', portal });
          // Recorded on arrival: the query is the one bound to this portal in this batch.
          const bind = steps.findLast((step): step is Extract<Step, { kind: 'bind' }> => step.kind === 'bind' && step.portal === portal);
          const text = bind === undefined ? portals.get(portal)?.text : parsed.get(bind.statement)?.text;
          if (text !== undefined) {
            const query: FakePgQuery = { text, params: bind?.params ?? portals.get(portal)?.params ?? [], connection, protocol: 'extended' };
            queries.push(query);
            events.push({ type: 'query', connection, at: runtime.now(), query });
          }
          return true;
        }
        case 'C':
          body.byte();
          body.cstring();
          steps.push({ kind: 'close' });
          return true;
        case 'H':
          return true;
        case 'S': {
          const batch = steps;
          steps = [];
          chain(() => sync(batch));
          return true;
        }
        case 'X':
          events.push({ type: 'terminate', connection, at: runtime.now() });
          return false;
        default:
          throw new Error(`unexpected frontend message ${JSON.stringify(message.type)}`);
      }
    };

    const chain = (step: () => Promise<boolean>): void => {
      answering = answering
        .then(async () => {
          if (!streams.has(stream)) return;
          if (!(await step())) end();
        })
        .catch(end);
    };

    try {
      for (let chunk = await stream.read(); chunk !== null && chunk.length > 0 && streams.has(stream); chunk = await stream.read()) {
        reader.push(chunk);
        let going = true;
        while (going && reader.startupPhase) {
          const packet = reader.nextPacket();
          if (packet === null) break;
          // The startup is answered before anything after it is read.
          going = await startup(packet);
        }
        while (going && !reader.startupPhase) {
          const message = reader.nextMessage();
          if (message === null) break;
          going = handle(message);
        }
        if (!going) {
          await answering;
          break;
        }
      }
    } catch {
      // a broken connection or bytes that are not the frontend protocol: drop it
    }
    await answering;
    end();
  };

  return acceptScripted(runtime, 'scripted pg peer', streams, serve, {
    queries,
    cancels,
    events,
    processIdOf: (connection: number) => 10000 + connection,
    secretOf: fakePgSecret,
  });
}
