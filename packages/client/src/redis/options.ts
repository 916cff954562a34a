// redis/options.ts
//
// Connection options and `redis://` / `rediss://` / `redis+unix://` URL parsing. Options are
// checked when the client is made: a value of the wrong type or range is an
// InvalidArgumentError (ERR_BAD_OPTION), never a failure deep inside a handshake.

import type { ConnectFunction, ReconnectOptions } from '../engine/options.js';
import { resolveReconnect } from '../engine/options.js';
import type { ConnectTarget, TlsOptions } from '../runtime.js';
import { ClientError, InvalidArgumentError } from '../errors.js';

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
  /**
   * Connect and handshake timeout in ms (default 10 000): a server that does not answer in
   * time fails the attempt with ConnectTimeoutError. A server that answers it is still loading
   * its data (after a restart) is waited for, however long that takes, with calls kept in the
   * offline queue; each check of it is bounded by this timeout.
   */
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
  /**
   * Connections leased for blocking commands (BLPOP, XREAD BLOCK...) and `isolated()` work
   * (default 4).
   */
  readonly blockingPoolSize?: number;
  /**
   * Open connections with this instead of the runtime's `connect` (a transport that is not a
   * socket: a test pipe, a tunnel). It must give up after `timeout` ms (ConnectionError, code
   * ETIMEDOUT). Host, port, path and tls are then only used in messages.
   */
  readonly connect?: ConnectFunction;
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
  readonly connect: ConnectFunction | undefined;
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

export type { ReconnectOptions };

/** Apply defaults. Throws InvalidArgumentError (ERR_BAD_OPTION) for a bad option. */
export function resolveRedisOptions(input: string | RedisOptions | undefined): ResolvedRedisOptions {
  const given = typeof input === 'string' ? { url: input } : (input ?? {});
  const options: RedisOptions = given.url === undefined ? given : { ...parseRedisUrl(given.url), ...withoutUrl(given) };
  checkOptions(options);
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
  const reconnect = resolveReconnect(options.reconnect);
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
    connect: options.connect,
  };
}

/** Refuse options of the wrong type or range, naming the option. */
function checkOptions(options: RedisOptions): void {
  const bad = (name: string, wanted: string, value: unknown): never => {
    throw new InvalidArgumentError(`option ${name} must be ${wanted}, not ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`, 'ERR_BAD_OPTION');
  };
  for (const name of ['host', 'path', 'username', 'password', 'clientName'] as const) {
    const value = options[name];
    if (value !== undefined && typeof value !== 'string') bad(name, 'a string', value);
  }
  const counts: readonly [string, unknown, number][] = [
    ['port', options.port, 0],
    ['db', options.db, 0],
    ['offlineQueueLimit', options.offlineQueueLimit, 0],
    ['blockingPoolSize', options.blockingPoolSize, 1],
  ];
  for (const [name, value, least] of counts) {
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= least)) bad(name, `an integer >= ${least}`, value);
  }
  // Timers are setTimeout underneath, which fires at once for Infinity: only commandTimeout
  // (which is never armed when Infinity) may be infinite.
  const durations: [name: string, value: unknown, infinite: boolean][] = [
    ['connectTimeout', options.connectTimeout, false],
    ['commandTimeout', options.commandTimeout, true],
  ];
  const reconnect = options.reconnect;
  if (reconnect !== undefined && reconnect !== false) {
    if (typeof reconnect !== 'object' || reconnect === null) bad('reconnect', 'false or an object', reconnect);
    durations.push(['reconnect.initialDelay', reconnect.initialDelay, false], ['reconnect.maxDelay', reconnect.maxDelay, false]);
    const { factor, maxAttempts } = reconnect;
    if (factor !== undefined && !(typeof factor === 'number' && factor >= 1 && Number.isFinite(factor))) bad('reconnect.factor', 'a number >= 1', factor);
    if (maxAttempts !== undefined && !(maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 1))) bad('reconnect.maxAttempts', 'an integer >= 1 or Infinity', maxAttempts);
  }
  for (const [name, value, infinite] of durations) {
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && (Number.isFinite(value) || (infinite && value === Infinity)))) {
      bad(name, infinite ? 'a number of ms >= 0, or Infinity' : 'a finite number of ms >= 0', value);
    }
  }
  if (options.protocol !== undefined && options.protocol !== 2 && options.protocol !== 3) bad('protocol', '2 or 3', options.protocol);
  if (options.connect !== undefined && typeof options.connect !== 'function') bad('connect', 'a function', options.connect);
}

function withoutUrl(options: RedisOptions): RedisOptions {
  const { url: _url, ...rest } = options;
  return rest;
}
