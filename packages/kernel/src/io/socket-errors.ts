// io/socket-errors.ts
//
// The typed errors of kernel sockets, and the one function that turns Node's socket errors
// (plain Errors with an errno `code` such as 'ECONNRESET') into them.
//
// Invariants:
// - Every socket error is a `SocketError` (a CurioError): `code` is the errno name Node
//   reported ('ECONNRESET', 'ECONNREFUSED', 'EPIPE', ...) or, for conditions the kernel detects
//   itself, an `ERR_*` code. The original Node error, when there is one, is the `cause`.
// - The common errno codes have their own subclasses (Python's ConnectionResetError and
//   friends), so callers can use either `instanceof` or `code`.
// - TLS failures (bad certificate, wrong host name, protocol errors) are `TlsError`s.

import { CurioError } from '../errors.js';

/** Base class of every error a kernel socket reports. `code` is the errno name or `ERR_*`. */
export class SocketError extends CurioError {
  /** The numeric errno Node reported (negative, libuv style), when there was one. */
  readonly errno: number | undefined;
  /** The system call that failed ('read', 'write', 'connect', ...), when known. */
  readonly syscall: string | undefined;
  constructor(message: string, options: { code: string; cause?: unknown; errno?: number; syscall?: string }) {
    super(message, { code: options.code, cause: options.cause });
    this.errno = options.errno;
    this.syscall = options.syscall;
  }
}

/** The peer reset the connection (ECONNRESET). */
export class ConnectionResetError extends SocketError {}

/** Nobody listens at the address connected to (ECONNREFUSED). */
export class ConnectionRefusedError extends SocketError {}

/** Writing to a connection the peer has closed (EPIPE). */
export class BrokenPipeError extends SocketError {}

/** The TLS handshake or the TLS layer failed (untrusted certificate, wrong host name...). */
export class TlsError extends SocketError {}

/** The socket was closed by this program and then used again. Code `ERR_SOCKET_CLOSED`. */
export class SocketClosedError extends SocketError {
  constructor(message = 'socket is closed') {
    super(message, { code: 'ERR_SOCKET_CLOSED' });
  }
}

/**
 * A read needed more bytes than the peer sent before it closed its side (Curio's EOFError from
 * `read_exactly`). `partial` holds the bytes that did arrive; they are no longer in the stream.
 * Code `ERR_INCOMPLETE_READ`.
 */
export class IncompleteReadError extends SocketError {
  /** The bytes read before the end of the stream. */
  readonly partial: Uint8Array;
  /** How many bytes were asked for. */
  readonly expected: number;
  constructor(partial: Uint8Array, expected: number) {
    super(`unexpected end of stream: got ${partial.length} of ${expected} bytes`, { code: 'ERR_INCOMPLETE_READ' });
    this.partial = partial;
    this.expected = expected;
  }
}

/**
 * A line grew past the stream's line limit without a newline (asyncio's LimitOverrunError):
 * the peer is hostile or the protocol is not line-based. The bytes read stay at the front of
 * the stream (nothing is consumed), so a caller may still read them with `read` or
 * `readExactly`, or close the connection. Code `ERR_LINE_TOO_LONG`.
 */
export class LineTooLongError extends SocketError {
  /** The stream's line limit, in bytes (the `\n` included). */
  readonly limit: number;
  constructor(limit: number) {
    super(`line longer than the limit of ${limit} bytes`, { code: 'ERR_LINE_TOO_LONG' });
    this.limit = limit;
  }
}

interface NodeSystemError {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
}

const ERRNO_CODE = /^E[A-Z0-9]+$/;

/**
 * Turn an error Node reported on a socket into a {@link SocketError}. `tls` says whether it
 * came from a TLS socket: then any code that is not an errno name is a TLS failure.
 * @internal
 */
export function toSocketError(error: unknown, tls: boolean): SocketError {
  if (error instanceof SocketError) return error;
  const info = (typeof error === 'object' && error !== null ? error : {}) as NodeSystemError;
  const code = typeof info.code === 'string' ? info.code : 'ERR_SOCKET';
  const message = typeof info.message === 'string' ? info.message : String(error);
  const options = {
    code,
    cause: error,
    ...(typeof info.errno === 'number' ? { errno: info.errno } : {}),
    ...(typeof info.syscall === 'string' ? { syscall: info.syscall } : {}),
  };
  switch (code) {
    case 'ECONNRESET':
      return new ConnectionResetError(message, options);
    case 'ECONNREFUSED':
      return new ConnectionRefusedError(message, options);
    case 'EPIPE':
      return new BrokenPipeError(message, options);
    default:
      // OpenSSL's verification codes ('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED'...)
      // are neither errno names nor Node's ERR_* codes.
      if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') ||
          (tls && !ERRNO_CODE.test(code) && !code.startsWith('ERR_'))) {
        return new TlsError(message, options);
      }
      return new SocketError(message, options);
  }
}
