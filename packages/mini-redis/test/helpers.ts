// Test helpers: mini-redis in a kernel of this process (port 0), alone or beside a private
// redis-server, real peers talking to it (redis-cli, redis-benchmark, nc, raw node:net sockets),
// RESP encoding for raw exchanges.

import { execFile, spawn as spawnChild } from 'node:child_process';
import { afterAll, beforeAll, expect } from 'vitest';
import * as net from 'node:net';
import { Kernel } from '@curio-ts/kernel';
import { startPrivateRedis } from '@curio-ts/conformance';
import type { PrivateRedis } from '@curio-ts/conformance';
import { NEED_DATA, RespDecoder } from '@curio-ts/proto-redis';
import type { RespFrame } from '@curio-ts/proto-redis';
import { startMiniRedis } from '../src/server.js';
import type { MiniRedis } from '../src/server.js';

/** A mini-redis server running in its own kernel in this process. */
export interface TestServer {
  readonly kernel: Kernel;
  readonly server: MiniRedis;
  readonly port: number;
  /** Client handler errors the server reported (there should be none). */
  readonly clientErrors: unknown[];
  stop(): Promise<void>;
}

/** Start mini-redis on a free loopback port. */
export async function startTestServer(): Promise<TestServer> {
  const kernel = new Kernel();
  const clientErrors: unknown[] = [];
  const server = await kernel.runTask(() => startMiniRedis({ port: 0, onClientError: (error) => clientErrors.push(error) }));
  return {
    kernel,
    server,
    port: server.port,
    clientErrors,
    async stop() {
      await server.stop();
      await kernel.shutdown();
    },
  };
}

/**
 * Register a server for the test file: started before its tests, stopped after them, and
 * checked to have reported no client handler error. Returns a getter for it.
 */
export function useTestServer(): () => TestServer {
  let server: TestServer | null = null;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
    expect(server?.clientErrors).toEqual([]);
  });
  return () => {
    if (server === null) throw new Error('the test server is not started yet');
    return server;
  };
}

/** mini-redis and a private redis-server, side by side, for tests that compare them. */
export interface BothServers {
  readonly mini: TestServer;
  readonly real: PrivateRedis;
}

/**
 * Register mini-redis and a private redis-server for the test file (started before its tests,
 * stopped after them; mini-redis must have reported no client handler error).
 */
export function useBothServers(): () => BothServers {
  let both: BothServers | null = null;
  beforeAll(async () => {
    const [mini, real] = await Promise.all([startTestServer(), startPrivateRedis()]);
    both = { mini, real };
  });
  afterAll(async () => {
    await Promise.all([both?.mini.stop(), both?.real.stop()]);
    expect(both?.mini.clientErrors).toEqual([]);
  });
  return () => {
    if (both === null) throw new Error('the servers are not started yet');
    return both;
  };
}

/** One command in RESP. */
export function encode(...args: readonly (string | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : Buffer.from(arg);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

const PONG = '+PONG\r\n';

/**
 * Send `payload` on a fresh connection, optionally half-close, and collect everything the
 * server sends until it closes the connection (or `idleMs` pass without data, then we close).
 * `pingFirst`: send PING and wait for its reply (not collected) before `payload`, so that the
 * payload reaches a client the server is already waiting to read from (mini-redis then serves
 * it from the socket's read callback). `pauseMs`: read nothing for that long after sending.
 */
export function exchange(
  port: number,
  payload: Uint8Array,
  options: { halfClose?: boolean; idleMs?: number; pingFirst?: boolean; pauseMs?: number } = {},
): Promise<{ data: Buffer; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const parts: Buffer[] = [];
    let timer: NodeJS.Timeout | null = null;
    let closedByServer = false;
    const arm = (): void => {
      if (options.idleMs === undefined) return;
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), options.idleMs);
    };
    let greeting = options.pingFirst === true ? '' : null;
    const send = (): void => {
      socket.write(payload);
      if (options.halfClose === true) socket.end();
      if (options.pauseMs !== undefined) {
        // Read nothing for a while: the server's writes fill the socket and must wait.
        socket.pause();
        setTimeout(() => socket.resume(), options.pauseMs);
      }
      arm();
    };
    socket.on('data', (chunk: Buffer) => {
      if (greeting !== null) {
        greeting += chunk.toString('latin1');
        if (greeting.length < PONG.length) return;
        if (!greeting.startsWith(PONG)) {
          reject(new Error(`PING answered with ${JSON.stringify(greeting)}`));
          socket.destroy();
          return;
        }
        chunk = Buffer.from(greeting.slice(PONG.length), 'latin1');
        greeting = null;
        send();
        if (chunk.length === 0) return;
      }
      parts.push(chunk);
      arm();
    });
    socket.on('end', () => {
      closedByServer = true;
      socket.end();
    });
    socket.on('close', () => {
      if (timer !== null) clearTimeout(timer);
      resolve({ data: Buffer.concat(parts), closedByServer });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the server closed on a protocol error still counts as closed by it.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') closedByServer = true;
      else reject(error);
    });
    if (greeting === null) send();
    else socket.write(encode('PING'));
  });
}

/** Output of a finished child process. */
export interface ProcessResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program to completion, feeding `input` on stdin. */
export function runProgram(file: string, args: readonly string[], input?: string | Uint8Array, timeoutMs = 60_000): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** redis-cli against `port` (its stdout, which must exit 0). */
export async function redisCli(port: number, args: readonly string[], input?: string): Promise<string> {
  const result = await runProgram('redis-cli', ['-p', String(port), ...args], input);
  if (result.code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Whether a program is on PATH. */
export function hasProgram(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', `command -v ${name}`], (error) => resolve(error === null));
  });
}

/** Poll `probe` until it returns true (the server's own state, e.g. clients blocked). */
export async function until(probe: () => Promise<boolean>, what: string, attempts = 400): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The value of one INFO field (e.g. blocked_clients), read with redis-cli. */
export async function infoField(port: number, field: string): Promise<string> {
  const info = await redisCli(port, ['INFO']);
  const line = info.split(/\r?\n/).find((l) => l.startsWith(`${field}:`));
  return line === undefined ? '' : line.slice(field.length + 1);
}

/** A raw RESP connection for tests that need to control exactly what each client does. */
export interface RawConnection {
  /** Send one command (does not wait for its reply). */
  send(...args: readonly (string | Uint8Array)[]): void;
  /** The next reply frame, waiting for it. */
  reply(): Promise<RespFrame>;
  /** Send a command and wait for its reply. */
  call(...args: readonly (string | Uint8Array)[]): Promise<RespFrame>;
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>;
  close(): void;
}

/** Open a raw connection to `port`. */
export function connectRaw(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const decoder = new RespDecoder();
    const frames: RespFrame[] = [];
    const waiting: ((frame: RespFrame) => void)[] = [];
    let closedResolve: () => void = () => {};
    const closed = new Promise<void>((done) => (closedResolve = done));
    socket.on('data', (chunk: Buffer) => {
      decoder.feed(chunk);
      for (let frame = decoder.next(); frame !== NEED_DATA; frame = decoder.next()) {
        const waiter = waiting.shift();
        if (waiter !== undefined) waiter(frame);
        else frames.push(frame);
      }
    });
    socket.on('close', () => closedResolve());
    socket.on('error', () => {});
    socket.once('connect', () => {
      const connection: RawConnection = {
        send: (...args) => {
          socket.write(encode(...args));
        },
        reply: () => {
          const frame = frames.shift();
          if (frame !== undefined) return Promise.resolve(frame);
          return new Promise((done) => waiting.push(done));
        },
        call: (...args) => {
          connection.send(...args);
          return connection.reply();
        },
        closed,
        close: () => socket.destroy(),
      };
      resolve(connection);
    });
    socket.once('error', reject);
  });
}
