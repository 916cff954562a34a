// io/socket.ts
//
// Kernel sockets (Curio's io.Socket): a connected stream socket (`Socket`, over a net.Socket or
// tls.TLSSocket) and a listening one (`ServerSocket`, over a net.Server or tls.Server). Every
// call that may block is a kernel trap, so it can be cancelled or timed out at once.
//
// Node has no readiness-based sockets, so the kernel keeps control of reading itself:
//
// - The net.Socket flows: one 'data' handler, registered once per socket, appends each chunk
//   Node hands us to a queue (a plain socket reads into a shared buffer instead, with no 'data'
//   event: ReadLink for those the kernel opens, adoptSharedRead for those a server accepted). A `recv` takes from the queue (a zero-copy view of Node's chunk)
//   and returns at once without a trap when bytes are queued; only an empty queue makes it
//   wait (READ_WAIT), and the next chunk, EOF, an error or a close wakes it.
// - Memory stays bounded when a task reads slowly: above HIGH_WATER queued bytes the net.Socket
//   is paused (Node then stops reading from the OS, and TCP backpressure reaches the peer); a
//   read that brings the queue down to LOW_WATER resumes it. The queue holds at most
//   HIGH_WATER plus one chunk.
// - Writes go to Node at once; a write that Node could not hand to the OS in full makes the
//   writer wait (WRITE_WAIT) until Node has (its write callback), so `sendall` returns only when
//   every byte is in the OS, as in Curio: the caller may reuse its buffer, and a peer that does
//   not read blocks the writer instead of filling memory. Large buffers go in slices, so a
//   cancelled `sendall` knows how far it got (`bytesSent` on the error).
//
// Invariants:
// - No byte Node delivered is ever dropped while the socket is open: a cancelled read leaves
//   whatever it had not returned in the queue (stream reads put back what they had gathered).
// - One task at a time reads and one writes (Curio's IO rule): a second concurrent reader gets
//   ReadResourceBusy, a second writer WriteResourceBusy. A multi-step operation (sendall, a
//   stream's readline) holds its side for its whole duration.
// - A blocked reader or writer always wakes: on data, EOF, error, or when the socket is closed.
// - Event handlers are module functions shared by every socket (the socket is found through a
//   symbol on the net.Socket), so a socket costs no closures; waiting costs the trap alone.

import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { waitExternal } from '../cancellation.js';
import { Deque } from '../deque.js';
import { ReadResourceBusy, WriteResourceBusy } from '../errors.js';
import type { ExternalWake } from '../traps.js';
import { Waiter } from './waiter.js';
import { BrokenPipeError, SocketClosedError, SocketError, toSocketError } from './socket-errors.js';
import { SocketStream } from './socket-stream.js';
import type { SocketStreamOptions } from './socket-stream.js';

/** Queued received bytes above which the socket stops reading from the OS. */
export const HIGH_WATER = 256 * 1024;
/** Queued received bytes at or below which a paused socket reads again. */
export const LOW_WATER = 64 * 1024;
/** Default `maxBytes` of a read. */
export const DEFAULT_READ = 64 * 1024;
/** Largest slice of a `sendall` handed to Node at once. */
export const WRITE_SLICE = 256 * 1024;

/** What a TLS socket knows about its session ({@link Socket.tlsSession}). */
export interface TlsSession {
  /** The peer's certificate in DER form (null if it sent none). */
  readonly peerCertificate: Uint8Array | null;
  /** This side's own certificate in DER form (null if it has none). */
  readonly localCertificate: Uint8Array | null;
  /** The protocol version agreed ('TLSv1.3'...). */
  readonly protocol: string | null;
  /** The ALPN protocol agreed, or null. */
  readonly alpnProtocol: string | null;
  /** Whether the peer's certificate was verified against the trusted CAs. */
  readonly authorized: boolean;
}

/** An endpoint of a socket: an IP address and port, or a Unix socket path. */
export type SocketAddress =
  | { readonly family: 'IPv4' | 'IPv6'; readonly address: string; readonly port: number }
  | { readonly family: 'unix'; readonly path: string };

const OWNER = Symbol('curio.socket');
const PENDING_ERROR = Symbol('curio.pendingError');
const EMPTY = new Uint8Array(0);
const RESOLVED = Promise.resolve();

/** How long a closed TLS socket may take to send its close_notify before it is destroyed (ms). */
const TLS_CLOSE_GRACE_MS = 2000;

interface OwnedSocket extends net.Socket {
  [OWNER]?: Socket;
  [PENDING_ERROR]?: unknown;
}

/** Error objects that say how far an interrupted operation got. */
interface Progress {
  bytesSent?: number;
  bytesRead?: number;
  bytesWritten?: number;
}

/**
 * Record on `error` (when it is an object) how far an interrupted operation got, as Curio sets
 * `bytes_sent` on a cancelled sendall.
 * @internal
 */
export function markProgress(error: unknown, key: keyof Progress, count: number): void {
  if (typeof error === 'object' && error !== null) {
    try {
      (error as Progress)[key] = count;
    } catch {
      // A frozen error cannot carry the count; the error itself still propagates.
    }
  }
}

/** Validate a byte count argument. */
export function checkSize(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) throw sizeError(n, what);
}

function sizeError(n: number, what: string): RangeError {
  return new RangeError(`${what}: expected a positive integer byte count, got ${String(n)}`);
}

function rejectSize(n: number, what: string): Promise<never> {
  return Promise.reject(sizeError(n, what));
}

function zeroAtEnd(): number {
  return 0;
}

// The socket a wait is being armed for: set just before `waitExternal`, which calls the start
// function synchronously, so start functions can be shared instead of created per wait.
let arming: Socket | null = null;

function startReadWait(wake: ExternalWake): () => void {
  const socket = arming as Socket;
  arming = null;
  return socket._armRead(wake);
}

/** End a waiting read with the socket's failure: rejected, or through the reader's `onFailure` (recvOr). */
function failRead(wake: ExternalWake, error: SocketError, onFailure: ((error: SocketError) => unknown) | null): void {
  if (onFailure === null) {
    wake.reject(error);
    return;
  }
  let value: unknown;
  try {
    value = onFailure(error);
  } catch (mapped) {
    wake.reject(mapped);
    return;
  }
  wake.resolve(value);
}

function ownerOf(raw: net.Socket): Socket {
  return (raw as OwnedSocket)[OWNER] as Socket;
}

function onData(this: net.Socket, chunk: Buffer): void {
  ownerOf(this)._onData(chunk);
}

function onEnd(this: net.Socket): void {
  ownerOf(this)._onEnd();
}

function onError(this: net.Socket, error: Error): void {
  ownerOf(this)._onError(error);
}

function onClose(this: net.Socket): void {
  ownerOf(this)._onClose();
}

function onPendingError(this: net.Socket, error: Error): void {
  (this as OwnedSocket)[PENDING_ERROR] = error;
}

/**
 * Push-style reading ({@link Socket.recvOr}): called synchronously, from the socket's 'data'
 * event, with each chunk that arrives while the read waits. True: the sink took the chunk and
 * the read goes on waiting. False: the read resolves with that chunk (the sink has seen it; a
 * consumer that wants to stop after handling a chunk returns false). The chunk is a view of
 * Node's buffer, the sink's to keep.
 */
export type RecvSink = (chunk: Uint8Array) => boolean;

/** Most bytes one read of a {@link ReadLink}'s socket takes (Node's own read size). */
const SHARED_READ_SIZE = 64 * 1024;
/** The memory every ReadLink's socket reads into. */
let sharedReadBuffer: Buffer | null = null;

/**
 * The `onread` of a connection the kernel opens (TCP or Unix, not TLS): libuv reads into one
 * buffer shared by every such socket and Node calls the link with the byte count, instead of a
 * 'data' event (issue 9: no Readable push and emit, no backing store made per read, and no
 * `maybeReadMore` nextTick before the Promise jobs a chunk settles). Each read is copied into a
 * chunk of its own at once (received bytes are the caller's to keep), which makes sharing the
 * buffer safe: libuv reads one socket at a time, and the callback consumes the read before it
 * returns. Reads that come before the Socket exists (the connection is established in a trap:
 * other tasks run meanwhile) are held for it, as Node's own buffer would have held them.
 * @internal
 */
export class ReadLink {
  private socket: Socket | null = null;
  private early: Buffer[] | null = null;

  /** The `onread` option of `net.connect`. */
  onread(): { buffer: Buffer; callback: (bytes: number, buffer: Uint8Array) => boolean } {
    return { buffer: (sharedReadBuffer ??= Buffer.allocUnsafeSlow(SHARED_READ_SIZE)), callback: (bytes, buffer) => this.read(bytes, buffer) };
  }

  /** The connection's Socket exists: it gets what was read before. */
  attach(socket: Socket): void {
    this.socket = socket;
    const early = this.early;
    this.early = null;
    if (early !== null) for (const chunk of early) socket._onData(chunk);
  }

  private read(bytes: number, buffer: Uint8Array): boolean {
    const chunk = copyRead(bytes, buffer);
    const socket = this.socket;
    if (socket !== null) socket._onData(chunk);
    else (this.early ??= []).push(chunk);
    // Pausing is the Socket's own (pause() stops an `onread` socket's reads too).
    return true;
  }
}

/** The first `bytes` bytes of the shared read buffer, copied into a chunk of their own. */
function copyRead(bytes: number, buffer: Uint8Array): Buffer {
  const chunk = Buffer.allocUnsafe(bytes);
  if (bytes <= 64) {
    // A reply or two (a request/response client's usual read): copied in a loop, no view made.
    for (let i = 0; i < bytes; i++) chunk[i] = buffer[i] as number;
  } else {
    chunk.set(bytes === buffer.length ? buffer : buffer.subarray(0, bytes));
  }
  return chunk;
}

/** Node's private keys of a socket's `onread` option (see adoptSharedRead); null: not found. */
let onreadKeys: OnreadKeys | null | undefined;

/** The keys under which a net.Socket keeps its `onread` option's buffer and callback. */
export interface OnreadKeys {
  readonly buffer: symbol;
  readonly callback: symbol;
}

/**
 * The keys net.Socket's constructor sets for its `onread` option (kBuffer, kBufferCb), found
 * once by their descriptions on a socket that never connects (it holds nothing to close); null
 * where this Node keeps them otherwise. Setting them (and the handle's `useUserBuffer`) on a
 * socket a server accepted makes it read into one shared buffer, as `onread` does for a socket
 * one opens: Node has no public option for accepted sockets. Also used by the node backend.
 */
export function findOnreadKeys(): OnreadKeys | null {
  if (onreadKeys !== undefined) return onreadKeys;
  // (@types/node declares `onread` for net.connect only; net.Socket's constructor takes it too.)
  const probe = new net.Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } } as net.SocketConstructorOpts);
  const keys = Object.getOwnPropertySymbols(probe);
  const buffer = keys.find((key) => key.description === 'kBuffer');
  const callback = keys.find((key) => key.description === 'kBufferCb');
  const generator = keys.find((key) => key.description === 'kBufferGen');
  const record = probe as unknown as Record<symbol, unknown>;
  const usable = buffer !== undefined && callback !== undefined && generator !== undefined && record[buffer] instanceof Uint8Array && typeof record[callback] === 'function' && record[generator] === null;
  onreadKeys = usable ? { buffer, callback } : null;
  return onreadKeys;
}

/** The shared read's callback of an adopted socket: Node calls it as the net.Socket's method. */
function onSharedRead(this: net.Socket, bytes: number, buffer: Uint8Array): boolean {
  ownerOf(this)._onData(copyRead(bytes, buffer));
  return true;
}

/**
 * A socket Node made without `onread` (one a server accepted) reads into the shared buffer as
 * a ReadLink's does, when nothing of it is buffered in its Readable yet: the keys net.Socket's
 * constructor sets for `onread` are set on it, and its handle told to read into the buffer
 * (`useUserBuffer`). True when done; false (a TLS socket, a Node without those keys, bytes
 * already buffered): it keeps 'data' events.
 */
function adoptSharedRead(raw: net.Socket): boolean {
  if (raw.destroyed || raw.readableLength > 0 || (raw as { encrypted?: unknown }).encrypted === true) return false;
  const handle = (raw as unknown as { _handle?: { useUserBuffer?: unknown } | null })._handle;
  if (handle === undefined || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  const keys = findOnreadKeys();
  if (keys === null) return false;
  const record = raw as unknown as Record<symbol, unknown>;
  if (record[keys.buffer] !== null) return false;
  const buffer = (sharedReadBuffer ??= Buffer.allocUnsafeSlow(SHARED_READ_SIZE));
  record[keys.buffer] = buffer;
  record[keys.callback] = onSharedRead;
  (handle.useUserBuffer as (this: unknown, buffer: Uint8Array) => void).call(handle, buffer);
  return true;
}

/** Options of the {@link Socket} constructor. */
export interface SocketOptions {
  /** Whether the socket is a tls.TLSSocket (errors are then classified as TLS errors). */
  tls?: boolean;
  /** For a Unix socket: the path it is connected to (Node does not report it). */
  path?: string;
}

/**
 * A connected stream socket under kernel control (TCP, TLS or Unix). Methods that may block
 * return Promises and are cancellation points only when they actually block.
 *
 * Received bytes are views of Node's buffers: a returned Uint8Array stays valid for as long as
 * the caller keeps it (it is never reused by the socket).
 */
export class Socket {
  /** @internal */ readonly _raw: net.Socket;
  private readonly isTls: boolean;
  private readonly unixPath: string | undefined;
  /** Received chunks not yet read, oldest first. */
  private chunks: Buffer[] = [];
  /** Offset of the first unread byte in the first queued chunk. */
  private head = 0;
  private queued = 0;
  private paused = false;
  private eof = false;
  private failure: SocketError | null = null;
  private closedHere = false;
  /** Closed because the connection now belongs to the TLS Socket that startTls returned. */
  private upgraded = false;
  private reading = false;
  private writing = false;
  private readWake: ExternalWake | null = null;
  /** The waiting reader is a recv: what it may take (0 when it only waits for bytes). */
  private readMax = 0;
  /** The waiting reader is a recvInto: where the bytes go. */
  private readInto: Uint8Array | null = null;
  /** The waiting reader is a recvOr: what the socket's failures are handed to. */
  private readOnFailure: ((error: SocketError | ReadResourceBusy) => unknown) | null = null;
  /** The waiting reader is a recvOr given a sink: where arriving chunks go while it waits. */
  private readSink: RecvSink | null = null;
  /** The task waiting for written bytes to reach the OS (created on first need). */
  private writer: Waiter | null = null;
  private stopRead: (() => void) | null = null;
  private written: ((error?: Error | null) => void) | null = null;

  /**
   * Take control of `raw`, a connected net.Socket (or tls.TLSSocket). From now on only this
   * object may read from it. Normally you get sockets from {@link openConnection} or
   * {@link ServerSocket.accept} instead.
   */
  constructor(raw: net.Socket, options?: SocketOptions) {
    const owned = raw as OwnedSocket;
    if (owned[OWNER] !== undefined) throw new TypeError('Socket: this net.Socket is already owned by a kernel socket');
    this._raw = raw;
    this.isTls = options?.tls ?? false;
    this.unixPath = options?.path;
    owned[OWNER] = this;
    raw.removeListener('error', onPendingError);
    const pending = owned[PENDING_ERROR];
    if (pending !== undefined) {
      owned[PENDING_ERROR] = undefined;
      this.failure = toSocketError(pending, this.isTls);
    }
    // A socket a server accepted reads into the shared buffer if it can (a TLS one cannot).
    if (this.isTls || !adoptSharedRead(raw)) raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('error', onError);
    raw.on('close', onClose);
    if (raw.destroyed) this.eof = true;
    else if (raw.isPaused()) raw.resume();
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /**
   * Receive up to `maxBytes` bytes (default 64 KiB). Resolves with an empty Uint8Array at end
   * of stream (the peer shut down its side), as Curio returns `b''`. Returns at once, without a
   * trap, when bytes are queued; otherwise waits (READ_WAIT) and the bytes that wake it are its
   * result: a waiting recv is the trap alone.
   */
  recv(maxBytes = DEFAULT_READ): Promise<Uint8Array> {
    if (!(maxBytes >= 1 && Number.isInteger(maxBytes))) return rejectSize(maxBytes, 'recv');
    if (this.queued > 0 && !this.reading) return Promise.resolve(this._take(maxBytes));
    const ended = this.readEnd();
    if (ended !== null) return ended;
    this.setReader(maxBytes, null, null, null);
    arming = this;
    return waitExternal<Uint8Array>('READ_WAIT', startReadWait);
  }

  /**
   * `recv`, with the socket's own failures handed to `onFailure` instead of rejecting the read:
   * what it returns becomes the read's result, what it throws the read's rejection. It is
   * called once, synchronously, with a SocketError (a SocketClosedError once this side closed)
   * or ReadResourceBusy. A cancellation or timeout of the task is not a failure of the socket:
   * it rejects the read as it does a recv. For a consumer that translates the socket's errors
   * (a runtime's byte stream): one Promise per read, not a second one derived from it with
   * `then` (issue 9: a Promise, a microtask and a thenable check less per read).
   *
   * With a `sink` (see {@link RecvSink}), each chunk that arrives while the read waits is handed
   * to the sink from Node's 'data' event instead of waking the task: the task stays blocked,
   * with no trap, Promise or task switch per chunk, until the sink declines a chunk (the read
   * then resolves with that chunk, which the sink has seen), the stream ends or fails, or the
   * task is cancelled. Bytes queued when the read begins are returned at once, as without one.
   */
  recvOr<F>(maxBytes: number, onFailure: (error: SocketError | ReadResourceBusy) => F, sink?: RecvSink): Promise<Uint8Array | F> {
    if (!(maxBytes >= 1 && Number.isInteger(maxBytes))) return rejectSize(maxBytes, 'recv');
    if (this.queued > 0 && !this.reading) return Promise.resolve(this._take(maxBytes));
    if (this.reading || this.readWake !== null || this.closedHere || this.failure !== null || this.eof) {
      // Settled at once (busy, closed, failed, or at end of stream): off the hot path.
      return this.recv(maxBytes).then(undefined, onFailure as (error: unknown) => F);
    }
    this.setReader(maxBytes, null, onFailure, sink ?? null);
    arming = this;
    return waitExternal<Uint8Array | F>('READ_WAIT', startReadWait);
  }

  /**
   * Lowlevel, for a runtime's byte stream: a read that no task waits in. `wake` gets what a
   * `recvOr(maxBytes, onFailure)` would resolve or reject with (called from the socket's
   * events, or at once by closeNow). Returns false, arming nothing, when the read would not
   * wait (bytes are queued, a read is pending, the socket is closed, failed or at end of
   * stream): read with `recvOr` then. Such a read ends only by bytes, end of stream, a failure,
   * closeNow, or interruptRecv: it holds no task, so no cancellation reaches it.
   */
  recvDetached(maxBytes: number, wake: ExternalWake, onFailure: (error: SocketError | ReadResourceBusy) => unknown): boolean {
    if (!(maxBytes >= 1 && Number.isInteger(maxBytes))) throw new RangeError(`recvDetached: bad size ${maxBytes}`);
    if (this.queued > 0 || this.reading || this.readWake !== null || this.closedHere || this.failure !== null || this.eof) return false;
    this.setReader(maxBytes, null, onFailure, null);
    this.readWake = wake;
    // A read that may wait long (an idle connection's): what earlier reads left is not kept
    // meanwhile (the queue's grown storage; the cancel hook of task reads, made again with the next).
    if (this.chunks.length === 0) this.chunks = [];
    this.stopRead = null;
    return true;
  }

  /**
   * Lowlevel: end the pending read (a task's recv or recvOr, or a recvDetached) with `value`, if
   * it is still waiting for bytes: true if it did. A runtime uses it to take a task out of a read
   * that waits long (its own value tells the reader why it woke); bytes that arrive later stay
   * queued for the next read.
   */
  interruptRecv(value: unknown): boolean {
    const wake = this.readWake;
    if (wake === null || (this.readMax === 0 && this.readInto === null)) return false;
    this.disarmRead();
    wake.resolve(value);
    return true;
  }

  /**
   * Receive into `buffer`: copies every queued byte that fits, waiting first if none is queued.
   * Resolves with the number of bytes written into `buffer`; 0 at end of stream (or for an
   * empty buffer).
   */
  recvInto(buffer: Uint8Array): Promise<number> {
    if (buffer.length === 0) return Promise.resolve(0);
    if (this.queued > 0 && !this.reading) return Promise.resolve(this.copyOut(buffer));
    const ended = this.readEnd();
    if (ended !== null) return ended.then(zeroAtEnd);
    this.setReader(0, buffer, null, null);
    arming = this;
    return waitExternal<number>('READ_WAIT', startReadWait);
  }

  /**
   * With nothing queued: a settled result if a read cannot wait (busy, closed, failed, or at
   * end of stream), else null.
   */
  private readEnd(): Promise<Uint8Array> | null {
    if (this.reading || this.readWake !== null) return Promise.reject(new ReadResourceBusy('another task is already reading from this socket'));
    if (this.closedHere) return Promise.reject(this.closedError());
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.eof) return Promise.resolve(EMPTY);
    return null;
  }

  /** Bytes received and queued, not yet read. */
  get bufferedBytes(): number {
    return this.queued;
  }

  /** Whether the peer has shut down its side and every byte before that was read. */
  get atEof(): boolean {
    return this.eof && this.queued === 0;
  }

  /**
   * With an empty queue: true at end of stream; throws if the socket failed or was closed;
   * false when the caller must wait.
   */
  private readable(): boolean {
    if (this.closedHere) throw this.closedError();
    if (this.failure !== null) throw this.failure;
    return this.eof;
  }

  /**
   * Wait until bytes are queued (true) or the stream ended (false); throws if the socket failed
   * or was closed. The caller holds the read side ({@link _lockRead}).
   * @internal
   */
  async _waitData(): Promise<boolean> {
    for (;;) {
      if (this.queued > 0) return true;
      if (this.readable()) return false;
      this.setReader(0, null, null, null);
      arming = this;
      await waitExternal('READ_WAIT', startReadWait);
    }
  }

  /**
   * Take up to `maxBytes` queued bytes from the first queued chunk (a view, no copy). The
   * queue must not be empty.
   * @internal
   */
  _take(maxBytes: number): Buffer {
    const chunk = this.chunks[0] as Buffer;
    const available = chunk.length - this.head;
    let out: Buffer;
    if (available <= maxBytes) {
      out = this.head === 0 ? chunk : chunk.subarray(this.head);
      this.chunks.shift();
      this.head = 0;
    } else {
      out = chunk.subarray(this.head, this.head + maxBytes);
      this.head += maxBytes;
    }
    this.queued -= out.length;
    if (this.paused && this.queued <= LOW_WATER) this.resumeReading();
    return out;
  }

  /**
   * The queued bytes of the first chunk, without taking them; the queue must not be empty.
   * @internal
   */
  _peek(): Buffer {
    const chunk = this.chunks[0] as Buffer;
    return this.head === 0 ? chunk : chunk.subarray(this.head);
  }

  /**
   * Put bytes that were taken back at the front of the queue (a cancelled stream read returns
   * what it had gathered). `parts` are in stream order.
   * @internal
   */
  _putBack(parts: readonly Uint8Array[]): void {
    if (this.closedHere) return;
    if (this.head > 0) {
      const first = this.chunks.shift() as Buffer;
      this.chunks.unshift(first.subarray(this.head));
      this.head = 0;
    }
    for (let i = parts.length - 1; i >= 0; i--) {
      const part = parts[i] as Uint8Array;
      if (part.length === 0) continue;
      this.chunks.unshift(Buffer.isBuffer(part) ? part : Buffer.from(part.buffer, part.byteOffset, part.length));
      this.queued += part.length;
    }
  }

  private copyOut(buffer: Uint8Array): number {
    let filled = 0;
    while (filled < buffer.length && this.queued > 0) {
      const chunk = this.chunks[0] as Buffer;
      const n = Math.min(buffer.length - filled, chunk.length - this.head);
      chunk.copy(buffer, filled, this.head, this.head + n);
      filled += n;
      this.head += n;
      this.queued -= n;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    if (this.paused && this.queued <= LOW_WATER) this.resumeReading();
    return filled;
  }

  private resumeReading(): void {
    this.paused = false;
    if (!this._raw.destroyed) this._raw.resume();
  }

  /**
   * Claim the read side for one operation; throws ReadResourceBusy if another task holds it.
   * @internal
   */
  _lockRead(): void {
    if (this.reading || this.readWake !== null) throw new ReadResourceBusy('another task is already reading from this socket');
    this.reading = true;
  }

  /** @internal */
  _unlockRead(): void {
    this.reading = false;
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  /**
   * Send some of `data`: up to 256 KiB of it, waiting until the OS has taken it. Resolves with
   * the number of bytes sent (Curio's `send`). Use {@link sendall} to send everything.
   */
  async send(data: Uint8Array): Promise<number> {
    this.lockWrite();
    let handed = 0;
    try {
      this.checkWritable();
      const n = Math.min(data.length, WRITE_SLICE);
      if (n === 0) return 0;
      this._raw.write(n === data.length ? data : data.subarray(0, n), this.writtenCallback());
      handed = n;
      await this.flushed();
      return n;
    } catch (error) {
      markProgress(error, 'bytesSent', handed);
      throw error;
    } finally {
      this.writing = false;
    }
  }

  /**
   * Send all of `data`, honouring backpressure: resolves when every byte has been handed to the
   * OS, so `data` may be reused at once. Waits (WRITE_WAIT) while the OS is not taking bytes.
   * If interrupted (cancelled, timed out, or the connection failed), the error carries
   * `bytesSent`: how many bytes were handed over (they will be delivered; the rest were not
   * sent).
   */
  sendall(data: Uint8Array): Promise<void> {
    return this.sendallNow(data) ?? RESOLVED;
  }

  /**
   * {@link sendall}, saying whether it had to wait: null when the OS took every byte of `data`
   * at once (`data` may be reused now, and no Promise was made), else the Promise of sendall
   * for it (another task writes, the socket pushes back, or Node kept some of the bytes). For a
   * server that answers a reading peer with small writes, where the wait is the exception. A
   * Promise returned is a wait of the calling task, as sendall's is: await it before the task's
   * next kernel call.
   */
  sendallNow(data: Uint8Array): Promise<void> | null {
    const sent = this.sendNow(data);
    if (sent === 'sent') return null;
    return this.sendallWaiting(data, sent === 'held' ? data.length : 0);
  }

  /**
   * Hand `data` to the OS now, without waiting and without a task: callable from any code, a
   * {@link RecvSink} included (a server that answers from the read callback). Returns
   * - `'sent'`: the OS took every byte at once; `data` may be reused now;
   * - `'held'`: the OS took part and Node holds the rest, which goes out in order before any
   *   later write; `data` must not change until {@link drain} resolves;
   * - `'refused'`: nothing was written, because a task is writing, Node still holds earlier
   *   bytes, `data` is larger than 256 KiB, or the socket is closed, shut down or failed.
   *   Write it with {@link sendall} from a task then (which waits, or says what failed).
   */
  sendNow(data: Uint8Array): 'sent' | 'held' | 'refused' {
    if (this.writing || data.length > WRITE_SLICE || this.failure !== null || this.closedHere) return 'refused';
    const raw = this._raw;
    if (raw.writableLength !== 0 || raw.writableEnded || raw.destroyed) return 'refused';
    if (data.length === 0) return 'sent';
    // With no callback: after a write the OS took at once, Node then schedules nothing (a
    // callback costs a nextTick and an object per write). Bytes Node kept get an empty write
    // behind them whose callback wakes a writer waiting for them: Node completes writes in order.
    raw.write(data);
    if (raw.writableLength === 0) return 'sent';
    raw.write(EMPTY, this.writtenCallback());
    return 'held';
  }

  /**
   * Wait until Node holds none of the bytes written to this socket (the rest of a
   * {@link sendNow} that returned `'held'`): at once when it holds none. While it holds some,
   * it waits as {@link sendall} does and fails as sendall does (the socket failed or was
   * closed, the task was cancelled), and with WriteResourceBusy if another task is writing.
   */
  drain(): Promise<void> {
    return this.sendallNow(EMPTY) ?? RESOLVED;
  }

  private async sendallWaiting(data: Uint8Array, alreadySent: number): Promise<void> {
    this.lockWrite();
    let sent = alreadySent;
    try {
      for (;;) {
        await this.flushed();
        if (sent >= data.length) return;
        this.checkWritable();
        const n = Math.min(WRITE_SLICE, data.length - sent);
        this._raw.write(n === data.length ? data : data.subarray(sent, sent + n), this.writtenCallback());
        sent += n;
      }
    } catch (error) {
      markProgress(error, 'bytesSent', sent);
      throw error;
    } finally {
      this.writing = false;
    }
  }

  /** Wait until Node has handed every written byte to the OS. */
  private async flushed(): Promise<void> {
    while (this._raw.writableLength > 0) {
      this.checkWritable();
      await (this.writer ??= new Waiter()).wait('WRITE_WAIT');
    }
  }

  private writtenCallback(): (error?: Error | null) => void {
    return (this.written ??= (error?: Error | null): void => {
      if (error != null && this.failure === null && !this.closedHere) this.failure = toSocketError(error, this.isTls);
      if (error != null || this._raw.writableLength === 0) this.wakeWriter();
    });
  }

  private lockWrite(): void {
    if (this.writing) throw new WriteResourceBusy('another task is already writing to this socket');
    this.writing = true;
  }

  /** Throw if nothing more can be written. */
  private checkWritable(): void {
    if (this.closedHere) throw this.closedError();
    if (this.failure !== null) throw this.failure;
    const raw = this._raw;
    if (raw.writableEnded) {
      throw new SocketError('cannot write after shutdown() of the sending side', { code: 'ERR_SOCKET_SHUTDOWN' });
    }
    if (raw.destroyed) throw new BrokenPipeError('the connection has been closed', { code: 'EPIPE' });
  }

  // -------------------------------------------------------------------------------------------
  // Ending

  /**
   * Shut down the sending side (half-close): queued bytes are sent, then the peer sees end of
   * stream. Reading keeps working until the peer shuts down its side.
   */
  async shutdown(): Promise<void> {
    if (this.closedHere) throw this.closedError();
    if (!this._raw.writableEnded && !this._raw.destroyed) this._raw.end();
  }

  /**
   * Close the socket. Every byte a completed send handed over is already in the OS, which
   * delivers it; queued received bytes are dropped. A task blocked reading or writing this
   * socket wakes with {@link SocketClosedError}, as does any later use. Closing twice is
   * harmless. A TLS socket first sends TLS's close_notify (within 2 s), so the peer sees a
   * clean close rather than a truncated stream.
   */
  close(): Promise<void> {
    this.closeNow();
    return RESOLVED;
  }

  /** {@link close}, synchronously. */
  closeNow(): void {
    if (this.closedHere) return;
    this.closedHere = true;
    this.chunks = [];
    this.head = 0;
    this.queued = 0;
    const raw = this._raw;
    if (this.isTls && !raw.destroyed && !raw.writableEnded) {
      // Say goodbye in TLS (close_notify), so the peer can tell a close from a truncation;
      // destroy once it is written, or after a grace period if the peer does not read.
      raw.destroySoon();
      const timer = setTimeout(() => raw.destroy(), TLS_CLOSE_GRACE_MS);
      timer.unref();
      raw.once('close', () => clearTimeout(timer));
    } else {
      raw.destroy();
    }
    this.wakeReader();
    this.wakeWriter();
  }

  private closedError(): SocketClosedError {
    return this.upgraded ? new SocketClosedError('this socket was upgraded to TLS: use the Socket that startTls returned') : new SocketClosedError();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.closedHere;
  }

  /** `await using sock = await openConnection(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A stream interface (read, readline, readExactly...) over this socket. */
  asStream(options?: SocketStreamOptions): SocketStream {
    return new SocketStream(this, options);
  }

  // -------------------------------------------------------------------------------------------
  // Addresses

  /** Local endpoint, or null if unknown (closed). */
  get sockname(): SocketAddress | null {
    if (this.unixPath !== undefined) return { family: 'unix', path: this.unixPath };
    return endpoint(this._raw.localAddress, this._raw.localPort, this._raw.localFamily);
  }

  /** Remote endpoint, or null if unknown (closed). */
  get peername(): SocketAddress | null {
    if (this.unixPath !== undefined) return { family: 'unix', path: this.unixPath };
    return endpoint(this._raw.remoteAddress, this._raw.remotePort, this._raw.remoteFamily);
  }

  /** Local IP address (undefined for Unix sockets). */
  get localAddress(): string | undefined {
    return this._raw.localAddress;
  }

  /** Local port (undefined for Unix sockets). */
  get localPort(): number | undefined {
    return this._raw.localPort;
  }

  /** Remote IP address (undefined for Unix sockets). */
  get remoteAddress(): string | undefined {
    return this._raw.remoteAddress;
  }

  /** Remote port (undefined for Unix sockets). */
  get remotePort(): number | undefined {
    return this._raw.remotePort;
  }

  /** Whether the socket is a TLS socket. */
  get tls(): boolean {
    return this.isTls;
  }

  /**
   * The TLS session of a TLS socket (null for a plain one): the certificates (DER, as SCRAM's
   * channel binding hashes them), the protocol, the ALPN protocol, and whether the peer was
   * verified. Read once the handshake is done (sockets from openConnection, accept and
   * startTls are).
   */
  get tlsSession(): TlsSession | null {
    if (!this.isTls) return null;
    const secure = this._raw as tls.TLSSocket;
    const der = (certificate: object | null): Uint8Array | null => {
      const raw = (certificate as { raw?: Buffer } | null)?.raw;
      return raw === undefined ? null : new Uint8Array(raw);
    };
    const alpn = secure.alpnProtocol;
    return {
      peerCertificate: der(secure.getPeerCertificate()),
      localCertificate: der(secure.getCertificate()),
      protocol: secure.getProtocol(),
      alpnProtocol: typeof alpn === 'string' ? alpn : null,
      authorized: secure.authorized,
    };
  }

  /**
   * The underlying net.Socket, for options such as `setKeepAlive`. Do not read from it or
   * write to it directly.
   */
  get rawSocket(): net.Socket {
    return this._raw;
  }

  /** `Socket(127.0.0.1:5000 -> 127.0.0.1:40312)`. */
  toString(): string {
    const show = (a: SocketAddress | null): string =>
      a === null ? '?' : a.family === 'unix' ? a.path : `${a.address}:${a.port}`;
    return `Socket(${show(this.sockname)} -> ${show(this.peername)})`;
  }

  // -------------------------------------------------------------------------------------------
  // Upgrading to TLS (see startTls in network.ts)

  /**
   * Before a TLS upgrade: wait until every byte written has reached the OS, and check that the
   * socket is idle and clean: nobody reading or writing, open, not failed, not at end of
   * stream, and no received byte unread (bytes that arrive in the clear after the upgrade was
   * asked for could be injected by an attacker: the upgrade is refused, as STARTTLS must).
   * @internal
   */
  async _quiesceForTls(handshakeUnread = false): Promise<void> {
    this.lockWrite();
    try {
      await this.flushed();
    } finally {
      this.writing = false;
    }
    if (this.reading || this.readWake !== null) throw new ReadResourceBusy('a task is reading from this socket');
    if (this.closedHere) throw this.closedError();
    if (this.failure !== null) throw this.failure;
    if (this.eof || this._raw.destroyed) throw new SocketError('the connection ended before the TLS upgrade', { code: 'ERR_SOCKET_EOF' });
    if (this.queued > 0 && !handshakeUnread) {
      throw new SocketError(
        `${this.queued} unread bytes arrived in the clear before the TLS handshake; refusing to upgrade (they could be injected)`,
        { code: 'ERR_TLS_UNREAD_DATA' },
      );
    }
  }

  /**
   * Give up the Node socket for a TLS upgrade (synchronously after {@link _quiesceForTls}): stop
   * listening to it and mark this Socket closed without destroying the connection. Bytes
   * received and not read are put back into the net.Socket's own buffer, where the TLS layer
   * that takes it over reads them first (only left there when the upgrade allows it).
   * @internal
   */
  _detachForTls(): { raw: net.Socket; path: string | undefined } {
    const raw = this._raw;
    if (this.queued > 0) {
      const first = this.chunks[0] as Buffer;
      if (this.head > 0) this.chunks[0] = first.subarray(this.head);
      const unread = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
      // Paused first: a flowing stream with no 'data' listener would drop what it is handed.
      raw.pause();
      raw.unshift(unread);
      this.chunks = [];
      this.head = 0;
      this.queued = 0;
      this.paused = false;
    }
    raw.removeListener('data', onData);
    raw.removeListener('end', onEnd);
    raw.removeListener('error', onError);
    raw.removeListener('close', onClose);
    delete (raw as OwnedSocket)[OWNER];
    if (this.paused) raw.resume();
    this.closedHere = true;
    this.upgraded = true;
    return { raw, path: this.unixPath };
  }

  // -------------------------------------------------------------------------------------------
  // Events from Node (one shared handler per event type) and wait registration

  /** @internal */
  _onData(chunk: Buffer): void {
    if (this.closedHere) return;
    const sink = this.readSink;
    if (sink !== null && this.readWake !== null) {
      this.offer(chunk, sink);
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.length;
    // Also when Node resumed the stream behind our back (child_process's flushStdio does, when
    // a child exits): whenever it flows while the queue is full, pause it again.
    if (this.queued >= HIGH_WATER && (!this.paused || this._raw.readableFlowing === true)) {
      this.paused = true;
      this._raw.pause();
    }
    this.wakeReader();
  }

  /** @internal */
  _onEnd(): void {
    this.eof = true;
    this.wakeReader();
  }

  /** @internal */
  _onError(error: Error): void {
    if (this.failure === null && !this.closedHere) this.failure = toSocketError(error, this.isTls);
    this.wakeReader();
    this.wakeWriter();
  }

  /** @internal */
  _onClose(): void {
    // Destroyed without an error and without our close: both sides ended, so reading is at EOF.
    this.eof = true;
    this.wakeReader();
    this.wakeWriter();
  }

  /** @internal */
  _armRead(wake: ExternalWake): () => void {
    this.readWake = wake;
    return (this.stopRead ??= (): void => {
      this.disarmRead();
    });
  }

  /**
   * Wake the waiting reader if there is something to tell it. A waiting recv / recvInto gets
   * its result here (the bytes, end of stream or the error), so its trap is all it costs; a
   * stream read (which only waits for bytes) re-checks for itself.
   */
  private wakeReader(): void {
    const wake = this.readWake;
    if (wake === null) return;
    const max = this.readMax;
    const into = this.readInto;
    const onFailure = this.readOnFailure;
    if (max === 0 && into === null) {
      this.readWake = null;
      wake.resolve(undefined);
      return;
    }
    if (this.queued > 0) {
      this.disarmRead();
      wake.resolve(into !== null ? this.copyOut(into) : this._take(max));
    } else if (this.closedHere) {
      this.disarmRead();
      failRead(wake, this.closedError(), onFailure);
    } else if (this.failure !== null) {
      this.disarmRead();
      failRead(wake, this.failure, onFailure);
    } else if (this.eof) {
      this.disarmRead();
      wake.resolve(into !== null ? 0 : EMPTY);
    }
  }

  /**
   * What the read about to wait is (all four set, so that nothing is left over from a read
   * whose trap was refused before it armed: a pending cancellation).
   */
  private setReader(max: number, into: Uint8Array | null, onFailure: ((error: SocketError | ReadResourceBusy) => unknown) | null, sink: RecvSink | null): void {
    this.readMax = max;
    this.readInto = into;
    this.readOnFailure = onFailure;
    this.readSink = sink;
  }

  private disarmRead(): void {
    this.readWake = null;
    this.readMax = 0;
    this.readInto = null;
    this.readOnFailure = null;
    this.readSink = null;
  }

  /**
   * Hand a chunk to the waiting read's sink (the queue is empty: a read waits only then). The
   * sink took it: the read goes on waiting. It declined: the read ends with it, unless the sink
   * ended the read itself (it closed the socket, or the reading task was cancelled meanwhile).
   * A sink that throws fails the read with its error (a socket's 'data' event must not throw).
   */
  private offer(chunk: Buffer, sink: RecvSink): void {
    let taken: boolean;
    try {
      taken = sink(chunk);
    } catch (error) {
      const wake = this.readWake;
      if (wake !== null && this.readSink === sink) {
        this.disarmRead();
        wake.reject(error);
      }
      return;
    }
    if (taken) return;
    const wake = this.readWake;
    if (wake === null || this.readSink !== sink) return;
    this.disarmRead();
    wake.resolve(chunk);
  }

  private wakeWriter(): void {
    this.writer?.wakeUp();
  }
}

function endpoint(address: string | undefined, port: number | undefined, family: string | undefined): SocketAddress | null {
  if (address === undefined || port === undefined) return null;
  return { family: family === 'IPv6' ? 'IPv6' : 'IPv4', address, port };
}

// ---------------------------------------------------------------------------------------------
// Listening sockets

/**
 * The default listen backlog: Node's (net.Server.listen), 511. Linux silently caps the OS queue
 * at net.core.somaxconn (4096 since Linux 5.4, 128 before).
 * @internal
 */
export const DEFAULT_BACKLOG = 511;

/** Options of a {@link ServerSocket}. */
export interface ServerSocketOptions {
  /**
   * Most connections accepted by the OS and waiting for `accept()` (default 511, as Node's
   * listen backlog). Node accepts connections as fast as they come; beyond this many unclaimed
   * ones, new ones are closed.
   */
  backlog?: number;
  /** Whether accepted sockets are TLS sockets. */
  tls?: boolean;
  /** For a Unix socket server: its path. */
  path?: string;
}

const serverOwner = Symbol('curio.serverSocket');

interface OwnedServer extends net.Server {
  [serverOwner]?: ServerSocket;
}

function onConnection(this: net.Server, raw: net.Socket): void {
  ((this as OwnedServer)[serverOwner] as ServerSocket)._onConnection(raw);
}

function onServerError(this: net.Server, error: Error): void {
  ((this as OwnedServer)[serverOwner] as ServerSocket)._onError(error);
}

function onTlsClientError(): void {
  // A client that failed its TLS handshake never reaches accept(); tls.Server closes it.
}

/**
 * A listening socket: `accept()` gives connected {@link Socket}s. Created by
 * {@link tcpServerSocket}, {@link unixServerSocket} (which also listen) or from a listening
 * net.Server / tls.Server.
 *
 * Curio has one Socket class for both roles; Node has two (net.Socket and net.Server), and so
 * does the kernel: a connected socket has no `accept`.
 */
export class ServerSocket {
  /** @internal */ readonly _server: net.Server;
  private readonly pending = new Deque<net.Socket>();
  private readonly backlog: number;
  private readonly isTls: boolean;
  private readonly unixPath: string | undefined;
  private readonly acceptor = new Waiter();
  private failure: SocketError | null = null;
  private closedHere = false;
  private dropped = 0;
  private bound: SocketAddress | null = null;

  /** Take control of a listening (or about to listen) server. */
  constructor(server: net.Server, options?: ServerSocketOptions) {
    this._server = server;
    this.backlog = options?.backlog ?? DEFAULT_BACKLOG;
    this.isTls = options?.tls ?? false;
    this.unixPath = options?.path;
    (server as OwnedServer)[serverOwner] = this;
    server.on(this.isTls ? 'secureConnection' : 'connection', onConnection);
    server.on('error', onServerError);
    if (this.isTls) server.on('tlsClientError', onTlsClientError);
  }

  /**
   * Wait for a connection (READ_WAIT, as in Curio) and return it as a {@link Socket}. A
   * cancelled accept loses nothing: connections that arrive meanwhile wait for the next call.
   * Throws {@link SocketClosedError} once the server socket is closed.
   */
  async accept(): Promise<Socket> {
    for (;;) {
      const raw = this.pending.shift();
      if (raw !== undefined) {
        return new Socket(raw, { tls: this.isTls, ...(this.unixPath !== undefined ? { path: this.unixPath } : {}) });
      }
      if (this.closedHere) throw new SocketClosedError('server socket is closed');
      if (this.failure !== null) throw this.failure;
      if (this.acceptor.waiting) throw new ReadResourceBusy('another task is already accepting on this socket');
      await this.acceptor.wait('READ_WAIT');
    }
  }

  /** The address the server listens on. */
  get address(): SocketAddress {
    if (this.unixPath !== undefined) return { family: 'unix', path: this.unixPath };
    if (this.bound !== null) return this.bound;
    const address = this._server.address();
    if (address === null || typeof address === 'string') throw new SocketError('server socket is not listening', { code: 'ERR_NOT_LISTENING' });
    // Remembered, so the address is still known after close().
    this.bound = { family: address.family === 'IPv6' ? 'IPv6' : 'IPv4', address: address.address, port: address.port };
    return this.bound;
  }

  /** The TCP port the server listens on (handy after listening on port 0). */
  get port(): number {
    const address = this.address;
    if (address.family === 'unix') throw new SocketError('a Unix socket server has no port', { code: 'ERR_NOT_TCP' });
    return address.port;
  }

  /** Connections accepted by the OS and waiting for accept(). */
  get pendingConnections(): number {
    return this.pending.length;
  }

  /** Connections closed because more than `backlog` were waiting for accept(). */
  get droppedConnections(): number {
    return this.dropped;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.closedHere;
  }

  /**
   * Stop listening. Connections not yet accepted are closed; accepted ones are not affected.
   * A task blocked in accept() wakes with {@link SocketClosedError}.
   */
  close(): Promise<void> {
    if (!this.closedHere) {
      this.closedHere = true;
      this._server.close();
      for (let raw = this.pending.shift(); raw !== undefined; raw = this.pending.shift()) raw.destroy();
      this.acceptor.wakeUp();
    }
    return RESOLVED;
  }

  /** `await using server = await tcpServerSocket(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  _onConnection(raw: net.Socket): void {
    if (this.closedHere || this.pending.length >= this.backlog) {
      if (!this.closedHere) this.dropped++;
      raw.destroy();
      return;
    }
    // Until accept() wraps it, a reset must not become an unhandled 'error' event.
    raw.on('error', onPendingError);
    this.pending.push(raw);
    this.acceptor.wakeUp();
  }

  /** @internal */
  _onError(error: Error): void {
    if (this.failure === null) this.failure = toSocketError(error, false);
    this.acceptor.wakeUp();
  }
}
