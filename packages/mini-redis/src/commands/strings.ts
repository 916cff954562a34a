// commands/strings.ts
//
// String commands with expiry, and the INCR family. Semantics and error texts follow Redis 7's
// t_string.c and expire.c: SET's option table (NX/XX/GET/KEEPTTL/EX/PX/EXAT/PXAT), expiry
// overflow checks, INCR's strict 64-bit integers, INCRBYFLOAT's long double arithmetic.

import { isInt64Min, parseInt64 } from '../binary.js';
import { fail, invalidExpire, NOT_INTEGER, SYNTAX, wrongArity } from '../errors.js';
import { incrByFloat } from '../longdouble.js';
import { NOTIFY } from '../notify.js';
import { stringValue } from '../store.js';
import type { Session } from '../session.js';
import { addToInteger, arg, command, integerArg, option } from './spec.js';
import type { Args, CommandSpec } from './spec.js';

const INT64_MAX = 9223372036854775807n;

/** SET's option flags. */
const SET = { NX: 1, XX: 2, GET: 4, KEEPTTL: 8, EX: 16, PX: 32, EXAT: 64, PXAT: 128 } as const;
const ANY_EXPIRY = SET.EX | SET.PX | SET.EXAT | SET.PXAT;

/**
 * Expiry argument `text` in `unit` ('s' or 'ms', relative unless `absolute`) as a Unix time in
 * ms, checked as Redis's getExpireMillisecondsOrReply does.
 */
function expireAt(session: Session, text: string, seconds: boolean, absolute: boolean, commandName: string): number {
  const value = parseInt64(text);
  if (value === null) return fail(NOT_INTEGER);
  let ms = BigInt(value);
  if (ms <= 0n || (seconds && ms > INT64_MAX / 1000n)) return fail(invalidExpire(commandName));
  if (seconds) ms *= 1000n;
  if (!absolute) ms += BigInt(session.server.now());
  if (ms > INT64_MAX) return fail(invalidExpire(commandName));
  return Number(ms);
}

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL] */
function set(session: Session, args: Args): void {
  let flags = 0;
  let expiry: string | null = null;
  for (let j = 3; j < args.length; j++) {
    const opt = option(args, j);
    const hasNext = j + 1 < args.length;
    if (opt === 'NX' && (flags & SET.XX) === 0) flags |= SET.NX;
    else if (opt === 'XX' && (flags & SET.NX) === 0) flags |= SET.XX;
    else if (opt === 'GET') flags |= SET.GET;
    else if (opt === 'KEEPTTL' && (flags & ANY_EXPIRY) === 0) flags |= SET.KEEPTTL;
    else if ((opt === 'EX' || opt === 'PX' || opt === 'EXAT' || opt === 'PXAT') && hasNext) {
      const bit = opt === 'EX' ? SET.EX : opt === 'PX' ? SET.PX : opt === 'EXAT' ? SET.EXAT : SET.PXAT;
      if ((flags & SET.KEEPTTL) !== 0 || (flags & ANY_EXPIRY & ~bit) !== 0) return fail(SYNTAX);
      flags |= bit;
      expiry = arg(args, ++j);
    } else return fail(SYNTAX);
  }
  const when =
    expiry === null ? null : expireAt(session, expiry, (flags & (SET.EX | SET.EXAT)) !== 0, (flags & (SET.EXAT | SET.PXAT)) !== 0, 'set');
  setGeneric(session, arg(args, 1), arg(args, 2), flags, when);
}

function setGeneric(session: Session, key: string, value: string, flags: number, when: number | null): void {
  const db = session.db;
  const reply = session.reply;
  if ((flags & SET.GET) !== 0) reply.bulkOrNull(db.readString(key));
  if ((flags & (SET.NX | SET.XX)) !== 0) {
    const found = db.has(key);
    if (((flags & SET.NX) !== 0 && found) || ((flags & SET.XX) !== 0 && !found)) {
      if ((flags & SET.GET) === 0) reply.nil();
      return;
    }
  }
  if ((flags & SET.KEEPTTL) !== 0) db.put(key, value);
  else db.replace(key, value);
  db.notify(NOTIFY.STRING, 'set', key);
  if (when !== null) {
    db.setExpiry(key, when);
    db.notify(NOTIFY.GENERIC, 'expire', key);
  }
  if ((flags & SET.GET) === 0) reply.ok();
}

/** SETEX / PSETEX key time value */
function setWithExpiry(seconds: boolean, name: string): (session: Session, args: Args) => void {
  return (session, args) => {
    const when = expireAt(session, arg(args, 2), seconds, false, name);
    setGeneric(session, arg(args, 1), arg(args, 3), 0, when);
  };
}

function get(session: Session, args: Args): void {
  session.reply.bulkOrNull(session.db.readString(arg(args, 1)));
}

function mget(session: Session, args: Args): void {
  const { db, reply } = session;
  reply.array(args.length - 1);
  for (let i = 1; i < args.length; i++) {
    const value = db.read(arg(args, i));
    reply.bulkOrNull(stringValue(value));
  }
}

function mset(session: Session, args: Args): void {
  if (args.length % 2 === 0) return fail(wrongArity('mset'));
  for (let i = 1; i < args.length; i += 2) {
    const key = arg(args, i);
    session.db.replace(key, arg(args, i + 1));
    session.db.notify(NOTIFY.STRING, 'set', key);
  }
  session.reply.ok();
}

function getdel(session: Session, args: Args): void {
  const key = arg(args, 1);
  const value = session.db.readString(key);
  if (value !== undefined) session.db.deleteAndNotify(key);
  session.reply.bulkOrNull(value);
}

function append(session: Session, args: Args): void {
  const key = arg(args, 1);
  const value = (session.db.getString(key) ?? '') + arg(args, 2);
  session.db.put(key, value);
  session.db.notify(NOTIFY.STRING, 'append', key);
  session.reply.integer(value.length);
}

function strlen(session: Session, args: Args): void {
  session.reply.integer(session.db.readString(arg(args, 1))?.length ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Expiry

/** EXPIRE's option flags. */
const EXPIRE = { NX: 1, XX: 2, GT: 4, LT: 8 } as const;

/** EXPIRE / PEXPIRE key time [NX|XX|GT|LT] */
function expire(seconds: boolean, name: string): (session: Session, args: Args) => void {
  return (session, args) => {
    let flags = 0;
    for (let j = 3; j < args.length; j++) {
      const opt = option(args, j);
      if (opt === 'NX') flags |= EXPIRE.NX;
      else if (opt === 'XX') flags |= EXPIRE.XX;
      else if (opt === 'GT') flags |= EXPIRE.GT;
      else if (opt === 'LT') flags |= EXPIRE.LT;
      else return fail(`ERR Unsupported option ${args[j] as string}`);
    }
    if ((flags & EXPIRE.NX) !== 0 && (flags & (EXPIRE.XX | EXPIRE.GT | EXPIRE.LT)) !== 0) {
      return fail('ERR NX and XX, GT or LT options at the same time are not compatible');
    }
    if ((flags & EXPIRE.GT) !== 0 && (flags & EXPIRE.LT) !== 0) {
      return fail('ERR GT and LT options at the same time are not compatible');
    }
    let when = BigInt(integerArg(args, 2));
    if (seconds) {
      if (when > INT64_MAX / 1000n || when < -INT64_MAX / 1000n) return fail(invalidExpire(name));
      when *= 1000n;
    }
    const now = session.server.now();
    if (when > INT64_MAX - BigInt(now)) return fail(invalidExpire(name));
    when += BigInt(now);
    const { db, reply } = session;
    const key = arg(args, 1);
    if (!db.has(key)) {
      reply.integer(0);
      return;
    }
    const current = db.expires.get(key);
    const at = Number(when);
    if (
      ((flags & EXPIRE.NX) !== 0 && current !== undefined) ||
      ((flags & EXPIRE.XX) !== 0 && current === undefined) ||
      ((flags & EXPIRE.GT) !== 0 && (current === undefined || at <= current)) ||
      ((flags & EXPIRE.LT) !== 0 && current !== undefined && at >= current)
    ) {
      reply.integer(0);
      return;
    }
    if (at <= now) db.deleteAndNotify(key);
    else {
      db.setExpiry(key, at);
      db.notify(NOTIFY.GENERIC, 'expire', key);
    }
    reply.integer(1);
  };
}

function ttl(milliseconds: boolean): (session: Session, args: Args) => void {
  return (session, args) => {
    const left = session.db.ttl(arg(args, 1));
    session.reply.integer(left < 0 || milliseconds ? left : Math.floor((left + 500) / 1000));
  };
}

function persist(session: Session, args: Args): void {
  const key = arg(args, 1);
  const persisted = session.db.has(key) && session.db.persist(key);
  if (persisted) session.db.notify(NOTIFY.GENERIC, 'persist', key);
  session.reply.integer(persisted ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// INCR family

function incrBy(session: Session, key: string, increment: number | bigint): void {
  const result = addToInteger(session.db.getCounter(key), increment, NOT_INTEGER);
  // A safe integer stays a number (store.ts, Value); beyond 2^53 the exact text.
  session.db.put(key, typeof result === 'number' ? result : String(result));
  session.db.notify(NOTIFY.STRING, 'incrby', key);
  session.reply.integer(result);
}

function incr(session: Session, args: Args): void {
  incrBy(session, arg(args, 1), 1);
}

function decr(session: Session, args: Args): void {
  incrBy(session, arg(args, 1), -1);
}

function incrby(session: Session, args: Args): void {
  incrBy(session, arg(args, 1), integerArg(args, 2));
}

function decrby(session: Session, args: Args): void {
  const decrement = integerArg(args, 2);
  if (isInt64Min(decrement)) return fail('ERR decrement would overflow');
  incrBy(session, arg(args, 1), -decrement);
}

function incrbyfloat(session: Session, args: Args): void {
  const key = arg(args, 1);
  const current = session.db.getString(key);
  const result = incrByFloat(current ?? '0', arg(args, 2));
  if (!result.ok) return fail(result.reason === 'invalid-value' ? 'ERR value is not a valid float' : 'ERR increment would produce NaN or Infinity');
  session.db.put(key, result.text);
  session.db.notify(NOTIFY.STRING, 'incrbyfloat', key);
  session.reply.bulk(result.text);
}

const STRING = { group: 'string' } as const;
const GENERIC = { group: 'generic' } as const;
const KEY1 = [1, 1, 1] as const;

export const stringCommands: readonly CommandSpec[] = [
  command({ ...STRING, name: 'get', arity: 2, flags: 'readonly fast', keys: KEY1, summary: 'Returns the string value of a key.', since: '1.0.0' }, get),
  command({ ...STRING, name: 'set', arity: -3, flags: 'write denyoom', keys: KEY1, summary: 'Sets the string value of a key, ignoring its type. The key is created if it doesn\'t exist.', since: '1.0.0' }, set),
  command({ ...STRING, name: 'setex', arity: 4, flags: 'write denyoom', keys: KEY1, summary: 'Sets the string value and expiration time of a key. Creates the key if it doesn\'t exist.', since: '2.0.0' }, setWithExpiry(true, 'setex')),
  command({ ...STRING, name: 'psetex', arity: 4, flags: 'write denyoom', keys: KEY1, summary: 'Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn\'t exist.', since: '2.6.0' }, setWithExpiry(false, 'psetex')),
  command({ ...STRING, name: 'mget', arity: -2, flags: 'readonly fast', keys: [1, -1, 1], summary: 'Atomically returns the string values of one or more keys.', since: '1.0.0' }, mget),
  command({ ...STRING, name: 'mset', arity: -3, flags: 'write denyoom', keys: [1, -1, 2], summary: 'Atomically creates or modifies the string values of one or more keys.', since: '1.0.1' }, mset),
  command({ ...STRING, name: 'getdel', arity: 2, flags: 'write fast', keys: KEY1, summary: 'Returns the string value of a key after deleting the key.', since: '6.2.0' }, getdel),
  command({ ...STRING, name: 'append', arity: 3, flags: 'write denyoom fast', keys: KEY1, summary: 'Appends a string to the value of a key. Creates the key if it doesn\'t exist.', since: '2.0.0' }, append),
  command({ ...STRING, name: 'strlen', arity: 2, flags: 'readonly fast', keys: KEY1, summary: 'Returns the length of a string value.', since: '2.2.0' }, strlen),
  command({ ...STRING, name: 'incr', arity: 2, flags: 'write denyoom fast', keys: KEY1, summary: 'Increments the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0' }, incr),
  command({ ...STRING, name: 'decr', arity: 2, flags: 'write denyoom fast', keys: KEY1, summary: 'Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0' }, decr),
  command({ ...STRING, name: 'incrby', arity: 3, flags: 'write denyoom fast', keys: KEY1, summary: 'Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0' }, incrby),
  command({ ...STRING, name: 'decrby', arity: 3, flags: 'write denyoom fast', keys: KEY1, summary: 'Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn\'t exist.', since: '1.0.0' }, decrby),
  command({ ...STRING, name: 'incrbyfloat', arity: 3, flags: 'write denyoom fast', keys: KEY1, summary: 'Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.', since: '2.6.0' }, incrbyfloat),
  command({ ...GENERIC, name: 'expire', arity: -3, flags: 'write fast', keys: KEY1, summary: 'Sets the expiration time of a key in seconds.', since: '1.0.0' }, expire(true, 'expire')),
  command({ ...GENERIC, name: 'pexpire', arity: -3, flags: 'write fast', keys: KEY1, summary: 'Sets the expiration time of a key in milliseconds.', since: '2.6.0' }, expire(false, 'pexpire')),
  command({ ...GENERIC, name: 'ttl', arity: 2, flags: 'readonly fast', keys: KEY1, summary: 'Returns the expiration time in seconds of a key.', since: '1.0.0' }, ttl(false)),
  command({ ...GENERIC, name: 'pttl', arity: 2, flags: 'readonly fast', keys: KEY1, summary: 'Returns the expiration time in milliseconds of a key.', since: '2.6.0' }, ttl(true)),
  command({ ...GENERIC, name: 'persist', arity: 2, flags: 'write fast', keys: KEY1, summary: 'Removes the expiration time of a key.', since: '2.2.0' }, persist),
];
