// reader.ts
//
// Framing of backend messages: the received chunks in, one whole message at a time out (its
// type letter and where its body lies), each message's header checked before its body is
// buffered. It knows the message types and their fixed lengths, not what they mean
// (backend.ts decodes bodies, connection.ts decides what a message does).
//
// Invariants:
// - Work is linear in the bytes given. A message that lies whole in one received chunk is
//   handed out in place (no copy). A message cut across chunks is copied once into a buffer of
//   exactly its size, allocated when its header is complete (after the checks), and filled as
//   its pieces arrive: a 100 MB row in 64 KiB chunks is copied once, never re-buffered.
// - A header is checked before anything of its body is kept: a length below 4 (negative
//   included), a length above `maxSize`, a type letter that is no backend message, a type the
//   caller's state does not accept (`accepts`), or a fixed-size message of another length are
//   RemoteProtocolErrors with a code and the offset of the message.
// - The chunks given to `feed` are not copied and must not be modified afterwards: messages
//   handed out in place are views of them.

import { RemoteProtocolError } from './errors.js';

/** Every backend message type letter of protocol 3.0. */
const BACKEND_TYPES = 'RK23CdcGHWDIEVvnNAtS1sZT';
const KNOWN = new Uint8Array(256);
for (let i = 0; i < BACKEND_TYPES.length; i++) KNOWN[BACKEND_TYPES.charCodeAt(i)] = 1;

/** The length field of messages whose size is fixed (0: variable). */
const FIXED_LENGTH = new Int32Array(256);
for (const type of '123cIns') FIXED_LENGTH[type.charCodeAt(0)] = 4;
FIXED_LENGTH[0x5a] = 5; // ReadyForQuery
FIXED_LENGTH[0x4b] = 12; // BackendKeyData (protocol 3.0)

const EMPTY = new Uint8Array(0);

/** A printable name of a type byte for error messages. */
export function typeName(type: number): string {
  return type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}'` : `0x${type.toString(16).padStart(2, '0')}`;
}

/** The framing of backend messages (see the file header). */
export class MessageReader {
  /** The type letter of the message handed out by the last successful `next()`. */
  type = 0;
  /** The bytes holding its body, `bytes[start, end)`. */
  bytes: Uint8Array = EMPTY;
  start = 0;
  end = 0;
  /** Bytes of this stream consumed before the message handed out (or the one being read). */
  offset = 0;

  private chunks: Uint8Array[] = [];
  private head = 0;
  /** Where the unread bytes of chunks[head] begin. */
  private pos = 0;
  /** Bytes fed and not yet consumed (into a message or the header buffer). */
  private unread = 0;
  private eof = false;

  /** A header cut across chunks: its bytes so far. */
  private readonly header = new Uint8Array(5);
  private headerFilled = 0;
  /** A body cut across chunks: its buffer (exactly its size), how much is filled, its type. */
  private partial: Uint8Array | null = null;
  private partialFilled = 0;
  private partialType = 0;

  /** Add received bytes; an empty array is the end of the stream. */
  feed(chunk: Uint8Array): void {
    if (chunk.length === 0) {
      this.eof = true;
      return;
    }
    this.chunks.push(chunk);
    this.unread += chunk.length;
  }

  /** Whether the end of the stream was fed. */
  get ended(): boolean {
    return this.eof;
  }

  /** Bytes received and not yet handed out (buffered whole or in part). */
  get buffered(): number {
    return this.unread + this.headerFilled + this.partialFilled;
  }

  /** One raw byte (the answer to SSLRequest), or -1 when none is buffered. */
  readByte(): number {
    if (this.headerFilled !== 0 || this.partial !== null) return -1;
    const chunk = this.current();
    if (chunk === null) return -1;
    const byte = chunk[this.pos++] as number;
    this.unread--;
    this.offset++;
    return byte;
  }

  /**
   * Frame the next message: true when one is ready (`type`, `bytes`, `start`, `end`), false
   * when more bytes are needed. Throws RemoteProtocolError for a header that fails the checks.
   */
  next(accepts: Uint8Array, maxSize: number): boolean {
    if (this.type !== 0) {
      // The previous message is consumed now that the next one is asked for.
      this.offset += 5 + (this.end - this.start);
      this.type = 0;
    }
    for (;;) {
      const partial = this.partial;
      if (partial !== null) {
        const chunk = this.current();
        if (chunk === null) return false;
        const take = Math.min(partial.length - this.partialFilled, chunk.length - this.pos);
        partial.set(chunk.subarray(this.pos, this.pos + take), this.partialFilled);
        this.partialFilled += take;
        this.pos += take;
        this.unread -= take;
        if (this.partialFilled < partial.length) continue;
        this.partial = null;
        this.partialFilled = 0;
        this.deliver(this.partialType, partial, 0, partial.length);
        return true;
      }
      const chunk = this.current();
      if (chunk === null) return false;
      const pos = this.pos;
      const available = chunk.length - pos;
      if (this.headerFilled === 0 && available >= 5) {
        const type = chunk[pos] as number;
        const length = ((chunk[pos + 1] as number) << 24) | ((chunk[pos + 2] as number) << 16) | ((chunk[pos + 3] as number) << 8) | (chunk[pos + 4] as number);
        this.check(type, length, accepts, maxSize);
        if (available > length) {
          this.pos = pos + 1 + length;
          this.unread -= 1 + length;
          this.deliver(type, chunk, pos + 5, pos + 1 + length);
          return true;
        }
        this.pos = pos + 5;
        this.unread -= 5;
        this.startPartial(type, length, chunk);
        continue;
      }
      const header = this.header;
      const take = Math.min(5 - this.headerFilled, available);
      for (let i = 0; i < take; i++) header[this.headerFilled++] = chunk[pos + i] as number;
      this.pos = pos + take;
      this.unread -= take;
      if (this.headerFilled < 5) continue;
      this.headerFilled = 0;
      const type = header[0] as number;
      const length = ((header[1] as number) << 24) | ((header[2] as number) << 16) | ((header[3] as number) << 8) | (header[4] as number);
      this.check(type, length, accepts, maxSize);
      if (length === 4) {
        this.deliver(type, EMPTY, 0, 0);
        return true;
      }
      this.startPartial(type, length, chunk);
    }
  }

  /**
   * Why the stream cannot end here, or null when it may: a message cut by the end of the
   * stream is truncated.
   */
  truncation(): RemoteProtocolError | null {
    if (this.buffered === 0) return null;
    return new RemoteProtocolError(
      `the stream ended inside a message (${this.buffered} bytes of it received)`,
      'ERR_PG_TRUNCATED',
      this.offset + (this.type !== 0 ? 5 + this.end - this.start : 0),
    );
  }

  private deliver(type: number, bytes: Uint8Array, start: number, end: number): void {
    this.type = type;
    this.bytes = bytes;
    this.start = start;
    this.end = end;
  }

  /**
   * Start assembling a body of `length - 4` bytes, in a Node Buffer when the received chunks
   * are Buffers (the rows stay Buffers, so that decoders feature-testing `utf8Slice` see one
   * kind of object), else in a Uint8Array.
   */
  private startPartial(type: number, length: number, like: Uint8Array): void {
    const size = length - 4;
    let partial: Uint8Array | null = null;
    // A Node Buffer's class has allocUnsafe (feature test; `new Buffer(n)` would warn). Every
    // byte of the buffer is written before the message is handed out.
    const allocUnsafe = (like.constructor as { allocUnsafe?: unknown }).allocUnsafe;
    if (like.constructor !== Uint8Array && typeof allocUnsafe === 'function') {
      const made: unknown = allocUnsafe.call(like.constructor, size);
      if (made instanceof Uint8Array && made.length === size) partial = made;
    }
    this.partial = partial ?? new Uint8Array(size);
    this.partialFilled = 0;
    this.partialType = type;
  }

  private check(type: number, length: number, accepts: Uint8Array, maxSize: number): void {
    const offset = this.offset;
    if (KNOWN[type] !== 1) throw new RemoteProtocolError(`unknown backend message type ${typeName(type)}`, 'ERR_PG_UNKNOWN_MESSAGE', offset);
    if (length < 4) throw new RemoteProtocolError(`backend message ${typeName(type)} has length ${length} (below 4)`, 'ERR_PG_BAD_LENGTH', offset);
    if (accepts[type] !== 1) throw new RemoteProtocolError(`backend message ${typeName(type)} is not expected now`, 'ERR_PG_UNEXPECTED_MESSAGE', offset);
    const fixed = FIXED_LENGTH[type] as number;
    if (fixed !== 0 && length !== fixed) {
      throw new RemoteProtocolError(`backend message ${typeName(type)} has length ${length}, not ${fixed}`, 'ERR_PG_BAD_LENGTH', offset);
    }
    if (length > maxSize) {
      throw new RemoteProtocolError(`backend message ${typeName(type)} of ${length} bytes exceeds maxMessageSize (${maxSize})`, 'ERR_PG_MESSAGE_TOO_LONG', offset);
    }
  }

  /** The chunk holding the next unread byte, or null (consumed chunks are dropped). */
  private current(): Uint8Array | null {
    for (;;) {
      const chunk = this.chunks[this.head];
      if (chunk === undefined) {
        if (this.head !== 0) {
          // pop() for the usual one chunk: setting `length` is a call into V8's runtime (~40 ns).
          if (this.head === 1) this.chunks.pop();
          else this.chunks.length = 0;
          this.head = 0;
        }
        return null;
      }
      if (this.pos < chunk.length) return chunk;
      this.chunks[this.head] = EMPTY;
      this.head++;
      this.pos = 0;
      if (this.head > 64 && this.head * 2 > this.chunks.length) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    }
  }
}
