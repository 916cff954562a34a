// The echo app as users run it: each server started as a real process, talked to by real
// clients (node:net, node:dgram, nc) and by the app's own client mode, then stopped by SIGINT.

import { afterEach, describe, expect, test } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
// Run the TypeScript source directly: the kernel resolves to its source too.
const nodeArgs = ['--conditions=@curio-ts/source', '--import', 'tsx', main];

const started: ChildProcess[] = [];

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

interface Server {
  child: ChildProcess;
  port: number;
  output: () => string;
}

/** Start `main.ts <mode> --port 0` and wait for its "listening" line. */
async function startServer(mode: 'tcp-server' | 'udp-server'): Promise<Server> {
  const child = spawn(process.execPath, [...nodeArgs, mode, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let text = '';
  // Listen with 'data' handlers: leaving a for-await loop would destroy the pipe, and the
  // server would then die of EPIPE at its next log line.
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const check = (): void => {
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
      if (match !== null) {
        child.stdout?.off('data', check);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => reject(new Error(`server exited before listening: ${text}`)));
  });
  return { child, port, output: () => text };
}

/** Run the app's client mode; resolves with its stdout. */
function runClient(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [...nodeArgs, 'client', ...args], { timeout: 15_000 }, (error, stdout, stderr) =>
      error !== null ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
    child.stdin?.end(input ?? '');
  });
}

/** Stop a server with SIGINT; resolves with its exit code. */
async function interrupt(server: Server): Promise<number | null> {
  server.child.kill('SIGINT');
  const [code] = (await once(server.child, 'exit')) as [number | null];
  return code;
}

describe('echo app', () => {
  test('the TCP server echoes to a node:net client, nc and the app client; SIGINT stops it', async () => {
    const server = await startServer('tcp-server');
    const payload = Buffer.alloc(200_000, 'curio ');
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const socket = net.connect({ port: server.port, host: '127.0.0.1' }, () => socket.end(payload));
      const parts: Buffer[] = [];
      socket.on('data', (d: Buffer) => parts.push(d));
      socket.on('end', () => resolve(Buffer.concat(parts)));
      socket.on('error', reject);
    });
    expect(echoed.equals(payload)).toBe(true);

    const fromNc = await new Promise<string>((resolve, reject) => {
      const nc = execFile('nc', ['-N', '127.0.0.1', String(server.port)], { timeout: 10_000 }, (error, stdout) =>
        error !== null ? reject(error) : resolve(stdout),
      );
      nc.stdin?.end('hello from nc\n');
    });
    expect(fromNc).toBe('hello from nc\n');

    expect(await runClient(['--port', String(server.port), 'spam', 'ham and eggs'])).toBe('spam\nham and eggs\n');
    expect(await runClient(['--port', String(server.port)], 'line one\nline two\n')).toBe('line one\nline two\n');

    expect(await interrupt(server)).toBe(0);
    expect(server.output()).toMatch(/connection from 127\.0\.0\.1:\d+/);
    expect(server.output()).toMatch(/connection closed/);
    expect(server.output()).toMatch(/echo server stopped/);
  }, 30_000);

  test('the UDP server echoes datagrams to node:dgram and the app client', async () => {
    const server = await startServer('udp-server');
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    socket.send('datagram', server.port, '127.0.0.1');
    const [reply] = (await once(socket, 'message')) as [Buffer];
    socket.close();
    expect(reply.toString()).toBe('datagram');

    expect(await runClient(['--udp', '--port', String(server.port), 'one', 'two'])).toBe('one\ntwo\n');
    expect(await interrupt(server)).toBe(0);
    expect(server.output()).toMatch(/echo server stopped/);
  }, 30_000);

  test('a port in use is reported, with a non-zero exit', async () => {
    const server = await startServer('tcp-server');
    const second = spawn(process.execPath, [...nodeArgs, 'tcp-server', '--port', String(server.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(second);
    let errors = '';
    second.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
    const [code] = (await once(second, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(errors).toMatch(/EADDRINUSE/);
    expect(await interrupt(server)).toBe(0);
  }, 30_000);
});
