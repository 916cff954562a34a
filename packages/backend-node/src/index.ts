// @curio-ts/backend-node: the curio-ts clients over plain Node streams and Promises.
// Switching runtime is switching this import for '@curio-ts/backend-curio'.

import { readFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { createBrotliDecompress } from 'node:zlib';
import { connectPgWith, connectRedisWith, makeFetch, request as requestWith, serveHttp as serveHttpWith } from '@curio-ts/client';
import type { PgClient, PgFileReader, PgOptions, FetchFunction, HttpHandler, HttpRequestOptions, HttpResponse, HttpServer, HttpServerOptions, RedisClient, RedisOptions } from '@curio-ts/client';
import { nodeRuntime } from './node-runtime.js';
import { pgliteRoute } from '@curio-ts/transport-pglite';

export { nodeRuntime, connectNode, spawnNode } from './node-runtime.js';
export { NodeByteStream, READ_HIGH_WATER, READ_LOW_WATER, WRITE_HIGH_WATER } from './node-stream.js';
export type { NodeStreamOrigin } from './node-stream.js';
export { NodeListener, listenNode, DEFAULT_BACKLOG } from './node-listener.js';

/** Connect to Redis (a `redis://` URL or options) over plain Node. */
export function connectRedis(options?: string | RedisOptions): Promise<RedisClient> {
  return connectRedisWith(nodeRuntime, options);
}

/** How connectPg reads the files its options name (libpq's sslrootcert), once, when the client is made. */
const PG_FILES: PgFileReader = { readText: (path) => readFileSync(path, 'utf8') };

/**
 * Connect to PostgreSQL (a `postgres://` URL or options; the PG* environment variables fill in
 * what they leave out; `pglite:` or `pglite:<data dir>`: PostgreSQL in WebAssembly in a worker thread, see @curio-ts/transport-pglite) over plain Node. Resolves once the first connection is ready.
 */
export function connectPg(options?: string | PgOptions): Promise<PgClient> {
  const pglite = pgliteRoute(options);
  return pglite === null ? connectPgWith(nodeRuntime, options, process.env, PG_FILES) : connectPgWith(nodeRuntime, pglite, {});
}

/** Serve HTTP/1.1 with `handler` over plain Node (node:net streams and Promises). */
export function serveHttp(handler: HttpHandler, options?: HttpServerOptions): Promise<HttpServer> {
  return serveHttpWith(nodeRuntime, handler, options);
}

/**
 * Send an HTTP/1.1 request over plain Node: `request(nodeRuntime, url, options)` of
 * @curio-ts/client, pooled by the node runtime's default HttpAgent.
 */
export function request(url: string | URL, options?: HttpRequestOptions): Promise<HttpResponse> {
  return requestWith(nodeRuntime, url, options);
}

/**
 * `fetch` over plain Node (the global Response out), pooled by the node runtime's default
 * HttpAgent; gzip and deflate bodies are decoded by the platform, br by node:zlib.
 */
export const fetch: FetchFunction = makeFetch(nodeRuntime, { decoders: { br: () => Duplex.toWeb(createBrotliDecompress()) } });
