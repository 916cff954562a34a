// redis/client.ts
//
// The Redis client engine: one main connection with auto-pipelining, reconnection with
// backoff (and a limit) and a bounded offline queue, per-call timeouts and cancellation, and a
// small pool of connections for blocking commands. Typed command methods live in commands.ts
// on top of `call`; pub/sub in pubsub.ts.
//
// Invariants:
// - A call is settled exactly once: by its reply, its timeout, its signal, the runtime's
//   cancellation (kernel task cancelled), the connection's end, or the client's.
// - Calls keep their order: calls issued while (re)connecting wait in the offline queue in
//   issue order; read-only calls that were written when the connection broke go back to the
//   front of that queue (when `retryOnReconnect` is 'idempotent'); others fail with
//   ConnectionLostError, because they may have run. After a protocol violation nothing is sent
//   again: the calls that were waiting fail with ProtocolViolationError.
// - A connection is handed out (main, blocking pool, subscriptions) only once it is ready: the
//   handshake is done, SELECT too, and the server has finished loading its data (INFO says
//   `loading:0`), so a restarted server never answers a caller with -LOADING.
// - Closed is final. close() (or giving up reconnecting) ends every connection of the client,
//   those being opened included, every pause (backoff, waiting for a loading server), and every
//   call: a connection that finishes opening afterwards is closed at once, never used.
// - A blocking command (BLPOP, XREAD BLOCK...) runs on a pool connection of its own; cancelling
//   it after it was written closes that connection, since the server would keep it blocked.
//
// Discussion: the reconnect limit. `reconnect.maxAttempts` counts attempts in a row that
// failed: a connect or handshake that failed, or a connection that broke with a protocol
// violation before it delivered a single reply (a peer that completes the handshake and then
// answers garbage would otherwise be reconnected to forever). Anything else resets the count.

import { checkCommand, isBlockingCommand } from '@curio-ts/proto-redis';
import type { RedisArg, RespAttributes, RespPush, RespValue, RespVersion } from '@curio-ts/proto-redis';
import {
  AbortedError,
  ClientClosedError,
  CommandTimeoutError,
  ConnectTimeoutError,
  ConnectionError,
  ConnectionLostError,
  InvalidArgumentError,
  OfflineQueueFullError,
  ProtocolViolationError,
  ReconnectFailedError,
  RedisError,
} from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { Background, ByteStream, Runtime, Wake } from '../runtime.js';
import { keyString } from './commands.js';
import { Call, RedisConnection } from './connection.js';
import { resolveRedisOptions } from './options.js';
import type { RedisOptions, ResolvedRedisOptions } from './options.js';
import { READ_ONLY_COMMANDS } from './readonly.js';

/** Options of a single call. */
export interface CallOptions {
  /** Deliver blob strings as Uint8Array instead of strings. */
  readonly bytes?: boolean;
  /** Abort the call: rejected with AbortedError; a written call's reply is discarded. */
  readonly signal?: AbortSignal;
  /** Per-call timeout in ms: rejected with CommandTimeoutError. Overrides commandTimeout. */
  readonly timeout?: number;
  /**
   * Called with the RESP3 attribute map the server sent before the reply (`|`: auxiliary data
   * such as key popularity; `DEBUG PROTOCOL attrib` sends one), just before the call settles.
   * The call's result is the reply itself either way. In a pipeline or transaction, called for
   * each reply that has attributes. Throwing from it fails the call with that error.
   */
  readonly onAttributes?: (attributes: RespAttributes) => void;
}

/** Client connection states. */
export type RedisClientStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** A pub/sub consumer registered with the client (see pubsub.ts). */
export interface PushListener {
  /** A push frame arrived on the main connection. */
  onPush(push: RespPush): void;
  /** The main connection was replaced after a loss (subscribe again here). */
  onReconnect(): void;
  /**
   * The client closed for good: `reason` is null after close(), else why it gave up (a
   * ReconnectFailedError, or the connection's error when `reconnect` is false).
   */
  onClosed?(reason: unknown): void;
}

/** Shortest and longest pause between two checks of a server that is loading its data (ms). */
const LOADING_CHECK_MIN = 50;
const LOADING_CHECK_MAX = 1000;

/** The runtime-independent Redis client. Backends export `connectRedis` bound to themselves. */
export class RedisClientCore {
  // Not `implements ConnectionOwner, CallOwner`: their members are internal here, and the
  // published .d.ts would claim an implementation it leaves out. Checked where it is passed.
  /** Resolved options. */
  readonly options: ResolvedRedisOptions;
  private connection: RedisConnection | null = null;
  private offline: Call[] = [];
  private currentStatus: RedisClientStatus = 'connecting';
  /** Why the client closed by itself (null while open, and after close()). */
  private closedBy: unknown = null;
  private reconnector: Background | null = null;
  /** Reconnect attempts that failed in a row (see the Discussion above). */
  private failedAttempts = 0;
  /** Replies the main connection had delivered when it became ready. */
  private repliesAtReady = 0;
  /** Connections being opened (handshake, readiness check): close() closes them. */
  private readonly opening = new Set<RedisConnection>();
  /** Pauses under way (backoff, loading) and their timer cancels: close() ends them. */
  private readonly pauses = new Map<Wake<void>, () => void>();
  private readonly blockingIdle: RedisConnection[] = [];
  /** Every open pool connection, idle or busy. */
  private readonly blockingLive = new Set<RedisConnection>();
  /** Pool slots taken (open connections, and connections being opened). */
  private blockingOpen = 0;
  private readonly blockingWaiters: ((connection: RedisConnection | Error) => void)[] = [];
  private readonly listeners = new Set<PushListener>();
  private lastError: unknown = null;

  constructor(
    readonly runtime: Runtime,
    options?: string | RedisOptions,
  ) {
    this.options = resolveRedisOptions(options);
  }

  /** Connect and handshake; resolves when ready, rejects if the first attempt fails. */
  async start(): Promise<void> {
    let connection: RedisConnection;
    try {
      connection = await this.open('main');
    } catch (error) {
      if (!this.isClosed) this.shutDown(error);
      throw error;
    }
    if (this.isClosed) {
      connection.close();
      throw this.closedError();
    }
    this.becomeReady(connection, false);
  }

  /** The client's state. */
  get status(): RedisClientStatus {
    return this.currentStatus;
  }

  /** Closed for good (a getter, so that checks after an await are not narrowed away). */
  private get isClosed(): boolean {
    return this.currentStatus === 'closed';
  }

  /** RESP version of the main connection. */
  get protocol(): RespVersion {
    return this.connection?.protocol ?? 2;
  }

  /** Calls waiting for a connection. */
  get offlineCount(): number {
    return this.offline.length;
  }

  /**
   * Send any command; resolves with the raw reply value. Error replies reject with RedisError.
   */
  call<T = RespValue>(args: readonly RedisArg[], options?: CallOptions, transform?: (reply: RespValue) => T): Promise<T> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const invalid = checkCommand(args);
    if (invalid !== null) return Promise.reject(new InvalidArgumentError(invalid.message, invalid.code, { cause: invalid }));
    const name = upperName(args[0] as string);
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError(name, signal.reason));
    const call = new Call(
      args,
      name,
      options?.bytes === true,
      READ_ONLY_COMMANDS.has(name),
      this,
      options?.timeout ?? this.options.commandTimeout,
      signal,
      transform ?? null,
    );
    if (isBlockingCommand(name, args)) call.blocking = true;
    if (options?.onAttributes !== undefined) call.onAttributes = options.onAttributes;
    return this.runtime.wait<RespValue>('REDIS_REPLY', call) as Promise<T>;
  }

  /**
   * Send several commands in one write and wait for all replies: an array in the same order,
   * with error replies as RedisError values. A connection failure, timeout or abort rejects
   * the whole batch.
   */
  callBatch(batch: readonly (readonly RedisArg[])[], options?: CallOptions): Promise<unknown[]> {
    if (this.isClosed) return Promise.reject(this.closedError());
    if (batch.length === 0) return Promise.resolve([]);
    // One bad command refuses the whole batch before anything is sent (a MULTI must not run
    // without one of its commands).
    for (const args of batch) {
      const invalid = checkCommand(args);
      if (invalid !== null) return Promise.reject(new InvalidArgumentError(invalid.message, invalid.code, { cause: invalid }));
    }
    const results: unknown[] = new Array(batch.length);
    let remaining = batch.length;
    const calls: Call[] = [];
    const timeout = options?.timeout ?? this.options.commandTimeout;
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError('pipeline', signal.reason));
    let finished = false;
    let cleanup = (): void => {};
    const abandonAll = (): void => {
      for (const call of calls) this.abandon(call, null);
    };
    return this.runtime.wait<unknown[]>('REDIS_PIPELINE', new FnWaiter<unknown[]>((wake) => {
      const fail = (error: unknown): void => {
        if (finished) return;
        finished = true;
        cleanup();
        abandonAll();
        wake.reject(error);
      };
      const cancelTimer = timeout !== undefined && timeout !== Infinity ? this.runtime.timer(timeout, () => fail(new CommandTimeoutError('pipeline', timeout))) : null;
      const onAbort = signal === undefined ? null : (): void => fail(new AbortedError('pipeline', signal.reason));
      if (onAbort !== null) signal?.addEventListener('abort', onAbort, { once: true });
      cleanup = (): void => {
        cancelTimer?.();
        if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
      };
      batch.forEach((args, index) => {
        const name = upperName(args[0] as string);
        const call = new Call(args, name, options?.bytes === true, READ_ONLY_COMMANDS.has(name));
        if (options?.onAttributes !== undefined) call.onAttributes = options.onAttributes;
        call.wake = {
          resolve: (value) => {
            results[index] = value;
            if (--remaining === 0 && !finished) {
              finished = true;
              cleanup();
              wake.resolve(results);
            }
          },
          reject: (error) => {
            if (error instanceof RedisError) {
              results[index] = error;
              if (--remaining === 0 && !finished) {
                finished = true;
                cleanup();
                wake.resolve(results);
              }
            } else fail(error);
          },
        };
        calls.push(call);
      });
      for (const call of calls) this.route(call);
    }, () => {
      finished = true;
      cleanup();
      abandonAll();
    }));
  }

  /**
   * Close every connection (those being opened too); every pending call, queued or waiting for
   * its reply, fails with ClientClosedError, and so does every call made after. Final.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.shutDown(null);
  }

  /** @internal The error a call on the closed client fails with (a new one each time). */
  closedError(): ClientClosedError | ReconnectFailedError {
    const reason = this.closedBy;
    if (reason instanceof ReconnectFailedError) return new ReconnectFailedError(reason.message, { cause: reason.cause });
    if (reason === null) return new ClientClosedError();
    return new ClientClosedError(`the client is closed: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
  }

  /** Enter the final state: stop everything, fail everything (`reason`: null for close()). */
  private shutDown(reason: unknown): void {
    this.currentStatus = 'closed';
    this.closedBy = reason;
    this.reconnector?.cancel();
    this.reconnector = null;
    for (const [wake, cancelTimer] of this.pauses) {
      cancelTimer();
      wake.resolve();
    }
    this.pauses.clear();
    const offline = this.offline;
    this.offline = [];
    for (const call of offline) call.fail(this.closedError());
    for (const connection of [...this.opening]) connection.close();
    const main = this.connection;
    this.connection = null;
    main?.close();
    this.blockingIdle.length = 0;
    for (const connection of [...this.blockingLive]) connection.close();
    for (const waiter of this.blockingWaiters.splice(0)) waiter(this.closedError());
    for (const listener of [...this.listeners]) listener.onClosed?.(reason);
  }

  /** Register a push consumer (pub/sub, invalidations). */
  addListener(listener: PushListener): void {
    this.listeners.add(listener);
  }

  /** Unregister a push consumer. */
  removeListener(listener: PushListener): void {
    this.listeners.delete(listener);
  }

  /** The main connection's state machine, for subscription bookkeeping (or null). */
  get mainConnection(): RedisConnection | null {
    return this.connection;
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  /** @internal A call's wait began: arm its timeout and signal, then send it. */
  begin(call: Call): void {
    const timeout = call.timeout;
    const signal = call.signal;
    if ((timeout !== undefined && timeout !== Infinity) || signal !== undefined) {
      let cancelTimer: (() => void) | null = null;
      let onAbort: (() => void) | null = null;
      if (timeout !== undefined && timeout !== Infinity) {
        cancelTimer = this.runtime.timer(timeout, () => this.abandon(call, new CommandTimeoutError(call.name, timeout)));
      }
      if (signal !== undefined) {
        onAbort = () => this.abandon(call, new AbortedError(call.name, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
      }
      call.cleanup = () => {
        cancelTimer?.();
        if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
      };
    }
    if (call.blocking) this.sendBlocking(call);
    else this.route(call);
  }

  /** @internal End a call early (timeout, abort, runtime cancellation when `error` is null). */
  abandon(call: Call, error: unknown): void {
    if (call.state === 'done') return;
    const wasWritten = call.state === 'written';
    const connection = call.connection;
    if (error === null) {
      // Runtime cancellation: the runtime already settled the wait; just make the call done.
      call.drop();
    } else call.fail(error);
    if (wasWritten && connection !== null) {
      if (call.blocking) connection.close();
      else connection.cancel(call);
    }
    const index = this.offline.indexOf(call);
    if (index !== -1) this.offline.splice(index, 1);
  }

  /** Send on the main connection, or keep it for later. */
  private route(call: Call): void {
    const connection = this.connection;
    if (this.currentStatus === 'ready' && connection !== null && !connection.isClosed) {
      call.connection = connection;
      connection.submit(call);
      return;
    }
    if (this.offline.length >= this.options.offlineQueueLimit) {
      call.fail(new OfflineQueueFullError(this.options.offlineQueueLimit));
      return;
    }
    this.offline.push(call);
  }

  private drainOffline(): void {
    const calls = this.offline;
    this.offline = [];
    for (const call of calls) if (call.state === 'queued') this.route(call);
  }

  // -------------------------------------------------------------------------------------------
  // Blocking commands

  private sendBlocking(call: Call): void {
    // Borrowing may open a connection, which blocks: do it in the background (a task of its
    // own on curio), never in the caller's context, which is not waiting on it.
    this.runtime.spawn(async () => {
      let connection: RedisConnection;
      try {
        connection = await this.borrowBlocking();
      } catch (error) {
        call.fail(error);
        return;
      }
      if (call.state !== 'queued') {
        this.returnBlocking(connection);
        return;
      }
      call.connection = connection;
      call.onSettled = () => this.returnBlocking(connection);
      connection.submit(call);
    }, 'redis-blocking-borrow');
  }

  private async borrowBlocking(): Promise<RedisConnection> {
    for (;;) {
      const idle = this.blockingIdle.pop();
      if (idle === undefined) break;
      if (!idle.isClosed) return idle;
      this.blockingOpen--;
    }
    if (this.blockingOpen < this.options.blockingPoolSize) {
      this.blockingOpen++;
      let connection: RedisConnection;
      try {
        connection = await this.open(`blocking-${this.blockingOpen}`);
      } catch (error) {
        this.blockingOpen--;
        throw error;
      }
      if (this.isClosed) {
        connection.close();
        this.blockingOpen--;
        throw this.closedError();
      }
      this.blockingLive.add(connection);
      return connection;
    }
    const next = await new Promise<RedisConnection | Error>((resolve) => this.blockingWaiters.push(resolve));
    if (next instanceof Error) throw next;
    return next;
  }

  private returnBlocking(connection: RedisConnection): void {
    if (connection.isClosed) {
      this.blockingOpen--;
      return;
    }
    const waiter = this.blockingWaiters.shift();
    if (waiter !== undefined) waiter(connection);
    else if (this.isClosed) connection.close();
    else this.blockingIdle.push(connection);
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  /**
   * Connect, handshake (HELLO, AUTH, SETNAME, SELECT), wait until the server has loaded its
   * data, and return the ready connection. Each step is bounded by `connectTimeout`
   * (ConnectTimeoutError); the wait for a loading server is not, but each check in it is.
   */
  private async open(label: string): Promise<RedisConnection> {
    if (this.isClosed) throw this.closedError();
    const options = this.options;
    const started = this.runtime.now();
    let stream: ByteStream;
    try {
      stream = await this.runtime.connect(options.target, { timeout: options.connectTimeout });
    } catch (error) {
      throw asConnectTimeout(error, options.connectTimeout);
    }
    if (this.isClosed) {
      stream.close();
      throw this.closedError();
    }
    const connection = new RedisConnection(this.runtime, stream, this, label);
    this.opening.add(connection);
    const timedOut = (): void => connection.fail(new ConnectTimeoutError(`the server did not answer the handshake within ${options.connectTimeout} ms`));
    let cancelTimer = this.runtime.timer(Math.max(0, options.connectTimeout - (this.runtime.now() - started)), timedOut);
    try {
      await connection.handshake({
        protocol: options.protocol,
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        ...(options.clientName !== undefined ? { clientName: options.clientName } : {}),
        db: options.db,
      });
      for (;;) {
        const wait = await this.loadingWait(connection);
        cancelTimer();
        if (wait === null) break;
        await this.pause(wait);
        if (this.isClosed) throw this.closedError();
        cancelTimer = this.runtime.timer(options.connectTimeout, timedOut);
      }
      if (this.isClosed) throw this.closedError();
      return connection;
    } catch (error) {
      connection.close();
      throw this.isClosed ? this.closedError() : error;
    } finally {
      cancelTimer();
      this.opening.delete(connection);
    }
  }

  /**
   * Ask whether the server is still loading its data (INFO persistence): null when it is ready
   * (or cannot tell: INFO refused), else how long to wait before asking again.
   */
  private async loadingWait(connection: RedisConnection): Promise<number | null> {
    let info: string;
    try {
      info = keyString(await connection.request(['INFO', 'persistence']));
    } catch (error) {
      if (!(error instanceof RedisError)) throw error;
      return error.code === 'LOADING' ? LOADING_CHECK_MIN : null;
    }
    if (!/^loading:1\r?$/m.test(info)) return null;
    const eta = /^loading_eta_seconds:(\d+)/m.exec(info);
    const etaMs = eta === null ? 0 : Number(eta[1]) * 1000;
    return Math.min(LOADING_CHECK_MAX, Math.max(LOADING_CHECK_MIN, etaMs / 2));
  }

  /** Sleep `ms`, unless the client closes first (a kernel trap on curio, cancellable). */
  private pause(ms: number): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    let started: Wake<void> | null = null;
    return this.runtime.wait<void>(
      'REDIS_PAUSE',
      new FnWaiter<void>(
        (wake) => {
          started = wake;
          const cancelTimer = this.runtime.timer(ms, () => {
            this.pauses.delete(wake);
            wake.resolve();
          });
          this.pauses.set(wake, cancelTimer);
        },
        () => {
          if (started === null) return;
          this.pauses.get(started)?.();
          this.pauses.delete(started);
        },
      ),
    );
  }

  /** Make `connection` the main connection and send what waited for it. */
  private becomeReady(connection: RedisConnection, reconnected: boolean): void {
    this.connection = connection;
    this.repliesAtReady = connection.repliesDelivered;
    this.currentStatus = 'ready';
    if (reconnected) for (const listener of this.listeners) listener.onReconnect();
    this.drainOffline();
  }

  /** @internal A connection ended. */
  onLost(connection: RedisConnection, error: ConnectionError, unanswered: Call[], queued: Call[]): void {
    this.lastError = error;
    const pooled = this.blockingLive.delete(connection);
    if (pooled) {
      const idle = this.blockingIdle.indexOf(connection);
      if (idle !== -1) {
        this.blockingIdle.splice(idle, 1);
        this.blockingOpen--;
      }
    }
    if (this.isClosed) {
      for (const call of unanswered) call.fail(this.closedError());
      for (const call of queued) call.fail(this.closedError());
      return;
    }
    if (connection !== this.connection) {
      // A pool connection (its call, if any, failed: nothing to retry), or one being opened
      // (its handshake commands fail with the error itself: a timeout stays a timeout).
      for (const call of unanswered) call.fail(call.blocking ? lostCallError(call, error) : error);
      for (const call of queued) call.fail(error);
      return;
    }
    this.connection = null;
    const violation = error instanceof ProtocolViolationError;
    const retrying = this.options.reconnect !== false && this.options.retryOnReconnect === 'idempotent' && !violation;
    const retry: Call[] = [];
    for (const call of unanswered) {
      if (retrying && call.retryable) {
        call.state = 'queued';
        call.id = 0;
        retry.push(call);
      } else call.fail(lostCallError(call, error));
    }
    for (const call of queued) retry.push(call);
    const policy = this.options.reconnect;
    if (policy === false) {
      for (const call of retry) call.fail(error);
      this.shutDown(error);
      return;
    }
    this.offline = retry.length === 0 ? this.offline : [...retry, ...this.offline];
    if (violation && connection.repliesDelivered === this.repliesAtReady) {
      this.failedAttempts++;
      if (this.failedAttempts >= policy.maxAttempts) {
        this.giveUp(error);
        return;
      }
    } else this.failedAttempts = 0;
    this.currentStatus = 'reconnecting';
    this.startReconnect();
  }

  /** @internal A push frame arrived. */
  onPush(_connection: RedisConnection, push: RespPush): void {
    for (const listener of this.listeners) listener.onPush(push);
  }

  private startReconnect(): void {
    if (this.reconnector !== null) return;
    this.reconnector = this.runtime.spawn(async () => {
      let connection: RedisConnection | null;
      try {
        connection = await this.reconnectLoop();
      } finally {
        this.reconnector = null;
      }
      // Ready after the reconnector is cleared: should the new connection break at once, a
      // new reconnector can start.
      if (connection !== null) this.becomeReady(connection, true);
    }, 'redis-reconnect');
  }

  /** Try to connect with backoff: the new connection, or null once closed or given up. */
  private async reconnectLoop(): Promise<RedisConnection | null> {
    const policy = this.options.reconnect;
    if (policy === false) return null;
    let delay = policy.initialDelay;
    while (this.currentStatus === 'reconnecting') {
      await this.pause(delay * (0.5 + Math.random() / 2));
      if (this.currentStatus !== 'reconnecting') return null;
      try {
        const connection = await this.open('main');
        if (this.currentStatus === 'reconnecting') return connection;
        connection.close();
        return null;
      } catch (error) {
        if (this.currentStatus !== 'reconnecting') return null;
        this.lastError = error;
        this.failedAttempts++;
        if (this.failedAttempts >= policy.maxAttempts) {
          this.reconnector = null; // this task: shutDown must not cancel it under its own feet
          this.giveUp(error);
          return null;
        }
        delay = Math.min(policy.maxDelay, delay * policy.factor);
      }
    }
    return null;
  }

  /** Reconnecting reached its limit: close for good. */
  private giveUp(cause: unknown): void {
    this.shutDown(new ReconnectFailedError(`gave up reconnecting after ${this.failedAttempts} failed attempts in a row`, { cause }));
  }

  /** The last connection error seen (for diagnostics). */
  get lastConnectionError(): unknown {
    return this.lastError;
  }
}

/** The error of a call that was written when its connection broke. */
function lostCallError(call: Call, error: ConnectionError): ConnectionError {
  if (error instanceof ProtocolViolationError) {
    return new ProtocolViolationError(`${call.name}: ${error.message}`, { cause: error.cause ?? error });
  }
  return new ConnectionLostError(`${call.name}: connection lost before the reply arrived`, { cause: error });
}

/** A runtime's connect timeout (code ETIMEDOUT), as a ConnectTimeoutError. */
function asConnectTimeout(error: unknown, ms: number): unknown {
  if (error instanceof ConnectTimeoutError || !(error instanceof ConnectionError) || error.code !== 'ETIMEDOUT') return error;
  return new ConnectTimeoutError(`connecting timed out after ${ms} ms`, { cause: error });
}

const upperCache = new Map<string, string>();

/** Upper-cased command name, cached (typed methods pass the same few names over and over). */
function upperName(name: string): string {
  let upper = upperCache.get(name);
  if (upper === undefined) {
    upper = name.toUpperCase();
    if (upperCache.size < 512) upperCache.set(name, upper);
  }
  return upper;
}
