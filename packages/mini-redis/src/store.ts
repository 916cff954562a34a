// store.ts
//
// One Redis database: keys to values, keys to expiry times, and the clients blocked on its
// lists.
//
// Invariants (Redis's own):
// - A value is a binary string (string type), a RedisList, a Map (hash) or a Set; an
//   aggregate is never empty: the command that empties it deletes its key. A string that INCR
//   and its family wrote may be kept as a safe integer number instead (Redis's "int"
//   encoding): it is the string type, and every reader sees its decimal text (asString).
// - `expires` only holds keys that exist in `data`. A key whose time has passed is deleted
//   when it is next looked up (lazy expiry) or by the periodic cycle (see expireCycle).
// - Clients blocked on a key wait in arrival order; a list push serves them, first come first
//   served, before any other command runs (serveBlocked is called by the pushing command).
// - Keyspace events (notify.ts) that belong to the keyspace itself are published here: 'new'
//   when put/replace creates a key, 'expired' when an expired key is removed, 'keymiss' when a
//   read* lookup finds nothing, and the pops that serve blocked clients. Commands publish their
//   own events (set, lpush, del...) through `notify`.

import { Event } from '@curio-ts/kernel';
import { CommandError, WRONGTYPE } from './errors.js';
import { RedisList } from './list.js';
import { NOTIFY } from './notify.js';
import type { KeyspaceEvents } from './notify.js';

/** A hash value: field to value, binary strings. */
export type RedisHash = Map<string, string>;
/** A set value: members, binary strings. */
export type RedisSet = Set<string>;
/**
 * Any value. A number is a string value kept as the safe integer it spells (written by INCR and
 * its family, read as its decimal text): the next INCR neither parses text nor makes a string.
 */
export type Value = string | number | RedisList | RedisHash | RedisSet;
/** The TYPE names. */
export type TypeName = 'string' | 'list' | 'hash' | 'set';

/** The TYPE of a value. */
export function typeName(value: Value): TypeName {
  if (typeof value === 'string' || typeof value === 'number') return 'string';
  if (value instanceof RedisList) return 'list';
  if (value instanceof Map) return 'hash';
  return 'set';
}

function wrongType(): never {
  throw new CommandError(WRONGTYPE);
}

/** A string value as the readers of strings see it (its text), or undefined for another type. */
export function stringValue(value: Value | undefined): string | undefined {
  if (typeof value === 'string') return value;
  return typeof value === 'number' ? String(value) : undefined;
}

function asString(value: Value | undefined): string | undefined {
  return value === undefined ? undefined : (stringValue(value) ?? wrongType());
}

function asList(value: Value | undefined): RedisList | undefined {
  return value === undefined || value instanceof RedisList ? value : wrongType();
}

function asHash(value: Value | undefined): RedisHash | undefined {
  return value === undefined || value instanceof Map ? value : wrongType();
}

function asSet(value: Value | undefined): RedisSet | undefined {
  return value === undefined || value instanceof Set ? value : wrongType();
}

/**
 * A client blocked in BLPOP / BRPOP. A push hands it one element (`deliver`); its own task,
 * waiting on `ready`, then replies. The element is the waiter's from then on: if the client
 * went away meanwhile, its task gives it back (see {@link Database.giveBack}).
 */
export class BlockedPop {
  readonly ready = new Event();
  /** The key and element it was served, once served. */
  served: { readonly key: string; readonly value: string } | null = null;
  /** Whether the client closed its connection while blocked. */
  disconnected = false;
  /** Whether it still waits in its keys' queues. */
  registered = false;

  constructor(
    readonly keys: readonly string[],
    /** BLPOP (true) or BRPOP (false). */
    readonly left: boolean,
  ) {}

  deliver(key: string, value: string): void {
    this.served = { key, value };
    this.ready.set();
  }

  disconnect(): void {
    this.disconnected = true;
    this.ready.set();
  }
}

/** What one step of the periodic expiry found. */
export interface ExpiryStep {
  readonly checked: number;
  readonly expired: number;
}

/** One of the numbered databases. */
export class Database {
  readonly data = new Map<string, Value>();
  /** Key to expiry time (Unix milliseconds). */
  readonly expires = new Map<string, number>();
  private readonly blocked = new Map<string, BlockedPop[]>();
  private expiryCursor: Iterator<[string, number]> | null = null;

  constructor(
    readonly index: number,
    private readonly now: () => number,
    private readonly events: KeyspaceEvents,
  ) {}

  /** Publish keyspace event `event` of class `type` (a NOTIFY bit) on `key`, if configured. */
  notify(type: number, event: string, key: string): void {
    this.events.notify(type, event, key, this.index);
  }

  /** The live value of `key`, deleting it first if it has expired (a write's lookup). */
  get(key: string): Value | undefined {
    const value = this.data.get(key);
    if (value === undefined || this.expires.size === 0) return value;
    const at = this.expires.get(key);
    if (at === undefined || at > this.now()) return value;
    this.expire(key);
    return undefined;
  }

  /** Like {@link get}, for a command that only reads: a missing key is a 'keymiss' event. */
  read(key: string): Value | undefined {
    const value = this.get(key);
    if (value === undefined) this.events.notify(NOTIFY.KEY_MISS, 'keymiss', key, this.index);
    return value;
  }

  /** Whether `key` exists (and has not expired). */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Set a value, keeping any expiry the key has (none if it had expired). */
  put(key: string, value: Value): void {
    if (this.expires.size !== 0 || this.events.wants(NOTIFY.NEW)) {
      if (this.get(key) === undefined) {
        this.data.set(key, value);
        this.events.notify(NOTIFY.NEW, 'new', key, this.index);
        return;
      }
    }
    this.data.set(key, value);
  }

  /** Set a value and forget any expiry (SET without KEEPTTL). */
  replace(key: string, value: Value): void {
    if (this.expires.size !== 0 || this.events.wants(NOTIFY.NEW)) {
      if (this.get(key) === undefined) {
        this.data.set(key, value);
        this.events.notify(NOTIFY.NEW, 'new', key, this.index);
        return;
      }
      this.expires.delete(key);
    }
    this.data.set(key, value);
  }

  /** Delete a key; true if it existed (expired or not). Publishes nothing. */
  delete(key: string): boolean {
    if (this.expires.size !== 0) this.expires.delete(key);
    return this.data.delete(key);
  }

  /** Delete `key` (an emptied aggregate, a GETDEL...) and publish 'del'. */
  deleteAndNotify(key: string): void {
    this.delete(key);
    this.events.notify(NOTIFY.GENERIC, 'del', key, this.index);
  }

  /** Remove `key`, whose time has passed, and publish 'expired'. */
  private expire(key: string): void {
    this.delete(key);
    this.events.notify(NOTIFY.EXPIRED, 'expired', key, this.index);
  }

  /** The string at `key`, undefined if none; WRONGTYPE if it holds another type. */
  getString(key: string): string | undefined {
    return asString(this.get(key));
  }

  /**
   * The string at `key` as it is stored (its text, or the number INCR kept), for the INCR
   * family; undefined if none; WRONGTYPE if it holds another type.
   */
  getCounter(key: string): string | number | undefined {
    const value = this.get(key);
    return value === undefined || typeof value === 'string' || typeof value === 'number' ? value : wrongType();
  }

  /** The list at `key`, undefined if none; WRONGTYPE if it holds another type. */
  getList(key: string): RedisList | undefined {
    return asList(this.get(key));
  }

  /** The hash at `key`, undefined if none; WRONGTYPE if it holds another type. */
  getHash(key: string): RedisHash | undefined {
    return asHash(this.get(key));
  }

  /** The set at `key`, undefined if none; WRONGTYPE if it holds another type. */
  getSet(key: string): RedisSet | undefined {
    return asSet(this.get(key));
  }

  /** {@link getString} for a command that only reads (a miss is a 'keymiss' event). */
  readString(key: string): string | undefined {
    return asString(this.read(key));
  }

  /** {@link getList} for a command that only reads. */
  readList(key: string): RedisList | undefined {
    return asList(this.read(key));
  }

  /** {@link getHash} for a command that only reads. */
  readHash(key: string): RedisHash | undefined {
    return asHash(this.read(key));
  }

  /** {@link getSet} for a command that only reads. */
  readSet(key: string): RedisSet | undefined {
    return asSet(this.read(key));
  }

  /** Expire `key` at Unix time `at` (ms). The key must exist. */
  setExpiry(key: string, at: number): void {
    this.expires.set(key, at);
  }

  /** Remove the expiry of `key`; true if it had one. */
  persist(key: string): boolean {
    return this.expires.delete(key);
  }

  /** Milliseconds left for `key`: -2 if missing, -1 without expiry. */
  ttl(key: string): number {
    if (this.read(key) === undefined) return -2;
    const at = this.expires.get(key);
    return at === undefined ? -1 : Math.max(0, at - this.now());
  }

  /** Number of keys (including expired ones not yet collected, as Redis counts). */
  get size(): number {
    return this.data.size;
  }

  /** Delete every key (FLUSHDB). Blocked clients keep waiting. */
  flush(): void {
    this.data.clear();
    this.expires.clear();
    this.expiryCursor = null;
  }

  // -------------------------------------------------------------------------------------------
  // Blocking pops

  /** Queue `waiter` on each of its keys, behind the clients already waiting there. */
  block(waiter: BlockedPop): void {
    waiter.registered = true;
    for (const key of new Set(waiter.keys)) {
      const queue = this.blocked.get(key);
      if (queue === undefined) this.blocked.set(key, [waiter]);
      else queue.push(waiter);
    }
  }

  /** Take `waiter` out of its keys' queues (served, timed out, cancelled or disconnected). */
  unblock(waiter: BlockedPop): void {
    if (!waiter.registered) return;
    waiter.registered = false;
    for (const key of new Set(waiter.keys)) {
      const queue = this.blocked.get(key);
      if (queue === undefined) continue;
      const at = queue.indexOf(waiter);
      if (at >= 0) queue.splice(at, 1);
      if (queue.length === 0) this.blocked.delete(key);
    }
  }

  /** After a push to the list at `key`: serve the clients blocked on it, in arrival order. */
  serveBlocked(key: string): void {
    const queue = this.blocked.get(key);
    if (queue === undefined) return;
    const list = this.data.get(key);
    if (!(list instanceof RedisList)) return;
    while (list.length > 0) {
      const waiter = queue[0];
      if (waiter === undefined) break;
      this.unblock(waiter);
      waiter.deliver(key, waiter.left ? list.popLeft() : list.popRight());
      this.events.notify(NOTIFY.LIST, waiter.left ? 'lpop' : 'rpop', key, this.index);
    }
    if (list.length === 0) this.deleteAndNotify(key);
  }

  /**
   * A served client could not take its element (it disconnected or was cancelled before it
   * replied): put the element back where it came from and serve the next client.
   */
  giveBack(waiter: BlockedPop): void {
    const served = waiter.served;
    if (served === null) return;
    waiter.served = null;
    let list = this.get(served.key);
    if (list === undefined) {
      list = new RedisList();
      this.data.set(served.key, list);
    }
    if (!(list instanceof RedisList)) return; // the key was reused for another type: Redis would have lost it too
    if (waiter.left) list.pushLeft(served.value);
    else list.pushRight(served.value);
    this.serveBlocked(served.key);
  }

  // -------------------------------------------------------------------------------------------
  // Periodic expiry

  /**
   * Look at up to `limit` keys that have an expiry, continuing where the last step stopped
   * (a live Map iterator survives deletions), and delete those whose time has passed.
   */
  expireCycle(limit: number): ExpiryStep {
    if (this.expires.size === 0) return { checked: 0, expired: 0 };
    const now = this.now();
    const cursor = (this.expiryCursor ??= this.expires.entries());
    let checked = 0;
    let expired = 0;
    while (checked < limit) {
      const next = cursor.next();
      if (next.done === true) {
        this.expiryCursor = null;
        break;
      }
      checked++;
      const [key, at] = next.value;
      if (at <= now) {
        this.expire(key);
        expired++;
      }
    }
    return { checked, expired };
  }
}
