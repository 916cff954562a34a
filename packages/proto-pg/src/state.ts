// state.ts
//
// Every state of the PostgreSQL frontend connection object (`PgConnection.state`), as data:
// what each state means for the messages the server may send in it (`accepts`, message type
// bytes), whether the frontend may send in it (`send`), and where each input leads. It knows
// nothing about bytes beyond the type letters; connection.ts looks its transitions up here and
// never decides a next state itself.
//
// | state | send | accepts | leaves on |
// | --- | --- | --- | --- |
// | initial | startup | (nothing) | request-ssl → ssl-requested, startup → authenticating |
// | ssl-requested | no | the one-byte answer | ssl-response → ssl-answered |
// | ssl-answered | startup | (nothing) | startup → authenticating |
// | authenticating | held | R E N v | auth-ok → starting |
// | starting | queries | S K E N A Z | ready-idle → ready, ready-busy → busy |
// | ready | queries | E N A S | send → busy |
// | busy | queries | T D C I E 1 2 3 n t s G H W Z N A S | ready-idle → ready, ready-busy → busy, extended-error → recovering, copy-in → copy-in, copy-out → copy-out, copy-both → copy-both |
// | recovering | queries | Z E N A S | ready-idle → ready, ready-busy → busy |
// | copy-in | copy | E N A S | copy-end-sent → busy, extended-error → recovering, simple-error → busy |
// | copy-out | queries | d c E N A S | copy-done → busy, extended-error → recovering, simple-error → busy |
// | copy-both | copy | d c E N A S | copy-done → copy-in, copy-end-sent → copy-out, extended-error → recovering, simple-error → busy |
// | closing | no | E N A S | (only end-of-stream) |
// | closed | no | (nothing) | (terminal) |
// | broken | no | (nothing) | (terminal) |
//
// Every state but closed and broken also leaves on `fatal` (an ErrorResponse of severity FATAL
// or PANIC: the server closes next) → closing, `end-of-stream` → closed, and
// `protocol-error` → broken.
//
// `send` says what the frontend may send: 'startup' (requestSsl and startup only), 'held'
// (query messages are accepted and held back until authentication succeeds, so that a driver
// can queue its first query behind the startup), 'queries' (every query message), 'copy'
// (CopyData, CopyDone, CopyFail), 'no'.
//
// Invariants:
// - A transition not in the table is never taken: `nextState` returns undefined and the caller
//   throws (a LocalProtocolError when the caller's call asked for it, a RemoteProtocolError
//   when the server's bytes did).
// - `closed` and `broken` are terminal.
// - A message whose type letter is not in the state's `accepts` is refused before its body is
//   buffered (the length is not trusted either).

/** The states of a PgConnection. */
export type PgState =
  | 'initial'
  | 'ssl-requested'
  | 'ssl-answered'
  | 'authenticating'
  | 'starting'
  | 'ready'
  | 'busy'
  | 'recovering'
  | 'copy-in'
  | 'copy-out'
  | 'copy-both'
  | 'closing'
  | 'closed'
  | 'broken';

/** What moves a PgConnection's state. */
export type PgInput =
  /** requestSsl() was called. */
  | 'request-ssl'
  /** The server's one-byte answer to SSLRequest was handed out. */
  | 'ssl-response'
  /** startup() was called. */
  | 'startup'
  /** AuthenticationOk arrived. */
  | 'auth-ok'
  /** ReadyForQuery arrived and no sent message waits for an answer. */
  | 'ready-idle'
  /** ReadyForQuery arrived and sent messages still wait for answers. */
  | 'ready-busy'
  /** A message that the server answers was sent. */
  | 'send'
  /** An ErrorResponse ended an extended-query message: the server skips to the next Sync. */
  | 'extended-error'
  /** An ErrorResponse ended a simple query's COPY: ReadyForQuery follows. */
  | 'simple-error'
  /** CopyInResponse arrived. */
  | 'copy-in'
  /** CopyOutResponse arrived. */
  | 'copy-out'
  /** CopyBothResponse arrived. */
  | 'copy-both'
  /** The server's CopyDone arrived. */
  | 'copy-done'
  /** copyDone() or copyFail() was called. */
  | 'copy-end-sent'
  /** An ErrorResponse of severity FATAL or PANIC arrived (the server closes next). */
  | 'fatal'
  /** The end of the stream was handed out ('closed' event), or terminate() was called. */
  | 'end-of-stream'
  /** A RemoteProtocolError was thrown. */
  | 'protocol-error';

/** What the frontend may send in a state (see the file header). */
export type PgSendMode = 'startup' | 'held' | 'queries' | 'copy' | 'no';

/** One state: what it accepts and allows, and where each input leads from it. */
export interface PgStateRow {
  readonly send: PgSendMode;
  /** The backend message type letters accepted in this state ('' for none). */
  readonly accepts: string;
  readonly on: { readonly [I in PgInput]?: PgState };
}

/** Async messages, accepted whenever a session is up: NoticeResponse, NotificationResponse, ParameterStatus. */
const ASYNC = 'NAS';
const ENDINGS = { fatal: 'closing', 'end-of-stream': 'closed', 'protocol-error': 'broken' } as const;

/** The whole machine: one row per state. */
export const PG_STATES: { readonly [S in PgState]: PgStateRow } = {
  initial: { send: 'startup', accepts: '', on: { 'request-ssl': 'ssl-requested', startup: 'authenticating', ...ENDINGS } },
  'ssl-requested': { send: 'no', accepts: '', on: { 'ssl-response': 'ssl-answered', ...ENDINGS } },
  'ssl-answered': { send: 'startup', accepts: '', on: { startup: 'authenticating', ...ENDINGS } },
  // NoticeResponse may come before authentication ends; ErrorResponse ends a failed one.
  authenticating: { send: 'held', accepts: 'REvN', on: { 'auth-ok': 'starting', ...ENDINGS } },
  starting: { send: 'queries', accepts: 'KEZ' + ASYNC, on: { 'ready-idle': 'ready', 'ready-busy': 'busy', send: 'starting', ...ENDINGS } },
  ready: { send: 'queries', accepts: 'E' + ASYNC, on: { send: 'busy', ...ENDINGS } },
  busy: {
    send: 'queries',
    accepts: 'TDCIE123ntsGHWZ' + ASYNC,
    on: {
      send: 'busy',
      'ready-idle': 'ready',
      'ready-busy': 'busy',
      'extended-error': 'recovering',
      'copy-in': 'copy-in',
      'copy-out': 'copy-out',
      'copy-both': 'copy-both',
      ...ENDINGS,
    },
  },
  recovering: { send: 'queries', accepts: 'ZE' + ASYNC, on: { send: 'recovering', 'ready-idle': 'ready', 'ready-busy': 'busy', ...ENDINGS } },
  // The server answers a COPY FROM STDIN only after our CopyDone or CopyFail (or with an error).
  'copy-in': { send: 'copy', accepts: 'E' + ASYNC, on: { 'copy-end-sent': 'busy', 'extended-error': 'recovering', 'simple-error': 'busy', ...ENDINGS } },
  // Messages sent during COPY TO STDOUT wait in the server's input until the copy ends.
  'copy-out': { send: 'queries', accepts: 'dcE' + ASYNC, on: { send: 'copy-out', 'copy-done': 'busy', 'extended-error': 'recovering', 'simple-error': 'busy', ...ENDINGS } },
  'copy-both': {
    send: 'copy',
    accepts: 'dcE' + ASYNC,
    on: { 'copy-done': 'copy-in', 'copy-end-sent': 'copy-out', 'extended-error': 'recovering', 'simple-error': 'busy', ...ENDINGS },
  },
  closing: { send: 'no', accepts: 'E' + ASYNC, on: { 'end-of-stream': 'closed', fatal: 'closing', 'protocol-error': 'broken' } },
  closed: { send: 'no', accepts: '', on: {} },
  broken: { send: 'no', accepts: '', on: {} },
};

/** Where `input` leads from `state`, or undefined when the table has no such transition. */
export function nextState(state: PgState, input: PgInput): PgState | undefined {
  return PG_STATES[state].on[input];
}

/**
 * For each state, a 256-entry table of the accepted message type bytes (1 = accepted): the
 * framing looks a type up once per message, before buffering its body.
 */
export const ACCEPTS: { readonly [S in PgState]: Uint8Array } = Object.fromEntries(
  Object.entries(PG_STATES).map(([state, row]) => {
    const set = new Uint8Array(256);
    for (let i = 0; i < row.accepts.length; i++) set[row.accepts.charCodeAt(i)] = 1;
    return [state, set];
  }),
) as { readonly [S in PgState]: Uint8Array };
