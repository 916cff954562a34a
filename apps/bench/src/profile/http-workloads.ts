// profile/http-workloads.ts
//
// The HTTP server's workloads for the per-call profiler (profile.ts, count.ts): one call is one
// keep-alive request answered 'hello', sent by a raw in-process client in batches of 16
// pipelined requests over 4 connections, to our server on each runtime (lean and web-standard
// handlers), to node:http, and to a raw node:net responder (the limit). The client's share is
// the same for all, so differences are the servers'. The `-ka` workloads send one request at a
// time per connection (keep-alive, not pipelined): the cost of a request alone in its read.
// The `http-webfast` workloads run the web-standard handler with our FastResponse installed as
// globalThis.Response (the bench's web-standard row with the target), for their run only.
//
//   node --expose-gc apps/bench/dist/profile/profile.js all 20000 --module apps/bench/dist/profile/http-workloads.js

import * as http from 'node:http';
import * as net from 'node:net';
import { serveHttp as serveNode } from '@curio-ts/backend-node';
import { serveHttp as serveCurio } from '@curio-ts/backend-curio';
import { fetchHandler, installFastResponse } from '@curio-ts/client';
import type { HttpHandler, HttpServer } from '@curio-ts/client';
import { awaitPromise, run } from '@curio-ts/kernel';
import type { Workload } from './workload.js';

const CONNECTIONS = 4;
const BATCH = 16;
const REQUEST = 'GET / HTTP/1.1\r\nHost: bench\r\n\r\n';
const RESPONSE_END = 'hello';

const hello: HttpHandler = () => ({ headers: [['Content-Type', 'text/plain']], body: 'hello' });

/** A raw client: sends batches of pipelined requests, counts responses by their bodies' ends. */
class Client {
  private sockets: net.Socket[] = [];

  constructor(private readonly batch: number) {}

  async connect(port: number): Promise<void> {
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      this.sockets.push(socket);
    }
  }

  /** `n` requests, spread over the connections, BATCH at a time per connection. */
  async run(n: number): Promise<void> {
    const per = Math.ceil(n / CONNECTIONS);
    await Promise.all(this.sockets.map((socket, i) => this.drive(socket, Math.min(per, n - i * per))));
  }

  private drive(socket: net.Socket, count: number): Promise<void> {
    if (count <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      let sent = 0;
      let got = 0;
      let carry = '';
      const send = (): void => {
        const k = Math.min(this.batch, count - sent);
        sent += k;
        socket.write(REQUEST.repeat(k));
      };
      const onData = (chunk: Buffer): void => {
        const text = carry + chunk.toString('latin1');
        let at = 0;
        for (;;) {
          const found = text.indexOf(RESPONSE_END, at);
          if (found === -1) break;
          got++;
          at = found + RESPONSE_END.length;
        }
        carry = text.slice(Math.max(at, text.length - RESPONSE_END.length + 1));
        if (got === count) {
          socket.off('data', onData);
          resolve();
        } else if (got === sent) send();
      };
      socket.on('data', onData);
      send();
    });
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

function workload(description: string, start: () => Promise<{ port: number; stop: () => Promise<void> }>, batch = BATCH): Workload {
  const client = new Client(batch);
  let stop: () => Promise<void> = async () => {};
  return {
    description,
    defaultCalls: 20_000,
    async setup() {
      const server = await start();
      stop = server.stop;
      await client.connect(server.port);
    },
    run: (n) => client.run(n),
    async teardown() {
      client.close();
      await stop();
    },
  };
}

async function oursOnNode(handler: HttpHandler): Promise<{ port: number; stop: () => Promise<void> }> {
  const server: HttpServer = await serveNode(handler, { listen: { host: '127.0.0.1', port: 0 } });
  return { port: (server.address as { port: number }).port, stop: () => server.closeNow() };
}

async function oursOnCurio(handler: HttpHandler): Promise<{ port: number; stop: () => Promise<void> }> {
  let ready: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => (ready = resolve));
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const finished = run(async () => {
    const server = await serveCurio(handler, { listen: { host: '127.0.0.1', port: 0 } });
    ready((server.address as { port: number }).port);
    await awaitPromise(released);
    await server.closeNow();
  });
  return {
    port: await port,
    stop: async () => {
      release();
      await finished;
    },
  };
}

function listen(server: net.Server): Promise<{ port: number; stop: () => Promise<void> }> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        stop: () =>
          new Promise<void>((done) => {
            (server as http.Server).closeAllConnections?.();
            server.close(() => done());
          }),
      }),
    ),
  );
}

const nodeHttpHello = (): Promise<{ port: number; stop: () => Promise<void> }> =>
  listen(
    http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
      res.end('hello');
    }),
  );
const webHello = fetchHandler(() => new Response('hello'));
/** The web-standard handler of the bench's row with the target: our FastResponse installed as globalThis.Response (in setup). */
const webFastHello = fetchHandler(() => new Response('hello', { headers: { 'content-type': 'text/plain' } }));

/** `workload` with FastResponse installed while it runs (count.js runs one workload per process). */
function withFastResponse(inner: Workload): Workload {
  let uninstall: () => void = () => {};
  return {
    ...inner,
    async setup() {
      uninstall = installFastResponse();
      await inner.setup();
    },
    async teardown() {
      await inner.teardown();
      uninstall();
    },
  };
}

export const workloads: Record<string, Workload> = {
  'http-node-ka': workload('HTTP server, node runtime, lean handler, keep-alive (1 request at a time)', () => oursOnNode(hello), 1),
  'http-curio-ka': workload('HTTP server, curio runtime, lean handler, keep-alive (1 request at a time)', () => oursOnCurio(hello), 1),
  'http-web-ka': workload('HTTP server, node runtime, web-standard handler, keep-alive (1 request at a time)', () => oursOnNode(webHello), 1),
  'http-webfast-ka': withFastResponse(workload('HTTP server, node runtime, web-standard handler with FastResponse installed, keep-alive (1 request at a time)', () => oursOnNode(webFastHello), 1)),
  'http-nodehttp-ka': workload('node:http server, keep-alive (1 request at a time)', nodeHttpHello, 1),
  'http-node': workload('HTTP server, node runtime, lean handler', () => oursOnNode(hello)),
  'http-curio': workload('HTTP server, curio runtime, lean handler', () => oursOnCurio(hello)),
  'http-web': workload('HTTP server, node runtime, web-standard handler', () => oursOnNode(webHello)),
  'http-webfast': withFastResponse(workload('HTTP server, node runtime, web-standard handler with FastResponse installed', () => oursOnNode(webFastHello))),
  'http-nodehttp': workload('node:http server', nodeHttpHello),
  'http-raw-ka': workload('raw node:net responder, keep-alive (1 request at a time; the limit)', rawResponder, 1),
  'http-raw': workload('raw node:net responder (the limit)', rawResponder),
};

/** A node:net server that answers every request head with a fixed response (the limit). */
function rawResponder(): Promise<{ port: number; stop: () => Promise<void> }> {
  const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
  return listen(
    net.createServer((socket) => {
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        let count = 0;
        let at = 0;
        for (;;) {
          const end = pending.indexOf('\r\n\r\n', at);
          if (end === -1) break;
          count++;
          at = end + 4;
        }
        pending = pending.slice(at);
        if (count > 0) socket.write(Buffer.concat(Array.from({ length: count }, () => response)));
      });
      socket.on('error', () => {});
    }),
  );
}
