// runtime.ts
//
// The node runtime: the Runtime interface over node:net / node:tls, Promises and timers.
//
// NodeByteStream reads in flowing mode into a queue of chunks (zero-copy), hands a chunk
// straight to a waiting reader, and pauses the socket when more than HIGH_WATER bytes are
// unread, so a slow consumer bounds memory and TCP pushes back on the peer. Writes go to the
// socket at once; the returned Promise waits for 'drain' only when Node's buffer is full.

import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import { ConnectTimeoutError, ConnectionError } from '@curio-ts/client';
import type { Background, ByteStream, ConnectTarget, Runtime, Wake, Waiter } from '@curio-ts/client';

const HIGH_WATER = 1024 * 1024;
const RESOLVED: Promise<void> = Promise.resolve();

/** A node:net / node:tls socket as a ByteStream. */
export class NodeByteStream implements ByteStream {
  private readonly chunks: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;
  private reader: Wake<Uint8Array | null> | null = null;
  private ended = false;
  private failure: Error | null = null;
  private paused = false;

  constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (error: Error) => this.onError(error));
    socket.on('close', () => this.onEnd());
  }

  read(): Promise<Uint8Array | null> {
    if (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head] as Uint8Array;
      this.chunks[this.head++] = EMPTY;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.head = 0;
      }
      this.queuedBytes -= chunk.length;
      if (this.paused && this.queuedBytes < HIGH_WATER / 4) {
        this.paused = false;
        this.socket.resume();
      }
      return Promise.resolve(chunk);
    }
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    return new Promise<Uint8Array | null>((resolve, reject) => {
      this.reader = { resolve, reject };
    });
  }

  write(data: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (this.failure !== null) return Promise.reject(this.failure);
    if (socket.destroyed || socket.writableEnded) return Promise.reject(new ConnectionError('write after the connection closed', 'EPIPE'));
    if (socket.write(data)) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', closed);
        resolve();
      };
      const closed = (): void => {
        socket.off('drain', done);
        reject(this.failure ?? new ConnectionError('connection closed while writing', 'EPIPE'));
      };
      socket.on('drain', done);
      socket.once('close', closed);
    });
  }

  close(): void {
    this.socket.destroy();
    this.onEnd();
  }

  private onData(chunk: Buffer): void {
    const reader = this.reader;
    if (reader !== null) {
      this.reader = null;
      reader.resolve(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.queuedBytes += chunk.length;
    if (!this.paused && this.queuedBytes > HIGH_WATER) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private onEnd(): void {
    if (this.ended) return;
    this.ended = true;
    const reader = this.reader;
    this.reader = null;
    if (reader === null) return;
    if (this.failure !== null) reader.reject(this.failure);
    else reader.resolve(null);
  }

  private onError(error: Error): void {
    if (this.failure === null) this.failure = toConnectionError(error);
    const reader = this.reader;
    this.reader = null;
    reader?.reject(this.failure);
  }
}

const EMPTY = new Uint8Array(0);

function toConnectionError(error: Error): ConnectionError {
  const code = (error as NodeJS.ErrnoException).code ?? 'ERR_CONNECTION';
  return new ConnectionError(error.message, code, { cause: error });
}

/** Open a socket to `target`. */
export function connectNode(target: ConnectTarget, timeout: number | undefined): Promise<NodeByteStream> {
  return new Promise<NodeByteStream>((resolve, reject) => {
    let socket: net.Socket;
    let event = 'connect';
    if ('path' in target) socket = net.connect({ path: target.path });
    else if (target.tls !== undefined) {
      const t = target.tls;
      socket = tls.connect({
        host: target.host,
        port: target.port,
        servername: t.serverName ?? target.host,
        ...(t.ca !== undefined ? { ca: typeof t.ca === 'string' ? t.ca : [...t.ca] } : {}),
        ...(t.cert !== undefined ? { cert: t.cert } : {}),
        ...(t.key !== undefined ? { key: t.key } : {}),
        rejectUnauthorized: t.rejectUnauthorized ?? true,
      });
      event = 'secureConnect';
    } else socket = net.connect({ host: target.host, port: target.port });
    const timer =
      timeout === undefined
        ? null
        : setTimeout(() => {
            socket.destroy();
            reject(new ConnectTimeoutError(`connect timed out after ${timeout} ms`));
          }, timeout);
    const fail = (error: Error): void => {
      if (timer !== null) clearTimeout(timer);
      reject(toConnectionError(error));
    };
    socket.once('error', fail);
    socket.once(event, () => {
      if (timer !== null) clearTimeout(timer);
      socket.off('error', fail);
      resolve(new NodeByteStream(socket));
    });
  });
}

// One shared Promise executor (no closure per call).
let capturedResolve: (value: never) => void = () => {};
let capturedReject: (error: unknown) => void = () => {};
function captureResolvers(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

class NodeWake<T> implements Wake<T> {
  constructor(
    readonly resolve: (value: T) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/** The Runtime of plain Node: Promises, node:net, timers. */
export const nodeRuntime: Runtime = {
  name: 'node',
  connect: (target, options) => connectNode(target, options?.timeout),
  wait<T>(_state: string, waiter: Waiter<T>): Promise<T> {
    // Nothing outside the call itself can cancel a plain Promise: `waiter.cancel` is never used.
    const promise = new Promise<T>(captureResolvers);
    if (waiter.startWith !== undefined) waiter.startWith(capturedResolve as (value: T) => void, capturedReject);
    else waiter.start(new NodeWake<T>(capturedResolve as (value: T) => void, capturedReject));
    return promise;
  },
  spawn(fn: () => Promise<void>): Background {
    void fn();
    return { cancel: () => {} };
  },
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  defer: (fn) => process.nextTick(fn),
  now: () => performance.now(),
  timer(ms, fn) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};
