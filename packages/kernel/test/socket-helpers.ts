// socket-helpers.ts
//
// Helpers shared by the socket, network, TLS, UDP and channel tests: running a test's main task
// on the real clock while checking nothing reached the kernel's error hook, connected socket
// pairs over real loopback TCP, deterministic payloads, and small waiting utilities that poll a
// condition with a bounded number of short sleeps (never a timing assertion).

import { createHash } from 'node:crypto';
import { spawn as spawnChild } from 'node:child_process';
import { expect } from 'vitest';
import { Event, awaitPromise, openConnection, run, sleep, spawn, tcpServer, tcpServerSocket } from '@curio-ts/kernel';
import type { ClientHandler, KernelErrorInfo, RunOptions, ServerOptions, ServerSocket, Socket, Task } from '@curio-ts/kernel';

/**
 * Run `main` on a real-clock kernel and check that nothing reached its error hook (with
 * CURIO_DEBUG=1, other than the debug log of crashes the test looks at: 'task-crash').
 */
export async function runReal<T>(main: () => Promise<T>, options: RunOptions = {}): Promise<T> {
  const reports: string[] = [];
  const result = await run(main, {
    debug: process.env.CURIO_DEBUG === '1', // CURIO_DEBUG=1: also run the kernel's own usage checks
    onError: (_error: unknown, info: KernelErrorInfo) => {
      if (info.reason !== 'task-crash') reports.push(`${info.reason}: ${info.message}`);
    },
    ...options,
  });
  expect(reports).toEqual([]);
  return result;
}

/** A listening socket on 127.0.0.1 and a connected pair: [client side, server side]. */
export async function connectedPair(): Promise<{ server: ServerSocket; client: Socket; peer: Socket }> {
  const server = await tcpServerSocket('127.0.0.1', 0);
  const accepting = spawn(() => server.accept());
  const client = await openConnection('127.0.0.1', server.port);
  const peer = await accepting.join();
  return { server, client, peer };
}

/** `n` deterministic pseudo-random bytes. */
export function payload(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Hex SHA-256 of `data`. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Await `promise`, which must reject; return the reason. */
export { rejected as failure } from './helpers.js';

/** Wait (in short sleeps, at most ~10 s) until `condition()` holds; throws if it never does. */
export async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Wait until `task` is blocked in `state` (e.g. 'READ_WAIT'). */
export function blockedIn(task: Task, state: string): Promise<void> {
  return until(() => task.state === state, `task ${task.name} is in ${state}`);
}

/** Read everything from `socket` until end of stream. */
export async function drain(socket: Socket): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const chunk = await socket.recv(65536);
    if (chunk.length === 0) return Buffer.concat(parts);
    parts.push(chunk);
  }
}

/** Result of an external command. */
export interface CommandResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Run an external command from a kernel task (through awaitPromise, so the wait is a proper
 * trap), feeding `input` on its stdin.
 */
export function command(file: string, args: string[], input?: Uint8Array): Promise<CommandResult> {
  return awaitPromise(
    new Promise<CommandResult>((resolve, reject) => {
      const child = spawnChild(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
      if (input !== undefined) child.stdin.end(input);
      else child.stdin.end();
    }),
  );
}

/** Close sockets and servers one after the other. */
export async function closeAll(...things: { close(): Promise<void> }[]): Promise<void> {
  for (const thing of things) await thing.close();
}

/**
 * Start `tcpServer` on 127.0.0.1 (a free port) with `handler` in a task of its own; resolves
 * once it listens, with the port, the listening socket and the server task (cancel it to stop
 * the server).
 */
export async function serve(
  handler: ClientHandler,
  options: ServerOptions = {},
): Promise<{ port: number; listening: ServerSocket; task: Task }> {
  const ready = new Event();
  let listening: ServerSocket | null = null;
  const task = spawn(
    () =>
      tcpServer('127.0.0.1', 0, handler, {
        ...options,
        onListening: (server) => {
          listening = server;
          options.onListening?.(server);
          ready.set();
        },
      }),
    { name: 'server' },
  );
  await ready.wait();
  const server = listening as ServerSocket | null;
  if (server === null) throw new Error('the server did not listen');
  return { port: server.port, listening: server, task };
}

/** Spawn `fn`, wait until it blocks in `state`, cancel it; resolves with the (ended) task. */
export async function cancelWhileBlocked<T>(fn: () => Promise<T>, state: string): Promise<Task<T>> {
  const task = spawn(fn, { name: `blocked in ${state}` });
  await blockedIn(task, state);
  await task.cancel();
  return task;
}
