// pg/client.ts
//
// The public Postgres client: `query` (text and parameters, or a `sql` fragment), pipelined
// automatically on the main connection; `transaction` on a connection of its own, with
// savepoints for nested ones; `cursor` for results read batch by batch; `listen` / `notify`.
// Written once on the engine: backends export `connectPg` bound to themselves.
//
// Invariants:
// - A transaction holds a pool connection for its whole duration; nobody else's query is
//   pipelined into it. It ends with COMMIT when its function returns, ROLLBACK when it throws
//   (an error, an abort, a task's cancellation); if the ROLLBACK cannot be done, the
//   connection is closed (the server then rolls back), never given back in a transaction.
// - A COMMIT the server turned into a ROLLBACK (the transaction had failed: an error caught
//   inside the function) is an error (ERR_PG_ROLLED_BACK), never a silent success.
// - Queries are never retried after a connection loss (they may have run); queries not yet
//   written when it happened go out on the new connection.

import { PgError, TypeRegistry } from '@curio-ts/proto-pg';
import type { PgCodec } from '@curio-ts/proto-pg';
import { ClientError, ConnectionError, InvalidArgumentError } from '../errors.js';
import { Engine } from '../engine/engine.js';
import type { EngineListener, Lease } from '../engine/engine.js';
import { FnWaiter } from '../runtime.js';
import type { Runtime, Wake } from '../runtime.js';
import { pgAdapter } from './adapter.js';
import type { PgRoute } from './adapter.js';
import { PgCall } from './call.js';
import { resolvePgOptions } from './options.js';
import type { PgEnvironment, PgFileReader, PgHost, PgOptions, ResolvedPgOptions } from './options.js';
import type { PgResult, PgRow, PgRowMode } from './result.js';
import type { PgSession, PgSessionEvent } from './session.js';
import { copyFromOn, copyToOn } from './copy.js';
import type { PgCopySource } from './copy.js';
import { isSqlFragment } from './sql.js';
import type { SqlFragment } from './sql.js';

/** Options of one query. */
export interface PgQueryOptions {
  /** Rows as objects (default: the client's rowMode) or arrays. */
  readonly rowMode?: PgRowMode;
  /**
   * Abort the query: rejected with AbortedError. A query already sent is cancelled on the server
   * (a CancelRequest) and the promise settles once the server confirmed; the connection stays usable.
   */
  readonly signal?: AbortSignal;
  /** Per-query timeout in ms (CommandTimeoutError; cancelled on the server like an abort). Overrides queryTimeout. */
  readonly timeout?: number;
  /** Use the prepared-statement cache (default: the client's `prepare`). */
  readonly prepare?: boolean;
}

/** Options of a cursor. */
export interface PgCursorOptions {
  /** Rows fetched per round trip (default 100): what the cursor holds at most. */
  readonly batch?: number;
  /** Rows as objects (default: the client's rowMode) or arrays. */
  readonly rowMode?: PgRowMode;
  /** Abort the cursor's fetches (a running one is cancelled on the server). */
  readonly signal?: AbortSignal;
}

/** A notification received by {@link PgClient.listen}. */
export interface PgNotification {
  /** The channel. */
  readonly channel: string;
  /** The payload ('' when none). */
  readonly payload: string;
  /** The server process that sent it. */
  readonly processId: number;
}

/** Options of a transaction. */
export interface PgTransactionOptions {
  /** The isolation level (default: the server's, usually read committed). */
  readonly isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /** READ ONLY. */
  readonly readOnly?: boolean;
}

/** A pool connection leased for a transaction or a cursor. */
export type PgLease = Lease<PgCall, PgSessionEvent, PgSession>;

/** The Postgres engine: the generic engine with the Postgres adapter. */
export class PgEngine extends Engine<PgCall, PgSessionEvent, PgSession, PgRoute> {
  /** Resolved options. */
  readonly pgOptions: ResolvedPgOptions;
  /** The codecs of every connection of this client. */
  readonly types: TypeRegistry;
  /** The class of the calls it waits on: the runtime's own (Runtime.callClass), or PgCall. */
  private readonly callClass: typeof PgCall;
  /** One session: the listeners of each channel on the main connection (see PgClient.listen). */
  readonly sharedChannels = new Map<string, number>();

  constructor(runtime: Runtime, options: ResolvedPgOptions, name = 'pg') {
    const types = new TypeRegistry({ int8: options.int8, dates: options.dates, intervals: options.intervals });
    const target = options.target;
    super(runtime, pgAdapter(options, { statementCacheSize: options.prepare ? options.statementCacheSize : 0, types }), {
      name,
      connect: options.connect ?? ((o: { readonly timeout: number }) => runtime.connect(target, o)),
      routes: pgRoutes(runtime, options, name),
      connectTimeout: options.connectTimeout,
      callTimeout: options.queryTimeout,
      reconnect: options.reconnect,
      offlineQueueLimit: options.offlineQueueLimit,
      retryOnReconnect: 'never',
      poolSize: options.poolSize,
      sessions: options.sessions,
      poolCheckAfter: options.poolCheckAfter,
      idleTimeout: options.idleTimeout,
      maxLifetime: options.maxLifetime,
    });
    this.pgOptions = options;
    this.types = types;
    this.callClass = runtime.callClass?.(PgCall, this.waitState) ?? PgCall;
  }

  /**
   * A plain query of a client without a lease: made from a spare call when it has no signal,
   * and recyclable once its result is delivered (see the engine's "Discussion: spare calls";
   * nothing reads the call after that).
   */
  makeQuery(text: string, params: readonly unknown[], options: PgQueryOptions | undefined): PgCall {
    if (options?.signal === undefined) {
      const spare = this.takeSpare();
      if (spare !== undefined) {
        const timeout = options?.timeout ?? this.options.callTimeout;
        spare.renewQuery(text, params, options?.rowMode ?? this.pgOptions.rowMode, options?.prepare ?? this.pgOptions.prepare, timeout);
        return spare;
      }
    }
    const call = this.makeCall('query', text, params, options);
    call.allowRecycling();
    return call;
  }

  /** Make a call of this engine's class. */
  makeCall(kind: 'query' | 'simple' | 'cursor-fetch' | 'copy-in' | 'copy-out', text: string, params: readonly unknown[], options: PgQueryOptions | undefined): PgCall {
    return new this.callClass(
      kind,
      text,
      params,
      options?.rowMode ?? this.pgOptions.rowMode,
      options?.prepare ?? this.pgOptions.prepare,
      this,
      options?.timeout ?? this.options.callTimeout,
      options?.signal,
    );
  }
}

/**
 * The routes of a client's connections (see adapter.ts): each host in order (shuffled for
 * every connection with load_balance_hosts=random), wanting what target_session_attrs says;
 * prefer-standby is a pass wanting a standby, then a pass accepting any server (one pass for
 * one host). With the `connect` option (PGlite, a test pipe) there is one route, through it.
 */
function pgRoutes(runtime: Runtime, options: ResolvedPgOptions, name: string): () => readonly PgRoute[] {
  const attrs = options.targetSessionAttrs;
  const given = options.connect;
  if (given !== undefined) {
    const only: readonly PgRoute[] = [{ connect: given, label: name, host: null, wanted: attrs === 'prefer-standby' ? 'any' : attrs }];
    return () => only;
  }
  const hosts = options.hosts;
  const passes = attrs === 'prefer-standby' ? (hosts.length === 1 ? (['any'] as const) : (['standby', 'any'] as const)) : ([attrs] as const);
  const routeOf = (host: PgHost, wanted: PgRoute['wanted']): PgRoute => ({ connect: (o) => runtime.connect(host.target, o), label: host.label, host, wanted });
  const inOrder = passes.flatMap((wanted) => hosts.map((host) => routeOf(host, wanted)));
  if (options.loadBalanceHosts !== 'random' || hosts.length === 1) return () => inOrder;
  return () => {
    // Fisher-Yates on the runtime's random source (seeded in deterministic tests).
    const order = hosts.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor((runtime.random?.() ?? Math.random()) * (i + 1));
      [order[i], order[j]] = [order[j] as PgHost, order[i] as PgHost];
    }
    return passes.flatMap((wanted) => order.map((host) => routeOf(host, wanted)));
  };
}

/** Turn `query` and `params` into text and values (a fragment carries its own). */
function textAndValues(query: string | SqlFragment, params: readonly unknown[] | undefined): { text: string; values: readonly unknown[] } {
  if (typeof query === 'string') {
    if (params !== undefined && !Array.isArray(params)) throw new InvalidArgumentError('query parameters must be an array', 'ERR_BAD_ARGUMENT');
    return { text: query, values: params ?? [] };
  }
  if (isSqlFragment(query)) {
    if (params !== undefined && params.length > 0) throw new InvalidArgumentError('a sql fragment carries its own parameters', 'ERR_BAD_ARGUMENT');
    return query.toQuery();
  }
  throw new InvalidArgumentError('a query is a string or a fragment made with sql', 'ERR_BAD_ARGUMENT');
}

/** The PgError that says a COMMIT rolled back instead. */
export class PgTransactionRolledBackError extends ClientError {
  constructor() {
    super('the transaction had failed (an error inside it was caught): COMMIT rolled it back', 'ERR_PG_ROLLED_BACK');
  }
}

const ISOLATION: Readonly<Record<string, string>> = {
  'read committed': ' isolation level read committed',
  'repeatable read': ' isolation level repeatable read',
  serializable: ' isolation level serializable',
};

/** A Postgres client. Create one with `connectPg` from a backend package. */
export class PgClient {
  /** The engines of this client's listeners: closed with it. */
  private readonly dedicated = new Set<PgEngine>();

  /** @internal Use connectPg. */
  constructor(
    /** The engine (connections, reconnects, pool). */
    readonly core: PgEngine,
    /** The leased connection of a transaction (see transaction()). */
    private readonly lease?: PgLease,
    /** Nesting depth inside a transaction (1 for the outermost). */
    private readonly depth = 0,
  ) {}

  /** 'connecting', 'ready', 'reconnecting' or 'closed'. */
  get status(): string {
    return this.core.status;
  }

  /** The server's parameters (server_version, TimeZone...), from the connection this client uses. */
  get serverParameters(): ReadonlyMap<string, string> {
    return (this.lease?.session ?? this.core.session)?.serverParameters ?? new Map();
  }

  /** How the server authenticated the connection this client uses ('trust', 'md5', 'SCRAM-SHA-256-PLUS'...). */
  get authenticationMethod(): string | null {
    return (this.lease?.session ?? this.core.session)?.authenticationMethod ?? null;
  }

  /** The server process id of the connection this client uses (0 when unknown). */
  get processId(): number {
    return (this.lease?.session ?? this.core.session)?.processId ?? 0;
  }

  /** Register a codec for a type OID (a user type), on every connection of this client. */
  registerType<T>(codec: PgCodec<T>): void {
    this.core.types.register(codec);
  }

  /**
   * Run one statement: `query('select * from t where id = $1', [id])`, or
   * `query(sql\`select * from t where id = ${id}\`)`. Concurrent queries are pipelined on one
   * connection. Rejects with PgError for an error the server sent (the connection stays usable).
   */
  query<R = PgRow>(query: string | SqlFragment, params?: readonly unknown[], options?: PgQueryOptions): Promise<PgResult<R>> {
    let text: string;
    let values: readonly unknown[];
    try {
      ({ text, values } = textAndValues(query, params));
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (this.lease === undefined) return this.core.perform<PgResult<R>>(this.core.makeQuery(text, values, options));
    return this.lease.perform<PgResult<R>>(this.core.makeCall('query', text, values, options));
  }

  /**
   * Run SQL text of one or more statements by the simple protocol (no parameters): one result
   * per statement. For scripts and migrations.
   */
  simpleQuery(text: string, options?: Omit<PgQueryOptions, 'prepare'>): Promise<PgResult[]> {
    if (typeof text !== 'string') return Promise.reject(new InvalidArgumentError('simpleQuery takes SQL text', 'ERR_BAD_ARGUMENT'));
    const call = this.core.makeCall('simple', text, [], options);
    return this.lease === undefined ? this.core.perform<PgResult[]>(call) : this.lease.perform<PgResult[]>(call);
  }

  /**
   * Run `fn` in a transaction on a connection of its own: COMMIT when it returns, ROLLBACK when
   * it throws (the error is thrown again). Inside, `tx.transaction` makes a savepoint. Queries
   * must go through `tx`, not through this client.
   */
  async transaction<T>(fn: (tx: PgClient) => Promise<T>, options?: PgTransactionOptions): Promise<T> {
    if (this.lease !== undefined) return this.savepoint(fn);
    let begin = 'begin';
    if (options?.isolation !== undefined) {
      const level = ISOLATION[options.isolation];
      if (level === undefined) throw new InvalidArgumentError(`unknown isolation level ${JSON.stringify(options.isolation)}`, 'ERR_BAD_OPTION');
      begin += level;
    }
    if (options?.readOnly === true) begin += ' read only';
    const lease = await this.beginOn(begin);
    const tx = new PgClient(this.core, lease, 1);
    let result: T;
    try {
      result = await fn(tx);
    } catch (error) {
      await this.endLease(lease, 'rollback');
      throw error;
    }
    const failed = lease.session.transactionStatus === 'E';
    let committed: PgResult[];
    try {
      committed = await tx.simpleQuery('commit');
    } catch (error) {
      await this.endLease(lease, 'rollback');
      throw error;
    }
    this.giveBack(lease);
    if (failed || committed[0]?.command === 'ROLLBACK') throw new PgTransactionRolledBackError();
    return result;
  }

  /**
   * Read a query's rows batch by batch (a portal executed with a row limit): at most `batch`
   * rows are held at a time, and the next batch is asked for only when these are consumed.
   * Runs in a transaction on a connection of its own (or in the current one, inside
   * `transaction`); leaving the loop early closes the portal.
   */
  async *cursor<R = PgRow>(query: string | SqlFragment, params?: readonly unknown[], options?: PgCursorOptions): AsyncGenerator<R, void, undefined> {
    const { text, values } = textAndValues(query, params);
    const batch = options?.batch ?? 100;
    if (!Number.isInteger(batch) || batch < 1) throw new InvalidArgumentError(`cursor batch must be an integer >= 1, not ${String(batch)}`, 'ERR_BAD_OPTION');
    const own = this.lease === undefined;
    // Its own lease begins a transaction (a connection found dead at BEGIN is replaced).
    const lease = this.lease ?? (await this.beginOn('begin'));
    const runner = own ? new PgClient(this.core, lease, 1) : this;
    const portal = `curio_cursor_${++cursorCounter}`;
    let finished = false;
    try {
      const first = this.core.makeCall('query', text, values, { ...(options?.rowMode !== undefined ? { rowMode: options.rowMode } : {}), ...(options?.signal !== undefined ? { signal: options.signal } : {}), prepare: false });
      first.portal = portal;
      first.maxRows = batch;
      let step = await lease.perform<CursorBatch>(first);
      const fields = first.fields;
      const decoders = first.decoders;
      for (;;) {
        for (const row of step.result.rows) yield row as R;
        if (!step.suspended) break;
        const next = this.core.makeCall('cursor-fetch', text, [], { ...(options?.rowMode !== undefined ? { rowMode: options.rowMode } : {}), ...(options?.signal !== undefined ? { signal: options.signal } : {}) });
        next.portal = portal;
        next.maxRows = batch;
        next.fields = fields;
        next.decoders = decoders;
        step = await lease.perform<CursorBatch>(next);
      }
      finished = true;
    } finally {
      if (own) {
        if (finished) await runner.simpleQuery('commit').then(() => this.giveBack(lease), () => lease.discard());
        else await this.endLease(lease, 'rollback');
      } else if (!finished && !lease.isClosed) await runner.simpleQuery(`close ${portal}`).catch(() => {});
    }
  }

  /**
   * Listen to `channel` on a connection of its own: an async iterator of its notifications,
   * which listens again after a reconnect (notifications sent while it was away are lost, as
   * the server keeps none). `close()` it (or leave the loop) to stop. With `sessions: 1`
   * (PGlite) it listens on the client's one connection instead, and notifications arrive
   * with the replies of the queries run there.
   */
  async listen(channel: string): Promise<PgListener> {
    if (typeof channel !== 'string' || channel === '') throw new InvalidArgumentError('listen needs a channel name', 'ERR_BAD_ARGUMENT');
    if (this.core.isClosed) throw this.core.closedError();
    if (this.core.sharesMain) {
      const shared = new PgListener(this.core, channel, false);
      try {
        await shared.start();
      } catch (error) {
        await shared.close();
        throw error;
      }
      return shared;
    }
    const core = new PgEngine(this.core.runtime, this.core.pgOptions, 'pg:listen');
    const listener = new PgListener(core, channel);
    this.dedicated.add(core);
    core.addListener({ onEvent: () => {}, onReconnect: () => {}, onClosed: () => this.dedicated.delete(core) });
    try {
      await core.start();
      await listener.start();
    } catch (error) {
      core.close();
      throw error;
    }
    return listener;
  }

  /** NOTIFY `channel` with `payload` (pg_notify: any channel name, the payload a parameter). */
  async notify(channel: string, payload = ''): Promise<void> {
    await this.query('select pg_notify($1, $2)', [channel, payload], { prepare: true });
  }

  /**
   * Run `COPY ... FROM STDIN` with the chunks of `source` (bytes, or strings sent as UTF-8), on
   * a connection of its own (or the transaction's); the number of rows copied. A source that
   * throws aborts the COPY (CopyFail) and its error is thrown.
   */
  async copyFrom(text: string, source: PgCopySource): Promise<number> {
    if (typeof text !== 'string') throw new InvalidArgumentError('copyFrom takes the COPY statement as text', 'ERR_BAD_ARGUMENT');
    if (this.lease !== undefined) return copyFromOn(this.core, this.lease, text, source);
    const lease = await this.core.lease(this.core.pgOptions.poolTimeout);
    try {
      return await copyFromOn(this.core, lease, text, source);
    } finally {
      this.giveBack(lease);
    }
  }

  /**
   * Run `COPY ... TO STDOUT`: its data as chunks of bytes, as they arrive (reading pauses while
   * the consumer is behind). Leaving the loop early closes the connection it ran on.
   */
  async *copyTo(text: string): AsyncGenerator<Uint8Array, void, undefined> {
    if (typeof text !== 'string') throw new InvalidArgumentError('copyTo takes the COPY statement as text', 'ERR_BAD_ARGUMENT');
    if (this.lease !== undefined) {
      yield* copyToOn(this.core, this.lease, text);
      return;
    }
    const lease = await this.core.lease(this.core.pgOptions.poolTimeout);
    try {
      yield* copyToOn(this.core, lease, text);
    } finally {
      this.giveBack(lease);
    }
  }

  /**
   * A pool connection with `begin` run on it. A connection that turns out to be dead (the
   * server closed it while it sat idle in the pool) is dropped and BEGIN tried once more on
   * another: nothing had run on it.
   */
  private async beginOn(begin: string): Promise<PgLease> {
    for (let attempt = 0; ; attempt++) {
      const lease = await this.core.lease(this.core.pgOptions.poolTimeout);
      try {
        await new PgClient(this.core, lease, 1).simpleQuery(begin);
        return lease;
      } catch (error) {
        lease.discard();
        // A dead connection shows as a lost connection, or as the FATAL the server sent on it
        // before closing (57P01 after pg_terminate_backend, a server shutting down).
        const dead = error instanceof ConnectionError || (error instanceof PgError && (error.severityName ?? error.severity) === 'FATAL');
        if (attempt > 0 || !dead || this.core.isClosed) throw error;
      }
    }
  }

  /** A nested transaction: SAVEPOINT, then RELEASE or ROLLBACK TO. */
  private async savepoint<T>(fn: (tx: PgClient) => Promise<T>): Promise<T> {
    const lease = this.lease as PgLease;
    const name = `curio_sp_${this.depth}`;
    const inner = new PgClient(this.core, lease, this.depth + 1);
    await this.simpleQuery(`savepoint ${name}`);
    let result: T;
    try {
      result = await fn(inner);
    } catch (error) {
      if (!lease.isClosed) await this.simpleQuery(`rollback to savepoint ${name}; release savepoint ${name}`).catch(() => lease.discard());
      throw error;
    }
    await this.simpleQuery(`release savepoint ${name}`);
    return result;
  }

  /** End a transaction's lease after a failure: ROLLBACK, else close the connection. */
  private async endLease(lease: PgLease, statement: 'rollback'): Promise<void> {
    if (lease.isClosed) {
      lease.release();
      return;
    }
    try {
      await new PgClient(this.core, lease, 1).simpleQuery(statement, { timeout: this.core.pgOptions.connectTimeout });
    } catch {
      lease.discard();
      return;
    }
    this.giveBack(lease);
  }

  /** Give a lease back, or close it if its connection is still in a transaction. */
  private giveBack(lease: PgLease): void {
    if (!lease.isClosed && lease.session.transactionStatus !== 'I') lease.discard();
    else lease.release();
  }

  /**
   * Close the client: every connection it opened is closed; every pending query fails with
   * ClientClosedError, and so does every query made after.
   */
  async close(): Promise<void> {
    if (this.lease !== undefined) throw new ClientError('close the client, not a transaction', 'ERR_BAD_CLOSE');
    this.core.close();
    for (const core of [...this.dedicated]) core.close();
  }

  /** `await using db = await connectPg(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** What a cursor's call settles with: a batch, and whether the portal has more rows. */
interface CursorBatch {
  readonly result: PgResult<unknown>;
  readonly suspended: boolean;
}

let cursorCounter = 0;

/**
 * The notifications of one channel, on a connection of its own (see PgClient.listen). Iterate
 * it with `for await`; it listens again after a reconnect.
 */
export class PgListener implements AsyncIterable<PgNotification> {
  private readonly queue: PgNotification[] = [];
  private waiting: Wake<IteratorResult<PgNotification>> | null = null;
  private closed = false;
  /** Whether `start` counted this listener among the engine's shared ones. */
  private counted = false;
  private readonly hooks: EngineListener<PgSessionEvent>;

  /** @internal Use PgClient.listen. */
  constructor(
    private readonly core: PgEngine,
    /** The channel listened to. */
    readonly channel: string,
    /** Whether the engine is the listener's own (closed with it), or the client's shared one (sessions: 1). */
    private readonly owned = true,
  ) {
    this.hooks = {
      onEvent: (event) => {
        if (event.type === 'notification' && event.channel === channel) this.push({ channel: event.channel, payload: event.payload, processId: event.processId });
      },
      onReconnect: () => {
        this.listenOnServer().catch(() => {});
      },
      onClosed: () => this.end(),
    };
    core.addListener(this.hooks);
  }

  /** @internal LISTEN (the first time). */
  async start(): Promise<void> {
    if (!this.owned && !this.counted) {
      this.counted = true;
      this.core.sharedChannels.set(this.channel, (this.core.sharedChannels.get(this.channel) ?? 0) + 1);
    }
    await this.listenOnServer();
  }

  /** LISTEN (again, after a reconnect). */
  private async listenOnServer(): Promise<void> {
    const call = this.core.makeCall('simple', `listen ${quoteChannel(this.channel)}`, [], undefined);
    await this.core.perform(call);
  }

  private push(notification: PgNotification): void {
    const waiting = this.waiting;
    if (waiting !== null) {
      this.waiting = null;
      waiting.resolve({ value: notification, done: false });
    } else this.queue.push(notification);
  }

  private end(): void {
    this.closed = true;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.resolve({ value: undefined, done: true });
  }

  /** The next notification (done once closed). */
  next(): Promise<IteratorResult<PgNotification>> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve({ value: queued, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    // Through the runtime: on curio a task waiting here is cancellable at once.
    return this.core.runtime.wait<IteratorResult<PgNotification>>(
      'PG_NOTIFICATION',
      new FnWaiter<IteratorResult<PgNotification>>(
        (wake) => {
          this.waiting = wake;
        },
        () => {
          this.waiting = null;
        },
      ),
    );
  }

  /**
   * Stop listening: the connection is closed (with `sessions: 1`, the client's connection
   * stops listening to the channel once no listener of this client is left on it).
   */
  async close(): Promise<void> {
    if (this.owned) {
      this.core.close();
      this.end();
      return;
    }
    if (this.closed) return;
    this.end();
    this.core.removeListener(this.hooks);
    if (!this.counted) return;
    this.counted = false;
    const channels = this.core.sharedChannels;
    const left = (channels.get(this.channel) ?? 1) - 1;
    if (left > 0) {
      channels.set(this.channel, left);
      return;
    }
    channels.delete(this.channel);
    if (this.core.isClosed) return;
    const call = this.core.makeCall('simple', `unlisten ${quoteChannel(this.channel)}`, [], undefined);
    await this.core.perform(call).catch(() => {});
  }

  [Symbol.asyncIterator](): AsyncIterator<PgNotification> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/** A channel name as a quoted identifier. */
function quoteChannel(channel: string): string {
  if (channel.includes('\0')) throw new InvalidArgumentError('a channel name cannot contain NUL', 'ERR_BAD_ARGUMENT');
  return `"${channel.replace(/"/g, '""')}"`;
}

/** Whether `error` is a PgError with this SQLSTATE. */
export function isPgError(error: unknown, code?: string): error is PgError {
  return error instanceof PgError && (code === undefined || error.code === code);
}

/**
 * Connect to PostgreSQL over `runtime`; resolves once the first connection is ready. `env`
 * holds the PG* variables (a backend passes `process.env`); `files` reads the files options
 * name (sslrootcert; a backend passes node:fs), and without it such an option is refused.
 */
export async function connectPgWith(runtime: Runtime, options?: string | PgOptions, env?: PgEnvironment, files?: PgFileReader): Promise<PgClient> {
  const core = new PgEngine(runtime, resolvePgOptions(options, env, files));
  await core.start();
  return new PgClient(core);
}
