// inprocess/keyspace.ts
//
// The data of the in-process Redis: 16 databases of typed values with expiry on the runtime's
// clock, and the byte/text conversions every command uses.
//
// Invariants:
// - Keys, hash fields and set members are binary strings (one char per byte, latin1), so every
//   one of the 256 byte values round-trips; values are the bytes the client sent.
// - A key whose time has passed is gone: every lookup checks it (lazy expiry, no background
//   sweep), so the clock alone decides, virtual or not.
// - Every change of a key bumps its version (WATCH compares versions).

/** A stream entry: its id and its field/value pairs. */
export interface StreamEntry {
  readonly ms: number;
  readonly seq: number;
  readonly fields: readonly Uint8Array[];
}

/** A value of the keyspace. */
export type Value =
  | { readonly type: 'string'; value: Uint8Array }
  | { readonly type: 'list'; readonly items: Uint8Array[] }
  | { readonly type: 'hash'; readonly fields: Map<string, Uint8Array> }
  | { readonly type: 'set'; readonly members: Set<string> }
  | { readonly type: 'zset'; readonly scores: Map<string, number> }
  | { readonly type: 'stream'; readonly entries: StreamEntry[]; last: { ms: number; seq: number } };

export type ValueType = Value['type'];

/** A reply error with Redis's text (`WRONGTYPE ...`, `ERR ...`). */
export class CommandError extends Error {}

export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
export const NOT_INTEGER = 'ERR value is not an integer or out of range';
export const NOT_FLOAT = 'ERR value is not a valid float';
export const SYNTAX = 'ERR syntax error';

/** One database. */
export class Database {
  readonly data = new Map<string, Value>();
  private readonly expires = new Map<string, number>();
  private readonly versions = new Map<string, number>();
  private epoch = 0;

  constructor(
    readonly index: number,
    private readonly now: () => number,
  ) {}

  /** The live value of `key`, or undefined (an expired key is deleted here). */
  get(key: string): Value | undefined {
    const at = this.expires.get(key);
    if (at !== undefined && at <= this.now()) this.delete(key);
    return this.data.get(key);
  }

  /** The value of `key` if it is of `type` (WRONGTYPE otherwise), or undefined. */
  typed<T extends ValueType>(key: string, type: T): Extract<Value, { type: T }> | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (value.type !== type) throw new CommandError(WRONGTYPE);
    return value as Extract<Value, { type: T }>;
  }

  /** The value of `key` if it is of `type` (WRONGTYPE otherwise), else `make()` stored there. */
  typedOrNew<T extends ValueType>(key: string, type: T, make: () => Extract<Value, { type: T }>): Extract<Value, { type: T }> {
    const existing = this.typed(key, type);
    if (existing !== undefined) return existing;
    const value = make();
    this.set(key, value);
    return value;
  }

  /** Store `value` under `key`, dropping any expiry unless `keepTtl`. */
  set(key: string, value: Value, keepTtl = false): void {
    this.data.set(key, value);
    if (!keepTtl) this.expires.delete(key);
    this.touch(key);
  }

  /** Delete `key`; whether it existed. */
  delete(key: string): boolean {
    this.expires.delete(key);
    const existed = this.data.delete(key);
    if (existed) this.touch(key);
    return existed;
  }

  /** When `key` expires (ms on the clock), or undefined. */
  expiry(key: string): number | undefined {
    return this.get(key) === undefined ? undefined : this.expires.get(key);
  }

  /** Set or clear the expiry of an existing key. */
  setExpiry(key: string, at: number | undefined): void {
    if (at === undefined) this.expires.delete(key);
    else this.expires.set(key, at);
    this.touch(key);
  }

  /** Mark `key` changed (WATCH sees it). */
  touch(key: string): void {
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
  }

  /** The version of `key`: changes whenever the key does (or the database is flushed). */
  version(key: string): string {
    return `${this.epoch}:${this.versions.get(key) ?? 0}`;
  }

  /** Live keys, in insertion order. */
  keys(): string[] {
    const out: string[] = [];
    for (const key of [...this.data.keys()]) if (this.get(key) !== undefined) out.push(key);
    return out;
  }

  /** Remove everything. */
  flush(): void {
    this.data.clear();
    this.expires.clear();
    this.versions.clear();
    this.epoch++;
  }

  /** Remove a collection left empty, as Redis does. */
  dropIfEmpty(key: string, value: Value): void {
    const size =
      value.type === 'list' ? value.items.length : value.type === 'hash' ? value.fields.size : value.type === 'set' ? value.members.size : value.type === 'zset' ? value.scores.size : 1;
    if (size === 0) this.delete(key);
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes and text

/** Bytes as a binary string (one char per byte). */
export function bin(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}

/** A binary string back to bytes. */
export function bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const ascii = new TextEncoder();

/** Text as bytes (UTF-8). */
export function utf8(text: string): Uint8Array {
  return ascii.encode(text);
}

/** An argument as an integer, or ERR not an integer. */
export function integer(arg: Uint8Array, message = NOT_INTEGER): number {
  const text = bin(arg);
  if (!/^-?\d{1,19}$/.test(text)) throw new CommandError(message);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new CommandError(message);
  return n;
}

/** An argument as a float (inf allowed), or ERR not a valid float. */
export function float(arg: Uint8Array, message = NOT_FLOAT): number {
  const text = bin(arg).toLowerCase();
  if (text === 'inf' || text === '+inf') return Number.POSITIVE_INFINITY;
  if (text === '-inf') return Number.NEGATIVE_INFINITY;
  if (text.trim() !== text || text === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(text)) throw new CommandError(message);
  return Number(text);
}

/** A float as Redis prints it. */
export function formatFloat(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return 'inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  return String(n);
}

/** A Redis glob pattern (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes) as a RegExp over binary strings. */
export function globPattern(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) source += escapeRegExp(pattern[++i] as string);
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close === -1) {
        source += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      source += `[${negate ? '^' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`;
      i = close;
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Clamp a Redis start/stop index pair (negative from the end) to [from, to], or null when empty. */
export function range(start: number, stop: number, length: number): [number, number] | null {
  let from = start < 0 ? length + start : start;
  let to = stop < 0 ? length + stop : stop;
  if (from < 0) from = 0;
  if (to >= length) to = length - 1;
  return from > to || from >= length ? null : [from, to];
}
