// decoder.ts
//
// A streaming decoder for every RESP2 and RESP3 type, including the streamed forms (`$?`
// strings in `;` parts, `*?` / `%?` / `~?` aggregates ended by `.`) and attributes, which no
// other JavaScript client decodes. Bytes in (`feed`), one complete top-level frame out per
// `next()`, or NEED_DATA.
//
// Invariants:
// - Linear: every byte received is scanned a bounded number of times and copied at most a
//   bounded number of times, however the bytes are cut into chunks. Aggregates in progress live
//   on an explicit stack (a 100 000-element array arriving in many chunks is parsed once,
//   element by element); a line cut by a chunk end is resumed, not re-read; a blob body or a
//   streamed-string part cut by a chunk end is collected as it arrives and joined once (a
//   64 MiB value costs one copy). See Discussion.
// - Bounded: every declared length (blob, streamed part, running total of a streamed string,
//   aggregate count) is checked against the limits as soon as its header is read, before any of
//   its data is awaited; streamed aggregates are counted as they grow; lines are bounded by
//   `maxLineLength`. A violation is a RemoteProtocolError with a stable `code`.
// - Strict: every type byte, length, digit, CRLF and limit is checked, and so is the RESP3
//   grammar (only `;` parts inside a streamed string; a push only at the top, never empty, its
//   kind a string; an attribute always followed by a value; streamed forms only for strings,
//   arrays, sets and maps); the first violation throws RemoteProtocolError and the decoder
//   refuses further use (`feed` and `next` throw it again).
// - Chunking does not change the outcome: the same bytes cut anywhere give the same frames, or
//   the same error code (a property test checks it on random and mutated streams).
// - Pure: no IO, no timers, no Node APIs required (nothing is imported). When chunks are Node
//   Buffers, their utf8Slice (twice as fast as TextDecoder) decodes text, also from bytes joined
//   across chunks, called as a method of the current chunk where it is one. The chunks are the
//   injection: plain Uint8Arrays get the portable TextDecoder path.
//   Rejected (issue 9): an ASCII path for long blobs (latin1Slice, kept if `Buffer.byteLength`
//   proves it ASCII). It runs about 500 fewer instructions than utf8Slice for 1000 B, but takes
//   more time: latin1Slice copies about half as fast per byte as utf8Slice on Node 20, and the
//   pair never beat utf8Slice alone in CPU time (11 runs each, 100 000 slices of 128 B to
//   1000 B: equal from 256 B to 512 B, utf8Slice 1.3x ahead at 1000 B); with it the decoder
//   read 0.84-0.88x redis-parser at 1000 B, without it 0.96-0.99x.
//
// Discussion: the buffers. Chunks fed are queued and parsed in place (`buf`, `pos`). Parsing
// stops inside a chunk in one of two ways:
// - in a blob body or a streamed part, whose size the header told: the rest arrives in a
//   `Collector`. A small body (up to 64 KiB) is copied into one buffer of its size as it comes
//   (a reused scratch buffer when it becomes a string at once); a larger one is kept as views of
//   the chunks and joined once when complete.
//   A small text blob is not collected at first but left where it is (`split`): when the next
//   chunk holds its rest (the usual cut in a stream of replies), each half is decoded in place
//   and the two strings are concatenated: no copy, no view, no parts. Only otherwise (a
//   non-ASCII byte just before the cut, the rest in several chunks) is it collected as above.
//   A cut reply of 1000 B costs ~0.45 us so, ~0.8 us collected (redis-parser: ~0.37 us).
// - in a line (a header, a simple string, a number...), whose end is unknown: its bytes are kept
//   in `carry`, and each new chunk is scanned once for the line's end (a CR or an LF). Only then
//   are the carried bytes and the new chunk's bytes up to that end copied into one small buffer,
//   parsed, and parsing moves on to the new chunk itself (`resume` / `switchAt`). A line is at
//   most `maxLineLength` bytes, so this copy is bounded and happens once per line. While a
//   carried line is short (SHORT_LINE), it is parsed again with every chunk instead, so early
//   errors (a bad digit in a length) are reported exactly as for unbroken input.
// Bytes kept across chunks (a collector's, a carried line's, a streamed string's parts) are held
// in `Pieces`: large pieces as views, small ones copied together, so a peer sending a few bytes
// per chunk (or per streamed part) cannot make each byte cost a retained object.
// Before this design an incomplete streamed part was joined again from its start with every
// chunk: one 32 MiB part in 64 KiB chunks took 20-40 s; now ~0.15-0.4 s, like a plain blob.

import { SHORT_ARG, join, shortLatin1 } from './bytes.js';
import { RemoteProtocolError } from './errors.js';
import { NEED_DATA } from './sentinels.js';
import type { NeedData } from './sentinels.js';
import { RespAttributed, RespErrorReply, RespPush, RespVerbatim } from './values.js';
import type { RespFrame, RespValue } from './values.js';


/** Limits that protect against hostile or broken peers. */
export interface DecoderLimits {
  /**
   * Largest blob string (default 512 MiB, Redis's proto-max-bulk-len). Also bounds each part of
   * a streamed string and the total of its parts.
   */
  maxBulkLength?: number;
  /**
   * Most elements in one aggregate (default 2^30); for maps and attributes, most pairs. Also
   * bounds streamed aggregates as they grow.
   */
  maxAggregateLength?: number;
  /** Deepest nesting of aggregates (default 128). */
  maxNesting?: number;
  /** Longest simple line: simple strings, errors, numbers, headers (default 64 KiB). */
  maxLineLength?: number;
}

const CR = 13;
const LF = 10;
/** Blob strings longer than this are decoded before their terminator is read (largeBlob). */
const LARGE_BLOB = 256;
const EMPTY = new Uint8Array(0);
/**
 * A carried line this short is parsed again with every new chunk (bounded work), so errors the
 * parsers find early (a bad digit in a length or an integer: always within the first 25 bytes)
 * do not depend on where the chunks were cut.
 */
const SHORT_LINE = 64;

const utf8 = new TextDecoder('utf-8');
type NodeBufferLike = Uint8Array & { utf8Slice(start: number, end: number): string };
type Slicer = (this: Uint8Array, start: number, end: number) => string;

/**
 * Decode bytes [start, end) of `buf` as UTF-8 (invalid sequences become U+FFFD). Up to
 * SHORT_ARG bytes of ASCII (most keys and small values) in one String.fromCharCode call: a
 * 16-byte value in ~45 ns against ~75 ns through Node's utf8Slice.
 */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT_ARG) {
    let high = 0;
    for (let i = start; i < end; i++) high |= buf[i] as number;
    if (high < 0x80) return shortLatin1(buf, start, end);
  }
  return slowUtf8(buf, start, end);
}

function slowUtf8(buf: Uint8Array, start: number, end: number): string {
  const node = buf as NodeBufferLike;
  if (typeof node.utf8Slice === 'function') return node.utf8Slice(start, end);
  return utf8.decode(buf.subarray(start, end));
}

/** An aggregate (or a streamed string) being filled. */
interface Frame {
  /** '*', '%', '~', '>', '|', or '$' for a streamed string. */
  readonly type: number;
  /** Elements still expected (for maps and attributes: keys + values), -1 if streamed. */
  remaining: number;
  readonly items: RespValue[];
  /** Attributes waiting for the next element of this aggregate. */
  attributes: Map<RespValue, RespValue> | null;
  /** For streamed strings: the parts so far. */
  readonly parts: Pieces | null;
  readonly bytes: boolean;
}

/** A blob body or streamed part whose header has been read, arriving across chunks. */
interface Collector {
  /** Bytes of the body + CRLF still to come. */
  need: number;
  /** Length of the body. */
  readonly length: number;
  /** What has arrived (null while the body is only `split`: still in the chunk it began in). */
  parts: Pieces | null;
  /**
   * A text blob cut by a chunk end, not copied yet: the chunk it began in (its body from
   * `splitAt`). If the next chunk holds the rest, the two halves are decoded in place and
   * concatenated (`text`); otherwise the head is collected into `parts` like any body.
   */
  split: Uint8Array | null;
  splitAt: number;
  /** The decoded string, once a `split` body is complete. */
  text: string | null;
  /** '$', '=', '!', or ';' for a part of a streamed string. */
  readonly type: number;
  readonly bytes: boolean;
  /** Stream offset of the body's first byte. */
  readonly offset: number;
}

const INCOMPLETE: unique symbol = Symbol('INCOMPLETE');
const OPENED: unique symbol = Symbol('OPENED');
type Step = RespValue | typeof INCOMPLETE | typeof OPENED;

/** A streaming RESP2/RESP3 decoder. */
export class RespDecoder {
  // What is being parsed: `buf` from `pos`; `base` is the stream offset of buf[0].
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private base = 0;
  /** Whether `buf` is a Node Buffer (its utf8Slice is the fastest UTF-8 decoder). */
  private nodeBuffer = false;
  /** A Node Buffer's utf8Slice, once one was fed: it decodes any Uint8Array, joined ones too. */
  private nodeUtf8: Slicer | null = null;
  /** Reused to join a small blob cut by a chunk end, when it becomes a string at once. */
  private scratch: Uint8Array | null = null;
  // Chunks fed and not reached yet, in order; `queueOffset` is the stream offset of the first.
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private queueOffset = 0;
  /** Stream offset of the chunk `takeChunk` returned last. */
  private takenOffset = 0;
  // When `buf` is a line joined across chunks: the chunk it continues in, which parsing
  // switches to once `pos` reaches `switchAt` (bytes before it came from earlier chunks).
  private resume: Uint8Array | null = null;
  private switchAt = 0;
  private resumeCopied = 0;
  // An incomplete line, kept until its end arrives; `carryOffset` is its stream offset.
  private carry: Pieces | null = null;
  private carryOffset = 0;
  private collector: Collector | null = null;
  private readonly stack: Frame[] = [];
  private topAttributes: Map<RespValue, RespValue> | null = null;
  /** Whether an attribute map has been decoded in the frame being decoded / the last one returned. */
  private attributesInFrame = false;
  private attributesInLastFrame = false;
  /** True while the innermost open frame is a streamed string (only `;` parts may follow). */
  private inStreamedString = false;
  private failure: RemoteProtocolError | null = null;
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
    const resumed = this.resume === null ? 0 : this.resume.length - this.resumeCopied;
    const collected = this.collector === null ? 0 : this.collector.length + 2 - this.collector.need;
    const carried = this.carry === null ? 0 : this.carry.length;
    return this.buf.length - this.pos + resumed + carried + collected + this.queuedBytes;
  }

  /** Whether the decoder is in the middle of a frame (some of its bytes have arrived). */
  get inFrame(): boolean {
    return this.buffered > 0 || this.stack.length > 0 || this.topAttributes !== null || this.collector !== null;
  }

  /**
   * Whether the frame `next()` returned last carried an attribute map anywhere in it (at its
   * top, as a RespAttributed or a push's `attributes`, or on an element inside it).
   */
  get lastFrameHadAttributes(): boolean {
    return this.attributesInLastFrame;
  }

  /** Feed bytes received from the peer. The decoder keeps a reference; do not modify them. */
  feed(chunk: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    const length = chunk.length;
    if (length === 0) return;
    if (this.pos >= this.buf.length && this.queuedBytes === 0 && this.carry === null && this.collector === null && this.resume === null) {
      this.base = this.queueOffset;
      this.queueOffset += length;
      this.setBuf(chunk);
      this.pos = 0;
      return;
    }
    this.queue.push(chunk);
    this.queuedBytes += length;
  }

  private setBuf(buf: Uint8Array): void {
    this.buf = buf;
    const utf8Slice = (buf as Partial<NodeBufferLike>).utf8Slice;
    this.nodeBuffer = typeof utf8Slice === 'function';
    if (this.nodeBuffer && this.nodeUtf8 === null) this.nodeUtf8 = utf8Slice as Slicer;
  }

  /**
   * Bytes [start, end) of any Uint8Array as text, once a Node Buffer was fed (`nodeUtf8` set):
   * a method call on the current chunk (a fast API call), else the generic `.call`.
   */
  private nodeText(buf: Uint8Array, start: number, end: number): string {
    if (buf === this.buf && this.nodeBuffer) return (buf as NodeBufferLike).utf8Slice(start, end);
    return (this.nodeUtf8 as Slicer).call(buf, start, end);
  }

  /** The next queued chunk (its stream offset in `takenOffset`), or null. */
  private takeChunk(): Uint8Array | null {
    const queue = this.queue;
    if (this.queueHead >= queue.length) return null;
    const chunk = queue[this.queueHead] as Uint8Array;
    queue[this.queueHead] = EMPTY;
    this.queueHead++;
    if (this.queueHead === queue.length) {
      // pop() for the usual one chunk: setting `length` is a call into V8's runtime (~40 ns).
      if (queue.length === 1) queue.pop();
      else queue.length = 0;
      this.queueHead = 0;
    }
    this.queuedBytes -= chunk.length;
    this.takenOffset = this.queueOffset;
    this.queueOffset += chunk.length;
    return chunk;
  }

  /** Put back the unread end of a chunk, to be taken first. */
  private untake(rest: Uint8Array): void {
    if (rest.length === 0) return;
    if (this.queueHead > 0) this.queue[--this.queueHead] = rest;
    else this.queue.unshift(rest);
    this.queuedBytes += rest.length;
    this.queueOffset -= rest.length;
  }

  /** Hand the unread end of `resume` back to the queue: what follows no longer joins it. */
  private dropResume(): void {
    const resume = this.resume;
    if (resume === null) return;
    this.resume = null;
    this.untake(resume.subarray(this.resumeCopied));
  }

  /**
   * The next complete top-level frame, or NEED_DATA. Blob strings of this frame come back as
   * Uint8Array views when `bytes` is true, else as strings. Throws RemoteProtocolError on
   * malformed input (and on every later call).
   */
  next(bytes = false): RespFrame | NeedData {
    if (this.failure !== null) throw this.failure;
    if (this.stack.length === 0) {
      const collector = this.collector;
      if (collector === null) {
        this.bytesMode = bytes;
        // (With a carried line `buf` is empty; in a joined line, parsing there is as good.)
        if (this.topAttributes === null) {
          const fast = this.fastBlob(bytes);
          if (fast !== INCOMPLETE) {
            this.attributesInLastFrame = false;
            return fast;
          }
        }
      } else if (collector.split !== null && this.topAttributes === null && this.queueHead < this.queue.length && this.fillSplit(collector, collector.split)) {
        // A top-level text blob cut by a chunk end, completed by the next chunk.
        this.collector = null;
        this.attributesInLastFrame = false;
        return collector.text as string;
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
   * The common case, decoded without the general machinery: a complete blob string with a plain
   * length at `pos` (a top-level reply, or an element of an aggregate: {@link blobRun}), `pos`
   * then past it; one cut by the end of the chunk goes to its collector at once. Anything else is
   * INCOMPLETE, nothing consumed, and goes the slow way. Kept small: a few more instructions
   * here cost 6% on 3-byte replies (the large path is out of line).
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
    if (n > this.maxBulk) return INCOMPLETE;
    if (end + 2 > length) {
      // Cut by the end of the chunk: collect it here rather than parse the header again.
      this.pos = body;
      return this.startCollector(0x24, n, body);
    }
    if (n > LARGE_BLOB) return this.largeBlob(buf, body, end, bytes);
    if (buf[end] !== CR || buf[end + 1] !== LF) return INCOMPLETE;
    this.pos = end + 2;
    if (bytes) return buf.subarray(body, end);
    if (n > SHORT_ARG && this.nodeBuffer) return (buf as NodeBufferLike).utf8Slice(body, end);
    return decodeUtf8(buf, body, end);
  }

  /**
   * {@link fastBlob} past LARGE_BLOB bytes: the body is decoded before its terminator is read.
   * Reading the terminator first, ahead of the body, costs a cache miss that the sequential
   * decode does not (1000 B replies: 0.90x -> 1.03x redis-parser). A bad terminator throws the
   * value away and goes the slow way, which reports it.
   */
  private largeBlob(buf: Uint8Array, body: number, end: number, bytes: boolean): RespValue | typeof INCOMPLETE {
    const value = bytes ? buf.subarray(body, end) : this.nodeBuffer ? (buf as NodeBufferLike).utf8Slice(body, end) : decodeUtf8(buf, body, end);
    if (buf[end] !== CR || buf[end + 1] !== LF) return INCOMPLETE;
    this.pos = end + 2;
    return value;
  }

  private run(): RespFrame | NeedData {
    for (;;) {
      let value: Step;
      if (this.collector !== null) {
        if (!this.fillCollector(this.collector)) return NEED_DATA;
        value = this.finishCollected(this.collector);
      } else if (this.carry !== null) {
        if (!this.extendCarry(this.carry)) return NEED_DATA;
        continue;
      } else {
        if (this.resume !== null && this.pos >= this.switchAt) {
          // Past the joined line: continue in the chunk itself.
          this.pos -= this.switchAt;
          this.base += this.switchAt;
          this.setBuf(this.resume);
          this.resume = null;
        }
        if (this.pos >= this.buf.length) {
          const chunk = this.takeChunk();
          if (chunk === null) return NEED_DATA;
          this.base = this.takenOffset;
          this.setBuf(chunk);
          this.pos = 0;
          continue;
        }
        value = this.step();
        if (value === INCOMPLETE) {
          // A body went to the collector, or a line is cut by the end of the bytes.
          if (this.collector === null) this.startCarry();
          continue;
        }
      }
      if (value === OPENED) {
        // An aggregate was opened, a streamed part consumed, or an attribute map completed.
        const frame = this.stack[this.stack.length - 1];
        if (frame === undefined) continue;
        if (frame.remaining > 0 && frame.attributes === null && this.resume === null) this.blobRun(frame);
        if (frame.remaining !== 0) continue;
        value = this.close(frame);
        if (value === OPENED) continue;
      }
      // A complete value: hand it to the enclosing aggregates, closing those it completes.
      for (;;) {
        const frame = this.stack[this.stack.length - 1];
        if (frame === undefined) {
          this.attributesInLastFrame = this.attributesInFrame;
          this.attributesInFrame = false;
          const attributes = this.topAttributes;
          if (attributes === null) return value as RespFrame;
          this.topAttributes = null;
          if (value instanceof RespPush) return new RespPush(value.kind, value.data, attributes);
          return new RespAttributed(attributes, value as RespValue);
        }
        if (frame.attributes !== null) {
          value = new RespAttributed(frame.attributes, value as RespValue);
          frame.attributes = null;
        }
        frame.items.push(value as RespValue);
        if (frame.remaining < 0) {
          // Streamed: bounded as it grows, like a declared count.
          const pairs = frame.type === 0x25 ? 2 : 1;
          if (frame.items.length > this.maxAggregate * pairs) {
            this.fail(`streamed aggregate of more than ${this.maxAggregate} elements`, 'ERR_RESP_AGGREGATE_TOO_LONG', this.base + this.pos);
          }
          break;
        }
        if (--frame.remaining !== 0) {
          // The elements after this one (past a chunk's end, or after a nested aggregate) may
          // be plain blobs again.
          if (this.resume !== null || frame.attributes !== null) break;
          this.blobRun(frame);
          if (frame.remaining !== 0) break;
        }
        value = this.close(frame);
        if (value === OPENED) break; // an attribute map completed: it waits for its value
      }
    }
  }

  /**
   * The elements of a just opened aggregate, as long as they are complete plain blob strings in
   * this chunk (the values of MGET, LRANGE, HGETALL): taken in a loop of {@link fastBlob}
   * instead of one trip through the general machinery each. Stops at anything else.
   */
  private blobRun(frame: Frame): void {
    if (this.collector !== null) return; // an element's body is being collected
    const items = frame.items;
    const bytes = this.bytesMode;
    let remaining = frame.remaining;
    while (remaining > 0) {
      const value = this.fastBlob(bytes);
      if (value === INCOMPLETE) break;
      items.push(value);
      remaining--;
    }
    frame.remaining = remaining;
  }

  /** Pop a filled aggregate (the innermost) and turn it into its value. */
  private close(frame: Frame): Step {
    this.stack.pop();
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
        if (kind === undefined) this.fail('push frame with no elements', 'ERR_RESP_PUSH', this.base + this.pos);
        if (typeof kind !== 'string' && !(kind instanceof Uint8Array)) this.fail('push frame whose first element is not a string', 'ERR_RESP_PUSH', this.base + this.pos);
        return new RespPush(typeof kind === 'string' ? kind : decodeUtf8(kind, 0, kind.length), items) as unknown as RespValue;
      }
      case 0x7c /* | */: {
        const attributes = pairs(items);
        this.attributesInFrame = true;
        const parent = this.stack[this.stack.length - 1];
        if (parent === undefined) this.topAttributes = merged(this.topAttributes, attributes);
        else parent.attributes = merged(parent.attributes, attributes);
        return OPENED;
      }
      default: {
        // streamed string
        this.inStreamedString = false;
        const joined = (frame.parts as Pieces).joined();
        return frame.bytes ? joined : this.text(joined, 0, joined.length);
      }
    }
  }

  /** Parse one scalar, or open an aggregate, at `pos` (at least one byte is there). */
  private step(): Step {
    const buf = this.buf;
    const start = this.pos;
    const type = buf[start] as number;
    if (this.inStreamedString && type !== 0x3b) {
      this.fail(`${describeType(type)} inside a streamed string, where only ';' parts may come`, 'ERR_RESP_STREAM', this.base + start);
    }
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
   * Parse a signed decimal integer line at `start`, returning the value, or INCOMPLETE. Sets
   * `pos` past the CRLF. Values beyond 2^53 come back as bigint.
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
      this.open(0x24, -1, start);
      this.inStreamedString = true;
      return OPENED;
    }
    if (n > this.maxBulk) this.fail(`blob of ${n} bytes exceeds the ${this.maxBulk}-byte limit`, 'ERR_RESP_BULK_TOO_LONG', this.base + start);
    const body = this.pos;
    const buf = this.buf;
    if (buf.length - body >= n + 2) {
      // A blob string is decoded before its terminator is read, as in largeBlob (the cache).
      const value = type === 0x24 ? this.blob(type, buf, body, body + n, this.bytesMode) : null;
      if (buf[body + n] !== CR || buf[body + n + 1] !== LF) this.fail('blob string not terminated by CRLF', 'ERR_RESP_CRLF', this.base + body + n);
      this.pos = body + n + 2;
      return value ?? this.blob(type, buf, body, body + n, this.bytesMode);
    }
    return this.startCollector(type, n, body);
  }

  /** The body at `body` (n bytes + CRLF) is not all here: collect it as it arrives. */
  private startCollector(type: number, n: number, body: number): typeof INCOMPLETE {
    const buf = this.buf;
    const need = n + 2 - (buf.length - body);
    const offset = this.base + body;
    if (type === 0x24 && !this.bytesMode && this.nodeUtf8 !== null && n + 2 <= EXACT_UP_TO) {
      // Text whose rest will most likely come in the next chunk: see fillSplit.
      this.collector = { need, length: n, parts: null, split: buf, splitAt: body, text: null, type, bytes: false, offset };
    } else {
      const parts = this.collectorParts(type, n);
      parts.add(buf.subarray(body));
      this.collector = { need, length: n, parts, split: null, splitAt: 0, text: null, type, bytes: this.bytesMode, offset };
    }
    this.dropResume();
    this.setBuf(EMPTY);
    this.pos = 0;
    return INCOMPLETE;
  }

  private collectorParts(type: number, n: number): Pieces {
    if (n + 2 > EXACT_UP_TO) return new Pieces();
    if (this.bytesMode || type === 0x3b) return new Pieces(n + 2);
    return new Pieces(n + 2, (this.scratch ??= new Uint8Array(EXACT_UP_TO))); // decoded to a string at once
  }

  /** Move queued chunks into the collector; false if it still needs more. */
  private fillCollector(collector: Collector): boolean {
    const split = collector.split;
    if (split !== null) {
      if (this.queueHead >= this.queue.length) return false;
      if (this.fillSplit(collector, split)) return true;
      // Not the common case: collect the head like any body.
      collector.split = null;
      collector.parts = this.collectorParts(collector.type, collector.length);
      collector.parts.add(split.subarray(collector.splitAt));
    }
    const parts = collector.parts as Pieces;
    while (collector.need > 0) {
      const chunk = this.takeChunk();
      if (chunk === null) return false;
      if (chunk.length <= collector.need) {
        parts.add(chunk);
        collector.need -= chunk.length;
      } else {
        parts.add(chunk.subarray(0, collector.need));
        this.base = this.takenOffset;
        this.setBuf(chunk);
        this.pos = collector.need;
        collector.need = 0;
      }
    }
    return true;
  }

  /**
   * A text blob cut by a chunk end (`split`), when the next queued chunk holds the rest and
   * its CRLF: decode the head where it is, the rest where it is, and concatenate them (no copy,
   * no view; V8 makes a rope of the two). True if done (`text` set, parsing moved into that
   * chunk). Only when the head ends with an ASCII byte: a UTF-8 decoder is back in its initial
   * state after one, so decoding the halves apart gives the same string as decoding them joined.
   */
  private fillSplit(collector: Collector, split: Uint8Array): boolean {
    const chunk = this.queue[this.queueHead] as Uint8Array;
    const need = collector.need;
    if (chunk.length < need) return false;
    const n = collector.length;
    const start = collector.splitAt;
    const inHead = split.length - start; // < n + 2
    const cr = n < inHead ? split[start + n] : chunk[n - inHead];
    if (cr !== CR || chunk[need - 1] !== LF) return false;
    let text: string;
    if (inHead >= n) text = this.nodeText(split, start, start + n);
    else if (inHead === 0) text = this.nodeText(chunk, 0, n);
    else if ((split[split.length - 1] as number) < 0x80) text = this.nodeText(split, start, split.length) + this.nodeText(chunk, 0, n - inHead);
    else return false;
    this.takeChunk();
    this.base = this.takenOffset;
    this.setBuf(chunk);
    this.pos = need;
    collector.need = 0;
    collector.text = text;
    return true;
  }

  private finishCollected(collector: Collector): Step {
    this.collector = null;
    if (collector.text !== null) return collector.text;
    const end = collector.offset + collector.length;
    const pieces = collector.parts as Pieces;
    if (collector.type === 0x3b) {
      // A streamed part: check its CRLF, add its bytes to the string (joined when complete).
      const parts = pieces.list();
      const last = parts[parts.length - 1] as Uint8Array;
      const beforeLast = last.length >= 2 ? last : (parts[parts.length - 2] as Uint8Array);
      const cr = last.length >= 2 ? last[last.length - 2] : beforeLast[beforeLast.length - 1];
      if (cr !== CR || last[last.length - 1] !== LF) this.fail('streamed part not terminated by CRLF', 'ERR_RESP_CRLF', end);
      const string = (this.stack[this.stack.length - 1] as Frame).parts as Pieces;
      let remaining = collector.length;
      for (const part of parts) {
        if (remaining === 0) break;
        const take = Math.min(part.length, remaining);
        string.add(take === part.length ? part : part.subarray(0, take));
        remaining -= take;
      }
      return OPENED;
    }
    const joined = pieces.joined();
    if (joined[collector.length] !== CR || joined[collector.length + 1] !== LF) this.fail('blob string not terminated by CRLF', 'ERR_RESP_CRLF', end);
    return this.blob(collector.type, joined, 0, collector.length, collector.bytes);
  }

  /** The line at `pos` is cut by the end of the bytes: keep it until its end arrives. */
  private startCarry(): void {
    this.carry = new Pieces();
    this.carry.add(this.buf.subarray(this.pos));
    this.carryOffset = this.base + this.pos;
    this.dropResume();
    this.setBuf(EMPTY);
    this.pos = 0;
  }

  /**
   * Take queued chunks for the carried line until its end (a CR or LF, or more than a line
   * may hold) is in one: then join the carried bytes with that chunk's bytes up to there into
   * `buf` and return true. False if more bytes are needed.
   */
  private extendCarry(carry: Pieces): boolean {
    for (;;) {
      const chunk = this.takeChunk();
      if (chunk === null) return false;
      const carried = carry.length;
      let take: number;
      if (carry.last === CR) {
        take = 1; // the byte after a CR decides
      } else {
        // Enough bytes for the parser to see a line over the limit, if it is one.
        const budget = Math.max(1, this.maxLine + 2 - carried);
        const limit = Math.min(chunk.length, budget);
        let i = 0;
        while (i < limit) {
          const c = chunk[i] as number;
          if (c === CR || c === LF) break;
          i++;
        }
        if (i < limit) take = Math.min(chunk.length, chunk[i] === CR ? i + 2 : i + 1);
        else if (limit === budget || carried + chunk.length <= SHORT_LINE) take = limit;
        else {
          carry.add(chunk);
          continue;
        }
      }
      const joined = new Uint8Array(carried + take);
      let offset = 0;
      for (const piece of carry.list()) {
        joined.set(piece, offset);
        offset += piece.length;
      }
      joined.set(take === chunk.length ? chunk : chunk.subarray(0, take), offset);
      this.carry = null;
      this.base = this.carryOffset;
      this.setBuf(joined);
      this.pos = 0;
      this.resume = chunk;
      this.switchAt = carried;
      this.resumeCopied = take;
      return true;
    }
  }

  private blob(type: number, buf: Uint8Array, start: number, end: number, bytes: boolean): RespValue {
    if (type === 0x24) {
      if (bytes) return buf.subarray(start, end);
      return this.text(buf, start, end);
    }
    if (type === 0x21) return new RespErrorReply(decodeUtf8(buf, start, end));
    // verbatim: "fmt:" + text
    if (end - start < 4 || buf[start + 3] !== 0x3a) this.fail('verbatim string without a format prefix', 'ERR_RESP_VERBATIM', this.base + start);
    return new RespVerbatim(decodeUtf8(buf, start, start + 3), decodeUtf8(buf, start + 4, end));
  }

  /** Bytes [start, end) of any Uint8Array as text, with the fastest decoder at hand. */
  private text(buf: Uint8Array, start: number, end: number): string {
    if (end - start > SHORT_ARG && this.nodeUtf8 !== null) return this.nodeText(buf, start, end);
    return decodeUtf8(buf, start, end);
  }

  private aggregate(type: number, start: number): Step {
    const n = this.header(start);
    if (n === undefined) return INCOMPLETE;
    if (n === -1) {
      if (type !== 0x2a) this.fail('only arrays may be null', 'ERR_RESP_HEADER', this.base + start);
      return null;
    }
    if (type === 0x3e && this.stack.length > 0) this.fail('push frame inside an aggregate', 'ERR_RESP_PUSH', this.base + start);
    if (n === -2) {
      if (type === 0x3e || type === 0x7c) this.fail('streamed form only exists for arrays, sets and maps', 'ERR_RESP_HEADER', this.base + start);
      return this.open(type, -1, start);
    }
    if (n > this.maxAggregate) this.fail(`aggregate of ${n} elements exceeds the limit`, 'ERR_RESP_AGGREGATE_TOO_LONG', this.base + start);
    if (type === 0x2a && n > 0 && n * 6 <= this.buf.length - this.pos && this.resume === null) {
      // An array that may be all here (a plain blob takes 6 bytes at least, so the array made
      // for it is no bigger than the bytes that came): its blobs are taken at once, without a
      // frame; at the first other element it goes on as a frame holding what was taken.
      this.checkNesting(start);
      const items = new Array<RespValue>(n);
      const bytes = this.bytesMode;
      for (let i = 0; i < n; i++) {
        const value = this.fastBlob(bytes);
        if (value === INCOMPLETE) {
          items.length = i;
          return this.open(type, n - i, start, items);
        }
        items[i] = value;
      }
      return items;
    }
    return this.open(type, type === 0x25 || type === 0x7c ? n * 2 : n, start);
  }

  /** One aggregate more would nest deeper than the limit: fail at its header (`start`). */
  private checkNesting(start: number): void {
    if (this.stack.length >= this.maxNesting) this.fail(`nesting deeper than ${this.maxNesting}`, 'ERR_RESP_NESTING', this.base + start);
  }

  private open(type: number, remaining: number, start: number, items: RespValue[] = []): Step {
    this.checkNesting(start);
    this.stack.push({
      type,
      remaining,
      items,
      attributes: null,
      parts: type === 0x24 ? new Pieces() : null,
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
    if (n === 0) return this.close(frame);
    const sofar = frame.parts.length;
    if (n > this.maxBulk - sofar) {
      const what = n > this.maxBulk ? `part of ${n} bytes` : `string of more than ${sofar + n} bytes`;
      this.fail(`streamed ${what} exceeds the ${this.maxBulk}-byte limit`, 'ERR_RESP_BULK_TOO_LONG', this.base + start);
    }
    const buf = this.buf;
    const body = this.pos;
    if (buf.length - body < n + 2) return this.startCollector(0x3b, n, body);
    if (buf[body + n] !== CR || buf[body + n + 1] !== LF) this.fail('streamed part not terminated by CRLF', 'ERR_RESP_CRLF', this.base + body + n);
    frame.parts.add(buf.subarray(body, body + n));
    this.pos = body + n + 2;
    return OPENED;
  }

  private streamedEnd(start: number): Step {
    const frame = this.stack[this.stack.length - 1];
    if (frame === undefined || frame.remaining !== -1) this.fail('end marker outside a streamed aggregate', 'ERR_RESP_STREAM', this.base + start);
    const end = this.lineEnd(start + 1);
    if (end < 0) return INCOMPLETE;
    if (end !== start + 1) this.fail('end marker with content', 'ERR_RESP_STREAM', this.base + start);
    if (frame.attributes !== null) this.fail('attribute with no value after it, at the end of a streamed aggregate', 'ERR_RESP_ATTRIBUTE', this.base + start);
    if (frame.type === 0x25 && frame.items.length % 2 === 1) {
      this.fail('streamed map ended between a key and its value', 'ERR_RESP_STREAM', this.base + start);
    }
    this.pos = end + 2;
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

/** Attribute maps in a row before one value describe it together: one map, the later winning. */
function merged(earlier: Map<RespValue, RespValue> | null, later: Map<RespValue, RespValue>): Map<RespValue, RespValue> {
  if (earlier === null) return later;
  for (const [key, value] of later) earlier.set(key, value);
  return earlier;
}

/** A type byte as a reader would name it, for error messages. */
function describeType(type: number): string {
  return type >= 0x21 && type <= 0x7e ? `'${String.fromCharCode(type)}'` : `byte 0x${type.toString(16).padStart(2, '0')}`;
}

/** Pieces below this size are copied together rather than kept as views. */
const COPY_BELOW = 1024;
const SPARE_SIZE = 16 * 1024;
/** A body of known size up to this is collected into one buffer of that size, allocated at once. */
const EXACT_UP_TO = 64 * 1024;

/**
 * Bytes arriving in pieces, kept in order until joined once: the first piece and those of
 * COPY_BELOW bytes or more as the views they are; later smaller ones copied into a spare buffer,
 * so that many tiny pieces cost their bytes, not an object each (and never keep large chunks
 * alive for a few of their bytes).
 * With an `exactSize` (small, known in advance), every piece is copied into one buffer of that
 * size (or into `into`, a scratch buffer the caller reuses): one allocation at most, no join.
 */
class Pieces {
  /** Total bytes. */
  length = 0;
  /** The last byte added (-1 if none). */
  last = -1;
  private readonly done: Uint8Array[] = [];
  private spare: Uint8Array | null = null;
  private used = 0;
  private readonly exact: boolean;

  constructor(exactSize = 0, into: Uint8Array | null = null) {
    this.exact = exactSize > 0;
    if (this.exact) this.spare = into ?? new Uint8Array(exactSize);
  }

  add(piece: Uint8Array): void {
    const n = piece.length;
    if (n === 0) return;
    this.length += n;
    this.last = piece[n - 1] as number;
    if (this.exact && this.spare !== null && this.used + n <= this.spare.length) {
      this.spare.set(piece, this.used);
      this.used += n;
      return;
    }
    if (n >= COPY_BELOW || (this.done.length === 0 && this.spare === null)) {
      // A large piece, or the first (the end of a chunk, kept as it is: one view, no copy).
      this.seal();
      this.done.push(piece);
      return;
    }
    if (this.spare === null || this.used + n > this.spare.length) {
      this.seal();
      // Grows with what has come so far: a short line costs a small buffer.
      this.spare = new Uint8Array(Math.min(SPARE_SIZE, Math.max(128, 2 * this.length)));
    }
    this.spare.set(piece, this.used);
    this.used += n;
  }

  /** The pieces, in order (valid until the next add). */
  list(): readonly Uint8Array[] {
    this.seal();
    return this.done;
  }

  /** All the bytes in one array (the piece itself if there is only one). */
  joined(): Uint8Array {
    const list = this.list();
    return list.length === 0 ? EMPTY : join(list);
  }

  /** Close the spare buffer: a mostly empty one is copied to its exact size. */
  private seal(): void {
    const spare = this.spare;
    if (spare === null) return;
    this.done.push(!this.exact && this.used * 2 < spare.length ? spare.slice(0, this.used) : spare.subarray(0, this.used));
    this.spare = null;
    this.used = 0;
  }
}
