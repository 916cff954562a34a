// conformance/servers.ts
//
// Private redis-server instances for the conformance suite (tests only): started on a free
// loopback port, stopped by their own PID, restartable with their data directory kept, so a
// test can kill a server under load and bring it back.

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
