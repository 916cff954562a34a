// server.ts
//
// mini-redis: a Redis-compatible server on the curio kernel. The kernel's tcpServer runs one
// task per client (a Session, driving proto-redis's RedisServerProtocol); a background task
// (Redis's serverCron, `hz` times a second) expires keys whose time has passed and closes
// clients idle for longer than `timeout`; everything else happens inside the commands.
//
//   await run(async () => {
//     const server = await startMiniRedis({ port: 0 });   // from any kernel task
//     ... connect to 127.0.0.1:server.port ...
//     await server.stop();
//   });
//
// `serveMiniRedis` is the long-running form: it serves until its task is cancelled, which
// stops listening, cancels every client task (blocked BLPOPs included) and closes every socket.

import { performance } from 'node:perf_hooks';
import { disableCancellation, Event, sleep, spawn, tcpServer } from '@curio-ts/kernel';
import type { SocketAddress } from '@curio-ts/kernel';
import { Session } from './session.js';
import { ServerState } from './state.js';

export { REDIS_VERSION } from './commands/connection.js';

/** Where and how to serve. */
export interface MiniRedisOptions {
  /** Interface to listen on (default 127.0.0.1: loopback only). */
  readonly host?: string;
  /** TCP port (default 6379; 0 picks a free one). */
  readonly port?: number;
  /** Called once listening, with the port (useful with port 0). */
  readonly onListening?: (port: number) => void;
  /** Called with an unexpected error of a client task (default: the kernel's error hook). */
  readonly onClientError?: (error: unknown, address: SocketAddress) => void;
}

/** A running server started by {@link startMiniRedis}. */
export interface MiniRedis {
  readonly host: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stop: close the listener and every client connection. Works from plain code too. */
  stop(): Promise<void>;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 6379;

/** Time budget of one run of the periodic expiry, as a share of its period (Redis: 25%). */
const EXPIRY_BUDGET_SHARE = 0.25;
/** Keys with an expiry looked at per step; another step follows while >25% had expired. */
const EXPIRY_SAMPLE = 20;

/** Serve until the calling task is cancelled. Call from a kernel task. */
export async function serveMiniRedis(options: MiniRedisOptions = {}): Promise<never> {
  const state = new ServerState();
  const cron = spawn(() => serverCron(state), { name: 'mini-redis cron', daemon: true });
  try {
    return await tcpServer(
      options.host ?? DEFAULT_HOST,
      options.port ?? DEFAULT_PORT,
      (client, address) => new Session(state, client, address).serve(),
      {
        backlog: 511, // Redis's tcp-backlog
        onListening: (server) => {
          state.config.port = server.port;
          options.onListening?.(server.port);
        },
        ...(options.onClientError !== undefined ? { onClientError: options.onClientError } : {}),
      },
    );
  } finally {
    await disableCancellation(() => cron.cancel());
  }
}

/**
 * Start a server in a task of its own and return once it listens. Call from a kernel task;
 * the server runs until `stop()` (or until the kernel shuts down).
 */
export async function startMiniRedis(options: MiniRedisOptions = {}): Promise<MiniRedis> {
  const ready = new Event();
  let port = 0;
  let failure: { error: unknown } | null = null;
  const task = spawn(
    async () => {
      try {
        return await serveMiniRedis({
          ...options,
          onListening: (bound) => {
            port = bound;
            ready.set();
            options.onListening?.(bound);
          },
        });
      } catch (error) {
        if (!ready.isSet()) {
          failure = { error };
          ready.set();
        }
        throw error;
      }
    },
    { name: 'mini-redis' },
  );
  try {
    await ready.wait();
  } catch (error) {
    await disableCancellation(() => task.cancel());
    throw error;
  }
  const failed = failure as { error: unknown } | null;
  if (failed !== null) {
    void task.exception; // seen: it is thrown here
    throw failed.error;
  }
  return {
    host: options.host ?? DEFAULT_HOST,
    port,
    stop: async () => {
      await task.cancel();
    },
  };
}

/** The periodic task, `hz` runs a second: the active expire cycle, then idle clients. */
async function serverCron(state: ServerState): Promise<never> {
  for (;;) {
    const periodMs = 1000 / state.config.settings.hz;
    await sleep(periodMs);
    expireKeys(state, periodMs * EXPIRY_BUDGET_SHARE);
    closeIdleClients(state);
  }
}

/** Redis's active expire cycle, over live Map iterators, within `budgetMs`. */
function expireKeys(state: ServerState, budgetMs: number): void {
  const deadline = performance.now() + budgetMs;
  for (const db of state.databases) {
    for (;;) {
      const step = db.expireCycle(EXPIRY_SAMPLE);
      state.stats.expiredKeys += step.expired;
      if (step.checked === 0 || step.expired * 4 <= step.checked || performance.now() > deadline) break;
    }
  }
}

/**
 * With `timeout` set, close the clients idle for longer, except those blocked (their command
 * has its own timeout) and subscribers (they wait for messages), as Redis does.
 */
function closeIdleClients(state: ServerState): void {
  const timeoutMs = state.config.settings.timeout * 1000;
  if (timeoutMs === 0) return;
  const now = Date.now();
  for (const client of state.clients.values()) {
    if (!client.blocked && client.subscriptions === 0 && now - client.lastActive > timeoutMs) client.close();
  }
}
