// errors.ts (types)
//
// The errors of the type codecs. A value the server sent that its type's codec cannot read
// (a binary int4 that is not 4 bytes, malformed array text, a truncated binary array) is a
// PgDecodeError: a RemoteProtocolError, because the server sent bytes that are not what the
// column's type promises. The framing around it is still sound, so the caller may choose to fail
// only the query (the client does) rather than the connection. A parameter value that cannot be
// encoded for its type (a string for a binary int4 that is no integer, a cyclic object for json)
// is a PgEncodeError: a LocalProtocolError, the caller's mistake.

import { LocalProtocolError, RemoteProtocolError } from '../errors.js';

/**
 * A value from the server that its type's codec cannot decode. `code` is 'PG_DECODE';
 * `typeName` names the codec, `format` says text (0) or binary (1).
 */
export class PgDecodeError extends RemoteProtocolError {
  /** The codec's type name ('int4', 'numeric', '_int4'...). */
  readonly typeName: string;
  /** 0 when the value was in the text format, 1 in binary. */
  readonly format: 0 | 1;
  constructor(typeName: string, format: 0 | 1, reason: string, options?: { readonly cause?: unknown }) {
    super(`cannot decode ${format === 1 ? 'binary' : 'text'} ${typeName}: ${reason}`, 'PG_DECODE', -1, options);
    this.typeName = typeName;
    this.format = format;
  }
}

/** A parameter value that cannot be encoded as its type. `code` is 'PG_ENCODE'. */
export class PgEncodeError extends LocalProtocolError {
  /** The codec's type name. */
  readonly typeName: string;
  constructor(typeName: string, reason: string, options?: { readonly cause?: unknown }) {
    super(`cannot encode a parameter as ${typeName}: ${reason}`, 'PG_ENCODE', options);
    this.typeName = typeName;
  }
}
