// curio-stream.ts
//
// CurioByteStream: a kernel socket as the Runtime's ByteStream, and its TLS upgrade.
//
// Reads are the kernel socket's own `recv` trap, so a task blocked reading is cancelled and
// timed out by the kernel like any other. Writes: the engine flushes a burst of calls from
// outside any task (at the end of the burst), so bytes go to the socket at once when nothing
// is waiting, and otherwise to a queue that a writer task of the stream's own sends with
// `sendall` (a trap when the peer pushes back).
//
// Discussion: the writer task starts with the first write that has to queue. A stream whose
// writes all go straight to the socket (small replies to a reading peer: an idle keep-alive
// connection, most Redis traffic) never has one, which saves a kernel Task, a suspended async
// function and an Event per connection (about 1 KiB). A write queued from outside any task (the
// engine's flush at the end of a burst) starts it as a top-level task of the stream's kernel.
//
// Invariants:
// - Reads are paced by the consumer: the kernel socket stops reading from the OS above its
//   HIGH_WATER (256 KiB) of unread bytes and resumes at LOW_WATER (kernel io/socket.ts).
// - Writes wait for the peer: `write()` resolves at once while the queue holds less than
//   WRITE_HIGH_WATER bytes, and otherwise once the writer task takes the queue. Bytes held for
//   one stream: at most the queue (WRITE_HIGH_WATER plus one write), the batch being sent, and
//   what Node holds for one socket write.
// - Errors are ConnectionErrors with the kernel's code; a read of a stream we closed ends with
//   null, as does a read pending when we close it. Cancellations pass through untouched.
// - After `startTls` began, this stream is done: its reads and writes fail with
//   ERR_STREAM_UPGRADED, its writer task ends, and the connection belongs to the stream
//   startTls returned. Bytes received and not read go to the TLS layer (the kernel's
//   `unread: 'handshake'`; backend-node's node-stream.ts says why that is safe).

import { Buffer } from 'node:buffer';
import { ConnectionError } from '@curio-ts/client';
import type { ByteStream, ReadConsumer, ReadSink, StartTlsOptions, StreamAddress, TlsInfo } from '@curio-ts/client';
import { Event, ResourceBusy, SocketClosedError, SocketError, spawn, startTls } from '@curio-ts/kernel';
import type { Kernel, Socket, StartTlsOptions as KernelStartTlsOptions } from '@curio-ts/kernel';
import { currentTaskOrNull } from '@curio-ts/kernel/lowlevel';
import type { ExternalWake } from '@curio-ts/kernel/lowlevel';
import { runAside } from './aside.js';
import { clientTls, serverTls, sniName } from './curio-tls.js';

/** Queued bytes above which `write()` waits for the writer task. */
export const WRITE_HIGH_WATER = 4 * 1024 * 1024;
/** Most bytes one read returns. */
const READ_SIZE = 256 * 1024;
const RESOLVED: Promise<void> = Promise.resolve();
/** An empty write: its callback runs once every byte written before it has gone to the OS. */
const FENCE = new Uint8Array(0);

/** Where a stream is connected, as the runtime knows it. */
export interface CurioStreamOrigin {
  /** The host name the client connected to (checked against the certificate by startTls). */
  readonly host?: string;
}

const EMPTY = new Uint8Array(0);
const closeStream = (stream: CurioByteStream): void => stream.close();

/** What ends a read of readInto: the kernel's wake, handed to the consumer. */
class DetachedRead implements ExternalWake {
  constructor(private readonly consumer: ReadConsumer) {}
  resolve(value: unknown): void {
    this.consumer.readSettled(value as Uint8Array | null, null);
  }
  reject(error: unknown): void {
    this.consumer.readSettled(null, error);
  }
}

/** The origin of a stream with nothing to say (an accepted connection): one object for all. */
const NO_ORIGIN: CurioStreamOrigin = Object.freeze({});

/** A kernel socket as a ByteStream. */
export class CurioByteStream implements ByteStream {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Set when the writer has work; null until the writer task exists (see the file header). */
  private wakeup: Event | null = null;
  /** The kernel the stream was made in: where its writer task runs. */
  private readonly kernel: Kernel | null;
  private idle: Event | null = null;
  private failure: ConnectionError | null = null;
  private closed = false;
  private upgrading = false;
  private upgraded = false;
  /** Writers waiting for the queue to drain (made with the first: most streams never have one). */
  private drainWaiters: (() => void)[] | null = null;
  private writing = false;
  /** Writes handed straight to the socket whose callback has not come yet. */
  private rawPending = 0;
  /** The callback of a write Node kept (made on first need: most streams never need it). */
  private rawWritten: (() => void) | null = null;
  private readonly readFailed = (error: unknown): Uint8Array | null => this.readError(error);

  constructor(
    private readonly socket: Socket,
    private readonly origin: CurioStreamOrigin = NO_ORIGIN,
  ) {
    this.kernel = currentTaskOrNull()?.kernel ?? null;
  }

  read(sink?: ReadSink): Promise<Uint8Array | null> {
    if (this.upgraded || this.upgrading) return Promise.reject(upgradedError());
    if (this.failure !== null) return Promise.reject(this.failure);
    // The kernel's own trap: an empty chunk is end of stream; the socket's failures come back
    // translated (readError), with no Promise derived per read. A sink is the kernel socket's
    // own (RecvSink: the same contract as ReadSink): chunks reach it from the socket's 'data'
    // event while the reading task stays blocked, with no task switch per chunk.
    return this.socket.recvOr(READ_SIZE, this.readFailed, sink);
  }

  /**
   * A read no task waits in (ByteStream.readInto): the kernel socket's recvDetached. The
   * consumer's readChunk is never called (a sink runs outside any task here): the first chunk
   * settles the read.
   */
  readInto(consumer: ReadConsumer): boolean {
    if (this.upgraded || this.upgrading || this.failure !== null || this.closed) return false;
    return this.socket.recvDetached(READ_SIZE, new DetachedRead(consumer), this.readFailed);
  }

  /** End a task's pending read at once with an empty chunk (ByteStream.interruptRead). */
  interruptRead(): boolean {
    return this.socket.interruptRecv(EMPTY);
  }

  write(data: Uint8Array): Promise<void> {
    if (this.upgraded || this.upgrading) return Promise.reject(upgradedError());
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ConnectionError('write after close', 'EPIPE'));
    const outcome = this.writeNow(data);
    return typeof outcome === 'boolean' ? RESOLVED : outcome;
  }

  /**
   * `write`, saying what became of `data` (ByteStream.writeNow): true when the socket wrote it
   * through at once (Node's `writableLength` is back to 0: nothing holds it), false when it is
   * held (in Node's buffer or this stream's queue) under the high-water mark, else the Promise
   * to wait on.
   */
  writeNow(data: Uint8Array): boolean | Promise<void> {
    if (this.upgraded || this.upgrading) throw upgradedError();
    if (this.failure !== null) throw this.failure;
    if (this.closed) throw new ConnectionError('write after close', 'EPIPE');
    const raw = this.socket.rawSocket;
    if (this.queue.length === 0 && !this.writing && raw.writableLength === 0 && !raw.destroyed) {
      // Nothing queued and the socket is not pushing back: hand the bytes to the socket now,
      // without waking the writer task (the common case: one flush per burst of calls). With no
      // callback: Node then schedules nothing after a write the OS took at once (a callback
      // costs a nextTick per write). If bytes stay in Node, an empty write behind them is the
      // callback: Node completes writes in order.
      raw.write(data);
      if (raw.writableLength === 0) return true;
      this.rawPending++;
      raw.write(FENCE, (this.rawWritten ??= () => this.rawDone()));
      return false;
    }
    this.queue.push(data);
    this.queuedBytes += data.length;
    (this.wakeup ?? this.startWriter()).set();
    if (this.queuedBytes < WRITE_HIGH_WATER) return false;
    return new Promise<void>((resolve) => (this.drainWaiters ??= []).push(resolve));
  }

  /** Close the stream: a pending read ends with null. During `startTls`, aborts the handshake. */
  close(): void {
    if (this.upgrading) {
      // The handshake owns the connection now: destroying it fails the handshake.
      this.socket.rawSocket.destroy();
      return;
    }
    if (this.closed || this.upgraded) return;
    this.closed = true;
    this.socket.closeNow();
    this.wakeup?.set();
    this.releaseWriters();
  }

  /** Bytes received and not yet read. */
  get bufferedBytes(): number {
    return this.socket.bufferedBytes;
  }

  /** Bytes written and not yet handed to the OS (this stream's queue and Node's buffer). */
  get pendingWriteBytes(): number {
    return this.queuedBytes + this.socket.rawSocket.writableLength;
  }

  /** The TLS session (null for a plain stream). */
  get tls(): TlsInfo | null {
    return this.socket.tlsSession;
  }

  /** The peer's address (null once unknown). */
  get remoteAddress(): StreamAddress | null {
    const peer = this.socket.peername;
    if (peer === null) return null;
    return peer.family === 'unix' ? { path: peer.path } : { host: peer.address, port: peer.port };
  }

  /** The kernel socket (do not read or write it while the stream is in use). */
  get kernelSocket(): Socket {
    return this.socket;
  }

  /**
   * Upgrade to TLS (see ByteStream.startTls): a kernel trap, cancellable. Waits until every
   * byte written has gone to the OS. Rejects with a ConnectionError (ERR_STREAM_BUSY while a
   * task reads this stream, the TLS layer's code if the handshake fails, after which the
   * connection is closed).
   */
  startTls(options: StartTlsOptions): Promise<CurioByteStream> {
    // In a task of its own (aside.ts): the traps must not block the caller's task.
    return runAside('tls upgrade', () => this.upgrade(options), closeStream);
  }

  private async upgrade(options: StartTlsOptions): Promise<CurioByteStream> {
    if (this.upgraded || this.upgrading) throw upgradedError();
    if (this.closed) throw new ConnectionError('the stream is closed', 'ERR_STREAM_CLOSED');
    if (this.failure !== null) throw this.failure;
    const idle = (this.idle ??= new Event());
    while (this.queue.length > 0 || this.writing || this.rawPending > 0) {
      idle.clear();
      if (this.queue.length > 0) this.wakeup?.set();
      await idle.wait();
      if (this.failure !== null) throw this.failure;
      if (this.closed) throw new ConnectionError('the stream was closed during the TLS upgrade', 'ERR_STREAM_CLOSED');
    }
    this.upgrading = true;
    let secure: Socket;
    try {
      secure = await startTls(this.socket, kernelTlsOptions(options, this.origin.host));
    } catch (error) {
      this.upgrading = false;
      const failure = toConnectionError(error);
      if (this.socket.closed) {
        // The handshake had the connection and lost it: this stream is over too.
        if (failure instanceof ConnectionError) this.failure = failure;
        this.finish();
      }
      throw failure;
    }
    this.upgrading = false;
    this.upgraded = true;
    this.finish();
    return new CurioByteStream(secure);
  }

  /** The connection moved to a TLS stream (or was lost in the attempt): end the writer. */
  private finish(): void {
    this.closed = true;
    this.wakeup?.set();
    this.releaseWriters();
  }

  /** A write handed straight to the socket has gone to the OS. */
  private rawDone(): void {
    // The kernel socket's sendall must start with Node's buffer empty of bytes it did not write
    // itself (it waits for its own writes' callbacks), so the writer task waits for these.
    if (--this.rawPending > 0) return;
    if (this.queue.length > 0) this.wakeup?.set();
    else this.idle?.set();
  }

  /**
   * Start the writer task (the first write that queues): in the calling task's kernel, or from
   * outside any task as a top-level task of the stream's kernel that only waits for the writer.
   */
  private startWriter(): Event {
    const wakeup = (this.wakeup = new Event());
    const writer = (): Promise<void> => this.writer(wakeup);
    if (currentTaskOrNull() !== null || this.kernel === null) {
      spawn(writer, { name: 'stream-writer', daemon: true });
      return wakeup;
    }
    this.kernel
      .runTask(() => spawn(writer, { name: 'stream-writer', daemon: true }).wait(), { name: 'stream-writer (starter)' })
      .catch((error: unknown) => {
        // The kernel has shut down: nothing will send the queue.
        this.failure ??= new ConnectionError('the kernel of this stream has shut down', 'ERR_STREAM_CLOSED', { cause: error });
        this.releaseWriters();
        this.idle?.set();
      });
    return wakeup;
  }

  private readError(error: unknown): Uint8Array | null {
    if (error instanceof SocketClosedError) {
      if (this.upgraded) throw upgradedError();
      return null;
    }
    throw toConnectionError(error);
  }

  private async writer(wakeup: Event): Promise<void> {
    try {
      for (;;) {
        if (this.queue.length === 0 || this.rawPending > 0) {
          if (this.queue.length === 0) this.idle?.set();
          if (this.closed) return;
          wakeup.clear();
          await wakeup.wait();
          continue;
        }
        const parts = this.queue;
        this.queue = [];
        this.queuedBytes = 0;
        this.releaseWriters();
        if (this.closed) return;
        this.writing = true;
        try {
          await this.socket.sendall(parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts));
        } finally {
          this.writing = false;
        }
      }
    } catch (error) {
      this.failure = toConnectionError(error) as ConnectionError;
      this.releaseWriters();
      this.idle?.set();
    }
  }

  private releaseWriters(): void {
    const waiters = this.drainWaiters;
    if (waiters === null) return;
    this.drainWaiters = null;
    for (const resolve of waiters) resolve();
  }
}

function upgradedError(): ConnectionError {
  return new ConnectionError('this stream was upgraded to TLS: use the stream startTls returned', 'ERR_STREAM_UPGRADED');
}

/**
 * A kernel socket error as a ConnectionError keeping its code (a second reader or writer:
 * ERR_STREAM_BUSY); anything else (a cancellation) as it is.
 */
export function toConnectionError(error: unknown): unknown {
  if (error instanceof SocketError) return new ConnectionError(error.message, error.code, { cause: error });
  if (error instanceof ResourceBusy) return new ConnectionError(error.message, 'ERR_STREAM_BUSY', { cause: error });
  return error;
}

function kernelTlsOptions(options: StartTlsOptions, host: string | undefined): KernelStartTlsOptions {
  if (options.side === 'server') return { serverSide: true, unread: 'handshake', tls: serverTls(options) };
  return { unread: 'handshake', ...sniName(options.serverName, host), tls: clientTls(options, host) };
}
