// @curio-ts/client: the one client API, written once against the Runtime interface.
// Backends (@curio-ts/backend-node, @curio-ts/backend-curio) implement Runtime and export
// `connectRedis` bound to themselves.

export type {
  Runtime,
  ByteStream,
  ConnectTarget,
  ListenTarget,
  Listener,
  StreamAddress,
  TlsOptions,
  TlsServerOptions,
  TlsInfo,
  StartTlsOptions,
  Wake,
  Waiter,
  Background,
} from './runtime.js';
export { FnWaiter } from './runtime.js';
export {
  ClientError,
  RedisError,
  ConnectionError,
  ConnectionLostError,
  ConnectTimeoutError,
  ReconnectFailedError,
  CommandTimeoutError,
  AbortedError,
  ClientClosedError,
  InvalidArgumentError,
  OfflineQueueFullError,
  ProtocolViolationError,
} from './errors.js';
export { RedisClient, Pipeline, Transaction, connectRedisWith } from './redis/redis.js';
export { RedisClientCore } from './redis/client.js';
export type { CallOptions, RedisClientStatus, PushListener } from './redis/client.js';
export type { RedisOptions, ReconnectOptions } from './redis/options.js';
export { parseRedisUrl } from './redis/options.js';
export { Subscription, SubscriptionOverflowError, PushStream, MonitorStream } from './redis/pubsub.js';
export type { PubSubMessage, SubscriptionOptions } from './redis/pubsub.js';
export type { SetOptions, ScanOptions, StreamEntry, ScoredMember, Bulk, HashEntries } from './redis/commands.js';
