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
// certificate (libpq's behaviour without a root certificate); 'verify-ca' insists and checks
// the chain against the trusted CAs but not the host name (the Runtime's TLS option
// `checkServerName: false`); 'verify-full' insists and checks the chain and the host name.
// libpq's 'allow' is read as 'prefer'. A unix socket never uses TLS (libpq neither).
//
// Discussion: sslrootcert. This package does no IO: the file is read through the `files`
// reader a backend hands in (node:fs on Node), when the client is made; a runtime without one
// refuses the option (give the PEM text as `tls.ca`). As in libpq, a root certificate file makes
// the chain checked in every sslmode that uses TLS: 'require' then reads as 'verify-ca' (libpq's
// backwards-compatible rule) and 'prefer' checks the chain of a server that offers TLS (and
// fails on a bad one rather than going on in the clear). 'system' (libpq 16) trusts the
// runtime's default CAs, makes 'verify-full' the default, and refuses a weaker sslmode.
// `tls.ca` given in code wins over the file. libpq's default file (~/.postgresql/root.crt) is
// not read. The other file options (sslcert, sslkey, sslcrl) are refused: give the PEM text in
// `tls`.
//
// Discussion: several hosts (libpq's multi-host connection strings). A URL may list hosts
// (`postgres://h1:5432,h2:5433,[::1]:5434/db`, or `?host=h1,h2&port=5432,5433`), PGHOST and
// PGPORT may hold comma lists, and the options object takes `hosts: [{ host, port }]` (or a
// comma list in `host`). A port list has one entry per host, or one port for every host; any
// other count, and an empty entry in a list of several, is an error here, not at connect
// time. Layers (environment, then URL, then code) each replace the host list when they name
// hosts; a single `port` given at a layer applies to every host of the lower layers and to the
// hosts of its own layer that name no port. The result is `hosts`, tried in order (or shuffled
// for every new connection with load_balance_hosts=random) by the engine: see adapter.ts for
// target_session_attrs.
//
// Discussion: hostaddr (libpq's). A numeric IPv4 or IPv6 address (an IPv6 zone `%eth0` is
// allowed, brackets are not) per host, as the URL's `hostaddr` parameter, PGHOSTADDR, the
// `hostaddr` option (all comma lists) or `hosts[i].hostaddr`. It is a keyword of its own, as
// in libpq: the highest layer that gives one gives the list, which is paired with the host
// list (of whichever layer gave it) by position once the layers are read. With a host list,
// the counts must match ("could not match 2 host names to 3 hostaddr values"); without one,
// the hostaddr list makes the hosts, nameless. An empty entry means "no address for this
// host": its host name is looked up as usual (the default host if it has none). When a host
// has an address, the connection goes to the address and never looks the name up; the name
// is what TLS sends (SNI) and checks the certificate against (verify-full), and what messages
// show ('db1 at 10.0.0.7:5432'). A host with an address and no name: verify-full cannot check a
// name and fails that host (ERR_PG_TLS_NO_HOST_NAME, libpq's "host name must be specified for a
// verified SSL connection"); the other sslmodes use it. A host name in hostaddr is refused
// (ERR_BAD_OPTION): it must not be looked up silently. A unix-socket directory with an address
// is a TCP host (libpq: the address wins).

import type { ConnectFunction, ReconnectOptions } from '../engine/options.js';
import { resolveReconnect } from '../engine/options.js';
import type { ConnectTarget, TlsOptions } from '../runtime.js';
import { ClientError, InvalidArgumentError } from '../errors.js';
import type { PgRowMode } from './result.js';

/** How TLS is negotiated (libpq's sslmode; see the file header). */
export type PgSslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** A password, or a function that gives one (called at every connection: rotating tokens). */
export type PgPassword = string | (() => string | Promise<string>);

/**
 * Which server a connection may use (libpq's target_session_attrs): 'any' (default);
 * 'read-write' / 'read-only' (whether a session accepts writes by default: a hot standby, or a
 * server with default_transaction_read_only on, is read-only); 'primary' / 'standby' (whether
 * the server is in hot standby); 'prefer-standby' (a standby if one of the hosts is one, else
 * any).
 */
export type PgTargetSessionAttrs = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';

/** How the hosts are ordered for each new connection (libpq's load_balance_hosts): as given, or shuffled. */
export type PgLoadBalanceHosts = 'disable' | 'random';

/**
 * One host of a list (the `hosts` option): a `host`, a `hostaddr`, or both (see the file
 * header's "Discussion: hostaddr").
 */
export interface PgHostOption {
  /**
   * Host name or address, or a directory holding the server's unix socket (starts with '/').
   * May be left out when `hostaddr` is given (then the host has no name).
   */
  readonly host?: string;
  /**
   * Numeric IPv4 or IPv6 address to connect to instead of looking `host` up (libpq's
   * hostaddr); `host` stays the name TLS checks. An empty string: no address (look `host` up).
   */
  readonly hostaddr?: string;
  /** Port (default: the `port` option, PGPORT, else 5432). */
  readonly port?: number;
}

/** One host as resolved: where to connect, and how to name it. */
export interface PgHost {
  /** The host as given (a socket directory, a name or an address); '' for a host given only by its hostaddr. */
  readonly host: string;
  /** The numeric address connected to instead of looking `host` up (libpq's hostaddr), or null. */
  readonly hostaddr: string | null;
  readonly port: number;
  /** Where to connect (a unix socket's full path, or host, or hostaddr when given, and port). */
  readonly target: ConnectTarget;
  /** 'db1:5432', '[::1]:5434', 'db1 at 10.0.0.7:5432' (host and hostaddr), or the socket's path: for messages. */
  readonly label: string;
}


/** Options of connectPg. */
export interface PgOptions {
  /** A `postgres://` or `postgresql://` URL; the other options override what it says. */
  readonly url?: string;
  /**
   * Host name or address, or a directory holding the server's unix socket (starts with '/');
   * a comma list names several hosts (as libpq's `host=h1,h2`). Default: PGHOST, else 127.0.0.1.
   */
  readonly host?: string;
  /**
   * Several hosts, each with its own port or none (then `port`): tried in order until one
   * accepts a connection that matches `targetSessionAttrs` (see the file header). Not with `host`.
   */
  readonly hosts?: readonly PgHostOption[];
  /**
   * libpq's hostaddr: a numeric IPv4 or IPv6 address for each host (a comma list with as many
   * entries as hosts; an empty entry: that host is looked up), connected to instead of looking
   * the host name up, while the host name is still what TLS sends and checks (verify-full) and
   * what messages show. Without a host, the addresses make the host list (nameless hosts:
   * verify-full refuses them). Default PGHOSTADDR. Not with `hosts` entries that give their own.
   */
  readonly hostaddr?: string;
  /** Port (default PGPORT, else 5432) of every host that names none; with a socket directory, the socket's number. */
  readonly port?: number;
  /**
   * Which server a connection may use (default PGTARGETSESSIONATTRS, else 'any'): a host that
   * does not match is closed (Terminate) and the next one tried.
   */
  readonly targetSessionAttrs?: PgTargetSessionAttrs;
  /** 'random' shuffles the hosts for every new connection (default PGLOADBALANCEHOSTS, else 'disable'). */
  readonly loadBalanceHosts?: PgLoadBalanceHosts;
  /** User (default PGUSER, else USER, else 'postgres'). */
  readonly user?: string;
  /** Password (default PGPASSWORD), or a function that gives one for each new connection. */
  readonly password?: PgPassword;
  /** Database (default PGDATABASE, else the user name). */
  readonly database?: string;
  /** application_name (default PGAPPNAME, else 'curio-ts'). */
  readonly applicationName?: string;
  /**
   * TLS negotiation (default PGSSLMODE, else 'prefer'): 'disable', 'prefer' (TLS if the server
   * has it, unchecked), 'require' (TLS, unchecked), 'verify-ca' (TLS, the chain checked against
   * `tls.ca`, not the name), 'verify-full' (the chain and the host name). libpq's 'allow' reads
   * as 'prefer'.
   */
  readonly sslmode?: PgSslMode;
  /**
   * Channel binding (libpq's channel_binding): 'prefer' (default) uses SCRAM-SHA-256-PLUS when
   * the connection is TLS and the server offers it; 'require' fails the connection
   * (ERR_PG_CHANNEL_BINDING_REQUIRED) unless the server authenticated by SCRAM-SHA-256-PLUS,
   * before any password is sent; 'disable' never binds.
   */
  readonly channelBinding?: PgChannelBinding;
  /**
   * TLS options (trusted CAs, client certificate, server name) when TLS is used: `ca` is
   * libpq's sslrootcert as PEM text (it wins over `sslrootcert`). `serverName` overrides the
   * name sent and checked for every host (default: each host's own name).
   */
  readonly tls?: TlsOptions;
  /**
   * libpq's sslrootcert (default PGSSLROOTCERT): a file of trusted CA certificates (PEM), read
   * by the backend when the client is made; with it the chain is checked in every sslmode
   * that uses TLS ('require' reads as 'verify-ca', as in libpq). 'system': the runtime's
   * default CAs, sslmode 'verify-full' by default and nothing weaker accepted. See the file
   * header of pg/options.ts.
   */
  readonly sslrootcert?: string;
  /** Other startup parameters (`options`, `search_path`, `statement_timeout`...). */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Bound on connecting plus the handshake, in ms, for each host tried (default PGCONNECT_TIMEOUT seconds, else 10 000). */
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
  /** The hosts, in the order given (at least one). */
  readonly hosts: readonly PgHost[];
  /** The first host's target (a unix socket's full path, or host and port). */
  readonly target: ConnectTarget;
  /** The first host as given (a socket directory or a host name). */
  readonly host: string;
  /** The first host's port. */
  readonly port: number;
  /** The first host's hostaddr, or null. */
  readonly hostaddr: string | null;
  readonly targetSessionAttrs: PgTargetSessionAttrs;
  readonly loadBalanceHosts: PgLoadBalanceHosts;
  readonly user: string;
  readonly password: PgPassword | undefined;
  readonly database: string;
  readonly applicationName: string;
  readonly sslmode: PgSslMode;
  /** sslrootcert as given (a file, already read into `tls.ca`, or 'system'), or null. */
  readonly sslrootcert: string | null;
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

/**
 * How a backend lets the options read files (libpq's sslrootcert): the text of a file, or a
 * throw when it cannot be read. The client package itself does no IO.
 */
export interface PgFileReader {
  readText(path: string): string;
}

/** The environment variables read (libpq's names), as a backend hands them in. */
export type PgEnvironment = Readonly<Record<string, string | undefined>>;

const SSL_MODES: readonly string[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

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
  throw new InvalidArgumentError(`sslmode must be disable, allow, prefer, require, verify-ca or verify-full, not ${JSON.stringify(value)} (${where})`, 'ERR_BAD_OPTION');
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
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw hostsError(`invalid port ${JSON.stringify(value)} (${where})`, where === 'URL' ? 'ERR_BAD_URL' : 'ERR_BAD_OPTION');
  return port;
}

const TARGET_SESSION_ATTRS: readonly string[] = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];

/** A target_session_attrs value; throws for another. */
function targetSessionAttrsOf(value: string, where: string): PgTargetSessionAttrs {
  if (TARGET_SESSION_ATTRS.includes(value)) return value as PgTargetSessionAttrs;
  throw new InvalidArgumentError(`target_session_attrs must be any, read-write, read-only, primary, standby or prefer-standby, not ${JSON.stringify(value)} (${where})`, 'ERR_BAD_OPTION');
}

/** A load_balance_hosts value; throws for another. */
function loadBalanceOf(value: string, where: string): PgLoadBalanceHosts {
  if (value === 'disable' || value === 'random') return value;
  throw new InvalidArgumentError(`load_balance_hosts must be disable or random, not ${JSON.stringify(value)} (${where})`, 'ERR_BAD_OPTION');
}

/** The error of a bad host list: ERR_BAD_URL in a URL, else a bad option. */
function hostsError(message: string, code: 'ERR_BAD_URL' | 'ERR_BAD_OPTION'): ClientError {
  return code === 'ERR_BAD_URL' ? new ClientError(message, code) : new InvalidArgumentError(message, code);
}

/** A host list's entry checked: not empty (in a list), no comma, no NUL. */
function checkHostEntry(host: string, count: number, where: string, code: 'ERR_BAD_URL' | 'ERR_BAD_OPTION'): string {
  if (host === '' && count > 1) throw hostsError(`an empty host in a list of ${count} hosts (${where})`, code);
  if (host.includes(',') || host.includes('\0')) throw hostsError(`a host cannot contain a comma or NUL: ${JSON.stringify(host)} (${where})`, code);
  return host;
}

/** A comma list of hosts (PGHOST, the `host` option, the URL's host parameter). */
function hostList(value: string, where: string, code: 'ERR_BAD_URL' | 'ERR_BAD_OPTION'): string[] {
  const hosts = value.split(',');
  return hosts.map((host) => checkHostEntry(host, hosts.length, where, code));
}

/** Whether text is a decimal IPv4 address: four numbers 0-255, no leading zeros (no octal reading). */
function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => /^(?:0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255);
}

/** Whether text is an IPv6 address (RFC 4291's text forms: `::` once, a final IPv4 part), with an optional zone (`%eth0`). */
function isIPv6(text: string): boolean {
  const percent = text.indexOf('%');
  const address = percent === -1 ? text : text.slice(0, percent);
  if (percent !== -1 && !/^[0-9A-Za-z.:-]+$/.test(text.slice(percent + 1))) return false;
  const halves = address.split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((half) => (half === '' ? [] : half.split(':')));
  const all = groups.flat();
  let count = all.length;
  // An IPv4 part only at the very end (the last group of the last half: not before '::').
  const tail = groups[groups.length - 1] ?? [];
  const last = tail[tail.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!isIPv4(last)) return false;
    all.pop();
    count += 1;
  }
  if (!all.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** Whether text is a numeric IPv4 or IPv6 address (what hostaddr takes). */
function isNumericAddress(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

/** A comma list of numeric addresses (PGHOSTADDR, the URL's or the option's hostaddr); an empty entry is no address. */
function hostaddrList(value: string, where: string): string[] {
  return value.split(',').map((address) => {
    if (address !== '' && !isNumericAddress(address)) {
      throw new InvalidArgumentError(`hostaddr takes numeric IPv4 or IPv6 addresses (no brackets, no host names: use host), not ${JSON.stringify(address)} (${where})`, 'ERR_BAD_OPTION');
    }
    return address;
  });
}

/** A comma list of ports (PGPORT, the URL's port parameter); an empty entry is the default port. */
function portList(value: string, where: string): (number | undefined)[] {
  return value.split(',').map((port) => (port === '' ? undefined : portOf(port, where)));
}

/**
 * Pair hosts with ports: one port for every host, or one per host (libpq's rule). One host
 * gives `host` and `port`, several give `hosts`.
 */
function pairHosts(hosts: readonly string[], ports: readonly (number | undefined)[] | undefined, where: string, code: 'ERR_BAD_URL' | 'ERR_BAD_OPTION'): Pick<PgOptions, 'host' | 'port' | 'hosts'> {
  if (ports !== undefined && ports.length !== 1 && ports.length !== hosts.length) {
    throw hostsError(`${ports.length} ports cannot be matched to ${hosts.length} host${hosts.length === 1 ? '' : 's'} (${where}): give one port, or one per host`, code);
  }
  const portAt = (i: number): number | undefined => (ports === undefined ? undefined : ports.length === 1 ? ports[0] : ports[i]);
  if (hosts.length === 1) {
    const port = portAt(0);
    const host = hosts[0] as string;
    return { ...(host === '' ? {} : { host }), ...(port === undefined ? {} : { port }) };
  }
  return {
    hosts: hosts.map((host, i) => {
      const port = portAt(i);
      return port === undefined ? { host } : { host, port };
    }),
  };
}

/**
 * A layer's (the URL's, the environment's) hosts, ports and hostaddrs as options. The hostaddr
 * list stays a keyword of its own (paired with the final host list in layeredHosts), except
 * where a port list needs it to count the hosts (no host list, several ports): then one
 * `hosts` entry per address.
 */
function layerHosts(
  hosts: readonly string[] | undefined,
  ports: readonly (number | undefined)[] | undefined,
  hostaddrs: readonly string[] | undefined,
  where: string,
  code: 'ERR_BAD_URL' | 'ERR_BAD_OPTION',
): Pick<PgOptions, 'host' | 'port' | 'hosts' | 'hostaddr'> {
  if (hosts !== undefined) return { ...pairHosts(hosts, ports, where, code), ...(hostaddrs === undefined ? {} : { hostaddr: hostaddrs.join(',') }) };
  if (ports === undefined || ports.length === 1) {
    const port = ports?.[0];
    return { ...(port === undefined ? {} : { port }), ...(hostaddrs === undefined ? {} : { hostaddr: hostaddrs.join(',') }) };
  }
  if (hostaddrs === undefined) throw hostsError(`${ports.length} ports cannot be matched to 1 host (${where}): give one port, or one per host`, code);
  if (ports.length !== hostaddrs.length) throw hostsError(`${ports.length} ports cannot be matched to ${hostaddrs.length} hostaddr values (${where}): give one port, or one per host`, code);
  return { hosts: hostaddrs.map((hostaddr, i) => (ports[i] === undefined ? { hostaddr } : { hostaddr, port: ports[i] as number })) };
}

/** Percent-decoding of one part of a URL (libpq's: no '+' for space). */
function decodeUrlPart(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    throw new ClientError(`invalid percent-encoding in the ${what} of a PostgreSQL URL`, 'ERR_BAD_URL', { cause: error });
  }
}

/** The host list of a URL's authority: `h1:5432,[::1]:5433,%2Ftmp`. */
function urlHosts(authority: string): { hosts: string[]; ports: (number | undefined)[] } {
  const entries = authority.split(',');
  const hosts: string[] = [];
  const ports: (number | undefined)[] = [];
  for (const entry of entries) {
    let host: string;
    let port = '';
    if (entry.startsWith('[')) {
      const close = entry.indexOf(']');
      if (close === -1) throw new ClientError('an IPv6 address without its closing bracket in a PostgreSQL URL', 'ERR_BAD_URL');
      host = entry.slice(1, close);
      const rest = entry.slice(close + 1);
      if (host === '') throw new ClientError('empty brackets in the host of a PostgreSQL URL', 'ERR_BAD_URL');
      if (rest !== '' && !rest.startsWith(':')) throw new ClientError('unexpected characters after an IPv6 address in a PostgreSQL URL', 'ERR_BAD_URL');
      port = rest.slice(1);
    } else {
      const colon = entry.indexOf(':');
      if (colon !== -1 && entry.indexOf(':', colon + 1) !== -1) throw new ClientError('an IPv6 address in a PostgreSQL URL goes in brackets: [::1]:5432', 'ERR_BAD_URL');
      host = colon === -1 ? entry : entry.slice(0, colon);
      port = colon === -1 ? '' : entry.slice(colon + 1);
    }
    hosts.push(checkHostEntry(decodeUrlPart(host, 'host'), entries.length, 'URL', 'ERR_BAD_URL'));
    ports.push(port === '' ? undefined : portOf(port, 'URL'));
  }
  return { hosts, ports };
}

const URL_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/s;

/**
 * Parse a `postgres://` or `postgresql://` URL into options. The host may be a socket
 * directory, percent-encoded (`postgres://%2Fvar%2Frun%2Fpostgresql/db`) or as the `host`
 * query parameter (`postgres:///db?host=/var/run/postgresql`); several hosts are separated by
 * commas (`postgres://h1:5432,h2:5433,[::1]:5434/db`; see the file header). Query parameters
 * read: host, hostaddr, port, user, password, dbname, sslmode, sslrootcert, channel_binding, application_name,
 * connect_timeout, options, target_session_attrs, load_balance_hosts; any other is refused (a
 * typo must not be ignored), except libpq's file options, refused with a message saying so.
 */
export function parsePgUrl(url: string): PgOptions {
  const shape = URL_SHAPE.exec(url);
  if (shape === null) throw new ClientError(`invalid PostgreSQL URL: ${redact(url)}`, 'ERR_BAD_URL');
  const scheme = (shape[1] as string).toLowerCase();
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new ClientError(`unsupported URL scheme ${scheme}: (use postgres:// or postgresql://)`, 'ERR_BAD_URL');
  }
  const authority = shape[2] as string;
  const path = shape[3] as string;
  const query = shape[4];
  const out: { -readonly [K in keyof PgOptions]: PgOptions[K] } = {};
  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
    if (user !== '') out.user = decodeUrlPart(user, 'user');
    if (colon !== -1 && colon < userinfo.length - 1) out.password = decodeUrlPart(userinfo.slice(colon + 1), 'password');
  }
  const hostPart = authority.slice(at + 1);
  let hosts: string[] | undefined;
  let ports: (number | undefined)[] | undefined;
  let hostaddrs: string[] | undefined;
  if (hostPart !== '') {
    const netloc = urlHosts(hostPart);
    hosts = netloc.hosts;
    if (netloc.ports.some((port) => port !== undefined)) ports = netloc.ports;
  }
  if (path !== '' && path !== '/') {
    if (!path.startsWith('/')) throw new ClientError(`invalid PostgreSQL URL: ${redact(url)}`, 'ERR_BAD_URL');
    out.database = decodeUrlPart(path.slice(1), 'database');
  }
  const parameters: Record<string, string> = {};
  for (const pair of (query ?? '').split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    if (equals === -1) throw new ClientError(`a URL parameter without a value: ${JSON.stringify(decodeUrlPart(pair, 'query'))}`, 'ERR_BAD_URL');
    const name = decodeUrlPart(pair.slice(0, equals), 'query');
    const value = decodeUrlPart(pair.slice(equals + 1), 'query');
    switch (name) {
      case 'host':
        hosts = hostList(value, 'URL', 'ERR_BAD_URL');
        break;
      case 'port':
        ports = portList(value, 'URL');
        break;
      case 'hostaddr':
        hostaddrs = hostaddrList(value, 'URL');
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
      case 'target_session_attrs':
        out.targetSessionAttrs = targetSessionAttrsOf(value, 'URL');
        break;
      case 'load_balance_hosts':
        out.loadBalanceHosts = loadBalanceOf(value, 'URL');
        break;
      case 'sslrootcert':
        out.sslrootcert = value;
        break;
      case 'sslcert':
      case 'sslkey':
      case 'sslcrl':
        throw new InvalidArgumentError(`the URL parameter ${name} names a file, which this client does not read: pass the PEM text in the tls option`, 'ERR_BAD_OPTION');
      default:
        throw new InvalidArgumentError(`unknown PostgreSQL URL parameter ${JSON.stringify(name)}`, 'ERR_BAD_OPTION');
    }
  }
  Object.assign(out, layerHosts(hosts, ports, hostaddrs, 'URL', 'ERR_BAD_URL'));
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
  const port = get('PGPORT');
  const hostaddr = get('PGHOSTADDR');
  const ports = port === undefined ? undefined : portList(port, 'PGPORT');
  const hosts = host === undefined ? undefined : hostList(host, 'PGHOST', 'ERR_BAD_OPTION');
  const hostaddrs = hostaddr === undefined ? undefined : hostaddrList(hostaddr, 'PGHOSTADDR');
  if (hosts === undefined && hostaddrs === undefined && ports !== undefined && ports.length !== 1) throw new InvalidArgumentError(`PGPORT lists ${ports.length} ports but PGHOST names no hosts`, 'ERR_BAD_OPTION');
  Object.assign(out, layerHosts(hosts, ports, hostaddrs, 'PGHOST and PGPORT', 'ERR_BAD_OPTION'));
  const targetSessionAttrs = get('PGTARGETSESSIONATTRS');
  if (targetSessionAttrs !== undefined) out.targetSessionAttrs = targetSessionAttrsOf(targetSessionAttrs, 'PGTARGETSESSIONATTRS');
  const loadBalance = get('PGLOADBALANCEHOSTS');
  if (loadBalance !== undefined) out.loadBalanceHosts = loadBalanceOf(loadBalance, 'PGLOADBALANCEHOSTS');
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
  const rootcert = get('PGSSLROOTCERT');
  if (rootcert !== undefined) out.sslrootcert = rootcert;
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
export function resolvePgOptions(input: string | PgOptions | undefined, env: PgEnvironment = {}, files?: PgFileReader): ResolvedPgOptions {
  const given: PgOptions = typeof input === 'string' ? { url: input } : (input ?? {});
  if (typeof given !== 'object' || given === null) throw new InvalidArgumentError('connectPg takes a URL or an options object', 'ERR_BAD_OPTION');
  const fromUrl = given.url === undefined ? {} : parsePgUrl(checkString('url', given.url));
  const { url: _url, ...code } = given;
  const fromEnv = pgEnvironmentOptions(env);
  const options: PgOptions = { ...defined(fromEnv), ...defined(fromUrl), ...defined(code) };
  const parameters = { ...(fromUrl.parameters ?? {}), ...(code.parameters ?? {}) };
  checkOptions(options, parameters);
  const hosts = layeredHosts([fromEnv, fromUrl, code]);
  const first = hosts[0] as PgHost;
  const user = options.user ?? env.USER ?? 'postgres';
  const { sslmode, tls } = rootCertificate(options, files);
  return {
    hosts,
    target: first.target,
    host: first.host,
    port: first.port,
    targetSessionAttrs: options.targetSessionAttrs ?? 'any',
    loadBalanceHosts: options.loadBalanceHosts ?? 'disable',
    user,
    password: options.password,
    database: options.database ?? user,
    applicationName: options.applicationName ?? 'curio-ts',
    sslmode: hosts.every((host) => 'path' in host.target) ? 'disable' : sslmode,
    sslrootcert: options.sslrootcert ?? null,
    hostaddr: first.hostaddr,
    channelBinding: options.channelBinding ?? 'prefer',
    tls,
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

/**
 * sslmode and the TLS options once sslrootcert is applied (see "Discussion: sslrootcert"): the
 * file read into `tls.ca` (unless `tls.ca` is given) and 'require' read as 'verify-ca'; for
 * 'system', 'verify-full' by default and nothing weaker.
 */
function rootCertificate(options: PgOptions, files: PgFileReader | undefined): { sslmode: PgSslMode; tls: TlsOptions | undefined } {
  const path = options.sslrootcert;
  const given = options.sslmode;
  if (path === undefined) return { sslmode: given ?? 'prefer', tls: options.tls };
  if (path === 'system') {
    if (given !== undefined && given !== 'verify-full') {
      throw new InvalidArgumentError(`weak sslmode ${JSON.stringify(given)} may not be used with sslrootcert=system (use "verify-full")`, 'ERR_BAD_OPTION');
    }
    return { sslmode: given ?? 'verify-full', tls: options.tls };
  }
  const sslmode = given === 'require' ? 'verify-ca' : (given ?? 'prefer');
  if (options.tls?.ca !== undefined || sslmode === 'disable') return { sslmode, tls: options.tls };
  if (files === undefined) throw new InvalidArgumentError(`sslrootcert names a file (${JSON.stringify(path)}), which this runtime cannot read: give the PEM text as tls.ca`, 'ERR_BAD_OPTION');
  let ca: string;
  try {
    ca = files.readText(path);
  } catch (error) {
    throw new InvalidArgumentError(`could not read the root certificate file ${JSON.stringify(path)} (sslrootcert): ${error instanceof Error ? error.message : String(error)}`, 'ERR_BAD_OPTION', { cause: error });
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new InvalidArgumentError(`the root certificate file ${JSON.stringify(path)} (sslrootcert) holds no PEM certificate`, 'ERR_BAD_OPTION');
  return { sslmode, tls: { ...options.tls, ca } };
}

/**
 * The host list from the layers, lowest precedence first (see the file header): a layer that
 * names hosts replaces the list; a layer's single port applies to the hosts of lower layers
 * and to its own hosts that name none.
 */
function layeredHosts(layers: readonly PgOptions[]): PgHost[] {
  // Host names with their ports (undefined: no layer named hosts), and the hostaddr list of
  // the highest layer that gave one (see "Discussion: hostaddr").
  let entries: readonly { readonly host: string; readonly port?: number }[] | undefined;
  let hostaddrs: readonly string[] | undefined;
  let port: number | undefined;
  for (const layer of layers) {
    if (layer.host !== undefined && layer.hosts !== undefined) throw new InvalidArgumentError('give host or hosts, not both', 'ERR_BAD_OPTION');
    if (layer.port !== undefined) {
      port = layer.port;
      entries = entries?.map((entry) => ({ host: entry.host }));
    }
    if (layer.hosts !== undefined) {
      const own = layer.hosts.some((entry) => entry.hostaddr !== undefined);
      if (own && layer.hostaddr !== undefined) throw new InvalidArgumentError('give hostaddr in the hosts entries or as the hostaddr option, not both', 'ERR_BAD_OPTION');
      entries = layer.hosts.map((entry) => (entry.port === undefined ? { host: entry.host ?? '' } : { host: entry.host ?? '', port: entry.port }));
      if (own) hostaddrs = layer.hosts.map((entry) => entry.hostaddr ?? '');
    } else if (layer.host !== undefined) entries = hostList(layer.host, 'option host', 'ERR_BAD_OPTION').map((host) => ({ host }));
    if (layer.hostaddr !== undefined) hostaddrs = hostaddrList(layer.hostaddr, 'option hostaddr');
  }
  if (hostaddrs !== undefined) {
    if (entries === undefined) entries = hostaddrs.map(() => ({ host: '' }));
    else if (entries.length !== hostaddrs.length) {
      throw new InvalidArgumentError(`could not match ${entries.length} host name${entries.length === 1 ? '' : 's'} to ${hostaddrs.length} hostaddr value${hostaddrs.length === 1 ? '' : 's'}`, 'ERR_BAD_OPTION');
    }
  }
  return (entries ?? [{ host: '' }]).map((entry, i) => {
    const hostaddr = hostaddrs?.[i];
    return hostOf(entry.host, hostaddr === undefined || hostaddr === '' ? null : hostaddr, entry.port ?? port ?? 5432);
  });
}

/** host:port, with an IPv6 address in brackets. */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A resolved host: '' with no address is the default host; an address wins over a socket directory. */
function hostOf(given: string, hostaddr: string | null, port: number): PgHost {
  if (hostaddr !== null) {
    const label = given === '' ? hostPort(hostaddr, port) : `${given} at ${hostPort(hostaddr, port)}`;
    return { host: given, hostaddr, port, target: { host: hostaddr, port }, label };
  }
  const host = given === '' ? '127.0.0.1' : given;
  if (host.startsWith('/')) {
    const path = `${host.replace(/\/+$/, '')}/.s.PGSQL.${port}`;
    return { host, hostaddr, port, target: { path }, label: path };
  }
  return { host, hostaddr, port, target: { host, port }, label: hostPort(host, port) };
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
  for (const name of ['host', 'hostaddr', 'sslrootcert', 'user', 'database', 'applicationName'] as const) {
    const value = options[name];
    if (value !== undefined) {
      checkString(name, value);
      if (value.includes('\0')) bad(name, 'a string without NUL', value);
    }
  }
  const hosts = options.hosts;
  if (hosts !== undefined) {
    if (!Array.isArray(hosts) || hosts.length === 0) bad('hosts', 'a non-empty array of { host, port }', hosts);
    for (const [i, entry] of (hosts as readonly unknown[]).entries()) {
      if (typeof entry !== 'object' || entry === null) bad(`hosts[${i}]`, 'an object { host, hostaddr, port }', entry);
      const { host, hostaddr, port } = entry as { host?: unknown; hostaddr?: unknown; port?: unknown };
      if (hostaddr !== undefined) {
        checkString(`hosts[${i}].hostaddr`, hostaddr);
        if ((hostaddr as string).includes(',')) bad(`hosts[${i}].hostaddr`, 'one numeric address', hostaddr);
        hostaddrList(hostaddr as string, `option hosts[${i}]`);
      }
      if (host !== undefined || hostaddr === undefined) {
        checkString(`hosts[${i}].host`, host);
        checkHostEntry(host as string, 2, `option hosts[${i}]`, 'ERR_BAD_OPTION');
      }
      if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535)) bad(`hosts[${i}].port`, 'an integer from 1 to 65535', port);
    }
  }
  if (options.targetSessionAttrs !== undefined) targetSessionAttrsOf(checkString('targetSessionAttrs', options.targetSessionAttrs), 'options');
  if (options.loadBalanceHosts !== undefined) loadBalanceOf(checkString('loadBalanceHosts', options.loadBalanceHosts), 'options');
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
