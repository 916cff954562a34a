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

/**
 * A table by input: for each input, the states that take it and where they go, as
 * [from, to, from, to...], with the inputs of every request/response cycle apart (looked up on
 * every event: a switch on a constant input and a scan of a few states by identity cost less
 * than two Map lookups).
 */
interface ByInput {
  readonly all: ReadonlyMap<StateInput, readonly HttpState[]>;
  readonly request: readonly HttpState[];
  readonly response: readonly HttpState[];
  readonly data: readonly HttpState[];
  readonly endOfMessage: readonly HttpState[];
  readonly peerRequest: readonly HttpState[];
  readonly nextCycle: readonly HttpState[];
  readonly keepAliveOff: readonly HttpState[];
}

function byInput(table: StateTable): ByInput {
  const all = new Map<StateInput, HttpState[]>();
  for (const [state, row] of Object.entries(table) as [HttpState, Partial<Record<StateInput, HttpState>>][]) {
    for (const [input, next] of Object.entries(row) as [StateInput, HttpState][]) {
      let list = all.get(input);
      if (list === undefined) all.set(input, (list = []));
      list.push(state, next);
    }
  }
  const of = (input: StateInput): readonly HttpState[] => all.get(input) ?? [];
  return { all, request: of('Request'), response: of('Response'), data: of('Data'), endOfMessage: of('EndOfMessage'), peerRequest: of('peer-request'), nextCycle: of('next-cycle'), keepAliveOff: of('keep-alive-off') };
}

const CLIENT_NEXT = byInput(CLIENT_STATES);
const SERVER_NEXT = byInput(SERVER_STATES);

/** The next state of `role` in `state` on `input`, or null when the table forbids it. */
export function nextState(role: Role, state: HttpState, input: StateInput): HttpState | null {
  const table = role === 'client' ? CLIENT_NEXT : SERVER_NEXT;
  let list: readonly HttpState[] | undefined;
  switch (input) {
    case 'Request':
      list = table.request;
      break;
    case 'Response':
      list = table.response;
      break;
    case 'Data':
      list = table.data;
      break;
    case 'EndOfMessage':
      list = table.endOfMessage;
      break;
    case 'peer-request':
      list = table.peerRequest;
      break;
    case 'next-cycle':
      list = table.nextCycle;
      break;
    case 'keep-alive-off':
      list = table.keepAliveOff;
      break;
    default:
      list = table.all.get(input);
      if (list === undefined) return null;
  }
  for (let i = 0; i < list.length; i += 2) if (list[i] === state) return list[i + 1] as HttpState;
  return null;
}
