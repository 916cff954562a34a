// @curio-ts/backend-node: the curio-ts clients over plain Node streams and Promises.
// Switching runtime is switching this import for '@curio-ts/backend-curio'.

import { connectRedisWith, serveHttp as serveHttpWith } from '@curio-ts/client';
import type { HttpHandler, HttpServer, HttpServerOptions, RedisClient, RedisOptions } from '@curio-ts/client';
import { nodeRuntime } from './node-runtime.js';

export { nodeRuntime, connectNode, spawnNode } from './node-runtime.js';
export { NodeByteStream, READ_HIGH_WATER, READ_LOW_WATER, WRITE_HIGH_WATER } from './node-stream.js';
export type { NodeStreamOrigin } from './node-stream.js';
export { NodeListener, listenNode, DEFAULT_BACKLOG } from './node-listener.js';

/** Connect to Redis (a `redis://` URL or options) over plain Node. */
export function connectRedis(options?: string | RedisOptions): Promise<RedisClient> {
  return connectRedisWith(nodeRuntime, options);
}

/** Serve HTTP/1.1 with `handler` over plain Node (node:net streams and Promises). */
export function serveHttp(handler: HttpHandler, options?: HttpServerOptions): Promise<HttpServer> {
  return serveHttpWith(nodeRuntime, handler, options);
}
