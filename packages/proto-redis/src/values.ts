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

/** A value preceded by an attribute map (`|`): out-of-band metadata about the reply. */
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
  ) {}
}

/** What a top-level frame can be: a reply value, or a push. */
export type RespFrame = RespValue | RespPush;
