// runtime.ts
//
// The memory runtime: the Runtime interface over a MemoryNetwork (in-process byte pipes) and a
// VirtualClock (time the test advances). Every client and server written on the Runtime runs
// on it unchanged, with no socket, no server process and no wall time, so a test can put them
// in any state, break their connections exactly where it wants, and replay the same run.
//
// Invariants:
// - `timer`, `sleep`, `now` and connect timeouts all follow the virtual clock.
// - `defer` runs at the end of the burst: after every pending Promise job (see clock.ts).
// - `wait` is a plain Promise: the runtime itself never abandons a wait, so `waiter.cancel` is
//   never called (per-call timeouts and signals are the engine's, on top of `wait`).
// - `spawn` calls `fn` at once; `cancel` aborts its signal (the function must stop at its next
//   await that honours it), and `done` settles, never rejecting, once it has returned or
//   thrown. An error that escapes it goes to `onError` (default: an unhandled rejection, as on
//   the node runtime).

import { NEVER_ABORTED, connectPgWith, connectRedisWith, makeFetch, request } from '@curio-ts/client';
import type { Background, FetchFunction, HttpRequestOptions, HttpResponse, PgClient, PgOptions, RedisClient, RedisOptions, Runtime, SpawnOptions, Wake, Waiter } from '@curio-ts/client';
import { VirtualClock } from './clock.js';
import { MemoryNetwork } from './network.js';

/** Options of {@link createMemoryRuntime}. */
export interface MemoryRuntimeOptions {
  /**
   * Jump to the next timer whenever the program is idle (trio's autojump clock): code that
   * sleeps or times out runs to completion without the test moving time. Default false: time
   * moves only with `clock.advance` / `clock.next`. Can be switched later on the clock.
   */
  readonly autoAdvance?: boolean;
  /** Virtual time at the start, in ms (default 0). */
  readonly start?: number;
  /** Bytes a direction of a connection holds unread before writes wait (default 64 KiB). */
  readonly highWater?: number;
  /**
   * Virtual ms every chunk takes to cross, each way, on every connection (default 0). With
   * autoAdvance, time moves only when the program is idle: a loop of requests that never
   * sleeps would hold it still at 0 latency; with some, each round trip lets time pass.
   */
  readonly latency?: number;
  /**
   * Errors thrown by timers and deferred functions, or escaping a spawned function (default:
   * the first kind are thrown as uncaught exceptions, the second become unhandled rejections,
   * as on the node runtime).
   */
  readonly onError?: (error: unknown) => void;
  /**
   * Seed of the runtime's `random()` (reconnect jitter), a 32-bit integer (default 1): the same
   * seed gives the same instants on every run.
   */
  readonly seed?: number;
}

/** A memory runtime and the handles a test drives it with. */
export interface MemoryRuntime {
  /** The Runtime to give to clients and servers. Its name is 'memory'. */
  readonly runtime: Runtime;
  /** Its virtual time. */
  readonly clock: VirtualClock;
  /** Its in-process network: listeners, connections, fault rules. */
  readonly network: MemoryNetwork;
  /** The Redis client on this runtime: `connectRedisWith(runtime, options)`. */
  connectRedis(options?: string | RedisOptions): Promise<RedisClient>;
  /**
   * The Postgres client on this runtime: `connectPgWith(runtime, options)`. No PG* variable is
   * read (the environment of the test process says nothing about the in-process network), and
   * there is no TLS here: sslmode 'prefer' (the default) goes on in the clear, 'require' fails.
   * Resolves once the first connection is ready.
   */
  connectPg(options?: string | PgOptions): Promise<PgClient>;
  /** An HTTP request on this runtime: `request(runtime, url, options)` (its default agent). */
  request(url: string | URL, options?: HttpRequestOptions): Promise<HttpResponse>;
  /** `fetch` on this runtime (gzip and deflate decoded by the platform). */
  readonly fetch: FetchFunction;
}

class MemoryWake<T> implements Wake<T> {
  constructor(
    readonly resolve: (value: T) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/** Create a memory runtime: a fresh network and clock, shared by nothing else. */
export function createMemoryRuntime(options: MemoryRuntimeOptions = {}): MemoryRuntime {
  const onError = options.onError;
  const clock = new VirtualClock({
    ...(options.start !== undefined ? { start: options.start } : {}),
    ...(options.autoAdvance !== undefined ? { autoAdvance: options.autoAdvance } : {}),
    ...(onError !== undefined ? { onError } : {}),
  });
  const network = new MemoryNetwork(clock, {
    ...(options.highWater !== undefined ? { highWater: options.highWater } : {}),
    ...(options.latency !== undefined ? { latency: options.latency } : {}),
  });
  const escaped =
    onError ??
    ((error: unknown): void => {
      void Promise.reject(error);
    });

  const runtime: Runtime = {
    name: 'memory',
    connect: (target, connectOptions) => network.connect(target, connectOptions),
    listen: (target, listenOptions) => network.listen(target, listenOptions),
    wait<T>(_state: string, waiter: Waiter<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (waiter.startWith !== undefined) waiter.startWith(resolve, reject);
        else waiter.start(new MemoryWake<T>(resolve, reject));
      });
    },
    spawn(fn: (signal: AbortSignal) => Promise<void>, _name: string, spawnOptions?: SpawnOptions): Background {
      const controller = (spawnOptions?.signal ?? true) ? new AbortController() : null;
      let done: Promise<void>;
      try {
        done = fn(controller === null ? NEVER_ABORTED : controller.signal).then(undefined, escaped);
      } catch (error) {
        escaped(error);
        done = Promise.resolve();
      }
      return {
        cancel: () => controller?.abort(),
        done,
      };
    },
    sleep: (ms) => clock.sleep(ms),
    defer: (fn) => clock.defer(fn),
    now: () => clock.now(),
    timer: (ms, fn) => clock.timer(ms, fn),
    random: seededRandom(options.seed ?? 1),
  };

  return {
    runtime,
    clock,
    network,
    connectRedis: (redisOptions) => connectRedisWith(runtime, redisOptions),
    connectPg: (pgOptions) => connectPgWith(runtime, pgOptions),
    request: (url, requestOptions) => request(runtime, url, requestOptions),
    fetch: makeFetch(runtime),
  };
}

/** A small deterministic generator (mulberry32) of numbers in [0, 1): the same `seed`, the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
