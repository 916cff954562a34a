// @curio-ts/proto-redis: the Redis protocol as pure state machines (RESP2 and RESP3).
// Bytes in, frames out; commands in, bytes out. No sockets, no timers, no promises.

export { ProtocolError, RemoteProtocolError, LocalProtocolError } from './errors.js';
export { RespErrorReply, RespVerbatim, RespAttributed, RespPush, withoutAttributes } from './values.js';
export type { RespValue, RespFrame, RespAttributes } from './values.js';
export { RespDecoder, NEED_DATA, decodeUtf8 } from './decoder.js';
export type { NeedData, DecoderLimits } from './decoder.js';
export { ByteWriter, checkCommand, writeCommand, encodeCommand, writeReply, writeStatus } from './encoder.js';
export type { RedisArg, RespVersion } from './encoder.js';
export { RedisClientConnection } from './client.js';
export type { RedisClientEvent, RedisClientState, RedisClientOptions, SendOptions, HandshakeOptions } from './client.js';
export { commandKind, subscriptionSpace, isBlockingCommand, BLOCKING_COMMANDS } from './commands.js';
export type { CommandKind, SubscriptionSpace } from './commands.js';
export { RedisServerConnection, splitInline } from './server.js';
export type { RedisServerEvent, RedisServerOptions } from './server.js';
