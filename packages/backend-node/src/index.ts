// @curio-ts/backend-node: the curio-ts clients over plain Node streams and Promises.
// Switching runtime is switching this import for '@curio-ts/backend-curio'.

import { connectRedisWith } from '@curio-ts/client';
import type { RedisClient, RedisOptions } from '@curio-ts/client';
import { nodeRuntime } from './node-runtime.js';

export { nodeRuntime, connectNode, spawnNode } from './node-runtime.js';
export { NodeByteStream, READ_HIGH_WATER, READ_LOW_WATER, WRITE_HIGH_WATER } from './node-stream.js';
export type { NodeStreamOrigin } from './node-stream.js';
export { NodeListener, listenNode, DEFAULT_BACKLOG } from './node-listener.js';

/** Connect to Redis (a `redis://` URL or options) over plain Node. */
export function connectRedis(options?: string | RedisOptions): Promise<RedisClient> {
  return connectRedisWith(nodeRuntime, options);
}
