// runtime.ts
//
// The Runtime interface: everything the engine and the protocol APIs need from the world, and
// all a backend has to implement. Three backends implement it: node (node:net / node:tls and
// Promises), curio (kernel tasks and kernel sockets) and memory (in-process byte pipes and a
// clock the test advances). A fourth (Deno, Bun) would implement these members and get every
// client and server for free.
//
// Invariants every runtime keeps (the conformance kit checks them):
// - Reads are paced by the consumer: a ByteStream buffers at most about `highWater` bytes the
//   consumer has not read; beyond that it stops reading from the peer (TCP pushes back).
// - Writes wait for the peer: `write()` resolves at once while the bytes not yet handed to the
//   peer stay under `highWater`, and otherwise once they drain, so a writer that awaits its
//   writes holds bounded memory.
// - `spawn`ed work really stops when cancelled: its signal aborts (and on curio its task is
//   cancelled at its await), and `done` settles once it has returned.
// - Every timer and `now()` follow the runtime's own clock (the kernel's clock on curio, the
//   virtual clock of the memory runtime), so a timed-out call under a virtual clock ends at once.
//
// Discussion: why `wait` and not plain Promises. The engine never creates the Promise of a
// pending call itself: it asks the runtime to `wait`, handing it a registration object (the
// call). The node runtime turns that into a Promise. The curio runtime turns it into a kernel
// TaskOperation owned by the calling task: still a plain Promise for the caller, in every use,
// but the kernel settles it in that task's turn and abandons it when the task is cancelled or
// its timeout expires, so a task blocked on a reply is interrupted at once (and keeps the
// kernel's fast path). Per-call `signal` and `timeout` options are handled by the engine on
// top of `wait`, identically on every runtime.
//
// Discussion: waits that cannot be abandoned at once. Dropping a Redis reply is free (the
// protocol object swallows it when it comes), but a Postgres query that is cancelled must be
// answered by the server before the connection can be used again. `Waiter.cancel()` may answer
// `false` ("not yet", trio's Abort.FAILED): the runtime then keeps the caller waiting until the
// waiter settles (with the error the abandonment produced), instead of pretending.

import type { EngineCall } from './engine/call.js';

/** Options of {@link Runtime.timer}. */
export interface TimerOptions {
  /** The timer does not keep the process alive by itself (default false). */
  readonly unref?: boolean;
}

/** Where to connect. */
export type ConnectTarget =
  | {
      readonly host: string;
      readonly port: number;
      /** TLS options; presence means TLS from the first byte. */
      readonly tls?: TlsOptions;
    }
  | { readonly path: string };

/** Where to listen. Port 0 picks a free port (read it back from `Listener.address`). */
export type ListenTarget =
  | {
      /** Default '127.0.0.1'. */
      readonly host?: string;
      readonly port: number;
      /** Serve TLS from the first byte. */
      readonly tls?: TlsServerOptions;
    }
  | { readonly path: string };

/** A bound address. */
export type StreamAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** TLS options of the client side (a subset of node:tls's, as plain data). */
export interface TlsOptions {
  /** Server name for SNI and certificate checks (defaults to the host). */
  readonly serverName?: string;
  /** Trusted CA certificates (PEM). */
  readonly ca?: string | readonly string[];
  /** Client certificate and key (PEM), for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
  /** Check the server's certificate (default true). */
  readonly rejectUnauthorized?: boolean;
  /**
   * With `rejectUnauthorized`: whether the certificate must name the server (`serverName`,
   * else the host connected to, an IP address included), default true. False checks the chain
   * against the trusted CAs only (libpq's sslmode verify-ca).
   */
  readonly checkServerName?: boolean;
  /** ALPN protocols to offer, in order of preference. */
  readonly alpnProtocols?: readonly string[];
}

/** TLS options of the server side. */
export interface TlsServerOptions {
  /** Certificate chain and key (PEM). */
  readonly cert: string;
  readonly key: string;
  /** CAs trusted for client certificates (PEM); with `requestCert`, mutual TLS. */
  readonly ca?: string | readonly string[];
  readonly requestCert?: boolean;
  /** Refuse clients without a trusted certificate (default true when `requestCert`). */
  readonly rejectUnauthorized?: boolean;
  /** ALPN protocols accepted, in order of preference. */
  readonly alpnProtocols?: readonly string[];
}

/** What a TLS stream knows about its session. */
export interface TlsInfo {
  /** The peer's certificate in DER form (null if it sent none). */
  readonly peerCertificate: Uint8Array | null;
  /** 'TLSv1.3'... */
  readonly protocol: string | null;
  /** The ALPN protocol agreed, or null. */
  readonly alpnProtocol: string | null;
  /** Whether the peer's certificate was verified against the trusted CAs. */
  readonly authorized: boolean;
}

/** A connected byte stream. */
export interface ByteStream {
  /**
   * The next chunk of bytes; null or an empty chunk at end of stream. Rejects with a typed error
   * (ConnectionError) when the connection breaks. Only one read at a time. The chunk is the
   * caller's: the stream never writes into it again. With a `sink`, chunks may be handed to
   * it while the read is pending instead (see {@link ReadSink}).
   */
  read(sink?: ReadSink): Promise<Uint8Array | null>;
  /**
   * Optional: a read with no Promise (see {@link ReadConsumer}): returns false, and does
   * nothing, when the read would settle at once (bytes are buffered already, the stream ended
   * or broke, another read is pending); the caller then reads with `read`. Otherwise the read is
   * pending until `consumer.readSettled` is called (synchronously, from the runtime's event that
   * ends it). A server holds thousands of idle connections each waiting in such a read: this
   * one costs it no Promise, no resolving functions and no suspended async function.
   */
  readInto?(consumer: ReadConsumer): boolean;
  /**
   * Optional: end a pending `read` that still waits for bytes, at once, with an empty chunk
   * (which only the caller, knowing it asked, tells from the end of the stream); true if it
   * did, false if no read waits (bytes that arrive later stay buffered for the next read). A
   * runtime whose reads hold a task (curio) offers it with readInto: a server takes its idle
   * connections out of their tasks' reads and waits for their next bytes in readInto.
   * `readChunk` of such a runtime's consumers may never be called (the first chunk settles it).
   */
  interruptRead?(): boolean;
  /**
   * Write bytes; resolves once the runtime accepted them: at once while less than the stream's
   * high-water mark is waiting for the peer, otherwise when it drains. Rejects with a
   * ConnectionError when the connection is gone. The caller must not change `data` afterwards.
   */
  write(data: Uint8Array): Promise<void>;
  /**
   * Optional: `write`, answering synchronously what became of `data` (a server writing a
   * response per request reuses its output buffer when the bytes went out at once):
   * - `true`: every byte was handed to the OS already; `data` is the caller's again;
   * - `false`: the stream holds `data` (the caller must not change it) and is under its
   *   high-water mark: nothing to wait for;
   * - a Promise: as `write`'s when it must wait (settles once the stream drained, rejects if
   *   the connection breaks); the stream holds `data`.
   * Throws (a ConnectionError) where `write` would reject at once (the stream closed or broken).
   */
  writeNow?(data: Uint8Array): boolean | Promise<void>;
  /** Close the stream; a pending read ends with null or an error. Idempotent. */
  close(): void;
  /**
   * Upgrade this open connection to TLS (Postgres's SSLRequest, SMTP's STARTTLS) as the client
   * (`side: 'client'`, default) or the server. Resolves with the TLS stream; this stream must
   * not be used afterwards. Bytes already read from this stream are not replayed: upgrade only
   * at a point where the peer waits for the handshake. Rejects with a ConnectionError (code
   * from the TLS layer) if the handshake fails; the connection is then closed. Every socket
   * runtime has it; a transport that is not a socket (PGlite, a test pipe) may leave it out.
   */
  startTls?(options: StartTlsOptions): Promise<ByteStream>;
  /** The TLS session of this stream; null or absent for a plain stream. */
  readonly tls?: TlsInfo | null;
  /**
   * Optional: while unref'd, the stream does not keep the process alive by itself (Node's
   * `socket.unref()`); `ref()` undoes it. An HTTP client unrefs the connections idle in its
   * pool, so a script that made requests exits when it is done, as with undici.
   */
  unref?(): void;
  ref?(): void;
  /** The peer's address, when known. */
  readonly remoteAddress?: StreamAddress | null;
}

/**
 * Optional push-style reading (see {@link ByteStream.read}): while a read given a sink is
 * pending, each chunk that arrives is handed to the sink at once, synchronously, instead of
 * settling the read. Returning true means the sink took the chunk, and the read stays pending
 * for the next one; returning false settles the read with that chunk (whatever the sink did with
 * it is its own business: a consumer that wants to stop, to pause reading say, returns false
 * after handling it). The end of the stream and its errors still settle the read. Chunks already
 * buffered when the read begins are not offered: the read resolves with the first of them.
 * A consumer that handles bytes synchronously (the engine's reader) thus saves a Promise and a
 * turn per chunk; backpressure is unchanged, as the sink handles each chunk before the next.
 * A runtime may ignore the sink (the read then settles with each chunk, as without one).
 */
export type ReadSink = (chunk: Uint8Array) => boolean;

/**
 * Who a read with no Promise ({@link ByteStream.readInto}) serves: an object, so that a
 * connection can be its own consumer (nothing made per read or per connection).
 */
export interface ReadConsumer {
  /** A chunk, while the read is pending: as a {@link ReadSink} (true: taken, the read stays pending). */
  readChunk(chunk: Uint8Array): boolean;
  /**
   * The read ended: with the chunk `readChunk` declined, or null at the end of the stream (or
   * the stream's own close); `error` is what broke the stream (a ConnectionError; `chunk` null
   * then), else null. Called once per readInto.
   */
  readSettled(chunk: Uint8Array | null, error: unknown): void;
}

/** Options of {@link ByteStream.startTls}. */
export type StartTlsOptions = ({ readonly side?: 'client' } & TlsOptions) | ({ readonly side: 'server' } & TlsServerOptions);

/** A listening endpoint. */
export interface Listener {
  /** The address actually bound (the port chosen for port 0). */
  readonly address: StreamAddress;
  /**
   * The next accepted connection; null once the listener is closed. Only one accept at a time.
   * On the curio runtime a kernel trap (cancellable).
   */
  accept(): Promise<ByteStream | null>;
  /** Stop accepting; a pending accept resolves with null. Open connections stay open. Idempotent. */
  close(): void;
}

/** The two ways a wait ends. Calls after the first are ignored. */
export interface Wake<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * The waiting side of {@link Runtime.wait}. An object rather than closures, so that a call on
 * the hot path allocates nothing extra: the engine's own call objects implement it.
 */
export interface Waiter<T> {
  /** Called once, synchronously, when the wait begins: keep `wake` and arrange for it to be used. */
  start(wake: Wake<T>): void;
  /**
   * The runtime abandons the wait (kernel task cancelled or timed out) before `wake` was used.
   * Return nothing (or true) when the wait is over at once: the runtime ends it and the caller
   * gets the cancellation. Return false for "not yet": the operation cannot be dropped at once
   * (a query the server must first confirm cancelled); the runtime keeps the caller waiting
   * until `wake` is used, then delivers the cancellation (the value or error is dropped).
   */
  cancel(): boolean | void;
  /**
   * Optional: like `start`, given the two functions directly (a runtime built on plain Promises
   * can then skip making a Wake object for every call).
   */
  startWith?(resolve: (value: T) => void, reject: (error: unknown) => void): void;
}

/** A call class a runtime may extend (see {@link Runtime.callClass}). */
export type CallClass = new (...args: never[]) => EngineCall;

/** The default `cancel` of an FnWaiter: one function, not a new one per waiter. */
const noCancel = (): void => {};

/** A Waiter made of two functions, for waits off the hot path. */
export class FnWaiter<T> implements Waiter<T> {
  constructor(
    private readonly onStart: (wake: Wake<T>) => void,
    private readonly onCancel: () => boolean | void = noCancel,
  ) {}
  start(wake: Wake<T>): void {
    this.onStart(wake);
  }
  cancel(): boolean | void {
    return this.onCancel();
  }
}

/** A background activity started with {@link Runtime.spawn}. */
export interface Background {
  /**
   * Stop it: its signal aborts, and on curio its task is cancelled at its current await.
   * Idempotent.
   */
  cancel(): void;
  /** Settles (never rejects) once the function has returned or thrown. */
  readonly done: Promise<void>;
}

/** Options of {@link Runtime.spawn}. */
export interface SpawnOptions {
  /**
   * Whether `fn` uses its signal (default true). False: `fn` is given {@link NEVER_ABORTED}
   * instead of a signal of its own, which saves the AbortSignal (about 0.7 KiB on Node, held as
   * long as the activity runs: it matters for an activity per idle connection). `cancel()` then
   * stops `fn` only where the runtime can interrupt it: on curio its task is cancelled at its
   * await; on node and memory `fn` stops once what it awaits ends (a stream it reads is closed).
   */
  readonly signal?: boolean;
}

/** The signal given to activities spawned with `signal: false`: one for the process, never aborted. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** What a backend provides. */
export interface Runtime {
  /** 'node', 'curio', 'memory'... */
  readonly name: string;
  /**
   * Optional: true when code run by a {@link ReadSink} behaves as code of the activity whose
   * read the sink serves (the node runtime: activities are plain Promise code, and a sink runs
   * from the socket's event). A consumer may then do all its work in the sink: the HTTP server
   * answers a request there, with no Promise settled per request. Absent or false (curio: a
   * sink runs outside the reading task, where a handler could make no kernel trap): a sink only
   * takes bytes, and the work waits for the read to settle.
   */
  readonly sinkRunsActivity?: boolean;
  /**
   * Open a connection. Rejects with a typed error (ConnectionError) on failure or timeout.
   * Like every call, it must not block the caller's flow: one flow may open several at once
   * (Promise.all) or await other things before this Promise (curio runs the kernel traps of
   * connecting, listening and a TLS upgrade in a task of their own for this).
   */
  connect(target: ConnectTarget, options?: { readonly timeout?: number }): Promise<ByteStream>;
  /** Listen for connections (as `connect`, any number at once). Rejects with a ConnectionError (EADDRINUSE...) when it cannot. */
  listen(target: ListenTarget, options?: { readonly backlog?: number }): Promise<Listener>;
  /**
   * A plain Promise that settles when the waiter's `wake` is used. The waiter's `cancel` is
   * called if the runtime abandons the wait first (on the curio runtime: the calling task's
   * cancellation or an enclosing timeout). `state` names the wait for monitors.
   */
  wait<T>(state: string, waiter: Waiter<T>): Promise<T>;
  /**
   * Optional: the runtime's own subclass of a call class (RedisCall...), whose calls are their
   * own waits: `wait` on one of them makes nothing more per call (on curio, each call is then
   * the kernel operation itself: one object per call instead of two). `state` is what `wait`
   * is given for them. The engine makes its calls with the class returned; without this member
   * it uses `base`.
   */
  callClass?<K extends CallClass>(base: K, state: string): K;
  /**
   * Run `fn` in the background: on curio a daemon kernel task, on node and memory a plain async
   * call. `fn` must handle its own errors (one that escapes is reported as unhandled). `signal`
   * aborts when the activity is cancelled, unless `options.signal` is false (see
   * {@link SpawnOptions}).
   */
  spawn(fn: (signal: AbortSignal) => Promise<void>, name: string, options?: SpawnOptions): Background;
  /** Sleep on the runtime's clock (cancellable on curio). */
  sleep(ms: number): Promise<void>;
  /**
   * Run `fn` once the current burst of work is done (all Promise jobs and, on curio, the
   * current scheduling cycle): where writes are flushed, so that every call issued in one burst
   * goes out in one write.
   */
  defer(fn: () => void): void;
  /** The runtime's monotonic clock in milliseconds (the kernel's on curio, virtual on memory). */
  now(): number;
  /**
   * Start a one-shot timer on the runtime's clock; returns a cancel function. With
   * `{ unref: true }` the timer alone does not keep the process alive (Node's `unref`; an
   * idle pooled connection's timeout): runtimes whose lifetime is not the process's ignore it.
   */
  timer(ms: number, fn: () => void, options?: TimerOptions): () => void;
  /**
   * Optional: a number in [0, 1) for jitter (reconnect backoff). A deterministic runtime (the
   * memory runtime's seeded one) makes every run take the same instants; default Math.random.
   */
  random?(): number;
}
