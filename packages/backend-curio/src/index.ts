// @curio-ts/backend-curio: the curio-ts clients over the curio kernel.
// Switching runtime is switching this import for '@curio-ts/backend-node'.

import { readFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { createBrotliDecompress } from 'node:zlib';
import { connectPgWith, connectRedisWith, makeFetch, request as requestWith, serveHttp as serveHttpWith } from '@curio-ts/client';
import type { PgClient, PgFileReader, PgOptions, FetchFunction, HttpHandler, HttpRequestOptions, HttpResponse, HttpServer, HttpServerOptions, RedisClient, RedisOptions, Runtime } from '@curio-ts/client';
import { curioRuntime } from './curio-runtime.js';
import { pgliteRoute } from '@curio-ts/transport-pglite';

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

/** How connectPg reads the files its options name (libpq's sslrootcert), once, when the client is made. */
const PG_FILES: PgFileReader = { readText: (path) => readFileSync(path, 'utf8') };

/**
 * Connect to PostgreSQL (a `postgres://` URL or options; the PG* environment variables fill in
 * what they leave out; `pglite:` or `pglite:<data dir>`: PostgreSQL in WebAssembly in a worker thread, see @curio-ts/transport-pglite) over the kernel. Call it from a kernel task. A query awaited by a kernel
 * task belongs to that task: the task's cancellation (or an enclosing `timeoutAfter`) cancels
 * it on the server (a CancelRequest) and the await ends once the server confirmed, as with the
 * per-query `signal` and `timeout` options.
 */
export function connectPg(options?: string | PgOptions): Promise<PgClient> {
  const pglite = pgliteRoute(options);
  return pglite === null ? connectPgWith(curioRuntime(), options, process.env, PG_FILES) : connectPgWith(curioRuntime(), pglite, {});
}

/** Serve HTTP/1.1 with `handler` over the kernel: call it from a kernel task. Each connection is a daemon task, each request's handler a task of its own (cancelled when its client disconnects). */
export function serveHttp(handler: HttpHandler, options?: HttpServerOptions): Promise<HttpServer> {
  return serveHttpWith(curioRuntime(), handler, options);
}

/**
 * The runtime of `request` and `fetch` below: one for the module, so that their default
 * HttpAgent (one per runtime) pools connections across calls. It works for the kernel of the
 * calling task, and learns the next kernel once that one has ended (the connections of an
 * ended kernel are gone with its tasks, and dropped from the pools).
 */
const shared: Runtime = curioRuntime();

/**
 * Send an HTTP/1.1 request over the kernel: `request(runtime, url, options)` of
 * @curio-ts/client. Call it from a kernel task: every wait of the request is an operation of
 * that task, so cancelling the task (or an enclosing `timeoutAfter`) interrupts it, closing
 * the connection it used.
 */
export function request(url: string | URL, options?: HttpRequestOptions): Promise<HttpResponse> {
  return requestWith(shared, url, options);
}

/**
 * `fetch` over the kernel (the global Response out); gzip and deflate bodies are decoded by the
 * platform, br by node:zlib. Call it from a kernel task.
 */
export const fetch: FetchFunction = makeFetch(shared, { decoders: { br: () => Duplex.toWeb(createBrotliDecompress()) } });
