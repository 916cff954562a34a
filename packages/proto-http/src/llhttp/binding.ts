// llhttp/binding.ts
//
// Our binding of llhttp (the Node project's HTTP/1.x parser, compiled to WebAssembly and
// shipped by undici; see scripts/gen-llhttp.mjs). One WireParser per connection and direction;
// the connection object (connection.ts) turns what it reports into events.
//
// Invariants:
// - The wasm module is compiled and instantiated once per process, on first use (lazily: a
//   program that imports proto-http and never parses pays nothing).
// - All parsers share ONE input region in wasm memory, grown to the largest chunk seen: a
//   chunk is copied there and executed. So `execute` is not re-entrant: a sink that parses
//   again from inside a callback gets an error, never corrupted input. When a parser paused in
//   a chunk and is next given the rest of that same chunk (pipelined requests, one at a time),
//   and no other chunk was copied meanwhile, the rest is still there and is not copied again:
//   a chunk of n requests costs one copy, not n (so the rest must not change in between).
// - Positions reported to the sink are offsets into bytes the caller owns, never views of wasm
//   memory: body data is `chunk[start, end)` of the chunk given to `execute` (zero copy); a
//   message head is a list of offsets into `head.bytes`, which is that chunk itself when the
//   head arrived in one chunk (zero copy), or a private copy of the head when it was cut
//   across chunks ("carry" mode, below). Strings are made only when someone asks.
// - The work per byte is bounded: a head (start line and fields) longer than `maxHeadBytes`,
//   a request target longer than `maxTargetBytes`, or more than `maxFields` fields fail the
//   parse (code HPE_USER, with `limit` set), after at most that many bytes were copied.
//
// Discussion: why spans need joining. llhttp reports the URL, the status reason, each field
// name and each field value as spans of the input, through a callback each; it reports no
// "span complete" (those callbacks are not imported by this build). A span cut by the end of
// an execute arrives in two calls, the second at the start of the next chunk. So while a
// message's head (or its trailers) is incomplete at the end of an execute, the head so far is
// copied into a carry buffer and later spans are appended to it as they arrive: a span that
// continues the previous one is then adjacent to it in the carry, and is joined by extending
// it. Header boundaries are found as llhttp orders its calls: a field name after a value (or
// after the start line) begins a new field.

import { LLHTTP_WASM_BASE64 } from './wasm.generated.js';

/** llhttp's error numbers (llhttp.h, `llhttp_errno`) that proto-http tells apart. */
export const HPE = {
  OK: 0,
  INTERNAL: 1,
  STRICT: 2,
  LF_EXPECTED: 3,
  UNEXPECTED_CONTENT_LENGTH: 4,
  CLOSED_CONNECTION: 5,
  INVALID_METHOD: 6,
  INVALID_URL: 7,
  INVALID_CONSTANT: 8,
  INVALID_VERSION: 9,
  INVALID_HEADER_TOKEN: 10,
  INVALID_CONTENT_LENGTH: 11,
  INVALID_CHUNK_SIZE: 12,
  INVALID_STATUS: 13,
  INVALID_EOF_STATE: 14,
  INVALID_TRANSFER_ENCODING: 15,
  PAUSED: 21,
  PAUSED_UPGRADE: 22,
  USER: 24,
  CR_EXPECTED: 25,
  UNEXPECTED_SPACE: 30,
} as const;

/** Parser types (llhttp_type_t). */
export const REQUEST = 1;
export const RESPONSE = 2;

/** What `onHead` answers (llhttp's on_headers_complete return values). */
export const HEAD_CONTINUE = 0;
/** The message has no body whatever its headers say (a response to HEAD, a 1xx...). */
export const HEAD_NO_BODY = 1;
/** No body, and stop after the head: the bytes after it belong to another protocol. */
export const HEAD_UPGRADE = 2;

/** Which limit a parse broke (set when execute returns HPE.USER). */
export type WireLimit = 'head' | 'target' | 'fields' | 'body';

/** A message head as received: offsets into `bytes`, strings made by whoever asks. */
export interface WireHead {
  /** The bytes the offsets point into (the caller's chunk, or a copy of a head cut across chunks). */
  readonly bytes: Uint8Array;
  /**
   * Offsets: [targetStart, targetEnd] (request target, or response reason phrase), then per
   * field [nameStart, nameEnd, valueStart, valueEnd] (a value never reported is -1, -1: empty).
   */
  readonly spans: readonly number[];
  /** Number of fields. */
  readonly fieldCount: number;
  /** llhttp's method number (requests; see methodName). */
  readonly method: number;
  /** Status code (responses). */
  readonly status: number;
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** llhttp's view: an Upgrade (or CONNECT) that will hand the connection over. */
  readonly upgrade: boolean;
  /** llhttp's view of keep-alive for this message (version and Connection header). */
  readonly keepAlive: boolean;
}

/** Trailer fields, as offsets into `bytes`: the layout of a head's spans (fields from index 2; 0 and 1 unused). */
export interface WireFields {
  readonly bytes: Uint8Array;
  readonly spans: readonly number[];
  readonly fieldCount: number;
}

/** Who hears a WireParser (one object: no closure per message). */
export interface WireSink {
  /**
   * A head is complete: HEAD_CONTINUE, HEAD_NO_BODY or HEAD_UPGRADE. `head` is the parser's own,
   * filled again for the next message: read it now (its `bytes` and `spans` may be kept).
   */
  onHead(head: WireHead): number;
  /** Body bytes: `chunk[start, end)` (chunked framing removed). True: too much, stop (limit 'body'). */
  onBody(chunk: Uint8Array, start: number, end: number): boolean;
  /** The message ended (`trailers`: its trailer fields, or null). True: pause after it. */
  onMessageComplete(trailers: WireFields | null): boolean;
}

/** Limits of one parser (bytes, fields). */
export interface WireLimits {
  readonly maxHeadBytes: number;
  readonly maxTargetBytes: number;
  readonly maxFields: number;
}

// -------------------------------------------------------------------------------------------
// The module, instantiated once

type Fn = (...args: number[]) => number;

/**
 * The part of the WebAssembly API used here, reached through globalThis: declaring the global
 * would clash with the declarations of a host that has it (DOM), and Node's types have none.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, Fn>>) => { readonly exports: Record<string, Fn | WasmMemory> };
}
const host = globalThis as unknown as { readonly WebAssembly: WasmApi; atob(data: string): string };

interface Llhttp {
  readonly memory: WasmMemory;
  readonly alloc: Fn;
  readonly free: Fn;
  readonly malloc: Fn;
  readonly release: Fn;
  readonly execute: Fn;
  readonly finish: Fn;
  readonly resume: Fn;
  readonly resumeAfterUpgrade: Fn;
  readonly errorPos: Fn;
  readonly errorReason: Fn;
  readonly method: Fn;
  readonly methodName: Fn;
  readonly major: Fn;
  readonly minor: Fn;
  readonly status: Fn;
  readonly reset: Fn;
  readonly messageNeedsEof: Fn;
}

let llhttp: Llhttp | null = null;
/** The parser whose execute is running (callbacks go to it). */
let current: WireParser | null = null;
/** The shared input region. */
let inputPtr = 0;
let inputSize = 0;
/**
 * What the input region holds: `resident[residentFrom, residentTo)` (the last chunk executed),
 * so that executing the rest of it after a pause copies nothing again (a chunk of n pipelined
 * requests is copied once, not n times).
 */
let resident: Uint8Array | null = null;
let residentParser: WireParser | null = null;
let residentFrom = 0;
let residentTo = 0;
let memoryView = new Uint8Array(0);

function view(): Uint8Array {
  // Growing the memory detaches its old buffer (a view of it then has length 0): only then is a
  // new view made (asking the memory for its buffer on every execute costs more than the check).
  if (memoryView.length === 0) memoryView = new Uint8Array((llhttp as Llhttp).memory.buffer);
  return memoryView;
}

function decodeBase64(text: string): Uint8Array {
  const binary = host.atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function active(): WireParser {
  return current as WireParser;
}

function load(): Llhttp {
  if (llhttp !== null) return llhttp;
  const module = new host.WebAssembly.Module(decodeBase64(LLHTTP_WASM_BASE64));
  const instance = new host.WebAssembly.Instance(module, {
    env: {
      wasm_on_message_begin: () => active().messageBegin(),
      wasm_on_url: (_p, at, length) => active().span(TARGET, at as number, length as number),
      wasm_on_status: (_p, at, length) => active().span(TARGET, at as number, length as number),
      wasm_on_header_field: (_p, at, length) => active().span(FIELD, at as number, length as number),
      wasm_on_header_value: (_p, at, length) => active().span(VALUE, at as number, length as number),
      wasm_on_headers_complete: (_p, status, upgrade, keepAlive) => active().headersComplete(status as number, upgrade === 1, keepAlive === 1),
      wasm_on_body: (_p, at, length) => active().body(at as number, length as number),
      wasm_on_message_complete: () => active().messageComplete(),
    },
  });
  const e = instance.exports;
  const fn = (name: string): Fn => {
    const f = e[name];
    if (typeof f !== 'function') throw new Error(`llhttp wasm: no export ${name}`);
    return f;
  };
  (fn('_initialize') as () => number)();
  llhttp = {
    memory: e['memory'] as WasmMemory,
    alloc: fn('llhttp_alloc'),
    free: fn('llhttp_free'),
    malloc: fn('malloc'),
    release: fn('free'),
    execute: fn('llhttp_execute'),
    finish: fn('llhttp_finish'),
    resume: fn('llhttp_resume'),
    resumeAfterUpgrade: fn('llhttp_resume_after_upgrade'),
    errorPos: fn('llhttp_get_error_pos'),
    errorReason: fn('llhttp_get_error_reason'),
    method: fn('llhttp_get_method'),
    methodName: fn('llhttp_method_name'),
    major: fn('llhttp_get_http_major'),
    minor: fn('llhttp_get_http_minor'),
    status: fn('llhttp_get_status_code'),
    reset: fn('llhttp_reset'),
    messageNeedsEof: fn('llhttp_message_needs_eof'),
  };
  return llhttp;
}

/** Make the shared input region at least `size` bytes. */
function reserveInput(w: Llhttp, size: number): void {
  if (size <= inputSize) return;
  resident = null;
  if (inputPtr !== 0) w.release(inputPtr);
  let grown = Math.max(inputSize * 2, 16384);
  while (grown < size) grown *= 2;
  inputPtr = w.malloc(grown);
  if (inputPtr === 0) throw new RangeError(`llhttp wasm: cannot allocate ${grown} bytes`);
  inputSize = grown;
}

/** A NUL-terminated string in wasm memory (ASCII). */
function cString(pointer: number): string {
  if (pointer === 0) return '';
  const memory = view();
  let end = pointer;
  while (end < memory.length && memory[end] !== 0) end++;
  let text = '';
  for (let i = pointer; i < end; i++) text += String.fromCharCode(memory[i] as number);
  return text;
}

const methodNames: string[] = [];

/** The name of llhttp's method number `method` ('GET', 'M-SEARCH'...). */
export function methodName(method: number): string {
  let name = methodNames[method];
  if (name === undefined) {
    name = cString(load().methodName(method));
    methodNames[method] = name;
  }
  return name;
}

/** Parsers freed when their owner forgot to (a dropped connection object). */
const finalizer = new FinalizationRegistry<number>((pointer) => {
  if (llhttp !== null) llhttp.free(pointer);
});

// Span kinds.
const NONE = 0;
const TARGET = 1;
const FIELD = 2;
const VALUE = 3;

/** Where a message is, for the carry (see "Discussion: why spans need joining"). */
const OUTSIDE = 0;
const IN_HEAD = 1;
const IN_BODY = 2;

const EMPTY = new Uint8Array(0);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NO_SPANS: readonly number[] = [];
/** What onHead is given (see headersComplete). */
const sharedHead: Mutable<WireHead> = { bytes: EMPTY, spans: NO_SPANS, fieldCount: 0, method: -1, status: 0, versionMajor: 0, versionMinor: 0, upgrade: false, keepAlive: false };

/** One direction of one connection: bytes in, heads / body / ends out to a sink. */
export class WireParser {
  private pointer: number;
  /** The chunk being executed, and `at + chunkDelta` = an offset into it. */
  private chunk: Uint8Array = EMPTY;
  private chunkDelta = 0;
  /** Where spans go: the chunk (direct) or the carry; `at + spanDelta` = an offset into `source`. */
  private source: Uint8Array = EMPTY;
  private spanDelta = 0;
  /** The carry (a head cut across chunks): `carryLength` bytes used; `carryFrom`: chunk bytes appended so far end here. */
  private carry: Uint8Array | null = null;
  private carryLength = 0;
  private carryFrom = 0;
  private phase = OUTSIDE;
  private spans: number[] = [];
  /** `spans` went out with a head or trailers (it is theirs now). */
  private spansOut = false;
  private fields = 0;
  private last = NONE;
  private lastEnd = -1;
  private firstStart = -1;
  /** The limit the last parse broke, if execute returned HPE.USER. */
  limit: WireLimit | null = null;
  /** Where the last execute stopped (an offset into its chunk) when it returned an error or a pause. */
  stoppedAt = 0;

  constructor(
    readonly type: typeof REQUEST | typeof RESPONSE,
    private readonly sink: WireSink,
    private readonly limits: WireLimits,
  ) {
    const w = load();
    this.pointer = w.alloc(type);
    if (this.pointer === 0) throw new RangeError('llhttp wasm: cannot allocate a parser');
    finalizer.register(this, this.pointer, this);
  }

  /**
   * Parse `chunk[offset, end)`: the sink hears what completes. Returns HPE.OK (all consumed),
   * HPE.PAUSED (the sink paused after a message: `stoppedAt` is where the next begins; call
   * resume() before executing more), HPE.PAUSED_UPGRADE (the bytes from `stoppedAt` on belong
   * to the protocol switched to), or an error number (see `reason()`, `limit`, `stoppedAt`).
   */
  execute(chunk: Uint8Array, offset = 0, end = chunk.length): number {
    if (current !== null) throw new Error('WireParser.execute is not re-entrant: a sink callback parsed again');
    if (this.pointer === 0) throw new Error('WireParser: destroyed');
    const w = load();
    const length = end - offset;
    let pointer: number;
    if (resident === chunk && residentParser === this && offset === this.stoppedAt && offset >= residentFrom && end <= residentTo) {
      pointer = inputPtr + (offset - residentFrom);
    } else {
      reserveInput(w, length);
      view().set(offset === 0 && end === chunk.length ? chunk : chunk.subarray(offset, end), inputPtr);
      resident = chunk;
      residentParser = this;
      residentFrom = offset;
      residentTo = end;
      pointer = inputPtr;
    }
    this.chunk = chunk;
    this.chunkDelta = offset - pointer;
    if (this.carry !== null) {
      this.source = this.carry;
      this.carryFrom = offset;
      this.spanDelta = this.carryLength - pointer;
    } else {
      this.source = chunk;
      this.spanDelta = this.chunkDelta;
    }
    current = this;
    let result: number;
    try {
      result = w.execute(this.pointer, pointer, length);
    } finally {
      current = null;
    }
    if (result !== HPE.OK) this.stoppedAt = w.errorPos(this.pointer) + this.chunkDelta;
    else this.stoppedAt = end;
    if (result === HPE.OK || result === HPE.PAUSED) this.keepHead(end);
    this.chunk = EMPTY;
    // Between executes only a carried head is needed: an idle connection then holds none of
    // the last chunk it read (the events made from it hold what they need).
    if (this.carry === null) this.source = EMPTY;
    return result;
  }

  /** The input ended (EOF): completes a body read until close; returns HPE.OK or an error. */
  finish(): number {
    const w = load();
    current = this;
    let result: number;
    try {
      result = w.finish(this.pointer);
    } finally {
      current = null;
    }
    return result;
  }

  /** Go on after HPE.PAUSED. */
  resume(): void {
    load().resume(this.pointer);
  }

  /** Go on after HPE.PAUSED_UPGRADE (the upgrade was refused: parse HTTP again). */
  resumeAfterUpgrade(): void {
    load().resumeAfterUpgrade(this.pointer);
  }

  /** Whether the message being read ends only when the connection closes. */
  get needsEof(): boolean {
    return load().messageNeedsEof(this.pointer) === 1;
  }

  /** llhttp's reason for the last error. */
  reason(): string {
    return cString(load().errorReason(this.pointer));
  }

  /** Forget the message under way (start clean: after an error, before reusing the parser). */
  reset(): void {
    load().reset(this.pointer);
    this.clearMessage();
    this.limit = null;
  }

  /** Free the parser's wasm memory. */
  destroy(): void {
    if (this.pointer === 0) return;
    finalizer.unregister(this);
    load().free(this.pointer);
    this.pointer = 0;
  }

  // -------------------------------------------------------------------------------------------
  // Callbacks (from inside execute)

  /** Whether a message has begun and not ended (bytes of it were parsed). */
  get inMessage(): boolean {
    return this.phase !== OUTSIDE;
  }

  /** @internal */
  messageBegin(): number {
    this.clearMessage();
    this.phase = IN_HEAD;
    return 0;
  }

  /** @internal */
  span(kind: number, at: number, length: number): number {
    if (this.source !== this.chunk) this.appendToCarry(at + this.chunkDelta + length);
    const start = at + this.spanDelta;
    const end = start + length;
    const spans = this.spans;
    if (this.firstStart < 0) this.firstStart = start;
    if (kind === this.last && start === this.lastEnd) {
      // The rest of a span cut by the end of the previous execute.
      spans[kind === TARGET ? 1 : kind === FIELD ? 4 * this.fields - 1 : 4 * this.fields + 1] = end;
    } else if (kind === TARGET) {
      spans[0] = start;
      spans[1] = end;
    } else if (kind === FIELD) {
      if (this.fields >= this.limits.maxFields) return this.broke('fields');
      // Field i at 2 + 4i (the array is reused: its length is not the fields').
      const o = 2 + 4 * this.fields++;
      spans[o] = start;
      spans[o + 1] = end;
      spans[o + 2] = -1;
      spans[o + 3] = -1;
    } else {
      const o = 4 * this.fields;
      spans[o] = start;
      spans[o + 1] = end;
    }
    this.last = kind;
    this.lastEnd = end;
    if (kind === TARGET && spans[1]! - spans[0]! > this.limits.maxTargetBytes) return this.broke('target');
    if (end - this.firstStart > this.limits.maxHeadBytes) return this.broke('head');
    return 0;
  }

  /** @internal */
  headersComplete(status: number, upgrade: boolean, keepAlive: boolean): number {
    const w = llhttp as Llhttp;
    // One head object for every parser (execute is not re-entrant), filled again for each
    // message: the sink reads it during onHead only (what it keeps, it takes out).
    const head = sharedHead;
    head.bytes = this.source;
    head.spans = this.spans;
    head.fieldCount = this.fields;
    head.method = this.type === REQUEST ? w.method(this.pointer) : -1;
    head.status = status;
    head.versionMajor = w.major(this.pointer);
    head.versionMinor = w.minor(this.pointer);
    head.upgrade = upgrade;
    head.keepAlive = keepAlive;
    this.spansOut = true;
    // Trailers (if any) are spans of their own, from the current chunk.
    this.startSpans();
    this.phase = IN_BODY;
    try {
      return this.sink.onHead(head);
    } finally {
      // Nothing of this message is held once onHead returned.
      head.bytes = EMPTY;
      head.spans = NO_SPANS;
    }
  }

  /** @internal */
  body(at: number, length: number): number {
    const start = at + this.chunkDelta;
    return this.sink.onBody(this.chunk, start, start + length) ? this.broke('body') : 0;
  }

  /** @internal */
  messageComplete(): number {
    const trailers: WireFields | null = this.fields === 0 ? null : { bytes: this.source, spans: this.spans, fieldCount: this.fields };
    if (trailers !== null) this.spansOut = true;
    this.clearMessage();
    return this.sink.onMessageComplete(trailers) ? HPE.PAUSED : 0;
  }

  // -------------------------------------------------------------------------------------------

  private broke(limit: WireLimit): number {
    this.limit = limit;
    return HPE.USER;
  }

  private clearMessage(): void {
    this.phase = OUTSIDE;
    this.startSpans();
  }

  /**
   * Spans from the current chunk again (the carry, if any, is left to its head): a new span list
   * if the last one was handed out with a head or trailers, else the same one emptied.
   */
  private startSpans(): void {
    if (this.spansOut) {
      // A new list: a literal shares its elements until the first write (an idle connection
      // holds no grown list).
      this.spans = [-1, -1];
      this.spansOut = false;
    } else if (this.spans[0] !== -1 || this.spans[1] !== -1) {
      this.spans[0] = -1;
      this.spans[1] = -1;
    }
    this.fields = 0;
    this.last = NONE;
    this.lastEnd = -1;
    this.firstStart = -1;
    this.carry = null;
    this.carryLength = 0;
    this.source = this.chunk;
    this.spanDelta = this.chunkDelta;
  }

  /** Append the chunk's bytes up to `upTo` (a chunk offset) to the carry. */
  private appendToCarry(upTo: number): void {
    const from = this.carryFrom;
    if (upTo <= from) return;
    const needed = this.carryLength + (upTo - from);
    let carry = this.carry as Uint8Array;
    if (needed > carry.length) {
      const grown = new Uint8Array(Math.max(needed, carry.length * 2));
      grown.set(carry.subarray(0, this.carryLength));
      carry = this.carry = grown;
      this.source = grown;
    }
    carry.set(this.chunk.subarray(from, upTo), this.carryLength);
    this.carryLength = needed;
    this.carryFrom = upTo;
  }

  /** After an execute: a head (or trailers) still incomplete keeps its bytes in the carry. */
  private keepHead(end: number): void {
    if (this.phase === OUTSIDE || this.firstStart < 0) return;
    if (this.phase === IN_BODY && this.fields === 0) return; // in a body, no trailers begun
    if (this.source === this.chunk) {
      // Copy the head so far from the chunk: offsets rebased to the carry.
      const first = this.firstStart;
      const carry = new Uint8Array(Math.max(2 * (end - first), 1024));
      carry.set(this.chunk.subarray(first, end));
      const spans = this.spans;
      const used = 2 + 4 * this.fields;
      for (let i = 0; i < used; i++) if (spans[i]! >= 0) spans[i] = spans[i]! - first;
      this.lastEnd -= first;
      this.firstStart = 0;
      this.carry = carry;
      this.carryLength = end - first;
    } else this.appendToCarry(end);
  }
}
