// ws-echo/frames.ts
//
// The WebSocket framing of RFC 6455 as a sans-IO state machine, server role: `receiveData()`
// feeds bytes from the client, `nextEvent()` returns the next whole message, ping, pong or close
// (or NEED_DATA), and `encodeFrame()` / `encodeClose()` make the bytes to send. No IO, no clock.
//
// Invariants:
// - Work is linear in the bytes given: a frame's header is examined once, its payload copied
//   once (while unmasking), a fragmented message joined once at its end; waiting for more bytes
//   rescans nothing.
// - Memory is bounded by `maxMessageBytes` plus one received chunk: a frame or a message whose
//   declared length goes over the limit is refused from its header alone (1009), before its
//   payload arrives.
// - Every violation throws a WebSocketError whose `closeCode` is the status to close with (1002
//   protocol error, 1007 invalid UTF-8, 1009 too big); the reader then refuses further use.
// - After a close frame the reader yields nothing more (RFC 6455 §5.5.1: no data follows it).
//
// Discussion: text is validated incrementally, fragment by fragment (a small UTF-8 automaton),
// so a bad byte in the first fragment of a long message fails at once instead of at its end;
// a code point split across two fragments is accepted, as it must be.

import { Buffer } from 'node:buffer';

/** Opcodes (RFC 6455 §5.2). */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Close status codes used here (RFC 6455 §7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  invalidPayload: 1007,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** Stable codes of {@link WebSocketError}. */
export type WebSocketErrorCode = 'WS_PROTOCOL' | 'WS_INVALID_UTF8' | 'WS_TOO_BIG' | 'WS_READER_FAILED';

/** A frame stream the client got wrong; `closeCode` is the status the server closes with. */
export class WebSocketError extends Error {
  override readonly name = 'WebSocketError';

  constructor(
    readonly code: WebSocketErrorCode,
    readonly closeCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A complete data message: text (valid UTF-8, as bytes) or binary. */
export interface MessageEvent {
  readonly type: 'message';
  readonly binary: boolean;
  /** The payload; the caller's to keep. */
  readonly data: Uint8Array;
}

/** A ping or a pong and its application data (at most 125 bytes). */
export interface ControlEvent {
  readonly type: 'ping' | 'pong';
  readonly data: Uint8Array;
}

/** The client's close frame: its status code (null when it sent none) and reason. */
export interface CloseEvent {
  readonly type: 'close';
  readonly code: number | null;
  readonly reason: string;
}

export type WebSocketEvent = MessageEvent | ControlEvent | CloseEvent;

/** nextEvent(): no complete event in the bytes received so far. */
export const NEED_DATA: unique symbol = Symbol('NEED_DATA');

/** Limits of a {@link FrameReader}. */
export interface FrameReaderOptions {
  /** Largest message (all its fragments together), in bytes; default 16 MiB. 1009 beyond. */
  readonly maxMessageBytes?: number;
}

const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
const MAX_CONTROL_PAYLOAD = 125;

/** Where a {@link FrameReader} is. */
export type ReaderState = 'HEADER' | 'PAYLOAD' | 'CLOSED' | 'FAILED';

/** Reads client frames (masked, as RFC 6455 requires of clients) into events. */
export class FrameReader {
  private readonly maxMessageBytes: number;
  private readonly input = new ByteQueue();
  private stateNow: ReaderState = 'HEADER';
  private failure: WebSocketError | null = null;
  // The frame being read.
  private fin = false;
  private opcode = 0;
  private payloadLength = 0;
  private readonly mask = new Uint8Array(4);
  // The data message being assembled (fragmented).
  private messageOpcode = 0;
  private fragments: Uint8Array[] = [];
  private messageBytes = 0;
  private readonly utf8 = new Utf8Validator();

  constructor(options: FrameReaderOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  }

  /** HEADER / PAYLOAD while reading, CLOSED after the client's close frame, FAILED after a violation. */
  get state(): ReaderState {
    return this.stateNow;
  }

  /** Bytes received and not yet consumed. */
  get pendingBytes(): number {
    return this.input.length;
  }

  /** Feed bytes from the client. The reader keeps a view of `data` until it is consumed: do not change it. */
  receiveData(data: Uint8Array): void {
    if (this.stateNow === 'CLOSED' || data.length === 0) return;
    this.input.push(data);
  }

  /** The next event, or NEED_DATA. Throws a WebSocketError when the client broke the protocol. */
  nextEvent(): WebSocketEvent | typeof NEED_DATA {
    if (this.failure !== null) throw new WebSocketError('WS_READER_FAILED', this.failure.closeCode, 'the frame reader failed already', { cause: this.failure });
    try {
      return this.step();
    } catch (error) {
      if (error instanceof WebSocketError) {
        this.failure = error;
        this.stateNow = 'FAILED';
        this.input.clear();
        this.fragments = [];
      }
      throw error;
    }
  }

  private step(): WebSocketEvent | typeof NEED_DATA {
    for (;;) {
      switch (this.stateNow) {
        case 'CLOSED':
        case 'FAILED':
          return NEED_DATA;
        case 'HEADER':
          if (!this.readHeader()) return NEED_DATA;
          break;
        case 'PAYLOAD': {
          if (this.input.length < this.payloadLength) return NEED_DATA;
          const payload = this.input.takeUnmasked(this.payloadLength, this.mask);
          this.stateNow = 'HEADER';
          const event = this.frame(payload);
          if (event !== null) return event;
          break;
        }
        default: {
          const never: never = this.stateNow;
          throw new Error(`unknown state ${String(never)}`);
        }
      }
    }
  }

  /** Read a frame's header if it is all here; its first two bytes are checked as soon as they are. */
  private readHeader(): boolean {
    const input = this.input;
    if (input.length < 2) return false;
    const b0 = input.peek(0);
    const b1 = input.peek(1);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) throw protocolError('a reserved bit (RSV1-3) is set but no extension was agreed');
    const control = opcode >= 0x8;
    if (opcode !== Opcode.continuation && opcode !== Opcode.text && opcode !== Opcode.binary && opcode !== Opcode.close && opcode !== Opcode.ping && opcode !== Opcode.pong) {
      throw protocolError(`reserved opcode 0x${opcode.toString(16)}`);
    }
    if ((b1 & 0x80) === 0) throw protocolError('a client frame is not masked');
    const length7 = b1 & 0x7f;
    if (control && !fin) throw protocolError('a fragmented control frame');
    if (control && length7 > MAX_CONTROL_PAYLOAD) throw protocolError('a control frame longer than 125 bytes');
    if (opcode === Opcode.continuation && this.messageOpcode === 0) throw protocolError('a continuation frame with no message to continue');
    if ((opcode === Opcode.text || opcode === Opcode.binary) && this.messageOpcode !== 0) throw protocolError('a new message began before the fragmented one ended');
    const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
    const headerLength = 2 + extended + 4;
    let length = length7;
    if (extended === 2) {
      if (input.length < 4) return false;
      length = (input.peek(2) << 8) | input.peek(3);
      if (length < 126) throw protocolError(`a 16-bit length (${length}) that fits in 7 bits`);
    } else if (extended === 8) {
      if (input.length < 10) return false;
      if ((input.peek(2) & 0x80) !== 0) throw protocolError('a 64-bit length with its most significant bit set');
      const high = ((input.peek(2) << 24) | (input.peek(3) << 16) | (input.peek(4) << 8) | input.peek(5)) >>> 0;
      const low = ((input.peek(6) << 24) | (input.peek(7) << 16) | (input.peek(8) << 8) | input.peek(9)) >>> 0;
      if (high === 0 && low < 0x10000) throw protocolError(`a 64-bit length (${low}) that fits in 16 bits`);
      // Exact below 2^53; anything larger is over every limit anyway.
      length = high >= 0x200000 ? Number.MAX_SAFE_INTEGER : high * 0x100000000 + low;
    }
    const total = opcode === Opcode.continuation || opcode === Opcode.text || opcode === Opcode.binary ? (opcode === Opcode.continuation ? this.messageBytes : 0) + length : length;
    if (total > this.maxMessageBytes) throw new WebSocketError('WS_TOO_BIG', CloseCode.tooBig, `a message of ${total} bytes or more, over the limit of ${this.maxMessageBytes}`);
    if (input.length < headerLength) return false;
    input.skip(2 + extended);
    input.take(4, this.mask);
    this.fin = fin;
    this.opcode = opcode;
    this.payloadLength = length;
    this.stateNow = 'PAYLOAD';
    return true;
  }

  /** A whole frame's (unmasked) payload: the event it completes, if any. */
  private frame(payload: Uint8Array): WebSocketEvent | null {
    switch (this.opcode) {
      case Opcode.ping:
        return { type: 'ping', data: payload };
      case Opcode.pong:
        return { type: 'pong', data: payload };
      case Opcode.close:
        return this.closeFrame(payload);
      case Opcode.text:
      case Opcode.binary:
        this.messageOpcode = this.opcode;
        this.utf8.reset();
        return this.dataFrame(payload);
      case Opcode.continuation:
        return this.dataFrame(payload);
      default:
        throw protocolError(`reserved opcode 0x${this.opcode.toString(16)}`);
    }
  }

  private dataFrame(payload: Uint8Array): MessageEvent | null {
    const text = this.messageOpcode === Opcode.text;
    if (text && !this.utf8.push(payload)) throw invalidUtf8('a text message is not valid UTF-8');
    if (payload.length > 0) this.fragments.push(payload);
    this.messageBytes += payload.length;
    if (!this.fin) return null;
    if (text && !this.utf8.complete) throw invalidUtf8('a text message ends inside a UTF-8 sequence');
    const data = this.fragments.length === 1 ? (this.fragments[0] as Uint8Array) : bytesOf(Buffer.concat(this.fragments, this.messageBytes));
    const event: MessageEvent = { type: 'message', binary: !text, data };
    this.messageOpcode = 0;
    this.fragments = [];
    this.messageBytes = 0;
    return event;
  }

  private closeFrame(payload: Uint8Array): CloseEvent {
    if (payload.length === 1) throw protocolError('a close frame with a 1-byte payload');
    let code: number | null = null;
    let reason = '';
    if (payload.length >= 2) {
      code = ((payload[0] as number) << 8) | (payload[1] as number);
      if (!isValidCloseCode(code)) throw protocolError(`close status code ${code} may not be sent`);
      const reasonBytes = payload.subarray(2);
      const check = new Utf8Validator();
      if (!check.push(reasonBytes) || !check.complete) throw invalidUtf8('a close reason is not valid UTF-8');
      reason = utf8Decoder.decode(reasonBytes);
    }
    this.stateNow = 'CLOSED';
    this.input.clear();
    return { type: 'close', code, reason };
  }
}

/** Whether an endpoint may send close status `code` (RFC 6455 §7.4; 1004-1006 and 1015 never go on the wire). */
export function isValidCloseCode(code: number): boolean {
  if (code >= 1000 && code <= 1014) return code !== 1004 && code !== 1005 && code !== 1006;
  return code >= 3000 && code <= 4999;
}

/**
 * One frame's bytes: `payload` with a header for `opcode`, unmasked (a server's frames) unless
 * `mask` (4 bytes, a client's frames) is given. Lengths take the minimal encoding.
 */
export function encodeFrame(opcode: Opcode, payload: Uint8Array, options: { fin?: boolean; mask?: Uint8Array; rsv?: number } = {}): Uint8Array {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const maskBytes = options.mask === undefined ? 0 : 4;
  const out = new Uint8Array(2 + extended + maskBytes + length);
  out[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  const masked = maskBytes === 0 ? 0 : 0x80;
  if (extended === 0) out[1] = masked | length;
  else if (extended === 2) {
    out[1] = masked | 126;
    out[2] = length >>> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = masked | 127;
    const high = Math.floor(length / 0x100000000);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(2, high);
    view.setUint32(6, length >>> 0);
  }
  let at = 2 + extended;
  if (options.mask !== undefined) {
    const mask = options.mask;
    out.set(mask.subarray(0, 4), at);
    at += 4;
    for (let i = 0; i < length; i++) out[at + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  } else out.set(payload, at);
  return out;
}

/** A close frame's payload: `code` and a UTF-8 `reason` (cut to fit in 123 bytes); none when code is null. */
export function closePayload(code: number | null, reason = ''): Uint8Array {
  if (code === null) return new Uint8Array(0);
  let text = utf8Encoder.encode(reason);
  if (text.length > MAX_CONTROL_PAYLOAD - 2) text = utf8Encoder.encode(utf8Decoder.decode(text.subarray(0, MAX_CONTROL_PAYLOAD - 2)).replace(/\uFFFD$/, ''));
  const out = new Uint8Array(2 + text.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** A server's close frame. */
export function encodeClose(code: number | null, reason = ''): Uint8Array {
  return encodeFrame(Opcode.close, closePayload(code, reason));
}

/**
 * Incremental UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF; a sequence may be split across pushes.
 */
export class Utf8Validator {
  /** Continuation bytes still expected. */
  private need = 0;
  /** The range the next continuation byte must fall in. */
  private lower = 0x80;
  private upper = 0xbf;

  reset(): void {
    this.need = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  /** False at the first byte that cannot be valid UTF-8. */
  push(bytes: Uint8Array): boolean {
    let need = this.need;
    let lower = this.lower;
    let upper = this.upper;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (need === 0) {
        if (b < 0x80) continue;
        if (b >= 0xc2 && b <= 0xdf) {
          need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          need = 2;
          if (b === 0xe0) lower = 0xa0;
          else if (b === 0xed) upper = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3;
          if (b === 0xf0) lower = 0x90;
          else if (b === 0xf4) upper = 0x8f;
        } else return false;
      } else {
        if (b < lower || b > upper) return false;
        lower = 0x80;
        upper = 0xbf;
        need--;
      }
    }
    this.need = need;
    this.lower = lower;
    this.upper = upper;
    return true;
  }

  /** No sequence is left open. */
  get complete(): boolean {
    return this.need === 0;
  }
}

/** Received bytes as a queue of chunks: consumed from the front without copying what stays. */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Index of the first chunk not wholly consumed (chunks before it are dropped in batches). */
  private first = 0;
  /** Offset into chunks[first]. */
  private offset = 0;
  length = 0;

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.offset = 0;
    this.length = 0;
  }

  /** The byte `index` positions from the front (index < length; the header is at most 14 bytes, so this stays short). */
  peek(index: number): number {
    let at = this.offset + index;
    for (let i = this.first; i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as Uint8Array;
      if (at < chunk.length) return chunk[at] as number;
      at -= chunk.length;
    }
    throw new RangeError('peek past the end of the queue');
  }

  skip(n: number): void {
    this.consume(n, null, null);
  }

  /** Copy the next `n` bytes into `into`. */
  take(n: number, into: Uint8Array): void {
    this.consume(n, into, null);
  }

  /** The next `n` bytes, unmasked with `mask`, in a new array. */
  takeUnmasked(n: number, mask: Uint8Array): Uint8Array {
    const out = new Uint8Array(n);
    this.consume(n, out, mask);
    return out;
  }

  private consume(n: number, into: Uint8Array | null, mask: Uint8Array | null): void {
    let done = 0;
    while (done < n) {
      const chunk = this.chunks[this.first] as Uint8Array;
      const count = Math.min(chunk.length - this.offset, n - done);
      if (into !== null) {
        if (mask === null) into.set(chunk.subarray(this.offset, this.offset + count), done);
        else {
          const start = this.offset;
          for (let i = 0; i < count; i++) into[done + i] = (chunk[start + i] as number) ^ (mask[(done + i) & 3] as number);
        }
      }
      done += count;
      this.offset += count;
      if (this.offset === chunk.length) {
        this.first++;
        this.offset = 0;
      }
    }
    this.length -= n;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first >= 64 && this.first * 2 >= this.chunks.length) {
      // Drop consumed chunks in batches: each chunk is moved O(1) times on average.
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

/** A plain Uint8Array view of `buffer`'s bytes (events carry Uint8Array, not Buffer). */
function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function protocolError(message: string): WebSocketError {
  return new WebSocketError('WS_PROTOCOL', CloseCode.protocolError, message);
}

function invalidUtf8(message: string): WebSocketError {
  return new WebSocketError('WS_INVALID_UTF8', CloseCode.invalidPayload, message);
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
