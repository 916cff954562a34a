// errors.ts
//
// The client's errors. One base class with a stable `code`; errors chain with `cause`.
//
// - RedisError: the server answered with an error reply (WRONGTYPE, NOSCRIPT...): `code` is
//   the server's code, `message` its text. The connection is fine.
// - ConnectionError: could not connect, or the connection broke (`code` from the OS when known:
//   ECONNREFUSED, ECONNRESET...). ConnectionLostError: a call was written but the connection
//   broke before its reply, and the call was not safe to retry.
// - CommandTimeoutError / AbortedError: the per-call `timeout` or `signal` ended the call.
// - InvalidArgumentError: a command that cannot be sent (a NaN, an object, no name); nothing
//   of it was sent.
// - ClientClosedError, OfflineQueueFullError, ProtocolViolationError: what their names say.

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

/** The per-call timeout expired. */
export class CommandTimeoutError extends ClientError {
  constructor(command: string, ms: number) {
    super(`${command} timed out after ${ms} ms`, 'ERR_COMMAND_TIMEOUT');
  }
}

/** The call's AbortSignal fired. `cause` is the signal's reason. */
export class AbortedError extends ClientError {
  constructor(command: string, reason: unknown) {
    super(`${command} aborted`, 'ERR_ABORTED', { cause: reason });
  }
}

/**
 * A command that cannot be sent: no name, or an argument that is not a string, a finite
 * number, a bigint or a Uint8Array. Nothing of it (or of its batch) was sent. `code` is
 * ERR_BAD_ARGUMENT, ERR_BAD_COMMAND or ERR_EMPTY_COMMAND.
 */
export class InvalidArgumentError extends ClientError {}

/** The client was closed. */
export class ClientClosedError extends ClientError {
  constructor(message = 'the client is closed') {
    super(message, 'ERR_CLIENT_CLOSED');
  }
}

/** Too many calls are waiting for a connection. */
export class OfflineQueueFullError extends ClientError {
  constructor(limit: number) {
    super(`offline queue full (${limit} calls waiting for a connection)`, 'ERR_OFFLINE_QUEUE_FULL');
  }
}

/** The server violated the protocol; the connection was dropped. */
export class ProtocolViolationError extends ConnectionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_PROTOCOL_VIOLATION', options);
  }
}
