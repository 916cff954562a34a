// engine/engine.ts
//
// The protocol-agnostic client engine: one main connection with auto-pipelining, reconnection
// with backoff (and a limit) and a bounded offline queue, per-call timeouts and AbortSignals,
// the runtime's cancellation, and a pool of connections leased for exclusive work (a blocking
// command, a transaction, a COPY, a cursor). A protocol plugs in through an adapter
// (adapter.ts); its user-facing client (RedisClient...) is a thin typed layer on top.
//
// Invariants:
// - A call is settled exactly once: by its response, its timeout, its signal, the runtime's
//   cancellation, the connection's end, or the engine's close.
// - Calls keep their order: calls issued while (re)connecting wait in the offline queue in
//   issue order; retryable calls that were written when the connection broke go back to the
//   front of that queue (when `retryOnReconnect` is 'idempotent'); others fail with
//   ConnectionLostError, because they may have run. After a protocol violation nothing is sent
//   again: the calls that were waiting fail with ProtocolViolationError.
// - A connection is handed out (main or leased) only once the adapter's handshake is done.
// - Every connection opened (main, reconnect, pool) goes through the routes (EngineOptions.routes:
//   the hosts of a multi-host URL) in order, each try bounded by connectTimeout on its own; a
//   route that fails (its connect, or its handshake refusing the server) is closed and the next
//   tried, and only when all failed does the open fail (AllHostsFailedError for several).
// - Closed is final. close() (or giving up reconnecting) ends every connection of the engine,
//   those being opened included, every pause, every lease and every call: a connection that
//   finishes opening afterwards is closed at once, never used.
// - A leased connection carries only its lessee's calls. Its calls are never retried
//   elsewhere: if it breaks, they fail and the lease is dead.
//
// Discussion: the reconnect limit. `reconnect.maxAttempts` counts attempts in a row that
// failed: a connect or handshake that failed, or a connection that broke with a protocol
// violation before it delivered a single response (a peer that completes the handshake and
// then answers garbage would otherwise be reconnected to forever). Anything else resets it.
//
// Discussion: pool health. A pool connection can die while it sits idle (a server restarted,
// pg_terminate_backend, a firewall's idle cut-off) and the reader may not have seen its end yet
// when it is taken out again. So a connection idle at least `poolCheckAfter` ms (default 1 s,
// the rule of pgx's pool: one used within the last second is very likely alive, and a busy pool
// then pays nothing) is first sent the adapter's `ping`; one that fails or does not answer
// within the connect timeout is closed and the next idle one, or a new one, is taken instead:
// the caller never sees it. Idle connections older than `idleTimeout` are closed by a sweep (one
// unref'd timer for the oldest idle connection, not one per connection), and a connection open
// longer than `maxLifetime` is closed when given back or found idle. The main connection is not
// pooled: its loss is a reconnect.
//
// Discussion: spare calls. A call that its protocol allowed to be recycled comes back here once
// its response was delivered (engine/call.ts, "Discussion: recycling"), and the protocol makes
// its next plain call from it (`takeSpare`). The spares are a stack of at most SPARE_MAX calls,
// so they hold what the largest burst had in flight, up to that bound (about 27 MB of Redis
// calls at the bound). An unref'd timer, armed while more than SPARE_KEEP are held, lets go every
// SPARE_TRIM_MS of those at the bottom of the stack that the last period did not take: a client
// idle after a burst holds SPARE_KEEP again within two periods, one that bursts steadily keeps
// what it uses. Closing the engine drops them all.
//
// Discussion: one session. A peer that accepts a single connection (PGlite: `sessions: 1`)
// leaves the pool no room, so a lease (a transaction, a cursor, a COPY, an exclusive call)
// takes the main connection itself. While it holds it, only the lease's calls are written
// there; every other call, and every other lease request, waits in `held`, in issue order,
// with its own timeout and signal armed (abandoning one removes it). Releasing the lease sends
// the held calls in that order, up to the next lease request, which then gets the connection.
// Calls written before the lease was granted are answered before its first call (one
// connection answers in order), so a lease is granted without waiting for them; a lease is
// granted only while the main connection is ready. A lease given back with its own calls
// still in flight closes the main connection (its state is unknown); the engine reconnects as
// after any loss. A caller that awaits a call made outside the lease while holding it waits
// until its timeout: on one session that is a deadlock, as waiting for a full pool is.

import {
  AbortedError,
  AllHostsFailedError,
  ClientClosedError,
  CommandTimeoutError,
  ConnectTimeoutError,
  ConnectionError,
  ConnectionLostError,
  OfflineQueueFullError,
  PoolTimeoutError,
  ProtocolViolationError,
  ReconnectFailedError,
} from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { Background, ByteStream, Runtime, Wake, Waiter } from '../runtime.js';
import type { HandshakeContext, ProtocolAdapter, ProtocolSession } from './adapter.js';
import type { BatchSink, CallOwner, EngineCall } from './call.js';
import { EngineConnection } from './connection.js';
import { CallTimeouts } from './timeouts.js';
import type { ConnectionOwner } from './connection.js';
import type { ConnectFunction, ConnectRoute, EngineOptions } from './options.js';
import type { HostFailure } from '../errors.js';

/** Engine states. */
export type EngineStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** Someone who wants what the main connection receives besides responses. */
export interface EngineListener<Ev> {
  /** Something the peer sent that answers no call (a push, a notification). */
  onEvent(event: Ev): void;
  /** The main connection was replaced after a loss (subscribe again here). */
  onReconnect(): void;
  /**
   * The engine closed for good: `reason` is null after close(), else why it gave up (a
   * ReconnectFailedError, or the connection's error when `reconnect` is false).
   */
  onClosed?(reason: unknown): void;
}

/** Options of {@link Engine.batch}. */
export interface BatchOptions {
  /** Abort the batch: rejected with AbortedError. */
  readonly signal?: AbortSignal;
  /** Timeout of the whole batch in ms: rejected with CommandTimeoutError. */
  readonly timeout?: number;
}

/**
 * The wait of a batch: the Waiter the runtime starts, and the sink every call of the batch
 * settles into (by its index), so that a batch of n calls costs no closure per call.
 */
class BatchWait<C extends EngineCall> implements Waiter<unknown[]>, BatchSink {
  private readonly results: unknown[];
  private remaining: number;
  private finished = false;
  private wake: Wake<unknown[]> | null = null;
  private cancelTimer: (() => void) | null = null;
  private onAbort: (() => void) | null = null;

  constructor(
    private readonly engine: { abandon(call: EngineCall, error: unknown): boolean; route(call: C): void; readonly runtime: Runtime },
    private readonly label: string,
    private readonly calls: readonly C[],
    private readonly keepError: (error: unknown) => boolean,
    private readonly timeout: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.results = new Array<unknown>(calls.length);
    this.remaining = calls.length;
  }

  start(wake: Wake<unknown[]>): void {
    this.wake = wake;
    const { timeout, signal, label } = this;
    if (timeout !== undefined && timeout !== Infinity) this.cancelTimer = this.engine.runtime.timer(timeout, () => this.fail(new CommandTimeoutError(label, timeout)));
    if (signal !== undefined) {
      const onAbort = (): void => this.fail(new AbortedError(label, signal.reason));
      this.onAbort = onAbort;
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const calls = this.calls;
    for (let i = 0; i < calls.length; i++) (calls[i] as C).startBatch(this, i);
    for (let i = 0; i < calls.length; i++) this.engine.route(calls[i] as C);
  }

  cancel(): boolean {
    this.finished = true;
    this.cleanup();
    this.abandonAll();
    return true;
  }

  settled(call: EngineCall, ok: boolean, value: unknown): void {
    if (!ok && !this.keepError(value)) {
      this.fail(value);
      return;
    }
    this.results[call.index] = value;
    if (--this.remaining === 0 && !this.finished) {
      this.finished = true;
      this.cleanup();
      (this.wake as Wake<unknown[]>).resolve(this.results);
    }
  }

  private fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.cleanup();
    this.abandonAll();
    (this.wake as Wake<unknown[]>).reject(error);
  }

  private cleanup(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    const onAbort = this.onAbort;
    if (onAbort !== null) {
      this.onAbort = null;
      this.signal?.removeEventListener('abort', onAbort);
    }
  }

  private abandonAll(): void {
    for (const call of this.calls) this.engine.abandon(call, null);
  }
}

/** The runtime-independent engine of one protocol client. */
export class Engine<C extends EngineCall, Ev, S extends ProtocolSession<C, Ev> = ProtocolSession<C, Ev>, R extends ConnectRoute = ConnectRoute> implements ConnectionOwner<C, Ev>, CallOwner {
  private connection: EngineConnection<C, Ev, S> | null = null;
  private offline: C[] = [];
  private currentStatus: EngineStatus = 'connecting';
  /** Why the engine closed by itself (null while open, and after close()). */
  private closedBy: unknown = null;
  private reconnector: Background | null = null;
  private failedAttempts = 0;
  /** Responses the main connection had delivered when it became ready. */
  private responsesAtReady = 0;
  /** Connections being opened (handshake): close() closes them. */
  private readonly opening = new Set<EngineConnection<C, Ev, S>>();
  /** Pauses under way (backoff, handshake pauses) and their timer cancels: close() ends them. */
  private readonly pauses = new Map<Wake<void>, () => void>();
  private readonly poolIdle: EngineConnection<C, Ev, S>[] = [];
  /** Every open pool connection, idle or leased. */
  private readonly poolLive = new Set<EngineConnection<C, Ev, S>>();
  /** Pool slots taken (open connections, and connections being opened). */
  private poolOpen = 0;
  private readonly poolWaiters: Wake<EngineConnection<C, Ev, S>>[] = [];
  /** Cancels the timer of the next sweep of idle pool connections (see sweepIdle). */
  private sweepCancel: (() => void) | null = null;
  /** One session (see "Discussion: one session"): the main connection while a lease holds it. */
  private mainLeased: EngineConnection<C, Ev, S> | null = null;
  /** One session: calls and lease requests waiting for the lease to end, in issue order. */
  private held: (C | MainRequest<EngineConnection<C, Ev, S>>)[] = [];
  private readonly listeners = new Set<EngineListener<Ev>>();
  private lastError: unknown = null;
  /** Calls delivered after their response, to make later calls from (see "Discussion: spare calls"). */
  private spare: C[] = [];
  /** The fewest spares held since the last trim: that many at the bottom were not needed. */
  private spareLow = 0;
  /** Cancels the timer of the next trim of the spares. */
  private spareTrimCancel: (() => void) | null = null;
  /** What the wait of each call shows ('REDIS_REPLY'). */
  protected readonly waitState: string;

  constructor(
    /** The runtime it runs on. */
    readonly runtime: Runtime,
    /** The protocol. */
    readonly adapter: ProtocolAdapter<C, Ev, S, R>,
    /** Resolved options. */
    readonly options: EngineOptions<R>,
  ) {
    this.waitState = `${adapter.protocol.toUpperCase()}_REPLY`;
  }

  /** Connect and handshake; resolves when ready, rejects if the first attempt fails. */
  async start(): Promise<void> {
    let connection: EngineConnection<C, Ev, S>;
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

  /** The engine's state. */
  get status(): EngineStatus {
    return this.currentStatus;
  }

  /** Closed for good (a getter, so that checks after an await are not narrowed away). */
  get isClosed(): boolean {
    return this.currentStatus === 'closed';
  }

  /** The main connection's session (null while there is none). */
  get session(): S | null {
    return this.connection?.session ?? null;
  }

  /** Calls waiting for a connection. */
  get offlineCount(): number {
    return this.offline.length;
  }

  /** The last connection error seen (for diagnostics). */
  get lastConnectionError(): unknown {
    return this.lastError;
  }

  /**
   * Perform a call made by the protocol client: a plain Promise of its (transformed) response.
   * On curio, a kernel operation owned by the calling task (see runtime.ts).
   */
  perform<T>(call: C): Promise<T> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const signal = call.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError(call.label, signal.reason));
    return this.runtime.wait<T>(this.waitState, call as unknown as Waiter<T>);
  }

  /**
   * Send several calls in one burst and wait for all of them: the results in order. Errors
   * for which `keepError` answers true take their call's place in the results (Redis's error
   * replies in a pipeline); any other failure, the timeout or the signal rejects the batch and
   * abandons the calls still pending. Calls are made with a null owner.
   */
  batch(label: string, calls: readonly C[], keepError: (error: unknown) => boolean, options?: BatchOptions): Promise<unknown[]> {
    if (this.isClosed) return Promise.reject(this.closedError());
    if (calls.length === 0) return Promise.resolve([]);
    const timeout = options?.timeout ?? this.options.callTimeout;
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError(label, signal.reason));
    const wait = new BatchWait(this, label, calls, keepError, timeout, signal);
    return this.runtime.wait<unknown[]>(`${this.waitState}_BATCH`, wait);
  }

  /**
   * Close every connection (those being opened and leased too); every pending call, queued or
   * waiting for its response, fails with ClientClosedError, and so does every call made after.
   * Final.
   */
  close(): void {
    if (this.isClosed) return;
    this.shutDown(null);
  }

  /** The error a call on the closed engine fails with (a new one each time). */
  closedError(): ClientClosedError | ReconnectFailedError {
    const reason = this.closedBy;
    if (reason instanceof ReconnectFailedError) return new ReconnectFailedError(reason.message, { cause: reason.cause });
    if (reason === null) return new ClientClosedError();
    return new ClientClosedError(`the client is closed: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
  }

  /** Register a listener of events and reconnects. */
  addListener(listener: EngineListener<Ev>): void {
    this.listeners.add(listener);
  }

  /** Unregister a listener. */
  removeListener(listener: EngineListener<Ev>): void {
    this.listeners.delete(listener);
  }

  /**
   * A connection of the pool for exclusive work (a transaction, a cursor, a COPY): only the
   * calls made through the lease run on it. Release it when done; a lease whose connection
   * broke is dead (its calls fail with ConnectionLostError). Waits while the pool is full.
   */
  async lease(timeout?: number): Promise<Lease<C, Ev, S>> {
    return new Lease(this, await this.borrow(timeout));
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  /** CallOwner: a call's wait began: arm its timeout and signal, then send it. */
  begin(call: EngineCall): void {
    const timeout = call.timeout;
    if ((timeout !== undefined && timeout !== Infinity) || call.signal !== undefined) this.arm(call);
    if (call.exclusive && call.connection === null) this.sendExclusive(call as C);
    else this.route(call as C);
  }

  /**
   * Arm a call's timeout and signal. A method of its own: its closures capture `call`, and a
   * function whose parameters are captured allocates their context on every entry, so `begin`
   * would pay for it on every call, timeout or not.
   */
  private arm(call: EngineCall): void {
    const timeout = call.timeout;
    const signal = call.signal;
    // A timeout alone goes to its lane: no timer and no closure per call (timeouts.ts).
    if (signal === undefined && timeout !== undefined && (this.timeouts ??= new CallTimeouts(this.runtime, this.expireCall)).add(call, timeout)) return;
    let cancelTimer: (() => void) | null = null;
    let onAbort: (() => void) | null = null;
    if (timeout !== undefined && timeout !== Infinity) {
      cancelTimer = this.runtime.timer(timeout, () => this.abandon(call, new CommandTimeoutError(call.label, timeout)));
    }
    if (signal !== undefined) {
      onAbort = () => this.abandon(call, new AbortedError(call.label, signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
    }
    call.cleanup = () => {
      cancelTimer?.();
      if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
    };
  }

  /** CallOwner: take back a delivered call to make a later one from it (see "Discussion: spare calls"). */
  recycle(call: EngineCall): void {
    const spare = this.spare;
    if (spare.length >= SPARE_MAX || this.isClosed) return;
    spare.push(call as C);
    if (spare.length > SPARE_KEEP && this.spareTrimCancel === null) this.spareTrimCancel = this.runtime.timer(SPARE_TRIM_MS, this.trimSpare, UNREF);
  }

  /** How many delivered calls the engine holds to make later calls from (see "Discussion: spare calls"). */
  get spareCalls(): number {
    return this.spare.length;
  }

  /** A recycled call to make anew (the protocol's `renew`), or undefined. */
  protected takeSpare(): C | undefined {
    const spare = this.spare;
    const call = spare.pop();
    if (spare.length < this.spareLow) this.spareLow = spare.length;
    return call;
  }

  /** Let go of the spares the last period did not take (see "Discussion: spare calls"). */
  private readonly trimSpare = (): void => {
    this.spareTrimCancel = null;
    let spare = this.spare;
    const unused = Math.min(this.spareLow, spare.length - SPARE_KEEP);
    if (unused > 0) this.spare = spare = spare.slice(unused);
    this.spareLow = spare.length;
    if (spare.length > SPARE_KEEP && !this.isClosed) this.spareTrimCancel = this.runtime.timer(SPARE_TRIM_MS, this.trimSpare, UNREF);
  };

  /** The timeout lanes of its calls (timeouts.ts), made with the first call that has a timeout. */
  private timeouts: CallTimeouts | null = null;
  private readonly expireCall = (call: EngineCall, timeout: number): void => {
    this.abandon(call, new CommandTimeoutError(call.label, timeout));
  };

  /** CallOwner: end a call early (see CallOwner). */
  abandon(call: EngineCall, error: unknown): boolean {
    if (call.state === 'done') return true;
    if (call.state === 'abandoning') {
      // Already resynchronising: a second abandonment (a timeout after a cancellation) only
      // changes nothing but the error, if there was none.
      if (call.abandonedWith === null && error !== null) call.abandonedWith = error;
      return false;
    }
    const connection = call.connection as EngineConnection<C, Ev, S> | null;
    let closing = false;
    if (call.state === 'written' && connection !== null) {
      const result = connection.abandon(call as C);
      if (result === 'pending') {
        call.abandonedWith = error;
        this.boundResync(call, connection);
        return false;
      }
      closing = result === 'close';
    }
    if (error === null) call.drop();
    else call.fail(error);
    if (closing) connection?.close();
    const index = this.offline.indexOf(call as C);
    if (index !== -1) this.offline.splice(index, 1);
    else if (this.held.length > 0) {
      const heldAt = this.held.indexOf(call as C);
      if (heldAt !== -1) this.held.splice(heldAt, 1);
    }
    return true;
  }

  /**
   * A call abandoned while its session resynchronises ('pending': a Postgres CancelRequest is on
   * its way) ends when the peer answers it; a peer that never does (a black-holed connection, a
   * stalled server) must not keep it forever: after `connectTimeout` more, the connection is
   * given up, and the call ends with its abandonment's error (its other calls as on any loss).
   */
  private boundResync(call: EngineCall, connection: EngineConnection<C, Ev, S>): void {
    const grace = this.options.connectTimeout;
    const cancelTimer = this.runtime.timer(grace, () => {
      if (call.state === 'abandoning') connection.fail(new ConnectionError(`${call.label}: the server did not answer a cancelled call within ${grace} ms; the connection is given up`, 'ERR_RESYNC_TIMEOUT'));
    });
    const previous = call.cleanup;
    call.cleanup = () => {
      cancelTimer();
      previous?.();
    };
  }

  /** @internal Send on the main connection (or the call's leased one), or keep it for later. */
  route(call: C): void {
    const pinned = call.connection as EngineConnection<C, Ev, S> | null;
    if (pinned !== null) {
      if (pinned.isClosed) call.fail(new ConnectionLostError(`${call.label}: the leased connection is closed`));
      else pinned.submit(call);
      return;
    }
    if (this.mainLeased !== null || this.held.length > 0) {
      this.held.push(call);
      return;
    }
    this.routeFree(call);
  }

  /** Send on the main connection, or keep for when there is one. */
  private routeFree(call: C): void {
    const connection = this.connection;
    if (this.currentStatus === 'ready' && connection !== null && !connection.isClosed) {
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
  // The pool

  private sendExclusive(call: C): void {
    // Borrowing may open a connection, which blocks: do it in the background (a task of its
    // own on curio), never in the caller's context, which is not waiting on it.
    this.runtime.spawn(async () => {
      let connection: EngineConnection<C, Ev, S>;
      try {
        connection = await this.borrow();
      } catch (error) {
        call.fail(error);
        return;
      }
      if (call.state !== 'queued') {
        this.giveBack(connection);
        return;
      }
      call.onSettled = () => this.giveBack(connection);
      connection.submit(call);
    }, `${this.options.name}-lease`);
  }

  /**
   * @internal A pool connection, opened if needed; waits while the pool is full, at most
   * `timeout` ms when given (then PoolTimeoutError).
   */
  async borrow(timeout?: number): Promise<EngineConnection<C, Ev, S>> {
    if (this.isClosed) throw this.closedError();
    if (this.sharesMain) return this.takeMain(timeout);
    for (;;) {
      const idle = this.poolIdle.pop();
      if (idle === undefined) break;
      if (idle.isClosed) {
        this.poolOpen--;
        continue;
      }
      if (this.outlived(idle)) {
        this.retire(idle);
        continue;
      }
      if (await this.stillWorks(idle)) return idle;
    }
    if (this.poolOpen < this.poolCapacity) {
      this.poolOpen++;
      let connection: EngineConnection<C, Ev, S>;
      try {
        connection = await this.open(`pool-${this.poolOpen}`);
      } catch (error) {
        this.poolOpen--;
        throw error;
      }
      if (this.isClosed) {
        connection.close();
        this.poolOpen--;
        throw this.closedError();
      }
      this.poolLive.add(connection);
      return connection;
    }
    // Wait for a connection given back (or a slot freed). Through the runtime, never a plain
    // Promise: on curio the wait is then the calling task's own operation, resumed in its turn.
    return this.waitInQueue(this.poolWaiters, (wake) => wake, timeout, this.options.poolSize);
  }

  /**
   * Wait in `queue` (the pool's waiters, or the held queue of one session) for a connection: the
   * entry `entry(wake)` makes is queued, and taken out again on a timeout (PoolTimeoutError, of
   * a pool of `size`) or the runtime's cancellation, after which `left` runs.
   */
  private waitInQueue<E>(queue: E[], entry: (wake: Wake<EngineConnection<C, Ev, S>>) => E, timeout: number | undefined, size: number, left?: () => void): Promise<EngineConnection<C, Ev, S>> {
    let queued: { readonly entry: E } | null = null;
    let cancelTimer: (() => void) | null = null;
    const stopWaiting = (): void => {
      cancelTimer?.();
      const index = queued === null ? -1 : queue.indexOf(queued.entry);
      if (index !== -1) queue.splice(index, 1);
    };
    return this.runtime.wait<EngineConnection<C, Ev, S>>(
      'POOL_WAIT',
      new FnWaiter<EngineConnection<C, Ev, S>>(
        (wake) => {
          // The timer's wake and the queue's are one: whichever comes first settles the wait.
          queued = {
            entry: entry({
              resolve: (connection) => {
                cancelTimer?.();
                wake.resolve(connection);
              },
              reject: (error) => {
                cancelTimer?.();
                wake.reject(error);
              },
            }),
          };
          queue.push(queued.entry);
          if (timeout !== undefined && timeout !== Infinity) {
            cancelTimer = this.runtime.timer(timeout, () => {
              stopWaiting();
              wake.reject(new PoolTimeoutError(timeout, size));
              left?.();
            });
          }
        },
        () => {
          stopWaiting();
          left?.();
        },
      ),
    );
  }

  /** Close a pool connection out of the pool (too old, dead, idle too long) and free its slot. */
  private retire(connection: EngineConnection<C, Ev, S>): void {
    connection.close();
    this.poolOpen--;
  }

  /** Whether a pool connection has been open longer than `maxLifetime`. */
  private outlived(connection: EngineConnection<C, Ev, S>): boolean {
    const maxLifetime = this.options.maxLifetime;
    return maxLifetime !== undefined && maxLifetime !== Infinity && this.runtime.now() - connection.openedAt >= maxLifetime;
  }

  /**
   * Whether an idle pool connection taken out of the pool still works: checked with the
   * adapter's ping when it was idle at least `poolCheckAfter` ms (see "Discussion: pool
   * health"). One that fails is closed and its slot freed, for the caller to go on.
   */
  private async stillWorks(connection: EngineConnection<C, Ev, S>): Promise<boolean> {
    const ping = this.adapter.ping;
    if (ping === undefined || this.runtime.now() - connection.idleSince < (this.options.poolCheckAfter ?? 1000)) return true;
    let works: boolean;
    try {
      works = await this.check(connection, ping.call(this.adapter));
    } catch (error) {
      // The caller's wait was cancelled: the slot goes to whoever waits for one.
      this.retire(connection);
      this.wakePoolWaiter();
      throw error;
    }
    if (!works) this.retire(connection);
    return works;
  }

  /** Send `call` (a ping) on `connection`: whether it was answered within the connect timeout. */
  private check(connection: EngineConnection<C, Ev, S>, call: C): Promise<boolean> {
    let cancelTimer: (() => void) | null = null;
    return this.runtime.wait<boolean>(
      'POOL_CHECK',
      new FnWaiter<boolean>(
        (wake) => {
          let done = false;
          const settle = (works: boolean): void => {
            if (done) return;
            done = true;
            cancelTimer?.();
            wake.resolve(works);
          };
          cancelTimer = this.runtime.timer(this.options.connectTimeout, () => settle(false));
          call.onSettled = null;
          call.start({ resolve: () => settle(!connection.isClosed), reject: () => settle(false) });
          connection.submit(call);
        },
        () => cancelTimer?.(),
      ),
    );
  }

  /** Close the idle pool connections idle `idleTimeout` ms or longer, and plan the next sweep. */
  private sweepIdle(): void {
    this.sweepCancel = null;
    const idleTimeout = this.options.idleTimeout ?? Infinity;
    if (idleTimeout === Infinity || this.isClosed) return;
    const now = this.runtime.now();
    const idle = this.poolIdle;
    // Oldest first: connections are given back at the end and taken from the end.
    while (idle.length > 0 && now - (idle[0] as EngineConnection<C, Ev, S>).idleSince >= idleTimeout) {
      this.retire(idle.shift() as EngineConnection<C, Ev, S>);
    }
    const oldest = idle[0];
    if (oldest !== undefined) this.sweepCancel = this.runtime.timer(oldest.idleSince + idleTimeout - now, () => this.sweepIdle(), UNREF);
  }

  /** Whether leases take the main connection (the peer has no room for a pool: sessions ≤ 1). */
  get sharesMain(): boolean {
    return (this.options.sessions ?? Infinity) <= 1;
  }

  /** Most connections the pool opens: poolSize, within what the peer accepts beside the main one. */
  private get poolCapacity(): number {
    return Math.max(0, Math.min(this.options.poolSize, (this.options.sessions ?? Infinity) - 1));
  }

  /**
   * One session: the main connection for a lease, at once when it is ready and nobody holds it
   * or waits for it, else after what was issued before (see "Discussion: one session"); at most
   * `timeout` ms when given (then PoolTimeoutError).
   */
  private takeMain(timeout: number | undefined): Promise<EngineConnection<C, Ev, S>> {
    const main = this.connection;
    if (this.mainLeased === null && this.held.length === 0 && this.currentStatus === 'ready' && main !== null && !main.isClosed) {
      this.mainLeased = main;
      return Promise.resolve(main);
    }
    // A request that leaves the front of the queue may unblock the calls behind it.
    return this.waitInQueue<C | MainRequest<EngineConnection<C, Ev, S>>>(this.held, (wake) => new MainRequest(wake), timeout, 1, () => this.drainHeld());
  }

  /**
   * One session: while nobody holds the main connection, send the held calls in order up to
   * the next lease request, and grant it the connection once it is ready.
   */
  private drainHeld(): void {
    const held = this.held;
    while (this.mainLeased === null && held.length > 0) {
      const next = held[0] as C | MainRequest<EngineConnection<C, Ev, S>>;
      if (next instanceof MainRequest) {
        const main = this.connection;
        if (this.currentStatus !== 'ready' || main === null || main.isClosed) return; // becomeReady drains again
        held.shift();
        this.mainLeased = main;
        next.wake.resolve(main);
        return;
      }
      held.shift();
      if (next.state === 'queued') this.routeFree(next);
    }
  }

  /**
   * @internal Return a pool connection (closed ones free their slot). `busy`: the lessee's
   * calls are still in flight (its state is unknown): checked for the shared main connection,
   * whose other calls are not the lessee's.
   */
  giveBack(connection: EngineConnection<C, Ev, S>, busy = false): void {
    if (this.sharesMain) {
      if (connection !== this.mainLeased) return;
      this.mainLeased = null;
      if (busy) connection.close();
      if (!this.isClosed) this.drainHeld();
      return;
    }
    if (connection.isClosed) {
      this.poolOpen--;
      this.wakePoolWaiter();
      return;
    }
    if (connection.inFlight > 0) {
      // Returned with work under way: its state is unknown, so it is not reused, and its slot
      // is free (nobody gives it back again).
      connection.close();
      this.poolOpen--;
      this.wakePoolWaiter();
      return;
    }
    if (this.outlived(connection)) {
      this.retire(connection);
      this.wakePoolWaiter();
      return;
    }
    const waiter = this.poolWaiters.shift();
    if (waiter !== undefined) waiter.resolve(connection);
    else if (this.isClosed) connection.close();
    else {
      connection.idleSince = this.runtime.now();
      this.poolIdle.push(connection);
      const idleTimeout = this.options.idleTimeout ?? Infinity;
      if (this.sweepCancel === null && idleTimeout !== Infinity) this.sweepCancel = this.runtime.timer(idleTimeout, () => this.sweepIdle(), UNREF);
    }
  }

  /** A slot freed: a waiter may open a connection of its own (in the background). */
  private wakePoolWaiter(): void {
    const waiter = this.poolWaiters.shift();
    if (waiter === undefined) return;
    this.runtime.spawn(async () => {
      try {
        waiter.resolve(await this.borrow());
      } catch (error) {
        waiter.reject(error);
      }
    }, `${this.options.name}-pool-open`);
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  /**
   * Open a connection through the routes (EngineOptions.routes), in order: the first that
   * connects and passes the handshake. With several routes, a failure moves on to the next,
   * and AllHostsFailedError lists every failure once none is left.
   */
  private async open(label: string): Promise<EngineConnection<C, Ev, S>> {
    if (this.isClosed) throw this.closedError();
    const routes = this.options.routes?.() ?? [{ connect: this.options.connect, label: this.options.name } as R];
    if (routes.length === 1) return this.openVia(routes[0] as R, label);
    const failures: HostFailure[] = [];
    for (const route of routes) {
      try {
        return await this.openVia(route, label);
      } catch (error) {
        if (this.isClosed) throw this.closedError();
        failures.push({ host: route.label, error });
      }
    }
    throw new AllHostsFailedError(failures);
  }

  /**
   * Connect through `route`, run the adapter's handshake, and return the ready connection.
   * Bounded by `connectTimeout` (ConnectTimeoutError), except the handshake's pauses.
   */
  private async openVia(route: R, label: string): Promise<EngineConnection<C, Ev, S>> {
    if (this.isClosed) throw this.closedError();
    const options = this.options;
    const started = this.runtime.now();
    let stream: ByteStream;
    try {
      stream = await route.connect({ timeout: options.connectTimeout });
    } catch (error) {
      throw asConnectTimeout(error, options.connectTimeout);
    }
    if (this.isClosed) {
      stream.close();
      throw this.closedError();
    }
    const connection = new EngineConnection<C, Ev, S>(this.runtime, stream, this.adapter.createSession(), this, `${options.name} ${label}`, route.connect);
    this.opening.add(connection);
    const timedOut = (): void => connection.fail(new ConnectTimeoutError(`the server did not answer the handshake within ${options.connectTimeout} ms`));
    let cancelTimer = this.runtime.timer(Math.max(0, options.connectTimeout - (this.runtime.now() - started)), timedOut);
    const context: HandshakeContext<C, S, R> = {
      session: connection.session,
      route,
      request: (call) => connection.request(call),
      flush: () => connection.flushSoon(),
      writeNow: () => connection.writeNow(),
      untilReady: () => connection.untilReady(),
      startTls: (tlsOptions) => connection.startTls(tlsOptions),
      canStartTls: connection.canStartTls,
      pause: async (ms) => {
        cancelTimer();
        await this.pause(ms);
        if (this.isClosed) throw this.closedError();
        cancelTimer = this.runtime.timer(options.connectTimeout, timedOut);
      },
    };
    try {
      await this.adapter.handshake(context);
      if (this.isClosed) throw this.closedError();
      if (connection.isClosed) throw new ConnectionError('the connection closed during the handshake', 'ERR_CONNECTION_CLOSED');
      return connection;
    } catch (error) {
      connection.close();
      throw this.isClosed ? this.closedError() : error;
    } finally {
      cancelTimer();
      this.opening.delete(connection);
    }
  }

  /** Sleep `ms`, unless the engine closes first (a kernel trap on curio, cancellable). */
  private pause(ms: number): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    let started: Wake<void> | null = null;
    return this.runtime.wait<void>(
      'PAUSE',
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
  private becomeReady(connection: EngineConnection<C, Ev, S>, reconnected: boolean): void {
    this.connection = connection;
    this.responsesAtReady = connection.responsesDelivered;
    this.currentStatus = 'ready';
    if (reconnected) for (const listener of this.listeners) listener.onReconnect();
    this.drainOffline();
    this.drainHeld();
  }

  /** ConnectionOwner: a connection ended. */
  onLost(connection: EngineConnection<C, Ev>, error: ConnectionError, unanswered: C[], queued: C[]): void {
    this.lastError = error;
    const pooled = this.poolLive.delete(connection as EngineConnection<C, Ev, S>);
    if (pooled) {
      const idle = this.poolIdle.indexOf(connection as EngineConnection<C, Ev, S>);
      if (idle !== -1) {
        this.poolIdle.splice(idle, 1);
        this.poolOpen--;
        this.wakePoolWaiter();
      }
    }
    if (this.isClosed) {
      for (const call of unanswered) call.fail(this.closedError());
      for (const call of queued) call.fail(this.closedError());
      return;
    }
    if (connection !== this.connection) {
      // A pool connection (its calls may have run: nothing to retry), or one being opened
      // (its handshake calls fail with the error itself: a timeout stays a timeout).
      for (const call of unanswered) call.fail(pooled ? lostCallError(call, error) : error);
      for (const call of queued) call.fail(pooled ? lostCallError(call, error) : error);
      return;
    }
    this.connection = null;
    const violation = error instanceof ProtocolViolationError;
    // One session: a lease holds this connection, so its calls are among these; a lease's calls
    // are never retried elsewhere, and they cannot be told from the calls written before it.
    const leased = this.mainLeased === connection;
    const retrying = this.options.reconnect !== false && this.options.retryOnReconnect === 'idempotent' && !violation && !leased;
    const retry: C[] = [];
    for (const call of unanswered) {
      if (retrying && call.retryable && call.state === 'written') {
        call.state = 'queued';
        call.id = 0;
        call.connection = null;
        retry.push(call);
      } else call.fail(lostCallError(call, error));
    }
    for (const call of queued) {
      if (leased) {
        call.fail(lostCallError(call, error));
        continue;
      }
      call.connection = null;
      retry.push(call);
    }
    const policy = this.options.reconnect;
    if (policy === false) {
      for (const call of retry) call.fail(error);
      this.shutDown(error);
      return;
    }
    this.offline = retry.length === 0 ? this.offline : [...retry, ...this.offline];
    if (violation && connection.responsesDelivered === this.responsesAtReady) {
      this.failedAttempts++;
      if (this.failedAttempts >= policy.maxAttempts) {
        this.giveUp(error);
        return;
      }
    } else this.failedAttempts = 0;
    this.currentStatus = 'reconnecting';
    this.startReconnect();
  }

  /** ConnectionOwner: the main connection received something that answers no call. */
  onEvent(connection: EngineConnection<C, Ev>, event: Ev): void {
    if (connection !== this.connection) return;
    for (const listener of this.listeners) listener.onEvent(event);
  }

  /**
   * ConnectionOwner: send `bytes` on a connection of their own (a Postgres CancelRequest), in
   * the background: written, then closed when the peer closes it or after the connect timeout.
   * Failures are ignored (see SessionSink.sendAside).
   */
  sendAside(bytes: Uint8Array, done?: () => void, connect: ConnectFunction = this.options.connect): void {
    if (this.isClosed) {
      done?.();
      return;
    }
    const { connectTimeout } = this.options;
    this.runtime.spawn(async () => {
      let stream: ByteStream | null = null;
      const cancelTimer = this.runtime.timer(connectTimeout, () => stream?.close());
      try {
        stream = await connect({ timeout: connectTimeout });
        await stream.write(bytes);
        while (((await stream.read()) ?? EMPTY).length > 0);
      } catch {
        // Best effort (see SessionSink.sendAside).
      } finally {
        cancelTimer();
        (stream as ByteStream | null)?.close();
        done?.();
      }
    }, `${this.options.name}-aside`);
  }

  private startReconnect(): void {
    if (this.reconnector !== null) return;
    this.reconnector = this.runtime.spawn(async () => {
      let connection: EngineConnection<C, Ev, S> | null;
      try {
        connection = await this.reconnectLoop();
      } finally {
        this.reconnector = null;
      }
      // Ready after the reconnector is cleared: should the new connection break at once, a
      // new reconnector can start.
      if (connection !== null) this.becomeReady(connection, true);
    }, `${this.options.name}-reconnect`);
  }

  /** Try to connect with backoff: the new connection, or null once closed or given up. */
  private async reconnectLoop(): Promise<EngineConnection<C, Ev, S> | null> {
    const policy = this.options.reconnect;
    if (policy === false) return null;
    let delay = policy.initialDelay;
    while (this.currentStatus === 'reconnecting') {
      await this.pause(delay * (0.5 + (this.runtime.random?.() ?? Math.random()) / 2));
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
    this.poolIdle.length = 0;
    this.sweepCancel?.();
    this.sweepCancel = null;
    this.spare = [];
    this.spareTrimCancel?.();
    this.spareTrimCancel = null;
    this.timeouts?.close();
    this.timeouts = null;
    for (const connection of [...this.poolLive]) connection.close();
    for (const waiter of this.poolWaiters.splice(0)) waiter.reject(this.closedError());
    this.mainLeased = null;
    for (const entry of this.held.splice(0)) {
      if (entry instanceof MainRequest) entry.wake.reject(this.closedError());
      else entry.fail(this.closedError());
    }
    for (const listener of [...this.listeners]) listener.onClosed?.(reason);
  }
}

/**
 * A pool connection leased for exclusive work. Calls made with `perform` run on it alone, in
 * order; `release()` gives it back (closed instead if calls are still in flight: its state is
 * unknown).
 */
export class Lease<C extends EngineCall, Ev, S extends ProtocolSession<C, Ev>> {
  private released = false;
  /** The last call made through the lease (answered in order: when it is done, all are). */
  private last: C | null = null;

  /** @internal Use Engine.lease. */
  constructor(
    private readonly engine: Engine<C, Ev, S>,
    private readonly connection: EngineConnection<C, Ev, S>,
  ) {}

  /** Whether the connection is gone (broken, closed, or released). */
  get isClosed(): boolean {
    return this.released || this.connection.isClosed;
  }

  /** The connection's session. */
  get session(): S {
    return this.connection.session;
  }

  /** Perform a call on the leased connection. */
  perform<T>(call: C): Promise<T> {
    if (this.released) return Promise.reject(new ClientClosedError('the lease was released'));
    call.connection = this.connection;
    this.last = call;
    return this.engine.perform<T>(call);
  }

  /**
   * Write what the session encoded by itself (a COPY's data) now; resolves once the stream
   * accepted it (at once below its high-water mark, else when it drained).
   */
  write(): Promise<void> {
    if (this.released) return Promise.reject(new ClientClosedError('the lease was released'));
    return this.connection.writeNow();
  }

  /** Make a call (of a batch) run on the leased connection. */
  pin(call: C): void {
    call.connection = this.connection;
    this.last = call;
  }

  /**
   * Close the connection instead of giving it back (its state is unknown or unwanted: a
   * transaction that could not be rolled back); the pool slot is freed. Idempotent.
   */
  discard(): void {
    if (this.released) return;
    this.connection.close();
    this.release();
  }

  /** Give the connection back to the pool. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const last = this.last;
    this.last = null;
    this.engine.giveBack(this.connection, last !== null && last.state !== 'done');
  }
}

const EMPTY = new Uint8Array(0);

/** Timers that alone must not keep the process alive (an idle pool's sweep). */
const UNREF = { unref: true } as const;

/** The most spare calls an engine holds (see "Discussion: spare calls"). */
const SPARE_MAX = 1 << 18;
/** Spares held without a trim timer. */
const SPARE_KEEP = 1024;
/** How often spares unused for that long are let go (ms). */
const SPARE_TRIM_MS = 10_000;

/** One session: a lease request waiting in the held queue (see "Discussion: one session"). */
class MainRequest<T> {
  constructor(readonly wake: Wake<T>) {}
}

/** The error of a call that was written when its connection broke. */
function lostCallError(call: EngineCall, error: ConnectionError): ConnectionError {
  if (error instanceof ProtocolViolationError) {
    return new ProtocolViolationError(`${call.label}: ${error.message}`, { cause: error.cause ?? error });
  }
  return new ConnectionLostError(`${call.label}: connection lost before the reply arrived`, { cause: error });
}

/** A transport's connect timeout (code ETIMEDOUT), as a ConnectTimeoutError. */
function asConnectTimeout(error: unknown, ms: number): unknown {
  if (error instanceof ConnectTimeoutError || !(error instanceof ConnectionError) || error.code !== 'ETIMEDOUT') return error;
  return new ConnectTimeoutError(`connecting timed out after ${ms} ms`, { cause: error });
}
