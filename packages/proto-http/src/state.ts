// state.ts
//
// The states of both sides of an HTTP/1.1 connection, as one table: what each event a side
// sends (or that the peer sends, for the server's switch to SEND_RESPONSE) does to its state.
// Pure data plus one function; connection.ts applies it, and the table is tested on its own.
//
// Invariants:
// - Each side has its own state; an event that the table has no row for, in that side's
//   state, is a protocol error: a LocalProtocolError when we would send it, a
//   RemoteProtocolError when the peer sent it (connection.ts), and that side goes to ERROR.
// - DONE is where a side rests once its message is complete. When keep-alive is off (either
//   side said `Connection: close`, or an HTTP/1.0 peer did not ask to keep it), DONE becomes
//   MUST_CLOSE, and nothing but closing is left.
// - A new cycle (both sides back to IDLE) starts only when both are DONE: `startNextCycle`.
// - Protocol switches (Upgrade, CONNECT): the client, once DONE with a request proposing one,
//   is MIGHT_SWITCH_PROTOCOL until the server answers: an accepting response (101, or 2xx to
//   CONNECT) moves both sides to SWITCHED_PROTOCOL, where HTTP is over; any other response
//   puts the client back to DONE.
// - Pipelining (client role): a client DONE with its request may send the next one before the
//   response comes (`pipeline-request`, DONE → SEND_BODY), as long as keep-alive is on and no
//   switch was proposed; the server's side then answers the requests in order: once DONE with
//   one response while requests sent are still unanswered, it goes on to the next
//   (`next-response`, DONE → SEND_RESPONSE). Which method each response answers (a HEAD's has
//   no body) is kept by connection.ts as a FIFO of the methods sent.

/** A side of the connection. */
export type Role = 'client' | 'server';

/** The states of one side. */
export type HttpState =
  | 'IDLE'
  | 'SEND_RESPONSE'
  | 'SEND_BODY'
  | 'DONE'
  | 'MUST_CLOSE'
  | 'CLOSED'
  | 'MIGHT_SWITCH_PROTOCOL'
  | 'SWITCHED_PROTOCOL'
  | 'ERROR';

/**
 * What moves a state. The event names are events that side sends; the others:
 * - `peer-request`: the server's side, when the client's request head arrives (or is sent);
 * - `propose-switch`: a client DONE with a request proposing Upgrade or CONNECT;
 * - `accept-switch` / `refuse-switch`: the server's answer to that proposal (for the server's
 *   own side, `accept-switch` replaces Response when it sends the 101 or the 2xx to CONNECT);
 * - `keep-alive-off`: a side DONE on a connection that will not be reused;
 * - `next-cycle`: both sides DONE, a new request/response cycle;
 * - `pipeline-request`: a client DONE sends another request while responses are still to come;
 * - `next-response`: the server's side, DONE with one response, goes on to answer the next
 *   pipelined request;
 * - `protocol-error`: that side broke the protocol (from any state).
 */
export type StateInput =
  | 'Request'
  | 'InformationalResponse'
  | 'Response'
  | 'Data'
  | 'EndOfMessage'
  | 'ConnectionClosed'
  | 'peer-request'
  | 'propose-switch'
  | 'accept-switch'
  | 'refuse-switch'
  | 'keep-alive-off'
  | 'next-cycle'
  | 'pipeline-request'
  | 'next-response'
  | 'protocol-error';

/** One side's table: state → input → next state. */
export type StateTable = Readonly<Record<HttpState, Readonly<Partial<Record<StateInput, HttpState>>>>>;

const ERROR_ROW = { 'protocol-error': 'ERROR' } as const;

/** The client's side. */
export const CLIENT_STATES: StateTable = {
  IDLE: { Request: 'SEND_BODY', ConnectionClosed: 'CLOSED', ...ERROR_ROW },
  SEND_RESPONSE: { ...ERROR_ROW },
  SEND_BODY: { Data: 'SEND_BODY', EndOfMessage: 'DONE', ...ERROR_ROW },
  DONE: {
    'propose-switch': 'MIGHT_SWITCH_PROTOCOL',
    'keep-alive-off': 'MUST_CLOSE',
    'next-cycle': 'IDLE',
    'pipeline-request': 'SEND_BODY',
    ConnectionClosed: 'CLOSED',
    ...ERROR_ROW,
  },
  MUST_CLOSE: { 'keep-alive-off': 'MUST_CLOSE', ConnectionClosed: 'CLOSED', ...ERROR_ROW },
  CLOSED: { ConnectionClosed: 'CLOSED', 'keep-alive-off': 'CLOSED', ...ERROR_ROW },
  MIGHT_SWITCH_PROTOCOL: { 'accept-switch': 'SWITCHED_PROTOCOL', 'refuse-switch': 'DONE', ...ERROR_ROW },
  SWITCHED_PROTOCOL: { ...ERROR_ROW },
  ERROR: { ...ERROR_ROW },
};

/** The server's side. */
export const SERVER_STATES: StateTable = {
  // A response from IDLE: the server answers a request it could not parse (a 400...).
  IDLE: { 'peer-request': 'SEND_RESPONSE', Response: 'SEND_BODY', ConnectionClosed: 'CLOSED', ...ERROR_ROW },
  SEND_RESPONSE: { InformationalResponse: 'SEND_RESPONSE', Response: 'SEND_BODY', 'accept-switch': 'SWITCHED_PROTOCOL', ...ERROR_ROW },
  SEND_BODY: { Data: 'SEND_BODY', EndOfMessage: 'DONE', ...ERROR_ROW },
  // next-response: seen from a pipelining client only (the server's own side never takes it).
  DONE: { 'keep-alive-off': 'MUST_CLOSE', 'next-cycle': 'IDLE', 'next-response': 'SEND_RESPONSE', ConnectionClosed: 'CLOSED', ...ERROR_ROW },
  MUST_CLOSE: { 'keep-alive-off': 'MUST_CLOSE', ConnectionClosed: 'CLOSED', ...ERROR_ROW },
  CLOSED: { ConnectionClosed: 'CLOSED', 'keep-alive-off': 'CLOSED', ...ERROR_ROW },
  MIGHT_SWITCH_PROTOCOL: { ...ERROR_ROW },
  SWITCHED_PROTOCOL: { ...ERROR_ROW },
  ERROR: { ...ERROR_ROW },
};

/** The table of `role`. */
export function statesOf(role: Role): StateTable {
  return role === 'client' ? CLIENT_STATES : SERVER_STATES;
}

/** A table as Maps (looked up on every event: a Map of interned strings beats an object's keyed lookup). */
function compile(table: StateTable): ReadonlyMap<HttpState, ReadonlyMap<StateInput, HttpState>> {
  return new Map(Object.entries(table).map(([state, row]) => [state as HttpState, new Map(Object.entries(row) as [StateInput, HttpState][])]));
}

const CLIENT_NEXT = compile(CLIENT_STATES);
const SERVER_NEXT = compile(SERVER_STATES);

/** The next state of `role` in `state` on `input`, or null when the table forbids it. */
export function nextState(role: Role, state: HttpState, input: StateInput): HttpState | null {
  return (role === 'client' ? CLIENT_NEXT : SERVER_NEXT).get(state)?.get(input) ?? null;
}
