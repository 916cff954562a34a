// values.ts
//
// The values a RESP2/RESP3 peer can send, as plain data. Scalars map to JavaScript
// primitives; the RESP3 types that have no primitive get small immutable classes.
//
// | RESP                      | value                                           |
// |---------------------------|-------------------------------------------------|
// | simple string `+`         | string                                          |
// | blob string `$`, `$?`     | string, or Uint8Array when bytes were asked for |
// | simple / blob error `-` `!` | RespErrorReply                                |
// | integer `:`               | number (bigint beyond 2^53)                     |
// | null `_`, `$-1`, `*-1`    | null                                            |
// | double `,`                | number (Infinity, -Infinity, NaN)               |
// | boolean `#`               | boolean                                         |
// | big number `(`            | bigint                                          |
// | verbatim string `=`       | RespVerbatim                                    |
// | array `*`, `*?`           | RespValue[]                                     |
// | map `%`, `%?`             | Map<RespValue, RespValue>                       |
// | set `~`, `~?`             | Set<RespValue>                                  |
// | attribute `|`             | RespAttributed wrapping the value it precedes   |
// | push `>`                  | RespPush (top level only)                       |
//
// Byte views (Uint8Array values) point into the received chunks, which the decoder never
// writes to: they stay valid for as long as the caller keeps them.
//
// Discussion: attributes. RESP3 lets an attribute map (`|`) precede any value, at the top of a
// reply or inside an aggregate; it is auxiliary data about the value that follows, not part of
// the reply. The decoder keeps it (RespAttributed around that value; on a push, in
// `RespPush.attributes`); several attribute maps in a row before one value are merged into one
// map (a key in two of them keeps the later value, the one nearest the value). What reaches
// typed code is the plain value: {@link withoutAttributes} removes every wrapper, and the
// client connection hands a reply's own attributes apart from its value.

/** Any value a RESP peer can send (inside a push or as a reply). */
export type RespValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | RespValue[]
  | Map<RespValue, RespValue>
  | Set<RespValue>
  | RespVerbatim
  | RespErrorReply
  | RespAttributed;

/** An attribute map a RESP3 peer sent before a value (`|`): auxiliary data about that value. */
export type RespAttributes = ReadonlyMap<RespValue, RespValue>;

/** An error reply (`-ERR message` or a blob error). `code` is the first word (ERR, WRONGTYPE...). */
export class RespErrorReply {
  readonly code: string;
  readonly message: string;
  constructor(readonly text: string) {
    const space = text.indexOf(' ');
    const first = space === -1 ? text : text.slice(0, space);
    // Redis puts an upper-case code first; a message without one gets the generic ERR.
    this.code = /^[A-Z][A-Z0-9_]*$/.test(first) ? first : 'ERR';
    this.message = text;
  }
  toString(): string {
    return this.text;
  }
}

/** A verbatim string (`=`): text with a three-letter format such as `txt` or `mkd`. */
export class RespVerbatim {
  constructor(
    readonly format: string,
    readonly text: string,
  ) {}
  toString(): string {
    return this.text;
  }
}

/**
 * A value preceded by an attribute map (`|`): out-of-band metadata about the value, which is
 * never a RespAttributed itself (consecutive attribute maps are merged into `attributes`).
 */
export class RespAttributed {
  constructor(
    readonly attributes: Map<RespValue, RespValue>,
    readonly value: RespValue,
  ) {}
}

/** An out-of-band push (`>`): pub/sub messages, invalidations, MONITOR lines in RESP3. */
export class RespPush {
  constructor(
    /** The first element as text: 'message', 'pmessage', 'smessage', 'subscribe', 'invalidate'... */
    readonly kind: string,
    /** Every element, the first included. */
    readonly data: RespValue[],
    /** The attribute map that preceded the push, if any. */
    readonly attributes: RespAttributes | null = null,
  ) {}
}

/**
 * `value` with every attribute removed, at any depth: each RespAttributed is replaced by the
 * plain value it wraps (aggregates that contain one are rebuilt; others are returned as they
 * are). Use it on values from `RespDecoder` when only the data matters.
 */
export function withoutAttributes(value: RespValue): RespValue {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (value instanceof RespAttributed) return withoutAttributes(value.value);
  if (Array.isArray(value)) {
    let out: RespValue[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as RespValue;
      const plain = withoutAttributes(item);
      if (plain !== item && out === null) out = value.slice(0, i);
      if (out !== null) out.push(plain);
    }
    return out ?? value;
  }
  if (value instanceof Map) {
    let changed = false;
    const out = new Map<RespValue, RespValue>();
    for (const [k, v] of value) {
      const key = withoutAttributes(k);
      const item = withoutAttributes(v);
      if (key !== k || item !== v) changed = true;
      out.set(key, item);
    }
    return changed ? out : value;
  }
  if (value instanceof Set) {
    let changed = false;
    const out = new Set<RespValue>();
    for (const v of value) {
      const item = withoutAttributes(v);
      if (item !== v) changed = true;
      out.add(item);
    }
    return changed ? out : value;
  }
  return value;
}

/** What a top-level frame can be: a reply value, or a push. */
export type RespFrame = RespValue | RespPush;
