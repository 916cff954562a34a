// @curio-ts/backend-node: the curio-ts clients over plain Node streams and Promises.
// Switching runtime is switching this import for '@curio-ts/backend-curio'.

import { connectRedisWith } from '@curio-ts/client';
import type { RedisClient, RedisOptions } from '@curio-ts/client';
import { nodeRuntime } from './runtime.js';

export { nodeRuntime, NodeByteStream, connectNode } from './runtime.js';

/** Connect to Redis (a `redis://` URL or options) over plain Node. */
export function connectRedis(options?: string | RedisOptions): Promise<RedisClient> {
  return connectRedisWith(nodeRuntime, options);
}
