// pg/options.ts
//
// The Postgres client's options: `postgres://` and `postgresql://` URLs (unix-socket hosts
// included), libpq's PG* environment variables, and their defaults, resolved once when the
// client is made. A value of the wrong type or range is an InvalidArgumentError
// (ERR_BAD_OPTION); a URL that cannot be read is a ClientError (ERR_BAD_URL): never a failure
// deep inside a handshake.
//
// Precedence, as in libpq: options given in code, then the URL, then the environment, then
// the defaults. The environment is handed in by the backend (`process.env` on Node): this
// package reads no global state.
//
// Discussion: sslmode. 'disable' never asks for TLS; 'prefer' (libpq's default) asks with an
// SSLRequest and goes on in the clear if the server says no (or the transport cannot start
// TLS), without checking the certificate; 'require' insists on TLS but does not check the
// certificate (libpq's behaviour without a root certificate); 'verify-full' insists and checks
// the chain and the host name. libpq's 'allow' is read as 'prefer'; 'verify-ca' (the chain but
// not the name) is refused: the Runtime's TLS options have no way to skip the name alone, and
// quietly checking more or less than asked would be wrong either way. A unix socket never uses
// TLS (libpq neither). File options of libpq's URLs (sslrootcert, sslcert, sslkey) are refused:
// this package does no IO; pass the PEM text in `tls` instead.

import type { ConnectFunction, ReconnectOptions } from '../engine/options.js';
import { resolveReconnect } from '../engine/options.js';
import type { ConnectTarget, TlsOptions } from '../runtime.js';
import { ClientError, InvalidArgumentError } from '../errors.js';
import type { PgRowMode } from './result.js';

/** How TLS is negotiated (libpq's sslmode; see the file header). */
export type PgSslMode = 'disable' | 'prefer' | 'require' | 'verify-full';

/** A password, or a function that gives one (called at every connection: rotating tokens). */
export type PgPassword = string | (() => string | Promise<string>);


/** Options of connectPg. */
export interface PgOptions {
  /** A `postgres://` or `postgresql://` URL; the other options override what it says. */
  readonly url?: string;
  /** Host name or address, or a directory holding the server's unix socket (starts with '/'). Default: PGHOST, else 127.0.0.1. */
  readonly host?: string;
  /** Port (default PGPORT, else 5432); with a socket directory, the socket's number. */
  readonly port?: number;
  /** User (default PGUSER, else USER, else 'postgres'). */
  readonly user?: string;
  /** Password (default PGPASSWORD), or a function that gives one for each new connection. */
  readonly password?: PgPassword;
  /** Database (default PGDATABASE, else the user name). */
  readonly database?: string;
  /** application_name (default PGAPPNAME, else 'curio-ts'). */
  readonly applicationName?: string;
  /** TLS negotiation (default PGSSLMODE, else 'prefer'). */
  readonly sslmode?: PgSslMode;
  /**
   * Channel binding (libpq's channel_binding): 'prefer' (default) uses SCRAM-SHA-256-PLUS when
   * the connection is TLS and the server offers it; 'require' fails the connection
   * (ERR_PG_CHANNEL_BINDING_REQUIRED) unless the server authenticated by SCRAM-SHA-256-PLUS,
   * before any password is sent; 'disable' never binds.
   */
  readonly channelBinding?: PgChannelBinding;
  /** TLS options (trusted CAs, client certificate, server name) when TLS is used. */
  readonly tls?: TlsOptions;
  /** Other startup parameters (`options`, `search_path`, `statement_timeout`...). */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Bound on connecting plus the handshake, in ms (default PGCONNECT_TIMEOUT seconds, else 10 000). */
  readonly connectTimeout?: number;
  /** Default per-query timeout in ms (default none); a running query that times out is cancelled on the server. */
  readonly queryTimeout?: number;
  /**
   * Prepare statements by name and keep them per connection (default true). False for
   * transaction poolers (PgBouncer in transaction mode), where the next query may reach
   * another server connection: every query then uses the unnamed statement.
   */
  readonly prepare?: boolean;
  /** Most prepared statements kept per connection (default 256); the least recently used is closed beyond. */
  readonly statementCacheSize?: number;
  /** How rows are delivered (default 'object'). */
  readonly rowMode?: PgRowMode;
  /** int8 as 'bigint' (default), 'string' or 'number' (exact only below 2^53). */
  readonly int8?: 'bigint' | 'string' | 'number';
  /** date, timestamp and timestamptz as 'date' (a Date, default: milliseconds) or 'string' (the server's text, microseconds kept). */
  readonly dates?: 'date' | 'string';
  /** interval as 'object' (default: { months, days, microseconds }, see proto-pg's PgInterval) or 'string'. */
  readonly intervals?: 'object' | 'string';
  /** Most connections for transactions and cursors at once (default 10). */
  readonly poolSize?: number;
  /** Longest wait in ms for a pool connection while all are in use (PoolTimeoutError; default none). */
  readonly poolTimeout?: number;
  /**
   * Most sessions the server accepts from this client at once, the main connection included
   * (default: no limit; PGlite's `pglite:` route sets 1). The pool opens at most `sessions - 1`
   * connections. At 1, a transaction, cursor, COPY or LISTEN takes the one connection for
   * itself while it runs: queries made outside it wait (in order, within their own timeouts
   * and signals) until it ends, and `poolTimeout` bounds the wait for it.
   */
  readonly sessions?: number;
  /**
   * A pool connection idle at least this many ms is checked (an empty query) before a
   * transaction, cursor or COPY gets it, and replaced unseen if the server closed it meanwhile
   * (default 1000; 0: every time; Infinity: never).
   */
  readonly poolCheckAfter?: number;
  /**
   * A pool connection idle this many ms is closed (default 30 000), giving its server slot
   * back after a burst; Infinity keeps them. The main connection is never closed for idleness.
   */
  readonly idleTimeout?: number;
  /** A pool connection open this many ms is closed instead of being reused (default Infinity). */
  readonly maxLifetime?: number;
  /** Reconnection of the main connection (default: on, with backoff), or false. */
  readonly reconnect?: ReconnectOptions | false;
  /** Most queries kept while (re)connecting (default 10 000). */
  readonly offlineQueueLimit?: number;
  /** Open connections with this instead of the runtime's sockets (PGlite, a test pipe). */
  readonly connect?: ConnectFunction;
}

/** Options after the URL, the environment and the defaults. */
export interface ResolvedPgOptions {
  /** Where to connect (a unix socket's full path, or host and port). */
  readonly target: ConnectTarget;
  /** The host as given (a socket directory or a host name), for messages and TLS names. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: PgPassword | undefined;
  readonly database: string;
  readonly applicationName: string;
  readonly sslmode: PgSslMode;
  readonly channelBinding: PgChannelBinding;
  readonly tls: TlsOptions | undefined;
  readonly parameters: Readonly<Record<string, string>>;
  readonly connectTimeout: number;
  readonly queryTimeout: number | undefined;
  readonly prepare: boolean;
  readonly statementCacheSize: number;
  readonly rowMode: PgRowMode;
  readonly int8: 'bigint' | 'string' | 'number';
  readonly dates: 'date' | 'string';
  readonly intervals: 'object' | 'string';
  readonly poolSize: number;
  readonly poolTimeout: number | undefined;
  readonly sessions: number;
  readonly poolCheckAfter: number;
  readonly idleTimeout: number;
  readonly maxLifetime: number;
  readonly reconnect: ReturnType<typeof resolveReconnect>;
  readonly offlineQueueLimit: number;
  readonly connect: ConnectFunction | undefined;
}

/** The environment variables read (libpq's names), as a backend hands them in. */
export type PgEnvironment = Readonly<Record<string, string | undefined>>;

const SSL_MODES: readonly string[] = ['disable', 'prefer', 'require', 'verify-full'];

/** libpq's channel_binding values. */
export type PgChannelBinding = 'disable' | 'prefer' | 'require';

/** A channel_binding value; throws for another. */
function channelBindingOf(value: string, where: string): PgChannelBinding {
  if (value === 'disable' || value === 'prefer' || value === 'require') return value;
  throw new InvalidArgumentError(`channel_binding must be disable, prefer or require, not ${JSON.stringify(value)} (${where})`, 'ERR_BAD_OPTION');
}

/** A libpq sslmode as ours ('allow' is 'prefer'); throws for one we refuse. */
function sslModeOf(value: string, where: string): PgSslMode {
  const mode = value === 'allow' ? 'prefer' : value;
  if (SSL_MODES.includes(mode)) return mode as PgSslMode;
  if (mode === 'verify-ca') throw new InvalidArgumentError(`sslmode verify-ca (${where}) is not supported: use verify-full (checks the chain and the host name) or require`, 'ERR_BAD_OPTION');
  throw new InvalidArgumentError(`sslmode must be disable, allow, prefer, require or verify-full, not ${JSON.stringify(value)} (${where})`, 'ERR_BAD_OPTION');
}

/** Seconds as libpq reads connect_timeout (0 or empty: none; we keep a bound: the default). */
function secondsToMs(value: string, where: string): number | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  const seconds = Number(trimmed);
  if (!Number.isInteger(seconds) || seconds < 0) throw new InvalidArgumentError(`connect_timeout must be a whole number of seconds, not ${JSON.stringify(value)} (${where})`, 'ERR_BAD_OPTION');
  return seconds === 0 ? undefined : seconds * 1000;
}

function portOf(value: string, where: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new ClientError(`invalid port ${JSON.stringify(value)} (${where})`, 'ERR_BAD_URL');
  return port;
}

/**
 * Parse a `postgres://` or `postgresql://` URL into options. The host may be a socket
 * directory, percent-encoded (`postgres://%2Fvar%2Frun%2Fpostgresql/db`) or as the `host`
 * query parameter (`postgres:///db?host=/var/run/postgresql`). Query parameters read:
 * host, port, user, password, dbname, sslmode, channel_binding, application_name, connect_timeout, options;
 * any other is refused (a typo must not be ignored), except libpq's file options, refused with
 * a message saying so.
 */
export function parsePgUrl(url: string): PgOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ClientError(`invalid PostgreSQL URL: ${redact(url)}`, 'ERR_BAD_URL', { cause: error });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ClientError(`unsupported URL scheme ${parsed.protocol} (use postgres:// or postgresql://)`, 'ERR_BAD_URL');
  }
  const out: { -readonly [K in keyof PgOptions]: PgOptions[K] } = {};
  const decode = (text: string, what: string): string => {
    try {
      return decodeURIComponent(text);
    } catch (error) {
      throw new ClientError(`invalid percent-encoding in the ${what} of a PostgreSQL URL`, 'ERR_BAD_URL', { cause: error });
    }
  };
  if (parsed.hostname !== '') {
    if (parsed.hostname.includes(',') || parsed.hostname.includes('%2C') || parsed.hostname.includes('%2c')) {
      throw new ClientError('several hosts in one PostgreSQL URL are not supported', 'ERR_BAD_URL');
    }
    out.host = decode(parsed.hostname.replace(/^\[(.*)\]$/, '$1'), 'host');
  }
  if (parsed.port !== '') out.port = portOf(parsed.port, 'URL');
  if (parsed.username !== '') out.user = decode(parsed.username, 'user');
  if (parsed.password !== '') out.password = decode(parsed.password, 'password');
  const database = parsed.pathname.replace(/^\//, '');
  if (database !== '') out.database = decode(database, 'database');
  const parameters: Record<string, string> = {};
  for (const [name, value] of parsed.searchParams) {
    switch (name) {
      case 'host':
        out.host = value;
        break;
      case 'port':
        out.port = portOf(value, 'URL');
        break;
      case 'user':
        out.user = value;
        break;
      case 'password':
        out.password = value;
        break;
      case 'dbname':
        out.database = value;
        break;
      case 'sslmode':
        out.sslmode = sslModeOf(value, 'URL');
        break;
      case 'channel_binding':
        out.channelBinding = channelBindingOf(value, 'URL');
        break;
      case 'application_name':
        out.applicationName = value;
        break;
      case 'connect_timeout': {
        const ms = secondsToMs(value, 'URL');
        if (ms !== undefined) out.connectTimeout = ms;
        break;
      }
      case 'options':
        parameters.options = value;
        break;
      case 'sslrootcert':
      case 'sslcert':
      case 'sslkey':
      case 'sslcrl':
        throw new InvalidArgumentError(`the URL parameter ${name} names a file, which this client does not read: pass the PEM text in the tls option`, 'ERR_BAD_OPTION');
      default:
        throw new InvalidArgumentError(`unknown PostgreSQL URL parameter ${JSON.stringify(name)}`, 'ERR_BAD_OPTION');
    }
  }
  if (Object.keys(parameters).length > 0) out.parameters = parameters;
  return out;
}

/** The URL with its password hidden (for messages). */
function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}

/** Options read from libpq's environment variables. */
export function pgEnvironmentOptions(env: PgEnvironment): PgOptions {
  const out: { -readonly [K in keyof PgOptions]: PgOptions[K] } = {};
  const get = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const host = get('PGHOST');
  if (host !== undefined) {
    if (host.includes(',')) throw new InvalidArgumentError('several hosts in PGHOST are not supported', 'ERR_BAD_OPTION');
    out.host = host;
  }
  const port = get('PGPORT');
  if (port !== undefined) out.port = portOf(port, 'PGPORT');
  const user = get('PGUSER');
  if (user !== undefined) out.user = user;
  const password = get('PGPASSWORD');
  if (password !== undefined) out.password = password;
  const database = get('PGDATABASE');
  if (database !== undefined) out.database = database;
  const channelBinding = get('PGCHANNELBINDING');
  if (channelBinding !== undefined) out.channelBinding = channelBindingOf(channelBinding, 'PGCHANNELBINDING');
  const sslmode = get('PGSSLMODE');
  if (sslmode !== undefined) out.sslmode = sslModeOf(sslmode, 'PGSSLMODE');
  const app = get('PGAPPNAME');
  if (app !== undefined) out.applicationName = app;
  const timeout = get('PGCONNECT_TIMEOUT');
  if (timeout !== undefined) {
    const ms = secondsToMs(timeout, 'PGCONNECT_TIMEOUT');
    if (ms !== undefined) out.connectTimeout = ms;
  }
  return out;
}

/** Drop the undefined members (so that a spread does not override with undefined). */
function defined<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(options) as (keyof T)[]) if (options[key] !== undefined) out[key] = options[key];
  return out;
}

/**
 * Apply the URL, the environment and the defaults (see the file header). Throws
 * InvalidArgumentError (ERR_BAD_OPTION) for a bad option, ClientError (ERR_BAD_URL) for a bad URL.
 */
export function resolvePgOptions(input: string | PgOptions | undefined, env: PgEnvironment = {}): ResolvedPgOptions {
  const given: PgOptions = typeof input === 'string' ? { url: input } : (input ?? {});
  if (typeof given !== 'object' || given === null) throw new InvalidArgumentError('connectPg takes a URL or an options object', 'ERR_BAD_OPTION');
  const fromUrl = given.url === undefined ? {} : parsePgUrl(checkString('url', given.url));
  const { url: _url, ...code } = given;
  const options: PgOptions = { ...defined(pgEnvironmentOptions(env)), ...defined(fromUrl), ...defined(code) };
  const parameters = { ...(fromUrl.parameters ?? {}), ...(code.parameters ?? {}) };
  checkOptions(options, parameters);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 5432;
  const user = options.user ?? env.USER ?? 'postgres';
  const target: ConnectTarget = host.startsWith('/') ? { path: `${host.replace(/\/+$/, '')}/.s.PGSQL.${port}` } : { host, port };
  return {
    target,
    host,
    port,
    user,
    password: options.password,
    database: options.database ?? user,
    applicationName: options.applicationName ?? 'curio-ts',
    sslmode: 'path' in target ? 'disable' : (options.sslmode ?? 'prefer'),
    channelBinding: options.channelBinding ?? 'prefer',
    tls: options.tls,
    parameters,
    connectTimeout: options.connectTimeout ?? 10_000,
    queryTimeout: options.queryTimeout,
    prepare: options.prepare ?? true,
    statementCacheSize: options.statementCacheSize ?? 256,
    rowMode: options.rowMode ?? 'object',
    int8: options.int8 ?? 'bigint',
    dates: options.dates ?? 'date',
    intervals: options.intervals ?? 'object',
    poolSize: options.poolSize ?? 10,
    poolTimeout: options.poolTimeout,
    sessions: options.sessions ?? Infinity,
    poolCheckAfter: options.poolCheckAfter ?? 1000,
    idleTimeout: options.idleTimeout ?? 30_000,
    maxLifetime: options.maxLifetime ?? Infinity,
    reconnect: resolveReconnect(options.reconnect),
    offlineQueueLimit: options.offlineQueueLimit ?? 10_000,
    connect: options.connect,
  };
}

function bad(name: string, wanted: string, value: unknown): never {
  throw new InvalidArgumentError(`option ${name} must be ${wanted}, not ${typeof value === 'string' ? JSON.stringify(value) : typeof value === 'function' ? 'a function' : String(value)}`, 'ERR_BAD_OPTION');
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') bad(name, 'a string', value);
  return value as string;
}

/** Refuse options of the wrong type or range, naming the option. */
function checkOptions(options: PgOptions, parameters: Readonly<Record<string, string>>): void {
  for (const name of ['host', 'user', 'database', 'applicationName'] as const) {
    const value = options[name];
    if (value !== undefined) {
      checkString(name, value);
      if (value.includes('\0')) bad(name, 'a string without NUL', value);
    }
  }
  const password = options.password;
  if (password !== undefined && typeof password !== 'string' && typeof password !== 'function') bad('password', 'a string or a function', password);
  if (options.sslmode !== undefined) sslModeOf(checkString('sslmode', options.sslmode), 'options');
  if (options.channelBinding !== undefined) channelBindingOf(checkString('channelBinding', options.channelBinding), 'options');
  for (const [name, value] of Object.entries(parameters)) {
    if (typeof value !== 'string' || value.includes('\0') || name.includes('\0') || name === '') bad(`parameters.${name}`, 'a string without NUL', value);
  }
  const counts: readonly [string, unknown, number][] = [
    ['port', options.port, 1],
    ['statementCacheSize', options.statementCacheSize, 0],
    ['poolSize', options.poolSize, 1],
    ['sessions', options.sessions === Infinity ? undefined : options.sessions, 1],
    ['offlineQueueLimit', options.offlineQueueLimit, 0],
  ];
  for (const [name, value, least] of counts) {
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= least)) bad(name, `an integer >= ${least}`, value);
  }
  if (options.port !== undefined && options.port > 65535) bad('port', 'at most 65535', options.port);
  const connectTimeout = options.connectTimeout;
  if (connectTimeout !== undefined && !(typeof connectTimeout === 'number' && connectTimeout >= 0 && Number.isFinite(connectTimeout))) bad('connectTimeout', 'a finite number of ms >= 0', connectTimeout);
  const poolTimeout = options.poolTimeout;
  if (poolTimeout !== undefined && !(typeof poolTimeout === 'number' && poolTimeout >= 0)) bad('poolTimeout', 'a number of ms >= 0, or Infinity', poolTimeout);
  for (const name of ['poolCheckAfter', 'idleTimeout', 'maxLifetime'] as const) {
    const ms = options[name];
    if (ms !== undefined && !(typeof ms === 'number' && ms >= 0)) bad(name, 'a number of ms >= 0, or Infinity', ms);
  }
  const queryTimeout = options.queryTimeout;
  if (queryTimeout !== undefined && !(typeof queryTimeout === 'number' && queryTimeout >= 0)) bad('queryTimeout', 'a number of ms >= 0, or Infinity', queryTimeout);
  if (options.prepare !== undefined && typeof options.prepare !== 'boolean') bad('prepare', 'a boolean', options.prepare);
  if (options.rowMode !== undefined && options.rowMode !== 'object' && options.rowMode !== 'array') bad('rowMode', "'object' or 'array'", options.rowMode);
  if (options.int8 !== undefined && options.int8 !== 'bigint' && options.int8 !== 'string' && options.int8 !== 'number') bad('int8', "'bigint', 'string' or 'number'", options.int8);
  if (options.dates !== undefined && options.dates !== 'date' && options.dates !== 'string') bad('dates', "'date' or 'string'", options.dates);
  if (options.intervals !== undefined && options.intervals !== 'object' && options.intervals !== 'string') bad('intervals', "'object' or 'string'", options.intervals);
  if (options.connect !== undefined && typeof options.connect !== 'function') bad('connect', 'a function', options.connect);
  const reconnect = options.reconnect;
  if (reconnect !== undefined && reconnect !== false && (typeof reconnect !== 'object' || reconnect === null)) bad('reconnect', 'false or an object', reconnect);
}
