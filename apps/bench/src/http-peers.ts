// Child-process entry points for the HTTP benchmarks (http-idle-bench.ts and
// http-client-bench.ts start them with node):
//
//   node --expose-gc http-peers.js serve <kind>
//       a hello-world server (kind: ours-node, ours-web-node, ours-web-node-fast, ours-curio, node-http, net); prints its port, then
//       answers each `measure` line on stdin with `mem {json}`: process.memoryUsage() after GC
//       (and the connections it holds). Keep-alive connections are never timed out.
//   node http-peers.js idle-clients <port> <n>
//       open <n> keep-alive connections to <port>, each sending one GET and reading its response,
//       100 at a time; print `ready <n>` and hold them until killed.
//
// `net` is the floor: a node:net server holding its sockets, each with a 'data' listener that
// writes a fixed response per chunk (so every kind answers the idle clients alike).

import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { serveHttp as serveNode } from '@curio-ts/backend-node';
import { serveHttp as serveCurio } from '@curio-ts/backend-curio';
import { fetchHandler, installFastResponse } from '@curio-ts/client';
import type { HttpHandler, HttpServerOptions } from '@curio-ts/client';
import { awaitPromise, run } from '@curio-ts/kernel';

const HOST = '127.0.0.1';
const HOUR = 3_600_000;
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');

function announce(port: number): void {
  process.stdout.write(`port ${port}\n`);
}

const hello: HttpHandler = () => ({ headers: [['Content-Type', 'text/plain']], body: 'hello' });
const ourOptions: HttpServerOptions = { listen: { host: HOST, port: 0 }, idleTimeout: HOUR, headersTimeout: HOUR };

/** Our server with a web-standard hello handler, made with whatever globalThis.Response is. */
async function serveWebHello(): Promise<() => number> {
  const server = await serveNode(
    fetchHandler(() => new Response('hello', { headers: { 'content-type': 'text/plain' } })),
    ourOptions,
  );
  announce((server.address as { port: number }).port);
  return () => server.connections;
}

/** Start a server of `kind`; resolves with a function counting the connections it holds. */
async function serve(kind: string): Promise<() => number> {
  switch (kind) {
    case 'ours-node': {
      const server = await serveNode(hello, ourOptions);
      announce((server.address as { port: number }).port);
      return () => server.connections;
    }
    case 'ours-web-node': {
      // The web-standard handler as a user runs it: the platform's own Response (no
      // @hono/node-server loaded in this process to replace it).
      return serveWebHello();
    }
    case 'ours-web-node-fast': {
      // The same handler with our FastResponse installed as globalThis.Response.
      installFastResponse();
      return serveWebHello();
    }
    case 'ours-curio': {
      let connections = (): number => 0;
      const listening = new Promise<void>((resolve) => {
        void run(async () => {
          const server = await serveCurio(hello, ourOptions);
          connections = () => server.connections;
          announce((server.address as { port: number }).port);
          resolve();
          await awaitPromise(new Promise<never>(() => {})); // serve until killed
        });
      });
      await listening;
      return () => connections();
    }
    case 'node-http': {
      const server = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
        res.end('hello');
      });
      server.keepAliveTimeout = HOUR;
      server.headersTimeout = HOUR;
      server.requestTimeout = 0;
      return listen(server);
    }
    case 'net': {
      const held = new Set<net.Socket>();
      const server = net.createServer({ noDelay: true }, (socket) => {
        held.add(socket);
        socket.on('data', () => socket.write(RESPONSE));
        socket.on('error', () => socket.destroy());
        socket.on('close', () => held.delete(socket));
      });
      await listen(server);
      return () => held.size;
    }
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

async function listen(server: net.Server): Promise<() => number> {
  server.listen({ port: 0, host: HOST, backlog: 4096 });
  await once(server, 'listening');
  announce((server.address() as net.AddressInfo).port);
  let count = 0;
  server.on('connection', (socket: net.Socket) => {
    count++;
    socket.once('close', () => count--);
  });
  return () => count;
}

/** Answer `measure` lines on stdin with memory after GC. */
function answerMeasures(connections: () => number): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  let text = '';
  process.stdin.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    let newline: number;
    while ((newline = text.indexOf('\n')) >= 0) {
      const command = text.slice(0, newline).trim();
      text = text.slice(newline + 1);
      if (command !== 'measure') continue;
      for (let i = 0; i < 4; i++) gc();
      const usage = process.memoryUsage();
      const reply = { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers, connections: connections() };
      process.stdout.write(`mem ${JSON.stringify(reply)}\n`);
    }
  });
}

/** One keep-alive connection that sent a GET and read its whole (small) response. */
function openIdle(port: number, sockets: net.Socket[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: HOST, noDelay: true });
    sockets.push(socket);
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1');
      const head = received.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = /content-length:\s*(\d+)/i.exec(received.slice(0, head));
      if (length === null) return reject(new Error(`response without Content-Length: ${received}`));
      if (received.length - head - 4 < Number(length[1])) return;
      socket.off('data', onData);
      socket.on('data', () => {}); // keep reading (nothing more is expected)
      resolve();
    };
    socket.on('data', onData);
    socket.once('connect', () => socket.write(REQUEST));
    socket.on('error', reject);
  });
}

async function idleClients(port: number, n: number): Promise<void> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + 100); j++) batch.push(openIdle(port, sockets));
    await Promise.all(batch);
  }
  process.stdout.write(`ready ${sockets.length}\n`);
}

const [mode, ...args] = process.argv.slice(2);
switch (mode) {
  case 'serve':
    answerMeasures(await serve(String(args[0])));
    break;
  case 'idle-clients':
    await idleClients(Number(args[0]), Number(args[1]));
    break;
  default:
    console.error(`unknown mode ${String(mode)}`);
    process.exit(2);
}
