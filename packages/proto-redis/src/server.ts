// server.ts
//
// The server role of a Redis connection, so people can write Redis-compatible servers:
// commands parsed from bytes (RESP multibulk, and inline commands as typed by telnet/nc or
// redis-cli's inline mode), replies encoded in the protocol version the client negotiated.
//
// Invariants:
// - A command is delivered only when all of its bytes have arrived; arguments are Uint8Array
//   views into the received chunks (binary safe, never copied unless a value spans chunks).
// - Limits (argument count, argument length, inline line length) are enforced before any
//   allocation that depends on them; a violation is a RemoteProtocolError and the connection
//   object refuses further input (a real server replies with the error, then closes).
// - The server logic decides protocol switches: set `protocol = 3` when it answers HELLO 3.

import { join } from './bytes.js';
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
      /** Every argument, the name included, as bytes. */
      readonly args: readonly Uint8Array[];
      /** Whether it arrived as an inline command. */
      readonly inline: boolean;
    }
  | { readonly type: 'eof' };

/** Limits of {@link RedisServerConnection}. */
export interface RedisServerOptions {
  /** Most arguments in one command (default 1 048 576). */
  readonly maxArgs?: number;
  /** Longest argument (default 512 MiB). */
  readonly maxBulkLength?: number;
  /** Longest inline command line (default 64 KiB). */
  readonly maxInlineLength?: number;
}

const CR = 13;
const LF = 10;
const EMPTY = new Uint8Array(0);

interface Multibulk {
  remaining: number;
  readonly args: Uint8Array[];
  /** Length of the argument whose body is awaited, or -1 while reading a header. */
  bulk: number;
  /** Parts of a long argument that spans chunks. */
  parts: Uint8Array[] | null;
  have: number;
}

/** A Redis server connection state machine. */
export class RedisServerConnection {
  /** The RESP version replies are encoded in; set it to 3 after answering HELLO 3. */
  protocol: RespVersion = 2;
  private readonly out = new ByteWriter();
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private received = 0;
  private command: Multibulk | null = null;
  private eof = false;
  private eofDelivered = false;
  private failure: RemoteProtocolError | null = null;
  private readonly maxArgs: number;
  private readonly maxBulk: number;
  private readonly maxInline: number;

  constructor(options?: RedisServerOptions) {
    this.maxArgs = options?.maxArgs ?? 1024 * 1024;
    this.maxBulk = options?.maxBulkLength ?? 512 * 1024 * 1024;
    this.maxInline = options?.maxInlineLength ?? 64 * 1024;
  }

  /** Feed bytes from the client; an empty array means end of stream. */
  receiveData(data: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (data.length === 0) {
      this.eof = true;
      return;
    }
    if (this.eof) throw new LocalProtocolError('data received after end of stream', 'ERR_AFTER_EOF');
    const command = this.command;
    if (command !== null && command.parts !== null) {
      // Collecting a long argument: keep chunks as they are until it is complete.
      const need = command.bulk + 2 - command.have;
      if (data.length < need) {
        command.parts.push(data);
        command.have += data.length;
        this.received += data.length;
        return;
      }
      command.parts.push(data.subarray(0, need));
      command.have += need;
      this.received += this.buf.length;
      this.buf = data;
      this.pos = need;
      return;
    }
    if (this.pos >= this.buf.length) {
      this.received += this.buf.length;
      this.buf = data;
      this.pos = 0;
      return;
    }
    const rest = this.buf.subarray(this.pos);
    const joined = new Uint8Array(rest.length + data.length);
    joined.set(rest, 0);
    joined.set(data, rest.length);
    this.received += this.pos;
    this.buf = joined;
    this.pos = 0;
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
      if (this.command !== null || this.pos < this.buf.length) {
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
        const buf = this.buf;
        const start = this.pos;
        if (start >= buf.length) return NEED_DATA;
        if (buf[start] !== 0x2a /* * */) {
          const inline = this.inline();
          if (inline === null) continue; // empty lines are ignored
          return inline;
        }
        const n = this.number(start + 1, 'multibulk length');
        if (n === undefined) return NEED_DATA;
        if (n > this.maxArgs) this.fail('invalid multibulk length', 'ERR_TOO_MANY_ARGS', start);
        if (n <= 0) continue; // *0 and *-1 are ignored, as Redis does
        command = { remaining: n, args: [], bulk: -1, parts: null, have: 0 };
        this.command = command;
      }
      // Arguments.
      while (command.remaining > 0) {
        if (command.bulk === -1) {
          const buf = this.buf;
          const start = this.pos;
          if (start >= buf.length) return NEED_DATA;
          if (buf[start] !== 0x24 /* $ */) this.fail(`expected '$', got '${String.fromCharCode(buf[start] as number)}'`, 'ERR_EXPECTED_BULK', start);
          const length = this.number(start + 1, 'bulk length');
          if (length === undefined) return NEED_DATA;
          if (length < 0 || length > this.maxBulk) this.fail('invalid bulk length', 'ERR_BULK_LENGTH', start);
          command.bulk = length;
        }
        const length = command.bulk;
        if (command.parts !== null) {
          if (command.have < length + 2) return NEED_DATA;
          const joined = join(command.parts);
          if (joined[length] !== CR || joined[length + 1] !== LF) this.fail('argument not terminated by CRLF', 'ERR_CRLF', this.pos);
          command.args.push(joined.subarray(0, length));
          command.parts = null;
        } else {
          const buf = this.buf;
          const body = this.pos;
          if (buf.length - body < length + 2) {
            if (length + 2 > 64 * 1024) {
              command.parts = [buf.subarray(body)];
              command.have = buf.length - body;
              this.received += buf.length;
              this.buf = EMPTY;
              this.pos = 0;
            }
            return NEED_DATA;
          }
          if (buf[body + length] !== CR || buf[body + length + 1] !== LF) this.fail('argument not terminated by CRLF', 'ERR_CRLF', body + length);
          command.args.push(buf.subarray(body, body + length));
          this.pos = body + length + 2;
        }
        command.bulk = -1;
        command.remaining--;
      }
      this.command = null;
      return { type: 'command', name: upperAscii(command.args[0] as Uint8Array), args: command.args, inline: false };
    }
  }

  /** Parse `<digits>\r\n` at `from`; undefined if incomplete. Sets pos past it. */
  private number(from: number, what: string): number | undefined {
    const buf = this.buf;
    let i = from;
    let negative = false;
    if (i < buf.length && buf[i] === 0x2d) {
      negative = true;
      i++;
    }
    const digits = i;
    let n = 0;
    for (; i < buf.length; i++) {
      const c = buf[i] as number;
      if (c === CR) break;
      const d = c - 48;
      if (d < 0 || d > 9 || i - digits > 11) this.fail(`invalid ${what}`, 'ERR_PROTOCOL', i);
      n = n * 10 + d;
    }
    if (i + 1 >= buf.length) {
      if (buf.length - from > 32) this.fail(`invalid ${what}`, 'ERR_PROTOCOL', from);
      return undefined;
    }
    if (buf[i + 1] !== LF || i === digits) this.fail(`invalid ${what}`, 'ERR_PROTOCOL', i);
    this.pos = i + 2;
    return negative ? -n : n;
  }

  /** An inline command: one line, arguments separated by blanks, with quoting like redis-cli. */
  private inline(): RedisServerEvent | NeedData | null {
    const buf = this.buf;
    const start = this.pos;
    let end = start;
    const limit = Math.min(buf.length, start + this.maxInline);
    while (end < limit && buf[end] !== LF) end++;
    if (end >= limit) {
      if (buf.length - start >= this.maxInline) this.fail('inline command too long', 'ERR_INLINE_TOO_LONG', start);
      return NEED_DATA;
    }
    this.pos = end + 1;
    const lineEnd = end > start && buf[end - 1] === CR ? end - 1 : end;
    const args = splitInline(buf.subarray(start, lineEnd), (message) => this.fail(message, 'ERR_INLINE', start));
    if (args.length === 0) return null;
    return { type: 'command', name: upperAscii(args[0] as Uint8Array), args, inline: true };
  }

  private fail(message: string, code: string, at: number): never {
    throw new RemoteProtocolError(`Protocol error: ${message}`, code, this.received + at);
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
