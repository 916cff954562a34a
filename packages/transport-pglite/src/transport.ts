// transport-pglite/transport.ts
//
// PGlite as a transport: `pgliteConnect()` is the engine's ConnectFunction, and each stream it
// opens carries raw protocol bytes to one PGlite instance, so the same proto-pg and client run
// against it unchanged. The instance runs in a worker thread by default (worker/pglite-worker.mjs,
// reached through a SharedArrayBuffer channel: worker/channel.mjs), or in the calling thread
// with `thread: 'main'` (no hop: less latency, but a query blocks the event loop while it runs).
//
// Invariants:
// - One PGlite per process per data directory and thread mode (in memory by default), started
//   on first use and kept until `closePglite()` (start-up costs seconds and hundreds of MB: see
//   the README). A data directory is open in one mode at a time (ERR_PGLITE_THREAD otherwise);
//   the in-memory databases of the two modes are two databases.
// - PGlite is a single session. One connection holds it at a time: a second one that sends a
//   startup packet meanwhile gets FATAL 53300 (too_many_connections) and end of stream, as a
//   full server would answer; it is never interleaved with the first (its transactions,
//   prepared statements and settings would leak). When the holder closes, the session is reset
//   (Sync, ROLLBACK, DISCARD ALL) before the next connection gets it.
// - The transport answers an SSLRequest or GSSENCRequest with 'N' itself (PGlite dies on them),
//   swallows a CancelRequest and closes that stream (PGlite throws on it; it cannot interrupt a
//   running query anyway), and turns a COPY ... FROM STDIN into a statement that makes the
//   server raise feature_not_supported (PGlite crashes on COPY FROM STDIN and the next query
//   hangs). A Terminate is not forwarded: it would end PGlite's single backend for good. A
//   message type a session may not send is refused with FATAL 08P01, as a server refuses it
//   (PGlite hangs on a password message or an unknown letter, and breaks on type 0).
// - Bytes go to PGlite only as whole messages up to a Sync, Query or Flush (or a startup
//   packet alone): PGlite runs what it is given to the end, then answers. Execs are
//   serialised: one runs at a time, in the order they were made; closePglite() queues behind them.
// - The main thread never blocks on the worker: requests and answers of any size cross the
//   channel's rings in records, the writer waiting (Atomics.waitAsync here, Atomics.wait in the
//   worker) while the peer's ring is full.
// - When PGlite itself breaks (a wasm trap, the worker dying), every stream on it fails with a
//   ConnectionError (code ERR_PGLITE_CRASHED); the next connect starts a new PGlite.

import { ConnectionError, ConnectTimeoutError, concatBytes as concat } from '@curio-ts/client';
import type { ByteStream, ConnectFunction, ReadSink } from '@curio-ts/client';
import type { PGlite } from '@electric-sql/pglite';
import { Worker } from 'node:worker_threads';
import { CELL, Channel, KIND, sharedBuffer } from '../worker/channel.mjs';
import type { ChannelRecord } from '../worker/channel.mjs';
import {
  CANCEL_REQUEST, GSSENC_REQUEST, PROTOCOL_3_0, SSL_REQUEST, errorResponse, int32, queryMessage, refuseCopyFromStdin, typedMessage,
} from './frontend.js';

/**
 * Where PGlite runs: 'worker' (a worker thread: the event loop stays free while a query runs)
 * or 'main' (the calling thread: no thread hop, so lower latency per query, but a query
 * blocks the event loop until it ends, as PGlite's own API does).
 */
export type PgliteThread = 'worker' | 'main';

/** Options of {@link pgliteConnect}. */
export interface PgliteTransportOptions {
  /**
   * The data directory PGlite keeps its files in (created if missing); absent or 'memory://':
   * in memory, gone when the process ends.
   */
  readonly dataDir?: string;
  /** Longest frontend message accepted, in bytes (default 64 MiB). */
  readonly maxMessageSize?: number;
  /**
   * Refuse a frontend message whose type byte protocol 3.0 does not allow in a session (as a
   * server does: FATAL 08P01, the stream ends) instead of handing it to PGlite, which hangs on
   * some (a `p` or an unknown letter: its next exec never returns) and breaks on others (type
   * 0). Default true; false only to test what a broken PGlite does to the streams on it.
   */
  readonly checkMessageTypes?: boolean;
  /**
   * Where PGlite runs (default 'worker'): see {@link PgliteThread}. Each mode has its own
   * instance; a data directory can be open in one mode at a time.
   */
  readonly thread?: PgliteThread;
}

/** Figures of a started instance. */
export interface PgliteInstanceInfo {
  /** Milliseconds PGlite.create took (in the worker, or in this thread). */
  readonly startupMs: number;
  /** The process's resident set size right after, in bytes (PGlite's share is most of it). */
  readonly rss: number;
}


/** Atomics.waitAsync (Node 16 and later; typed from lib ES2024 on, this package builds on ES2023). */
const waitAsync = (Atomics as unknown as {
  waitAsync(cells: Int32Array, index: number, value: number): { readonly async: false; readonly value: string } | { readonly async: true; readonly value: Promise<string> };
}).waitAsync;

type StartReply =
  | { readonly type: 'ready'; readonly startupMs: number; readonly rss: number }
  | { readonly type: 'fatal'; readonly message: string };

const RESET = new Uint8Array([
  ...typedMessage('S', new Uint8Array(0)),
  ...queryMessage('ROLLBACK'),
  ...queryMessage('DISCARD ALL'),
]);

/** An answer is handed on in pieces of about this size (a small one in one piece). */
const GATHER = 256 * 1024;
const NO_BYTES = new Uint8Array(0);

/** One PGlite, and the single session it has; how it runs bytes is the subclass's. */
abstract class PgliteInstance {
  abstract readonly ready: Promise<PgliteInstanceInfo>;
  private chain: Promise<void> = Promise.resolve();
  protected broken: Error | null = null;
  /** The stream holding the session, or null. */
  holder: PgliteStream | null = null;
  /** Every stream not yet ended (the holder and the others): all fail when PGlite breaks or closes. */
  readonly streams = new Set<PgliteStream>();
  /** Open streams and execs in flight: while any, a worker keeps the process alive, as an open socket does. */
  private users = 0;

  constructor(readonly dataDir: string | undefined, readonly thread: PgliteThread) {}

  /** Run whole messages to the end; the answer goes to `onData` in order. Rejects when PGlite breaks. */
  protected abstract run(bytes: Uint8Array, syncToFs: boolean, onData: (bytes: Uint8Array) => void): Promise<void>;
  /** Whether the process must stay alive for this instance. */
  protected abstract keepAlive(on: boolean): void;
  /** Stop PGlite after what is queued (the subclass awaits `this.queued(...)`). */
  abstract close(): Promise<void>;

  /** One more (+1) or one less (-1) reason to keep the process alive. */
  hold(delta: 1 | -1): void {
    this.users += delta;
    if (this.users === 1 && delta === 1) this.keepAlive(true);
    else if (this.users === 0) this.keepAlive(false);
  }

  get failure(): Error | null {
    return this.broken;
  }

  protected fail(error: Error): void {
    if (this.broken !== null) return;
    this.broken = error;
    for (const stream of [...this.streams]) stream.failWith(error);
    this.failed(error);
  }

  /** What a subclass does when the instance breaks (reject what is in flight). */
  protected abstract failed(error: Error): void;

  /** Run `step` after everything queued before it (execs and close are serialised). */
  protected queued<T>(step: () => Promise<T>): Promise<T> {
    const result = this.chain.then(step, step);
    this.chain = result.then(() => {}, () => {});
    return result;
  }

  /** Run whole messages; chunks of the answer go to `onData` in order. Serialised with every other exec. */
  exec(bytes: Uint8Array, onData: (bytes: Uint8Array) => void): Promise<void> {
    return this.queued(async () => {
      if (this.broken !== null) throw this.broken;
      this.hold(1);
      try {
        await this.run(bytes, this.dataDir !== undefined, onData);
      } finally {
        this.hold(-1);
      }
    });
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
}

/**
 * PGlite in a worker thread, reached through a shared-memory channel (worker/channel.mjs): a
 * request is written into the request ring and the worker, blocked in Atomics.wait, wakes; the
 * answer comes back through the reply ring, this thread woken by Atomics.waitAsync. Nothing is
 * posted per query. This thread never blocks: a request larger than the ring goes in pieces as
 * the worker takes them, and the answer is taken as it comes.
 */
class WorkerInstance extends PgliteInstance {
  readonly ready: Promise<PgliteInstanceInfo>;
  private readonly worker: Worker;
  private readonly channel: Channel;
  private readonly counters: Int32Array;
  /** The exec whose answer is awaited. */
  private current: { readonly onData: (bytes: Uint8Array) => void; readonly resolve: () => void; readonly reject: (error: Error) => void } | null = null;
  /** Set while close() waits for the worker's CLOSED. */
  private closing: (() => void) | null = null;
  /** An Atomics.waitAsync on the reply ring is pending. */
  private pumping = false;

  constructor(dataDir: string | undefined) {
    super(dataDir, 'worker');
    const shared = sharedBuffer();
    this.channel = new Channel(shared, 'main');
    this.counters = this.channel.counters;
    this.worker = new Worker(new URL('../worker/pglite-worker.mjs', import.meta.url), {
      workerData: { pgliteUrl: import.meta.resolve('@electric-sql/pglite'), dataDir, shared },
    });
    // Referenced while starting (someone awaits it), then only while a stream is open or an exec runs.
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (reply: StartReply) => {
        if (reply.type === 'ready') {
          // Unreferenced now unless a stream, an exec or close() holds it.
          if (this.broken === null) this.keepAlive(this.keptAlive);
          resolve({ startupMs: reply.startupMs, rss: reply.rss });
        } else {
          this.fail(new ConnectionError(`PGlite did not start: ${reply.message}`, 'ERR_PGLITE_START'));
          reject(this.broken);
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

  private keptAlive = false;
  /** Set by close(): the worker stays referenced until it has ended, whatever the execs do. */
  private closingPinned = false;

  protected keepAlive(on: boolean): void {
    this.keptAlive = on;
    // Atomics.waitAsync does not keep the process alive: the referenced worker does, while
    // anything is in flight (an exec, an open stream, close()).
    if (on || this.closingPinned) this.worker.ref();
    else this.worker.unref();
  }

  protected run(bytes: Uint8Array, syncToFs: boolean, onData: (bytes: Uint8Array) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.current = { onData, resolve, reject };
      this.send(bytes, syncToFs ? 1 : 0).then(() => this.pump(), (error: unknown) => {
        this.current = null;
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  /** Write a request: pieces of at most a record, then the last one (EXEC). */
  private async send(bytes: Uint8Array, flags: number): Promise<void> {
    const max = this.channel.maxPayload;
    let at = 0;
    for (; bytes.length - at > max; at += max) await this.write(KIND.EXEC_PART, 0, bytes.subarray(at, at + max));
    await this.write(KIND.EXEC, flags, at === 0 ? bytes : bytes.subarray(at));
  }

  /** Write one record, waiting (without blocking) while the request ring has no room. */
  private async write(kind: number, flags: number, payload: Uint8Array): Promise<void> {
    const cell = this.channel.outgoingReadCell();
    for (;;) {
      if (this.broken !== null) throw this.broken;
      const seen = Atomics.load(this.counters, cell);
      if (this.channel.tryWriteRecord(kind, flags, payload)) return;
      const wait = waitAsync(this.counters, cell, seen);
      if (wait.async) await wait.value;
    }
  }

  /** Take every record the worker wrote, then (while an answer is awaited) wait for more. */
  private pump(): void {
    if (this.pumping) return;
    const cell = this.channel.incomingCell();
    for (;;) {
      const seen = Atomics.load(this.counters, cell);
      for (let record = this.channel.tryReadRecord(); record !== null; record = this.channel.tryReadRecord()) this.dispatch(record);
      if (this.broken !== null || (this.current === null && this.closing === null)) return;
      const wait = waitAsync(this.counters, cell, seen);
      if (!wait.async) continue;
      this.pumping = true;
      void wait.value.then(() => {
        this.pumping = false;
        this.pump();
      });
      return;
    }
  }

  private dispatch(record: ChannelRecord): void {
    switch (record.kind) {
      case KIND.DATA:
        this.current?.onData(record.payload);
        break;
      case KIND.DONE: {
        const current = this.current;
        this.current = null;
        if (record.payload.length > 0) current?.onData(record.payload);
        current?.resolve();
        break;
      }
      case KIND.FAILED:
        this.fail(new ConnectionError(`PGlite crashed: ${new TextDecoder().decode(record.payload)}`, 'ERR_PGLITE_CRASHED'));
        break;
      case KIND.CLOSED:
        this.closing?.();
        break;
      default:
        this.fail(new ConnectionError(`unknown record ${record.kind} from the PGlite worker`, 'ERR_PGLITE_CRASHED'));
    }
  }

  protected failed(error: Error): void {
    const current = this.current;
    this.current = null;
    current?.reject(error);
    this.closing?.();
    // Wake this thread's own waits on the channel: they see `broken` and stop.
    Atomics.notify(this.counters, CELL.REP_WRITE);
    Atomics.notify(this.counters, CELL.REQ_READ);
    // A PGlite that broke is never used again (its next exec may spin for ever): its memory goes now.
    void this.worker.terminate();
  }

  async close(): Promise<void> {
    if (this.broken === null) {
      // Whoever awaits close() must not see the process exit first (an exec ending meanwhile
      // would unreference the worker otherwise).
      this.closingPinned = true;
      this.worker.ref();
      const closed = new Promise<void>((resolve) => (this.closing = resolve));
      // After every exec queued: a query running now ends first.
      await this.queued(async () => {
        await this.write(KIND.CLOSE, 0, NO_BYTES);
        this.pump();
        await closed;
      }).catch(() => {});
      this.fail(new ConnectionError('PGlite was closed', 'ERR_PGLITE_CLOSED'));
    }
    await this.worker.terminate();
  }
}

/**
 * PGlite in the calling thread: the bytes go to `execProtocolRawStream` directly, no thread hop.
 * A query blocks this thread's event loop while it runs, as PGlite's own API does.
 */
class MainThreadInstance extends PgliteInstance {
  readonly ready: Promise<PgliteInstanceInfo>;
  private db: PGlite | null = null;

  constructor(dataDir: string | undefined) {
    super(dataDir, 'main');
    this.ready = (async () => {
      try {
        const { PGlite } = await import('@electric-sql/pglite');
        const began = performance.now();
        const db = await PGlite.create(dataDir);
        if (this.broken !== null) {
          await db.close();
          throw this.broken;
        }
        this.db = db;
        return { startupMs: performance.now() - began, rss: process.memoryUsage().rss };
      } catch (error) {
        this.fail(error instanceof ConnectionError ? error : new ConnectionError(`PGlite did not start: ${String(error)}`, 'ERR_PGLITE_START', { cause: error }));
        throw this.broken;
      }
    })();
    this.ready.catch(() => {});
  }

  protected keepAlive(): void {
    // Nothing runs in the background: an exec is done when its promise settles.
  }

  protected async run(bytes: Uint8Array, syncToFs: boolean, onData: (bytes: Uint8Array) => void): Promise<void> {
    const db = this.db;
    if (db === null) throw new ConnectionError('PGlite is not started', 'ERR_PGLITE_CLOSED');
    const gathered = new Gatherer(onData);
    try {
      await db.execProtocolRawStream(bytes, { syncToFs, onRawData: gathered.take });
    } catch (error) {
      // Never used again (its next exec may spin for ever, and so may close()): dropped.
      this.db = null;
      this.fail(new ConnectionError(`PGlite crashed: ${error instanceof Error ? error.message : String(error)}`, 'ERR_PGLITE_CRASHED', { cause: error }));
      throw this.broken;
    }
    gathered.flush();
  }

  protected failed(): void {
    // Nothing is in flight between execs: PGlite runs each to the end before returning.
  }

  async close(): Promise<void> {
    await this.ready.catch(() => {});
    await this.queued(async () => {
      const db = this.db;
      this.db = null;
      this.fail(new ConnectionError('PGlite was closed', 'ERR_PGLITE_CLOSED'));
      await db?.close();
    }).catch(() => {});
  }
}

/**
 * Copies PGlite's output (a view into wasm memory, reused by the next write) into pieces of
 * about GATHER bytes, handed on when full and at the end.
 */
class Gatherer {
  private parts: Uint8Array[] = [];
  private size = 0;

  constructor(private readonly onData: (bytes: Uint8Array) => void) {}

  readonly take = (chunk: Uint8Array): number => {
    this.parts.push(chunk.slice());
    this.size += chunk.length;
    if (this.size >= GATHER) this.flush();
    return chunk.length;
  };

  flush(): void {
    if (this.size === 0) return;
    const parts = this.parts;
    this.parts = [];
    this.size = 0;
    this.onData(parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts));
  }
}

const instances = new Map<string, PgliteInstance>();

function keyOf(dataDir: string | undefined): string {
  return dataDir === undefined || dataDir === 'memory://' ? 'memory://' : dataDir;
}

function instanceFor(dataDir: string | undefined, thread: PgliteThread): PgliteInstance {
  const key = keyOf(dataDir);
  const stored = `${thread} ${key}`;
  let instance = instances.get(stored);
  if (instance === undefined || instance.failure !== null) {
    const other = instances.get(`${thread === 'main' ? 'worker' : 'main'} ${key}`);
    if (key !== 'memory://' && other !== undefined && other.failure === null) {
      throw new ConnectionError(
        `the data directory ${key} is open in PGlite in the ${other.thread === 'main' ? 'main' : 'worker'} thread: close it (closePglite) before opening it with thread: '${thread}'`,
        'ERR_PGLITE_THREAD',
      );
    }
    instance = thread === 'main' ? new MainThreadInstance(key === 'memory://' ? undefined : key) : new WorkerInstance(key === 'memory://' ? undefined : key);
    instances.set(stored, instance);
  }
  return instance;
}

/**
 * The engine's connect function for PGlite: each call opens a stream to the process's PGlite
 * for `options.dataDir` (started on first use, in a worker thread, or in this thread with
 * `thread: 'main'`). Rejects with a ConnectTimeoutError (ETIMEDOUT) when PGlite is not ready
 * within `timeout` ms, or a ConnectionError when it could not start (ERR_PGLITE_START) or the
 * data directory is open in the other thread mode (ERR_PGLITE_THREAD).
 */
export function pgliteConnect(options: PgliteTransportOptions = {}): ConnectFunction {
  const maxMessageSize = options.maxMessageSize ?? 64 * 1024 * 1024;
  const checkTypes = options.checkMessageTypes ?? true;
  const thread = options.thread ?? 'worker';
  return async ({ timeout }) => {
    const instance = instanceFor(options.dataDir, thread);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectTimeoutError(`PGlite was not ready within ${timeout} ms`)), timeout);
    });
    try {
      await Promise.race([instance.ready, expired]);
    } finally {
      clearTimeout(timer);
    }
    return new PgliteStream(instance, maxMessageSize, checkTypes);
  };
}

/**
 * Start (or find) the process's PGlite for `options.dataDir` (in the thread `options.thread`
 * names) and wait until it is ready; resolves with its start-up figures.
 */
export function startPglite(options: PgliteTransportOptions = {}): Promise<PgliteInstanceInfo> {
  try {
    return instanceFor(options.dataDir, options.thread ?? 'worker').ready;
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Close the PGlite for `dataDir` (default: the in-memory one; both the worker's and the main
 * thread's, when both run) after the exec running now, and end its worker; open streams fail
 * (ERR_PGLITE_CLOSED).
 */
export async function closePglite(dataDir?: string): Promise<void> {
  const key = keyOf(dataDir);
  for (const thread of ['worker', 'main'] as const) {
    const instance = instances.get(`${thread} ${key}`);
    if (instance === undefined) continue;
    instances.delete(`${thread} ${key}`);
    await instance.close();
  }
}

type Phase = 'first-packet' | 'session' | 'closed';

/**
 * The frontend messages of a protocol 3.0 session after its startup packet, by type byte (1:
 * allowed): Bind, Close, Describe, Execute, FunctionCall, Flush, Parse, Query, Sync, Terminate,
 * CopyDone, CopyData, CopyFail. No password message: PGlite asks for none (it trusts).
 */
const SESSION_MESSAGE_TYPES: Uint8Array = (() => {
  const allowed = new Uint8Array(256);
  for (const letter of 'BCDEFHPQSXcdf') allowed[letter.charCodeAt(0)] = 1;
  return allowed;
})();

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

  constructor(
    private readonly instance: PgliteInstance,
    private readonly maxMessageSize: number,
    private readonly checkTypes: boolean,
  ) {
    instance.hold(1);
    instance.streams.add(this);
  }

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
    this.instance.hold(-1);
    this.instance.streams.delete(this);
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
      const type = bytes[at] as number;
      if (this.checkTypes && SESSION_MESSAGE_TYPES[type] !== 1) {
        this.refuse('08P01', `invalid frontend message type ${type}`);
        break;
      }
      const message = bytes.subarray(at, at + 1 + length);
      at += 1 + length;
      if (type === 0x58 /* X: Terminate */) {
        this.send(this.pending.length);
        this.close();
        break;
      }
      this.pending.push(refuseCopyFromStdin(message));
      if (type === 0x53 /* S */ || type === 0x51 /* Q */ || type === 0x48 /* H */) flushTo = this.pending.length;
    }
    this.inbound = at === bytes.length ? new Uint8Array(0) : bytes.slice(at);
    // Refused meanwhile: nothing of what came with the refused message goes to PGlite.
    if (flushTo > 0 && this.phase !== 'closed') this.send(flushTo);
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
