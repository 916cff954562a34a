// transport-pglite/transport.ts
//
// PGlite as a transport: `pgliteConnect()` is the engine's ConnectFunction, and each stream it
// opens carries raw protocol bytes to one PGlite instance running in a worker thread
// (worker/pglite-worker.mjs), so the same proto-pg and client run against it unchanged.
//
// Invariants:
// - One PGlite per process per data directory (in memory by default), started on first use and
//   kept until `closePglite()` (start-up costs seconds and hundreds of MB: see the README).
// - PGlite is a single session. One connection holds it at a time: a second one that sends a
//   startup packet meanwhile gets FATAL 53300 (too_many_connections) and end of stream, as a
//   full server would answer; it is never interleaved with the first (its transactions,
//   prepared statements and settings would leak). When the holder closes, the session is reset
//   (Sync, ROLLBACK, DISCARD ALL) before the next connection gets it.
// - The transport answers an SSLRequest or GSSENCRequest with 'N' itself (PGlite dies on them),
//   swallows a CancelRequest and closes that stream (PGlite throws on it; it cannot interrupt a
//   running query anyway), and turns a COPY ... FROM STDIN into a statement that makes the
//   server raise feature_not_supported (PGlite crashes on COPY FROM STDIN and the next query
//   hangs). A Terminate is not forwarded: it would end PGlite's single backend for good.
// - Bytes go to the worker only as whole messages up to a Sync, Query or Flush (or a startup
//   packet alone): PGlite runs what it is given to the end, then answers.
// - When PGlite itself breaks (a wasm trap), every stream on it fails with a ConnectionError
//   (code ERR_PGLITE_CRASHED) and so does every later connect.

import { ConnectionError, ConnectTimeoutError } from '@curio-ts/client';
import type { ByteStream, ConnectFunction, ReadSink } from '@curio-ts/client';
import { Worker } from 'node:worker_threads';
import {
  CANCEL_REQUEST, GSSENC_REQUEST, PROTOCOL_3_0, SSL_REQUEST, errorResponse, int32, queryMessage, refuseCopyFromStdin, typedMessage,
} from './frontend.js';

/** Options of {@link pgliteConnect}. */
export interface PgliteTransportOptions {
  /**
   * The data directory PGlite keeps its files in (created if missing); absent or 'memory://':
   * in memory, gone when the process ends.
   */
  readonly dataDir?: string;
  /** Longest frontend message accepted, in bytes (default 64 MiB). */
  readonly maxMessageSize?: number;
}

/** Figures of a started instance. */
export interface PgliteInstanceInfo {
  /** Milliseconds PGlite.create took in the worker. */
  readonly startupMs: number;
  /** The process's resident set size right after, in bytes (PGlite's share is most of it). */
  readonly rss: number;
}

type WorkerReply =
  | { readonly type: 'ready'; readonly startupMs: number; readonly rss: number }
  | { readonly type: 'fatal'; readonly message: string }
  | { readonly type: 'data'; readonly id: number; readonly bytes: Uint8Array }
  | { readonly type: 'done'; readonly id: number; readonly bytes: Uint8Array | null }
  | { readonly type: 'failed'; readonly id: number; readonly message: string }
  | { readonly type: 'closed' };

interface Exec {
  readonly id: number;
  readonly onData: (bytes: Uint8Array) => void;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

const RESET = new Uint8Array([
  ...typedMessage('S', new Uint8Array(0)),
  ...queryMessage('ROLLBACK'),
  ...queryMessage('DISCARD ALL'),
]);

/** One PGlite in one worker thread, and the single session it has. */
class PgliteInstance {
  readonly ready: Promise<PgliteInstanceInfo>;
  private readonly worker: Worker;
  private readonly execs = new Map<number, Exec>();
  private nextId = 1;
  private chain: Promise<void> = Promise.resolve();
  private broken: Error | null = null;
  /** The stream holding the session, or null. */
  holder: PgliteStream | null = null;
  private closedResolve: (() => void) | null = null;

  constructor(readonly dataDir: string | undefined) {
    this.worker = new Worker(new URL('../worker/pglite-worker.mjs', import.meta.url), {
      workerData: { pgliteUrl: import.meta.resolve('@electric-sql/pglite'), dataDir },
    });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (reply: WorkerReply) => {
        switch (reply.type) {
          case 'ready':
            resolve({ startupMs: reply.startupMs, rss: reply.rss });
            break;
          case 'fatal':
            this.fail(new ConnectionError(`PGlite did not start: ${reply.message}`, 'ERR_PGLITE_START'));
            reject(this.broken);
            break;
          case 'data':
            this.execs.get(reply.id)?.onData(reply.bytes);
            break;
          case 'done': {
            const exec = this.execs.get(reply.id);
            this.execs.delete(reply.id);
            if (reply.bytes !== null) exec?.onData(reply.bytes);
            exec?.resolve();
            break;
          }
          case 'failed':
            this.fail(new ConnectionError(`PGlite crashed: ${reply.message}`, 'ERR_PGLITE_CRASHED'));
            break;
          case 'closed':
            this.closedResolve?.();
            break;
          default: {
            const never: never = reply;
            throw new Error(`unknown worker reply ${String(never)}`);
          }
        }
      });
      this.worker.on('error', (error) => {
        this.fail(new ConnectionError(`the PGlite worker failed: ${error.message}`, 'ERR_PGLITE_CRASHED', { cause: error }));
        reject(this.broken);
      });
      this.worker.on('exit', () => {
        this.fail(new ConnectionError('the PGlite worker exited', 'ERR_PGLITE_CLOSED'));
        reject(this.broken);
      });
    });
    this.ready.catch(() => {});
  }

  get failure(): Error | null {
    return this.broken;
  }

  private fail(error: Error): void {
    if (this.broken !== null) return;
    this.broken = error;
    for (const exec of this.execs.values()) exec.reject(error);
    this.execs.clear();
    this.holder?.failWith(error);
    this.closedResolve?.();
  }

  /** Run whole messages; chunks of the answer go to `onData` in order. Serialised with every other exec. */
  exec(bytes: Uint8Array, onData: (bytes: Uint8Array) => void): Promise<void> {
    const run = (): Promise<void> => {
      if (this.broken !== null) return Promise.reject(this.broken);
      return new Promise<void>((resolve, reject) => {
        const id = this.nextId++;
        this.execs.set(id, { id, onData, resolve, reject });
        const copy = bytes.slice();
        this.worker.postMessage({ type: 'exec', id, bytes: copy, syncToFs: this.dataDir !== undefined }, [copy.buffer]);
      });
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => {});
    return result;
  }

  /**
   * The holder let go: the session is free at once, and a reset (its answers dropped) is queued
   * before anything the next holder sends, as every exec runs in order.
   */
  release(stream: PgliteStream): void {
    if (this.holder !== stream) return;
    this.holder = null;
    void this.exec(RESET, () => {}).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.broken === null) {
      const closed = new Promise<void>((resolve) => (this.closedResolve = resolve));
      this.worker.postMessage({ type: 'close' });
      await closed;
    }
    await this.worker.terminate();
  }
}

const instances = new Map<string, PgliteInstance>();

function instanceFor(dataDir: string | undefined): PgliteInstance {
  const key = dataDir === undefined || dataDir === 'memory://' ? 'memory://' : dataDir;
  let instance = instances.get(key);
  if (instance === undefined || instance.failure !== null) {
    instance = new PgliteInstance(key === 'memory://' ? undefined : key);
    instances.set(key, instance);
  }
  return instance;
}

/**
 * The engine's connect function for PGlite: each call opens a stream to the process's PGlite
 * for `options.dataDir` (started on first use, in a worker thread). Rejects with a
 * ConnectTimeoutError (ETIMEDOUT) when PGlite is not ready within `timeout` ms, or a
 * ConnectionError when it could not start.
 */
export function pgliteConnect(options: PgliteTransportOptions = {}): ConnectFunction {
  const maxMessageSize = options.maxMessageSize ?? 64 * 1024 * 1024;
  return async ({ timeout }) => {
    const instance = instanceFor(options.dataDir);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectTimeoutError(`PGlite was not ready within ${timeout} ms`)), timeout);
    });
    try {
      await Promise.race([instance.ready, expired]);
    } finally {
      clearTimeout(timer);
    }
    return new PgliteStream(instance, maxMessageSize);
  };
}

/**
 * Start (or find) the process's PGlite for `options.dataDir` and wait until it is ready;
 * resolves with its start-up figures.
 */
export function startPglite(options: PgliteTransportOptions = {}): Promise<PgliteInstanceInfo> {
  return instanceFor(options.dataDir).ready;
}

/** Close the PGlite for `dataDir` (default: the in-memory one) and end its worker; open streams fail. */
export async function closePglite(dataDir?: string): Promise<void> {
  const key = dataDir === undefined || dataDir === 'memory://' ? 'memory://' : dataDir;
  const instance = instances.get(key);
  if (instance === undefined) return;
  instances.delete(key);
  await instance.close();
}

type Phase = 'first-packet' | 'session' | 'closed';

/** One connection: a ByteStream whose far end is the instance's session. */
class PgliteStream implements ByteStream {
  private phase: Phase = 'first-packet';
  private inbound: Uint8Array = new Uint8Array(0);
  /** Whole messages not yet sent: they wait for a Sync, Query or Flush. */
  private pending: Uint8Array[] = [];
  private readonly readable: Uint8Array[] = [];
  private ended = false;
  private error: Error | null = null;
  private waiting: { resolve: (chunk: Uint8Array | null) => void; reject: (error: Error) => void; sink: ReadSink | undefined } | null = null;

  constructor(private readonly instance: PgliteInstance, private readonly maxMessageSize: number) {}

  read(sink?: ReadSink): Promise<Uint8Array | null> {
    const chunk = this.readable.shift();
    if (chunk !== undefined) return Promise.resolve(chunk);
    if (this.error !== null) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject, sink }));
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.error !== null) throw this.error;
    if (this.phase === 'closed') throw new ConnectionError('the PGlite stream is closed', 'ERR_STREAM_CLOSED');
    this.inbound = this.inbound.length === 0 ? data.slice() : concat([this.inbound, data]);
    this.takeMessages();
  }

  close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.instance.release(this);
    this.end(null);
  }

  /** PGlite broke under this stream. */
  failWith(error: Error): void {
    this.phase = 'closed';
    this.end(error);
  }

  private deliver(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.ended) return;
    const waiting = this.waiting;
    if (waiting !== null) {
      if (waiting.sink !== undefined && waiting.sink(bytes)) return;
      this.waiting = null;
      waiting.resolve(bytes);
      return;
    }
    this.readable.push(bytes);
  }

  private end(error: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting === null) return;
    if (error !== null) waiting.reject(error);
    else waiting.resolve(null);
  }

  /** Answer with FATAL and end the stream, as a server that refuses a connection does. */
  private refuse(code: string, message: string): void {
    this.deliver(errorResponse('FATAL', code, message));
    this.phase = 'closed';
    if (this.instance.holder === this) this.instance.release(this);
    this.end(null);
  }

  private takeMessages(): void {
    let at = 0;
    const bytes = this.inbound;
    let flushTo = -1; // index in pending after the last Sync/Query/Flush
    while (this.phase !== 'closed') {
      if (this.phase === 'first-packet') {
        if (bytes.length - at < 4) break;
        const length = int32(bytes, at);
        if (length < 8 || length > 10_000) {
          this.refuse('08P01', `invalid length of startup packet: ${length}`);
          break;
        }
        if (bytes.length - at < length) break;
        const packet = bytes.subarray(at, at + length);
        at += length;
        this.firstPacket(packet);
        continue;
      }
      if (bytes.length - at < 5) break;
      const length = int32(bytes, at + 1);
      if (length < 4 || length > this.maxMessageSize) {
        this.refuse('08P01', `invalid frontend message length ${length} (type ${String.fromCharCode(bytes[at] ?? 0)})`);
        break;
      }
      if (bytes.length - at < 1 + length) break;
      const message = bytes.subarray(at, at + 1 + length);
      at += 1 + length;
      const type = message[0];
      if (type === 0x58 /* X: Terminate */) {
        this.send(this.pending.length);
        this.close();
        break;
      }
      this.pending.push(refuseCopyFromStdin(message));
      if (type === 0x53 /* S */ || type === 0x51 /* Q */ || type === 0x48 /* H */) flushTo = this.pending.length;
    }
    this.inbound = at === bytes.length ? new Uint8Array(0) : bytes.slice(at);
    if (flushTo > 0) this.send(flushTo);
  }

  private firstPacket(packet: Uint8Array): void {
    const code = int32(packet, 4);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.deliver(new Uint8Array([0x4e])); // 'N': go on in plain text
      return;
    }
    if (code === CANCEL_REQUEST) {
      // A cancel connection: PGlite cannot be interrupted; the bytes are swallowed, the stream ends.
      this.phase = 'closed';
      this.end(null);
      return;
    }
    if (code !== PROTOCOL_3_0) {
      this.refuse('08P01', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: PGlite speaks 3.0`);
      return;
    }
    if (this.instance.holder !== null && this.instance.holder !== this) {
      this.refuse('53300', 'PGlite is a single session and another connection holds it: use one connection (a pool of size 1)');
      return;
    }
    this.instance.holder = this;
    this.phase = 'session';
    this.pending.push(packet.slice());
    this.send(1);
  }

  /** Send the first `count` pending messages to PGlite as one exec. */
  private send(count: number): void {
    if (count === 0) return;
    const batch = this.pending.splice(0, count);
    const bytes = batch.length === 1 ? (batch[0] as Uint8Array) : concat(batch);
    this.instance.exec(bytes, (chunk) => this.deliver(chunk)).catch((error: unknown) => {
      this.failWith(error instanceof Error ? error : new ConnectionError(String(error), 'ERR_PGLITE_CRASHED'));
    });
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
