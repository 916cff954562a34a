// inprocess/commands.ts
//
// The command table of the in-process Redis: what the conformance suite and the client's own
// handshake use, with Redis's replies and error texts. Each entry says its arity (Redis's
// convention: n exact, -n at least n, the name included), which arguments are keys, whether it
// writes, and how it runs.
//
// Invariants:
// - A command either replies (a value, a Status, or throws a CommandError that becomes an
//   error reply) or says NO_REPLY because it wrote its own replies (SUBSCRIBE's pushes).
// - A write command's keys are touched once it ran: WATCH versions move, CLIENT TRACKING
//   invalidations go out, and clients blocked on those keys are served (see server.ts).
//
// Discussion: what it is not. Statuses inside an EXEC reply are blob strings (the writer has
// no nested status), integral scores are RESP integers in RESP3 (no forced double), SCAN
// cursors are offsets into the key order of the moment, and DEBUG SLEEP blocks the calling
// connection only. None of it is visible to the client's typed API.

import { RespAttributed, RespErrorReply, RespPush, RespVerbatim } from '@curio-ts/proto-redis';
import type { RespFrame, RespValue, RespVersion } from '@curio-ts/proto-redis';
import { bin, bytes, CommandError, float, formatFloat, globPattern, integer, range, SYNTAX, utf8 } from './keyspace.js';
import type { Database, StreamEntry, Value } from './keyspace.js';

/** A status reply (`+OK`). */
export class Status {
  constructor(readonly text: string) {}
}

/** Said by a command that wrote its replies itself. */
export const NO_REPLY = Symbol('no reply');

export type Reply = RespFrame | Status | typeof NO_REPLY;

const OK = new Status('OK');

/** What a command sees of the client that sent it and of the server. */
export interface CommandContext {
  readonly db: Database;
  readonly protocol: RespVersion;
  /** Running inside EXEC: blocking commands do not block. */
  readonly inTransaction: boolean;
  /** The sending client's state (see server.ts). */
  readonly client: ClientState;
  readonly server: ServerState;
}

/** A client, as commands see it. */
export interface ClientState {
  readonly id: number;
  name: string;
  libName: string;
  libVersion: string;
  dbIndex: number;
  authenticated: boolean;
  tracking: boolean;
  readonly channels: Set<string>;
  readonly patterns: Set<string>;
  readonly watched: Map<string, string>;
  /** MULTI's queue, or null outside a transaction. */
  queued: { name: string; args: readonly Uint8Array[] }[] | null;
  queueFailed: boolean;
  /** One line of CLIENT LIST. */
  describe(): string;
  setProtocol(version: RespVersion): void;
  push(kind: string, data: readonly RespValue[]): void;
  startMonitor(): void;
  quit(): void;
  reset(): void;
}

/** The server, as commands see it. */
export interface ServerState {
  readonly password: string | undefined;
  readonly databases: readonly Database[];
  now(): number;
  sleep(ms: number): Promise<void>;
  clients(): Iterable<ClientState>;
  publish(channel: string, message: Uint8Array): number;
  /** Wait until `serve` answers (called again after every write to `keys`), or `timeoutMs`. */
  block(context: CommandContext, keys: readonly string[], timeoutMs: number, serve: () => RespFrame | undefined): Promise<RespFrame>;
  /** Run a queued transaction. */
  exec(context: CommandContext, queued: readonly { name: string; args: readonly Uint8Array[] }[]): RespFrame;
}

type Run = (context: CommandContext, args: readonly Uint8Array[]) => Reply | Promise<Reply>;

/** One entry of the table. */
export interface CommandSpec {
  readonly arity: number;
  /** The key arguments of a call. */
  readonly keys: (args: readonly Uint8Array[]) => string[];
  readonly write: boolean;
  /** Runs at once even inside MULTI (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET). */
  readonly control: boolean;
  /** Allowed before AUTH when a password is set. */
  readonly beforeAuth: boolean;
  /** Allowed in RESP2 subscribed mode. */
  readonly whileSubscribed: boolean;
  readonly run: Run;
}

/** Keys from argument `first` to `last` (negative: from the end), every `step`. */
function keysAt(first: number, last = first, step = 1): (args: readonly Uint8Array[]) => string[] {
  return (args) => {
    const out: string[] = [];
    const end = last < 0 ? args.length + last : last;
    for (let i = first; i <= end && i < args.length; i += step) out.push(bin(args[i] as Uint8Array));
    return out;
  };
}
const noKeys = (): string[] => [];

export const COMMANDS = new Map<string, CommandSpec>();

function define(
  name: string,
  arity: number,
  run: Run,
  options: { keys?: (args: readonly Uint8Array[]) => string[]; write?: boolean; control?: boolean; beforeAuth?: boolean; whileSubscribed?: boolean } = {},
): void {
  COMMANDS.set(name, {
    arity,
    keys: options.keys ?? noKeys,
    write: options.write ?? false,
    control: options.control ?? false,
    beforeAuth: options.beforeAuth ?? false,
    whileSubscribed: options.whileSubscribed ?? false,
    run,
  });
}

const arg = (args: readonly Uint8Array[], i: number): Uint8Array => args[i] as Uint8Array;
const key = (args: readonly Uint8Array[], i = 1): string => bin(arg(args, i));
const word = (args: readonly Uint8Array[], i: number): string => bin(arg(args, i)).toUpperCase();

/** A map reply: a RESP3 map, or RESP2's flat array (the writer flattens it). */
function mapReply(entries: Iterable<[RespValue, RespValue]>): Map<RespValue, RespValue> {
  return new Map(entries);
}

// ---------------------------------------------------------------------------------------------
// Connection

export const REDIS_VERSION = '7.2.0';

function hello(context: CommandContext, args: readonly Uint8Array[]): Reply {
  const { client, server } = context;
  let protocol = context.protocol;
  let i = 1;
  if (args.length > 1) {
    const version = bin(arg(args, 1));
    if (version !== '2' && version !== '3') throw new CommandError('NOPROTO unsupported protocol version');
    protocol = version === '3' ? 3 : 2;
    i = 2;
  }
  let authenticatedNow = false;
  let name: string | null = null;
  for (; i < args.length; i++) {
    const option = word(args, i);
    if (option === 'AUTH' && i + 2 < args.length) {
      checkPassword(server, bin(arg(args, i + 2)));
      authenticatedNow = true;
      i += 2;
    } else if (option === 'SETNAME' && i + 1 < args.length) {
      name = bin(arg(args, ++i));
    } else throw new CommandError(`ERR Syntax error in HELLO option '${bin(arg(args, i))}'`);
  }
  if (!client.authenticated && !authenticatedNow) {
    throw new CommandError('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');
  }
  if (authenticatedNow) client.authenticated = true;
  if (name !== null) client.name = name;
  client.setProtocol(protocol);
  return mapReply([
    ['server', 'redis'],
    ['version', REDIS_VERSION],
    ['proto', protocol],
    ['id', client.id],
    ['mode', 'standalone'],
    ['role', 'master'],
    ['modules', []],
  ]);
}

function checkPassword(server: ServerState, password: string): void {
  if (server.password !== undefined && password !== server.password) throw new CommandError('WRONGPASS invalid username-password pair or user is disabled.');
}

define('HELLO', -1, hello, { beforeAuth: true });
define(
  'AUTH',
  -2,
  (context, args) => {
    if (args.length > 3) throw new CommandError(SYNTAX);
    if (context.server.password === undefined && args.length === 2) throw new CommandError('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
    checkPassword(context.server, bin(arg(args, args.length - 1)));
    context.client.authenticated = true;
    return OK;
  },
  { beforeAuth: true },
);
define(
  'PING',
  -1,
  (context, args) => {
    if (args.length > 2) throw new CommandError("ERR wrong number of arguments for 'ping' command");
    if (context.protocol === 2 && context.client.channels.size + context.client.patterns.size > 0) return ['pong', args.length === 2 ? arg(args, 1) : ''];
    return args.length === 2 ? arg(args, 1) : new Status('PONG');
  },
  { whileSubscribed: true },
);
define('ECHO', 2, (_c, args) => arg(args, 1));
define('SELECT', 2, (context, args) => {
  const index = integer(arg(args, 1), 'ERR value is not an integer or out of range');
  if (index < 0 || index >= context.server.databases.length) throw new CommandError('ERR DB index is out of range');
  context.client.dbIndex = index;
  return OK;
});
define(
  'QUIT',
  -1,
  (context) => {
    context.client.quit();
    return OK;
  },
  { control: true, beforeAuth: true, whileSubscribed: true },
);
define(
  'RESET',
  1,
  (context) => {
    context.client.reset();
    return new Status('RESET');
  },
  { control: true, beforeAuth: true, whileSubscribed: true },
);
define('CLIENT', -2, (context, args) => {
  const { client } = context;
  const sub = word(args, 1);
  switch (sub) {
    case 'SETNAME': {
      if (args.length !== 3) throw new CommandError("ERR wrong number of arguments for 'client|setname' command");
      const name = bin(arg(args, 2));
      if (/[\s]/.test(name)) throw new CommandError('ERR Client names cannot contain spaces, newlines or special characters.');
      client.name = name;
      return OK;
    }
    case 'GETNAME':
      return client.name === '' ? null : client.name;
    case 'ID':
      return client.id;
    case 'INFO':
      return new RespVerbatim('txt', `${client.describe()}\n`);
    case 'LIST': {
      let text = '';
      for (const other of context.server.clients()) text += `${other.describe()}\n`;
      return new RespVerbatim('txt', text);
    }
    case 'SETINFO': {
      if (args.length !== 4) throw new CommandError("ERR wrong number of arguments for 'client|setinfo' command");
      const attribute = word(args, 2);
      if (attribute === 'LIB-NAME') client.libName = bin(arg(args, 3));
      else if (attribute === 'LIB-VER') client.libVersion = bin(arg(args, 3));
      else throw new CommandError(`ERR Unrecognized option '${bin(arg(args, 2))}'`);
      return OK;
    }
    case 'TRACKING': {
      if (args.length < 3) throw new CommandError("ERR wrong number of arguments for 'client|tracking' command");
      const on = word(args, 2);
      if (on !== 'ON' && on !== 'OFF') throw new CommandError(SYNTAX);
      if (on === 'ON' && context.protocol !== 3) throw new CommandError('ERR Keys tracking needs RESP3 in this server (no REDIRECT)');
      client.tracking = on === 'ON';
      return OK;
    }
    default:
      throw new CommandError(`ERR unknown subcommand '${bin(arg(args, 1))}'. Try CLIENT HELP.`);
  }
});
define('INFO', -1, (context) => {
  let connected = 0;
  for (const _ of context.server.clients()) connected++;
  const lines = [
    '# Server',
    `redis_version:${REDIS_VERSION}`,
    'redis_mode:standalone',
    'multiplexing_api:in-process',
    '',
    '# Clients',
    `connected_clients:${connected}`,
    '',
    '# Persistence',
    'loading:0',
    'aof_rewrite_in_progress:0',
    'aof_rewrite_scheduled:0',
    '',
    '# Keyspace',
  ];
  for (const db of context.server.databases) {
    const size = db.keys().length;
    if (size > 0) lines.push(`db${db.index}:keys=${size},expires=0,avg_ttl=0`);
  }
  return new RespVerbatim('txt', `${lines.join('\r\n')}\r\n`);
});
define('MONITOR', 1, (context) => {
  context.client.startMonitor();
  return OK;
});
define('DEBUG', -2, async (context, args) => {
  const sub = word(args, 1);
  if (sub === 'SLEEP' && args.length === 3) {
    await context.server.sleep(float(arg(args, 2)) * 1000);
    return OK;
  }
  if (sub === 'PROTOCOL' && args.length === 3) return debugProtocol(bin(arg(args, 2)).toLowerCase());
  throw new CommandError(`ERR unknown subcommand '${bin(arg(args, 1))}'. Try DEBUG HELP.`);
});

/** What DEBUG PROTOCOL <type> sends, as Redis does. */
function debugProtocol(type: string): RespFrame {
  switch (type) {
    case 'string':
      return 'Hello World';
    case 'integer':
      return 12345;
    case 'double':
      return 3.141;
    case 'bignum':
      return 1234567999999999999999999999999999999n;
    case 'null':
      return null;
    case 'array':
      return [0, 1, 2];
    case 'set':
      return new Set<RespValue>([0, 1, 2]);
    case 'map':
      return new Map<RespValue, RespValue>([
        [0, false],
        [1, true],
        [2, false],
      ]);
    case 'attrib':
      return new RespAttributed(new Map<RespValue, RespValue>([['key-popularity', ['key:123', 90]]]), 'Some real reply following the attribute');
    case 'push':
      return new RespPush('server-cpu-usage', ['server-cpu-usage', 42]);
    case 'verbatim':
      return new RespVerbatim('txt', 'This is a verbatim\nstring');
    case 'true':
      return true;
    case 'false':
      return false;
    default:
      throw new CommandError('ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false');
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

define('DBSIZE', 1, (context) => context.db.keys().length);
define(
  'FLUSHDB',
  -1,
  (context) => {
    context.db.flush();
    return OK;
  },
  { write: true },
);
define(
  'FLUSHALL',
  -1,
  (context) => {
    for (const db of context.server.databases) db.flush();
    return OK;
  },
  { write: true },
);
const deleteKeys: Run = (context, args) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (context.db.delete(key(args, i))) n++;
  return n;
};
define('DEL', -2, deleteKeys, { keys: keysAt(1, -1), write: true });
define('UNLINK', -2, deleteKeys, { keys: keysAt(1, -1), write: true });
define(
  'EXISTS',
  -2,
  (context, args) => {
    let n = 0;
    for (let i = 1; i < args.length; i++) if (context.db.get(key(args, i)) !== undefined) n++;
    return n;
  },
  { keys: keysAt(1, -1) },
);
define('TYPE', 2, (context, args) => new Status(context.db.get(key(args))?.type ?? 'none'), { keys: keysAt(1) });
const ttl =
  (unit: number): Run =>
  (context, args) => {
    const k = key(args);
    if (context.db.get(k) === undefined) return -2;
    const at = context.db.expiry(k);
    if (at === undefined) return -1;
    return Math.max(0, Math.round((at - context.server.now()) / unit));
  };
define('TTL', 2, ttl(1000), { keys: keysAt(1) });
define('PTTL', 2, ttl(1), { keys: keysAt(1) });
const expire =
  (unit: number): Run =>
  (context, args) => {
    const k = key(args);
    const amount = integer(arg(args, 2));
    if (context.db.get(k) === undefined) return 0;
    if (amount <= 0) context.db.delete(k);
    else context.db.setExpiry(k, context.server.now() + amount * unit);
    return 1;
  };
define('EXPIRE', -3, expire(1000), { keys: keysAt(1), write: true });
define('PEXPIRE', -3, expire(1), { keys: keysAt(1), write: true });
define(
  'PERSIST',
  2,
  (context, args) => {
    const k = key(args);
    if (context.db.expiry(k) === undefined) return 0;
    context.db.setExpiry(k, undefined);
    return 1;
  },
  { keys: keysAt(1), write: true },
);
define('KEYS', 2, (context, args) => {
  const pattern = globPattern(key(args));
  return context.db
    .keys()
    .filter((k) => pattern.test(k))
    .map(bytes);
});

/** MATCH / COUNT / TYPE of a SCAN-family command from argument `from`. */
function scanOptions(args: readonly Uint8Array[], from: number, typeAllowed: boolean): { match: RegExp | null; count: number; type: string | null } {
  let match: RegExp | null = null;
  let count = 10;
  let type: string | null = null;
  for (let i = from; i < args.length; i += 2) {
    const option = word(args, i);
    if (i + 1 >= args.length) throw new CommandError(SYNTAX);
    if (option === 'MATCH') match = globPattern(key(args, i + 1));
    else if (option === 'COUNT') {
      count = integer(arg(args, i + 1));
      if (count < 1) throw new CommandError(SYNTAX);
    } else if (option === 'TYPE' && typeAllowed) type = bin(arg(args, i + 1)).toLowerCase();
    else throw new CommandError(SYNTAX);
  }
  return { match, count, type };
}

/** One step of a cursor over `items`: [next cursor, the step's items]. */
function scanStep<T>(items: readonly T[], cursorArg: Uint8Array, count: number): [string, readonly T[]] {
  const cursor = integer(cursorArg, 'ERR invalid cursor');
  const end = Math.min(items.length, cursor + count);
  return [end >= items.length ? '0' : String(end), items.slice(cursor, end)];
}

define('SCAN', -2, (context, args) => {
  const { match, count, type } = scanOptions(args, 2, true);
  const [next, step] = scanStep(context.db.keys(), arg(args, 1), count);
  const keys = step.filter((k) => (match === null || match.test(k)) && (type === null || context.db.get(k)?.type === type));
  return [next, keys.map(bytes)];
});

// ---------------------------------------------------------------------------------------------
// Strings

function stringValue(context: CommandContext, k: string): Uint8Array | null {
  return context.db.typed(k, 'string')?.value ?? null;
}

define('GET', 2, (context, args) => stringValue(context, key(args)), { keys: keysAt(1) });
define(
  'SET',
  -3,
  (context, args) => {
    const k = key(args);
    let condition: 'NX' | 'XX' | null = null;
    let get = false;
    let keepTtl = false;
    let expireAt: number | undefined;
    for (let i = 3; i < args.length; i++) {
      const option = word(args, i);
      if ((option === 'NX' || option === 'XX') && condition === null) condition = option;
      else if (option === 'GET') get = true;
      else if (option === 'KEEPTTL') keepTtl = true;
      else if ((option === 'EX' || option === 'PX' || option === 'EXAT' || option === 'PXAT') && i + 1 < args.length && expireAt === undefined) {
        const amount = integer(arg(args, ++i));
        if (amount <= 0) throw new CommandError("ERR invalid expire time in 'set' command");
        const now = context.server.now();
        expireAt = option === 'EX' ? now + amount * 1000 : option === 'PX' ? now + amount : option === 'EXAT' ? amount * 1000 : amount;
      } else throw new CommandError(SYNTAX);
    }
    const old = get ? stringValue(context, k) : null;
    const exists = context.db.get(k) !== undefined;
    if ((condition === 'NX' && exists) || (condition === 'XX' && !exists)) return get ? old : null;
    context.db.set(k, { type: 'string', value: arg(args, 2) }, keepTtl);
    if (expireAt !== undefined) context.db.setExpiry(k, expireAt);
    return get ? old : OK;
  },
  { keys: keysAt(1), write: true },
);
define(
  'GETDEL',
  2,
  (context, args) => {
    const value = stringValue(context, key(args));
    if (value !== null) context.db.delete(key(args));
    return value;
  },
  { keys: keysAt(1), write: true },
);
define(
  'APPEND',
  3,
  (context, args) => {
    const k = key(args);
    const old = stringValue(context, k) ?? new Uint8Array(0);
    const value = new Uint8Array(old.length + arg(args, 2).length);
    value.set(old);
    value.set(arg(args, 2), old.length);
    context.db.set(k, { type: 'string', value }, true);
    return value.length;
  },
  { keys: keysAt(1), write: true },
);
define('STRLEN', 2, (context, args) => stringValue(context, key(args))?.length ?? 0, { keys: keysAt(1) });

function incrementBy(context: CommandContext, k: string, by: number): number {
  const old = stringValue(context, k);
  const current = old === null ? 0 : integer(old);
  const next = current + by;
  if (!Number.isSafeInteger(next)) throw new CommandError('ERR increment or decrement would overflow');
  context.db.set(k, { type: 'string', value: utf8(String(next)) }, true);
  return next;
}
define('INCR', 2, (context, args) => incrementBy(context, key(args), 1), { keys: keysAt(1), write: true });
define('DECR', 2, (context, args) => incrementBy(context, key(args), -1), { keys: keysAt(1), write: true });
define('INCRBY', 3, (context, args) => incrementBy(context, key(args), integer(arg(args, 2))), { keys: keysAt(1), write: true });
define('DECRBY', 3, (context, args) => incrementBy(context, key(args), -integer(arg(args, 2))), { keys: keysAt(1), write: true });
define(
  'INCRBYFLOAT',
  3,
  (context, args) => {
    const k = key(args);
    const old = stringValue(context, k);
    const next = (old === null ? 0 : float(old, 'ERR value is not a valid float')) + float(arg(args, 2));
    if (!Number.isFinite(next)) throw new CommandError('ERR increment would produce NaN or Infinity');
    const text = formatFloat(next);
    context.db.set(k, { type: 'string', value: utf8(text) }, true);
    return text;
  },
  { keys: keysAt(1), write: true },
);
define('MGET', -2, (context, args) => args.slice(1).map((k) => (context.db.get(bin(k))?.type === 'string' ? stringValue(context, bin(k)) : null)), { keys: keysAt(1, -1) });
define(
  'MSET',
  -3,
  (context, args) => {
    if (args.length % 2 === 0) throw new CommandError("ERR wrong number of arguments for 'mset' command");
    for (let i = 1; i < args.length; i += 2) context.db.set(key(args, i), { type: 'string', value: arg(args, i + 1) });
    return OK;
  },
  { keys: keysAt(1, -1, 2), write: true },
);

/**
 * HDEL, SREM, ZREM: remove the members named after the key from a collection of `type`, and
 * the key once the collection is empty; replies how many were there.
 */
function removeMembers<T extends 'hash' | 'set' | 'zset'>(type: T, remove: (value: Extract<Value, { type: T }>, member: string) => boolean): Run {
  return (context, args) => {
    const k = key(args);
    const value = context.db.typed(k, type);
    if (value === undefined) return 0;
    let n = 0;
    for (let i = 2; i < args.length; i++) if (remove(value, key(args, i))) n++;
    context.db.dropIfEmpty(k, value);
    return n;
  };
}

// ---------------------------------------------------------------------------------------------
// Hashes

function hashFor(context: CommandContext, k: string): Map<string, Uint8Array> {
  return context.db.typedOrNew(k, 'hash', () => ({ type: 'hash', fields: new Map() })).fields;
}

const hset: Run = (context, args) => {
  if (args.length % 2 !== 0) throw new CommandError(`ERR wrong number of arguments for '${bin(arg(args, 0)).toLowerCase()}' command`);
  const fields = hashFor(context, key(args));
  let added = 0;
  for (let i = 2; i < args.length; i += 2) {
    const field = key(args, i);
    if (!fields.has(field)) added++;
    fields.set(field, arg(args, i + 1));
  }
  return added;
};
define('HSET', -4, hset, { keys: keysAt(1), write: true });
define(
  'HMSET',
  -4,
  (context, args) => {
    hset(context, args);
    return OK;
  },
  { keys: keysAt(1), write: true },
);
define('HGET', 3, (context, args) => context.db.typed(key(args), 'hash')?.fields.get(key(args, 2)) ?? null, { keys: keysAt(1) });
define(
  'HMGET',
  -3,
  (context, args) => {
    const fields = context.db.typed(key(args), 'hash')?.fields;
    return args.slice(2).map((f) => fields?.get(bin(f)) ?? null);
  },
  { keys: keysAt(1) },
);
define(
  'HGETALL',
  2,
  (context, args) => {
    const fields = context.db.typed(key(args), 'hash')?.fields ?? new Map<string, Uint8Array>();
    return mapReply([...fields].map(([f, v]): [RespValue, RespValue] => [bytes(f), v]));
  },
  { keys: keysAt(1) },
);
define('HDEL', -3, removeMembers('hash', (value, field) => value.fields.delete(field)), { keys: keysAt(1), write: true });
define('HLEN', 2, (context, args) => context.db.typed(key(args), 'hash')?.fields.size ?? 0, { keys: keysAt(1) });
define('HEXISTS', 3, (context, args) => (context.db.typed(key(args), 'hash')?.fields.has(key(args, 2)) === true ? 1 : 0), { keys: keysAt(1) });
define(
  'HINCRBY',
  4,
  (context, args) => {
    const fields = hashFor(context, key(args));
    const field = key(args, 2);
    const old = fields.get(field);
    const next = (old === undefined ? 0 : integer(old, 'ERR hash value is not an integer')) + integer(arg(args, 3));
    fields.set(field, utf8(String(next)));
    return next;
  },
  { keys: keysAt(1), write: true },
);
define(
  'HSCAN',
  -3,
  (context, args) => {
    const { match, count } = scanOptions(args, 3, false);
    const fields = context.db.typed(key(args), 'hash')?.fields ?? new Map<string, Uint8Array>();
    const [next, step] = scanStep([...fields], arg(args, 2), count);
    const flat: Uint8Array[] = [];
    for (const [f, v] of step) if (match === null || match.test(f)) flat.push(bytes(f), v);
    return [next, flat];
  },
  { keys: keysAt(1) },
);

// ---------------------------------------------------------------------------------------------
// Lists

const push =
  (left: boolean): Run =>
  (context, args) => {
    const k = key(args);
    const value = context.db.typedOrNew(k, 'list', () => ({ type: 'list', items: [] }));
    for (let i = 2; i < args.length; i++) {
      if (left) value.items.unshift(arg(args, i));
      else value.items.push(arg(args, i));
    }
    return value.items.length;
  };
define('LPUSH', -3, push(true), { keys: keysAt(1), write: true });
define('RPUSH', -3, push(false), { keys: keysAt(1), write: true });

/** Pop one element of the list at `k`, or undefined when there is none. */
function popOne(db: Database, k: string, left: boolean): Uint8Array | undefined {
  const value = db.typed(k, 'list');
  if (value === undefined) return undefined;
  const item = left ? value.items.shift() : value.items.pop();
  db.touch(k);
  db.dropIfEmpty(k, value);
  return item;
}

const pop =
  (left: boolean): Run =>
  (context, args) => {
    const k = key(args);
    if (args.length > 3) throw new CommandError(SYNTAX);
    if (args.length === 2) return popOne(context.db, k, left) ?? null;
    const count = integer(arg(args, 2), 'ERR value is out of range, must be positive');
    if (context.db.typed(k, 'list') === undefined) return null;
    const out: Uint8Array[] = [];
    for (let item = count > 0 ? popOne(context.db, k, left) : undefined; item !== undefined; item = out.length < count ? popOne(context.db, k, left) : undefined) out.push(item);
    return out;
  };
define('LPOP', -2, pop(true), { keys: keysAt(1), write: true });
define('RPOP', -2, pop(false), { keys: keysAt(1), write: true });
define('LLEN', 2, (context, args) => context.db.typed(key(args), 'list')?.items.length ?? 0, { keys: keysAt(1) });
define(
  'LRANGE',
  4,
  (context, args) => {
    const items = context.db.typed(key(args), 'list')?.items ?? [];
    const span = range(integer(arg(args, 2)), integer(arg(args, 3)), items.length);
    return span === null ? [] : items.slice(span[0], span[1] + 1);
  },
  { keys: keysAt(1) },
);

/** A blocking command's timeout argument (seconds, fractions allowed) in ms; 0 is forever. */
function timeoutMs(a: Uint8Array): number {
  const seconds = float(a, 'ERR timeout is not a float or out of range');
  if (seconds < 0) throw new CommandError('ERR timeout is negative');
  return seconds === 0 ? Number.POSITIVE_INFINITY : seconds * 1000;
}

const blockingPop =
  (left: boolean): Run =>
  (context, args) => {
    const keys = args.slice(1, -1).map(bin);
    const ms = timeoutMs(arg(args, args.length - 1));
    const serve = (): RespFrame | undefined => {
      for (const k of keys) {
        const item = popOne(context.db, k, left);
        if (item !== undefined) return [bytes(k), item];
      }
      return undefined;
    };
    const now = serve();
    if (now !== undefined || context.inTransaction) return now ?? null;
    return context.server.block(context, keys, ms, serve);
  };
define('BLPOP', -3, blockingPop(true), { keys: keysAt(1, -2), write: true });
define('BRPOP', -3, blockingPop(false), { keys: keysAt(1, -2), write: true });

// ---------------------------------------------------------------------------------------------
// Sets

define(
  'SADD',
  -3,
  (context, args) => {
    const k = key(args);
    const value = context.db.typedOrNew(k, 'set', () => ({ type: 'set', members: new Set() }));
    let added = 0;
    for (let i = 2; i < args.length; i++) {
      const member = key(args, i);
      if (!value.members.has(member)) {
        value.members.add(member);
        added++;
      }
    }
    return added;
  },
  { keys: keysAt(1), write: true },
);
define('SREM', -3, removeMembers('set', (value, member) => value.members.delete(member)), { keys: keysAt(1), write: true });
define('SMEMBERS', 2, (context, args) => new Set<RespValue>([...(context.db.typed(key(args), 'set')?.members ?? [])].map(bytes)), { keys: keysAt(1) });
define('SISMEMBER', 3, (context, args) => (context.db.typed(key(args), 'set')?.members.has(key(args, 2)) === true ? 1 : 0), { keys: keysAt(1) });
define('SCARD', 2, (context, args) => context.db.typed(key(args), 'set')?.members.size ?? 0, { keys: keysAt(1) });

// ---------------------------------------------------------------------------------------------
// Sorted sets

/** Members by (score, member), as Redis orders them. */
function ordered(scores: Map<string, number>): [string, number][] {
  return [...scores].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** A score as the protocol sends it: a number in RESP3, text in RESP2. */
function scoreReply(context: CommandContext, score: number): RespValue {
  return context.protocol === 3 ? score : formatFloat(score);
}

define(
  'ZADD',
  -4,
  (context, args) => {
    let i = 2;
    let condition: 'NX' | 'XX' | null = null;
    let changed = false;
    for (; i < args.length; i++) {
      const option = word(args, i);
      if (option === 'NX' || option === 'XX') condition = option;
      else if (option === 'CH') changed = true;
      else break;
    }
    if (i >= args.length || (args.length - i) % 2 !== 0) throw new CommandError(SYNTAX);
    const pairs: [number, string][] = [];
    for (; i < args.length; i += 2) pairs.push([float(arg(args, i)), key(args, i + 1)]);
    const k = key(args);
    const value = context.db.typedOrNew(k, 'zset', () => ({ type: 'zset', scores: new Map() }));
    let added = 0;
    let updated = 0;
    for (const [score, member] of pairs) {
      const old = value.scores.get(member);
      if ((condition === 'NX' && old !== undefined) || (condition === 'XX' && old === undefined)) continue;
      if (old === undefined) added++;
      else if (old !== score) updated++;
      value.scores.set(member, score);
    }
    context.db.dropIfEmpty(k, value);
    return changed ? added + updated : added;
  },
  { keys: keysAt(1), write: true },
);
define(
  'ZSCORE',
  3,
  (context, args) => {
    const score = context.db.typed(key(args), 'zset')?.scores.get(key(args, 2));
    return score === undefined ? null : scoreReply(context, score);
  },
  { keys: keysAt(1) },
);
define('ZCARD', 2, (context, args) => context.db.typed(key(args), 'zset')?.scores.size ?? 0, { keys: keysAt(1) });
define(
  'ZRANK',
  3,
  (context, args) => {
    const scores = context.db.typed(key(args), 'zset')?.scores;
    if (scores === undefined) return null;
    const at = ordered(scores).findIndex(([member]) => member === key(args, 2));
    return at === -1 ? null : at;
  },
  { keys: keysAt(1) },
);
define('ZREM', -3, removeMembers('zset', (value, member) => value.scores.delete(member)), { keys: keysAt(1), write: true });
define(
  'ZRANGE',
  -4,
  (context, args) => {
    let reverse = false;
    let withScores = false;
    for (let i = 4; i < args.length; i++) {
      const option = word(args, i);
      if (option === 'REV') reverse = true;
      else if (option === 'WITHSCORES') withScores = true;
      else throw new CommandError(SYNTAX);
    }
    const all = ordered(context.db.typed(key(args), 'zset')?.scores ?? new Map<string, number>());
    if (reverse) all.reverse();
    const span = range(integer(arg(args, 2)), integer(arg(args, 3)), all.length);
    const chosen = span === null ? [] : all.slice(span[0], span[1] + 1);
    if (!withScores) return chosen.map(([member]) => bytes(member));
    if (context.protocol === 3) return chosen.map(([member, score]) => [bytes(member), score]);
    return chosen.flatMap(([member, score]) => [bytes(member), formatFloat(score)]);
  },
  { keys: keysAt(1) },
);

// ---------------------------------------------------------------------------------------------
// Streams

/** An id argument: 'ms-seq', 'ms' (seq from `missingSeq`), '-' or '+'. */
function streamId(a: Uint8Array, missingSeq: number): { ms: number; seq: number } {
  const text = bin(a);
  if (text === '-') return { ms: 0, seq: 0 };
  if (text === '+') return { ms: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (match === null) throw new CommandError('ERR Invalid stream ID specified as stream command argument');
  return { ms: Number(match[1]), seq: match[2] === undefined ? missingSeq : Number(match[2]) };
}

function compareId(a: { ms: number; seq: number }, b: { ms: number; seq: number }): number {
  return a.ms - b.ms || a.seq - b.seq;
}

function entryReply(entry: StreamEntry): RespValue {
  return [`${entry.ms}-${entry.seq}`, [...entry.fields]];
}

define(
  'XADD',
  -5,
  (context, args) => {
    const k = key(args);
    let i = 2;
    let maxLength: number | null = null;
    if (word(args, i) === 'MAXLEN') {
      i++;
      if (bin(arg(args, i)) === '~' || bin(arg(args, i)) === '=') i++;
      maxLength = integer(arg(args, i++));
    }
    const idText = bin(arg(args, i++));
    if (i >= args.length || (args.length - i) % 2 !== 0) throw new CommandError("ERR wrong number of arguments for 'xadd' command");
    let stream = context.db.typed(k, 'stream');
    const last = stream?.last ?? { ms: 0, seq: 0 };
    let id: { ms: number; seq: number };
    if (idText === '*') {
      const ms = Math.max(Math.floor(context.server.now()), last.ms);
      id = { ms, seq: ms === last.ms ? last.seq + 1 : 0 };
    } else if (/^\d+-\*$/.test(idText)) {
      const ms = Number(idText.slice(0, -2));
      id = { ms, seq: ms === last.ms ? last.seq + 1 : 0 };
    } else id = streamId(arg(args, i - 1), 0);
    if (compareId(id, { ms: 0, seq: 0 }) === 0) throw new CommandError('ERR The ID specified in XADD must be greater than 0-0');
    if (compareId(id, last) <= 0) throw new CommandError('ERR The ID specified in XADD is equal or smaller than the target stream top item');
    stream ??= context.db.typedOrNew(k, 'stream', () => ({ type: 'stream', entries: [], last }));
    stream.entries.push({ ms: id.ms, seq: id.seq, fields: args.slice(i) });
    stream.last = id;
    if (maxLength !== null && stream.entries.length > maxLength) stream.entries.splice(0, stream.entries.length - maxLength);
    return `${id.ms}-${id.seq}`;
  },
  { keys: keysAt(1), write: true },
);
define('XLEN', 2, (context, args) => context.db.typed(key(args), 'stream')?.entries.length ?? 0, { keys: keysAt(1) });
define(
  'XRANGE',
  -4,
  (context, args) => {
    const start = streamId(arg(args, 2), 0);
    const end = streamId(arg(args, 3), Number.MAX_SAFE_INTEGER);
    let count = Number.POSITIVE_INFINITY;
    if (args.length === 6 && word(args, 4) === 'COUNT') count = integer(arg(args, 5));
    else if (args.length !== 4) throw new CommandError(SYNTAX);
    const entries = context.db.typed(key(args), 'stream')?.entries ?? [];
    return entries.filter((e) => compareId(e, start) >= 0 && compareId(e, end) <= 0).slice(0, count).map(entryReply);
  },
  { keys: keysAt(1) },
);

/** The keys of XREAD: the first half of what follows STREAMS. */
function xreadKeys(args: readonly Uint8Array[]): string[] {
  const at = args.findIndex((a, i) => i > 0 && bin(a).toUpperCase() === 'STREAMS');
  if (at === -1) return [];
  const rest = args.slice(at + 1);
  return rest.slice(0, Math.floor(rest.length / 2)).map(bin);
}

define(
  'XREAD',
  -4,
  (context, args) => {
    let count = Number.POSITIVE_INFINITY;
    let block: number | null = null;
    let i = 1;
    for (; i < args.length; i++) {
      const option = word(args, i);
      if (option === 'COUNT' && i + 1 < args.length) count = integer(arg(args, ++i));
      else if (option === 'BLOCK' && i + 1 < args.length) {
        const ms = integer(arg(args, ++i));
        if (ms < 0) throw new CommandError('ERR timeout is negative');
        block = ms === 0 ? Number.POSITIVE_INFINITY : ms;
      } else if (option === 'STREAMS') break;
      else throw new CommandError(SYNTAX);
    }
    const rest = args.slice(i + 1);
    if (i >= args.length || rest.length === 0 || rest.length % 2 !== 0) throw new CommandError("ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.");
    const keys = rest.slice(0, rest.length / 2).map(bin);
    const after = rest.slice(rest.length / 2).map((a, n) => (bin(a) === '$' ? (context.db.typed(keys[n] as string, 'stream')?.last ?? { ms: 0, seq: 0 }) : streamId(a, 0)));
    const serve = (): RespFrame | undefined => {
      const found: [string, RespValue[]][] = [];
      keys.forEach((k, n) => {
        const entries = (context.db.typed(k, 'stream')?.entries ?? []).filter((e) => compareId(e, after[n] as { ms: number; seq: number }) > 0).slice(0, count);
        if (entries.length > 0) found.push([k, entries.map(entryReply)]);
      });
      if (found.length === 0) return undefined;
      if (context.protocol === 3) return mapReply(found.map(([k, entries]): [RespValue, RespValue] => [bytes(k), entries]));
      return found.map(([k, entries]) => [bytes(k), entries]);
    };
    const now = serve();
    if (now !== undefined || block === null || context.inTransaction) return now ?? null;
    return context.server.block(context, keys, block, serve);
  },
  { keys: xreadKeys },
);

// ---------------------------------------------------------------------------------------------
// Pub/sub

function subscribe(context: CommandContext, args: readonly Uint8Array[], patterns: boolean): Reply {
  const { client } = context;
  const set = patterns ? client.patterns : client.channels;
  for (let i = 1; i < args.length; i++) {
    set.add(key(args, i));
    client.push(patterns ? 'psubscribe' : 'subscribe', [arg(args, i), client.channels.size + client.patterns.size]);
  }
  return NO_REPLY;
}

function unsubscribe(context: CommandContext, args: readonly Uint8Array[], patterns: boolean): Reply {
  const { client } = context;
  const set = patterns ? client.patterns : client.channels;
  const kind = patterns ? 'punsubscribe' : 'unsubscribe';
  const names = args.length > 1 ? args.slice(1).map(bin) : [...set];
  if (names.length === 0) client.push(kind, [null, client.channels.size + client.patterns.size]);
  for (const name of names) {
    set.delete(name);
    client.push(kind, [bytes(name), client.channels.size + client.patterns.size]);
  }
  return NO_REPLY;
}

define('SUBSCRIBE', -2, (context, args) => subscribe(context, args, false), { whileSubscribed: true });
define('PSUBSCRIBE', -2, (context, args) => subscribe(context, args, true), { whileSubscribed: true });
define('UNSUBSCRIBE', -1, (context, args) => unsubscribe(context, args, false), { whileSubscribed: true });
define('PUNSUBSCRIBE', -1, (context, args) => unsubscribe(context, args, true), { whileSubscribed: true });
define('PUBLISH', 3, (context, args) => context.server.publish(key(args), arg(args, 2)));

// ---------------------------------------------------------------------------------------------
// Transactions

define(
  'MULTI',
  1,
  (context) => {
    if (context.client.queued !== null) throw new CommandError('ERR MULTI calls can not be nested');
    context.client.queued = [];
    context.client.queueFailed = false;
    return OK;
  },
  { control: true },
);
define(
  'DISCARD',
  1,
  (context) => {
    if (context.client.queued === null) throw new CommandError('ERR DISCARD without MULTI');
    context.client.queued = null;
    context.client.watched.clear();
    return OK;
  },
  { control: true },
);
define(
  'EXEC',
  1,
  (context) => {
    const { client } = context;
    const queued = client.queued;
    if (queued === null) throw new CommandError('ERR EXEC without MULTI');
    client.queued = null;
    const failed = client.queueFailed;
    const unchanged = [...client.watched].every(([watchKey, version]) => {
      const [index, k] = splitWatchKey(watchKey);
      return context.server.databases[index]?.version(k) === version;
    });
    client.watched.clear();
    if (failed) throw new CommandError('EXECABORT Transaction discarded because of previous errors.');
    if (!unchanged) return null;
    return context.server.exec(context, queued);
  },
  { control: true },
);
define(
  'WATCH',
  -2,
  (context, args) => {
    if (context.client.queued !== null) throw new CommandError('ERR WATCH inside MULTI is not allowed');
    for (let i = 1; i < args.length; i++) {
      const k = key(args, i);
      context.client.watched.set(watchKey(context.db.index, k), context.db.version(k));
    }
    return OK;
  },
  { control: true, keys: keysAt(1, -1) },
);
define(
  'UNWATCH',
  1,
  (context) => {
    context.client.watched.clear();
    return OK;
  },
  { control: true },
);

function watchKey(db: number, k: string): string {
  return `${db}\u0000${k}`;
}

function splitWatchKey(watched: string): [number, string] {
  const at = watched.indexOf('\u0000');
  return [Number(watched.slice(0, at)), watched.slice(at + 1)];
}

/** The error reply of a failed command, for EXEC's array. */
export function errorReply(error: CommandError): RespErrorReply {
  return new RespErrorReply(error.message);
}
