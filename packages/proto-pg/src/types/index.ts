// @curio-ts/proto-pg types: the PostgreSQL type codecs, text and binary, and the registry
// a client resolves them through. Pure: no IO, no clock, no host types.
//
// Decode errors are PgDecodeError (a RemoteProtocolError, code 'PG_DECODE'); encode errors
// are PgEncodeError (a LocalProtocolError, code 'PG_ENCODE').

export { arrayCodec } from './array.js';
export type { PgCodec, PgDecoder } from './codec.js';
export { PgDecodeError, PgEncodeError } from './errors.js';
export { PgOid } from './oids.js';
export type { PgInterval, TypeOptions } from './options.js';
export { TypeRegistry } from './registry.js';
