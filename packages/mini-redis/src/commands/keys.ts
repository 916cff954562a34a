// commands/keys.ts
//
// The keyspace: DEL, EXISTS, KEYS, SCAN, TYPE, DBSIZE, FLUSHDB, FLUSHALL (db.c). KEYS and SCAN
// never return a key whose time has passed; a lone `*` pattern skips matching, as in Redis.

import { compileGlob } from '../glob.js';
import type { Matcher } from '../glob.js';
import { fail, SYNTAX } from '../errors.js';
import type { Session } from '../session.js';
import { typeName } from '../store.js';
import type { Database, Value } from '../store.js';
import { arg, command, indexArg, option } from './spec.js';
import type { Args, CommandSpec } from './spec.js';

function del(session: Session, args: Args): void {
  let deleted = 0;
  for (let i = 1; i < args.length; i++) {
    const key = arg(args, i);
    if (session.db.has(key)) {
      session.db.deleteAndNotify(key);
      deleted++;
    }
  }
  session.reply.integer(deleted);
}

function exists(session: Session, args: Args): void {
  let found = 0;
  for (let i = 1; i < args.length; i++) if (session.db.read(arg(args, i)) !== undefined) found++;
  session.reply.integer(found);
}

/** Whether `key` with `value` is live (not past its expiry) at `now`. */
function live(db: Database, key: string, now: number): boolean {
  if (db.expires.size === 0) return true;
  const at = db.expires.get(key);
  return at === undefined || at > now;
}

function patternMatcher(pattern: string): Matcher | null {
  return pattern === '*' ? null : compileGlob(pattern);
}

function keys(session: Session, args: Args): void {
  const db = session.db;
  const match = patternMatcher(arg(args, 1));
  const now = session.server.now();
  const found: string[] = [];
  for (const key of db.data.keys()) {
    if ((match === null || match(key)) && live(db, key, now)) found.push(key);
  }
  session.reply.bulkArray(found, found.length);
}

interface ScanOptions {
  readonly count: number;
  readonly match: Matcher | null;
  readonly type: string | null;
}

/** `cursor [MATCH pattern] [COUNT count] [TYPE type]` from argument `at` (TYPE only for SCAN). */
function scanOptions(args: Args, at: number, allowType: boolean): ScanOptions {
  const cursorText = arg(args, at);
  if (!/^\d+$/.test(cursorText) || cursorText.length > 20) return fail('ERR invalid cursor');
  let count = 10;
  let match: Matcher | null = null;
  let type: string | null = null;
  for (let i = at + 1; i < args.length; i += 2) {
    const opt = option(args, i);
    if (i + 1 >= args.length) return fail(SYNTAX);
    if (opt === 'COUNT') {
      count = indexArg(args, i + 1);
      if (count < 1) return fail(SYNTAX);
    } else if (opt === 'MATCH') match = patternMatcher(arg(args, i + 1));
    else if (opt === 'TYPE' && allowType) type = arg(args, i + 1).toLowerCase();
    else return fail(SYNTAX);
  }
  return { count, match, type };
}

/**
 * One page of a scan over `owner`'s items: visit up to `count` of them from where the cursor
 * stopped, reply `[next cursor, found...]` with what `emit` keeps (it pushes what to return).
 */
function scanPage<T>(session: Session, owner: object, cursorText: string, count: number, start: () => Iterator<T>, emit: (item: T, found: string[]) => void): void {
  const cursors = session.server.cursors;
  const items = cursors.resume(owner, Number(cursorText), start);
  const found: string[] = [];
  let next = 0;
  if (items !== null) {
    let visited = 0;
    let done = false;
    while (visited < count) {
      const step = items.next();
      if (step.done === true) {
        done = true;
        break;
      }
      visited++;
      emit(step.value, found);
    }
    if (!done) next = cursors.suspend(owner, items);
  }
  const reply = session.reply;
  reply.array(2);
  reply.bulk(String(next));
  reply.bulkArray(found, found.length);
}

/** SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] */
function scan(session: Session, args: Args): void {
  const { count, match, type } = scanOptions(args, 1, true);
  const db = session.db;
  const now = session.server.now();
  scanPage(session, db, arg(args, 1), count, () => db.data.entries(), ([key, value]: [string, Value], found) => {
    if (match !== null && !match(key)) return;
    if (type !== null && typeName(value) !== type) return;
    if (live(db, key, now)) found.push(key);
  });
}

/** HSCAN key cursor [MATCH pattern] [COUNT count] */
function hscan(session: Session, args: Args): void {
  const { count, match } = scanOptions(args, 2, false);
  const hash = session.db.readHash(arg(args, 1)) ?? new Map<string, string>();
  scanPage(session, hash, arg(args, 2), count, () => hash.entries(), ([field, value]: [string, string], found) => {
    if (match === null || match(field)) found.push(field, value);
  });
}

/** SSCAN key cursor [MATCH pattern] [COUNT count] */
function sscan(session: Session, args: Args): void {
  const { count, match } = scanOptions(args, 2, false);
  const set = session.db.readSet(arg(args, 1)) ?? new Set<string>();
  scanPage(session, set, arg(args, 2), count, () => set.values(), (member: string, found) => {
    if (match === null || match(member)) found.push(member);
  });
}

function type(session: Session, args: Args): void {
  const value = session.db.read(arg(args, 1));
  session.reply.status(value === undefined ? 'none' : typeName(value));
}

function dbsize(session: Session): void {
  session.reply.integer(session.db.size);
}

/** FLUSHDB / FLUSHALL take an optional ASYNC or SYNC, both done at once here. */
function checkFlushMode(args: Args): void {
  if (args.length === 1) return;
  const mode = option(args, 1);
  if (args.length !== 2 || (mode !== 'ASYNC' && mode !== 'SYNC')) fail(SYNTAX);
}

function flushdb(session: Session, args: Args): void {
  checkFlushMode(args);
  session.db.flush();
  session.reply.ok();
}

function flushall(session: Session, args: Args): void {
  checkFlushMode(args);
  for (const db of session.server.databases) db.flush();
  session.reply.ok();
}

const KEYSPACE = { group: 'generic' } as const;
const SERVER = { group: 'server' } as const;

export const keyCommands: readonly CommandSpec[] = [
  command({ ...KEYSPACE, name: 'del', arity: -2, flags: 'write', keys: [1, -1, 1], summary: 'Deletes one or more keys.', since: '1.0.0' }, del),
  command({ ...KEYSPACE, name: 'exists', arity: -2, flags: 'readonly fast', keys: [1, -1, 1], summary: 'Determines whether one or more keys exist.', since: '1.0.0' }, exists),
  command({ ...KEYSPACE, name: 'keys', arity: 2, flags: 'readonly', summary: 'Returns all key names that match a pattern.', since: '1.0.0' }, keys),
  command({ ...KEYSPACE, name: 'scan', arity: -2, flags: 'readonly', summary: 'Iterates over the key names in the database.', since: '2.8.0' }, scan),
  command({ group: 'hash', name: 'hscan', arity: -3, flags: 'readonly', keys: [1, 1, 1], summary: 'Iterates over fields and values of a hash.', since: '2.8.0' }, hscan),
  command({ group: 'set', name: 'sscan', arity: -3, flags: 'readonly', keys: [1, 1, 1], summary: 'Iterates over members of a set.', since: '2.8.0' }, sscan),
  command({ ...KEYSPACE, name: 'type', arity: 2, flags: 'readonly fast', keys: [1, 1, 1], summary: 'Determines the type of value stored at a key.', since: '1.0.0' }, type),
  command({ ...SERVER, name: 'dbsize', arity: 1, flags: 'readonly fast', summary: 'Returns the number of keys in the database.', since: '1.0.0' }, dbsize),
  command({ ...SERVER, name: 'flushdb', arity: -1, flags: 'write', summary: 'Remove all keys from the current database.', since: '1.0.0' }, flushdb),
  command({ ...SERVER, name: 'flushall', arity: -1, flags: 'write', summary: 'Removes all keys from all databases.', since: '1.0.0' }, flushall),
];
