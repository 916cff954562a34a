// state.ts
//
// Every state transition of the Redis protocol objects, as data: (role × state × input) →
// state, plus what each state means for the bytes that arrive and for sending. It knows
// nothing about bytes; client.ts and server.ts look their transitions up here and never
// decide a next state themselves. commands.ts says what each command *is* (its kind); this
// file says what the replies and calls it leads to *do* to the connection.
//
// Three machines, h11-style, one per side of the conversation that has a state. Each row says
// what the state means (`mode`), whether output may be queued in it, and where each input
// leads ("—": nowhere, the input is refused there). These tables are the data below, printed
// (a test keeps them equal, and equal to those in docs/writing-a-protocol.md).
//
// CLIENT_STATES, the client role's read side (`RedisClientProtocol.state`): what the frames the
// server sends next mean. Moved by the replies and confirmations as they are received, not by
// what was sent (a pipelined SUBSCRIBE changes the state when its confirmation arrives).
//
// | state | mode | may send | subscribed | unsubscribed-all | monitor-ok | reset-ok | end-of-stream | protocol-error |
// | --- | --- | --- | --- | --- | --- | --- | --- | --- |
// | normal | replies | yes | subscribed | normal | monitoring | normal | closed | error |
// | subscribed | replies-and-messages | yes | subscribed | normal | monitoring | normal | closed | error |
// | monitoring | monitor-lines | yes | monitoring | monitoring | — | normal | closed | error |
// | closed | nothing | no | — | — | — | — | — | — |
// | error | nothing | no | — | — | — | — | — | — |
//
// TRANSACTION_STATES, the client role's send side (`RedisClientProtocol.inTransaction`):
// whether the commands sent now are queued in a MULTI. Moved by the commands sent.
//
// | state | mode | may send | multi | exec | discard | reset |
// | --- | --- | --- | --- | --- | --- | --- |
// | idle | direct | yes | open | idle | idle | idle |
// | open | queued | yes | open | idle | idle | idle |
//
// SERVER_STATES, the server role (`RedisServerProtocol.state`): what happens to the client's
// input. Moved by the server logic's calls (block, unblock) and by the input.
//
// | state | mode | may send | block | end-of-stream | protocol-error | unblock |
// | --- | --- | --- | --- | --- | --- | --- |
// | reading | commands | yes | blocked | closed | error | — |
// | blocked | paused | yes | — | — | error | reading |
// | closed | nothing | yes | — | — | — | — |
// | error | nothing | yes | — | — | — | — |
//
// Invariants:
// - A transition not in the table is never taken: looking one up returns undefined, and the
//   caller throws (a LocalProtocolError when the caller's own call asked for it, such as
//   `unblock()` while reading; a RemoteProtocolError when the peer's bytes did).
// - `closed` and `error` are terminal in every machine that has them.
// - In the server role, `end-of-stream` is taken when the 'closed' event is handed out, which
//   happens only in `reading` (every command received before the end is delivered first); a
//   blocked server still accepts bytes and the end of the stream, and reports them once
//   unblocked.

/** Client role, read side: what the next frames from the server mean. */
export type ClientState = 'normal' | 'subscribed' | 'monitoring' | 'closed' | 'error';

/** What moves the client role's read side. */
export type ClientInput =
  /** A (p|s)subscribe or unsubscribe confirmation left at least one subscription. */
  | 'subscribed'
  /** An unsubscribe confirmation left no subscription. */
  | 'unsubscribed-all'
  /** MONITOR was answered +OK. */
  | 'monitor-ok'
  /** RESET was answered. */
  | 'reset-ok'
  /** The end of the stream was reported (the 'closed' event). */
  | 'end-of-stream'
  /** A RemoteProtocolError was thrown. */
  | 'protocol-error';

/** How the client role reads the frames that arrive in a state. */
export type ClientMode =
  /** Every frame answers the oldest command (RESP3 pushes aside). */
  | 'replies'
  /** In RESP2, arrays whose first element is message, pmessage or smessage are pub/sub messages. */
  | 'replies-and-messages'
  /** Every frame is a MONITOR line, but the reply of a RESET or QUIT at the head of the queue. */
  | 'monitor-lines'
  /** Nothing more is read: input is refused. */
  | 'nothing';

/** Client role, send side: whether commands sent now go into a transaction. */
export type TransactionState = 'idle' | 'open';

/** What the commands sent in a transaction state become: run at once, or queued until EXEC. */
export type TransactionMode = 'direct' | 'queued';

/** What moves the client role's send side: the kind of the command sent. */
export type TransactionInput = 'multi' | 'exec' | 'discard' | 'reset';

/** Server role: what happens to the client's input. */
export type ServerState = 'reading' | 'blocked' | 'closed' | 'error';

/** What moves the server role. */
export type ServerInput =
  /** The server logic blocked the client (BLPOP with nothing to pop): `block()`. */
  | 'block'
  /** The server logic released it: `unblock()`. */
  | 'unblock'
  /** The end of the stream was reported (the 'closed' event). */
  | 'end-of-stream'
  /** A RemoteProtocolError was thrown. */
  | 'protocol-error';

/** What a server role in a state does with the input. */
export type ServerMode =
  /** nextEvent parses and delivers commands (PAUSED still when `maxUnanswered` is reached). */
  | 'commands'
  /** nextEvent returns PAUSED; bytes are still accepted (see `wantsData`). */
  | 'paused'
  /** Input is over (closed) or refused (error). */
  | 'nothing';

/** One state of a machine: what it means (`mode`), and where each input leads from it. */
export interface StateRow<State extends string, Input extends string, Mode extends string> {
  readonly mode: Mode;
  /** Whether the protocol object may queue output in this state. */
  readonly maySend: boolean;
  readonly on: { readonly [I in Input]?: State };
}

/** A whole machine: one row per state. */
export type StateTable<State extends string, Input extends string, Mode extends string> = {
  readonly [S in State]: StateRow<State, Input, Mode>;
};

/** The client role's read side. */
export const CLIENT_STATES: StateTable<ClientState, ClientInput, ClientMode> = {
  normal: {
    mode: 'replies',
    maySend: true,
    on: {
      subscribed: 'subscribed',
      'unsubscribed-all': 'normal',
      'monitor-ok': 'monitoring',
      'reset-ok': 'normal',
      'end-of-stream': 'closed',
      'protocol-error': 'error',
    },
  },
  subscribed: {
    mode: 'replies-and-messages',
    maySend: true,
    on: {
      subscribed: 'subscribed',
      'unsubscribed-all': 'normal',
      'monitor-ok': 'monitoring', // RESP3 lets a subscribed connection MONITOR
      'reset-ok': 'normal',
      'end-of-stream': 'closed',
      'protocol-error': 'error',
    },
  },
  monitoring: {
    mode: 'monitor-lines',
    maySend: true,
    on: {
      // RESP3 pushes may still confirm (un)subscriptions: the sets change, the mode does not.
      subscribed: 'monitoring',
      'unsubscribed-all': 'monitoring',
      'reset-ok': 'normal',
      'end-of-stream': 'closed',
      'protocol-error': 'error',
    },
  },
  closed: { mode: 'nothing', maySend: false, on: {} },
  error: { mode: 'nothing', maySend: false, on: {} },
};

/** The client role's send side. */
export const TRANSACTION_STATES: StateTable<TransactionState, TransactionInput, TransactionMode> = {
  idle: { mode: 'direct', maySend: true, on: { multi: 'open', exec: 'idle', discard: 'idle', reset: 'idle' } },
  // A nested MULTI is refused by the server with an error reply: the transaction stays open.
  open: { mode: 'queued', maySend: true, on: { multi: 'open', exec: 'idle', discard: 'idle', reset: 'idle' } },
};

/** The server role. */
export const SERVER_STATES: StateTable<ServerState, ServerInput, ServerMode> = {
  reading: { mode: 'commands', maySend: true, on: { block: 'blocked', 'end-of-stream': 'closed', 'protocol-error': 'error' } },
  blocked: { mode: 'paused', maySend: true, on: { unblock: 'reading', 'protocol-error': 'error' } },
  // A server still answers after the client's end of stream (it may only have half-closed) and
  // after a protocol error (Redis sends "-ERR Protocol error: ..." before closing).
  closed: { mode: 'nothing', maySend: true, on: {} },
  error: { mode: 'nothing', maySend: true, on: {} },
};

/** Where `input` leads from `state` in `table`, or undefined when the table has no such transition. */
export function nextState<State extends string, Input extends string, Mode extends string>(
  table: StateTable<State, Input, Mode>,
  state: State,
  input: Input,
): State | undefined {
  return table[state].on[input];
}
