// redis/redis.ts
//
// The public Redis client: typed commands over the engine, explicit pipelines and MULTI/EXEC
// transactions, pub/sub subscriptions, SCAN iterators and a script cache.

import { RespErrorReply } from '@curio-ts/proto-redis';
import type { RedisArg, RespPush, RespValue, RespVersion } from '@curio-ts/proto-redis';
import { RedisError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { RedisEngine } from './engine.js';
import type { CallOptions, PushListener, RedisClientStatus, RedisLease } from './engine.js';
import { RedisCommands, asArray, identity, keyString, scanArgs, scored } from './commands.js';
import type { Out, ScanOptions, ScoredMember, Transform } from './commands.js';
import type { RedisOptions } from './options.js';
import { MonitorStream, Subscription } from './pubsub.js';
import type { SubscriptionOptions } from './pubsub.js';

/** A Redis client. Create one with `connectRedis` from a backend package. */
export class RedisClient extends RedisCommands<'client'> {
  private readonly scripts = new Map<string, string>();
  /** The engines of this client's subscriptions and monitors: closed with it. */
  private readonly dedicated = new Set<RedisEngine>();

  /** Whether WATCH was sent through this (isolated) client. */
  private watching = false;

  /** @internal Use connectRedis. */
  constructor(
    /** The engine (connection, reconnects, offline queue). */
    readonly core: RedisEngine,
    /** The leased connection of an isolated client (see isolated()). */
    private readonly lease?: RedisLease,
  ) {
    super();
  }

  /**
   * Run `fn` with a client bound to a connection of its own, leased from the pool (shared with
   * blocking commands, `blockingPoolSize`): nobody else's commands are pipelined into it, so a
   * WATCH / MULTI / EXEC sequence, a long blocking loop or a CLIENT setting applies to `fn`'s
   * commands alone. The connection goes back to the pool when `fn` settles (after UNWATCH if
   * `fn` watched keys; closed instead if calls are still in flight). If it breaks, its calls
   * fail with ConnectionLostError and are never retried. Do not close the isolated client.
   */
  async isolated<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.lease !== undefined) return fn(this);
    const lease = await this.core.lease();
    const client = new RedisClient(this.core, lease);
    try {
      return await fn(client);
    } finally {
      if (client.watching && !lease.isClosed) await this.core.call(['UNWATCH'], { timeout: this.core.redisOptions.connectTimeout }, undefined, lease).catch(() => {});
      lease.release();
    }
  }

  /** 'connecting', 'ready', 'reconnecting' or 'closed'. */
  get status(): RedisClientStatus {
    return this.core.status;
  }

  /** The RESP version negotiated with the server. */
  get protocol(): RespVersion {
    return this.core.protocol;
  }

  protected command<T>(args: readonly RedisArg[], transform: Transform<T>, options?: CallOptions): Promise<T> {
    // The transform runs inside the call: the caller gets the call's own Promise (on curio, the
    // kernel operation its task owns), not a second Promise chained onto it.
    return this.core.call<T>(args, options, transform === identity ? undefined : transform, this.lease);
  }

  protected override commandKey<T>(name: string, key: RedisArg, transform: Transform<T>, options?: CallOptions): Promise<T> {
    return this.core.callKey<T>(name, key, options, transform === identity ? undefined : transform, this.lease);
  }

  /**
   * Send any command, raw reply: `client.call('OBJECT', 'ENCODING', 'key')`. A shorthand for
   * `client.sendCommand(['OBJECT', 'ENCODING', 'key'])`, the one raw-command method (on
   * pipelines and transactions too), which also takes options (`bytes`, `signal`, `timeout`).
   */
  call<T = RespValue>(...args: RedisArg[]): Promise<T> {
    return this.sendCommand<T>(args);
  }

  /** A pipeline: queue commands, then `exec()` sends them in one write. */
  pipeline(): Pipeline {
    return new Pipeline(this.core, this.lease);
  }

  /** A MULTI/EXEC transaction: queue commands, then `exec()`. */
  multi(): Transaction {
    return new Transaction(this.core, this.lease);
  }

  /** WATCH keys for the next transaction. */
  watch(...keys: RedisArg[]): Promise<'OK'> {
    if (this.lease !== undefined) this.watching = true;
    return this.core.call(['WATCH', ...keys], undefined, () => 'OK' as const, this.lease);
  }

  /** UNWATCH. */
  unwatch(): Promise<'OK'> {
    return this.core.call(['UNWATCH'], undefined, () => 'OK' as const, this.lease);
  }

  /**
   * A subscription on a connection of its own, subscribed to `channels`. Iterate it with
   * `for await`; it resubscribes after reconnects.
   */
  async subscribe(channels: string | readonly string[], options?: SubscriptionOptions): Promise<Subscription> {
    const subscription = await this.newSubscription(options);
    await settingUp(subscription, subscription.subscribe(...(typeof channels === 'string' ? [channels] : channels)));
    return subscription;
  }

  /** Like {@link subscribe}, for patterns (PSUBSCRIBE). */
  async pSubscribe(patterns: string | readonly string[], options?: SubscriptionOptions): Promise<Subscription> {
    const subscription = await this.newSubscription(options);
    await settingUp(subscription, subscription.pSubscribe(...(typeof patterns === 'string' ? [patterns] : patterns)));
    return subscription;
  }

  private async newSubscription(options?: SubscriptionOptions): Promise<Subscription> {
    return new Subscription(await this.dedicatedCore('sub'), this.core.runtime, options);
  }

  /** MONITOR on a connection of its own: every command the server runs, as a line. */
  async monitor(options?: SubscriptionOptions): Promise<MonitorStream> {
    const core = await this.dedicatedCore('monitor');
    const stream = new MonitorStream(core, this.core.runtime, options);
    await settingUp(stream, core.call(['MONITOR']));
    return stream;
  }

  /**
   * Receive the pushes that arrive on the main connection and are not replies (client-side
   * caching invalidations with CLIENT TRACKING, server-initiated messages). Returns a remover.
   */
  onPush(listener: (push: RespPush) => void): () => void {
    const entry: PushListener = { onEvent: listener, onReconnect: () => {} };
    this.core.addListener(entry);
    return () => this.core.removeListener(entry);
  }

  /** A connection of its own (with its engine), closed when this client closes. */
  private async dedicatedCore(role: string): Promise<RedisEngine> {
    if (this.core.status === 'closed') throw this.core.closedError();
    const core = new RedisEngine(this.core.runtime, { ...rawOptions(this.core), clientName: `${this.core.redisOptions.clientName ?? 'curio-ts'}:${role}` }, `redis:${role}`);
    this.dedicated.add(core);
    core.addListener({ onEvent: () => {}, onReconnect: () => {}, onClosed: () => this.dedicated.delete(core) });
    await core.start();
    return core;
  }

  /** Iterate over every key (SCAN), batch by batch, without blocking the server. */
  async *scanIterator(options?: ScanOptions): AsyncIterableIterator<string> {
    let cursor = '0';
    do {
      const step = await this.scan(cursor, options);
      cursor = step.cursor;
      yield* step.keys;
    } while (cursor !== '0');
  }

  /** Iterate over a hash's fields and values (HSCAN). */
  async *hScanIterator(key: RedisArg, options?: ScanOptions): AsyncIterableIterator<{ field: string; value: string }> {
    for await (const [field, value] of this.pairScan('HSCAN', key, options)) yield { field, value: keyString(value) };
  }

  /** Iterate over a set's members (SSCAN). */
  async *sScanIterator(key: RedisArg, options?: ScanOptions): AsyncIterableIterator<string> {
    let cursor = '0';
    do {
      const [next, items] = await this.core.call<[RespValue, RespValue]>(scanArgs(['SSCAN', key, cursor], options), options);
      cursor = keyString(next);
      for (const item of asArray<RespValue>(items)) yield keyString(item);
    } while (cursor !== '0');
  }

  /** Iterate over a sorted set's members and scores (ZSCAN). */
  async *zScanIterator(key: RedisArg, options?: ScanOptions): AsyncIterableIterator<ScoredMember> {
    let cursor = '0';
    do {
      const [next, items] = await this.core.call<[RespValue, RespValue]>(scanArgs(['ZSCAN', key, cursor], options), options);
      cursor = keyString(next);
      yield* scored(items);
    } while (cursor !== '0');
  }

  private async *pairScan(command: string, key: RedisArg, options?: ScanOptions): AsyncIterableIterator<[string, RespValue]> {
    let cursor = '0';
    do {
      const [next, items] = await this.core.call<[RespValue, RespValue]>(scanArgs([command, key, cursor], options), options);
      cursor = keyString(next);
      const list = asArray<RespValue>(items);
      for (let i = 0; i + 1 < list.length; i += 2) yield [keyString(list[i] as RespValue), list[i + 1] as RespValue];
    } while (cursor !== '0');
  }

  /**
   * Run a Lua script by its SHA (EVALSHA), loading it on first use and again when the server
   * lost it (NOSCRIPT, e.g. after a restart).
   */
  async runScript<T = RespValue>(source: string, keys: readonly RedisArg[] = [], args: readonly RedisArg[] = [], options?: CallOptions): Promise<T> {
    let sha = this.scripts.get(source);
    if (sha === undefined) {
      sha = await this.scriptLoad(source, options);
      this.scripts.set(source, sha);
    }
    try {
      return await this.evalSha<T>(sha, keys, args, options);
    } catch (error) {
      if (!(error instanceof RedisError) || error.code !== 'NOSCRIPT') throw error;
      sha = await this.scriptLoad(source, options);
      this.scripts.set(source, sha);
      return this.evalSha<T>(sha, keys, args, options);
    }
  }

  /**
   * Close the client: every connection it opened (main, blocking pool, subscriptions,
   * monitors, and those still connecting) is closed; every pending call fails with
   * ClientClosedError, and so does every call made after; subscriptions end. A Node program
   * exits only once its clients are closed.
   */
  async close(): Promise<void> {
    await this.core.close();
    for (const core of [...this.dedicated]) await core.close();
  }

  /** QUIT politely, then close. */
  async quit(): Promise<void> {
    try {
      await this.core.call(['QUIT'], { timeout: 1000 });
    } catch {
      // The server may close before answering; either way we close.
    }
    await this.close();
  }

  /** `await using client = await connectRedis(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Wait for a new stream's first command; should it fail, close the stream (and its connection). */
async function settingUp(stream: { close(): Promise<void> }, first: Promise<unknown>): Promise<void> {
  try {
    await first;
  } catch (error) {
    await stream.close();
    throw error;
  }
}

interface Queued {
  readonly args: readonly RedisArg[];
  readonly transform: Transform<unknown>;
}

/** A batch of commands sent together (base of Pipeline and Transaction). */
abstract class Batch<Self> extends RedisCommands<Self> {
  protected readonly queued: Queued[] = [];

  constructor(
    protected readonly core: RedisEngine,
    protected readonly lease?: RedisLease,
  ) {
    super();
  }

  /** Number of commands queued. */
  get length(): number {
    return this.queued.length;
  }

  protected command<T>(args: readonly RedisArg[], transform: Transform<T>): Out<Self, T> {
    this.queued.push({ args, transform: transform as Transform<unknown> });
    return this as unknown as Out<Self, T>;
  }
}

/**
 * An explicit pipeline. `exec()` sends every queued command in one write and resolves with
 * their results in order; a command that failed has a RedisError in its place.
 */
export class Pipeline extends Batch<Pipeline> {
  /** Send everything; results in order (RedisError values for failed commands). */
  async exec(options?: CallOptions): Promise<unknown[]> {
    const replies = await this.core.callBatch(
      this.queued.map((q) => q.args),
      options,
      this.lease,
    );
    return replies.map((reply, i) => (reply instanceof RedisError ? reply : (this.queued[i] as Queued).transform(reply as RespValue)));
  }
}

/**
 * A MULTI/EXEC transaction. `exec()` resolves with the results in order (RedisError values for
 * commands that failed while running), or null if a WATCHed key changed. A command rejected
 * while queueing (a syntax error) aborts the transaction: exec() throws EXECABORT.
 */
export class Transaction extends Batch<Transaction> {
  /** Send MULTI, the commands and EXEC in one write. */
  async exec(options?: CallOptions): Promise<unknown[] | null> {
    const replies = await this.core.callBatch([['MULTI'], ...this.queued.map((q) => q.args), ['EXEC']], options, this.lease);
    const exec = replies[replies.length - 1];
    if (exec instanceof RedisError) throw exec;
    if (exec === null) return null;
    return (exec as RespValue[]).map((reply, i) =>
      reply instanceof RespErrorReply ? new RedisError(reply.code, reply.message, String((this.queued[i] as Queued).args[0])) : (this.queued[i] as Queued).transform(reply),
    );
  }
}

function rawOptions(core: RedisEngine): RedisOptions {
  const o = core.redisOptions;
  const target = o.target;
  const where: RedisOptions =
    'path' in target ? { path: target.path } : { host: target.host, port: target.port, ...(target.tls !== undefined ? { tls: target.tls } : {}) };
  return {
    ...where,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    db: o.db,
    protocol: o.protocol,
    connectTimeout: o.connectTimeout,
    reconnect: o.reconnect,
    offlineQueueLimit: o.offlineQueueLimit,
    ...(o.connect !== undefined ? { connect: o.connect } : {}),
  };
}

/** Connect to Redis over `runtime`; resolves once the handshake is done. */
export async function connectRedisWith(runtime: Runtime, options?: string | RedisOptions): Promise<RedisClient> {
  const core = new RedisEngine(runtime, options);
  await core.start();
  return new RedisClient(core);
}
