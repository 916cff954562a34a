// errors.ts
//
// The errors of proto-http. A peer that breaks the protocol gets a RemoteProtocolError, which
// carries the status a server should answer with (400, 413, 414, 431, 501); the caller's own
// misuse (an event its state does not allow, a body longer than its Content-Length) is a
// LocalProtocolError. Both leave their side in the ERROR state: nothing more can be sent or
// received on that connection.

/** Base class of proto-http's protocol errors. */
export class HttpProtocolError extends Error {
  override name = 'HttpProtocolError';
  constructor(
    message: string,
    /** The status a server answers this with (400 when nothing more precise fits). */
    readonly statusHint: number,
    /** A stable code ('ERR_HTTP_HEADER_TOO_LARGE'...). */
    readonly code: string,
  ) {
    super(message);
  }
}

/** The peer broke the protocol (bad bytes, a smuggling shape, a limit exceeded). */
export class RemoteProtocolError extends HttpProtocolError {
  override name = 'RemoteProtocolError';
}

/** The caller broke the protocol (an event its state does not allow, a bad header, a body too long). */
export class LocalProtocolError extends HttpProtocolError {
  override name = 'LocalProtocolError';
  constructor(message: string, code = 'ERR_HTTP_LOCAL') {
    super(message, 500, code);
  }
}
