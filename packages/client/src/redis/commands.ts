// redis/commands.ts
//
// Typed command methods, written once for the client (each returns a Promise) and for batches
// (pipelines and transactions, where each returns the batch for chaining). A method builds the
// argument list and names a transform that turns the raw reply into the documented type, so
// RESP2 and RESP3 replies look the same to the caller (a map in RESP3 and a flat array in RESP2
// both become an object, a double and its RESP2 string both become a number).

import type { RedisArg, RespValue } from '@curio-ts/proto-redis';
import type { CallOptions } from './engine.js';

/** `string`, or `Uint8Array` when the call asked for bytes. */
export type Bulk<O> = O extends { readonly bytes: true } ? Uint8Array : string;

/** How results come back: a Promise per call (client) or the batch itself (pipeline/multi). */
export type Out<M, T> = M extends 'client' ? Promise<T> : M;

/** A reply transform. */
export type Transform<T> = (reply: RespValue) => T;

/** Options of SET. */
export interface SetOptions extends CallOptions {
  /** Expire after seconds (EX) or milliseconds (PX), or at a Unix time (EXAT / PXAT). */
  readonly EX?: number;
  readonly PX?: number;
  readonly EXAT?: number;
  readonly PXAT?: number;
  /** Only set if the key does not exist (NX) / exists (XX). */
  readonly NX?: boolean;
  readonly XX?: boolean;
  /** Keep the existing TTL. */
  readonly KEEPTTL?: boolean;
  /** Return the old value (SET ... GET). */
  readonly GET?: boolean;
}

/** Options of SCAN-style iteration. */
export interface ScanOptions extends CallOptions {
  readonly MATCH?: string;
  readonly COUNT?: number;
  /** SCAN only: restrict to a key type. */
  readonly TYPE?: string;
}

/**
 * What hGetAll returns: an object of strings, or with `bytes: true` the hash's [field, value]
 * pairs as bytes, in the server's order (binary field names stay exact, where an object's
 * string keys would mangle them).
 */
export type HashEntries<O> = O extends { readonly bytes: true } ? [field: Uint8Array, value: Uint8Array][] : Record<string, string>;

/** A stream entry. */
export interface StreamEntry {
  readonly id: string;
  readonly fields: Record<string, string>;
}

/** A sorted-set member with its score. */
export interface ScoredMember {
  readonly value: string;
  readonly score: number;
}

/** The raw reply (the client sends calls with this transform without one). */
const identity: Transform<RespValue> = (reply) => reply;
const asNumber: Transform<number> = (reply) => (typeof reply === 'number' ? reply : Number(reply));
const asNumberOrNull: Transform<number | null> = (reply) => (reply === null ? null : asNumber(reply));
const asBoolean: Transform<boolean> = (reply) => reply === 1 || reply === true;
const asOk: Transform<'OK'> = () => 'OK';

/** A RESP3 map or a RESP2 flat array of pairs, as an object with string keys. */
export function asRecord(reply: RespValue): Record<string, RespValue> {
  const out: Record<string, RespValue> = {};
  if (reply instanceof Map) {
    for (const [k, v] of reply) out[keyString(k)] = v;
  } else if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out[keyString(reply[i] as RespValue)] = reply[i + 1] as RespValue;
  }
  return out;
}

/** A RESP3 map or a RESP2 flat array of pairs, as [field, value] pairs of bytes. */
function asBytePairs(reply: RespValue): [Uint8Array, Uint8Array][] {
  const out: [Uint8Array, Uint8Array][] = [];
  if (reply instanceof Map) {
    for (const [k, v] of reply) out.push([asBytes(k), asBytes(v)]);
  } else if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out.push([asBytes(reply[i] as RespValue), asBytes(reply[i + 1] as RespValue)]);
  }
  return out;
}

const utf8 = new TextEncoder();

/** A blob string delivered as bytes; anything else (a server that answered text) encoded. */
function asBytes(value: RespValue): Uint8Array {
  return value instanceof Uint8Array ? value : utf8.encode(keyString(value));
}

function keyString(key: RespValue): string {
  if (typeof key === 'string') return key;
  if (key instanceof Uint8Array) return new TextDecoder().decode(key);
  return String(key);
}

/** A RESP3 set or a RESP2 array, as an array. */
function asArray<T>(reply: RespValue): T[] {
  if (reply instanceof Set) return [...reply] as T[];
  if (Array.isArray(reply)) return reply as T[];
  return [];
}

function scored(reply: RespValue): ScoredMember[] {
  const items = asArray<RespValue>(reply);
  const out: ScoredMember[] = [];
  if (items.length > 0 && Array.isArray(items[0])) {
    for (const pair of items as RespValue[][]) out.push({ value: keyString(pair[0] as RespValue), score: asNumber(pair[1] as RespValue) });
  } else {
    for (let i = 0; i + 1 < items.length; i += 2) out.push({ value: keyString(items[i] as RespValue), score: asNumber(items[i + 1] as RespValue) });
  }
  return out;
}

function streamEntries(reply: RespValue): StreamEntry[] {
  return asArray<RespValue[]>(reply).map((entry) => ({
    id: keyString(entry[0] as RespValue),
    fields: asRecord(entry[1] as RespValue) as Record<string, string>,
  }));
}

function streamsReply(reply: RespValue): Record<string, StreamEntry[]> | null {
  if (reply === null) return null;
  const out: Record<string, StreamEntry[]> = {};
  if (reply instanceof Map) {
    for (const [k, v] of reply) out[keyString(k)] = streamEntries(v);
  } else {
    for (const pair of asArray<RespValue[]>(reply)) out[keyString(pair[0] as RespValue)] = streamEntries(pair[1] as RespValue);
  }
  return out;
}

function flattenRecord(record: Record<string, RedisArg> | ReadonlyMap<RedisArg, RedisArg>): RedisArg[] {
  const args: RedisArg[] = [];
  const entries = record instanceof Map ? record.entries() : Object.entries(record);
  for (const [k, v] of entries) args.push(k, v);
  return args;
}

/**
 * The command methods. `M` is 'client' (each method returns a Promise of its result) or the
 * batch type (each method queues the command and returns the batch).
 */
export abstract class RedisCommands<M> {
  /** Send (or queue) a command with a reply transform. */
  protected abstract command<T>(args: readonly RedisArg[], transform: Transform<T>, options?: CallOptions): Out<M, T>;

  /**
   * The command `name key` (`name` upper case, a command that never blocks): `command([name,
   * key])`, which the client overrides to make no argument array.
   */
  protected commandKey<T>(name: string, key: RedisArg, transform: Transform<T>, options?: CallOptions): Out<M, T> {
    return this.command([name, key], transform, options);
  }

  // --- generic -----------------------------------------------------------------------------

  /**
   * Any command, raw reply: `sendCommand(['OBJECT', 'ENCODING', key], { timeout: 100 })`. The
   * one raw-command method, with the options of every call (`bytes`, `signal`, `timeout`);
   * RedisClient's `call(...args)` is its shorthand without options.
   */
  sendCommand<T = RespValue>(args: readonly RedisArg[], options?: CallOptions): Out<M, T> {
    return this.command(args, identity as Transform<T>, options);
  }

  // --- connection / server ------------------------------------------------------------------

  ping(message?: string, options?: CallOptions): Out<M, string> {
    return this.command(message === undefined ? ['PING'] : ['PING', message], (r) => (Array.isArray(r) ? keyString(r[1] ?? 'PONG') : keyString(r)), options);
  }
  echo(message: RedisArg, options?: CallOptions): Out<M, string> {
    return this.command(['ECHO', message], keyString, options);
  }
  dbSize(options?: CallOptions): Out<M, number> {
    return this.command(['DBSIZE'], asNumber, options);
  }
  flushDb(options?: CallOptions): Out<M, 'OK'> {
    return this.command(['FLUSHDB'], asOk, options);
  }
  info(section?: string, options?: CallOptions): Out<M, string> {
    return this.command(section === undefined ? ['INFO'] : ['INFO', section], keyString, options);
  }
  time(options?: CallOptions): Out<M, [number, number]> {
    return this.command(['TIME'], (r) => asArray<RespValue>(r).map(asNumber) as [number, number], options);
  }

  // --- strings ------------------------------------------------------------------------------

  get<O extends CallOptions = CallOptions>(key: RedisArg, options?: O): Out<M, Bulk<O> | null> {
    return this.commandKey('GET', key, identity as Transform<Bulk<O> | null>, options);
  }
  set(key: RedisArg, value: RedisArg, options?: SetOptions): Out<M, string | null> {
    const args: RedisArg[] = ['SET', key, value];
    if (options !== undefined) {
      if (options.EX !== undefined) args.push('EX', options.EX);
      if (options.PX !== undefined) args.push('PX', options.PX);
      if (options.EXAT !== undefined) args.push('EXAT', options.EXAT);
      if (options.PXAT !== undefined) args.push('PXAT', options.PXAT);
      if (options.NX === true) args.push('NX');
      if (options.XX === true) args.push('XX');
      if (options.KEEPTTL === true) args.push('KEEPTTL');
      if (options.GET === true) args.push('GET');
    }
    return this.command(args, (r) => (r === null ? null : keyString(r)), options);
  }
  mGet<O extends CallOptions = CallOptions>(keys: readonly RedisArg[], options?: O): Out<M, (Bulk<O> | null)[]> {
    return this.command(['MGET', ...keys], identity as Transform<(Bulk<O> | null)[]>, options);
  }
  mSet(entries: Record<string, RedisArg> | ReadonlyMap<RedisArg, RedisArg>, options?: CallOptions): Out<M, 'OK'> {
    return this.command(['MSET', ...flattenRecord(entries)], asOk, options);
  }
  incr(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('INCR', key, asNumber, options);
  }
  incrBy(key: RedisArg, by: number, options?: CallOptions): Out<M, number> {
    return this.command(['INCRBY', key, by], asNumber, options);
  }
  incrByFloat(key: RedisArg, by: number, options?: CallOptions): Out<M, number> {
    return this.command(['INCRBYFLOAT', key, by], asNumber, options);
  }
  decr(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('DECR', key, asNumber, options);
  }
  decrBy(key: RedisArg, by: number, options?: CallOptions): Out<M, number> {
    return this.command(['DECRBY', key, by], asNumber, options);
  }
  append(key: RedisArg, value: RedisArg, options?: CallOptions): Out<M, number> {
    return this.command(['APPEND', key, value], asNumber, options);
  }
  getDel<O extends CallOptions = CallOptions>(key: RedisArg, options?: O): Out<M, Bulk<O> | null> {
    return this.commandKey('GETDEL', key, identity as Transform<Bulk<O> | null>, options);
  }
  strLen(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('STRLEN', key, asNumber, options);
  }
  getRange(key: RedisArg, start: number, end: number, options?: CallOptions): Out<M, string> {
    return this.command(['GETRANGE', key, start, end], keyString, options);
  }

  // --- keys ---------------------------------------------------------------------------------

  del(keys: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['DEL', ...(Array.isArray(keys) ? keys : [keys as RedisArg])], asNumber, options);
  }
  unlink(keys: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['UNLINK', ...(Array.isArray(keys) ? keys : [keys as RedisArg])], asNumber, options);
  }
  exists(keys: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['EXISTS', ...(Array.isArray(keys) ? keys : [keys as RedisArg])], asNumber, options);
  }
  expire(key: RedisArg, seconds: number, options?: CallOptions): Out<M, boolean> {
    return this.command(['EXPIRE', key, seconds], asBoolean, options);
  }
  pExpire(key: RedisArg, ms: number, options?: CallOptions): Out<M, boolean> {
    return this.command(['PEXPIRE', key, ms], asBoolean, options);
  }
  ttl(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('TTL', key, asNumber, options);
  }
  pTtl(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('PTTL', key, asNumber, options);
  }
  persist(key: RedisArg, options?: CallOptions): Out<M, boolean> {
    return this.commandKey('PERSIST', key, asBoolean, options);
  }
  type(key: RedisArg, options?: CallOptions): Out<M, string> {
    return this.commandKey('TYPE', key, keyString, options);
  }
  rename(key: RedisArg, newKey: RedisArg, options?: CallOptions): Out<M, 'OK'> {
    return this.command(['RENAME', key, newKey], asOk, options);
  }
  keys(pattern: string, options?: CallOptions): Out<M, string[]> {
    return this.command(['KEYS', pattern], (r) => asArray<RespValue>(r).map(keyString), options);
  }
  /** One SCAN step: the next cursor and a batch of keys. See also `scanIterator`. */
  scan(cursor: string | number, options?: ScanOptions): Out<M, { cursor: string; keys: string[] }> {
    return this.command(scanArgs(['SCAN', cursor], options), (r) => {
      const [next, keys] = r as [RespValue, RespValue];
      return { cursor: keyString(next), keys: asArray<RespValue>(keys).map(keyString) };
    }, options);
  }

  // --- hashes -------------------------------------------------------------------------------

  hGet<O extends CallOptions = CallOptions>(key: RedisArg, field: RedisArg, options?: O): Out<M, Bulk<O> | null> {
    return this.command(['HGET', key, field], identity as Transform<Bulk<O> | null>, options);
  }
  /** HSET key field value, or HSET key with every entry of a record/map. */
  hSet(key: RedisArg, fieldOrEntries: RedisArg | Record<string, RedisArg> | ReadonlyMap<RedisArg, RedisArg>, value?: RedisArg, options?: CallOptions): Out<M, number> {
    const args: RedisArg[] = ['HSET', key];
    if (value !== undefined) args.push(fieldOrEntries as RedisArg, value);
    else args.push(...flattenRecord(fieldOrEntries as Record<string, RedisArg>));
    return this.command(args, asNumber, options);
  }
  hMGet<O extends CallOptions = CallOptions>(key: RedisArg, fields: readonly RedisArg[], options?: O): Out<M, (Bulk<O> | null)[]> {
    return this.command(['HMGET', key, ...fields], identity as Transform<(Bulk<O> | null)[]>, options);
  }
  /**
   * Every field and value of a hash: `{ field: value }`, or with `{ bytes: true }` an array of
   * [field, value] Uint8Array pairs, so that binary field names come back exactly.
   */
  hGetAll<O extends CallOptions = CallOptions>(key: RedisArg, options?: O): Out<M, HashEntries<O>> {
    return this.commandKey('HGETALL', key, (options?.bytes === true ? asBytePairs : asRecord) as Transform<HashEntries<O>>, options);
  }
  hDel(key: RedisArg, fields: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['HDEL', key, ...(Array.isArray(fields) ? fields : [fields as RedisArg])], asNumber, options);
  }
  hIncrBy(key: RedisArg, field: RedisArg, by: number, options?: CallOptions): Out<M, number> {
    return this.command(['HINCRBY', key, field, by], asNumber, options);
  }
  hExists(key: RedisArg, field: RedisArg, options?: CallOptions): Out<M, boolean> {
    return this.command(['HEXISTS', key, field], asBoolean, options);
  }
  hLen(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('HLEN', key, asNumber, options);
  }
  hKeys(key: RedisArg, options?: CallOptions): Out<M, string[]> {
    return this.commandKey('HKEYS', key, (r) => asArray<RespValue>(r).map(keyString), options);
  }
  hVals<O extends CallOptions = CallOptions>(key: RedisArg, options?: O): Out<M, Bulk<O>[]> {
    return this.commandKey('HVALS', key, (r) => asArray<Bulk<O>>(r), options);
  }

  // --- lists --------------------------------------------------------------------------------

  lPush(key: RedisArg, values: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['LPUSH', key, ...(Array.isArray(values) ? values : [values as RedisArg])], asNumber, options);
  }
  rPush(key: RedisArg, values: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['RPUSH', key, ...(Array.isArray(values) ? values : [values as RedisArg])], asNumber, options);
  }
  lPop<O extends CallOptions = CallOptions>(key: RedisArg, options?: O): Out<M, Bulk<O> | null> {
    return this.commandKey('LPOP', key, identity as Transform<Bulk<O> | null>, options);
  }
  rPop<O extends CallOptions = CallOptions>(key: RedisArg, options?: O): Out<M, Bulk<O> | null> {
    return this.commandKey('RPOP', key, identity as Transform<Bulk<O> | null>, options);
  }
  lRange<O extends CallOptions = CallOptions>(key: RedisArg, start: number, stop: number, options?: O): Out<M, Bulk<O>[]> {
    return this.command(['LRANGE', key, start, stop], (r) => asArray<Bulk<O>>(r), options);
  }
  lLen(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('LLEN', key, asNumber, options);
  }
  lIndex<O extends CallOptions = CallOptions>(key: RedisArg, index: number, options?: O): Out<M, Bulk<O> | null> {
    return this.command(['LINDEX', key, index], identity as Transform<Bulk<O> | null>, options);
  }
  lRem(key: RedisArg, count: number, value: RedisArg, options?: CallOptions): Out<M, number> {
    return this.command(['LREM', key, count, value], asNumber, options);
  }
  lTrim(key: RedisArg, start: number, stop: number, options?: CallOptions): Out<M, 'OK'> {
    return this.command(['LTRIM', key, start, stop], asOk, options);
  }
  /**
   * BLPOP with a timeout in seconds (0: forever): `{ key, element }` or null on timeout. Runs
   * on a connection of its own, so the others are not blocked.
   */
  blPop(keys: RedisArg | readonly RedisArg[], timeoutSeconds: number, options?: CallOptions): Out<M, { key: string; element: string } | null> {
    return this.command(['BLPOP', ...(Array.isArray(keys) ? keys : [keys as RedisArg]), timeoutSeconds], popped, options);
  }
  brPop(keys: RedisArg | readonly RedisArg[], timeoutSeconds: number, options?: CallOptions): Out<M, { key: string; element: string } | null> {
    return this.command(['BRPOP', ...(Array.isArray(keys) ? keys : [keys as RedisArg]), timeoutSeconds], popped, options);
  }
  blMove(source: RedisArg, destination: RedisArg, from: 'LEFT' | 'RIGHT', to: 'LEFT' | 'RIGHT', timeoutSeconds: number, options?: CallOptions): Out<M, string | null> {
    return this.command(['BLMOVE', source, destination, from, to, timeoutSeconds], (r) => (r === null ? null : keyString(r)), options);
  }

  // --- sets ---------------------------------------------------------------------------------

  sAdd(key: RedisArg, members: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['SADD', key, ...(Array.isArray(members) ? members : [members as RedisArg])], asNumber, options);
  }
  sRem(key: RedisArg, members: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['SREM', key, ...(Array.isArray(members) ? members : [members as RedisArg])], asNumber, options);
  }
  sMembers<O extends CallOptions = CallOptions>(key: RedisArg, options?: O): Out<M, Bulk<O>[]> {
    return this.commandKey('SMEMBERS', key, (r) => asArray<Bulk<O>>(r), options);
  }
  sIsMember(key: RedisArg, member: RedisArg, options?: CallOptions): Out<M, boolean> {
    return this.command(['SISMEMBER', key, member], asBoolean, options);
  }
  sCard(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('SCARD', key, asNumber, options);
  }

  // --- sorted sets --------------------------------------------------------------------------

  zAdd(key: RedisArg, members: readonly ScoredMember[] | ScoredMember, options?: CallOptions): Out<M, number> {
    const args: RedisArg[] = ['ZADD', key];
    for (const m of Array.isArray(members) ? members : [members as ScoredMember]) args.push(m.score, m.value);
    return this.command(args, asNumber, options);
  }
  zScore(key: RedisArg, member: RedisArg, options?: CallOptions): Out<M, number | null> {
    return this.command(['ZSCORE', key, member], asNumberOrNull, options);
  }
  zIncrBy(key: RedisArg, by: number, member: RedisArg, options?: CallOptions): Out<M, number> {
    return this.command(['ZINCRBY', key, by, member], asNumber, options);
  }
  zRem(key: RedisArg, members: RedisArg | readonly RedisArg[], options?: CallOptions): Out<M, number> {
    return this.command(['ZREM', key, ...(Array.isArray(members) ? members : [members as RedisArg])], asNumber, options);
  }
  zCard(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('ZCARD', key, asNumber, options);
  }
  zRank(key: RedisArg, member: RedisArg, options?: CallOptions): Out<M, number | null> {
    return this.command(['ZRANK', key, member], asNumberOrNull, options);
  }
  zRange(key: RedisArg, start: RedisArg, stop: RedisArg, options?: CallOptions & { readonly BY?: 'SCORE' | 'LEX'; readonly REV?: boolean }): Out<M, string[]> {
    const args: RedisArg[] = ['ZRANGE', key, start, stop];
    if (options?.BY !== undefined) args.push(`BY${options.BY}`);
    if (options?.REV === true) args.push('REV');
    return this.command(args, (r) => asArray<RespValue>(r).map(keyString), options);
  }
  zRangeWithScores(key: RedisArg, start: RedisArg, stop: RedisArg, options?: CallOptions & { readonly BY?: 'SCORE' | 'LEX'; readonly REV?: boolean }): Out<M, ScoredMember[]> {
    const args: RedisArg[] = ['ZRANGE', key, start, stop];
    if (options?.BY !== undefined) args.push(`BY${options.BY}`);
    if (options?.REV === true) args.push('REV');
    args.push('WITHSCORES');
    return this.command(args, scored, options);
  }

  // --- streams ------------------------------------------------------------------------------

  xAdd(key: RedisArg, id: string, fields: Record<string, RedisArg> | ReadonlyMap<RedisArg, RedisArg>, options?: CallOptions & { readonly MAXLEN?: number }): Out<M, string> {
    const args: RedisArg[] = ['XADD', key];
    if (options?.MAXLEN !== undefined) args.push('MAXLEN', '~', options.MAXLEN);
    args.push(id, ...flattenRecord(fields));
    return this.command(args, keyString, options);
  }
  xLen(key: RedisArg, options?: CallOptions): Out<M, number> {
    return this.commandKey('XLEN', key, asNumber, options);
  }
  xRange(key: RedisArg, start: string, end: string, options?: CallOptions & { readonly COUNT?: number }): Out<M, StreamEntry[]> {
    const args: RedisArg[] = ['XRANGE', key, start, end];
    if (options?.COUNT !== undefined) args.push('COUNT', options.COUNT);
    return this.command(args, streamEntries, options);
  }
  xDel(key: RedisArg, ids: string | readonly string[], options?: CallOptions): Out<M, number> {
    return this.command(['XDEL', key, ...(typeof ids === 'string' ? [ids] : ids)], asNumber, options);
  }
  /**
   * XREAD: `{ stream: entries }`, or null when BLOCK timed out. With BLOCK it runs on a pool
   * connection of its own.
   */
  xRead(streams: Record<string, string>, options?: CallOptions & { readonly COUNT?: number; readonly BLOCK?: number }): Out<M, Record<string, StreamEntry[]> | null> {
    const args: RedisArg[] = ['XREAD'];
    if (options?.COUNT !== undefined) args.push('COUNT', options.COUNT);
    if (options?.BLOCK !== undefined) args.push('BLOCK', options.BLOCK);
    args.push('STREAMS', ...Object.keys(streams), ...Object.values(streams));
    return this.command(args, streamsReply, options);
  }
  xGroupCreate(key: RedisArg, group: string, id: string, options?: CallOptions & { readonly MKSTREAM?: boolean }): Out<M, 'OK'> {
    const args: RedisArg[] = ['XGROUP', 'CREATE', key, group, id];
    if (options?.MKSTREAM === true) args.push('MKSTREAM');
    return this.command(args, asOk, options);
  }
  xReadGroup(group: string, consumer: string, streams: Record<string, string>, options?: CallOptions & { readonly COUNT?: number; readonly BLOCK?: number; readonly NOACK?: boolean }): Out<M, Record<string, StreamEntry[]> | null> {
    const args: RedisArg[] = ['XREADGROUP', 'GROUP', group, consumer];
    if (options?.COUNT !== undefined) args.push('COUNT', options.COUNT);
    if (options?.BLOCK !== undefined) args.push('BLOCK', options.BLOCK);
    if (options?.NOACK === true) args.push('NOACK');
    args.push('STREAMS', ...Object.keys(streams), ...Object.values(streams));
    return this.command(args, streamsReply, options);
  }
  xAck(key: RedisArg, group: string, ids: string | readonly string[], options?: CallOptions): Out<M, number> {
    return this.command(['XACK', key, group, ...(typeof ids === 'string' ? [ids] : ids)], asNumber, options);
  }

  // --- pub/sub, scripting -------------------------------------------------------------------

  publish(channel: RedisArg, message: RedisArg, options?: CallOptions): Out<M, number> {
    return this.command(['PUBLISH', channel, message], asNumber, options);
  }
  eval<T = RespValue>(script: string, keys: readonly RedisArg[], args: readonly RedisArg[], options?: CallOptions): Out<M, T> {
    return this.command(['EVAL', script, keys.length, ...keys, ...args], identity as Transform<T>, options);
  }
  evalSha<T = RespValue>(sha: string, keys: readonly RedisArg[], args: readonly RedisArg[], options?: CallOptions): Out<M, T> {
    return this.command(['EVALSHA', sha, keys.length, ...keys, ...args], identity as Transform<T>, options);
  }
  scriptLoad(script: string, options?: CallOptions): Out<M, string> {
    return this.command(['SCRIPT', 'LOAD', script], keyString, options);
  }
}

function popped(reply: RespValue): { key: string; element: string } | null {
  if (reply === null) return null;
  const [key, element] = reply as [RespValue, RespValue];
  return { key: keyString(key), element: keyString(element) };
}

/** Append MATCH / COUNT / TYPE to a SCAN-family command. */
export function scanArgs(args: RedisArg[], options: ScanOptions | undefined): RedisArg[] {
  if (options?.MATCH !== undefined) args.push('MATCH', options.MATCH);
  if (options?.COUNT !== undefined) args.push('COUNT', options.COUNT);
  if (options?.TYPE !== undefined) args.push('TYPE', options.TYPE);
  return args;
}

export { keyString, asArray, scored, identity };
