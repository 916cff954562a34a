// encoder.ts
//
// Bytes out: commands (client role, always a RESP array of blob strings, binary safe) and
// replies in RESP2 or RESP3 (server role).
//
// Commands are appended to a growable buffer so that a burst of commands (a pipeline, or every
// command issued before the next write) becomes one Uint8Array and one write. Strings are
// UTF-8 encoded straight into that buffer with TextEncoder.encodeInto: the length header is
// reserved for the worst case and the body moved back by a few bytes when the header turns
// out shorter.

import { LocalProtocolError } from './errors.js';
import { RespAttributed, RespErrorReply, RespPush, RespVerbatim } from './values.js';
import type { RespFrame, RespValue } from './values.js';

/** One argument of a command. Numbers and bigints are sent as their decimal text. */
export type RedisArg = string | number | bigint | Uint8Array;

const textEncoder = new TextEncoder();
const DIGITS: Uint8Array[] = [];
for (let i = 0; i < 1024; i++) DIGITS.push(textEncoder.encode(String(i)));

const EMPTY_BUFFER = new Uint8Array(0);
/** Smallest and largest slab a ByteWriter allocates (bigger bursts get a buffer of their own size). */
const MIN_SLAB = 16 * 1024;
const MAX_SLAB = 256 * 1024;
/** Room a slab must have left to take the next burst. */
const MIN_ROOM = 512;

/**
 * A growable byte buffer that commands and replies are written into.
 *
 * Bursts are carved out of slabs: {@link take} hands out a view of the burst and the next burst
 * is written after it in the same slab while there is room (bytes already handed out are never
 * touched again), so a burst of one small command costs no allocation, as with Node's Buffer
 * pool.
 */
export class ByteWriter {
  private buf: Uint8Array;
  /** Where the current burst starts in `buf`. */
  private start = 0;
  /** Where the next byte goes in `buf`. */
  private at = 0;
  /** Size of the next slab (twice the last burst, within bounds). */
  private nextSize: number;

  constructor(initialSize = MIN_SLAB) {
    this.buf = EMPTY_BUFFER;
    this.nextSize = initialSize;
  }

  /** Bytes written since the last {@link take}. */
  get length(): number {
    return this.at - this.start;
  }

  /** Make room for `n` more bytes. */
  reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const used = this.at - this.start;
    const need = used + n;
    let size = Math.max(used * 2, this.nextSize);
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(this.start, this.at));
    this.buf = next;
    this.start = 0;
    this.at = used;
  }

  /** Append one byte. */
  byte(b: number): void {
    this.reserve(1);
    this.buf[this.at++] = b;
  }

  /** Append bytes. */
  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.at);
    this.at += data.length;
  }

  /** Append ASCII text (type bytes, numbers, CRLF). */
  ascii(text: string): void {
    this.reserve(text.length);
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
    this.at = at;
  }

  /** Append a non-negative integer in decimal. */
  decimal(n: number): void {
    if (n < 1024) this.bytes(DIGITS[n] as Uint8Array);
    else this.ascii(String(n));
  }

  /** Append CRLF. */
  crlf(): void {
    this.reserve(2);
    this.buf[this.at++] = 13;
    this.buf[this.at++] = 10;
  }

  /** Append `<type><utf8 of text>\r\n` (a simple line: status or error; no CR/LF inside). */
  line(type: number, text: string): void {
    const max = text.length * 3;
    this.reserve(1 + max + 2);
    this.buf[this.at++] = type;
    const { written } = textEncoder.encodeInto(text, this.buf.subarray(this.at, this.at + max));
    this.at += written;
    this.crlf();
  }

  /** Append `<type><length>\r\n<utf8 of text>\r\n` (a blob string of `text`). */
  blobString(type: number, text: string): void {
    const length = text.length;
    if (length < 64) {
      // Short strings (command names, most keys) are usually ASCII: copy the code units.
      this.reserve(length + 8);
      const buf = this.buf;
      const start = this.at;
      let at = start;
      buf[at++] = type;
      if (length >= 10) buf[at++] = 48 + ((length / 10) | 0);
      buf[at++] = 48 + (length % 10);
      buf[at++] = 13;
      buf[at++] = 10;
      let i = 0;
      for (; i < length; i++) {
        const c = text.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at++] = c;
      }
      if (i === length) {
        buf[at++] = 13;
        buf[at++] = 10;
        this.at = at;
        return;
      }
      // Not ASCII after all: start over the general way.
    }
    this.blobStringUtf8(type, text);
  }

  private blobStringUtf8(type: number, text: string): void {
    // Worst case 3 bytes per UTF-16 unit; reserve the header for that, then fix it up.
    const max = text.length * 3;
    const headerMax = 1 + String(max).length + 2;
    this.reserve(headerMax + max + 2);
    const bodyAt = this.at + headerMax;
    const { written } = textEncoder.encodeInto(text, this.buf.subarray(bodyAt, bodyAt + max));
    const header = String(written);
    const headerLength = 1 + header.length + 2;
    const buf = this.buf;
    let at = this.at;
    buf[at++] = type;
    for (let i = 0; i < header.length; i++) buf[at++] = header.charCodeAt(i);
    buf[at++] = 13;
    buf[at++] = 10;
    if (headerLength !== headerMax) buf.copyWithin(at, bodyAt, bodyAt + written);
    at += written;
    buf[at++] = 13;
    buf[at++] = 10;
    this.at = at;
  }

  /** Append a blob of bytes with its header. */
  blobBytes(type: number, data: Uint8Array): void {
    this.reserve(16 + data.length);
    this.byte(type);
    this.decimal(data.length);
    this.crlf();
    this.bytes(data);
    this.crlf();
  }

  /**
   * Drop what was written after the burst had `length` bytes: how a command or reply that
   * failed half-way (a bad argument) is taken back, so it can never reach the peer in part.
   */
  truncate(length: number): void {
    if (length < 0 || length > this.at - this.start) throw new RangeError(`ByteWriter.truncate: ${length} is outside 0..${this.at - this.start}`);
    this.at = this.start + length;
  }

  /** Take the bytes written since the last take (a copy-free view) and start a new burst. */
  take(): Uint8Array {
    const used = this.at - this.start;
    const out = this.buf.subarray(this.start, this.at);
    // The taken bytes belong to the caller now: the next burst starts after them (8-aligned)
    // if the slab has room left, else in a new slab sized like this burst (bounded), allocated
    // when the next write needs it.
    this.nextSize = Math.max(MIN_SLAB, Math.min(used * 2, MAX_SLAB));
    const next = (this.at + 7) & ~7;
    if (this.buf.length - next >= MIN_ROOM) {
      this.start = next;
      this.at = next;
    } else {
      this.buf = EMPTY_BUFFER;
      this.start = 0;
      this.at = 0;
    }
    return out;
  }
}

/**
 * Why `args` cannot be sent as a command, or null if it can: at least a name, which must be a
 * string, and every argument a string, a finite number, a bigint or a Uint8Array. Clients call
 * it when a command is issued, so a bad argument is the caller's error at once (and a batch
 * with one is refused whole) instead of surfacing when the burst is written.
 */
export function checkCommand(args: readonly unknown[]): LocalProtocolError | null {
  if (args.length === 0) return new LocalProtocolError('a command needs at least a name', 'ERR_EMPTY_COMMAND');
  if (typeof args[0] !== 'string') return new LocalProtocolError('the command name must be a string', 'ERR_BAD_COMMAND');
  for (let i = 1; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg === 'string' || arg instanceof Uint8Array || typeof arg === 'bigint') continue;
    if (typeof arg === 'number') {
      if (Number.isFinite(arg)) continue;
      return new LocalProtocolError(`cannot send ${String(arg)} as a Redis argument (argument ${i} of ${args[0]})`, 'ERR_BAD_ARGUMENT');
    }
    return new LocalProtocolError(`unsupported argument type ${arg === null ? 'null' : typeof arg} (argument ${i} of ${args[0]})`, 'ERR_BAD_ARGUMENT');
  }
  return null;
}

/** Append one command (`*N` then N blob strings) to `out`. */
export function writeCommand(out: ByteWriter, args: readonly RedisArg[]): void {
  if (args.length === 0) throw new LocalProtocolError('a command needs at least a name', 'ERR_EMPTY_COMMAND');
  const mark = out.length;
  try {
    writeArgs(out, args);
  } catch (error) {
    out.truncate(mark); // a bad argument: nothing of this command is sent
    throw error;
  }
}

function writeArgs(out: ByteWriter, args: readonly RedisArg[]): void {
  out.byte(0x2a);
  out.decimal(args.length);
  out.crlf();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as RedisArg;
    if (typeof arg === 'string') out.blobString(0x24, arg);
    else if (arg instanceof Uint8Array) out.blobBytes(0x24, arg);
    else if (typeof arg === 'number') {
      if (!Number.isFinite(arg)) throw new LocalProtocolError(`cannot send ${String(arg)} as a Redis argument`, 'ERR_BAD_ARGUMENT');
      out.blobString(0x24, String(arg));
    } else if (typeof arg === 'bigint') out.blobString(0x24, arg.toString());
    else throw new LocalProtocolError(`unsupported argument type ${typeof arg}`, 'ERR_BAD_ARGUMENT');
  }
}

/** Encode one command as bytes. */
export function encodeCommand(args: readonly RedisArg[]): Uint8Array {
  const out = new ByteWriter(64);
  writeCommand(out, args);
  return out.take();
}

/** Protocol version a reply is encoded in. */
export type RespVersion = 2 | 3;

/**
 * Append a reply in RESP3 or RESP2. RESP2 has no map, set, double, boolean, big number,
 * verbatim, null or push types: they are sent the way Redis itself downgrades them (a map as a
 * flat array, a double as a blob string, a boolean as 0/1, a null as a null blob...).
 * Attributes are dropped in RESP2.
 */
export function writeReply(out: ByteWriter, value: RespFrame, version: RespVersion): void {
  const mark = out.length;
  try {
    writeFrame(out, value, version);
  } catch (error) {
    out.truncate(mark); // a value that cannot be encoded: nothing of this reply is sent
    throw error;
  }
}

function writeFrame(out: ByteWriter, value: RespFrame, version: RespVersion): void {
  if (value === null) {
    out.ascii(version === 3 ? '_\r\n' : '$-1\r\n');
  } else if (typeof value === 'string') {
    out.blobString(0x24, value);
  } else if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      out.byte(0x3a);
      out.ascii(String(value));
      out.crlf();
    } else writeDouble(out, value, version);
  } else if (typeof value === 'bigint') {
    if (version === 3) out.ascii(`(${value}\r\n`);
    else out.blobString(0x24, value.toString());
  } else if (typeof value === 'boolean') {
    out.ascii(version === 3 ? (value ? '#t\r\n' : '#f\r\n') : value ? ':1\r\n' : ':0\r\n');
  } else if (value instanceof Uint8Array) {
    out.blobBytes(0x24, value);
  } else if (Array.isArray(value)) {
    aggregate(out, 0x2a, value.length);
    for (const item of value) writeFrame(out, item, version);
  } else if (value instanceof Map) {
    if (version === 3) aggregate(out, 0x25, value.size);
    else aggregate(out, 0x2a, value.size * 2);
    for (const [k, v] of value) {
      writeFrame(out, k, version);
      writeFrame(out, v, version);
    }
  } else if (value instanceof Set) {
    aggregate(out, version === 3 ? 0x7e : 0x2a, value.size);
    for (const item of value) writeFrame(out, item, version);
  } else if (value instanceof RespErrorReply) {
    if (/[\r\n]/.test(value.text)) out.blobString(version === 3 ? 0x21 : 0x2d, value.text.replace(/[\r\n]+/g, ' '));
    else out.line(0x2d, value.text);
  } else if (value instanceof RespVerbatim) {
    if (version === 3) out.blobString(0x3d, `${value.format}:${value.text}`);
    else out.blobString(0x24, value.text);
  } else if (value instanceof RespAttributed) {
    if (version === 3) {
      aggregate(out, 0x7c, value.attributes.size);
      for (const [k, v] of value.attributes) {
        writeFrame(out, k, version);
        writeFrame(out, v, version);
      }
    }
    writeFrame(out, value.value, version);
  } else if (value instanceof RespPush) {
    aggregate(out, version === 3 ? 0x3e : 0x2a, value.data.length);
    for (const item of value.data) writeFrame(out, item, version);
  } else {
    throw new LocalProtocolError('unsupported reply value', 'ERR_BAD_REPLY');
  }
}

/** Append a simple status reply (`+OK`). The text must not contain CR or LF. */
export function writeStatus(out: ByteWriter, text: string): void {
  if (/[\r\n]/.test(text)) throw new LocalProtocolError('a status reply cannot contain CR or LF', 'ERR_BAD_REPLY');
  out.line(0x2b, text);
}

function aggregate(out: ByteWriter, type: number, n: number): void {
  out.byte(type);
  out.decimal(n);
  out.crlf();
}

function writeDouble(out: ByteWriter, value: number, version: RespVersion): void {
  const text = Number.isNaN(value) ? 'nan' : value === Infinity ? 'inf' : value === -Infinity ? '-inf' : String(value);
  if (version === 3) out.ascii(`,${text}\r\n`);
  else out.blobString(0x24, text);
}
