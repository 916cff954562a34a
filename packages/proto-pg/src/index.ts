// @curio-ts/proto-pg: the sans-IO PostgreSQL protocol 3.0, frontend role.
//
// What is exported here is the package's whole API; see README.md.

export { LocalProtocolError, PgError, ProtocolError, RemoteProtocolError } from './errors.js';
export type { PgErrorFields } from './errors.js';
export * from './types/index.js';
