// @curio-ts/proto-redis: the Redis protocol as pure state machines (RESP2 and RESP3).
// Bytes in, frames out; commands in, bytes out. No sockets, no timers, no promises.

export { ProtocolError, RemoteProtocolError, LocalProtocolError } from './errors.js';
export { RespErrorReply, RespVerbatim, RespAttributed, RespPush } from './values.js';
export type { RespValue, RespFrame } from './values.js';
export { RespDecoder, NEED_DATA, decodeUtf8 } from './decoder.js';
export type { NeedData, DecoderLimits } from './decoder.js';
export { ByteWriter, writeCommand, encodeCommand, writeReply, writeStatus } from './encoder.js';
export type { RedisArg, RespVersion } from './encoder.js';
