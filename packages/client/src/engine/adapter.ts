// engine/adapter.ts
//
// What a protocol gives the engine: an adapter (one per client: which calls may be retried,
// which need a connection of their own, the handshake) and a session per connection (the
// protocol object behind a few members: encode a call, hand over the bytes to write, feed the
// bytes read and settle calls, abandon a written call). undici's `connectH1` is the model: the
// generic engine owns queueing, pipelining, timeouts, reconnects and pools; the adapter only
// speaks the protocol.
//
// Invariants the engine relies on:
// - Responses come in the order calls were written (Redis, Postgres, HTTP/1.1 all answer in
//   order): a session settles a call by taking it with `sink.take(id)`, which also drops the
//   abandoned calls written before it.
// - `send` either encodes the whole call into the pending output or throws (a ClientError)
//   leaving the output untouched: a call that cannot be sent fails alone.
// - `receive` throws only for a protocol violation (the peer sent what the protocol forbids):
//   the engine then drops the connection and fails its calls with ProtocolViolationError,
//   never sending them again. An empty chunk is the end of the stream.

import type { ByteStream, StartTlsOptions } from '../runtime.js';
import type { EngineCall } from './call.js';
import type { ConnectRoute } from './options.js';

/** What a session tells the connection it belongs to. */
export interface SessionSink<C extends EngineCall, Ev> {
  /** The written call whose response has id `id`, taken off the queue (null: it was abandoned). */
  take(id: number): C | null;
  /** Something the peer sent that answers no call (a push, a notification, a notice). */
  event(event: Ev): void;
  /** The handshake the session ran by itself succeeded. */
  ready(): void;
  /** The handshake the session ran by itself failed with `error` (the connection is closed). */
  handshakeFailed(error: Error): void;
  /**
   * Stop reading from the peer until the returned function is called (a consumer that has not
   * taken the rows or body bytes already received): the peer is then stalled by TCP.
   */
  pauseReading(): () => void;
  /**
   * Send `bytes` on a short connection of their own to the same peer (a Postgres
   * CancelRequest, which must not travel on the connection it cancels): the engine opens it
   * with its connect function, writes the bytes, and closes it once the peer closes it or after
   * the connect timeout. Best effort: a failure is ignored, so the session must not depend on
   * it for correctness (only for promptness). `done`, if given, is called once the short
   * connection is over (the peer closed it, it failed, or it timed out), and the connection
   * then writes what its session held back meanwhile (see `hasDataToSend`).
   */
  sendAside(bytes: Uint8Array, done?: () => void): void;
  /**
   * Send again a call the session took and did not settle (Postgres: a cached statement the
   * server refused because its plan changed, prepared anew): it goes out with the next flush,
   * under a new id, after the calls already written.
   */
  resubmit(call: C): void;
}

/**
 * How a written call is abandoned: 'discard' (the session swallows its response when it
 * comes: the call ends now), 'close' (the connection cannot be used any more: the engine
 * closes it and the call ends now) or 'pending' (the session started to resynchronise, as a
 * Postgres CancelRequest does; it settles the call later through the sink, and the call then
 * ends with the abandonment's error).
 */
export type AbandonResult = 'discard' | 'close' | 'pending';

/** One connection's protocol object, as the engine drives it. */
export interface ProtocolSession<C extends EngineCall, Ev> {
  /** Encode `call` into the pending output and return the id its response will carry. */
  send(call: C): number;
  /** Whether there are bytes to write. */
  readonly hasDataToSend: boolean;
  /** The bytes to write now (everything encoded since the last call), or null. */
  dataToSend(): Uint8Array | null;
  /** Feed bytes from the peer (empty: end of stream); settle calls and report events through `sink`. */
  receive(chunk: Uint8Array, sink: SessionSink<C, Ev>): void;
  /**
   * A written call is abandoned (timeout, abort, cancellation). `sink` is the connection's, for
   * a session that resynchronises ('pending') by sending something aside.
   */
  abandon(call: C, sink: SessionSink<C, Ev>): AbandonResult;
  /**
   * Optional: `count` calls, `first` the first of them, are about to be sent in one burst (told
   * only for large bursts): the session may make room for their bytes at once, so that a burst
   * of 200 000 calls is encoded into one buffer instead of one that grows by doubling (each
   * growth a copy of everything before). A hint: sending works the same without it.
   */
  expect?(count: number, first: C): void;
}

/** What a handshake can do with the connection it runs on. */
export interface HandshakeContext<C extends EngineCall, S, R extends ConnectRoute = ConnectRoute> {
  /** The connection's session. */
  readonly session: S;
  /** The route the connection was opened through (EngineOptions.routes). */
  readonly route: R;
  /**
   * Write what the session has encoded by itself now (a goodbye before the handshake refuses
   * the connection: a Postgres Terminate); resolves once the stream took it.
   */
  writeNow(): Promise<void>;
  /**
   * Send a call of the connection's own (AUTH, SELECT, SET search_path) and wait for its
   * result. Not retried; an error response rejects; cancelling the wait closes the connection.
   */
  request<T>(call: C): Promise<T>;
  /** Write what the session has encoded by itself (a handshake it drives). */
  flush(): void;
  /** Wait until the session reports `ready` (or `handshakeFailed`) through its sink. */
  untilReady(): Promise<void>;
  /**
   * Pause for `ms` on the runtime's clock (a server still loading its data). The connect
   * timeout does not run during the pause and starts afresh after it. Ends early, with the
   * engine's closed error, when the engine closes.
   */
  pause(ms: number): Promise<void>;
  /**
   * Upgrade the connection to TLS (Postgres's SSLRequest): the stream is replaced by the TLS
   * stream, whose `tls` is returned. Only between two exchanges (nothing unread).
   */
  startTls(options: StartTlsOptions): Promise<NonNullable<ByteStream['tls']>>;
  /** Whether the transport can upgrade to TLS at all (a socket can; PGlite, a test pipe may not). */
  readonly canStartTls: boolean;
}

/** One protocol, as the engine needs it. */
export interface ProtocolAdapter<C extends EngineCall, Ev, S extends ProtocolSession<C, Ev> = ProtocolSession<C, Ev>, R extends ConnectRoute = ConnectRoute> {
  /** The protocol's name, for task names and messages ('redis'). */
  readonly protocol: string;
  /** A session for a connection that just opened. */
  createSession(): S;
  /**
   * Bring a fresh connection to ready (authentication, options, readiness of the server).
   * Rejects to fail the attempt; bounded by the engine's connect timeout.
   */
  handshake(context: HandshakeContext<C, S, R>): Promise<void>;
  /**
   * A call that checks that a connection still works and changes nothing (Postgres: an empty
   * query; Redis: PING). The engine sends it on a pool connection that was idle at least
   * `poolCheckAfter` ms before handing it out; one that fails is closed and replaced, unseen by
   * the caller. Without it, idle pool connections are handed out unchecked.
   */
  ping?(): C;
}
