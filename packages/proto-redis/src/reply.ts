// reply.ts
//
// Replies to bytes (the server role): every RESP reply type, in the protocol version the
// client negotiated, into a ByteWriter whose bytes a server lends to its socket and takes back
// (`lend()` / `release()`, see writer.ts). A server writes a reply with the method of its type
// (`bulk`, `integer`, `array(n)` followed by n elements...) or any value at once (`value`).
//
// RESP2 has no map, set, push, null, double, boolean, big number or verbatim type: they are
// written the way Redis itself writes them to a RESP2 client.
//
// | method         | RESP3                   | RESP2                         |
// |----------------|-------------------------|-------------------------------|
// | `status(s)`    | `+s`                    | `+s`                          |
// | `error(s)`     | `-s` (CR, LF → blank)   | `-s` (CR, LF → blank)         |
// | `integer(n)`   | `:n`                    | `:n`                          |
// | `bulk(s)`      | `$len s`                | `$len s`                      |
// | `nil()`        | `_`                     | `$-1`                         |
// | `nullArray()`  | `_`                     | `*-1`                         |
// | `array(n)`     | `*n`                    | `*n`                          |
// | `map(n)`       | `%n` (n pairs)          | `*2n`                         |
// | `set(n)`       | `~n`                    | `*n`                          |
// | `push(n)`      | `>n`                    | `*n` (as pub/sub messages)    |
// | `double(x)`    | `,x` (`inf`, `-inf`, `nan`) | a bulk string of x        |
// | `boolean(b)`   | `#t` / `#f`             | `:1` / `:0`                   |
// | `bigNumber(b)` | `(b`                    | a bulk string of b            |
// | `verbatim(s)`  | `=len txt:s`            | a bulk string of s            |
// | `value(v)`     | any RespFrame; attributes (`|`) are dropped in RESP2  |
//
// Invariants:
// - Strings are UTF-8 (the default) or binary strings, one byte per char (`strings:
//   'binary'`), chosen once when the writer is made; it applies to every string written,
//   strings inside values included.
// - A reply that cannot be encoded (a status with CR or LF, a non-integer `integer`, a value
//   of no RESP type) throws LocalProtocolError and leaves nothing of itself in the buffer.

import type { RespVersion } from './encoder.js';
import { LocalProtocolError } from './errors.js';
import { RespAttributed, RespErrorReply, RespPush, RespVerbatim } from './values.js';
import type { RespFrame, RespValue } from './values.js';
import { ByteWriter } from './writer.js';
import type { ByteWriterOptions } from './writer.js';

/** Options of {@link ReplyWriter}. */
export interface ReplyWriterOptions extends ByteWriterOptions {
  /**
   * How strings become bytes: 'utf8' (the default), or 'binary' for binary strings (one byte
   * per UTF-16 code unit, as latin1 decoding or `atob` makes them), the form of a server that
   * keeps keys and values as such strings.
   */
  readonly strings?: 'utf8' | 'binary';
}

const OK = new TextEncoder().encode('+OK\r\n');
const CR_OR_LF = /[\r\n]/;

/** Writes replies for one client connection (see the file header for every type). */
export class ReplyWriter extends ByteWriter {
  private version: RespVersion = 2;
  private readonly binary: boolean;

  constructor(options: ReplyWriterOptions = {}) {
    super(options);
    this.binary = options.strings === 'binary';
  }

  /** The RESP version replies are written in (2 until {@link setProtocol}). */
  get protocol(): RespVersion {
    return this.version;
  }

  /** Write the replies from now on in `version` (after answering HELLO 3, or RESET). */
  setProtocol(version: RespVersion): void {
    if (version !== 2 && version !== 3) throw new LocalProtocolError(`no RESP version ${String(version)}`, 'ERR_BAD_PROTOCOL_VERSION');
    this.version = version;
  }

  /** `+OK`. */
  ok(): void {
    this.bytes(OK);
  }

  /** A status (simple string) reply; `text` must not contain CR or LF. */
  status(text: string): void {
    if (CR_OR_LF.test(text)) throw new LocalProtocolError('a status reply cannot contain CR or LF', 'ERR_BAD_REPLY');
    this.simpleLine(0x2b, text);
  }

  /**
   * An error reply; `text` should start with a code such as ERR or WRONGTYPE. CR and LF in it
   * become blanks, as Redis does.
   */
  error(text: string): void {
    this.simpleLine(0x2d, CR_OR_LF.test(text) ? text.replace(/[\r\n]/g, ' ') : text);
  }

  private simpleLine(type: number, text: string): void {
    if (this.binary) this.lineBinary(type, text);
    else this.line(type, text);
  }

  /** An integer reply (a number that is an integer, or a bigint). */
  integer(n: number | bigint): void {
    if (typeof n === 'number') {
      if (n >>> 0 === n || (n > 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n))) {
        this.reserve(20);
        this.buf[this.at++] = 0x3a;
        this.digits(n);
        this.buf[this.at++] = 13;
        this.buf[this.at++] = 10;
        return;
      }
      if (!Number.isInteger(n)) throw new LocalProtocolError(`${n} is not an integer`, 'ERR_BAD_REPLY');
    }
    this.ascii(`:${n}\r\n`);
  }

  /** A bulk string: a string (UTF-8 or binary, as the writer was made) or bytes. */
  bulk(value: string | Uint8Array): void {
    if (typeof value !== 'string') this.blobBytes(0x24, value);
    else if (this.binary) this.blobBinary(0x24, value);
    else this.blobString(0x24, value);
  }

  /** A bulk string, or a null when `value` is null or undefined. */
  bulkOrNull(value: string | Uint8Array | null | undefined): void {
    if (value === null || value === undefined) this.nil();
    else this.bulk(value);
  }

  /** A null: `_` in RESP3, the null bulk string `$-1` in RESP2. */
  nil(): void {
    this.ascii(this.version === 3 ? '_\r\n' : '$-1\r\n');
  }

  /** A null where an array was expected (BLPOP's timeout): `_` in RESP3, `*-1` in RESP2. */
  nullArray(): void {
    this.ascii(this.version === 3 ? '_\r\n' : '*-1\r\n');
  }

  /** The header of an array of `n` elements (write them next). */
  array(n: number): void {
    this.header(0x2a, n);
  }

  /** The header of a map of `n` pairs (write 2n elements next): a flat array in RESP2. */
  map(n: number): void {
    if (this.version === 3) this.header(0x25, n);
    else this.header(0x2a, n * 2);
  }

  /** The header of a set of `n` elements: an array in RESP2. */
  set(n: number): void {
    this.header(this.version === 3 ? 0x7e : 0x2a, n);
  }

  /** The header of a push of `n` elements, its kind first: an array in RESP2 (pub/sub messages). */
  push(n: number): void {
    this.header(this.version === 3 ? 0x3e : 0x2a, n);
  }

  /** An array of `count` bulk strings, the items of `values`. */
  bulkArray(values: Iterable<string | Uint8Array>, count: number): void {
    this.array(count);
    for (const value of values) this.bulk(value);
  }

  /** A double: `,x` in RESP3 (inf, -inf, nan), a bulk string of its text in RESP2. */
  double(x: number): void {
    const text = Number.isNaN(x) ? 'nan' : x === Infinity ? 'inf' : x === -Infinity ? '-inf' : String(x);
    if (this.version === 3) this.ascii(`,${text}\r\n`);
    else this.blobString(0x24, text);
  }

  /** A boolean: `#t` / `#f` in RESP3, `:1` / `:0` in RESP2. */
  boolean(b: boolean): void {
    if (this.version === 3) this.ascii(b ? '#t\r\n' : '#f\r\n');
    else this.ascii(b ? ':1\r\n' : ':0\r\n');
  }

  /** A big number: `(n` in RESP3, a bulk string of its digits in RESP2. */
  bigNumber(n: bigint): void {
    if (this.version === 3) this.ascii(`(${n}\r\n`);
    else this.blobString(0x24, n.toString());
  }

  /** A verbatim string (INFO, CLIENT LIST): `=` with a three-letter format in RESP3, a bulk string in RESP2. */
  verbatim(text: string, format = 'txt'): void {
    if (!/^[a-z]{3}$/.test(format)) throw new LocalProtocolError(`a verbatim format is three letters, not '${format}'`, 'ERR_BAD_REPLY');
    if (this.version !== 3) this.bulk(text);
    else if (this.binary) this.blobBinary(0x3d, `${format}:${text}`);
    else this.blobString(0x3d, `${format}:${text}`);
  }

  /**
   * Any reply value: strings as bulk strings, numbers as integers or doubles, bigints as big
   * numbers, RespErrorReply as an error, aggregates element by element. Nothing of it is
   * written when part of it cannot be (LocalProtocolError).
   */
  value(frame: RespFrame): void {
    const mark = this.length;
    try {
      this.frame(frame);
    } catch (error) {
      this.truncate(mark);
      throw error;
    }
  }

  private frame(value: RespFrame): void {
    if (value === null) this.nil();
    else if (typeof value === 'string') this.bulk(value);
    else if (typeof value === 'number') {
      if (Number.isInteger(value)) this.integer(value);
      else this.double(value);
    } else if (typeof value === 'bigint') this.bigNumber(value);
    else if (typeof value === 'boolean') this.boolean(value);
    else if (value instanceof Uint8Array) this.blobBytes(0x24, value);
    else if (Array.isArray(value)) {
      this.array(value.length);
      for (const item of value) this.frame(item);
    } else if (value instanceof Map) {
      this.map(value.size);
      this.pairs(value);
    } else if (value instanceof Set) {
      this.set(value.size);
      for (const item of value) this.frame(item);
    } else if (value instanceof RespErrorReply) this.error(value.text);
    else if (value instanceof RespVerbatim) this.verbatim(value.text, value.format);
    else if (value instanceof RespAttributed) {
      if (this.version === 3) {
        this.header(0x7c, value.attributes.size);
        this.pairs(value.attributes);
      }
      this.frame(value.value);
    } else if (value instanceof RespPush) {
      this.push(value.data.length);
      for (const item of value.data) this.frame(item);
    } else throw new LocalProtocolError('unsupported reply value', 'ERR_BAD_REPLY');
  }

  private pairs(map: ReadonlyMap<RespValue, RespValue>): void {
    for (const [k, v] of map) {
      this.frame(k);
      this.frame(v);
    }
  }

  private header(type: number, n: number): void {
    if (n >>> 0 !== n) throw new LocalProtocolError(`an aggregate of ${n} elements`, 'ERR_BAD_REPLY');
    this.reserve(20);
    this.buf[this.at++] = type;
    this.digits(n);
    this.buf[this.at++] = 13;
    this.buf[this.at++] = 10;
  }
}
