// state.ts
//
// Everything one mini-redis server shares between its clients: the databases, the pub/sub
// registry, the connected clients, SCAN cursors, the configuration and the counters INFO
// shows. Only the server's own tasks touch it, one at a time (tasks switch only at awaits, and
// no command awaits in the middle of changing data), so it needs no locks.

import { Config } from './config.js';
import { compileGlob } from './glob.js';
import type { Matcher } from './glob.js';
import { KeyspaceEvents } from './notify.js';
import { Database } from './store.js';

/** Number of databases (SELECT 0..15). */
export const DATABASES = 16;
/** Most SCAN cursors remembered at once; the oldest are forgotten beyond it. */
const MAX_CURSORS = 4096;

/** Who receives published messages (a client session). */
export interface Subscriber {
  message(channel: string, message: string): void;
  pmessage(pattern: string, channel: string, message: string): void;
}

interface PatternEntry {
  readonly match: Matcher;
  readonly subscribers: Set<Subscriber>;
}

/** Channels and patterns to their subscribers. */
export class PubSub {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private readonly patterns = new Map<string, PatternEntry>();

  /** Number of channels with at least one subscriber. */
  get channelCount(): number {
    return this.channels.size;
  }

  /** Number of patterns with at least one subscriber. */
  get patternCount(): number {
    return this.patterns.size;
  }

  subscribe(subscriber: Subscriber, channel: string): void {
    const subscribers = this.channels.get(channel);
    if (subscribers === undefined) this.channels.set(channel, new Set([subscriber]));
    else subscribers.add(subscriber);
  }

  unsubscribe(subscriber: Subscriber, channel: string): void {
    const subscribers = this.channels.get(channel);
    if (subscribers === undefined) return;
    subscribers.delete(subscriber);
    if (subscribers.size === 0) this.channels.delete(channel);
  }

  psubscribe(subscriber: Subscriber, pattern: string): void {
    const entry = this.patterns.get(pattern);
    if (entry === undefined) this.patterns.set(pattern, { match: compileGlob(pattern), subscribers: new Set([subscriber]) });
    else entry.subscribers.add(subscriber);
  }

  punsubscribe(subscriber: Subscriber, pattern: string): void {
    const entry = this.patterns.get(pattern);
    if (entry === undefined) return;
    entry.subscribers.delete(subscriber);
    if (entry.subscribers.size === 0) this.patterns.delete(pattern);
  }

  /** Deliver to channel subscribers, then to matching patterns; returns the receiver count. */
  publish(channel: string, message: string): number {
    let receivers = 0;
    const subscribers = this.channels.get(channel);
    if (subscribers !== undefined) {
      for (const subscriber of subscribers) subscriber.message(channel, message);
      receivers += subscribers.size;
    }
    for (const [pattern, entry] of this.patterns) {
      if (!entry.match(channel)) continue;
      for (const subscriber of entry.subscribers) subscriber.pmessage(pattern, channel, message);
      receivers += entry.subscribers.size;
    }
    return receivers;
  }
}

/** A SCAN in progress: a live iterator over a database's keys or a hash's or set's items. */
interface ScanState {
  /** What is iterated (a database, a hash, a set): a cursor only resumes over the same one. */
  readonly owner: object;
  readonly items: Iterator<unknown>;
}

/**
 * SCAN cursors. Redis's cursor encodes a position in its hash table; a JavaScript Map has no
 * such position, but its iterators are live: they skip deleted entries and reach entries added
 * later. So a cursor names a remembered iterator, which gives Redis's guarantee (an element
 * present from start to end of a full iteration is returned at least once) with no cost on
 * writes. An unknown or forgotten cursor ends the iteration (an empty page with cursor 0).
 */
export class ScanCursors {
  private readonly active = new Map<number, ScanState>();
  private next = 1;

  /** The iterator of `cursor` over `owner` (0: `start` a new one), or null if unknown. */
  resume<T>(owner: object, cursor: number, start: () => Iterator<T>): Iterator<T> | null {
    if (cursor === 0) return start();
    const state = this.active.get(cursor);
    if (state === undefined || state.owner !== owner) return null;
    this.active.delete(cursor);
    return state.items as Iterator<T>;
  }

  /** Remember an unfinished iterator; returns its new cursor. */
  suspend(owner: object, items: Iterator<unknown>): number {
    const cursor = this.next++;
    this.active.set(cursor, { owner, items });
    if (this.active.size > MAX_CURSORS) {
      const oldest = this.active.keys().next();
      if (oldest.done !== true) this.active.delete(oldest.value);
    }
    return cursor;
  }
}

/** Counters for INFO. */
export interface Stats {
  commands: number;
  connections: number;
  expiredKeys: number;
}

/** The shared state of one server. */
export class ServerState {
  readonly databases: readonly Database[];
  readonly pubsub = new PubSub();
  readonly cursors = new ScanCursors();
  /** Connected clients by id. */
  readonly clients = new Map<number, ClientInfo>();
  readonly stats: Stats = { commands: 0, connections: 0, expiredKeys: 0 };
  readonly startedAt = Date.now();
  /** Keyspace notifications (notify-keyspace-events), published through `pubsub`. */
  readonly events = new KeyspaceEvents(this.pubsub);
  /** CONFIG GET / SET parameters, and the settings they control. */
  readonly config = new Config(this.events);
  private nextClientId = 1;

  constructor(readonly now: () => number = Date.now) {
    this.databases = Array.from({ length: DATABASES }, (_, index) => new Database(index, now, this.events));
  }

  /** A new client id (CLIENT ID). */
  clientId(): number {
    return this.nextClientId++;
  }
}

/** What CLIENT LIST and INFO need to know of a client. */
export interface ClientInfo {
  readonly id: number;
  /** One CLIENT LIST line, without its newline. */
  describe(): string;
  /** Whether it is blocked in BLPOP / BRPOP. */
  readonly blocked: boolean;
  /** Channels + patterns it is subscribed to. */
  readonly subscriptions: number;
  /** When it last sent something or was last written to (Date.now()). */
  readonly lastActive: number;
  /** Close its connection (an idle client, with `timeout` set). */
  close(): void;
}
