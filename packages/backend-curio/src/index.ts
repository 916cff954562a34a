// @curio-ts/backend-curio: the curio-ts clients over the curio kernel.
// Switching runtime is switching this import for '@curio-ts/backend-node'.

import { connectRedisWith } from '@curio-ts/client';
import type { RedisClient, RedisOptions } from '@curio-ts/client';
import { curioRuntime } from './runtime.js';

export { curioRuntime, CurioByteStream } from './runtime.js';
export { KernelAwaitable } from './awaitable.js';

/**
 * Connect to Redis (a `redis://` URL or options) over the kernel. Call it from a kernel task;
 * every call of the client is then a kernel trap: cancellable by task cancellation and
 * `timeoutAfter`, as well as by the per-call `signal` and `timeout` options.
 */
export function connectRedis(options?: string | RedisOptions): Promise<RedisClient> {
  return connectRedisWith(curioRuntime(), options);
}
