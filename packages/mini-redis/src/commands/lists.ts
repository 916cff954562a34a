// commands/lists.ts
//
// List commands (t_list.c): pushes serve blocked clients in arrival order before anything else
// runs; pops with a count reply with an array (a null array for a missing key); BLPOP / BRPOP
// pop at once when they can and otherwise block the client's task (Session.blockingPop).

import { parseFloatText, parseIndex } from '../binary.js';
import { fail, wrongArity } from '../errors.js';
import { RedisList } from '../list.js';
import { NOTIFY } from '../notify.js';
import type { Session } from '../session.js';
import { arg, argsFrom, command, indexArg } from './spec.js';
import type { Args, CommandSpec } from './spec.js';

function push(left: boolean): (session: Session, args: Args) => void {
  return (session, args) => {
    const db = session.db;
    const key = arg(args, 1);
    let list = db.getList(key);
    if (list === undefined) {
      list = new RedisList();
      db.put(key, list);
    }
    for (let i = 2; i < args.length; i++) {
      const value = args[i] as string;
      if (left) list.pushLeft(value);
      else list.pushRight(value);
    }
    session.reply.integer(list.length);
    db.notify(NOTIFY.LIST, left ? 'lpush' : 'rpush', key);
    db.serveBlocked(key);
  };
}

function pop(left: boolean): (session: Session, args: Args) => void {
  return (session, args) => {
    const { db, reply } = session;
    if (args.length > 3) return fail(wrongArity(left ? 'lpop' : 'rpop'));
    const hasCount = args.length === 3;
    let count = 0;
    if (hasCount) {
      // Redis words both a non-integer and a negative count this way.
      const parsed = parseIndex(arg(args, 2));
      if (parsed === null || parsed < 0) return fail('ERR value is out of range, must be positive');
      count = parsed;
    }
    const key = arg(args, 1);
    const list = db.getList(key);
    if (list === undefined) {
      if (hasCount) reply.nullArray();
      else reply.nil();
      return;
    }
    if (!hasCount) {
      reply.bulk(left ? list.popLeft() : list.popRight());
    } else {
      const n = Math.min(count, list.length);
      reply.array(n);
      if (n === 0) return;
      for (let i = 0; i < n; i++) reply.bulk(left ? list.popLeft() : list.popRight());
    }
    popped(session, key, list, left);
  };
}

/** After a pop from the list at `key`: its event, and the key deleted if emptied (Redis's order). */
function popped(session: Session, key: string, list: RedisList, left: boolean): void {
  session.db.notify(NOTIFY.LIST, left ? 'lpop' : 'rpop', key);
  if (list.length === 0) session.db.deleteAndNotify(key);
}

function lrange(session: Session, args: Args): void {
  let start = indexArg(args, 2);
  let end = indexArg(args, 3);
  const { db, reply } = session;
  const list = db.readList(arg(args, 1));
  if (list === undefined) {
    reply.array(0);
    return;
  }
  const length = list.length;
  if (start < 0) start += length;
  if (end < 0) end += length;
  if (start < 0) start = 0;
  if (start > end || start >= length) {
    reply.array(0);
    return;
  }
  if (end >= length) end = length - 1;
  reply.array(end - start + 1);
  for (let i = start; i <= end; i++) reply.bulk(list.at(i));
}

function llen(session: Session, args: Args): void {
  session.reply.integer(session.db.readList(arg(args, 1))?.length ?? 0);
}

function lindex(session: Session, args: Args): void {
  const list = session.db.readList(arg(args, 1));
  if (list === undefined) {
    session.reply.nil();
    return;
  }
  let index = indexArg(args, 2);
  if (index < 0) index += list.length;
  session.reply.bulkOrNull(index >= 0 && index < list.length ? list.at(index) : undefined);
}

/** A timeout in seconds (a float) as milliseconds, as Redis's getTimeoutFromObjectOrReply. */
function timeoutMs(text: string): number {
  const seconds = parseFloatText(text);
  if (seconds === null) return fail('ERR timeout is not a float or out of range');
  const ms = seconds * 1000;
  if (ms > 9223372036854775807) return fail('ERR timeout is out of range');
  const rounded = Math.ceil(ms);
  if (rounded < 0) return fail('ERR timeout is negative');
  return rounded === 0 ? 0 : rounded; // ceil(-0.5) is -0: no timeout
}

function blockingPop(left: boolean): (session: Session, args: Args) => void | Promise<void> {
  return (session, args) => {
    const timeout = timeoutMs(arg(args, args.length - 1));
    const keys = argsFrom(args, 1).slice(0, -1);
    const { db, reply } = session;
    for (const key of keys) {
      const list = db.getList(key);
      if (list === undefined) continue;
      reply.array(2);
      reply.bulk(key);
      reply.bulk(left ? list.popLeft() : list.popRight());
      popped(session, key, list, left);
      return undefined;
    }
    return session.blockingPop(keys, left, timeout);
  };
}

const LIST = { group: 'list' } as const;
const KEY1 = [1, 1, 1] as const;

export const listCommands: readonly CommandSpec[] = [
  command({ ...LIST, name: 'lpush', arity: -3, flags: 'write denyoom fast', keys: KEY1, summary: 'Prepends one or more elements to a list. Creates the key if it doesn\'t exist.', since: '1.0.0' }, push(true)),
  command({ ...LIST, name: 'rpush', arity: -3, flags: 'write denyoom fast', keys: KEY1, summary: 'Appends one or more elements to a list. Creates the key if it doesn\'t exist.', since: '1.0.0' }, push(false)),
  command({ ...LIST, name: 'lpop', arity: -2, flags: 'write fast', keys: KEY1, summary: 'Returns the first elements in a list after removing it. Deletes the list if the last element was popped.', since: '1.0.0' }, pop(true)),
  command({ ...LIST, name: 'rpop', arity: -2, flags: 'write fast', keys: KEY1, summary: 'Returns and removes the last elements of a list. Deletes the list if the last element was popped.', since: '1.0.0' }, pop(false)),
  command({ ...LIST, name: 'lrange', arity: 4, flags: 'readonly', keys: KEY1, summary: 'Returns a range of elements from a list.', since: '1.0.0' }, lrange),
  command({ ...LIST, name: 'llen', arity: 2, flags: 'readonly fast', keys: KEY1, summary: 'Returns the length of a list.', since: '1.0.0' }, llen),
  command({ ...LIST, name: 'lindex', arity: 3, flags: 'readonly', keys: KEY1, summary: 'Returns an element from a list by its index.', since: '1.0.0' }, lindex),
  command({ ...LIST, name: 'blpop', arity: -3, needsTask: true, flags: 'write blocking', keys: [1, -2, 1], summary: 'Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.', since: '2.0.0' }, blockingPop(true)),
  command({ ...LIST, name: 'brpop', arity: -3, needsTask: true, flags: 'write blocking', keys: [1, -2, 1], summary: 'Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.', since: '2.0.0' }, blockingPop(false)),
];
