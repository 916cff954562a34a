// @curio-ts/client: the engine, the Runtime interface, and each protocol's client API written
// once on them. Backends (@curio-ts/backend-node, @curio-ts/backend-curio,
// @curio-ts/backend-memory) implement Runtime and export `connectRedis` bound to themselves.

export type {
  Runtime,
  ByteStream,
  ReadSink,
  ReadConsumer,
  ConnectTarget,
  ListenTarget,
  Listener,
  StreamAddress,
  TlsOptions,
  TlsServerOptions,
  TlsInfo,
  TimerOptions,
  StartTlsOptions,
  Wake,
  Waiter,
  Background,
  SpawnOptions,
  CallClass,
} from './runtime.js';
export { FnWaiter, NEVER_ABORTED } from './runtime.js';
export {
  ClientError,
  RedisError,
  ConnectionError,
  ConnectionLostError,
  ConnectTimeoutError,
  ReconnectFailedError,
  AllHostsFailedError,
  CommandTimeoutError,
  AbortedError,
  ClientClosedError,
  InvalidArgumentError,
  OfflineQueueFullError,
  PoolTimeoutError,
  ProtocolViolationError,
  AuthenticationFailedError,
  HeadersTimeoutError,
  BodyTimeoutError,
  RedirectError,
} from './errors.js';
export type { HostFailure } from './errors.js';
// The engine, for protocol drivers (see docs/writing-a-protocol.md).
export { Engine, Lease } from './engine/engine.js';
export type { EngineStatus, EngineListener, BatchOptions } from './engine/engine.js';
export { EngineCall, rejectedWith } from './engine/call.js';
export type { CallState, CallOwner } from './engine/call.js';
export { EngineConnection } from './engine/connection.js';
export type { ProtocolAdapter, ProtocolSession, SessionSink, HandshakeContext, AbandonResult } from './engine/adapter.js';
export type { EngineOptions, ReconnectOptions, ConnectFunction, ConnectRoute } from './engine/options.js';
export { resolveReconnect } from './engine/options.js';
// Redis.
export { RedisClient, Pipeline, Transaction, connectRedisWith } from './redis/redis.js';
export { RedisEngine } from './redis/engine.js';
export type { CallOptions, RedisClientStatus, PushListener, RedisLease } from './redis/engine.js';
export { RedisCall, RedisSession, redisAdapter } from './redis/adapter.js';
export type { RedisOptions } from './redis/options.js';
export { parseRedisUrl } from './redis/options.js';
export { Subscription, SubscriptionOverflowError, PushStream, MonitorStream } from './redis/pubsub.js';
export type { PubSubMessage, SubscriptionOptions } from './redis/pubsub.js';
export type { SetOptions, ScanOptions, StreamEntry, ScoredMember, Bulk, HashEntries } from './redis/commands.js';
// HTTP.
export { serveHttp } from './http/server.js';
export type { HttpHandler, HttpServer, HttpServerOptions, RequestBody, ServerRequest, ServerResponse } from './http/server.js';
export { fetchHandler } from './http/web.js';
export type { FetchHandler, FetchHandlerOptions } from './http/web.js';
export { FastResponse, installFastResponse } from './http/fast-response.js';
export { HttpAgent } from './http/client/agent.js';
export type { HttpAgentOptions } from './http/client/agent.js';
export { request, defaultAgent } from './http/client/request.js';
export type { HttpRequestOptions, HttpRequestBody } from './http/client/request.js';
export type { HttpResponse, HttpResponseBody } from './http/client/response.js';
export { makeFetch } from './http/client/fetch.js';
export type { FetchFunction, FetchInit, MakeFetchOptions, ContentDecoder } from './http/client/fetch.js';
export { concatBytes } from './bytes.js';
// PostgreSQL.
export { parsePgUrl, pgEnvironmentOptions, resolvePgOptions } from './pg/options.js';
export type { PgOptions, PgSslMode, PgChannelBinding, PgPassword, PgEnvironment, PgFileReader, ResolvedPgOptions, PgHost, PgHostOption, PgTargetSessionAttrs, PgLoadBalanceHosts } from './pg/options.js';
export type { PgField, PgResult, PgRow, PgRowMode } from './pg/result.js';
export { sql, SqlFragment, isSqlFragment } from './pg/sql.js';
export type { SqlTag } from './pg/sql.js';
export { PgClient, PgEngine, PgListener, PgTransactionRolledBackError, connectPgWith, isPgError } from './pg/client.js';
export type { PgQueryOptions, PgTransactionOptions, PgLease, PgCursorOptions, PgNotification } from './pg/client.js';
export { PgCall } from './pg/call.js';
export type { PgCallKind, PgCopyHandler } from './pg/call.js';
export type { PgCopySource } from './pg/copy.js';
export { PgSession } from './pg/session.js';
export type { PgSessionEvent, PgSessionOptions } from './pg/session.js';
export { pgAdapter } from './pg/adapter.js';
export type { PgRoute, PgServerWanted } from './pg/adapter.js';
export { tlsServerEndPoint, signatureAlgorithmOid } from './pg/channel-binding.js';
export { PreparedStatement, StatementCache } from './pg/statements.js';
export type { PgDecoder } from './pg/statements.js';
export { PgError } from '@curio-ts/proto-pg';
export type { PgErrorFields, PgCodec } from '@curio-ts/proto-pg';
