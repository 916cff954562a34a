// redis/engine.ts
//
// The engine specialised for Redis: the generic engine (engine/engine.ts) with the Redis
// adapter (adapter.ts), plus the two ways Redis calls are made: one command (`call`), and a
// batch sent in one write (`callBatch`, for pipelines and MULTI/EXEC). Typed command methods
// live in commands.ts on top of `call`; pub/sub in pubsub.ts; the user's client in redis.ts.
//
// Invariants (beyond the engine's):
// - A command that cannot be sent (a bad argument) is refused when it is made, before a byte
//   is written; in a batch, one bad command refuses the whole batch.
// - Read-only commands are retryable after a connection loss; blocking commands (BLPOP, XREAD
//   BLOCK...) run on a pool connection of their own (the server keeps that one blocked).

import { checkArgument, checkCommand, isBlockingCommand } from '@curio-ts/proto-redis';
import type { RedisArg, RespAttributes, RespPush, RespValue, RespVersion } from '@curio-ts/proto-redis';
import { InvalidArgumentError, RedisError } from '../errors.js';
import { Engine } from '../engine/engine.js';
import type { EngineListener, EngineStatus, Lease } from '../engine/engine.js';
import type { Runtime } from '../runtime.js';
import { RedisCall, RedisSession, redisAdapter } from './adapter.js';
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
export type RedisClientStatus = EngineStatus;

/** A consumer of pushes (pub/sub, invalidations) registered with the engine. */
export type PushListener = EngineListener<RespPush>;

/** A pool connection leased by `isolated()`. */
export type RedisLease = Lease<RedisCall, RespPush, RedisSession>;

/** The Redis engine. Backends export `connectRedis` bound to themselves. */
export class RedisEngine extends Engine<RedisCall, RespPush, RedisSession> {
  /** Resolved options. */
  readonly redisOptions: ResolvedRedisOptions;
  /** The class of the calls it waits on: the runtime's own (Runtime.callClass), or RedisCall. */
  private readonly callClass: typeof RedisCall;

  constructor(runtime: Runtime, options?: string | RedisOptions, role = 'redis') {
    const resolved = resolveRedisOptions(options);
    const target = resolved.target;
    const connect = resolved.connect ?? ((o: { readonly timeout: number }) => runtime.connect(target, o));
    super(
      runtime,
      redisAdapter({
        protocol: resolved.protocol,
        ...(resolved.username !== undefined ? { username: resolved.username } : {}),
        ...(resolved.password !== undefined ? { password: resolved.password } : {}),
        ...(resolved.clientName !== undefined ? { clientName: resolved.clientName } : {}),
        db: resolved.db,
      }),
      {
        name: role,
        connect,
        connectTimeout: resolved.connectTimeout,
        callTimeout: resolved.commandTimeout,
        reconnect: resolved.reconnect,
        offlineQueueLimit: resolved.offlineQueueLimit,
        retryOnReconnect: resolved.retryOnReconnect,
        poolSize: resolved.blockingPoolSize,
      },
    );
    this.redisOptions = resolved;
    this.callClass = runtime.callClass?.(RedisCall, this.waitState) ?? RedisCall;
  }

  /** RESP version of the main connection. */
  get protocol(): RespVersion {
    return this.session?.protocol ?? 2;
  }

  /**
   * Send any command; resolves with the raw reply value (or `transform`'s result). Error
   * replies reject with RedisError. With `lease`, the command runs on that leased connection.
   */
  call<T = RespValue>(args: readonly RedisArg[], options?: CallOptions, transform?: (reply: RespValue) => T, lease?: RedisLease): Promise<T> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const invalid = checkCommand(args);
    if (invalid !== null) return Promise.reject(new InvalidArgumentError(invalid.message, invalid.code, { cause: invalid }));
    const info = commandInfo(args[0] as string);
    const blocking = info.blocking === MAYBE_BLOCKING ? isBlockingCommand(info.name, args) : info.blocking;
    const timeout = options?.timeout ?? this.options.callTimeout;
    const signal = options?.signal;
    // A plain call is made from a spare (see the engine's "Discussion: spare calls").
    let call = lease === undefined && !blocking && signal === undefined ? this.takeSpare() : undefined;
    if (call !== undefined) call.renewArgs(args, info.name, options?.bytes === true, info.readOnly, timeout, transform ?? null);
    else {
      call = new this.callClass(args, info.name, options?.bytes === true, info.readOnly, blocking, this, timeout, signal, transform ?? null);
      if (lease === undefined && !blocking) call.allowRecycling();
    }
    if (options?.onAttributes !== undefined) call.onAttributes = options.onAttributes;
    return lease === undefined ? this.perform<T>(call) : lease.perform<T>(call);
  }

  /**
   * {@link call} of the command `name key` without its argument array (the one-key typed
   * methods: GET, INCR, TTL...). `name` must be a command name in upper case that never blocks.
   */
  callKey<T = RespValue>(name: string, key: RedisArg, options?: CallOptions, transform?: (reply: RespValue) => T, lease?: RedisLease): Promise<T> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const invalid = checkArgument(key, 1, name);
    if (invalid !== null) return Promise.reject(new InvalidArgumentError(invalid.message, invalid.code, { cause: invalid }));
    const info = commandInfo(name);
    if (info.blocking !== false) return this.call<T>([name, key], options, transform, lease);
    const timeout = options?.timeout ?? this.options.callTimeout;
    const signal = options?.signal;
    // A plain call is made from a spare (see the engine's "Discussion: spare calls").
    let call = lease === undefined && signal === undefined ? this.takeSpare() : undefined;
    if (call !== undefined) call.renewKey(name, key, options?.bytes === true, info.readOnly, timeout, transform ?? null);
    else {
      call = this.callClass.forKey(name, key, options?.bytes === true, info.readOnly, this, timeout, signal, transform ?? null);
      if (lease === undefined) call.allowRecycling();
    }
    if (options?.onAttributes !== undefined) call.onAttributes = options.onAttributes;
    return lease === undefined ? this.perform<T>(call) : lease.perform<T>(call);
  }

  /**
   * Send several commands in one write and wait for all replies: an array in the same order,
   * with error replies as RedisError values. A connection failure, timeout or abort rejects
   * the whole batch.
   */
  callBatch(batch: readonly (readonly RedisArg[])[], options?: CallOptions, lease?: RedisLease): Promise<unknown[]> {
    if (this.isClosed) return Promise.reject(this.closedError());
    // One bad command refuses the whole batch before anything is sent (a MULTI must not run
    // without one of its commands).
    for (const args of batch) {
      const invalid = checkCommand(args);
      if (invalid !== null) return Promise.reject(new InvalidArgumentError(invalid.message, invalid.code, { cause: invalid }));
    }
    const calls = batch.map((args) => {
      const info = commandInfo(args[0] as string);
      const call = new RedisCall(args, info.name, options?.bytes === true, info.readOnly, false, null, undefined, undefined, null);
      if (options?.onAttributes !== undefined) call.onAttributes = options.onAttributes;
      if (lease !== undefined) lease.pin(call);
      return call;
    });
    return this.batch('pipeline', calls, isRedisError, options);
  }
}

function isRedisError(error: unknown): boolean {
  return error instanceof RedisError;
}

/** What a call needs to know about its command name, found once per name. */
interface CommandInfo {
  /** The name, upper case. */
  readonly name: string;
  /** Retryable after a connection loss. */
  readonly readOnly: boolean;
  /** Whether it blocks server-side; MAYBE_BLOCKING when that depends on its arguments (XREAD BLOCK). */
  readonly blocking: boolean | typeof MAYBE_BLOCKING;
}

const MAYBE_BLOCKING = 'args';
const infoCache = new Map<string, CommandInfo>();

/**
 * The command's upper-case name and properties, cached (typed methods pass the same few names
 * over and over): one map lookup per call instead of upper-casing and two set lookups.
 */
function commandInfo(name: string): CommandInfo {
  let info = infoCache.get(name);
  if (info === undefined) {
    const upper = name.toUpperCase();
    const blocking = isBlockingCommand(upper, []) ? true : upper === 'XREAD' || upper === 'XREADGROUP' ? MAYBE_BLOCKING : false;
    info = { name: upper, readOnly: READ_ONLY_COMMANDS.has(upper), blocking };
    if (infoCache.size < 512) infoCache.set(name, info);
  }
  return info;
}
