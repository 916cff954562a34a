// runtime.ts
//
// The Runtime interface: everything the clients need from the world, and all a backend has to
// implement. It is deliberately small; a third runtime (Deno, Bun, a test simulator) would
// implement these few members and get every client for free.
//
// Discussion: why `wait` and not plain Promises. The client never creates the Promise of a
// pending call itself: it asks the runtime to `wait`, handing it a registration object (the
// call). The node runtime turns that into a Promise. The curio runtime turns it into a kernel
// TaskOperation owned by the calling task: still a plain Promise for the caller, in every use,
// but the kernel settles it in that task's turn and abandons it when the task is cancelled or
// its timeout expires, so a task blocked on a Redis reply is interrupted at once (and keeps the
// kernel's fast path). Per-call `signal` and `timeout` options are handled by the client on
// top of `wait`, identically on both runtimes.

/** Where to connect. */
export type ConnectTarget =
  | {
      readonly host: string;
      readonly port: number;
      /** TLS options; presence means TLS. */
      readonly tls?: TlsOptions;
    }
  | { readonly path: string };

/** TLS options a runtime must understand (a subset of node:tls's, as plain data). */
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
}

/** A connected byte stream. */
export interface ByteStream {
  /**
   * The next chunk of bytes; null or an empty chunk at end of stream. Rejects with a typed error
   * when the connection breaks. Only one read at a time.
   */
  read(): Promise<Uint8Array | null>;
  /** Write bytes; resolves once the runtime accepted them (backpressure is honoured). */
  write(data: Uint8Array): Promise<void>;
  /** Close the stream; a pending read ends with null or an error. Idempotent. */
  close(): void;
}

/** The two ways a wait ends. Calls after the first are ignored. */
export interface Wake<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * The waiting side of {@link Runtime.wait}. An object rather than closures, so that a call on
 * the hot path allocates nothing extra: the client's own call objects implement it.
 */
export interface Waiter<T> {
  /** Called once, synchronously, when the wait begins: keep `wake` and arrange for it to be used. */
  start(wake: Wake<T>): void;
  /** The runtime cancelled the wait (kernel task cancelled or timed out) before `wake` was used. */
  cancel(): void;
  /**
   * Optional: like `start`, given the two functions directly (a runtime built on plain Promises
   * can then skip making a Wake object for every call).
   */
  startWith?(resolve: (value: T) => void, reject: (error: unknown) => void): void;
}

/** A Waiter made of two functions, for waits off the hot path. */
export class FnWaiter<T> implements Waiter<T> {
  constructor(
    private readonly onStart: (wake: Wake<T>) => void,
    private readonly onCancel: () => void = () => {},
  ) {}
  start(wake: Wake<T>): void {
    this.onStart(wake);
  }
  cancel(): void {
    this.onCancel();
  }
}

/** A background activity started with {@link Runtime.spawn}. */
export interface Background {
  /** Stop it (a kernel task is cancelled; a plain async loop is told to stop). */
  cancel(): void;
}

/** What a backend provides. */
export interface Runtime {
  /** 'node', 'curio'... */
  readonly name: string;
  /** Open a connection. Rejects with a typed error (ConnectionError) on failure or timeout. */
  connect(target: ConnectTarget, options?: { readonly timeout?: number }): Promise<ByteStream>;
  /**
   * A plain Promise that settles when the waiter's `wake` is used. The waiter's `cancel` is
   * called if the runtime abandons the wait first (on the curio runtime: the calling task's
   * cancellation or an enclosing timeout). `state` names the wait for monitors.
   */
  wait<T>(state: string, waiter: Waiter<T>): Promise<T>;
  /**
   * Run `fn` in the background: on curio a daemon kernel task, on node a plain async call.
   * `fn` must handle its own errors.
   */
  spawn(fn: () => Promise<void>, name: string): Background;
  /** Sleep (cancellable on curio). */
  sleep(ms: number): Promise<void>;
  /**
   * Run `fn` once the current burst of work is done (all Promise jobs and, on curio, the
   * current scheduling cycle): where writes are flushed, so that every call issued in one burst
   * goes out in one write.
   */
  defer(fn: () => void): void;
  /** A monotonic clock in milliseconds. */
  now(): number;
  /** Start a one-shot timer (for per-call timeouts); returns a cancel function. */
  timer(ms: number, fn: () => void): () => void;
}
