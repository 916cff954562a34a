// server.ts
//
// The server role of a Redis connection, so people can write Redis-compatible servers:
// commands parsed from bytes (RESP multibulk, and inline commands as typed by telnet/nc or
// redis-cli's inline mode), replies written by a ReplyWriter (reply.ts) in the protocol
// version the client negotiated, whose bytes a server lends to its socket and takes back.
//
// The contract (the same as the client role's, see docs/writing-a-protocol.md):
// - `receiveData(bytes)` feeds bytes; an empty array is the end of the stream.
// - `nextEvent()` returns a command, NEED_DATA, PAUSED, or at the end `{ type: 'closed' }`
//   (every command received before the end comes first); it returns that same event again
//   if asked again.
// - PAUSED: while the server logic has blocked the client (`block()`, BLPOP with nothing to
//   pop) or has `maxUnanswered` commands delivered and not yet `answered()`. The consumer
//   resumes it with `unblock()` / `answered()`. Bytes are still accepted while paused; read
//   the socket only while `wantsData` says so, and TCP pushes back on the client.
// - A protocol violation is thrown by `nextEvent` as RemoteProtocolError (with a `code`); from
//   then on `receiveData` and `nextEvent` throw that same error. Replies may still be written
//   (Redis answers "-ERR Protocol error: ..." before it closes).
// - Every state change is a transition of SERVER_STATES (state.ts).
//
// Invariants:
// - A command is delivered only when all of its bytes have arrived; arguments are Uint8Array
//   views into the received chunks (binary safe, never copied unless a value spans chunks), or
//   with `args: 'binary'`, binary strings (one char per byte) cut straight from the chunks.
// - Work is linear in the bytes received, however they are cut: `receiveData` only queues a
//   chunk (no copy, no parse), a line is searched once (the search resumes where the last one
//   stopped), and a token that spans chunks is copied once, when it is complete.
// - Memory is bounded: limits (argument count, argument length, inline line length, bytes held
//   unparsed) are enforced before any allocation that depends on them.
//
// Discussion: a server does not parse while a command blocks (BLPOP), so what the client sends
// meanwhile accumulates here. A consumer that keeps reading while blocked (to notice the
// client leaving) stops once `wantsData` is false (`pausedReadAhead` bytes held); TCP
// backpressure then holds the client. `maxBufferedBytes` is the last resort, Redis's
// client-query-buffer-limit: beyond it the client is refused.

import { decodeUtf8 } from './decoder.js';
import { SHORT_ARG, shortLatin1 } from './bytes.js';
import type { RespVersion } from './encoder.js';
import { LocalProtocolError, RemoteProtocolError } from './errors.js';
import { ReplyWriter } from './reply.js';
import type { ReplyWriterOptions } from './reply.js';
import { NEED_DATA, PAUSED } from './sentinels.js';
import type { NeedData, Paused } from './sentinels.js';
import { SERVER_STATES, nextState } from './state.js';
import type { ServerInput, ServerMode, ServerState } from './state.js';
import { RespErrorReply, RespPush } from './values.js';
import type { RespFrame, RespValue } from './values.js';

/**
 * How arguments are handed over: `Uint8Array` views (option `args: 'bytes'`, the default) or
 * binary strings, one UTF-16 code unit per byte (`args: 'binary'`).
 */
export type ServerArg = Uint8Array | string;

/** What the server protocol object hands back (arguments as bytes unless `A` is string). */
export type RedisServerEvent<A extends ServerArg = Uint8Array> =
  | {
      readonly type: 'command';
      /** The command name, upper-cased (ASCII). */
      readonly name: string;
      /**
       * Every argument, the name included: as bytes, views into the received chunks (valid as
       * long as those chunks are not reused by the caller); or as binary strings (`args: 'binary'`).
       */
      readonly args: readonly A[];
      /** Whether it arrived as an inline command. */
      readonly inline: boolean;
    }
  | {
      /** The client ended the stream, and every command it sent before has been delivered. */
      readonly type: 'closed';
      /** Commands delivered and not {@link RedisServerProtocol.answered} when the end was reported. */
      readonly unanswered: number;
    };

/** Limits and pacing of {@link RedisServerProtocol}; `args` must be 'binary' for string arguments. */
export type RedisServerOptions<A extends ServerArg = Uint8Array> = RedisServerLimits &
  (A extends string ? { readonly args: 'binary' } : { readonly args?: 'bytes' });

/** Limits and pacing of {@link RedisServerProtocol}. */
export interface RedisServerLimits {
  /** Most arguments in one command (default 1 048 576). */
  readonly maxArgs?: number;
  /** Longest argument (default 512 MiB, Redis's proto-max-bulk-len). */
  readonly maxBulkLength?: number;
  /** Longest inline command line (default 64 KiB). */
  readonly maxInlineLength?: number;
  /**
   * Most bytes held for commands not yet delivered: received and unparsed, plus the arguments
   * of a command still incomplete (default 1 GiB, Redis's client-query-buffer-limit). Data
   * beyond it is refused: the next {@link RedisServerProtocol.nextEvent} throws a
   * RemoteProtocolError (code ERR_BUFFER_LIMIT).
   */
  readonly maxBufferedBytes?: number;
  /**
   * Commands delivered and not yet {@link RedisServerProtocol.answered} at which nextEvent
   * returns PAUSED (default: no limit). For a server that answers commands concurrently and
   * wants a bound on how many are in progress.
   */
  readonly maxUnanswered?: number;
  /** While paused, bytes held beyond which {@link RedisServerProtocol.wantsData} is false (default 64 KiB). */
  readonly pausedReadAhead?: number;
  /** How replies are written (strings UTF-8 or binary, how buffers are made). */
  readonly writer?: ReplyWriterOptions;
}

const CR = 13;
const LF = 10;
const EMPTY = new Uint8Array(0);
/** Longest `*<n>\r\n` / `$<n>\r\n` line: type byte, sign, 12 digits, CRLF (and some slack). */
const MAX_HEADER = 32;
/**
 * Most argument slots made before the arguments arrive: a command announcing more grows its
 * array as they come (a `*1000000` header alone must not cost megabytes).
 */
const PREALLOCATED_ARGS = 64;
/** Chunks already consumed at the head of the queue before it is compacted. */
const COMPACT_AFTER = 64;

interface Multibulk {
  remaining: number;
  /** The arguments so far, `args[0, filled)`: made at the announced size (up to PREALLOCATED_ARGS). */
  readonly args: ServerArg[];
  filled: number;
  /** Length of the argument whose body is awaited, or -1 while reading a header. */
  bulk: number;
  /** Bytes of the arguments parsed so far (they count toward maxBufferedBytes). */
  held: number;
}

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;


/** Argument places (the name is place 0) below which binaryArg remembers the last short argument. */
const REMEMBERED_ARGS = 4;
/** Longest argument binaryArg remembers (a redis-benchmark HSET field is 20 bytes). */
const REMEMBERED_LENGTH = 32;

/**
 * Bytes [start, end) of `buf` as a binary string (one char per byte). Up to SHORT_ARG bytes
 * (most keys, fields and small values) in JavaScript; longer ones with `native`, a Node
 * Buffer's latin1Slice (it takes any Uint8Array as `this`: Node checks for an ArrayBufferView),
 * when there is one.
 */
function latin1(native: Latin1Slice | null, buf: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT_ARG) return shortLatin1(buf, start, end);
  if (native !== null) return native.call(buf, start, end);
  let text = '';
  for (let i = start; i < end; i += 8192) text += String.fromCharCode(...buf.subarray(i, Math.min(end, i + 8192)));
  return text;
}

/**
 * The server role of a Redis connection, as a sans-IO protocol object. Arguments come as
 * Uint8Array views; `new RedisServerProtocol<string>({ args: 'binary' })` hands them over as
 * binary strings instead (cheaper for a server that keeps them as strings: no view is made).
 */
export class RedisServerProtocol<A extends ServerArg = Uint8Array> {
  /**
   * Where replies are written: `writer.lend()` the bytes to the socket and `release()` them
   * once written, or take them for good with {@link dataToSend}.
   */
  readonly writer: ReplyWriter;
  private currentState: ServerState = 'reading';
  private mode: ServerMode = 'commands';
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
  /** Arguments as binary strings (`args: 'binary'`). */
  private readonly binary: boolean;
  /** latin1Slice of the first received chunk that was a Node Buffer (a feature test). */
  private nodeLatin1: Latin1Slice | null = null;
  /** The last command name as sent (binary mode) and upper-cased: pipelines repeat it. */
  private lastRawName = '';
  private lastName = '';
  /** The short argument last seen at each place 0..REMEMBERED_ARGS-1 (binary mode; see binaryArg). */
  private readonly recentArgs: string[] = new Array<string>(REMEMBERED_ARGS).fill('');
  /** Their bytes, REMEMBERED_LENGTH bytes for each place. */
  private readonly recentBytes = new Uint8Array(REMEMBERED_ARGS * REMEMBERED_LENGTH);
  private ended = false;
  private closedEvent: RedisServerEvent<A> | null = null;
  private failure: RemoteProtocolError | null = null;
  private unansweredCount = 0;
  private readonly maxArgs: number;
  private readonly maxBulk: number;
  private readonly maxInline: number;
  private readonly maxBuffered: number;
  private readonly maxUnanswered: number;
  private readonly pausedReadAhead: number;

  constructor(...[options]: A extends string ? [RedisServerOptions<A>] : [RedisServerOptions<A>?]) {
    this.binary = options?.args === 'binary';
    this.maxArgs = options?.maxArgs ?? 1024 * 1024;
    this.maxBulk = options?.maxBulkLength ?? 512 * 1024 * 1024;
    this.maxInline = options?.maxInlineLength ?? 64 * 1024;
    this.maxBuffered = options?.maxBufferedBytes ?? 1024 * 1024 * 1024;
    this.maxUnanswered = options?.maxUnanswered ?? Infinity;
    this.pausedReadAhead = options?.pausedReadAhead ?? 64 * 1024;
    this.writer = new ReplyWriter(options?.writer);
  }

  /** The state (SERVER_STATES in state.ts): reading, blocked, closed or error. */
  get state(): ServerState {
    return this.currentState;
  }

  /** The RESP version replies are written in (2 until {@link setProtocol}). */
  get protocol(): RespVersion {
    return this.writer.protocol;
  }

  /** Write replies in `version` from now on: call it when answering HELLO 3 (or RESET). */
  setProtocol(version: RespVersion): void {
    this.writer.setProtocol(version);
  }

  /** Commands delivered by nextEvent and not yet {@link answered}. */
  get unanswered(): number {
    return this.unansweredCount;
  }

  /** Whether the end of the stream was received (it is reported after the commands before it). */
  get inputEnded(): boolean {
    return this.ended;
  }

  /**
   * Bytes held for commands not yet delivered: received and unparsed, plus the arguments of a
   * command still incomplete.
   */
  get bufferedBytes(): number {
    return this.unread + (this.command?.held ?? 0);
  }

  /**
   * Whether reading more from the client is useful now: false once the input ended or failed,
   * and while paused with `pausedReadAhead` bytes or more held (stop reading: TCP then holds
   * the client back).
   */
  get wantsData(): boolean {
    if (this.failure !== null || this.ended) return false;
    if (this.mode === 'commands' && this.unansweredCount < this.maxUnanswered) return true;
    return this.bufferedBytes < this.pausedReadAhead;
  }

  /**
   * Feed bytes from the client; an empty array means end of stream. Queues the chunk as it is
   * (it must not be modified afterwards). After a protocol error it throws that error; after
   * the end of the stream, more bytes are a LocalProtocolError (ERR_AFTER_EOF).
   */
  receiveData(data: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (data.length === 0) {
      this.ended = true;
      return;
    }
    if (this.ended) throw new LocalProtocolError('data received after end of stream', 'ERR_AFTER_EOF');
    if (this.bufferedBytes + data.length > this.maxBuffered) {
      // Refused whole, as Redis closes a client over its query buffer limit.
      this.fail(new RemoteProtocolError('Protocol error: too much unparsed data (query buffer limit)', 'ERR_BUFFER_LIMIT', this.received));
      return;
    }
    if (this.binary && this.nodeLatin1 === null) {
      const native = (data as Uint8Array & { latin1Slice?: Latin1Slice }).latin1Slice;
      if (typeof native === 'function') this.nodeLatin1 = native;
    }
    this.chunks.push(data);
    this.unread += data.length;
    this.received += data.length;
  }

  /**
   * The next complete command; NEED_DATA when more bytes are needed; PAUSED while blocked or
   * at `maxUnanswered` (see the file header); `{ type: 'closed' }` once the stream ended and
   * every command before the end was delivered (again on every later call). Throws
   * RemoteProtocolError on bad input, and that same error on every later call.
   */
  nextEvent(): RedisServerEvent<A> | NeedData | Paused {
    if (this.failure !== null) throw this.failure;
    if (this.mode !== 'commands') return this.closedEvent ?? PAUSED;
    if (this.unansweredCount >= this.maxUnanswered) return PAUSED;
    let event: RedisServerEvent<A> | NeedData;
    try {
      event = this.parse();
    } catch (error) {
      if (error instanceof RemoteProtocolError) this.fail(error);
      throw error;
    }
    if (event !== NEED_DATA) {
      this.unansweredCount++;
      return event;
    }
    if (!this.ended) return NEED_DATA;
    if (this.command !== null || this.unread > 0) {
      this.fail(new RemoteProtocolError('Protocol error: connection closed in the middle of a command', 'ERR_TRUNCATED', this.received));
      throw this.failure;
    }
    this.apply('end-of-stream');
    this.closedEvent = { type: 'closed', unanswered: this.unansweredCount };
    return this.closedEvent;
  }

  /**
   * The server logic blocked the client (a BLPOP with nothing to pop): nextEvent returns PAUSED
   * until {@link unblock}. Only while reading (LocalProtocolError ERR_STATE otherwise).
   */
  block(): void {
    this.apply('block');
  }

  /** The blocked client may go on: nextEvent delivers its next commands again. */
  unblock(): void {
    this.apply('unblock');
  }

  /**
   * `count` of the commands delivered have been answered (their replies written, or none is
   * due). Only needed with `maxUnanswered`, and for the count in the 'closed' event.
   */
  answered(count = 1): void {
    if (count === 1 && this.unansweredCount > 0) {
      this.unansweredCount--;
      return;
    }
    if (!Number.isInteger(count) || count < 0 || count > this.unansweredCount) {
      throw new LocalProtocolError(`answered(${count}) with ${this.unansweredCount} commands unanswered`, 'ERR_NOT_DELIVERED');
    }
    this.unansweredCount -= count;
  }

  /** Write a reply value (see ReplyWriter.value). */
  sendReply(value: RespFrame): void {
    this.writer.value(value);
  }

  /** Write a status reply (`+OK`). */
  sendStatus(text: string): void {
    this.writer.status(text);
  }

  /** Write an error reply; `message` should start with a code such as ERR or WRONGTYPE. */
  sendError(message: string): void {
    this.writer.value(new RespErrorReply(message));
  }

  /** Write a push (RESP3 `>`; an array in RESP2, as Redis sends pub/sub messages). */
  sendPush(kind: string, data: readonly RespValue[]): void {
    this.writer.value(new RespPush(kind, [kind, ...data]));
  }

  /** Take the bytes written so far for good (or null): `writer.take()`. To reuse the buffer, use `writer.lend()` / `writer.release()`. */
  dataToSend(): Uint8Array | null {
    if (this.writer.length === 0) return null;
    return this.writer.take();
  }

  private apply(input: ServerInput): void {
    const next = nextState(SERVER_STATES, this.currentState, input);
    if (next === undefined) throw new LocalProtocolError(`${input} is not possible while the connection is ${this.currentState}`, 'ERR_STATE');
    this.currentState = next;
    this.mode = SERVER_STATES[next].mode;
  }

  private fail(error: RemoteProtocolError): void {
    this.failure = error;
    const next = nextState(SERVER_STATES, this.currentState, 'protocol-error');
    if (next !== undefined) {
      this.currentState = next;
      this.mode = SERVER_STATES[next].mode;
    }
  }

  private parse(): RedisServerEvent<A> | NeedData {
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
          command = newMultibulk(count);
          this.command = command;
        }
      }
      if (command === null) {
        const lineStart = this.offset(0);
        const n = this.header('multibulk length');
        if (n === undefined) return NEED_DATA;
        if (n > this.maxArgs) this.failAt('invalid multibulk length', 'ERR_TOO_MANY_ARGS', lineStart);
        if (n <= 0) continue; // *0 and *-1 are ignored, as Redis does
        command = newMultibulk(n);
        this.command = command;
      }
      // Arguments. Fast path: whole arguments (header, body, CRLF) inside the current chunk;
      // anything else (a chunk boundary, an error to report) is left to the general loop.
      const chunk = this.chunks[this.first];
      if (chunk !== undefined && command.bulk === -1) {
        const start = this.pos;
        const end = chunk.length;
        let pos = start;
        const binary = this.binary;
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
          if (!binary) command.args[command.filled++] = chunk.subarray(body, body + length);
          else {
            const at = command.filled++;
            command.args[at] = this.binaryArg(chunk, body, length, at);
          }
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
        command.args[command.filled++] = this.binary ? latin1(this.nodeLatin1, body, 0, length) : body;
        command.held += length;
        this.consume(length + 2);
        command.bulk = -1;
        command.remaining--;
      }
      this.command = null;
      return { type: 'command', name: this.commandName(command.args[0] as ServerArg), args: command.args as A[], inline: false };
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
  private inline(): RedisServerEvent<A> | NeedData | null {
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
    const delivered: ServerArg[] = this.binary ? args.map((bytes) => latin1(this.nodeLatin1, bytes, 0, bytes.length)) : args;
    return { type: 'command', name: this.commandName(delivered[0] as ServerArg), args: delivered as A[], inline: true };
  }

  /**
   * Argument number `index` (the name is 0), `buf[start, start + length)`, as a binary string.
   * A short one equal to the argument at the same place in the last command that had one there
   * is that same string: pipelines repeat names and keys (and often values); a name reused is
   * what lets {@link commandName} skip upper-casing it, and any string reused costs
   * neither its making nor, as a Map key, its hashing (V8 keeps a string's hash in it). A miss
   * costs the comparison up to the first byte that differs.
   */
  private binaryArg(buf: Uint8Array, start: number, length: number, index: number): string {
    if (length > REMEMBERED_LENGTH || index >= REMEMBERED_ARGS) return latin1(this.nodeLatin1, buf, start, start + length);
    // The bytes are compared with a copy of the last argument's bytes (a typed array against a
    // typed array is several times cheaper per byte than charCodeAt against a typed array).
    const recent = this.recentArgs;
    const last = recent[index] as string;
    const bytes = this.recentBytes;
    const at = index * REMEMBERED_LENGTH;
    if (last.length === length) {
      let i = 0;
      while (i < length && bytes[at + i] === buf[start + i]) i++;
      if (i === length) return last;
    }
    const made = latin1(this.nodeLatin1, buf, start, start + length);
    for (let i = 0; i < length; i++) bytes[at + i] = buf[start + i] as number;
    recent[index] = made;
    return made;
  }

  /** The upper-cased command name; a binary name equal to the last one reuses its string. */
  private commandName(raw: ServerArg): string {
    if (typeof raw !== 'string') return upperAscii(raw);
    if (raw === this.lastRawName) return this.lastName;
    const name = raw.toUpperCase();
    this.lastRawName = raw;
    this.lastName = name;
    return name;
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
      // pop() for the usual one chunk: setting `length` is a call into V8's runtime (~40 ns).
      if (first === 1) chunks.pop();
      else chunks.length = 0;
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

/** A command announced with `count` (> 0) arguments, none received yet. */
function newMultibulk(count: number): Multibulk {
  return { remaining: count, args: new Array<ServerArg>(Math.min(count, PREALLOCATED_ARGS)), filled: 0, bulk: -1, held: 0 };
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
