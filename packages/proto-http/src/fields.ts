// fields.ts
//
// FieldList: a message's header (or trailer) fields as received, without strings. It keeps
// the bytes and the offsets the parser found; a name or value becomes a string only when
// someone asks for it, and a lookup by name compares bytes. Fields made by the caller (to send)
// are plain string pairs in the same class.
//
// Invariants:
// - Order and duplicates are kept, as received; names keep their case (lookups ignore it).
// - Strings are made as latin1 (one char per byte): field values are bytes, and obs-text
//   (bytes 0x80-0xFF) must come out as it came in. `utf8Value` decodes a value as UTF-8.
// - The bytes are the caller's (see the binding): a FieldList does not copy them.

/** A field value as the caller may give it: a number is sent as its decimal text. */
export type FieldValueInit = string | number;

/**
 * Fields as given by the caller: pairs (an array, or any iterable of pairs such as a `Headers`
 * or a `Map`), a record of name → value(s), or another list.
 */
export type FieldsInit =
  | FieldList
  | readonly (readonly [string, FieldValueInit])[]
  | Iterable<readonly [string, FieldValueInit]>
  | Readonly<Record<string, FieldValueInit | readonly FieldValueInit[]>>;

const utf8 = new TextDecoder();

/** The value given for field `name` as a string (a finite number as its decimal text). */
function fieldValue(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  const shown = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  throw new TypeError(`the value of field ${name} is ${shown}: a field value is a string or a finite number`);
}

/** A latin1 string of `bytes[start, end)`. */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length <= 0) return '';
  if (length <= 16) {
    let text = '';
    for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i] as number);
    return text;
  }
  let text = '';
  for (let at = start; at < end; at += 8192) {
    text += String.fromCharCode.apply(null, bytes.subarray(at, Math.min(end, at + 8192)) as unknown as number[]);
  }
  return text;
}

/** Whether `bytes[start, end)` equals `lower` (lowercase ASCII) ignoring ASCII case. */
function sameName(bytes: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let b = bytes[start + i] as number;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether `text` holds a char that toLowerCase would change. */
function hasUpper(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c >= 0x80) return true;
  }
  return false;
}

const NO_SPANS: readonly number[] = [];
const NO_BYTES = new Uint8Array(0);

/** Header or trailer fields (see the file header). */
export class FieldList {
  /** Received: the bytes and offsets (fields from index `first`, four numbers each). */
  private readonly bytes: Uint8Array;
  private readonly spans: readonly number[];
  private readonly first: number;
  /** Made by the caller: names and values. */
  private readonly pairs: readonly (readonly [string, string])[] | null;
  /** Number of fields. */
  readonly length: number;

  private constructor(bytes: Uint8Array, spans: readonly number[], first: number, count: number, pairs: readonly (readonly [string, string])[] | null) {
    this.bytes = bytes;
    this.spans = spans;
    this.first = first;
    this.length = count;
    this.pairs = pairs;
  }

  /** Fields as received: `count` fields at `spans[first..]` into `bytes`. @internal */
  static received(bytes: Uint8Array, spans: readonly number[], first: number, count: number): FieldList {
    return new FieldList(bytes, spans, first, count, null);
  }

  /** No fields. */
  static readonly EMPTY: FieldList = new FieldList(NO_BYTES, NO_SPANS, 0, 0, []);

  /**
   * Fields from pairs, an iterable of pairs (a `Headers`, a `Map`), a record (an array value:
   * one field per element), or another list. A value that is neither a string nor a finite
   * number, or a pair that is not a pair, is a TypeError: no field is dropped in silence.
   */
  static from(init: FieldsInit | undefined | null): FieldList {
    if (init === undefined || init === null) return FieldList.EMPTY;
    if (init instanceof FieldList) return init;
    if (Array.isArray(init)) {
      const given = init as readonly (readonly [string, FieldValueInit])[];
      for (let i = 0; i < given.length; i++) {
        const pair = given[i];
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return FieldList.fromPairs(given);
      }
      return new FieldList(NO_BYTES, NO_SPANS, 0, given.length, given as readonly (readonly [string, string])[]);
    }
    if (typeof init !== 'object') throw new TypeError(`fields must be pairs, a Headers, a Map or a record, not a ${typeof init}`);
    if (typeof (init as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function') return FieldList.fromPairs(init as Iterable<readonly [string, FieldValueInit]>);
    const pairs: [string, string][] = [];
    for (const [name, value] of Object.entries(init as Readonly<Record<string, FieldValueInit | readonly FieldValueInit[]>>)) {
      if (Array.isArray(value)) for (const one of value as readonly unknown[]) pairs.push([name, fieldValue(name, one)]);
      else pairs.push([name, fieldValue(name, value)]);
    }
    return new FieldList(NO_BYTES, NO_SPANS, 0, pairs.length, pairs);
  }

  private static fromPairs(given: Iterable<unknown>): FieldList {
    const pairs: [string, string][] = [];
    for (const pair of given) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') throw new TypeError(`a field must be a [name, value] pair of strings, not ${JSON.stringify(pair) ?? String(pair)}`);
      pairs.push([pair[0], fieldValue(pair[0], pair[1])]);
    }
    return new FieldList(NO_BYTES, NO_SPANS, 0, pairs.length, pairs);
  }

  /** Whether field `name`'s comma-separated value holds `token` (lowercase), as `Connection: close`. */
  hasToken(name: string, token: string): boolean {
    const value = this.get(name);
    if (value === null) return false;
    for (const part of value.split(',')) if (part.trim().toLowerCase() === token) return true;
    return false;
  }

  /** The name of field `i`, as received (case kept). */
  name(i: number): string {
    const pairs = this.pairs;
    if (pairs !== null) return (pairs[i] as readonly [string, string])[0];
    const o = this.first + 4 * i;
    return latin1(this.bytes, this.spans[o] as number, this.spans[o + 1] as number);
  }

  /** The value of field `i` (latin1: one char per byte). */
  value(i: number): string {
    const pairs = this.pairs;
    if (pairs !== null) return (pairs[i] as readonly [string, string])[1];
    const o = this.first + 4 * i;
    const start = this.spans[o + 2] as number;
    return start < 0 ? '' : latin1(this.bytes, start, this.spans[o + 3] as number);
  }

  /** The value of field `i` decoded as UTF-8. */
  utf8Value(i: number): string {
    if (this.pairs !== null) return this.value(i);
    const o = this.first + 4 * i;
    const start = this.spans[o + 2] as number;
    return start < 0 ? '' : utf8.decode(this.bytes.subarray(start, this.spans[o + 3] as number));
  }

  /** @internal The name of field `i` as the caller gave it, or null for a received field. */
  givenName(i: number): string | null {
    const pairs = this.pairs;
    return pairs === null ? null : (pairs[i] as readonly [string, string])[0];
  }

  /** @internal The value of field `i` as the caller gave it, or null for a received field. */
  givenValue(i: number): string | null {
    const pairs = this.pairs;
    return pairs === null ? null : (pairs[i] as readonly [string, string])[1];
  }

  /** @internal The length of field `i`'s name, without making a string. */
  nameLength(i: number): number {
    const pairs = this.pairs;
    if (pairs !== null) return (pairs[i] as readonly [string, string])[0].length;
    const o = this.first + 4 * i;
    return (this.spans[o + 1] as number) - (this.spans[o] as number);
  }

  /** Whether field `i`'s name is `lowerName` (give it in lowercase), without making a string. */
  nameIs(i: number, lowerName: string): boolean {
    const pairs = this.pairs;
    if (pairs !== null) {
      // A name of another length is another name: no lower-cased copy made for it.
      const name = (pairs[i] as readonly [string, string])[0];
      return name.length === lowerName.length && (name === lowerName || name.toLowerCase() === lowerName);
    }
    const o = this.first + 4 * i;
    return sameName(this.bytes, this.spans[o] as number, this.spans[o + 1] as number, lowerName);
  }

  /**
   * Whether field `i`'s value is exactly `text` (compared as latin1 bytes, case kept), without
   * making a string of a received value: a client recognises a value it saw before.
   */
  valueIs(i: number, text: string): boolean {
    const pairs = this.pairs;
    if (pairs !== null) return (pairs[i] as readonly [string, string])[1] === text;
    const o = this.first + 4 * i;
    let start = this.spans[o + 2] as number;
    const end = this.spans[o + 3] as number;
    if (start < 0) return text.length === 0;
    if (end - start !== text.length) return false;
    const bytes = this.bytes;
    for (let k = 0; k < text.length; k++, start++) if (bytes[start] !== text.charCodeAt(k)) return false;
    return true;
  }

  /**
   * @internal Whether field `i`'s value passes `test`, given its bytes (latin1) and where they
   * are, without making a string of a received value.
   */
  valueBytesPass(i: number, test: (bytes: Uint8Array, start: number, end: number) => boolean): boolean {
    const pairs = this.pairs;
    if (pairs !== null) {
      const value = (pairs[i] as readonly [string, string])[1];
      const bytes = new Uint8Array(value.length);
      for (let k = 0; k < value.length; k++) bytes[k] = value.charCodeAt(k) & 0xff;
      return test(bytes, 0, bytes.length);
    }
    const o = this.first + 4 * i;
    const start = this.spans[o + 2] as number;
    return start < 0 ? test(NO_BYTES, 0, 0) : test(this.bytes, start, this.spans[o + 3] as number);
  }

  /** The index of the first field named `name` from `from` on, or -1. */
  indexOf(name: string, from = 0): number {
    // toLowerCase makes a string even when nothing changes: names are mostly given lowercase.
    const lower = hasUpper(name) ? name.toLowerCase() : name;
    for (let i = from; i < this.length; i++) if (this.nameIs(i, lower)) return i;
    return -1;
  }

  /** Whether a field named `name` is present. */
  has(name: string): boolean {
    return this.indexOf(name) !== -1;
  }

  /** The values of the fields named `name`, joined with ", " as fetch's Headers.get does; null when absent. */
  get(name: string): string | null {
    let at = this.indexOf(name);
    if (at === -1) return null;
    let text = this.value(at);
    while ((at = this.indexOf(name, at + 1)) !== -1) text += `, ${this.value(at)}`;
    return text;
  }

  /** The values of every field named `name`, in order (Set-Cookie). */
  getAll(name: string): string[] {
    const values: string[] = [];
    for (let at = this.indexOf(name); at !== -1; at = this.indexOf(name, at + 1)) values.push(this.value(at));
    return values;
  }

  /** Every field as [name, value], in order. */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0; i < this.length; i++) out.push([this.name(i), this.value(i)]);
    return out;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()[Symbol.iterator]();
  }
}
