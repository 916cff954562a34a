// url.ts
//
// `pglite:` URLs: what `connectPg('pglite:')` means on every runtime. The backends hand a
// string that starts with `pglite:` to pgliteOptions and connect with the options it returns,
// so the same client runs against PGlite (PostgreSQL in WebAssembly, in a worker thread or in
// the calling thread) instead of a server.
//
// Forms: `pglite:` and `pglite:memory` (an in-memory database, gone when the process ends);
// `pglite:<path>` and `pglite://<path>` (a data directory, created if missing; a relative path
// is taken from the current directory by PGlite). A query string may follow: `?thread=main`
// runs PGlite in the calling thread instead of a worker (`?thread=worker`, the default); any
// other parameter is refused (TypeError), so a typo is not silently ignored.
//
// Invariants: one PGlite per process and data directory, and PGlite is one session: the
// transport refuses a second open connection to the same instance (FATAL 53300), so the
// options say `sessions: 1`. The client then opens no pool connection: a transaction, cursor,
// COPY TO or LISTEN takes the client's one connection for itself while it runs, and the
// queries made outside it wait until it ends (the engine's "one session"). COPY FROM STDIN is
// refused by the transport (PgError 0A000).

import type { PgOptions } from '@curio-ts/client';
import { pgliteConnect } from './transport.js';
import type { PgliteThread } from './transport.js';

/** Whether `url` names PGlite (`pglite:...`) rather than a server. */
export function isPgliteUrl(url: string): boolean {
  return url.startsWith('pglite:');
}

/** The thread a `pglite:` URL's query string names (`thread=main` or `thread=worker`). */
function threadParameter(url: string, query: string): PgliteThread {
  let thread: PgliteThread = 'worker';
  for (const [name, value] of new URLSearchParams(query)) {
    if (name !== 'thread') throw new TypeError(`unknown parameter ${JSON.stringify(name)} in the pglite: URL ${JSON.stringify(url)} (known: thread)`);
    if (value !== 'main' && value !== 'worker') throw new TypeError(`thread must be main or worker in the pglite: URL ${JSON.stringify(url)}, not ${JSON.stringify(value)}`);
    thread = value;
  }
  return thread;
}

/**
 * The connectPg options for a `pglite:` URL: the PGlite transport for its data directory (in
 * memory by default) and thread (`?thread=main`: in the calling thread; default: a worker
 * thread), user and database `postgres`, no TLS, `sessions: 1`, a connect
 * timeout of 60 s (the first connection waits for PGlite to start). `overrides`
 * are applied on top (rowMode, int8, queryTimeout...). Throws a TypeError for a URL that is not
 * a `pglite:` one, or whose query string holds anything but `thread=main|worker`.
 */
export function pgliteOptions(url: string, overrides: PgOptions = {}): PgOptions {
  if (!isPgliteUrl(url)) throw new TypeError(`not a pglite: URL: ${JSON.stringify(url)}`);
  let rest = url.slice('pglite:'.length);
  const question = rest.indexOf('?');
  const thread = question < 0 ? 'worker' : threadParameter(url, rest.slice(question + 1));
  if (question >= 0) rest = rest.slice(0, question);
  if (rest.startsWith('//')) rest = rest.slice(2);
  const dataDir = rest === '' || rest === 'memory' || rest === 'memory://' ? undefined : decodeURIComponent(rest);
  return {
    user: 'postgres',
    database: 'postgres',
    sslmode: 'disable',
    sessions: 1,
    // The first connection waits for PGlite to start (1.5 to 4 s on a quiet machine, 15 s seen
    // on a loaded one).
    connectTimeout: 60_000,
    ...overrides,
    connect: pgliteConnect(dataDir === undefined ? { thread } : { dataDir, thread }),
  };
}

/**
 * What a backend's connectPg does with its argument when it names PGlite: a `pglite:` string,
 * or options whose `url` is one, become {@link pgliteOptions} (the other options kept); anything
 * else gives null (connect to a server as usual, the PG* variables filling in).
 */
export function pgliteRoute(options: string | PgOptions | undefined): PgOptions | null {
  if (typeof options === 'string') return isPgliteUrl(options) ? pgliteOptions(options) : null;
  if (options === undefined || options.url === undefined || !isPgliteUrl(options.url)) return null;
  const { url, ...rest } = options;
  return pgliteOptions(url, rest);
}
