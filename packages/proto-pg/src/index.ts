// @curio-ts/proto-pg: the sans-IO PostgreSQL protocol 3.0, frontend role.
//
// What is exported here is the package's whole API; see README.md.

export { LocalProtocolError, PgAuthenticationError, PgError, ProtocolError, RemoteProtocolError } from './errors.js';
export type { PgErrorFields } from './errors.js';
export * from './types/index.js';
export { PgConnection, NEED_DATA } from './connection.js';
export type { BackendKey, NeedData, PgConnectionOptions, TransactionStatus } from './connection.js';
export { PgDataRow } from './events.js';
export type { PgEvent, PgEventType, PgField, PgMessageKind } from './events.js';
export type { PgParam } from './frontend.js';
export { FrontendWriter, PROTOCOL_VERSION, encodeCancelRequest } from './frontend.js';
export { MessageReader } from './reader.js';
export { ScramClient, md5Password } from './scram.js';
export { saslprep } from './saslprep.js';
export type { ScramMechanism, ScramOptions } from './scram.js';
export { PG_STATES, nextState } from './state.js';
export type { PgInput, PgSendMode, PgState, PgStateRow } from './state.js';
