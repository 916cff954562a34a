// conformance/servers.ts
//
// Private redis-server instances for the conformance suite (tests only): started on a free
// loopback port, stopped by their own PID, restartable with their data directory kept, so a
// test can kill a server under load and bring it back. And a scripted peer (startFakeRedis): a
// real TCP server that answers what a test says, for garbage, silence and held handshakes.

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisServerProtocol, decodeUtf8 } from '@curio-ts/proto-redis';

/** Options of a private server. */
export interface PrivateRedisOptions {
  /** appendonly yes + appendfsync always: every acknowledged write is on disk. */
  readonly durable?: boolean;
  /** requirepass. */
  readonly password?: string;
  /** More `--name value` arguments. */
  readonly extraArgs?: readonly string[];
  /** Serve TLS only, with a self-signed certificate for localhost made with openssl. */
  readonly tls?: boolean;
}

/** A running private redis-server. */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** With `tls`: the certificate to trust (PEM). */
  readonly ca?: string;
  /** Kill with SIGKILL (no shutdown, no final save). */
  kill(): Promise<void>;
  /** Start again on the same port and directory. */
  restart(): Promise<void>;
  /** Stop and remove the data directory. */
  stop(): Promise<void>;
}

/** A free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Wait until something accepts connections on the port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Start a private redis-server (the `redis-server` binary must be on PATH). */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'curio-redis-'));
  let ca: string | undefined;
  let tlsArgs: string[] = [];
  if (options.tls === true) {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' });
    ca = readFileSync(cert, 'utf8');
    tlsArgs = ['--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'];
  }
  const args = [
    '--port', options.tls === true ? '0' : String(port),
    ...tlsArgs,
    '--bind', '127.0.0.1',
    '--save', '',
    '--daemonize', 'no',
    '--dir', dir,
    '--enable-debug-command', 'local',
    '--appendonly', options.durable === true ? 'yes' : 'no',
    ...(options.durable === true ? ['--appendfsync', 'always'] : []),
    ...(options.password !== undefined ? ['--requirepass', options.password] : []),
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | null = null;
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    child.once('error', () => {});
    await waitForPort(port);
  };
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    child = null;
    if (running === null || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill(signal);
    });
  };
  await launch();
  const auth = options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    port,
    url: `${options.tls === true ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    ...(ca !== undefined ? { ca } : {}),
    kill: () => exit('SIGKILL'),
    restart: launch,
    async stop() {
      await exit('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A scripted peer: a real TCP server that parses what the client sends and answers whatever a
// test tells it to (garbage, silence, -LOADING, a held handshake), for the failures a real
// redis-server cannot be made to produce on demand.

/** One command a {@link FakeRedis} received. */
export interface FakeRedisCommand {
  /** Upper-cased command name. */
  readonly name: string;
  /** Every argument after the name, as text. */
  readonly args: readonly string[];
  /** Which connection it came on: 1 for the first accepted, 2 for the next... */
  readonly connection: number;
}

/**
 * What a {@link FakeRedis} answers: bytes to write as they are (a string is written as
 * latin1, one byte per char), null to say nothing, or 'close' to close that connection.
 */
export type FakeRedisAnswer = string | Uint8Array | null | 'close';

/** A running scripted peer. */
export interface FakeRedis {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections still open (the peer's view: a client's close is seen within a few ms). */
  readonly open: number;
  /** Every command received, in arrival order. */
  readonly commands: readonly FakeRedisCommand[];
  /** Close every connection now (as a crashing server would). */
  dropAll(): void;
  /** Stop listening and close every connection. */
  stop(): Promise<void>;
}

/** Replies a RESP3 Redis 7 gives to the commands every client connection starts with. */
export function answerLikeRedis(command: FakeRedisCommand): FakeRedisAnswer {
  switch (command.name) {
    case 'HELLO':
      return command.args[0] === '2'
        ? '*6\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:2\r\n'
        : '%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:3\r\n';
    case 'INFO':
      return bulkAnswer('# Persistence\r\nloading:0\r\n');
    case 'PING':
      return '+PONG\r\n';
    case 'ECHO':
      return bulkAnswer(command.args[0] ?? '');
    case 'SELECT':
    case 'SET':
    case 'CLIENT':
      return '+OK\r\n';
    case 'GET':
      return '_\r\n';
    default:
      return `-ERR unknown command '${command.name}'\r\n`;
  }
}

/** A RESP bulk string holding `text`. */
export function bulkAnswer(text: string): string {
  return `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
}

/**
 * Start a scripted peer on a free loopback port. `answer` is asked for each command in
 * arrival order (one connection's commands are answered one after another, so an answer may
 * wait for the test before it is given).
 */
export async function startFakeRedis(answer: (command: FakeRedisCommand) => FakeRedisAnswer | Promise<FakeRedisAnswer>): Promise<FakeRedis> {
  const sockets = new Set<net.Socket>();
  const commands: FakeRedisCommand[] = [];
  let accepted = 0;
  const server = net.createServer((socket) => {
    const connection = ++accepted;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const parser = new RedisServerProtocol();
    let answering = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      const received: FakeRedisCommand[] = [];
      try {
        parser.receiveData(chunk);
        for (let event = parser.nextEvent(); typeof event === 'object' && event.type === 'command'; event = parser.nextEvent()) {
          const args = event.args.slice(1).map((arg) => decodeUtf8(arg, 0, arg.length));
          received.push({ name: event.name, args, connection });
        }
      } catch {
        socket.destroy();
        return;
      }
      for (const command of received) {
        commands.push(command);
        answering = answering.then(async () => {
          const reply = await answer(command);
          if (socket.destroyed || reply === null) return;
          if (reply === 'close') socket.destroy();
          else socket.write(typeof reply === 'string' ? Buffer.from(reply, 'latin1') : reply);
        }).catch(() => {
          socket.destroy();
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const dropAll = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    commands,
    dropAll,
    stop: () =>
      new Promise<void>((resolve) => {
        dropAll();
        server.close(() => resolve());
      }),
  };
}

/**
 * Whether a just-restarted server answers -LOADING: PING over a raw socket until it answers
 * +PONG (or `timeoutMs` passes). Shows a test that the server really was loading its data.
 */
export async function sawServerLoading(port: number, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let loading = false;
  while (Date.now() < deadline) {
    const reply = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('error', () => resolve(''));
      socket.once('close', () => resolve(text));
    });
    if (reply.startsWith('-LOADING')) loading = true;
    else if (reply.startsWith('+PONG')) return loading;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return loading;
}
