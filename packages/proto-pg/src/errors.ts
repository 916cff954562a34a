// errors.ts
//
// The errors of proto-pg. Two kinds of protocol error, as in h11 and the other proto-*
// packages: the server sent something the protocol forbids (RemoteProtocolError), or this side
// used the API wrongly (LocalProtocolError). Both are ProtocolErrors with a stable `code`.
// After a RemoteProtocolError the connection object refuses further input: the byte stream can
// no longer be trusted.
//
// An ErrorResponse from the server is not a protocol error: it is a PgError, a value the
// server sent on purpose, carrying every field of the message.

/** Base class of proto-pg's protocol errors. */
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
 * The server sent bytes that are not valid protocol 3.0, or that exceed a configured limit.
 * `offset` counts bytes received on this connection before the offending message, when known.
 */
export class RemoteProtocolError extends ProtocolError {
  /** Bytes received before the offending message, or -1. */
  readonly offset: number;
  constructor(message: string, code: string, offset = -1, options?: { readonly cause?: unknown }) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : message, code, options);
    this.offset = offset;
  }
}

/** This side used the connection object wrongly (a query before startup, after close...). */
export class LocalProtocolError extends ProtocolError {}

/**
 * The fields of an ErrorResponse or NoticeResponse, by name (PostgreSQL's "Error and Notice
 * Message Fields"). Absent fields are undefined.
 */
export interface PgErrorFields {
  /** S: ERROR, FATAL, PANIC (errors); WARNING, NOTICE, DEBUG, INFO, LOG (notices), localized. */
  readonly severity?: string;
  /** V: the severity, never localized. */
  readonly severityName?: string;
  /** C: the SQLSTATE code ('23505'...). */
  readonly code?: string;
  /** M: the primary message. */
  readonly message?: string;
  /** D: detail. */
  readonly detail?: string;
  /** H: hint. */
  readonly hint?: string;
  /** P: position in the query text (1-based characters), as sent. */
  readonly position?: string;
  /** p: position in an internally generated query. */
  readonly internalPosition?: string;
  /** q: the internally generated query. */
  readonly internalQuery?: string;
  /** W: the context (call stack). */
  readonly where?: string;
  /** s: schema. */
  readonly schema?: string;
  /** t: table. */
  readonly table?: string;
  /** c: column. */
  readonly column?: string;
  /** d: data type. */
  readonly dataType?: string;
  /** n: constraint. */
  readonly constraint?: string;
  /** F: source file in the server. */
  readonly file?: string;
  /** L: source line in the server. */
  readonly line?: string;
  /** R: source routine in the server. */
  readonly routine?: string;
}

/**
 * The fields of a PgError besides `code` and `message` (declared once, in PgErrorFields; the
 * interface merges into the class, so each field is an own property only when the server sent it).
 */
export interface PgError extends Omit<PgErrorFields, 'code' | 'message'> {}

/** An ErrorResponse from the server: every field of it, and the SQLSTATE as `code`. */
export class PgError extends Error {
  /** The SQLSTATE ('23505': unique_violation...); 'XX000' when the server sent none. */
  readonly code: string;

  constructor(fields: PgErrorFields) {
    super(fields.message ?? 'unknown PostgreSQL error');
    this.name = 'PgError';
    Object.assign(this, fields);
    this.code = fields.code ?? 'XX000';
    // `message` is the Error's own; keep it as the server's message.
    this.message = fields.message ?? 'unknown PostgreSQL error';
  }
}

/**
 * Authentication could not be completed by this side: the server asked for a method proto-pg
 * does not speak (GSSAPI, SSPI, Kerberos: `ERR_PG_AUTH_UNSUPPORTED`), for a password none was
 * given (`ERR_PG_PASSWORD_REQUIRED`), or SCRAM failed (`ERR_PG_SCRAM_*`: a wrong server
 * signature, a nonce that does not extend ours, channel binding that cannot be honoured...).
 * Like a RemoteProtocolError, it leaves the connection object unusable.
 */
export class PgAuthenticationError extends ProtocolError {}
