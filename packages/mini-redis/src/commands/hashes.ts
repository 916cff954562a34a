// commands/hashes.ts
//
// Hash and set commands (t_hash.c, t_set.c). HGETALL answers a map and SMEMBERS a set in RESP3
// (flat arrays in RESP2); a missing key is an empty aggregate; an emptied one is deleted.

import { fail, wrongArity } from '../errors.js';
import { NOTIFY } from '../notify.js';
import type { Session } from '../session.js';
import type { RedisHash, RedisSet } from '../store.js';
import { addToInteger, arg, command, integerArg } from './spec.js';
import type { Args, CommandSpec } from './spec.js';

function hashForWrite(session: Session, key: string): RedisHash {
  let hash = session.db.getHash(key);
  if (hash === undefined) {
    hash = new Map();
    session.db.put(key, hash);
  }
  return hash;
}

function hsetPairs(session: Session, args: Args, name: string): number {
  if (args.length % 2 === 1) return fail(wrongArity(name));
  const hash = hashForWrite(session, arg(args, 1));
  let created = 0;
  for (let i = 2; i < args.length; i += 2) {
    const field = args[i] as string;
    if (!hash.has(field)) created++;
    hash.set(field, args[i + 1] as string);
  }
  return created;
}

function hset(session: Session, args: Args): void {
  const created = hsetPairs(session, args, 'hset');
  session.db.notify(NOTIFY.HASH, 'hset', arg(args, 1));
  session.reply.integer(created);
}

function hmset(session: Session, args: Args): void {
  hsetPairs(session, args, 'hmset');
  session.db.notify(NOTIFY.HASH, 'hset', arg(args, 1));
  session.reply.ok();
}

function hget(session: Session, args: Args): void {
  session.reply.bulkOrNull(session.db.readHash(arg(args, 1))?.get(arg(args, 2)));
}

function hmget(session: Session, args: Args): void {
  const hash = session.db.readHash(arg(args, 1));
  session.reply.array(args.length - 2);
  for (let i = 2; i < args.length; i++) session.reply.bulkOrNull(hash?.get(arg(args, i)));
}

function hgetall(session: Session, args: Args): void {
  const hash = session.db.readHash(arg(args, 1));
  const reply = session.reply;
  reply.map(hash?.size ?? 0);
  if (hash === undefined) return;
  for (const [field, value] of hash) {
    reply.bulk(field);
    reply.bulk(value);
  }
}

const HASH_NOT_INTEGER = 'ERR hash value is not an integer';

/**
 * Delete `args[2..]` from the hash or set at `args[1]`; reply the count. When some were:
 * `event` of class `type`, then the key deleted if emptied.
 */
function removeMembers(session: Session, args: Args, container: RedisHash | RedisSet | undefined, type: number, event: string): void {
  let removed = 0;
  if (container !== undefined) {
    for (let i = 2; i < args.length; i++) if (container.delete(arg(args, i))) removed++;
    if (removed > 0) {
      const key = arg(args, 1);
      session.db.notify(type, event, key);
      if (container.size === 0) session.db.deleteAndNotify(key);
    }
  }
  session.reply.integer(removed);
}

function hdel(session: Session, args: Args): void {
  removeMembers(session, args, session.db.getHash(arg(args, 1)), NOTIFY.HASH, 'hdel');
}

function hexists(session: Session, args: Args): void {
  session.reply.integer(session.db.readHash(arg(args, 1))?.has(arg(args, 2)) === true ? 1 : 0);
}

function hlen(session: Session, args: Args): void {
  session.reply.integer(session.db.readHash(arg(args, 1))?.size ?? 0);
}

function hkeys(session: Session, args: Args): void {
  const hash = session.db.readHash(arg(args, 1));
  session.reply.bulkArray(hash?.keys() ?? [], hash?.size ?? 0);
}

function hvals(session: Session, args: Args): void {
  const hash = session.db.readHash(arg(args, 1));
  session.reply.bulkArray(hash?.values() ?? [], hash?.size ?? 0);
}

function hincrby(session: Session, args: Args): void {
  const increment = integerArg(args, 3);
  const hash = hashForWrite(session, arg(args, 1));
  const field = arg(args, 2);
  const result = addToInteger(hash.get(field), increment, HASH_NOT_INTEGER);
  hash.set(field, String(result));
  session.db.notify(NOTIFY.HASH, 'hincrby', arg(args, 1));
  session.reply.integer(result);
}

// ---------------------------------------------------------------------------------------------
// Sets

function sadd(session: Session, args: Args): void {
  const key = arg(args, 1);
  let set: RedisSet | undefined = session.db.getSet(key);
  if (set === undefined) {
    set = new Set();
    session.db.put(key, set);
  }
  let added = 0;
  for (let i = 2; i < args.length; i++) {
    const member = arg(args, i);
    if (!set.has(member)) {
      set.add(member);
      added++;
    }
  }
  if (added > 0) session.db.notify(NOTIFY.SET, 'sadd', key);
  session.reply.integer(added);
}

function srem(session: Session, args: Args): void {
  removeMembers(session, args, session.db.getSet(arg(args, 1)), NOTIFY.SET, 'srem');
}

function smembers(session: Session, args: Args): void {
  const set = session.db.readSet(arg(args, 1));
  session.reply.set(set?.size ?? 0);
  if (set !== undefined) for (const member of set) session.reply.bulk(member);
}

function sismember(session: Session, args: Args): void {
  session.reply.integer(session.db.readSet(arg(args, 1))?.has(arg(args, 2)) === true ? 1 : 0);
}

function scard(session: Session, args: Args): void {
  session.reply.integer(session.db.readSet(arg(args, 1))?.size ?? 0);
}

const HASH = { group: 'hash' } as const;
const SET = { group: 'set' } as const;
const KEY1 = [1, 1, 1] as const;

export const hashCommands: readonly CommandSpec[] = [
  command({ ...HASH, name: 'hset', arity: -4, flags: 'write denyoom fast', keys: KEY1, summary: 'Creates or modifies the value of a field in a hash.', since: '2.0.0' }, hset),
  command({ ...HASH, name: 'hmset', arity: -4, flags: 'write denyoom fast', keys: KEY1, summary: 'Sets the values of multiple fields.', since: '2.0.0' }, hmset),
  command({ ...HASH, name: 'hget', arity: 3, flags: 'readonly fast', keys: KEY1, summary: 'Returns the value of a field in a hash.', since: '2.0.0' }, hget),
  command({ ...HASH, name: 'hmget', arity: -3, flags: 'readonly fast', keys: KEY1, summary: 'Returns the values of all fields in a hash.', since: '2.0.0' }, hmget),
  command({ ...HASH, name: 'hgetall', arity: 2, flags: 'readonly', keys: KEY1, summary: 'Returns all fields and values in a hash.', since: '2.0.0' }, hgetall),
  command({ ...HASH, name: 'hdel', arity: -3, flags: 'write fast', keys: KEY1, summary: 'Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.', since: '2.0.0' }, hdel),
  command({ ...HASH, name: 'hexists', arity: 3, flags: 'readonly fast', keys: KEY1, summary: 'Determines whether a field exists in a hash.', since: '2.0.0' }, hexists),
  command({ ...HASH, name: 'hlen', arity: 2, flags: 'readonly fast', keys: KEY1, summary: 'Returns the number of fields in a hash.', since: '2.0.0' }, hlen),
  command({ ...HASH, name: 'hkeys', arity: 2, flags: 'readonly', keys: KEY1, summary: 'Returns all fields in a hash.', since: '2.0.0' }, hkeys),
  command({ ...HASH, name: 'hvals', arity: 2, flags: 'readonly', keys: KEY1, summary: 'Returns all values in a hash.', since: '2.0.0' }, hvals),
  command({ ...HASH, name: 'hincrby', arity: 4, flags: 'write denyoom fast', keys: KEY1, summary: 'Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn\'t exist.', since: '2.0.0' }, hincrby),
  command({ ...SET, name: 'sadd', arity: -3, flags: 'write denyoom fast', keys: KEY1, summary: 'Adds one or more members to a set. Creates the key if it doesn\'t exist.', since: '1.0.0' }, sadd),
  command({ ...SET, name: 'srem', arity: -3, flags: 'write fast', keys: KEY1, summary: 'Removes one or more members from a set. Deletes the set if the last member was removed.', since: '1.0.0' }, srem),
  command({ ...SET, name: 'smembers', arity: 2, flags: 'readonly', keys: KEY1, summary: 'Returns all members of a set.', since: '1.0.0' }, smembers),
  command({ ...SET, name: 'sismember', arity: 3, flags: 'readonly fast', keys: KEY1, summary: 'Determines whether a member belongs to a set.', since: '1.0.0' }, sismember),
  command({ ...SET, name: 'scard', arity: 2, flags: 'readonly fast', keys: KEY1, summary: 'Returns the number of members in a set.', since: '1.0.0' }, scard),
];
