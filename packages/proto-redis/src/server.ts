// server.ts
//
// The server role of a Redis connection, so people can write Redis-compatible servers:
// commands parsed from bytes (RESP multibulk, and inline commands as typed by telnet/nc or
// redis-cli's inline mode), replies encoded in the protocol version the client negotiated.
//
// Invariants:
// - A command is delivered only when all of its bytes have arrived; arguments are Uint8Array
//   views into the received chunks (binary safe, never copied unless a value spans chunks).
// - Work is linear in the bytes received, however they are cut: `receiveData` only queues a
//   chunk (no copy, no parse), a line is searched once (the search resumes where the last one
//   stopped), and a token that spans chunks is copied once, when it is complete.
// - Memory is bounded: limits (argument count, argument length, inline line length, bytes held
//   unparsed) are enforced before any allocation that depends on them; a violation is a
//   RemoteProtocolError and the connection object refuses further input (a real server replies
//   with the error, then closes).
// - The server logic decides protocol switches: set `protocol = 3` when it answers HELLO 3.
//
// Discussion: a server does not parse while a command blocks (BLPOP), so what the client sends
// meanwhile accumulates here. `bufferedBytes` says how much: an IO layer that stops reading
// from the socket above a bound of its own (and resumes once it calls nextEvent again) turns
// that into TCP backpressure on the client. `maxBufferedBytes` is the last resort, Redis's
// client-query-buffer-limit: beyond it the client is refused.

import { decodeUtf8 } from './decoder.js';
import type { NeedData } from './decoder.js';
import { NEED_DATA } from './decoder.js';
import { ByteWriter, writeReply, writeStatus } from './encoder.js';
import type { RespVersion } from './encoder.js';
import { LocalProtocolError, RemoteProtocolError } from './errors.js';
import { RespErrorReply, RespPush } from './values.js';
import type { RespFrame, RespValue } from './values.js';

/** What the server connection hands back. */
export type RedisServerEvent =
  | {
      readonly type: 'command';
      /** The command name, upper-cased (ASCII). */
      readonly name: string;
      /**
       * Every argument, the name included, as bytes: views into the received chunks, valid as
       * long as those chunks are not reused by the caller.
       */
      readonly args: readonly Uint8Array[];
      /** Whether it arrived as an inline command. */
      readonly inline: boolean;
    }
  | { readonly type: 'eof' };

/** Limits of {@link RedisServerConnection}. */
export interface RedisServerOptions {
  /** Most arguments in one command (default 1 048 576). */
  readonly maxArgs?: number;
  /** Longest argument (default 512 MiB, Redis's proto-max-bulk-len). */
  readonly maxBulkLength?: number;
  /** Longest inline command line (default 64 KiB). */
  readonly maxInlineLength?: number;
  /**
   * Most bytes held for commands not yet delivered: received and unparsed, plus the arguments
   * of a command still incomplete (default 1 GiB, Redis's client-query-buffer-limit). Data
   * beyond it is refused with a RemoteProtocolError (code ERR_BUFFER_LIMIT).
   */
  readonly maxBufferedBytes?: number;
}

const CR = 13;
const LF = 10;
const EMPTY = new Uint8Array(0);
/** Longest `*<n>\r\n` / `$<n>\r\n` line: type byte, sign, 12 digits, CRLF (and some slack). */
const MAX_HEADER = 32;
/** Chunks already consumed at the head of the queue before it is compacted. */
const COMPACT_AFTER = 64;

interface Multibulk {
  remaining: number;
  readonly args: Uint8Array[];
  /** Length of the argument whose body is awaited, or -1 while reading a header. */
  bulk: number;
  /** Bytes of the arguments parsed so far (they count toward maxBufferedBytes). */
  held: number;
}

/** A Redis server connection state machine. */
export class RedisServerConnection {
  /** The RESP version replies are encoded in; set it to 3 after answering HELLO 3. */
  protocol: RespVersion = 2;
  private readonly out = new ByteWriter();
  /** Received chunks; `chunks[first]` holds the next unread byte, at `pos`. */
  private chunks: Uint8Array[] = [];
  private first = 0;
  private pos = 0;
  /** Bytes received and not consumed by the parser. */
  private unread = 0;
  /** Bytes received in all (stream offsets, for errors). */
  private received = 0;
  /** Bytes after the read position known to hold no LF, and where that search stopped. */
  private scanned = 0;
  private scanChunk = 0;
  private scanAt = 0;
  /** Where {@link contiguous} put the bytes asked for. */
  private view: Uint8Array = EMPTY;
  private viewAt = 0;
  private command: Multibulk | null = null;
  private eof = false;
  private eofDelivered = false;
  private failure: RemoteProtocolError | null = null;
  private readonly maxArgs: number;
  private readonly maxBulk: number;
  private readonly maxInline: number;
  private readonly maxBuffered: number;

  constructor(options?: RedisServerOptions) {
    this.maxArgs = options?.maxArgs ?? 1024 * 1024;
    this.maxBulk = options?.maxBulkLength ?? 512 * 1024 * 1024;
    this.maxInline = options?.maxInlineLength ?? 64 * 1024;
    this.maxBuffered = options?.maxBufferedBytes ?? 1024 * 1024 * 1024;
  }

  /**
   * Bytes held for commands not yet delivered: received and unparsed, plus the arguments of a
   * command still incomplete. What a blocked client sent piles up here; stop reading from its
   * socket above a bound of your own (see the file's Discussion).
   */
  get bufferedBytes(): number {
    return this.unread + (this.command?.held ?? 0);
  }

  /**
   * Feed bytes from the client; an empty array means end of stream. Queues the chunk as it is
   * (it must not be modified afterwards); beyond maxBufferedBytes, the next
   * {@link nextEvent} throws.
   */
  receiveData(data: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (data.length === 0) {
      this.eof = true;
      return;
    }
    if (this.eof) throw new LocalProtocolError('data received after end of stream', 'ERR_AFTER_EOF');
    if (this.bufferedBytes + data.length > this.maxBuffered) {
      // Refused whole, as Redis closes a client over its query buffer limit.
      this.failure = new RemoteProtocolError('Protocol error: too much unparsed data (query buffer limit)', 'ERR_BUFFER_LIMIT', this.received);
      return;
    }
    this.chunks.push(data);
    this.unread += data.length;
    this.received += data.length;
  }

  /** The next complete command, 'eof', or NEED_DATA. Throws RemoteProtocolError on bad input. */
  nextEvent(): RedisServerEvent | NeedData {
    if (this.failure !== null) throw this.failure;
    try {
      const event = this.parse();
      if (event !== NEED_DATA) return event;
    } catch (error) {
      if (error instanceof RemoteProtocolError) this.failure = error;
      throw error;
    }
    if (this.eof && !this.eofDelivered) {
      this.eofDelivered = true;
      if (this.command !== null || this.unread > 0) {
        this.failure = new RemoteProtocolError('Protocol error: connection closed in the middle of a command', 'ERR_TRUNCATED');
        throw this.failure;
      }
      return { type: 'eof' };
    }
    return NEED_DATA;
  }

  /** Queue a reply value, encoded for the negotiated protocol. */
  sendReply(value: RespFrame): void {
    writeReply(this.out, value, this.protocol);
  }

  /** Queue a status reply (`+OK`). */
  sendStatus(text: string): void {
    writeStatus(this.out, text);
  }

  /** Queue an error reply; `message` should start with a code such as ERR or WRONGTYPE. */
  sendError(message: string): void {
    writeReply(this.out, new RespErrorReply(message), this.protocol);
  }

  /** Queue a push (RESP3 `>`; an array in RESP2, as Redis sends pub/sub messages). */
  sendPush(kind: string, data: readonly RespValue[]): void {
    writeReply(this.out, new RespPush(kind, [kind, ...data]), this.protocol);
  }

  /** Take the bytes to write. */
  dataToSend(): Uint8Array | null {
    if (this.out.length === 0) return null;
    return this.out.take();
  }

  private parse(): RedisServerEvent | NeedData {
    for (;;) {
      let command = this.command;
      if (command === null) {
        if (this.unread === 0) return NEED_DATA;
        const chunk = this.chunks[this.first] as Uint8Array;
        const pos = this.pos;
        if (chunk[pos] !== 0x2a /* * */) {
          const inline = this.inline();
          if (inline === null) continue; // empty lines are ignored
          return inline;
        }
        // Fast path: `*<n>\r\n` (up to 8 digits) inside the current chunk; else header() below.
        let i = pos + 1;
        let count = 0;
        const limit = Math.min(chunk.length, pos + 9);
        for (; i < limit; i++) {
          const d = (chunk[i] as number) - 48;
          if (d < 0 || d > 9) break;
          count = count * 10 + d;
        }
        if (i > pos + 1 && i + 1 < chunk.length && chunk[i] === CR && chunk[i + 1] === LF && count <= this.maxArgs) {
          this.consume(i + 2 - pos);
          if (count === 0) continue;
          command = { remaining: count, args: [], bulk: -1, held: 0 };
          this.command = command;
        }
      }
      if (command === null) {
        const lineStart = this.offset(0);
        const n = this.header('multibulk length');
        if (n === undefined) return NEED_DATA;
        if (n > this.maxArgs) this.failAt('invalid multibulk length', 'ERR_TOO_MANY_ARGS', lineStart);
        if (n <= 0) continue; // *0 and *-1 are ignored, as Redis does
        command = { remaining: n, args: [], bulk: -1, held: 0 };
        this.command = command;
      }
      // Arguments. Fast path: whole arguments (header, body, CRLF) inside the current chunk;
      // anything else (a chunk boundary, an error to report) is left to the general loop.
      const chunk = this.chunks[this.first];
      if (chunk !== undefined && command.bulk === -1) {
        const start = this.pos;
        const end = chunk.length;
        let pos = start;
        while (command.remaining > 0 && pos < end && chunk[pos] === 0x24 /* $ */) {
          const limit = Math.min(end, pos + MAX_HEADER);
          let i = pos + 1;
          let length = 0;
          for (; i < limit; i++) {
            const d = (chunk[i] as number) - 48;
            if (d < 0 || d > 9) break;
            length = length * 10 + d;
          }
          if (i === pos + 1 || i - pos > 13 || i + 1 >= end || chunk[i] !== CR || chunk[i + 1] !== LF || length > this.maxBulk) break;
          const body = i + 2;
          if (end - body < length + 2 || chunk[body + length] !== CR || chunk[body + length + 1] !== LF) break;
          command.args.push(chunk.subarray(body, body + length));
          command.held += length;
          command.remaining--;
          pos = body + length + 2;
        }
        if (pos !== start) this.consume(pos - start);
      }
      while (command.remaining > 0) {
        if (command.bulk === -1) {
          if (this.unread === 0) return NEED_DATA;
          const type = this.peek();
          if (type !== 0x24 /* $ */) this.failAt(`expected '$', got '${String.fromCharCode(type)}'`, 'ERR_EXPECTED_BULK', this.offset(0));
          const lineStart = this.offset(0);
          const length = this.header('bulk length');
          if (length === undefined) return NEED_DATA;
          if (length < 0 || length > this.maxBulk) this.failAt('invalid bulk length', 'ERR_BULK_LENGTH', lineStart);
          command.bulk = length;
        }
        const length = command.bulk;
        if (this.unread < length + 2) return NEED_DATA;
        const chunk = this.chunks[this.first] as Uint8Array;
        const pos = this.pos;
        let body: Uint8Array;
        if (chunk.length - pos >= length + 2) {
          if (chunk[pos + length] !== CR || chunk[pos + length + 1] !== LF) this.failAt('argument not terminated by CRLF', 'ERR_CRLF', this.offset(length));
          body = chunk.subarray(pos, pos + length);
        } else {
          // A view even when only the CRLF after it is in the next chunk; a copy if it spans.
          if (this.byteAt(length) !== CR || this.byteAt(length + 1) !== LF) this.failAt('argument not terminated by CRLF', 'ERR_CRLF', this.offset(length));
          if (chunk.length - pos >= length) body = chunk.subarray(pos, pos + length);
          else {
            this.contiguous(length);
            body = this.view.subarray(this.viewAt, this.viewAt + length);
          }
        }
        command.args.push(body);
        command.held += length;
        this.consume(length + 2);
        command.bulk = -1;
        command.remaining--;
      }
      this.command = null;
      return { type: 'command', name: upperAscii(command.args[0] as Uint8Array), args: command.args, inline: false };
    }
  }

  /**
   * Parse and consume the `<type><digits>\r\n` line at the read position; undefined while
   * incomplete (nothing consumed).
   */
  private header(what: string): number | undefined {
    const chunk = this.chunks[this.first] as Uint8Array;
    const start = this.pos;
    const limit = Math.min(chunk.length, start + MAX_HEADER);
    let lf = start + 1;
    while (lf < limit && chunk[lf] !== LF) lf++;
    if (lf < limit) {
      // The usual case: the whole line is in the current chunk.
      const n = this.headerNumber(chunk, start, lf, what);
      this.consume(lf + 1 - start);
      return n;
    }
    const found = this.findLineFeed(MAX_HEADER);
    if (found === -1) {
      if (this.unread >= MAX_HEADER) this.failAt(`invalid ${what}`, 'ERR_PROTOCOL', this.offset(0));
      return undefined;
    }
    this.contiguous(found + 1);
    const n = this.headerNumber(this.view, this.viewAt, this.viewAt + found, what);
    this.consume(found + 1);
    return n;
  }

  /** The number of the header line `buf[start..lf]` (`<type>[-]<digits>\r\n`, at most 12 digits). */
  private headerNumber(buf: Uint8Array, start: number, lf: number, what: string): number {
    let i = start + 1;
    const negative = buf[i] === 0x2d; /* - */
    if (negative) i++;
    const digits = i;
    let n = 0;
    for (; i < lf - 1; i++) {
      const d = (buf[i] as number) - 48;
      if (d < 0 || d > 9 || i - digits > 11) this.failAt(`invalid ${what}`, 'ERR_PROTOCOL', this.offset(i - start));
      n = n * 10 + d;
    }
    if (i === digits || buf[lf - 1] !== CR) this.failAt(`invalid ${what}`, 'ERR_PROTOCOL', this.offset(i - start));
    return negative ? -n : n;
  }

  /** An inline command: one line, arguments separated by blanks, with quoting like redis-cli. */
  private inline(): RedisServerEvent | NeedData | null {
    const lf = this.findLineFeed(this.maxInline);
    if (lf === -1) {
      if (this.unread >= this.maxInline) this.failAt('inline command too long', 'ERR_INLINE_TOO_LONG', this.offset(0));
      return NEED_DATA;
    }
    this.contiguous(lf + 1);
    const buf = this.view;
    const start = this.viewAt;
    const lineEnd = lf > 0 && buf[start + lf - 1] === CR ? start + lf - 1 : start + lf;
    const line = buf.subarray(start, lineEnd);
    const offset = this.offset(0);
    this.consume(lf + 1);
    const args = splitInline(line, (message) => {
      throw new RemoteProtocolError(`Protocol error: ${message}`, 'ERR_INLINE', offset);
    });
    if (args.length === 0) return null;
    return { type: 'command', name: upperAscii(args[0] as Uint8Array), args, inline: true };
  }

  // -------------------------------------------------------------------------------------------
  // The queue of received chunks

  /** The byte at the read position (there must be one). */
  private peek(): number {
    return (this.chunks[this.first] as Uint8Array)[this.pos] as number;
  }

  /** The byte `offset` bytes after the read position (it must have arrived). */
  private byteAt(offset: number): number {
    let index = this.first;
    let at = this.pos + offset;
    for (;;) {
      const chunk = this.chunks[index] as Uint8Array;
      if (at < chunk.length) return chunk[at] as number;
      at -= chunk.length;
      index++;
    }
  }

  /**
   * Offset from the read position of the first LF within `limit` bytes, or -1 if the bytes
   * received so far hold none. Resumes where the last unsuccessful search stopped.
   */
  private findLineFeed(limit: number): number {
    const chunks = this.chunks;
    let offset = this.scanned;
    let index = offset === 0 ? this.first : this.scanChunk;
    let at = offset === 0 ? this.pos : this.scanAt;
    const max = Math.min(limit, this.unread);
    while (offset < max) {
      const chunk = chunks[index] as Uint8Array;
      const stop = Math.min(chunk.length, at + (max - offset));
      for (let i = at; i < stop; i++) if (chunk[i] === LF) return offset + (i - at);
      offset += stop - at;
      if (stop === chunk.length) {
        index++;
        at = 0;
      } else at = stop;
    }
    this.scanned = offset;
    this.scanChunk = index;
    this.scanAt = at;
    return -1;
  }

  /**
   * Make the next `n` unread bytes (which must have arrived) contiguous, without consuming
   * them: `view[viewAt..viewAt + n)`. A view of the current chunk when they are all in it; a
   * copy otherwise (made once per token, as a token is consumed after this).
   */
  private contiguous(n: number): void {
    const chunk = this.chunks[this.first] as Uint8Array;
    if (chunk.length - this.pos >= n) {
      this.view = chunk;
      this.viewAt = this.pos;
      return;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    let index = this.first;
    let at = this.pos;
    while (filled < n) {
      const part = this.chunks[index++] as Uint8Array;
      const take = Math.min(part.length - at, n - filled);
      out.set(at === 0 && take === part.length ? part : part.subarray(at, at + take), filled);
      filled += take;
      at = 0;
    }
    this.view = out;
    this.viewAt = 0;
  }

  /** Move the read position `n` bytes on (at most `unread`), dropping the chunks left behind. */
  private consume(n: number): void {
    this.unread -= n;
    this.scanned = 0;
    const chunks = this.chunks;
    let first = this.first;
    let pos = this.pos + n;
    if (pos < (chunks[first] as Uint8Array).length) {
      this.pos = pos;
      return;
    }
    while (first < chunks.length && pos >= (chunks[first] as Uint8Array).length) {
      pos -= (chunks[first] as Uint8Array).length;
      chunks[first] = EMPTY; // let it be collected (views handed out keep what they need)
      first++;
    }
    if (first === chunks.length) {
      chunks.length = 0;
      first = 0;
    } else if (first >= COMPACT_AFTER && first * 2 >= chunks.length) {
      chunks.splice(0, first);
      first = 0;
    }
    this.first = first;
    this.pos = pos;
  }

  /** Stream offset of the byte `at` bytes after the read position. */
  private offset(at: number): number {
    return this.received - this.unread + at;
  }

  /** Throw a RemoteProtocolError about the byte at stream offset `offset`. */
  private failAt(message: string, code: string, offset: number): never {
    throw new RemoteProtocolError(`Protocol error: ${message}`, code, offset);
  }
}

function upperAscii(bytes: Uint8Array): string {
  return decodeUtf8(bytes, 0, bytes.length).toUpperCase();
}

/**
 * Split an inline command line the way Redis does (sdssplitargs): blanks separate arguments;
 * "double quotes" allow \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes' allow \'.
 */
export function splitInline(line: Uint8Array, fail: (message: string) => never): Uint8Array[] {
  const args: Uint8Array[] = [];
  let i = 0;
  const n = line.length;
  const isBlank = (c: number | undefined): boolean => c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === CR || c === LF;
  while (i < n) {
    while (i < n && isBlank(line[i])) i++;
    if (i >= n) break;
    const current: number[] = [];
    const quote = line[i] === 0x22 ? 0x22 : line[i] === 0x27 ? 0x27 : 0;
    if (quote === 0) {
      while (i < n && !isBlank(line[i])) current.push(line[i++] as number);
    } else {
      i++;
      let closed = false;
      while (i < n) {
        const c = line[i] as number;
        if (c === 0x5c /* \ */ && i + 1 < n) {
          const e = line[i + 1] as number;
          if (quote === 0x22) {
            if (e === 0x78 /* x */ && i + 3 < n && isHex(line[i + 2]) && isHex(line[i + 3])) {
              current.push(parseInt(String.fromCharCode(line[i + 2] as number, line[i + 3] as number), 16));
              i += 4;
              continue;
            }
            const mapped = e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e === 0x62 ? 8 : e === 0x61 ? 7 : e;
            current.push(mapped);
            i += 2;
            continue;
          }
          if (e === 0x27) {
            current.push(0x27);
            i += 2;
            continue;
          }
        }
        if (c === quote) {
          closed = true;
          i++;
          break;
        }
        current.push(c);
        i++;
      }
      if (!closed) fail('unbalanced quotes in request');
      if (i < n && !isBlank(line[i])) fail('unbalanced quotes in request');
    }
    args.push(Uint8Array.from(current));
  }
  return args;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102));
}
