// writer.ts
//
// The output buffer every byte sent goes through: commands (client role) and replies (server
// role) are appended to it, and the bytes leave it in one of two ways:
//
// - `take()` gives them away: the view is the caller's for good, and the writer never writes
//   into that region again. This is what `dataToSend()` does; a caller may hold the view as
//   long as it likes (a socket's write queue does).
// - `lend()` lends them: the view is valid until the caller hands it back with
//   `release(view)`. Once every loan of the buffer is released and nothing is waiting, the
//   writer starts again at the front of the same buffer, so a server that writes, waits for the
//   write to finish and releases allocates nothing per reply.
//
// Invariants:
// - Bytes handed out (taken, or lent and not yet released) are never moved or overwritten: a
//   buffer that fills up while some of its bytes are out is left to them, and writing goes on
//   in a new one (only the waiting bytes are copied over).
// - Bytes written and not yet handed out (`length`) are contiguous, in one buffer.
// - A write that fails half-way (a value that cannot be encoded) is taken back with
//   `truncate`, so a partial command or reply never reaches the peer.
//
// Discussion: text. Strings are written either as UTF-8 (TextEncoder.encodeInto, with a copy
// loop for short ASCII strings, the usual command name or key) or as binary strings (one byte
// per UTF-16 code unit, the representation a server that keeps values as latin1 strings uses).
// A long binary string is copied by the buffer's own `latin1Write` when the buffers are Node
// Buffers (pass an `allocate` that makes them): a feature test, not a dependency, like the
// decoder's use of `utf8Slice`.

import { LocalProtocolError } from './errors.js';

const textEncoder = new TextEncoder();
const DIGITS: Uint8Array[] = [];
for (let i = 0; i < 1024; i++) DIGITS.push(textEncoder.encode(String(i)));

const EMPTY_BUFFER = new Uint8Array(0);
/** Smallest and largest buffer a writer allocates on its own (a bigger burst gets its size). */
const MIN_SLAB = 16 * 1024;
const MAX_SLAB = 256 * 1024;
/** Room a buffer must have left after a `take()` to be written on. */
const MIN_ROOM = 512;
/** A buffer that grew past this is dropped once everything lent from it came back. */
const KEEP_SIZE = 1024 * 1024;
/** Binary strings longer than this are copied by a native latin1Write when there is one. */
const NATIVE_LATIN1_FROM = 64;

/** Makes the buffers a writer writes into. */
export type Allocate = (size: number) => Uint8Array;

/** Options of {@link ByteWriter}. */
export interface ByteWriterOptions {
  /** Size of the first buffer (default 16 KiB); later ones follow the size of the bursts. */
  readonly initialSize?: number;
  /**
   * Makes a buffer of `size` bytes (default `new Uint8Array(size)`). A server on Node may pass
   * `(size) => Buffer.allocUnsafeSlow(size)`: no zero-filling, and long binary strings are
   * copied by the Buffer's own latin1Write.
   */
  readonly allocate?: Allocate;
}

type Latin1Writable = Uint8Array & { latin1Write(text: string, offset: number, length: number): number };

const newUint8Array: Allocate = (size) => new Uint8Array(size);

/** A growable output buffer that lends or gives away what was written (see the file header). */
export class ByteWriter {
  /** The current buffer (always one made by `allocate`, so that element access stays monomorphic). */
  protected buf: Uint8Array;
  /** Where the bytes not yet handed out start in `buf`. */
  protected start = 0;
  /** Where the next byte goes in `buf`. */
  protected at = 0;
  /** Whether `buf` has a native latin1Write (a Node Buffer). */
  private nativeLatin1 = false;
  /** Size of the next buffer (twice the last burst, within bounds). */
  private nextSize: number;
  private readonly allocate: Allocate;
  /** An empty buffer made by `allocate`: what `buf` is before the first write. */
  private readonly empty: Uint8Array;
  /** The views of `buf` lent and not yet released, oldest first. */
  private loans: Uint8Array[] = [];
  /** Whether `take()` gave part of `buf` away: then `buf` is never written from the front again. */
  private givenAway = false;

  constructor(options: ByteWriterOptions = {}) {
    this.nextSize = options.initialSize ?? MIN_SLAB;
    this.allocate = options.allocate ?? newUint8Array;
    this.empty = this.allocate === newUint8Array ? EMPTY_BUFFER : this.allocate(0);
    this.buf = this.empty;
  }

  /** Bytes written and not yet taken or lent. */
  get length(): number {
    return this.at - this.start;
  }

  /** Views lent by {@link lend} and not yet released (those of earlier buffers are not counted). */
  get loansOutstanding(): number {
    return this.loans.length;
  }

  /** Make room for `n` more bytes. */
  reserve(n: number): void {
    if (this.at + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const used = this.at - this.start;
    const need = used + n;
    if (this.loans.length === 0 && !this.givenAway && need <= this.buf.length) {
      // Nothing before `start` is in anyone's hands: move the waiting bytes to the front.
      this.buf.copyWithin(0, this.start, this.at);
      this.start = 0;
      this.at = used;
      return;
    }
    // Twice what is waiting (or the size of the bursts), or exactly what was asked for when
    // that is more: a large reservation (a burst announced) gets its size, not the next power.
    const size = Math.max(used * 2, this.nextSize, need);
    const next = this.allocate(size);
    next.set(this.buf.subarray(this.start, this.at));
    this.useBuffer(next);
    this.at = used;
  }

  /** Write into `buffer` from its start, leaving the old buffer to whoever holds views of it. */
  private useBuffer(buffer: Uint8Array): void {
    this.buf = buffer;
    this.nativeLatin1 = typeof (buffer as Partial<Latin1Writable>).latin1Write === 'function';
    this.start = 0;
    this.at = 0;
    this.loans = [];
    this.givenAway = false;
  }

  /** Append one byte. */
  byte(b: number): void {
    this.reserve(1);
    this.buf[this.at++] = b;
  }

  /** Append bytes. */
  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.copyIn(data);
  }

  /** Copy `data` in (room must be reserved). */
  private copyIn(data: Uint8Array): void {
    const n = data.length;
    const buf = this.buf;
    const at = this.at;
    // A native copy costs more than a loop for the few bytes of a constant reply.
    if (n > 16) buf.set(data, at);
    else for (let i = 0; i < n; i++) buf[at + i] = data[i] as number;
    this.at = at + n;
  }

  /** Append ASCII text (type bytes, numbers, CRLF). */
  ascii(text: string): void {
    this.reserve(text.length);
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
    this.at = at;
  }

  /** Append a safe non-negative integer in decimal. */
  decimal(n: number): void {
    if (n < 1024) {
      this.bytes(DIGITS[n] as Uint8Array);
      return;
    }
    this.reserve(16);
    this.digits(n);
  }

  /** Write the digits of safe non-negative integer `n` (room must be reserved). */
  protected digits(n: number): void {
    const buf = this.buf;
    if (n < 10) {
      buf[this.at++] = 48 + n;
      return;
    }
    if (n < 100) {
      const tens = (n / 10) | 0;
      buf[this.at++] = 48 + tens;
      buf[this.at++] = 48 + n - tens * 10;
      return;
    }
    let count = 3;
    for (let power = 1000; power <= n; power *= 10) count++;
    let at = this.at + count;
    this.at = at;
    if (n <= 0x7fffffff) {
      // In 32-bit integers, where V8 divides by 10 with a multiply: a 7-digit counter (INCR)
      // took 53 ns with the float division below and takes 11 ns this way.
      let rest = n | 0;
      do {
        const next = (rest / 10) | 0;
        buf[--at] = 48 + rest - next * 10;
        rest = next;
      } while (rest > 0);
      return;
    }
    let rest = n;
    do {
      buf[--at] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
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
    this.buf[this.at++] = 13;
    this.buf[this.at++] = 10;
  }

  /** Append `<type><binary string>\r\n` (a simple line of one byte per char). */
  lineBinary(type: number, text: string): void {
    this.reserve(text.length + 3);
    this.buf[this.at++] = type;
    this.binaryBody(text);
    this.buf[this.at++] = 13;
    this.buf[this.at++] = 10;
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

  /** Append `<type><length>\r\n<binary string>\r\n` (a blob of one byte per char). */
  blobBinary(type: number, text: string): void {
    this.blobHeader(type, text.length);
    this.binaryBody(text);
    this.buf[this.at++] = 13;
    this.buf[this.at++] = 10;
  }

  /** Append a blob of bytes with its header. */
  blobBytes(type: number, data: Uint8Array): void {
    this.blobHeader(type, data.length);
    this.copyIn(data);
    this.buf[this.at++] = 13;
    this.buf[this.at++] = 10;
  }

  /** Reserve room for a blob of `n` bytes and its header and CRLF, and write the header. */
  private blobHeader(type: number, n: number): void {
    this.reserve(n + 24);
    const buf = this.buf;
    buf[this.at++] = type;
    this.digits(n);
    buf[this.at++] = 13;
    buf[this.at++] = 10;
  }

  /** Write the bytes of binary string `text` (room must be reserved). */
  private binaryBody(text: string): void {
    const n = text.length;
    if (n > NATIVE_LATIN1_FROM && this.nativeLatin1) {
      (this.buf as Latin1Writable).latin1Write(text, this.at, n);
      this.at += n;
      return;
    }
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.at = at;
  }

  /**
   * Drop what was written after the waiting bytes numbered `length`: how a command or reply
   * that failed half-way (a bad argument) is taken back, so it can never reach the peer in part.
   */
  truncate(length: number): void {
    if (length < 0 || length > this.at - this.start) throw new RangeError(`ByteWriter.truncate: ${length} is outside 0..${this.at - this.start}`);
    this.at = this.start + length;
  }

  /**
   * Give away the bytes written since the last take or lend: the view is the caller's for good
   * (valid as long as it is kept), and the writer never writes into it again.
   */
  take(): Uint8Array {
    const used = this.at - this.start;
    const out = this.view();
    // The next burst starts after the taken bytes (8-aligned) if the buffer has room left, else
    // in a new buffer sized like this burst (bounded), made when the next write needs it.
    this.nextSize = Math.max(MIN_SLAB, Math.min(used * 2, MAX_SLAB));
    const next = (this.at + 7) & ~7;
    if (this.buf.length - next >= MIN_ROOM) {
      if (used > 0) this.givenAway = true;
      this.start = next;
      this.at = next;
    } else {
      this.useBuffer(this.empty);
    }
    return out;
  }

  /**
   * Lend the bytes written since the last take or lend: the view stays valid, and unchanged,
   * until it is handed back with {@link release}. Writing may go on meanwhile (after it).
   */
  lend(): Uint8Array {
    const out = this.view();
    if (out.length === 0) return out;
    this.loans.push(out);
    const next = Math.min((this.at + 7) & ~7, this.buf.length);
    this.start = next;
    this.at = next;
    return out;
  }

  /**
   * Hand back a view from {@link lend}: its bytes may be written over from now on. When no loan
   * of the buffer is left and nothing is waiting, writing starts again at its front. A view of
   * an earlier buffer (the writer moved on when one filled up) or an empty view is simply
   * forgotten. Throws LocalProtocolError (ERR_NOT_LENT) for a view of the current buffer that
   * is not on loan (released twice, or never lent).
   */
  release(view: Uint8Array): void {
    const loans = this.loans;
    if (loans.length === 1 && loans[0] === view) loans.pop();
    else {
      const index = loans.indexOf(view);
      if (index !== -1) loans.splice(index, 1);
      else {
        if (view.length > 0 && this.holds(view)) throw new LocalProtocolError('release() of bytes that are not on loan from this writer (released twice?)', 'ERR_NOT_LENT');
        return;
      }
    }
    if (loans.length === 0 && !this.givenAway && this.at === this.start) {
      if (this.buf.length > KEEP_SIZE) this.useBuffer(this.empty);
      else {
        this.start = 0;
        this.at = 0;
      }
    }
  }

  /**
   * The bytes not yet handed out, as a view of their own. A plain Uint8Array is made directly
   * on its ArrayBuffer rather than by `subarray`, which first looks up the species constructor
   * (once per flush on a client's hot path: blobString + take measured 44-52 ns against 53-116
   * ns with subarray, Node 20). Buffers of another `allocate` keep their own class (subarray).
   */
  private view(): Uint8Array {
    const buf = this.buf;
    if (this.allocate !== newUint8Array) return buf.subarray(this.start, this.at);
    return new Uint8Array(buf.buffer, buf.byteOffset + this.start, this.at - this.start);
  }

  /** Whether `view` lies in the current buffer. */
  private holds(view: Uint8Array): boolean {
    const buf = this.buf;
    const offset = view.byteOffset - buf.byteOffset;
    return view.buffer === buf.buffer && offset >= 0 && offset < buf.length;
  }
}
