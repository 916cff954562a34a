// @curio-ts/proto-redis: the Redis protocol as sans-IO protocol objects (RESP2 and RESP3).
// Bytes in, events out; commands and replies in, bytes out. No sockets, no timers, no promises.

export { ProtocolError, RemoteProtocolError, LocalProtocolError } from './errors.js';
export { RespErrorReply, RespVerbatim, RespAttributed, RespPush, withoutAttributes } from './values.js';
export type { RespValue, RespFrame, RespAttributes } from './values.js';
export { NEED_DATA, PAUSED } from './sentinels.js';
export type { NeedData, Paused } from './sentinels.js';
export { RespDecoder, decodeUtf8 } from './decoder.js';
export type { DecoderLimits } from './decoder.js';
export { ByteWriter } from './writer.js';
export type { Allocate, ByteWriterOptions } from './writer.js';
export { ReplyWriter } from './reply.js';
export type { ReplyWriterOptions } from './reply.js';
export { checkArgument, checkCommand, writeCommand, writeKeyCommand, encodeCommand } from './encoder.js';
export type { RedisArg, RespVersion } from './encoder.js';
export { CLIENT_STATES, SERVER_STATES, TRANSACTION_STATES, nextState } from './state.js';
export type {
  ClientInput,
  ClientMode,
  ClientState,
  ServerInput,
  ServerMode,
  ServerState,
  StateRow,
  StateTable,
  TransactionInput,
  TransactionMode,
  TransactionState,
} from './state.js';
export { RedisClientProtocol } from './client.js';
export type { RedisClientEvent, RedisClientState, RedisClientOptions, SendOptions, HandshakeOptions } from './client.js';
export { commandKind, subscriptionSpace, isBlockingCommand, BLOCKING_COMMANDS } from './commands.js';
export type { CommandKind, SubscriptionSpace } from './commands.js';
export { RedisServerProtocol, splitInline } from './server.js';
export type { RedisServerEvent, RedisServerLimits, RedisServerOptions, ServerArg } from './server.js';
