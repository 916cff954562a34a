// errors.ts
//
// Two kinds of protocol error, as in h11: the peer sent something wrong
// (RemoteProtocolError), or this side used the API wrongly (LocalProtocolError). Both are
// ProtocolErrors with a stable `code`. After a RemoteProtocolError the protocol object
// refuses further input (it throws that same error again): the byte stream can no longer be
// trusted.
//
// A Redis *error reply* (`-ERR ...`) is not a protocol error: it is a value the server sent
// on purpose, delivered as a {@link RespErrorReply}.

/** Base class of protocol errors. */
export class ProtocolError extends Error {
  /** Stable identifier of the error kind. */
  readonly code: string;
  constructor(message: string, code: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The peer sent bytes that are not valid RESP, or that exceed a configured limit. `offset`
 * counts bytes received on this connection before the offending byte, when known.
 */
export class RemoteProtocolError extends ProtocolError {
  readonly offset: number;
  constructor(message: string, code: string, offset = -1, options?: { readonly cause?: unknown }) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : message, code, options);
    this.offset = offset;
  }
}

/** This side used the protocol object wrongly (sent after close, bad argument...). */
export class LocalProtocolError extends ProtocolError {}
