// reply.ts
//
// The reply buffer of one client: every reply and push is appended here, in the RESP version
// the client negotiated, and the session writes what has accumulated in one sendall per
// received chunk. Values are binary strings (see binary.ts), written byte for byte.
//
// Why not RedisServerConnection.sendReply: its writer hands out a fresh buffer at every take()
// and takes typed frames, so a GET would allocate a Uint8Array for its value and a flush a new
// buffer. Here the buffer is reused: a sendall resolves only when the OS has every byte, so the
// region that was sent can be written over. RESP3 types are downgraded for RESP2 clients the
// way Redis does it (a map as a flat array, a set as an array, a push as an array, null as $-1
// or *-1), as proto-redis's writeReply does.
//
// Invariant: bytes in [sent, length) are waiting to be written; bytes before `sent` are owned
// by a sendall in progress and are never moved or overwritten until it returns.

import type { RespVersion } from '@curio-ts/proto-redis';
import { writeBin } from './binary.js';

const encoder = new TextEncoder();
const constant = (text: string): Uint8Array => encoder.encode(text);
const OK = constant('+OK\r\n');
const NULL2 = constant('$-1\r\n');
const NULL_ARRAY2 = constant('*-1\r\n');
const NULL3 = constant('_\r\n');
const EMPTY_ARRAY = constant('*0\r\n');
const INITIAL_SIZE = 16 * 1024;
/** A buffer that grew past this is dropped once empty, so one big reply does not pin memory. */
const KEEP_SIZE = 1024 * 1024;

/** Growable output of one client. */
export class Reply {
  /** RESP version replies are encoded in. */
  protocol: RespVersion = 2;
  private buf: Buffer = Buffer.allocUnsafeSlow(INITIAL_SIZE);
  private length = 0;
  /** Bytes before this offset have been handed to a sendall. */
  private sent = 0;

  /** Whether bytes are waiting to be written. */
  get pending(): boolean {
    return this.length > this.sent;
  }

  /** Bytes appended and not yet written. */
  get pendingBytes(): number {
    return this.length;
  }

  /** Take the waiting bytes for one write: a view that stays valid until {@link written}. */
  take(): Uint8Array {
    const view = this.buf.subarray(this.sent, this.length);
    this.sent = this.length;
    return view;
  }

  /** Everything taken has been written: reuse the space if nothing else is waiting. */
  written(): void {
    if (this.sent !== this.length) return;
    this.sent = 0;
    this.length = 0;
    if (this.buf.length > KEEP_SIZE) this.buf = Buffer.allocUnsafeSlow(INITIAL_SIZE);
  }

  private reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    // The old buffer may be in a pending write: copy, never reuse it.
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /** Append raw bytes. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.reserve(n);
    if (n > 16) this.buf.set(bytes, this.length);
    else for (let i = 0; i < n; i++) this.buf[this.length + i] = bytes[i] as number;
    this.length += n;
  }

  private byte(b: number): void {
    this.buf[this.length++] = b;
  }

  private crlf(): void {
    this.buf[this.length++] = 13;
    this.buf[this.length++] = 10;
  }

  /** Append a non-negative integer in decimal (room for 20 digits must be reserved). */
  private decimal(n: number): void {
    if (n < 10) {
      this.buf[this.length++] = 48 + n;
      return;
    }
    if (n < 100) {
      this.buf[this.length++] = 48 + ((n / 10) | 0);
      this.buf[this.length++] = 48 + (n % 10);
      return;
    }
    let digits = 3;
    for (let power = 1000; power <= n; power *= 10) digits++;
    let at = this.length + digits;
    this.length = at;
    let rest = n;
    do {
      this.buf[--at] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
  }

  /** Append ASCII or binary-string text (one byte per char). */
  private text(text: string): void {
    const n = text.length;
    if (n > 64) {
      writeBin(this.buf, text, this.length);
      this.length += n;
      return;
    }
    const buf = this.buf;
    let at = this.length;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.length = at;
  }

  private header(type: number, n: number): void {
    this.reserve(24);
    this.byte(type);
    this.decimal(n);
    this.crlf();
  }

  /** `+OK`. */
  ok(): void {
    this.raw(OK);
  }

  /** A status reply (`+text`); the text must not contain CR or LF. */
  status(text: string): void {
    this.reserve(text.length + 3);
    this.byte(0x2b);
    this.text(text);
    this.crlf();
  }

  /** An error reply; CR and LF in `message` become blanks, as Redis does. */
  error(message: string): void {
    const text = /[\r\n]/.test(message) ? message.replace(/[\r\n]/g, ' ') : message;
    this.reserve(text.length + 3);
    this.byte(0x2d);
    this.text(text);
    this.crlf();
  }

  /** An integer reply. */
  integer(n: number | bigint): void {
    if (typeof n === 'number' && n >= 0 && n < 1e15) {
      this.header(0x3a, n);
      return;
    }
    const text = String(n);
    this.reserve(text.length + 3);
    this.byte(0x3a);
    this.text(text);
    this.crlf();
  }

  /** A bulk string of a binary string. */
  bulk(value: string): void {
    const n = value.length;
    this.reserve(n + 26);
    this.byte(0x24);
    this.decimal(n);
    this.crlf();
    this.text(value);
    this.crlf();
  }

  /** A bulk string, or a null for `undefined`. */
  bulkOrNull(value: string | undefined): void {
    if (value === undefined) this.nil();
    else this.bulk(value);
  }

  /** A null (`$-1` in RESP2, `_` in RESP3). */
  nil(): void {
    this.raw(this.protocol === 3 ? NULL3 : NULL2);
  }

  /** A null array (`*-1` in RESP2, `_` in RESP3): BLPOP's timeout, LPOP's missing key. */
  nilArray(): void {
    this.raw(this.protocol === 3 ? NULL3 : NULL_ARRAY2);
  }

  /** An array header of `n` elements. */
  array(n: number): void {
    if (n === 0) this.raw(EMPTY_ARRAY);
    else this.header(0x2a, n);
  }

  /** A map header of `n` pairs (a flat array of 2n elements in RESP2). */
  map(n: number): void {
    if (this.protocol === 3) this.header(0x25, n);
    else this.array(n * 2);
  }

  /** A set header (an array in RESP2). */
  set(n: number): void {
    if (this.protocol === 3) this.header(0x7e, n);
    else this.array(n);
  }

  /** A push header (an array in RESP2, as Redis sends pub/sub messages). */
  push(n: number): void {
    if (this.protocol === 3) this.header(0x3e, n);
    else this.array(n);
  }

  /** A bulk string of each of `values`, in an array. */
  bulkArray(values: Iterable<string>, n: number): void {
    this.array(n);
    for (const value of values) this.bulk(value);
  }

  /** A verbatim text reply (`=` in RESP3, a bulk string in RESP2): INFO, CLIENT LIST. */
  verbatim(text: string): void {
    if (this.protocol !== 3) {
      this.bulk(text);
      return;
    }
    this.reserve(text.length + 30);
    this.byte(0x3d);
    this.decimal(text.length + 4);
    this.crlf();
    this.text(`txt:${text}`);
    this.crlf();
  }
}
