// redis/options.ts
//
// Connection options and `redis://` / `rediss://` / `redis+unix://` URL parsing.

import type { ConnectTarget, TlsOptions } from '../runtime.js';
import { ClientError } from '../errors.js';

/** Reconnection with exponential backoff. */
export interface ReconnectOptions {
  /** First delay in ms (default 50). */
  readonly initialDelay?: number;
  /** Largest delay in ms (default 2000). */
  readonly maxDelay?: number;
  /** Growth factor between attempts (default 2). */
  readonly factor?: number;
  /** Give up after this many failed attempts in a row (default Infinity). */
  readonly maxAttempts?: number;
}

/** Options of connectRedis. */
export interface RedisOptions {
  /** A redis:// URL; the other options override what it says. */
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  /** Unix socket path (instead of host and port). */
  readonly path?: string;
  /** TLS: `true` for defaults, or options. */
  readonly tls?: boolean | TlsOptions;
  readonly username?: string;
  readonly password?: string;
  /** Database number (default 0). */
  readonly db?: number;
  /** CLIENT SETNAME. */
  readonly clientName?: string;
  /** Preferred RESP version (default 3; RESP2 is used if the server cannot do 3). */
  readonly protocol?: 2 | 3;
  /** Connect (and handshake) timeout in ms (default 10 000). */
  readonly connectTimeout?: number;
  /** Default per-call timeout in ms (default none). */
  readonly commandTimeout?: number;
  /** Reconnection policy, or false to fail calls once the connection is lost. */
  readonly reconnect?: ReconnectOptions | false;
  /** Most calls kept while (re)connecting (default 10 000). */
  readonly offlineQueueLimit?: number;
  /**
   * What happens to calls that were written when the connection broke: 'idempotent' (default)
   * sends read-only commands again after reconnecting and fails the others with
   * ConnectionLostError; 'never' fails them all.
   */
  readonly retryOnReconnect?: 'idempotent' | 'never';
  /** Connections used for blocking commands (BLPOP, XREAD BLOCK...) (default 4). */
  readonly blockingPoolSize?: number;
}

/** Options after defaults, and where to connect. */
export interface ResolvedRedisOptions {
  readonly target: ConnectTarget;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
  readonly clientName: string | undefined;
  readonly protocol: 2 | 3;
  readonly connectTimeout: number;
  readonly commandTimeout: number | undefined;
  readonly reconnect: Required<ReconnectOptions> | false;
  readonly offlineQueueLimit: number;
  readonly retryOnReconnect: 'idempotent' | 'never';
  readonly blockingPoolSize: number;
}

/** Parse a Redis URL into options. */
export function parseRedisUrl(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ClientError(`invalid Redis URL: ${url}`, 'ERR_BAD_URL', { cause: error });
  }
  const params = parsed.searchParams;
  const username = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  const common = {
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(params.has('name') ? { clientName: params.get('name') as string } : {}),
    ...(params.has('protocol') ? { protocol: Number(params.get('protocol')) === 2 ? (2 as const) : (3 as const) } : {}),
  };
  switch (parsed.protocol) {
    case 'redis:':
    case 'rediss:': {
      const dbPath = parsed.pathname.replace(/^\//, '');
      const db = dbPath === '' ? Number(params.get('db') ?? 0) : Number(dbPath);
      if (!Number.isInteger(db) || db < 0) throw new ClientError(`invalid database in Redis URL: ${url}`, 'ERR_BAD_URL');
      return {
        ...common,
        host: parsed.hostname === '' ? '127.0.0.1' : parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: parsed.port === '' ? 6379 : Number(parsed.port),
        db,
        ...(parsed.protocol === 'rediss:' ? { tls: true } : {}),
      };
    }
    case 'redis+unix:':
    case 'unix:': {
      const db = Number(params.get('db') ?? 0);
      return { ...common, path: decodeURIComponent(parsed.pathname), db };
    }
    default:
      throw new ClientError(`unsupported URL scheme ${parsed.protocol} (use redis://, rediss:// or redis+unix://)`, 'ERR_BAD_URL');
  }
}

/** Apply defaults. */
export function resolveRedisOptions(input: string | RedisOptions | undefined): ResolvedRedisOptions {
  const given = typeof input === 'string' ? { url: input } : (input ?? {});
  const options: RedisOptions = given.url === undefined ? given : { ...parseRedisUrl(given.url), ...withoutUrl(given) };
  let target: ConnectTarget;
  if (options.path !== undefined) target = { path: options.path };
  else {
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 6379;
    target =
      options.tls === undefined || options.tls === false
        ? { host, port }
        : { host, port, tls: options.tls === true ? {} : options.tls };
  }
  const reconnect =
    options.reconnect === false
      ? false
      : {
          initialDelay: options.reconnect?.initialDelay ?? 50,
          maxDelay: options.reconnect?.maxDelay ?? 2000,
          factor: options.reconnect?.factor ?? 2,
          maxAttempts: options.reconnect?.maxAttempts ?? Infinity,
        };
  return {
    target,
    username: options.username,
    password: options.password,
    db: options.db ?? 0,
    clientName: options.clientName,
    protocol: options.protocol ?? 3,
    connectTimeout: options.connectTimeout ?? 10_000,
    commandTimeout: options.commandTimeout,
    reconnect,
    offlineQueueLimit: options.offlineQueueLimit ?? 10_000,
    retryOnReconnect: options.retryOnReconnect ?? 'idempotent',
    blockingPoolSize: options.blockingPoolSize ?? 4,
  };
}

function withoutUrl(options: RedisOptions): RedisOptions {
  const { url: _url, ...rest } = options;
  return rest;
}
