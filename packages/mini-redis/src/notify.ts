// notify.ts
//
// Keyspace notifications (Redis's notify.c): when notify-keyspace-events selects an event's
// class, a command that changes a key publishes `__keyspace@<db>__:<key>` with the event name
// (flag K) and `__keyevent@<db>__:<event>` with the key (flag E), through the ordinary pub/sub
// registry, before its reply is sent.
//
// Invariants: event names, their classes and their order within a command are Redis 7.0's
// (test/notify.test.ts compares them with a redis-server): 'new' (n) when a key is created,
// before the command's own event; 'del' (g) when a command deletes a key or empties an
// aggregate; 'expired' (x) when an expired key is removed, lazily on access or by the periodic
// cycle; 'keymiss' (m) when a read finds no key. Classes mini-redis has no data for (z sorted
// sets, t streams, e evictions, d modules) are accepted and never fire, which is the truth.

/** Event classes and the two channel kinds, with Redis's bit values. */
export const NOTIFY = {
  KEYSPACE: 1 << 0,
  KEYEVENT: 1 << 1,
  GENERIC: 1 << 2,
  STRING: 1 << 3,
  LIST: 1 << 4,
  SET: 1 << 5,
  HASH: 1 << 6,
  ZSET: 1 << 7,
  EXPIRED: 1 << 8,
  EVICTED: 1 << 9,
  STREAM: 1 << 10,
  KEY_MISS: 1 << 11,
  MODULE: 1 << 13,
  NEW: 1 << 14,
} as const;

/** What flag `A` stands for (every class but keymiss and new, as in Redis). */
const ALL =
  NOTIFY.GENERIC | NOTIFY.STRING | NOTIFY.LIST | NOTIFY.SET | NOTIFY.HASH | NOTIFY.ZSET | NOTIFY.EXPIRED | NOTIFY.EVICTED | NOTIFY.STREAM | NOTIFY.MODULE;

const CLASS_BY_CHAR: Readonly<Record<string, number>> = {
  A: ALL,
  g: NOTIFY.GENERIC,
  $: NOTIFY.STRING,
  l: NOTIFY.LIST,
  s: NOTIFY.SET,
  h: NOTIFY.HASH,
  z: NOTIFY.ZSET,
  x: NOTIFY.EXPIRED,
  e: NOTIFY.EVICTED,
  K: NOTIFY.KEYSPACE,
  E: NOTIFY.KEYEVENT,
  t: NOTIFY.STREAM,
  m: NOTIFY.KEY_MISS,
  d: NOTIFY.MODULE,
  n: NOTIFY.NEW,
};

/** Classes printed one by one when not all of `A` is set, in Redis's order. */
const CLASS_ORDER: readonly (readonly [string, number])[] = [
  ['g', NOTIFY.GENERIC],
  ['$', NOTIFY.STRING],
  ['l', NOTIFY.LIST],
  ['s', NOTIFY.SET],
  ['h', NOTIFY.HASH],
  ['z', NOTIFY.ZSET],
  ['x', NOTIFY.EXPIRED],
  ['e', NOTIFY.EVICTED],
  ['t', NOTIFY.STREAM],
  ['d', NOTIFY.MODULE],
  ['n', NOTIFY.NEW],
];

/** The flags of a notify-keyspace-events value, or null for a character Redis refuses. */
export function parseEventFlags(text: string): number | null {
  let flags = 0;
  for (const c of text) {
    const bit = CLASS_BY_CHAR[c];
    if (bit === undefined) return null;
    flags |= bit;
  }
  return flags;
}

/** The notify-keyspace-events value CONFIG GET shows for `flags` (Redis's canonical form). */
export function formatEventFlags(flags: number): string {
  let text = '';
  if ((flags & ALL) === ALL) text += 'A';
  else for (const [c, bit] of CLASS_ORDER) if ((flags & bit) !== 0) text += c;
  if ((flags & NOTIFY.KEYSPACE) !== 0) text += 'K';
  if ((flags & NOTIFY.KEYEVENT) !== 0) text += 'E';
  if ((flags & NOTIFY.KEY_MISS) !== 0) text += 'm';
  return text;
}

/** Where notifications are published (the server's pub/sub registry). */
export interface Publisher {
  publish(channel: string, message: string): number;
}

/** The keyspace notifier of one server: the configured flags and where to publish. */
export class KeyspaceEvents {
  /** The configured classes and channel kinds (0: off). */
  flags = 0;

  constructor(private readonly publisher: Publisher) {}

  /** Whether events of class `type` are published at all. */
  wants(type: number): boolean {
    return (this.flags & type) !== 0 && (this.flags & (NOTIFY.KEYSPACE | NOTIFY.KEYEVENT)) !== 0;
  }

  /** Publish event `event` of class `type` on `key` of database `db`, if configured. */
  notify(type: number, event: string, key: string, db: number): void {
    const flags = this.flags;
    if ((flags & type) === 0) return;
    if ((flags & NOTIFY.KEYSPACE) !== 0) this.publisher.publish(`__keyspace@${db}__:${key}`, event);
    if ((flags & NOTIFY.KEYEVENT) !== 0) this.publisher.publish(`__keyevent@${db}__:${event}`, key);
  }
}
