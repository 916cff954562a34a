// @curio-ts/backend-node: the curio-ts clients over plain Node streams and Promises.
// Switching runtime is switching this import for '@curio-ts/backend-curio'.

import { connectRedisWith } from '@curio-ts/client';
import type { RedisClient, RedisOptions } from '@curio-ts/client';
import { nodeRuntime } from './runtime.js';

export { nodeRuntime, NodeByteStream, connectNode } from './runtime.js';
export {
  ClientError,
  RedisError,
  ConnectionError,
  ConnectionLostError,
  CommandTimeoutError,
  AbortedError,
  ClientClosedError,
  OfflineQueueFullError,
  ProtocolViolationError,
  RedisClient,
  Pipeline,
  Transaction,
  Subscription,
  SubscriptionOverflowError,
  MonitorStream,
  parseRedisUrl,
} from '@curio-ts/client';
export type {
  CallOptions,
  RedisOptions,
  ReconnectOptions,
  RedisClientStatus,
  PubSubMessage,
  SubscriptionOptions,
  SetOptions,
  ScanOptions,
  StreamEntry,
  ScoredMember,
} from '@curio-ts/client';

/** Connect to Redis (a `redis://` URL or options) over plain Node. */
export function connectRedis(options?: string | RedisOptions): Promise<RedisClient> {
  return connectRedisWith(nodeRuntime, options);
}
