// writer.ts
//
// OutputBuffer: the bytes of what we send (a head, and for a whole response its body and end),
// written into a growable buffer. Connections share one as scratch (a message is copied out of
// it once); a server may own one per connection and have whole responses appended to it
// (HttpConnection.writeWholeResponse), so that every response of a burst goes out in one copy.
// Field names and values are checked as they are copied, and the fields that decide framing
// (Content-Length, Transfer-Encoding, Connection) are noted on the way, so that a head is read
// once.
//
// Invariants:
// - One message at a time: `begin()` starts one at the end of what the buffer holds;
//   `takeMessage()` copies it out, `rollback()` forgets it (a message that failed halfway).
//   `take()` copies out everything and empties the buffer. Nothing of the buffer escapes.
// - A field name is a token; a field value holds tabs, visible chars, spaces and obs-text only
//   (no CR, LF, NUL, DEL, nothing above 0xFF); the value written is trimmed of surrounding
//   whitespace. Text is written as latin1 (one byte per char).
// - The notes (`transferEncoding`, `contentLength(s)`, `connectionClose`) describe the fields
//   written since `begin()`, exactly as FieldList.get / getAll / a token search would.

import { LocalProtocolError } from './errors.js';
import type { FieldList } from './fields.js';

/** Token chars (RFC 9110): `!#$%&'*+-.^_`|~`, digits, letters. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN_CHARS[c.charCodeAt(0)] = 1;

/** Whether `c` may appear in a field value. */
function valueChar(c: number): boolean {
  return c === 0x09 || (c >= 0x20 && c <= 0x7e) || (c >= 0x80 && c <= 0xff);
}

/** Whether `c` is printable ASCII other than space (a value starting and ending so needs no trim). */
function plain(c: number): boolean {
  return c > 0x20 && c < 0x7f;
}

/** Whether `name` is `lower` (lowercase ASCII) ignoring ASCII case, without making a string. */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

const NO_BYTES = new Uint8Array(0);
const CONTENT_LENGTH = new Uint8Array([...'Content-Length: '].map((c) => c.charCodeAt(0)));

/** Bytes to send, gathered (see the file header). */
export class OutputBuffer {
  private buffer: Uint8Array;
  /** Size of the next buffer made after take() gave the last one away (the last message or burst's). */
  private hint: number;
  private length = 0;
  /** Where the message being written begins. */
  private start = 0;
  /** @internal The Transfer-Encoding values joined with ', ' (as FieldList.get), or null. */
  transferEncoding: string | null = null;
  /** @internal How many Content-Length fields, and the first one's value. */
  contentLengths = 0;
  contentLength: string | null = null;
  /** @internal Some Connection field holds the token `close`. */
  connectionClose = false;

  constructor(initialSize = 4096) {
    this.buffer = new Uint8Array(initialSize);
    this.hint = Math.max(256, initialSize);
  }

  /** Bytes held. */
  get size(): number {
    return this.length;
  }

  /**
   * Everything held, as one array (the caller's); the buffer is empty again. The storage itself
   * is handed over (no copy), so a buffer emptied holds no memory until it is written to again.
   */
  take(): Uint8Array {
    const out = this.buffer.subarray(0, this.length);
    this.hint = Math.min(Math.max(256, this.length), 16 * 1024);
    this.buffer = NO_BYTES;
    this.length = this.start = 0;
    return out;
  }

  /**
   * Everything held, as a view of the buffer's storage (valid until the buffer is written to
   * again): for a writer that may hand it back with `clear()` once it is written through, or
   * give the storage away with `take()` when it is not.
   */
  view(): Uint8Array {
    // The same view while the storage and the size are (a server writing the same response
    // again and again through a buffer it keeps: no view made per write).
    let view = this.lastView;
    if (this.lastViewOf !== this.buffer || view.length !== this.length) {
      view = this.lastView = this.buffer.subarray(0, this.length);
      this.lastViewOf = this.buffer;
    }
    return view;
  }

  /** What view() returned last, and the storage it is a view of. */
  private lastView: Uint8Array = NO_BYTES;
  private lastViewOf: Uint8Array | null = null;

  /** Empty the buffer, keeping its storage (what `view()` showed is written: reuse it). */
  clear(): void {
    this.length = this.start = 0;
  }

  /** @internal Start a message after what the buffer holds. */
  begin(): void {
    this.start = this.length;
    this.transferEncoding = null;
    this.contentLengths = 0;
    this.contentLength = null;
    this.connectionClose = false;
  }

  private reserve(n: number): void {
    const needed = this.length + n;
    if (needed <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.buffer.length * 2, this.hint));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  /** Append bytes as they are. */
  append(data: Uint8Array): void {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  /** @internal Forget the message begun (it failed). */
  rollback(): void {
    this.length = this.start;
  }

  /** @internal The message begun, copied out (and removed). */
  takeMessage(): Uint8Array {
    const out = this.buffer.slice(this.start, this.length);
    this.length = this.start;
    return out;
  }

  /** @internal The message begun so far, copied out (it stays in the buffer). */
  message(): Uint8Array {
    return this.buffer.slice(this.start, this.length);
  }

  /** @internal Text known to be latin1 (chars ≤ 0xFF). */
  text(text: string): void {
    this.reserve(text.length);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < text.length; i++) buffer[at++] = text.charCodeAt(i);
    this.length = at;
  }

  /**
   * @internal `Content-Length: <length>` CR LF, made here (nothing to check, and not noted: the
   * caller knows the framing it chose).
   */
  contentLengthField(length: number): void {
    this.reserve(CONTENT_LENGTH.length + 20);
    const buffer = this.buffer;
    buffer.set(CONTENT_LENGTH, this.length);
    let at = this.length + CONTENT_LENGTH.length;
    let digits = 1;
    for (let rest = length; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let rest = length;
    for (let i = digits - 1; i >= 0; i--) {
      buffer[at + i] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    at += digits;
    buffer[at++] = 0x0d;
    buffer[at++] = 0x0a;
    this.length = at;
  }

  /** @internal CR LF. */
  crlf(): void {
    this.reserve(2);
    this.buffer[this.length++] = 0x0d;
    this.buffer[this.length++] = 0x0a;
  }

  /** @internal Every field of `fields` as `name: value` CR LF (checked, noted; see the file header). */
  fields(fields: FieldList, trailers: boolean): void {
    for (let i = 0; i < fields.length; i++) this.field(fields.name(i), fields.value(i), trailers);
  }

  /** @internal One field (checked, noted). */
  field(name: string, value: string, trailers: boolean): void {
    this.reserve(name.length + value.length + 4);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c >= 128 || TOKEN_CHARS[c] === 0) throw new LocalProtocolError(`bad field name ${JSON.stringify(name)}`, 'ERR_HTTP_FIELD');
      buffer[at++] = c;
    }
    if (name.length === 0) throw new LocalProtocolError(`bad field name ${JSON.stringify(name)}`, 'ERR_HTTP_FIELD');
    buffer[at++] = 0x3a;
    buffer[at++] = 0x20;
    const n = value.length;
    if (n === 0 || (plain(value.charCodeAt(0)) && plain(value.charCodeAt(n - 1)))) {
      for (let i = 0; i < n; i++) {
        const c = value.charCodeAt(i);
        if (!valueChar(c)) throw badValue(name);
        buffer[at++] = c;
      }
    } else {
      for (let i = 0; i < n; i++) if (!valueChar(value.charCodeAt(i))) throw badValue(name);
      const trimmed = value.trim();
      for (let i = 0; i < trimmed.length; i++) buffer[at++] = trimmed.charCodeAt(i);
    }
    buffer[at++] = 0x0d;
    buffer[at++] = 0x0a;
    this.length = at;
    this.note(name, value, trailers);
  }

  private note(name: string, value: string, trailers: boolean): void {
    const n = name.length;
    if (n !== 10 && n !== 14 && n !== 17 && n !== 4) return;
    const contentLength = sameName(name, 'content-length');
    const transferEncoding = !contentLength && sameName(name, 'transfer-encoding');
    if (trailers && (contentLength || transferEncoding || sameName(name, 'host'))) {
      throw new LocalProtocolError(`${name} cannot be a trailer`, 'ERR_HTTP_FIELD');
    }
    if (contentLength) {
      if (this.contentLengths++ === 0) this.contentLength = value;
    }
    else if (transferEncoding) this.transferEncoding = this.transferEncoding === null ? value : `${this.transferEncoding}, ${value}`;
    else if (!this.connectionClose && sameName(name, 'connection')) {
      for (const part of value.split(',')) if (part.trim().toLowerCase() === 'close') this.connectionClose = true;
    }
  }

}

function badValue(name: string): LocalProtocolError {
  return new LocalProtocolError(`bad value for field ${name}: CR, LF and NUL are not allowed`, 'ERR_HTTP_FIELD');
}
