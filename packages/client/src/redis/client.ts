// redis/client.ts
//
// The Redis client engine: one main connection with auto-pipelining, reconnection with
// backoff and a bounded offline queue, per-call timeouts and cancellation, and a small pool of
// connections for blocking commands. Typed command methods live in commands.ts on top of
// `call`; pub/sub in pubsub.ts.
//
// Invariants:
// - A call is settled exactly once: by its reply, its timeout, its signal, the runtime's
//   cancellation (kernel task cancelled), or the connection's end.
// - Calls keep their order: calls issued while (re)connecting wait in the offline queue in
//   issue order; read-only calls that were written when the connection broke go back to the
//   front of that queue (when `retryOnReconnect` is 'idempotent'); others fail with
//   ConnectionLostError, because they may have run.
// - A blocking command (BLPOP, XREAD BLOCK...) runs on a pool connection of its own; cancelling
//   it after it was written closes that connection, since the server would keep it blocked.

import { checkCommand, isBlockingCommand } from '@curio-ts/proto-redis';
import type { RedisArg, RespAttributes, RespPush, RespValue, RespVersion } from '@curio-ts/proto-redis';
import {
  AbortedError,
  InvalidArgumentError,
  ClientClosedError,
  CommandTimeoutError,
  ConnectionError,
  ConnectionLostError,
  OfflineQueueFullError,
  RedisError,
} from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { Background, Runtime } from '../runtime.js';
import { Call, RedisConnection } from './connection.js';
import type { CallOwner, ConnectionOwner } from './connection.js';
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
  onPush(push: RespPush): void;
  onReconnect(): void;
}

/** The runtime-independent Redis client. Backends export `connectRedis` bound to themselves. */
export class RedisClientCore implements ConnectionOwner, CallOwner {
  /** Resolved options. */
  readonly options: ResolvedRedisOptions;
  private connection: RedisConnection | null = null;
  private offline: Call[] = [];
  private currentStatus: RedisClientStatus = 'connecting';
  private reconnector: Background | null = null;
  private attempts = 0;
  private readonly blockingIdle: RedisConnection[] = [];
  private blockingOpen = 0;
  private readonly blockingWaiters: ((connection: RedisConnection | Error) => void)[] = [];
  private readonly listeners = new Set<PushListener>();
  private lastError: unknown = null;
  private readyWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(
    readonly runtime: Runtime,
    options?: string | RedisOptions,
  ) {
    this.options = resolveRedisOptions(options);
  }

  /** Connect and handshake; resolves when ready, rejects if the first attempt fails. */
  async start(): Promise<void> {
    try {
      this.connection = await this.open('main');
      this.currentStatus = 'ready';
      this.drainOffline();
    } catch (error) {
      this.currentStatus = 'closed';
      throw error;
    }
  }

  /** The client's state. */
  get status(): RedisClientStatus {
    return this.currentStatus;
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
    if (this.currentStatus === 'closed') return Promise.reject(new ClientClosedError());
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
    if (this.currentStatus === 'closed') return Promise.reject(new ClientClosedError());
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

  /** Close every connection; pending calls fail with ClientClosedError. */
  async close(): Promise<void> {
    if (this.currentStatus === 'closed') return;
    this.currentStatus = 'closed';
    this.reconnector?.cancel();
    const closed = new ClientClosedError();
    for (const call of this.offline) call.fail(closed);
    this.offline = [];
    for (const waiter of this.readyWaiters) waiter.reject(closed);
    this.readyWaiters = [];
    this.connection?.close();
    this.connection = null;
    for (const connection of this.blockingIdle) connection.close();
    this.blockingIdle.length = 0;
    for (const waiter of this.blockingWaiters.splice(0)) waiter(closed);
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
      try {
        return await this.open(`blocking-${this.blockingOpen}`);
      } catch (error) {
        this.blockingOpen--;
        throw error;
      }
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
    else if (this.currentStatus === 'closed') connection.close();
    else this.blockingIdle.push(connection);
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  /** Connect, handshake, and return a ready connection. */
  private async open(label: string): Promise<RedisConnection> {
    const options = this.options;
    const stream = await this.runtime.connect(options.target, { timeout: options.connectTimeout });
    const connection = new RedisConnection(this.runtime, stream, this, label);
    const handshake = {
      protocol: options.protocol,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.clientName !== undefined ? { clientName: options.clientName } : {}),
      db: options.db,
    };
    let cancelTimer: (() => void) | null = null;
    try {
      cancelTimer = this.runtime.timer(options.connectTimeout, () => connection.close());
      await connection.handshake(handshake);
      return connection;
    } catch (error) {
      connection.close();
      throw error;
    } finally {
      cancelTimer?.();
    }
  }

  /** @internal A connection ended. */
  onLost(connection: RedisConnection, error: ConnectionError, unanswered: Call[], queued: Call[]): void {
    this.lastError = error;
    if (connection !== this.connection) {
      // A blocking-pool connection: its call (if any) failed; nothing to retry.
      for (const call of unanswered) call.fail(call.blocking ? new ConnectionLostError(undefined, { cause: error }) : error);
      for (const call of queued) call.fail(error);
      if (!this.blockingIdle.includes(connection)) return;
      this.blockingIdle.splice(this.blockingIdle.indexOf(connection), 1);
      this.blockingOpen--;
      return;
    }
    this.connection = null;
    const retry: Call[] = [];
    for (const call of unanswered) {
      if (this.options.reconnect !== false && this.options.retryOnReconnect === 'idempotent' && call.retryable) {
        call.state = 'queued';
        call.id = 0;
        retry.push(call);
      } else call.fail(new ConnectionLostError(`${call.name}: connection lost before the reply arrived`, { cause: error }));
    }
    for (const call of queued) retry.push(call);
    if (this.currentStatus === 'closed' || this.options.reconnect === false) {
      for (const call of retry) call.fail(this.currentStatus === 'closed' ? new ClientClosedError() : error);
      for (const call of this.offline) call.fail(error);
      this.offline = [];
      if (this.currentStatus !== 'closed') this.currentStatus = 'closed';
      return;
    }
    this.offline = [...retry, ...this.offline];
    this.currentStatus = 'reconnecting';
    this.startReconnect();
  }

  /** @internal A push frame arrived. */
  onPush(_connection: RedisConnection, push: RespPush): void {
    for (const listener of this.listeners) listener.onPush(push);
  }

  private startReconnect(): void {
    if (this.reconnector !== null) return;
    this.reconnector = this.runtime.spawn(() => this.reconnectLoop(), 'redis-reconnect');
  }

  private async reconnectLoop(): Promise<void> {
    const policy = this.options.reconnect;
    if (policy === false) return;
    let delay = policy.initialDelay;
    try {
      while (this.currentStatus === 'reconnecting') {
        await this.runtime.sleep(delay * (0.5 + Math.random() / 2));
        if (this.currentStatus !== 'reconnecting') return;
        try {
          this.connection = await this.open('main');
          this.attempts = 0;
          this.currentStatus = 'ready';
          for (const listener of this.listeners) listener.onReconnect();
          this.drainOffline();
          return;
        } catch (error) {
          this.lastError = error;
          this.attempts++;
          if (this.attempts >= policy.maxAttempts) {
            this.currentStatus = 'closed';
            const failure = new ConnectionError(`gave up reconnecting after ${this.attempts} attempts`, 'ERR_RECONNECT_FAILED', { cause: error });
            for (const call of this.offline) call.fail(failure);
            this.offline = [];
            return;
          }
          delay = Math.min(policy.maxDelay, delay * policy.factor);
        }
      }
    } finally {
      this.reconnector = null;
    }
  }

  /** The last connection error seen (for diagnostics). */
  get lastConnectionError(): unknown {
    return this.lastError;
  }
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
