// @curio-ts/backend-curio: the curio-ts clients over the curio kernel.
// Switching runtime is switching this import for '@curio-ts/backend-node'.

import { connectRedisWith, serveHttp as serveHttpWith } from '@curio-ts/client';
import type { HttpHandler, HttpServer, HttpServerOptions, RedisClient, RedisOptions } from '@curio-ts/client';
import { curioRuntime } from './curio-runtime.js';

export { curioRuntime, connectCurio } from './curio-runtime.js';
export type { CurioRuntimeOptions } from './curio-runtime.js';
export { CurioByteStream, WRITE_HIGH_WATER } from './curio-stream.js';
export type { CurioStreamOrigin } from './curio-stream.js';
export { CurioListener, listenCurio } from './curio-listener.js';

/**
 * Connect to Redis (a `redis://` URL or options) over the kernel. Call it from a kernel task.
 * Every call returns a plain Promise; a call made by a kernel task belongs to that task: the
 * task's cancellation (or an enclosing `timeoutAfter`) abandons it and interrupts an await of
 * it at once, as well as the per-call `signal` and `timeout` options.
 */
export function connectRedis(options?: string | RedisOptions): Promise<RedisClient> {
  return connectRedisWith(curioRuntime(), options);
}

/** Serve HTTP/1.1 with `handler` over the kernel: call it from a kernel task. Each connection is a daemon task, each request's handler a task of its own (cancelled when its client disconnects). */
export function serveHttp(handler: HttpHandler, options?: HttpServerOptions): Promise<HttpServer> {
  return serveHttpWith(curioRuntime(), handler, options);
}
