// decoder.ts
//
// A streaming decoder for every RESP2 and RESP3 type, including the streamed forms (`$?`
// strings in `;` chunks, `*?` / `%?` / `~?` aggregates ended by `.`) and attributes, which no
// other JavaScript client decodes. Bytes in (`feed`), one complete top-level frame out per
// `next()`, or NEED_DATA.
//
// Invariants and design:
// - Resumable: aggregates in progress live on an explicit stack, so a 100 000-element array
//   arriving in many chunks is parsed once, element by element; only an incomplete scalar is
//   re-read when more bytes come.
// - No copying of complete data: a chunk is parsed in place; only the unparsed tail of one chunk
//   is joined with the next. A blob string larger than BIG_BULK that spans chunks is collected
//   as a list of chunks and joined once when complete (a 64 MiB value costs one copy).
// - Strict: every type byte, length, digit, CRLF and limit is checked; the first violation
//   throws RemoteProtocolError and the decoder refuses further use.
// - Pure: no IO, no timers, no Node APIs required (a Node Buffer's utf8Slice is used when the
//   chunk is one, because it is twice as fast as TextDecoder).

import { concat, join } from './bytes.js';
import { RemoteProtocolError } from './errors.js';
import { RespAttributed, RespErrorReply, RespPush, RespVerbatim } from './values.js';
import type { RespFrame, RespValue } from './values.js';

/** Returned by `next()` when no complete frame is buffered. */
export const NEED_DATA: unique symbol = Symbol('NEED_DATA');
/** The type of {@link NEED_DATA}. */
export type NeedData = typeof NEED_DATA;

/** Limits that protect against hostile or broken peers. */
export interface DecoderLimits {
  /** Largest blob string (default 512 MiB, Redis's proto-max-bulk-len). */
  maxBulkLength?: number;
  /** Most elements in one aggregate (default 2^31 - 1... capped at 1 << 30). */
  maxAggregateLength?: number;
  /** Deepest nesting of aggregates (default 128). */
  maxNesting?: number;
  /** Longest simple line: simple strings, errors, numbers, headers (default 64 KiB). */
  maxLineLength?: number;
}

const CR = 13;
const LF = 10;
const BIG_BULK = 64 * 1024;
const EMPTY = new Uint8Array(0);

const utf8 = new TextDecoder('utf-8');
type NodeBufferLike = Uint8Array & { utf8Slice(start: number, end: number): string };

/** Decode bytes [start, end) of `buf` as UTF-8 (invalid sequences become U+FFFD). */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length <= 8) {
    let text = '';
    for (let i = start; i < end; i++) {
      const c = buf[i] as number;
      if (c >= 0x80) return slowUtf8(buf, start, end);
      text += String.fromCharCode(c);
    }
    return text;
  }
  return slowUtf8(buf, start, end);
}

function slowUtf8(buf: Uint8Array, start: number, end: number): string {
  const node = buf as NodeBufferLike;
  if (typeof node.utf8Slice === 'function') return node.utf8Slice(start, end);
  return utf8.decode(buf.subarray(start, end));
}

/** An aggregate being filled. */
interface Frame {
  /** '*', '%', '~', '>', '|', or '$' for a streamed string. */
  readonly type: number;
  /** Elements still expected (for maps and attributes: keys + values), -1 if streamed. */
  remaining: number;
  readonly items: RespValue[];
  /** Attributes waiting for the next element of this aggregate. */
  attributes: Map<RespValue, RespValue> | null;
  /** For streamed strings: the parts so far. */
  readonly parts: Uint8Array[] | null;
  readonly bytes: boolean;
}

interface BulkCollector {
  /** Bytes of the value + CRLF still to collect. */
  need: number;
  readonly length: number;
  readonly parts: Uint8Array[];
  readonly type: number;
  readonly bytes: boolean;
}

const INCOMPLETE: unique symbol = Symbol('INCOMPLETE');
const OPENED: unique symbol = Symbol('OPENED');
type Step = RespValue | typeof INCOMPLETE | typeof OPENED;

/** A streaming RESP2/RESP3 decoder. */
export class RespDecoder {
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private base = 0;
  private readonly stack: Frame[] = [];
  private topAttributes: Map<RespValue, RespValue> | null = null;
  private collector: BulkCollector | null = null;
  // Straddling: when a frame continues from one chunk into the next, only the tail of the old
  // chunk and a prefix of the new one are joined (`buf`); parsing moves on to the new chunk
  // itself (`pendingChunk`) as soon as it passes `switchAt`. `copied` bytes of it are in `buf`.
  private pendingChunk: Uint8Array | null = null;
  private switchAt = 0;
  private copied = 0;
  private failure: RemoteProtocolError | null = null;
  /** Whether `buf` is a Node Buffer (its utf8Slice is the fastest UTF-8 decoder). */
  private nodeBuffer = false;
  private bytesMode = false;
  private readonly maxBulk: number;
  private readonly maxAggregate: number;
  private readonly maxNesting: number;
  private readonly maxLine: number;

  constructor(limits?: DecoderLimits) {
    this.maxBulk = limits?.maxBulkLength ?? 512 * 1024 * 1024;
    this.maxAggregate = limits?.maxAggregateLength ?? 1 << 30;
    this.maxNesting = limits?.maxNesting ?? 128;
    this.maxLine = limits?.maxLineLength ?? 64 * 1024;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get buffered(): number {
    const pending = this.pendingChunk === null ? 0 : this.pendingChunk.length - this.copied;
    const collected = this.collector === null ? 0 : this.collector.length + 2 - this.collector.need;
    return this.buf.length - this.pos + pending + collected;
  }

  /** Whether the decoder is in the middle of a frame (some of its bytes have arrived). */
  get inFrame(): boolean {
    return this.buffered > 0 || this.stack.length > 0 || this.topAttributes !== null;
  }

  /** Feed bytes received from the peer. The decoder keeps a reference; do not modify them. */
  feed(chunk: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (chunk.length === 0) return;
    const collector = this.collector;
    if (collector !== null) {
      if (chunk.length < collector.need) {
        collector.parts.push(chunk);
        collector.need -= chunk.length;
        this.base += chunk.length;
        return;
      }
      collector.parts.push(chunk.subarray(0, collector.need));
      this.setBuf(chunk);
      this.pos = collector.need;
      collector.need = 0;
      return;
    }
    if (this.pendingChunk !== null) this.appendPending(this.pendingChunk.length);
    if (this.pos >= this.buf.length) {
      this.base += this.buf.length;
      this.setBuf(chunk);
      this.pos = 0;
      return;
    }
    const rest = this.buf.subarray(this.pos);
    const take = Math.min(chunk.length, Math.max(1024, rest.length));
    this.base += this.pos;
    this.setBuf(concat(rest, chunk.subarray(0, take)));
    this.pos = 0;
    if (take < chunk.length) {
      this.pendingChunk = chunk;
      this.switchAt = rest.length;
      this.copied = take;
    }
  }

  private setBuf(buf: Uint8Array): void {
    this.buf = buf;
    this.nodeBuffer = typeof (buf as Partial<NodeBufferLike>).utf8Slice === 'function';
  }

  /** Copy more of the pending chunk into `buf`, up to `upTo` of its bytes in all. */
  private appendPending(upTo: number): void {
    const chunk = this.pendingChunk as Uint8Array;
    const end = Math.min(chunk.length, upTo);
    this.setBuf(concat(this.buf, chunk.subarray(this.copied, end)));
    this.copied = end;
    if (end === chunk.length) this.pendingChunk = null;
  }

  /**
   * The next complete top-level frame, or NEED_DATA. Blob strings of this frame come back as
   * Uint8Array views when `bytes` is true, else as strings. Throws RemoteProtocolError on
   * malformed input (and on every later call).
   */
  next(bytes = false): RespFrame | NeedData {
    if (this.failure !== null) throw this.failure;
    if (this.stack.length === 0 && this.collector === null) {
      this.bytesMode = bytes;
      if (this.pendingChunk === null && this.topAttributes === null) {
        const fast = this.fastBlob(bytes);
        if (fast !== INCOMPLETE) return fast;
      }
    }
    try {
      return this.run();
    } catch (error) {
      if (error instanceof RemoteProtocolError) this.failure = error;
      throw error;
    }
  }

  /**
   * The common case, decoded without the general machinery: a complete top-level blob
   * string with a plain length. Anything else (including an incomplete one) goes the slow way.
   */
  private fastBlob(bytes: boolean): RespValue | typeof INCOMPLETE {
    const buf = this.buf;
    const start = this.pos;
    const length = buf.length;
    if (start >= length || buf[start] !== 0x24) return INCOMPLETE;
    let i = start + 1;
    let n = 0;
    const digitsFrom = i;
    for (; i < length; i++) {
      const d = (buf[i] as number) - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === digitsFrom || i - digitsFrom > 10 || i + 1 >= length || buf[i] !== CR || buf[i + 1] !== LF) return INCOMPLETE;
    const body = i + 2;
    const end = body + n;
    if (n > this.maxBulk || end + 2 > length || buf[end] !== CR || buf[end + 1] !== LF) return INCOMPLETE;
    this.pos = end + 2;
    if (bytes) return buf.subarray(body, end);
    if (n > 8 && this.nodeBuffer) return (buf as NodeBufferLike).utf8Slice(body, end);
    return decodeUtf8(buf, body, end);
  }

  private run(): RespFrame | NeedData {
    for (;;) {
      let value: Step;
      const collector = this.collector;
      if (collector !== null) {
        if (collector.need > 0) return NEED_DATA;
        value = this.finishCollected(collector);
      } else {
        const pendingChunk = this.pendingChunk;
        if (pendingChunk !== null && this.pos >= this.switchAt) {
          // Past the joined part: continue in the new chunk itself.
          this.pos -= this.switchAt;
          this.base += this.switchAt;
          this.setBuf(pendingChunk);
          this.pendingChunk = null;
        }
        value = this.step();
        if (value === INCOMPLETE) {
          if (this.pendingChunk === null) return NEED_DATA;
          this.appendPending(this.copied * 2);
          continue;
        }
        if (value === OPENED) {
          // An aggregate was opened, a streamed part consumed, or an attribute map completed.
          const frame = this.stack[this.stack.length - 1];
          if (frame === undefined || frame.remaining !== 0) continue;
          this.stack.pop();
          value = this.close(frame);
          if (value === OPENED) continue;
        }
      }
      // A complete value: hand it to the enclosing aggregates, closing those it completes.
      for (;;) {
        const frame = this.stack[this.stack.length - 1];
        if (frame === undefined) {
          const attributes = this.topAttributes;
          if (attributes !== null) {
            this.topAttributes = null;
            if (!(value instanceof RespPush)) return new RespAttributed(attributes, value as RespValue);
          }
          return value as RespFrame;
        }
        if (frame.attributes !== null) {
          value = new RespAttributed(frame.attributes, value as RespValue);
          frame.attributes = null;
        }
        frame.items.push(value as RespValue);
        if (frame.remaining > 0) frame.remaining--;
        if (frame.remaining !== 0) break;
        this.stack.pop();
        value = this.close(frame);
        if (value === OPENED) break; // an attribute map completed: it waits for its value
      }
    }
  }

  /** Turn a filled aggregate into its value. */
  private close(frame: Frame): Step {
    const items = frame.items;
    switch (frame.type) {
      case 0x2a /* * */:
        return items;
      case 0x7e /* ~ */:
        return new Set(items);
      case 0x25 /* % */:
        return pairs(items);
      case 0x3e /* > */: {
        const kind = items[0];
        return new RespPush(typeof kind === 'string' ? kind : kind instanceof Uint8Array ? decodeUtf8(kind, 0, kind.length) : String(kind), items) as unknown as RespValue;
      }
      case 0x7c /* | */: {
        const attributes = pairs(items);
        const parent = this.stack[this.stack.length - 1];
        if (parent === undefined) this.topAttributes = attributes;
        else parent.attributes = attributes;
        return OPENED;
      }
      default: {
        // streamed string
        const parts = frame.parts as Uint8Array[];
        const joined = join(parts);
        return frame.bytes ? joined : decodeUtf8(joined, 0, joined.length);
      }
    }
  }

  private finishCollected(collector: BulkCollector): RespValue {
    this.collector = null;
    const joined = join(collector.parts);
    if (joined[collector.length] !== CR || joined[collector.length + 1] !== LF) {
      this.fail('blob string not terminated by CRLF', 'ERR_RESP_CRLF', this.base + this.pos - 2);
    }
    const body = joined.subarray(0, collector.length);
    return this.blob(collector.type, body, 0, collector.length, collector.bytes);
  }

  /** Parse one scalar, or open an aggregate, at `pos`. */
  private step(): Step {
    const buf = this.buf;
    const start = this.pos;
    if (start >= buf.length) return INCOMPLETE;
    const type = buf[start] as number;
    switch (type) {
      case 0x24 /* $ */:
      case 0x3d /* = */:
      case 0x21 /* ! */:
        return this.bulk(type, start);
      case 0x2b /* + */: {
        const end = this.lineEnd(start + 1);
        if (end < 0) return INCOMPLETE;
        this.pos = end + 2;
        return decodeUtf8(buf, start + 1, end);
      }
      case 0x3a /* : */:
        return this.integer(start);
      case 0x2d /* - */: {
        const end = this.lineEnd(start + 1);
        if (end < 0) return INCOMPLETE;
        this.pos = end + 2;
        return new RespErrorReply(decodeUtf8(buf, start + 1, end));
      }
      case 0x2a /* * */:
      case 0x25 /* % */:
      case 0x7e /* ~ */:
      case 0x3e /* > */:
      case 0x7c /* | */:
        return this.aggregate(type, start);
      case 0x5f /* _ */: {
        const end = this.lineEnd(start + 1);
        if (end < 0) return INCOMPLETE;
        if (end !== start + 1) this.fail('null with content', 'ERR_RESP_NULL', this.base + start);
        this.pos = end + 2;
        return null;
      }
      case 0x23 /* # */: {
        const end = this.lineEnd(start + 1);
        if (end < 0) return INCOMPLETE;
        const c = buf[start + 1];
        if (end !== start + 2 || (c !== 0x74 && c !== 0x66)) this.fail('boolean must be #t or #f', 'ERR_RESP_BOOLEAN', this.base + start);
        this.pos = end + 2;
        return c === 0x74;
      }
      case 0x2c /* , */: {
        const end = this.lineEnd(start + 1);
        if (end < 0) return INCOMPLETE;
        this.pos = end + 2;
        return this.double(decodeUtf8(buf, start + 1, end), start);
      }
      case 0x28 /* ( */: {
        const end = this.lineEnd(start + 1);
        if (end < 0) return INCOMPLETE;
        const text = decodeUtf8(buf, start + 1, end);
        if (!/^[-+]?\d+$/.test(text)) this.fail(`bad big number ${JSON.stringify(text)}`, 'ERR_RESP_BIGNUM', this.base + start);
        this.pos = end + 2;
        return BigInt(text);
      }
      case 0x3b /* ; streamed string part */:
        return this.streamedPart(start);
      case 0x2e /* . end of streamed aggregate */:
        return this.streamedEnd(start);
      default:
        return this.fail(`unknown RESP type byte 0x${type.toString(16).padStart(2, '0')}`, 'ERR_RESP_TYPE', this.base + start);
    }
  }

  /** Index of the CR of the line starting at `from`, or -1 if the line is incomplete. */
  private lineEnd(from: number): number {
    const buf = this.buf;
    const limit = Math.min(buf.length, from + this.maxLine + 1);
    for (let i = from; i < limit; i++) {
      if (buf[i] === CR) {
        if (i + 1 >= buf.length) return -1;
        if (buf[i + 1] !== LF) this.fail('CR not followed by LF', 'ERR_RESP_CRLF', this.base + i);
        return i;
      }
      if (buf[i] === LF) this.fail('bare LF in a line', 'ERR_RESP_CRLF', this.base + i);
    }
    if (limit < buf.length || buf.length - from > this.maxLine) {
      this.fail(`line longer than ${this.maxLine} bytes`, 'ERR_RESP_LINE_TOO_LONG', this.base + from);
    }
    return -1;
  }

  /**
   * Parse a signed decimal integer line at buf[from...], returning the value, or undefined when
   * incomplete. Sets `pos` past the CRLF. Values beyond 2^53 come back as bigint.
   */
  private integer(start: number): Step {
    const buf = this.buf;
    let i = start + 1;
    const length = buf.length;
    let negative = false;
    if (i < length && (buf[i] === 0x2d || buf[i] === 0x2b)) {
      negative = buf[i] === 0x2d;
      i++;
    }
    const digitsFrom = i;
    let n = 0;
    for (; i < length; i++) {
      const c = buf[i] as number;
      if (c === CR) break;
      const d = c - 48;
      if (d < 0 || d > 9) this.fail('bad digit in integer', 'ERR_RESP_INTEGER', this.base + i);
      n = n * 10 + d;
      if (i - digitsFrom > 20) this.fail('integer too long', 'ERR_RESP_INTEGER', this.base + i);
    }
    if (i + 1 >= length) return INCOMPLETE;
    if (buf[i + 1] !== LF) this.fail('CR not followed by LF', 'ERR_RESP_CRLF', this.base + i);
    if (i === digitsFrom) this.fail('empty integer', 'ERR_RESP_INTEGER', this.base + i);
    this.pos = i + 2;
    if (i - digitsFrom > 15 && !Number.isSafeInteger(n)) {
      const big = BigInt(decodeUtf8(buf, digitsFrom, i));
      return negative ? -big : big;
    }
    return negative ? -n : n;
  }

  /**
   * Parse a length header after a type byte: returns the length, -1 for a null (`-1`), -2 for
   * a streamed form (`?`), or undefined when incomplete.
   */
  private header(start: number): number | undefined {
    const buf = this.buf;
    let i = start + 1;
    const length = buf.length;
    if (i < length && buf[i] === 0x3f /* ? */) {
      if (i + 2 >= length) return undefined;
      if (buf[i + 1] !== CR || buf[i + 2] !== LF) this.fail('bad streamed header', 'ERR_RESP_HEADER', this.base + i);
      this.pos = i + 3;
      return -2;
    }
    if (i < length && buf[i] === 0x2d /* - */) {
      if (i + 3 >= length) return undefined;
      if (buf[i + 1] !== 0x31 || buf[i + 2] !== CR || buf[i + 3] !== LF) {
        this.fail('negative length other than -1', 'ERR_RESP_HEADER', this.base + i);
      }
      this.pos = i + 4;
      return -1;
    }
    const digitsFrom = i;
    let n = 0;
    for (; i < length; i++) {
      const c = buf[i] as number;
      if (c === CR) break;
      const d = c - 48;
      if (d < 0 || d > 9) this.fail('bad digit in length', 'ERR_RESP_HEADER', this.base + i);
      n = n * 10 + d;
      if (i - digitsFrom > 12) this.fail('length too long', 'ERR_RESP_HEADER', this.base + i);
    }
    if (i + 1 >= length) return undefined;
    if (buf[i + 1] !== LF) this.fail('CR not followed by LF', 'ERR_RESP_CRLF', this.base + i);
    if (i === digitsFrom) this.fail('empty length', 'ERR_RESP_HEADER', this.base + i);
    this.pos = i + 2;
    return n;
  }

  private bulk(type: number, start: number): Step {
    const n = this.header(start);
    if (n === undefined) return INCOMPLETE;
    if (n === -1) {
      if (type !== 0x24) this.fail('null verbatim or blob error', 'ERR_RESP_HEADER', this.base + start);
      return null;
    }
    if (n === -2) {
      if (type !== 0x24) this.fail('streamed form only exists for blob strings', 'ERR_RESP_HEADER', this.base + start);
      return this.open(0x24, -1, start);
    }
    if (n > this.maxBulk) this.fail(`blob of ${n} bytes exceeds the ${this.maxBulk}-byte limit`, 'ERR_RESP_BULK_TOO_LONG', this.base + start);
    const body = this.pos;
    const buf = this.buf;
    const available = buf.length - body;
    if (available >= n + 2) {
      if (buf[body + n] !== CR || buf[body + n + 1] !== LF) this.fail('blob string not terminated by CRLF', 'ERR_RESP_CRLF', this.base + body + n);
      this.pos = body + n + 2;
      return this.blob(type, buf, body, body + n, this.bytesMode);
    }
    if (n + 2 > BIG_BULK && this.pendingChunk === null) {
      // Collect the chunks of a large value and join them once.
      this.collector = { need: n + 2 - available, length: n, parts: [buf.subarray(body)], type, bytes: this.bytesMode };
      this.base += buf.length;
      this.setBuf(EMPTY);
      this.pos = 0;
      return INCOMPLETE;
    }
    this.pos = start;
    return INCOMPLETE;
  }

  private blob(type: number, buf: Uint8Array, start: number, end: number, bytes: boolean): RespValue {
    if (type === 0x24) {
      if (bytes) return buf.subarray(start, end);
      if (end - start > 8 && buf === this.buf && this.nodeBuffer) return (buf as NodeBufferLike).utf8Slice(start, end);
      return decodeUtf8(buf, start, end);
    }
    if (type === 0x21) return new RespErrorReply(decodeUtf8(buf, start, end));
    // verbatim: "fmt:" + text
    if (end - start < 4 || buf[start + 3] !== 0x3a) this.fail('verbatim string without a format prefix', 'ERR_RESP_VERBATIM', this.base + start);
    return new RespVerbatim(decodeUtf8(buf, start, start + 3), decodeUtf8(buf, start + 4, end));
  }

  private aggregate(type: number, start: number): Step {
    const n = this.header(start);
    if (n === undefined) return INCOMPLETE;
    if (n === -1) {
      if (type !== 0x2a) this.fail('only arrays may be null', 'ERR_RESP_HEADER', this.base + start);
      return null;
    }
    const count = n === -2 ? -1 : type === 0x25 || type === 0x7c ? n * 2 : n;
    if (n > this.maxAggregate) this.fail(`aggregate of ${n} elements exceeds the limit`, 'ERR_RESP_AGGREGATE_TOO_LONG', this.base + start);
    if (type === 0x3e && this.stack.length > 0) this.fail('push frame inside an aggregate', 'ERR_RESP_PUSH', this.base + start);
    return this.open(type, count, start);
  }

  private open(type: number, remaining: number, start: number): Step {
    if (this.stack.length >= this.maxNesting) this.fail(`nesting deeper than ${this.maxNesting}`, 'ERR_RESP_NESTING', this.base + start);
    this.stack.push({
      type,
      remaining,
      items: [],
      attributes: null,
      parts: type === 0x24 ? [] : null,
      bytes: this.bytesMode,
    });
    return OPENED;
  }

  private streamedPart(start: number): Step {
    const frame = this.stack[this.stack.length - 1];
    if (frame === undefined || frame.parts === null) this.fail('streamed string part outside a streamed string', 'ERR_RESP_STREAM', this.base + start);
    const n = this.header(start);
    if (n === undefined) return INCOMPLETE;
    if (n < 0) this.fail('bad streamed string part length', 'ERR_RESP_STREAM', this.base + start);
    const buf = this.buf;
    const body = this.pos;
    if (n === 0) {
      this.stack.pop();
      return this.close(frame);
    }
    if (buf.length - body < n + 2) {
      this.pos = start;
      return INCOMPLETE;
    }
    if (buf[body + n] !== CR || buf[body + n + 1] !== LF) this.fail('streamed part not terminated by CRLF', 'ERR_RESP_CRLF', this.base + body + n);
    const total = frame.parts.reduce((sum, part) => sum + part.length, 0) + n;
    if (total > this.maxBulk) this.fail('streamed string exceeds the blob limit', 'ERR_RESP_BULK_TOO_LONG', this.base + start);
    frame.parts.push(buf.subarray(body, body + n));
    this.pos = body + n + 2;
    return OPENED;
  }

  private streamedEnd(start: number): Step {
    const frame = this.stack[this.stack.length - 1];
    if (frame === undefined || frame.remaining !== -1 || frame.parts !== null) {
      this.fail('end marker outside a streamed aggregate', 'ERR_RESP_STREAM', this.base + start);
    }
    const end = this.lineEnd(start + 1);
    if (end < 0) return INCOMPLETE;
    if (end !== start + 1) this.fail('end marker with content', 'ERR_RESP_STREAM', this.base + start);
    if ((frame.type === 0x25 || frame.type === 0x7c) && frame.items.length % 2 === 1) {
      this.fail('streamed map ended between a key and its value', 'ERR_RESP_STREAM', this.base + start);
    }
    this.pos = end + 2;
    this.stack.pop();
    return this.close(frame);
  }

  private double(text: string, start: number): number {
    switch (text) {
      case 'inf':
      case '+inf':
        return Infinity;
      case '-inf':
        return -Infinity;
      case 'nan':
      case '-nan':
        return Number.NaN;
      default:
        if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) this.fail(`bad double ${JSON.stringify(text)}`, 'ERR_RESP_DOUBLE', this.base + start);
        return Number(text);
    }
  }

  private fail(message: string, code: string, offset: number): never {
    throw new RemoteProtocolError(message, code, offset);
  }
}

function pairs(items: RespValue[]): Map<RespValue, RespValue> {
  const map = new Map<RespValue, RespValue>();
  for (let i = 0; i + 1 < items.length; i += 2) map.set(items[i] as RespValue, items[i + 1] as RespValue);
  return map;
}
