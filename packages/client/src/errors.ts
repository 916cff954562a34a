// errors.ts
//
// The client's errors. One base class with a stable `code`; errors chain with `cause`.
//
// - RedisError: the server answered with an error reply (WRONGTYPE, NOSCRIPT...): `code` is
//   the server's code, `message` its text. The connection is fine.
// - ConnectionError: could not connect, or the connection broke (`code` from the OS when known:
//   ECONNREFUSED, ECONNRESET...). ConnectionLostError: a call was written but the connection
//   broke before its reply, and the call was not safe to retry. ConnectTimeoutError: connecting
//   and the handshake took longer than `connectTimeout`. ReconnectFailedError: reconnecting
//   gave up (`reconnect.maxAttempts`); the client is closed for good.
// - CommandTimeoutError / AbortedError: the per-call `timeout` or `signal` ended the call.
//   AbortedError follows the platform's convention: its `name` is 'AbortError' (what fetch and
//   Node's own APIs reject with, and what code checks), its `cause` the signal's reason.
// - InvalidArgumentError: a command that cannot be sent (a NaN, an object, no name); nothing
//   of it was sent.
// - ClientClosedError, OfflineQueueFullError, ProtocolViolationError: what their names say.
// - HTTP client: HeadersTimeoutError / BodyTimeoutError (the `timeout` options of a request),
//   RedirectError (too many redirections, or one that cannot be followed).

/** Base class of every client error. */
export class ClientError extends Error {
  /** Stable identifier of the error kind. */
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** An error reply from the server. `code` is the server's (WRONGTYPE, ERR, NOSCRIPT...). */
export class RedisError extends ClientError {
  /** The command that failed (its name). */
  readonly command: string;
  constructor(code: string, message: string, command: string) {
    super(message, code);
    this.command = command;
  }
}

/** Connecting failed, or the connection broke. */
export class ConnectionError extends ClientError {
  constructor(message: string, code = 'ERR_CONNECTION', options?: { cause?: unknown }) {
    super(message, code, options);
  }
}

/** A call had been written when the connection broke, and was not safe to retry. */
export class ConnectionLostError extends ConnectionError {
  constructor(message = 'connection lost before the reply arrived', options?: { cause?: unknown }) {
    super(message, 'ERR_CONNECTION_LOST', options);
  }
}

/**
 * Connecting, the handshake, or the wait for a loading server to answer took longer than
 * `connectTimeout` (or the OS gave up connecting). `code` is ETIMEDOUT.
 */
export class ConnectTimeoutError extends ConnectionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ETIMEDOUT', options);
  }
}

/** One host's failure, inside AllHostsFailedError. */
export interface HostFailure {
  /**
   * The host as 'name:port' ('[::1]:5434', a socket's path); a Postgres host given with a
   * hostaddr shows both, 'name at address:port' ('db1 at 10.0.0.7:5432').
   */
  readonly host: string;
  /** Why it failed (a ConnectionError, a ConnectTimeoutError, a PgError, a target mismatch...). */
  readonly error: unknown;
}

/**
 * Every host of a list failed (a multi-host PostgreSQL URL): `failures` says, in the order
 * they were tried, which host failed and why; `errors` holds the same errors (as an
 * AggregateError's). `cause` is the last one. `code` is ERR_ALL_HOSTS_FAILED.
 */
export class AllHostsFailedError extends ConnectionError {
  /** Each host tried and its error, in the order they were tried. */
  readonly failures: readonly HostFailure[];
  constructor(failures: readonly HostFailure[]) {
    const each = failures.map(({ host, error }) => `${host}: ${error instanceof Error ? error.message : String(error)}`);
    super(`could not connect to any of ${failures.length} hosts (${each.join('; ')})`, 'ERR_ALL_HOSTS_FAILED', { cause: failures[failures.length - 1]?.error });
    this.failures = failures;
  }

  /** The errors of `failures`, in order. */
  get errors(): readonly unknown[] {
    return this.failures.map((failure) => failure.error);
  }
}

/**
 * Reconnecting gave up after `reconnect.maxAttempts` failed attempts in a row: the client is
 * closed, and every call waiting for a connection, and every call made after, fails with this.
 * `cause` is the last attempt's error.
 */
export class ReconnectFailedError extends ConnectionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_RECONNECT_FAILED', options);
  }
}

/** The per-call timeout expired. */
export class CommandTimeoutError extends ClientError {
  constructor(command: string, ms: number) {
    super(`${command} timed out after ${ms} ms`, 'ERR_COMMAND_TIMEOUT');
  }
}

/**
 * The call's AbortSignal fired. Like the rejections of fetch and Node's own APIs, its `name` is
 * 'AbortError' (test `error.name === 'AbortError'`, or `instanceof AbortedError`); `cause` is
 * the signal's reason (`signal.reason`: what was passed to `abort()`, or the platform's
 * DOMException); `code` is ERR_ABORTED.
 */
export class AbortedError extends ClientError {
  constructor(command: string, reason: unknown) {
    super(`${command} aborted`, 'ERR_ABORTED', { cause: reason });
    this.name = 'AbortError';
  }
}

/**
 * A command that cannot be sent: no name, or an argument that is not a string, a finite
 * number, a bigint or a Uint8Array. Nothing of it (or of its batch) was sent. `code` is
 * ERR_BAD_ARGUMENT, ERR_BAD_COMMAND or ERR_EMPTY_COMMAND.
 */
export class InvalidArgumentError extends ClientError {}

/** The client was closed (by `close()`, `quit()`, or when its connection failed for good). */
export class ClientClosedError extends ClientError {
  constructor(message = 'the client is closed', options?: { cause?: unknown }) {
    super(message, 'ERR_CLIENT_CLOSED', options);
  }
}

/** Too many calls are waiting for a connection. */
export class OfflineQueueFullError extends ClientError {
  constructor(limit: number) {
    super(`offline queue full (${limit} calls waiting for a connection)`, 'ERR_OFFLINE_QUEUE_FULL');
  }
}

/** No pool connection became free within the wait's timeout (all `size` were leased). */
export class PoolTimeoutError extends ClientError {
  constructor(ms: number, size: number) {
    super(`no pool connection became free within ${ms} ms (all ${size} are in use)`, 'ERR_POOL_TIMEOUT');
  }
}

/**
 * The server sent something that is not valid RESP (or HTTP): the connection was dropped, and the calls
 * that were waiting on it fail with this (never sent again: the same reply would come back).
 * `cause` is the decoder's RemoteProtocolError.
 */
export class ProtocolViolationError extends ConnectionError {
  constructor(message: string, options?: { cause?: unknown }, code = 'ERR_PROTOCOL_VIOLATION') {
    super(message, code, options);
  }
}

/**
 * The client would not authenticate the way the server asked, or the server failed to prove
 * itself (Postgres: channel binding required but not used, a SCRAM server that does not know
 * the password, a password asked for and none given). The connection was closed before
 * anything more was sent. `code` is the protocol's (ERR_PG_CHANNEL_BINDING_REQUIRED,
 * ERR_PG_SCRAM_..., ERR_PG_PASSWORD_REQUIRED, ERR_PG_AUTH_UNSUPPORTED), `cause` its error.
 * Like any ProtocolViolationError, nothing is retried on it.
 */
export class AuthenticationFailedError extends ProtocolViolationError {
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options, code);
  }
}

/**
 * The HTTP response's head did not arrive within `headersTimeout` ms of the request being sent.
 * The connection was closed. `code` is ERR_HTTP_HEADERS_TIMEOUT.
 */
export class HeadersTimeoutError extends ClientError {
  constructor(ms: number) {
    super(`no response head within ${ms} ms`, 'ERR_HTTP_HEADERS_TIMEOUT');
  }
}

/**
 * No byte of the HTTP response's body arrived for `bodyTimeout` ms. The connection was closed.
 * `code` is ERR_HTTP_BODY_TIMEOUT.
 */
export class BodyTimeoutError extends ClientError {
  constructor(ms: number) {
    super(`the response body stalled for ${ms} ms`, 'ERR_HTTP_BODY_TIMEOUT');
  }
}

/**
 * A redirection could not be followed: more than `maxRedirections` in a row, a Location that is
 * not an http(s) URL, or a streamed request body that cannot be sent again. `code` is
 * ERR_HTTP_REDIRECT.
 */
export class RedirectError extends ClientError {
  constructor(message: string) {
    super(message, 'ERR_HTTP_REDIRECT');
  }
}
