// engine/options.ts
//
// The engine's options, shared by every protocol client (each protocol resolves its own user
// options into these).

import type { ByteStream } from '../runtime.js';

/** Reconnection with exponential backoff (with jitter: each delay is 50 to 100 % of its value). */
export interface ReconnectOptions {
  /** First delay in ms (default 50). */
  readonly initialDelay?: number;
  /** Largest delay in ms (default 2000). */
  readonly maxDelay?: number;
  /** Growth factor between attempts (default 2). */
  readonly factor?: number;
  /**
   * Give up after this many failed attempts in a row (default Infinity: keep trying while the
   * server is away, as a long-running service usually should). An attempt fails when it cannot
   * connect and finish the handshake within `connectTimeout`, or when the connection it made
   * breaks with a protocol violation before answering anything. Giving up closes the client
   * for good: the calls waiting for a connection, and every call after, fail with
   * ReconnectFailedError (its `cause` is the last attempt's error).
   */
  readonly maxAttempts?: number;
}

/**
 * A transport: opens one connection and returns its byte stream (a socket through the
 * runtime, or anything else that carries the protocol's bytes: PGlite, a test pipe). Must
 * give up after `timeout` ms with a ConnectionError whose code is ETIMEDOUT.
 */
export type ConnectFunction = (options: { readonly timeout: number }) => Promise<ByteStream>;

/**
 * One place a connection may be opened to, of a list the engine tries in order (the hosts of
 * a multi-host PostgreSQL URL). A protocol may extend it with what its handshake needs to know
 * about the place (its host name for TLS, what kind of server it must be).
 */
export interface ConnectRoute {
  /** Opens a connection there (same contract as ConnectFunction). */
  readonly connect: ConnectFunction;
  /** Names the place in messages ('db1:5432'). */
  readonly label: string;
}

/** What the engine runs on, after defaults. */
export interface EngineOptions<R extends ConnectRoute = ConnectRoute> {
  /** For task names and messages: 'redis', 'redis:sub'. */
  readonly name: string;
  /** Opens a connection (the one route when `routes` is not given). */
  readonly connect: ConnectFunction;
  /**
   * Where to connect, asked again for every connection the engine opens (the main one, a
   * reconnect, a pool connection), so that it may reorder them (load balancing). The routes
   * are tried in order, each with the whole `connectTimeout`; the first whose connect and
   * handshake succeed gives the connection, and a route that fails (its handshake may refuse
   * it) is closed and the next tried. When every route failed: with one route, its error; with
   * several, AllHostsFailedError listing each. Default: one route, `connect`, labelled `name`.
   */
  readonly routes?: () => readonly R[];
  /** Bound on connecting plus the handshake, in ms. */
  readonly connectTimeout: number;
  /** Default per-call timeout in ms (undefined: none). */
  readonly callTimeout: number | undefined;
  /** Reconnection policy, or false: the first loss closes the engine. */
  readonly reconnect: Required<ReconnectOptions> | false;
  /** Most calls kept while (re)connecting. */
  readonly offlineQueueLimit: number;
  /** Calls written when a connection broke: 'idempotent' sends retryable ones again; 'never' fails them all. */
  readonly retryOnReconnect: 'idempotent' | 'never';
  /** Most connections leased for exclusive work at once. */
  readonly poolSize: number;
  /**
   * Most connections the peer accepts from this engine at once, the main one included (default
   * Infinity). The pool opens at most `sessions - 1` connections of its own; at 1 (a
   * single-session peer: PGlite) it opens none, and a lease takes the main connection for
   * itself instead: calls made outside it wait, in order, until it is released (see
   * Engine, "Discussion: one session").
   */
  readonly sessions?: number;
  /**
   * A pool connection idle at least this many ms is checked with the adapter's `ping` before it
   * is handed out, and replaced if it fails (default 1000; 0: every time; Infinity: never).
   */
  readonly poolCheckAfter?: number;
  /** A pool connection idle this many ms is closed (default Infinity: kept). */
  readonly idleTimeout?: number;
  /** A pool connection open this many ms is closed instead of going back idle (default Infinity). */
  readonly maxLifetime?: number;
}

/** Reconnect options with their defaults (or false). */
export function resolveReconnect(options: ReconnectOptions | false | undefined): Required<ReconnectOptions> | false {
  if (options === false) return false;
  return {
    initialDelay: options?.initialDelay ?? 50,
    maxDelay: options?.maxDelay ?? 2000,
    factor: options?.factor ?? 2,
    maxAttempts: options?.maxAttempts ?? Infinity,
  };
}
