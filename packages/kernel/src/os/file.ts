// os/file.ts
//
// Async files (Curio's curio.file): `aopen(path, mode)` gives an AsyncFile whose blocking
// operations are kernel waits, so each can be cancelled or timed out like any other.
//
// Built on a node:fs FileHandle with positional reads and writes and the file's own position
// counter, never the descriptor's offset. That is what makes cancellation safe: an operation
// handed to the OS cannot be recalled, but it does not have to be. When the waiting task is
// cancelled the operation finishes in the background and lands where it would have:
//
// - A read fills the read-ahead buffer. Reads take bytes from the buffer only once they have
//   everything they need (n bytes, a whole line, the whole file), so a cancelled read, readline
//   or readAll consumed nothing: the position is unchanged and the bytes read so far wait in the
//   buffer for the next call.
// - A write reserves its range of the file when it is handed to the OS. A cancelled write still
//   completes and the position counts it; if it fails, the error is raised by the next operation
//   on the file (or by close).
//
// Invariants:
// - The logical position is `pos - readAhead.length + writeBehind.length`; at most one of the
//   two buffers is non-empty. Read-ahead holds the bytes just before `pos`, write-behind the
//   bytes that go at `pos`.
// - At most one OS operation is in flight (`inflight`); every operation starts only when none
//   is, so an abandoned operation always completes before the next one starts.
// - Operations that may block hold `lock` for their whole course; non-blocking fast paths run
//   only when the lock is free and nothing is in flight, so operations never interleave.
//
// Text files decode and encode with an ASCII-compatible encoding (utf8, latin1, ascii): a byte
// 0x0A is always a newline, which lets lines be found in the raw bytes. Positions (`tell`,
// `seek`) are byte offsets in both modes.

import { open as fsOpen } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { PathLike, Stats } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkCancellation, waitExternal } from '../cancellation.js';
import { Lock } from '../sync.js';
import type { TaskState } from '../task.js';
import { currentTaskOrNull } from '../traps.js';
import { ByteBuffer } from './bytebuffer.js';
import { ClosedResourceError, OSError, UnsupportedOperation } from './errors.js';

/** Modes that open a text file: read, write (truncate), append, exclusive create; `+` adds the other direction. */
export type TextMode = 'r' | 'w' | 'a' | 'x' | 'r+' | 'w+' | 'a+' | 'x+';
/** Modes that open a binary file (the text modes with `b`). */
export type BinaryMode =
  | 'rb'
  | 'wb'
  | 'ab'
  | 'xb'
  | 'r+b'
  | 'w+b'
  | 'a+b'
  | 'x+b'
  | 'rb+'
  | 'wb+'
  | 'ab+'
  | 'xb+';
/** Every mode {@link aopen} accepts. */
export type FileMode = TextMode | BinaryMode;
/** Encodings of text files. All are ASCII-compatible, so lines can be found in raw bytes. */
export type TextEncoding = 'utf8' | 'utf-8' | 'latin1' | 'ascii';
/** Where {@link AsyncFile.seek} counts from. */
export type Whence = 'start' | 'current' | 'end';

/** Options of {@link aopen} for binary files. */
export interface FileOptions {
  /**
   * Size in bytes of the write buffer and of read-ahead chunks (default 65536). Writes smaller
   * than the space left in the buffer return at once; 0 sends every write to the OS at once.
   */
  bufferSize?: number;
  /** Permission bits of a file the open creates (default 0o666, less the umask). */
  permissions?: number;
}

/** Options of {@link aopen} for text files. */
export interface TextFileOptions extends FileOptions {
  /** Text encoding (default 'utf8'). */
  encoding?: TextEncoding;
}

const DEFAULT_BUFFER = 65536;
/** Largest single OS read (read-ahead requests double up to this). */
const MAX_FILL = 64 * 1024 * 1024;
const NEWLINE = 0x0a;
const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};
/** Returned by a read attempt that needs more bytes than are buffered. */
const MORE: unique symbol = Symbol('more');

/** How a file's contents become values (text or bytes) and back. */
interface Codec<T> {
  readonly encoding: BufferEncoding | null;
  /** The empty value ('' or an empty array). */
  readonly empty: T;
  /** Encode `data`; throws TypeError for the wrong kind of value. */
  encode(data: T): Uint8Array;
  /** Size of `data` as write() reports it (characters or bytes). */
  size(data: T): number;
  /** Remove `bytes` bytes from the buffer and decode them. */
  take(buffer: ByteBuffer, bytes: number): T;
  /**
   * How many bytes hold the first `n` units (characters or bytes) of the buffer, or -1 if the
   * buffer may not yet hold them all and more could come (`eof` false).
   */
  cut(buffer: ByteBuffer, n: number, eof: boolean): number;
}

const bytesCodec: Codec<Uint8Array> = {
  encoding: null,
  empty: new Uint8Array(0),
  encode(data) {
    if (!(data instanceof Uint8Array)) throw new TypeError('write to a binary file: expected a Uint8Array');
    return data;
  },
  size: (data) => data.length,
  take: (buffer, bytes) => buffer.take(bytes),
  cut: (buffer, n, eof) => (buffer.length >= n ? n : eof ? buffer.length : -1),
};

function textCodec(encoding: 'utf8' | 'latin1' | 'ascii'): Codec<string> {
  const multiByte = encoding === 'utf8';
  return {
    encoding,
    empty: '',
    encode(data) {
      if (typeof data !== 'string') throw new TypeError('write to a text file: expected a string');
      return Buffer.from(data, encoding);
    },
    size: (data) => data.length,
    take: (buffer, bytes) => buffer.takeString(bytes, encoding),
    cut(buffer, n, eof) {
      if (!multiByte) return buffer.length >= n ? n : eof ? buffer.length : -1;
      // n characters end where the (n+1)-th begins: count UTF-8 lead bytes.
      const bytes = buffer.view();
      let chars = 0;
      for (let i = 0; i < bytes.length; i++) {
        if (((bytes[i] as number) & 0xc0) !== 0x80) {
          if (chars === n) return i;
          chars++;
        }
      }
      return eof ? bytes.length : -1;
    },
  };
}

/** What a mode string means. */
interface ModeSpec {
  readonly flags: string;
  readonly binary: boolean;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly appending: boolean;
}

const MODE_PATTERN = /^([rwax])(\+?)(b?)(\+?)$/;
const BASE_FLAGS: Record<string, string> = { r: 'r', w: 'w', a: 'a', x: 'wx' };

function parseMode(mode: string): ModeSpec {
  const match = typeof mode === 'string' ? MODE_PATTERN.exec(mode) : null;
  if (match === null || (match[2] !== '' && match[4] !== '')) {
    throw new TypeError(`aopen: invalid mode ${JSON.stringify(mode)} (expected r, w, a or x, with optional + and b)`);
  }
  const base = match[1] as string;
  const plus = match[2] !== '' || match[4] !== '';
  return {
    flags: `${BASE_FLAGS[base] as string}${plus ? '+' : ''}`,
    binary: match[3] !== '',
    readable: base === 'r' || plus,
    writable: base !== 'r' || plus,
    appending: base === 'a',
  };
}

function textEncoding(encoding: unknown): 'utf8' | 'latin1' | 'ascii' {
  switch (encoding) {
    case 'utf8':
    case 'utf-8':
      return 'utf8';
    case 'latin1':
    case 'ascii':
      return encoding;
    default:
      throw new TypeError(`aopen: unsupported text encoding ${JSON.stringify(encoding)} (use utf8, latin1 or ascii)`);
  }
}

/** Wait in `state` for a Promise, as a cancellable kernel wait. */
function waitOn<T>(promise: PromiseLike<T>, state: TaskState): Promise<T> {
  return waitExternal<T>(state, (wake) => {
    promise.then(
      (value) => wake.resolve(value),
      (error: unknown) => wake.reject(error),
    );
    return noop;
  });
}

function pathString(path: PathLike): string {
  return path instanceof URL ? fileURLToPath(path) : path.toString();
}

function systemError(code: string, message: string, syscall: string, path: string): OSError {
  return new OSError(`${code}: ${message}, ${syscall} '${path}'`, { code, syscall, path });
}

/**
 * Open a file. Modes are Python's: `'r'` read, `'w'` write (create or truncate), `'a'` append
 * (create), `'x'` exclusive create, each with `+` for reading and writing; a `b` gives a binary
 * file (values are Uint8Array) instead of a text file (strings, utf8 unless `encoding` says).
 * Fails with an {@link OSError} keeping the system's code (`ENOENT`, `EACCES`, `EEXIST`,
 * `EISDIR`...). Cancellable: a cancelled open closes the file it opened.
 *
 * ```ts
 * await using file = await aopen('notes.txt');
 * for await (const line of file) console.log(line.trimEnd());
 * ```
 */
export function aopen(path: PathLike, mode?: TextMode, options?: TextFileOptions): Promise<AsyncFile<string>>;
export function aopen(path: PathLike, mode: BinaryMode, options?: FileOptions): Promise<AsyncFile<Uint8Array>>;
export function aopen(path: PathLike, mode: FileMode, options?: TextFileOptions): Promise<AsyncFile<string> | AsyncFile<Uint8Array>>;
export async function aopen(
  path: PathLike,
  mode: FileMode = 'r',
  options: TextFileOptions = {},
): Promise<AsyncFile<string> | AsyncFile<Uint8Array>> {
  const spec = parseMode(mode);
  if (spec.binary && options.encoding !== undefined) {
    throw new TypeError('aopen: a binary file takes no encoding');
  }
  const codec = spec.binary ? bytesCodec : textCodec(textEncoding(options.encoding ?? 'utf8'));
  const bufferSize = options.bufferSize ?? DEFAULT_BUFFER;
  if (!Number.isInteger(bufferSize) || bufferSize < 0) throw new TypeError('aopen: bufferSize must be an integer >= 0');
  const name = pathString(path);
  const opening = openHandle(path, name, spec, options.permissions ?? 0o666);
  let opened: { handle: FileHandle; stats: Stats };
  try {
    opened = await waitOn(opening, 'FILE_OPEN');
  } catch (error) {
    // Cancelled while the OS was opening: close what it opens.
    opening.then(({ handle }) => handle.close(), noop).catch(noop);
    throw OSError.from(error);
  }
  const { handle, stats } = opened;
  const init = { handle, path: name, mode, spec, bufferSize, stats };
  return spec.binary
    ? new AsyncFile<Uint8Array>(init, bytesCodec)
    : new AsyncFile<string>(init, codec as Codec<string>);
}

async function openHandle(
  path: PathLike,
  name: string,
  spec: ModeSpec,
  permissions: number,
): Promise<{ handle: FileHandle; stats: Stats }> {
  const handle = await fsOpen(path, spec.flags, permissions);
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw systemError('EISDIR', 'illegal operation on a directory', 'open', name);
    return { handle, stats };
  } catch (error) {
    await handle.close().catch(noop);
    throw error;
  }
}

/** What {@link AsyncFile}'s constructor needs. @internal */
interface FileInit {
  readonly handle: FileHandle;
  readonly path: string;
  readonly mode: FileMode;
  readonly spec: ModeSpec;
  readonly bufferSize: number;
  readonly stats: Stats;
}

/**
 * An open file whose blocking operations are kernel waits. `T` is `string` for text files and
 * `Uint8Array` for binary ones. Created by {@link aopen}. Operations run one at a time in the
 * order tasks call them. Non-blocking ones (a read the buffer can serve, a write that fits in
 * the write buffer) return at once without a kernel trap.
 *
 * Every value returned is the caller's own copy.
 */
export class AsyncFile<T extends string | Uint8Array> implements AsyncIterable<T>, AsyncDisposable {
  /** The path the file was opened with. */
  readonly path: string;
  /** The mode the file was opened with. */
  readonly mode: FileMode;
  /** The text encoding, or null for a binary file. */
  readonly encoding: BufferEncoding | null;

  private readonly handle: FileHandle;
  private readonly codec: Codec<T>;
  private readonly spec: ModeSpec;
  /** Regular files are read and written at explicit offsets; pipes and devices sequentially. */
  private readonly seekable: boolean;
  private readonly bufferSize: number;
  private readonly chunk: number;
  private readonly readAhead = new ByteBuffer();
  private readonly writeBehind = new ByteBuffer();
  private readonly lock = new Lock();
  /** OS offset just past the read-ahead bytes, where write-behind bytes go. */
  private pos: number;
  private inflight: Promise<void> | null = null;
  /** The error of an operation whose task was cancelled; raised by the next operation. */
  private deferred: unknown = null;
  private closing: Promise<void> | null = null;

  /** @internal Use {@link aopen}. */
  constructor(init: FileInit, codec: Codec<T>) {
    this.handle = init.handle;
    this.path = init.path;
    this.mode = init.mode;
    this.spec = init.spec;
    this.codec = codec;
    this.encoding = codec.encoding;
    this.seekable = init.stats.isFile();
    this.bufferSize = init.bufferSize;
    this.chunk = init.bufferSize > 0 ? init.bufferSize : DEFAULT_BUFFER;
    this.pos = init.spec.appending && this.seekable ? init.stats.size : 0;
  }

  /** The file descriptor (for passing to other APIs; do not read or write it directly). */
  get fd(): number {
    return this.handle.fd;
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.closing !== null;
  }

  // ------------------------------------------------------------------------------------------
  // Reading

  /**
   * Read up to `n` characters (Unicode code points, in a text file) or bytes (in a binary
   * one); fewer only at the end of the file, and an empty value at the end. Without `n` (or
   * with a negative one), read to the end. Cancelled or timed out, it reads nothing: the
   * position is unchanged.
   */
  read(n?: number): Promise<T> {
    if (n === undefined || n < 0) return this.readAll();
    if (!Number.isInteger(n)) return Promise.reject(new TypeError('read: n must be an integer'));
    return this.attempt(() => (eof) => {
      const bytes = this.codec.cut(this.readAhead, n, eof);
      return bytes < 0 ? MORE : this.codec.take(this.readAhead, bytes);
    }, n);
  }

  /** Read to the end of the file. Cancelled or timed out, it reads nothing. */
  readAll(): Promise<T> {
    return this.attempt(() => (eof) => (eof ? this.codec.take(this.readAhead, this.readAhead.length) : MORE), 0);
  }

  /**
   * Read one line, with its terminator (`\n`, or `\r\n` as it is in the file); the last line
   * may have none, and the end of the file gives an empty value. Cancelled or timed out, it
   * reads nothing.
   */
  readline(): Promise<T> {
    return this.attempt(() => {
      let scanned = 0;
      return (eof) => {
        const at = this.readAhead.indexOf(NEWLINE, scanned);
        if (at >= 0) return this.codec.take(this.readAhead, at + 1);
        if (eof) return this.codec.take(this.readAhead, this.readAhead.length);
        scanned = this.readAhead.length;
        return MORE;
      };
    }, 0);
  }

  /** Read every remaining line (see {@link readline}). Cancelled or timed out, it reads nothing. */
  readlines(): Promise<T[]> {
    return this.attempt(() => (eof) => {
      if (!eof) return MORE;
      const lines: T[] = [];
      while (this.readAhead.length > 0) {
        const at = this.readAhead.indexOf(NEWLINE);
        lines.push(this.codec.take(this.readAhead, at < 0 ? this.readAhead.length : at + 1));
      }
      return lines;
    }, 0);
  }

  /** Lines until the end of the file, as {@link readline} gives them. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      const line = await this.readline();
      if (this.codec.size(line) === 0) return;
      yield line;
    }
  }

  /**
   * Serve a read. `reader()` makes a function that, given whether the end of the file was
   * reached, takes its result from the read-ahead buffer or returns MORE if the buffer does
   * not hold enough yet (at the end it must return a result). It may keep state between calls
   * (how far it looked); a fresh one is made once the file's lock is held. `want` is how many
   * units it needs, a hint for the size of the next OS read.
   */
  private attempt<R>(reader: () => (eof: boolean) => R | typeof MORE, want: number): Promise<R> {
    try {
      this.checkOpen('read');
      if (!this.spec.readable) throw new UnsupportedOperation(`read: ${this.path} is not open for reading (mode '${this.mode}')`);
      if (this.quiet() && this.writeBehind.length === 0) {
        const result = reader()(false);
        if (result !== MORE) return Promise.resolve(result);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.exclusive('FILE_READ', async () => {
      await this.writeOut();
      const take = reader();
      for (;;) {
        const result = take(false);
        if (result !== MORE) return result;
        const size = Math.min(MAX_FILL, Math.max(this.chunk, this.readAhead.length, want - this.readAhead.length + 1));
        if ((await this.fill(size)) === 0) return take(true) as R;
      }
    });
  }

  /** One OS read of up to `size` bytes into the read-ahead buffer; resolves with the count (0 at EOF). */
  private async fill(size: number): Promise<number> {
    let got = 0;
    await this.perform('FILE_READ', async () => {
      const target = this.readAhead.reserve(size);
      const { bytesRead } = await this.handle.read(target, this.readAhead.writeOffset, size, this.seekable ? this.pos : null);
      this.readAhead.commit(bytesRead);
      this.pos += bytesRead;
      got = bytesRead;
    });
    return got;
  }

  // ------------------------------------------------------------------------------------------
  // Writing

  /**
   * Write a string (text file) or bytes (binary file); resolves with its length. A write that
   * fits in the write buffer returns at once; {@link flush} or {@link close} sends it to the
   * OS. Once handed to the OS a write completes even if the calling task is cancelled or times
   * out (the position counts it, and its error, if any, is raised by the next operation).
   */
  write(data: T): Promise<number> {
    let bytes: Uint8Array;
    try {
      this.checkWritable();
      bytes = this.codec.encode(data);
      if (this.quiet() && this.readAhead.length === 0 && this.writeBehind.length + bytes.length < this.bufferSize) {
        this.writeBehind.append(bytes);
        return Promise.resolve(this.codec.size(data));
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.exclusive('FILE_WRITE', async () => {
      this.dropReadAhead();
      if (this.writeBehind.length + bytes.length < this.bufferSize) {
        this.writeBehind.append(bytes);
      } else {
        await this.writeOut(bytes);
      }
      return this.codec.size(data);
    });
  }

  /** Write each of `lines` (no separators are added). */
  async writelines(lines: Iterable<T>): Promise<void> {
    for (const line of lines) await this.write(line);
  }

  /**
   * Send buffered writes to the OS and wait for every write handed to it, raising the error of
   * one whose task was cancelled. (It does not fsync.)
   */
  flush(): Promise<void> {
    try {
      this.checkOpen('flush');
      if (this.quiet() && this.writeBehind.length === 0) return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.exclusive('FILE_WRITE', () => this.writeOut());
  }

  /**
   * Cut (or extend) the file to `size` bytes (default: the current position). The position
   * does not move. Resolves with the new size.
   */
  truncate(size?: number): Promise<number> {
    try {
      this.checkWritable();
      if (size !== undefined && (!Number.isInteger(size) || size < 0)) throw new TypeError('truncate: size must be an integer >= 0');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.exclusive('FILE_WRITE', async () => {
      await this.writeOut();
      this.dropReadAhead();
      const length = size ?? this.pos;
      await this.perform('FILE_WRITE', () => this.handle.truncate(length));
      return length;
    });
  }

  /** Send the write-behind bytes, and `extra` after them, to the OS, and wait. */
  private writeOut(extra?: Uint8Array): Promise<void> {
    if (this.writeBehind.length === 0 && (extra === undefined || extra.length === 0)) return RESOLVED;
    return this.perform('FILE_WRITE', async () => {
      const chunks: Uint8Array[] = [];
      if (this.writeBehind.length > 0) chunks.push(this.writeBehind.take(this.writeBehind.length));
      if (extra !== undefined && extra.length > 0) chunks.push(extra);
      const positional = this.seekable && !this.spec.appending;
      const at = this.pos;
      if (positional) for (const chunk of chunks) this.pos += chunk.length;
      await writeFully(this.handle, chunks, positional ? at : null);
      // O_APPEND writes land at the end, wherever the position was.
      if (this.spec.appending && this.seekable) this.pos = (await this.handle.stat()).size;
    });
  }

  // ------------------------------------------------------------------------------------------
  // Position

  /** The current position, in bytes from the start. Throws ESPIPE for pipes and devices. */
  tell(): number {
    this.checkOpen('tell');
    this.checkSeekable('tell');
    return this.pos - this.readAhead.length + this.writeBehind.length;
  }

  /**
   * Move to `offset` bytes from the start, the current position or the end; resolves with the
   * new position. Buffered writes are sent to the OS first. In a text file, an offset that is
   * not one `tell()` gave may fall inside a character. Throws ESPIPE for pipes and devices,
   * EINVAL for a negative position.
   */
  seek(offset: number, whence: Whence = 'start'): Promise<number> {
    try {
      this.checkOpen('seek');
      this.checkSeekable('seek');
      if (!Number.isInteger(offset)) throw new TypeError('seek: offset must be an integer');
      if (whence !== 'start' && whence !== 'current' && whence !== 'end') {
        throw new TypeError(`seek: whence must be 'start', 'current' or 'end', got ${JSON.stringify(whence)}`);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.exclusive('FILE_SEEK', async () => {
      await this.writeOut();
      const base = whence === 'start' ? 0 : whence === 'current' ? this.tell() : await this.size();
      const target = base + offset;
      if (target < 0) throw systemError('EINVAL', 'invalid argument (negative position)', 'seek', this.path);
      const bufferStart = this.pos - this.readAhead.length;
      if (target >= bufferStart && target <= this.pos) {
        this.readAhead.discard(target - bufferStart);
      } else {
        this.readAhead.clear();
        this.pos = target;
      }
      return target;
    });
  }

  // ------------------------------------------------------------------------------------------
  // Closing

  /**
   * Close the file: buffered writes are sent to the OS first. The file is unusable from the
   * moment this is called; a task waiting in another operation gets ClosedResourceError when
   * it resumes. If the task calling close is cancelled, closing finishes in the background.
   * Rejects with the error of a write that failed. Calling it again waits for the same close.
   * Also callable from plain code outside the kernel.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return currentTaskOrNull() === null ? this.closing : waitOn(this.closing, 'FILE_CLOSE');
  }

  /** `await using file = await aopen(...)` closes the file at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutdown(): Promise<void> {
    try {
      while (this.inflight !== null) await this.inflight;
      const pending = this.writeBehind.length > 0 ? [this.writeBehind.take(this.writeBehind.length)] : [];
      if (pending.length > 0) {
        await writeFully(this.handle, pending, this.seekable && !this.spec.appending ? this.pos : null);
      }
      if (this.deferred !== null) throw this.deferred;
    } catch (error) {
      await this.handle.close().catch(noop);
      throw OSError.from(error);
    }
    await this.handle.close();
  }

  // ------------------------------------------------------------------------------------------
  // Operation machinery

  /** No operation is running or in flight, and no abandoned operation's error waits. */
  private quiet(): boolean {
    return this.inflight === null && this.deferred === null && !this.lock.locked();
  }

  /**
   * Run `body` holding the file's lock, after any operation still in flight from a cancelled
   * task has completed (its error, if any, is thrown here).
   */
  private async exclusive<R>(state: TaskState, body: () => Promise<R>): Promise<R> {
    await this.lock.acquire();
    try {
      while (this.inflight !== null) await waitOn(this.inflight, state);
      const failure = this.deferred;
      if (failure !== null) {
        this.deferred = null;
        throw failure;
      }
      return await body();
    } finally {
      this.lock.release();
    }
  }

  /**
   * Hand one operation to the OS and wait for it; nothing else may be in flight. If the task
   * is cancelled meanwhile, the operation completes in the background and an error it ends
   * with is kept for the next operation.
   */
  private async perform(state: TaskState, work: () => Promise<void>): Promise<void> {
    this.checkOpen('operation');
    checkCancellation();
    let failed = false;
    let failure: unknown;
    let abandoned = false;
    const op = work().then(
      () => {
        this.inflight = null;
      },
      (error: unknown) => {
        this.inflight = null;
        failed = true;
        failure = OSError.from(error);
        if (abandoned) this.deferred ??= failure;
      },
    );
    this.inflight = op;
    try {
      await waitOn(op, state);
    } catch (error) {
      abandoned = true;
      if (failed) this.deferred ??= failure;
      throw error;
    }
    if (failed) throw failure;
  }

  /** The file's size, from the OS. */
  private async size(): Promise<number> {
    let size = 0;
    await this.perform('FILE_SEEK', async () => {
      size = (await this.handle.stat()).size;
    });
    return size;
  }

  private dropReadAhead(): void {
    this.pos -= this.readAhead.length;
    this.readAhead.clear();
  }

  private checkOpen(what: string): void {
    if (this.closing !== null) throw new ClosedResourceError(`${what}: ${this.path} is closed`);
  }

  private checkWritable(): void {
    this.checkOpen('write');
    if (!this.spec.writable) throw new UnsupportedOperation(`write: ${this.path} is not open for writing (mode '${this.mode}')`);
  }

  private checkSeekable(what: string): void {
    if (!this.seekable) throw systemError('ESPIPE', 'illegal seek (not a regular file)', what, this.path);
  }
}

/** Write every byte of `chunks` at `position` (null: the descriptor's offset), retrying short writes. */
async function writeFully(handle: FileHandle, chunks: Uint8Array[], position: number | null): Promise<void> {
  let rest = chunks;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, at ?? undefined);
    if (at !== null) at += bytesWritten;
    let skip = bytesWritten;
    const next: Uint8Array[] = [];
    for (const chunk of rest) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
      } else {
        next.push(skip > 0 ? chunk.subarray(skip) : chunk);
        skip = 0;
      }
    }
    rest = next;
  }
}
