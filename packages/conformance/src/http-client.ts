// conformance/http-client.ts
//
// The HTTP client conformance suite: the client of @curio-ts/client (written once on the
// Runtime interface) on each runtime, against real servers: Node's own http and https servers,
// raw node:net servers for what servers do on purpose (closing idle connections, dying in the
// middle of a response, never answering), and our own serveHttp.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { AbortedError, BodyTimeoutError, ClientClosedError, ConnectionError, ConnectionLostError, HeadersTimeoutError, HttpAgent, InvalidArgumentError, makeFetch, ProtocolViolationError, RedirectError, serveHttp } from '@curio-ts/client';
import type { FetchFunction, HttpAgentOptions, HttpHandler, Runtime } from '@curio-ts/client';
import { makeTestCertificates } from './certs.js';
import { echoHandler } from './http.js';
import type { RuntimeHarness } from './runtime.js';
import type { TestApi } from './redis.js';

/** A Node server for a test: its port, and how many connections it accepted. */
export interface PeerServer {
  readonly port: number;
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Sockets open now. */
  readonly sockets: Set<net.Socket>;
  close(): Promise<void>;
}

function track(server: net.Server, url: (port: number) => string): Promise<PeerServer> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  server.on('connection', (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', () => {});
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        url: url(port),
        get connections() {
          return connections;
        },
        sockets,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A node:http server on 127.0.0.1, port 0. */
export function nodeHttpServer(handler: http.RequestListener): Promise<PeerServer> {
  return track(http.createServer(handler), (port) => `http://127.0.0.1:${port}`);
}

/** A raw node:net server (for servers that misbehave on purpose). */
export function rawServer(onSocket: (socket: net.Socket) => void): Promise<PeerServer> {
  return track(net.createServer(onSocket), (port) => `http://127.0.0.1:${port}`);
}

/** A proxy written with node:http: absolute-form requests forwarded, CONNECT tunnels; what it saw. */
export async function startProxy(credentials: string | null): Promise<PeerServer & { readonly seen: string[] }> {
  const seen: string[] = [];
  const allowed = (headers: http.IncomingHttpHeaders): boolean => credentials === null || headers['proxy-authorization'] === credentials;
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (!allowed(req.headers)) {
      res.writeHead(407, { 'Content-Length': '0' }).end();
      return;
    }
    const target = new URL(req.url ?? '/');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = http.request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    socket.on('error', () => {});
    if (!allowed(req.headers)) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host === 'localhost' ? '127.0.0.1' : (host as string), () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  });
  const peer = await track(server, (port) => `http://127.0.0.1:${port}`);
  return Object.assign(peer, { seen });
}

/** The request handler of the node peer: /hello, /echo, /big?n, /status/N, /redirect... */
export function peerHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/hello') {
    res.setHeader('Content-Type', 'text/plain');
    res.setHeader('Content-Length', '5');
    res.end('hello');
    return;
  }
  if (url.pathname === '/echo') {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ method: req.method, length, sha256: hash.digest('hex'), headers: req.headers }));
    });
    return;
  }
  if (url.pathname.startsWith('/status/')) {
    res.statusCode = Number(url.pathname.slice(8));
    res.end();
    return;
  }
  res.statusCode = 404;
  res.end('not found');
}

/** A Promise the test resolves. */
class Gate {
  open: () => void = () => {};
  readonly wait = new Promise<void>((resolve) => (this.open = resolve));
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Options of {@link httpClientConformance}. */
export interface HttpClientSuiteOptions {
  /**
   * The runtime reaches real sockets (default true): the cases against Node's servers are
   * registered. The memory runtime runs only the cases against serveHttp on itself.
   */
  readonly realSockets?: boolean;
}

/** The HTTP client conformance suite on `harness`'s runtime. */
export function httpClientConformance(harness: RuntimeHarness, t: TestApi, options: HttpClientSuiteOptions = {}): void {
  const { describe, it, expect } = t;

  /** Run `body` with a fresh agent on the harness's runtime; the agent is closed afterwards. */
  const withAgent = (body: (agent: HttpAgent, runtime: Runtime) => Promise<void>, options: HttpAgentOptions = {}): Promise<void> =>
    harness.run(async (runtime) => {
      const agent = new HttpAgent(runtime, options);
      try {
        await body(agent, runtime);
      } finally {
        await agent.close();
      }
    });

  const withPeer = async (handler: http.RequestListener, body: (peer: PeerServer) => Promise<void>): Promise<void> => {
    const peer = await nodeHttpServer(handler);
    try {
      await body(peer);
    } finally {
      await peer.close();
    }
  };

  /** Wait (in short sleeps of the runtime) until `condition` holds. */
  const until = async (runtime: Runtime, condition: () => boolean): Promise<boolean> => {
    for (let i = 0; i < 1000 && !condition(); i++) await runtime.sleep(5);
    return condition();
  };

  /** serveHttp with `handler` and an agent, both on the harness's runtime. */
  const withServe = (handler: HttpHandler, body: (base: string, agent: HttpAgent, runtime: Runtime) => Promise<void>, agentOptions: HttpAgentOptions = {}): Promise<void> =>
    harness.run(async (runtime) => {
      const server = await serveHttp(runtime, handler);
      const agent = new HttpAgent(runtime, agentOptions);
      try {
        await body(`http://127.0.0.1:${(server.address as { port: number }).port}`, agent, runtime);
      } finally {
        await agent.close();
        await server.closeNow();
      }
    });

  describe(`HTTP client against serveHttp on the ${harness.name} runtime`, () => {
    it('GET, an echoed chunked upload, a streamed response, HEAD and 204: all on one kept-alive connection', async () => {
      const peers = new Set<string>();
      const echo = echoHandler((request) => peers.add(JSON.stringify(request.remoteAddress)));
      await withServe(
        (request) => {
          if (request.path === '/empty') return { status: 204 };
          if (request.method === 'HEAD') return { headers: [['Content-Type', 'text/plain']], body: 'hello' };
          return echo(request);
        },
        async (base, agent) => {
          for (let i = 0; i < 50; i++) expect(await (await agent.request(`${base}/`)).body.text()).toBe('hello');
          const parts = async function* (): AsyncIterable<string> {
            for (let i = 0; i < 100; i++) yield `part ${i};`;
          };
          const echoed = await (await agent.request(`${base}/echo`, { method: 'POST', body: parts() })).body.text();
          expect(echoed).toBe(Array.from({ length: 100 }, (_, i) => `part ${i};`).join(''));
          expect(await (await agent.request(`${base}/stream?n=4`)).body.text()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\n');
          const head = await agent.request(`${base}/`, { method: 'HEAD' });
          expect([head.status, head.headers.get('content-length'), (await head.body.bytes()).length]).toEqual([200, '5', 0]);
          const empty = await agent.request(`${base}/empty`);
          expect([empty.status, (await empty.body.bytes()).length]).toEqual([204, 0]);
          expect(await (await agent.request(`${base}/`)).body.text()).toBe('hello');
          expect(peers.size).toBe(1);
          expect(agent.connections).toBe(1);
        },
      );
    });

    it('a streamed download with backpressure: the handler is held back while the body is not read', async () => {
      let produced = 0;
      const total = 512;
      const chunk = new Uint8Array(64 * 1024).fill(120);
      await withServe(
        () => ({
          body: (async function* () {
            for (; produced < total; produced++) yield chunk;
          })(),
        }),
        async (base, agent, runtime) => {
          const response = await agent.request(`${base}/big`);
          let received = ((await response.body.read()) as Uint8Array).length;
          await runtime.sleep(100);
          expect(produced).toBeLessThan(total / 2);
          for await (const part of response.body) received += part.length;
          expect(received).toBe(total * chunk.length);
        },
      );
    });

    it('abort mid-body: AbortError, and the connection is closed (the server sees it go)', async () => {
      // The handler's body waits for the test to let it end (a streamed body is not interrupted
      // by the client going away).
      const gate = new Gate();
      await withServe(
        () => ({
          body: (async function* () {
            yield 'first';
            await gate.wait;
          })(),
        }),
        async (base, agent) => {
          try {
            const controller = new AbortController();
            const response = await agent.request(`${base}/`, { signal: controller.signal });
            expect(new TextDecoder().decode((await response.body.read()) as Uint8Array)).toBe('first');
            const pending = response.body.read().catch((e: unknown) => e);
            controller.abort();
            const error = await pending;
            expect(error).toBeInstanceOf(AbortedError);
            expect((error as Error).name).toBe('AbortError');
            expect(agent.connections).toBe(0);
          } finally {
            gate.open();
          }
        },
      );
    });

    it('a handler that never answers: HeadersTimeoutError; one that stalls mid-body: BodyTimeoutError', async () => {
      const gate = new Gate();
      await withServe(
        async (request) => {
          if (request.path === '/stall') {
            return {
              body: (async function* () {
                yield 'part';
                await gate.wait;
              })(),
            };
          }
          await Promise.race([gate.wait, new Promise<void>((resolve) => request.signal.addEventListener('abort', () => resolve(), { once: true }))]);
          return { status: 500 };
        },
        async (base, agent) => {
          try {
            expect(await agent.request(`${base}/never`, { headersTimeout: 200 }).catch((e: unknown) => e)).toBeInstanceOf(HeadersTimeoutError);
            const response = await agent.request(`${base}/stall`, { timeout: 200 });
            expect(await response.body.text().catch((e: unknown) => e)).toBeInstanceOf(BodyTimeoutError);
            expect(agent.connections).toBe(0);
          } finally {
            gate.open();
          }
        },
      );
    });

    it('maxConnectionsPerOrigin 2: 12 concurrent requests, 2 connections', async () => {
      const peers = new Set<string>();
      await withServe(
        echoHandler((request) => peers.add(JSON.stringify(request.remoteAddress))),
        async (base, agent) => {
          const texts = await Promise.all(Array.from({ length: 12 }, async () => (await agent.request(`${base}/`)).body.text()));
          expect(texts.every((text) => text === 'hello')).toBe(true);
          expect(peers.size).toBe(2);
          expect(agent.connections).toBe(2);
        },
        { maxConnectionsPerOrigin: 2 },
      );
    });

    it('pipelining 10: 30 GETs and HEADs at once on one connection, each answered by its own response, in order', async () => {
      await withServe(
        (request) => {
          if (request.path === '/empty') return { status: 204 };
          return { body: `answer to ${request.method} ${request.path}` };
        },
        async (base, agent) => {
          const paths = Array.from({ length: 30 }, (_, i) => (i % 7 === 3 ? '/empty' : `/p${i}`));
          const methods = paths.map((_, i) => (i % 5 === 2 ? 'HEAD' : 'GET'));
          const answers = await Promise.all(
            paths.map(async (p, i) => {
              const response = await agent.request(`${base}${p}`, { method: methods[i] as string });
              return `${response.status} ${await response.body.text()}`;
            }),
          );
          expect(answers).toEqual(paths.map((p, i) => (p === '/empty' ? '204 ' : methods[i] === 'HEAD' ? '200 ' : `200 answer to GET ${p}`)));
          expect(agent.connections).toBe(1);
          // A POST is not pipelined, and nothing is pipelined behind it: it still works on the pool.
          const posted = await Promise.all([agent.request(`${base}/a`, { method: 'POST', body: 'x' }), agent.request(`${base}/b`)]);
          expect(await Promise.all(posted.map((r) => r.body.text()))).toEqual(['answer to POST /a', 'answer to GET /b']);
        },
        { pipelining: 10, maxConnectionsPerOrigin: 1 },
      );
    });
  });

  if (options.realSockets === false) return;

  describe(`HTTP client on the ${harness.name} runtime against Node's servers`, () => {
    it("against Node's http server: GET, headers, status; 20 requests on one kept-alive connection", async () => {
      await withPeer(peerHandler, (peer) =>
        withAgent(async (agent) => {
          const response = await agent.request(`${peer.url}/hello`, { headers: { 'X-Test': 'yes' } });
          expect(response.status).toBe(200);
          expect(response.statusText).toBe('OK');
          expect(response.httpVersion).toBe('1.1');
          expect(response.headers.get('content-type')).toBe('text/plain');
          expect(await response.body.text()).toBe('hello');
          for (let i = 0; i < 20; i++) expect(await (await agent.request(`${peer.url}/hello`)).body.text()).toBe('hello');
          const echoed = (await (await agent.request(`${peer.url}/echo`, { method: 'post', body: 'abc', headers: [['X-Test', 'yes']] })).body.json()) as { method: string; length: number; headers: Record<string, string> };
          expect(echoed.method).toBe('POST');
          expect(echoed.length).toBe(3);
          expect(echoed.headers['x-test']).toBe('yes');
          expect(echoed.headers['content-length']).toBe('3');
          expect(peer.connections).toBe(1);
          expect(agent.connections).toBe(1);
        }),
      );
    });

    it('HEAD, 204 and 304 have no body and keep the connection; a 404 is a response, not an error', async () => {
      await withPeer(peerHandler, (peer) =>
        withAgent(async (agent) => {
          const head = await agent.request(`${peer.url}/hello`, { method: 'HEAD' });
          expect(head.status).toBe(200);
          expect(head.headers.get('content-length')).toBe('5');
          expect((await head.body.bytes()).length).toBe(0);
          expect((await (await agent.request(`${peer.url}/status/204`)).body.bytes()).length).toBe(0);
          expect((await (await agent.request(`${peer.url}/status/304`)).body.bytes()).length).toBe(0);
          const missing = await agent.request(`${peer.url}/nope`);
          expect(missing.status).toBe(404);
          expect(await missing.body.text()).toBe('not found');
          expect(peer.connections).toBe(1);
        }),
      );
    });

    it('a 4 MB chunked upload from an async iterable arrives intact; a Uint8Array body with its length', async () => {
      await withPeer(peerHandler, (peer) =>
        withAgent(async (agent) => {
          const piece = new Uint8Array(64 * 1024).map((_, i) => (i * 7) % 256);
          const whole = new Uint8Array(64 * piece.length);
          for (let i = 0; i < 64; i++) whole.set(piece, i * piece.length);
          const upload = async function* (): AsyncIterable<Uint8Array> {
            for (let i = 0; i < 64; i++) yield piece;
          };
          const response = await agent.request(`${peer.url}/echo`, { method: 'PUT', body: upload() });
          const echoed = (await response.body.json()) as { length: number; sha256: string; headers: Record<string, string> };
          expect(echoed.headers['transfer-encoding']).toBe('chunked');
          expect(echoed.length).toBe(whole.length);
          expect(echoed.sha256).toBe(sha256(whole));
          const fixed = (await (await agent.request(`${peer.url}/echo`, { method: 'POST', body: whole })).body.json()) as { length: number; sha256: string };
          expect(fixed.sha256).toBe(sha256(whole));
        }),
      );
    });

    it('a streamed download is read as it comes, with backpressure: the server is held back while the body is not read', async () => {
      let written = 0;
      let finished = false;
      const total = 32 * 1024 * 1024;
      await withPeer(
        (_req, res) => {
          const chunk = Buffer.alloc(64 * 1024, 120);
          const pump = (): void => {
            while (written < total) {
              written += chunk.length;
              if (!res.write(chunk)) {
                res.once('drain', pump);
                return;
              }
            }
            finished = true;
            res.end();
          };
          pump();
        },
        (peer) =>
          withAgent(async (agent, runtime) => {
            const response = await agent.request(`${peer.url}/big`);
            const first = await response.body.read();
            expect(first).not.toBeNull();
            await runtime.sleep(100);
            // The body was not read for a while: the server could write only what the socket
            // buffers hold, far from the whole body.
            expect(finished).toBe(false);
            expect(written).toBeLessThan(total / 2);
            let received = (first as Uint8Array).length;
            for await (const chunk of response.body) received += chunk.length;
            expect(received).toBe(total);
          }),
      );
    });

    it('a keep-alive connection the server closed while idle is dropped, and the next request succeeds', async () => {
      await withPeer(peerHandler, (peer) =>
        withAgent(async (agent, runtime) => {
          expect(await (await agent.request(`${peer.url}/hello`)).body.text()).toBe('hello');
          expect(await until(runtime, () => agent.idleConnections === 1)).toBe(true);
          for (const socket of peer.sockets) socket.destroy();
          expect(await until(runtime, () => agent.idleConnections === 0)).toBe(true);
          expect(await (await agent.request(`${peer.url}/hello`)).body.text()).toBe('hello');
          expect(peer.connections).toBe(2);
        }),
      );
    });

    it('a server closing a kept-alive connection as the next request arrives: a GET is sent again on a fresh connection, a POST fails', async () => {
      let connections = 0;
      // The first connection dies at its second request (without a byte of response); the
      // others answer; with `always`, every connection dies at its second request.
      let always = false;
      const peer = await rawServer((socket) => {
        const n = ++connections;
        let requests = 0;
        socket.on('data', () => {
          requests++;
          if (requests === 2 && (n === 1 || always)) socket.destroy();
          else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        });
        socket.on('error', () => {});
      });
      try {
        await withAgent(async (agent) => {
          expect(await (await agent.request(`${peer.url}/`)).body.text()).toBe('ok');
          expect(await (await agent.request(`${peer.url}/`)).body.text()).toBe('ok');
          expect(connections).toBe(2);
        });
        always = true;
        await withAgent(async (agent) => {
          expect(await (await agent.request(`${peer.url}/`)).body.text()).toBe('ok');
          const failed = await agent.request(`${peer.url}/`, { method: 'POST', body: 'once' }).catch((e: unknown) => e);
          expect(failed).toBeInstanceOf(ConnectionLostError);
          expect(connections).toBe(3);
        });
      } finally {
        await peer.close();
      }
    });

    it('a server that dies in the middle of a response: ConnectionLostError, and the connection is dropped', async () => {
      const peer = await rawServer((socket) => {
        socket.once('data', () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789', () => setTimeout(() => socket.destroy(), 20));
        });
        socket.on('error', () => {});
      });
      try {
        await withAgent(async (agent) => {
          const response = await agent.request(`${peer.url}/`);
          const error = await response.body.text().catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ConnectionLostError);
          expect(agent.connections).toBe(0);
          // A server that closes before any response.
          const none = await rawServer((socket) => socket.once('data', () => socket.end()));
          try {
            expect(await agent.request(`${none.url}/`).catch((e: unknown) => e)).toBeInstanceOf(ConnectionLostError);
          } finally {
            await none.close();
          }
        });
      } finally {
        await peer.close();
      }
    });

    it('Connection: close and a body read until the close are not pooled; a head too large is a ProtocolViolationError; an upload that throws fails its request', async () => {
      const peer = await rawServer((socket) => {
        socket.once('data', (chunk: Buffer) => {
          const line = chunk.toString('latin1').split('\r\n')[0] ?? '';
          if (line.startsWith('GET /close ')) socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\ndone');
          else if (line.startsWith('GET /old ')) socket.end('HTTP/1.0 200 OK\r\n\r\nread until the close');
          else socket.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`);
        });
        socket.on('error', () => {});
      });
      try {
        await withAgent(async (agent, runtime) => {
          const closing = await agent.request(`${peer.url}/close`);
          expect(await closing.body.text()).toBe('done');
          const old = await agent.request(`${peer.url}/old`);
          expect(old.httpVersion).toBe('1.0');
          expect(await old.body.text()).toBe('read until the close');
          expect(await until(runtime, () => agent.connections === 0)).toBe(true);
          expect(agent.idleConnections).toBe(0);
          expect(await agent.request(`${peer.url}/big`).catch((e: unknown) => e)).toBeInstanceOf(ProtocolViolationError);
        });
      } finally {
        await peer.close();
      }
      await withPeer(peerHandler, (echo) =>
        withAgent(async (agent) => {
          const failing = async function* (): AsyncIterable<string> {
            yield 'some';
            throw new Error('the source failed');
          };
          const error = await agent.request(`${echo.url}/echo`, { method: 'POST', body: failing() }).catch((e: unknown) => e);
          expect((error as Error).message).toBe('the source failed');
          expect(agent.connections).toBe(0);
          expect(await (await agent.request(`${echo.url}/hello`)).body.text()).toBe('hello');
        }),
      );
    });

    it('aborting mid-body rejects the read with an AbortError and closes that connection', async () => {
      let serverSawClose = false;
      await withPeer(
        (_req, res) => {
          res.write('first part');
          res.on('close', () => (serverSawClose = true));
        },
        (peer) =>
          withAgent(async (agent, runtime) => {
            const controller = new AbortController();
            const response = await agent.request(`${peer.url}/`, { signal: controller.signal });
            expect(new TextDecoder().decode((await response.body.read()) as Uint8Array)).toBe('first part');
            const pending = response.body.read().catch((e: unknown) => e);
            controller.abort();
            const error = await pending;
            expect(error).toBeInstanceOf(AbortedError);
            expect((error as Error).name).toBe('AbortError');
            expect(await until(runtime, () => serverSawClose)).toBe(true);
            expect(agent.connections).toBe(0);
            // Aborted before it starts: nothing is sent.
            const early = new AbortController();
            early.abort();
            expect(await agent.request(`${peer.url}/`, { signal: early.signal }).catch((e: unknown) => e)).toBeInstanceOf(AbortedError);
          }),
      );
    });

    it('timeouts: a server that never answers (HeadersTimeoutError), a body that stalls (BodyTimeoutError)', async () => {
      await withPeer(
        (req, res) => {
          if (req.url === '/stall') res.write('part');
        },
        (peer) =>
          withAgent(async (agent) => {
            expect(await agent.request(`${peer.url}/never`, { headersTimeout: 100 }).catch((e: unknown) => e)).toBeInstanceOf(HeadersTimeoutError);
            const response = await agent.request(`${peer.url}/stall`, { bodyTimeout: 100 });
            expect(await response.body.text().catch((e: unknown) => e)).toBeInstanceOf(BodyTimeoutError);
            expect(agent.connections).toBe(0);
          }),
      );
    });

    it('maxConnectionsPerOrigin: 12 concurrent requests share 2 connections', async () => {
      await withPeer(peerHandler, (peer) =>
        withAgent(
          async (agent) => {
            const texts = await Promise.all(Array.from({ length: 12 }, async () => (await agent.request(`${peer.url}/hello`)).body.text()));
            expect(texts.every((text) => text === 'hello')).toBe(true);
            expect(peer.connections).toBe(2);
          },
          { maxConnectionsPerOrigin: 2 },
        ),
      );
    });

    it('redirections: returned as they are by default, followed with maxRedirections (303 and 302 POST become GET, 307 keeps the body, Authorization dropped across origins)', async () => {
      await withPeer(peerHandler, async (other) => {
        await withPeer(
          (req, res) => {
            const url = req.url ?? '/';
            if (url === '/302') res.writeHead(302, { Location: '/echo' }).end();
            else if (url === '/307') res.writeHead(307, { Location: '/echo' }).end();
            else if (url === '/away') res.writeHead(301, { Location: `${other.url}/echo` }).end();
            else if (url === '/loop') res.writeHead(302, { Location: '/loop' }).end();
            else peerHandler(req, res);
          },
          (peer) =>
            withAgent(async (agent) => {
              const plain = await agent.request(`${peer.url}/302`);
              expect(plain.status).toBe(302);
              expect(plain.headers.get('location')).toBe('/echo');
              await plain.body.dump();
              const post = await agent.request(`${peer.url}/302`, { method: 'POST', body: 'data', maxRedirections: 3 });
              expect(post.redirected).toBe(true);
              expect(post.url).toBe(`${peer.url}/echo`);
              expect(((await post.body.json()) as { method: string }).method).toBe('GET');
              const kept = (await (await agent.request(`${peer.url}/307`, { method: 'POST', body: 'data', maxRedirections: 3 })).body.json()) as { method: string; length: number };
              expect([kept.method, kept.length]).toEqual(['POST', 4]);
              const away = (await (await agent.request(`${peer.url}/away`, { headers: { Authorization: 'secret', 'X-Other': '1' }, maxRedirections: 3 })).body.json()) as { headers: Record<string, string> };
              expect(away.headers.authorization).toBeUndefined();
              expect(away.headers['x-other']).toBe('1');
              expect(away.headers.host).toBe(`127.0.0.1:${other.port}`);
              expect(await agent.request(`${peer.url}/loop`, { maxRedirections: 3 }).catch((e: unknown) => e)).toBeInstanceOf(RedirectError);
            }),
        );
      });
    });

    it('a closed agent refuses requests; bad URLs and headers are InvalidArgumentErrors', async () => {
      await withAgent(async (agent) => {
        expect((await agent.request('ftp://example.com/').catch((e: unknown) => e)) as Error).toHaveProperty('code', 'ERR_BAD_ARGUMENT');
        expect((await agent.request('not a url').catch((e: unknown) => e)) as Error).toHaveProperty('code', 'ERR_BAD_ARGUMENT');
        expect((await agent.request('http://127.0.0.1:1/', { maxRedirections: -1 }).catch((e: unknown) => e)) as Error).toHaveProperty('code', 'ERR_BAD_ARGUMENT');
        expect((await agent.request('http://127.0.0.1:1/', { timeout: Number.NaN }).catch((e: unknown) => e)) as Error).toHaveProperty('code', 'ERR_BAD_ARGUMENT');
        expect(() => new HttpAgent(agent.runtime, { maxConnectionsPerOrigin: 0 })).toThrow(InvalidArgumentError);
        await agent.close();
        expect(await agent.request('http://127.0.0.1:1/').catch((e: unknown) => e)).toBeInstanceOf(ClientClosedError);
      });
      await withPeer(peerHandler, (peer) =>
        withAgent(async (agent) => {
          expect((await agent.request(`${peer.url}/hello`, { headers: { 'X-Bad': 'a\r\nInjected: 1' } }).catch((e: unknown) => e)) as Error).toHaveProperty('code', 'ERR_BAD_ARGUMENT');
          expect(await agent.request('http://127.0.0.1:1/').catch((e: unknown) => e)).toBeInstanceOf(ConnectionError);
        }),
      );
    });

    /** A fetch on the agent's pools, decoding br with node:zlib as the node and curio backends do. */
    const fetchOn = (agent: HttpAgent): FetchFunction => makeFetch(agent.runtime, { agent, decoders: { br: () => Duplex.toWeb(zlib.createBrotliDecompress()) } });

    it('fetch: gzip, deflate and br bodies made by node:zlib are decoded; a 1 MB gzip body streams', async () => {
      const text = 'curio-ts '.repeat(120_000);
      const encoded: Record<string, Buffer> = { gzip: zlib.gzipSync(text), deflate: zlib.deflateSync(text), br: zlib.brotliCompressSync(text) };
      await withPeer(
        (req, res) => {
          const coding = (req.url ?? '/').slice(1);
          const body = encoded[coding];
          if (body === undefined) return peerHandler(req, res);
          res.writeHead(200, { 'Content-Encoding': coding, 'Content-Type': 'text/plain', 'X-Accept-Encoding': String(req.headers['accept-encoding']) });
          // In pieces, so that the decoder streams.
          for (let at = 0; at < body.length; at += 16 * 1024) res.write(body.subarray(at, at + 16 * 1024));
          res.end();
        },
        (peer) =>
          withAgent(async (agent) => {
            const fetch = fetchOn(agent);
            for (const coding of ['gzip', 'deflate', 'br']) {
              const response = await fetch(`${peer.url}/${coding}`);
              expect(response.status).toBe(200);
              expect(response.headers.get('content-encoding')).toBe(coding);
              expect(response.headers.get('x-accept-encoding')).toBe('gzip, deflate, br');
              expect(await response.text()).toBe(text);
            }
            const plain = await fetch(`${peer.url}/hello`);
            expect([plain.ok, plain.url, plain.redirected, await plain.text()]).toEqual([true, `${peer.url}/hello`, false, 'hello']);
            expect(peer.connections).toBe(1);
          }),
      );
    });

    it("fetch: a Response's body behaves as the platform's, whether it came whole with its head or streamed", async () => {
      const big = 'x'.repeat(300_000);
      await withPeer(
        (req, res) => {
          if (req.url === '/json') {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end('{"a":[1,2]}');
          } else if (req.url === '/bom') res.end(Buffer.from([0xef, 0xbb, 0xbf, 0x68, 0xc3, 0xa9]));
          else if (req.url === '/empty') res.end();
          else if (req.url === '/big') res.end(big);
          else peerHandler(req, res);
        },
        (peer) =>
          withAgent(async (agent) => {
            const fetch = fetchOn(agent);
            for (const path of ['/json', '/big']) {
              const expected = path === '/json' ? '{"a":[1,2]}' : big;
              const get = (): Promise<Response> => fetch(`${peer.url}${path}`);
              let r = await get();
              expect(r).toBeInstanceOf(Response);
              expect(Object.prototype.toString.call(r)).toBe('[object Response]');
              expect([r.status, r.ok, r.statusText, r.bodyUsed, r.url, r.redirected]).toEqual([200, true, 'OK', false, `${peer.url}${path}`, false]);
              const copy = r.clone();
              expect(await r.text()).toBe(expected);
              expect(r.bodyUsed).toBe(true);
              expect(await r.text().catch((e: unknown) => e)).toBeInstanceOf(TypeError);
              expect(() => r.clone()).toThrow(TypeError);
              expect([copy.url, await copy.text()]).toEqual([`${peer.url}${path}`, expected]);
              r = await get();
              expect(r.body).toBe(r.body);
              let streamed = '';
              const decoder = new TextDecoder();
              for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) streamed += decoder.decode(chunk, { stream: true });
              expect([streamed, r.bodyUsed]).toEqual([expected, true]);
              expect(await r.arrayBuffer().catch((e: unknown) => e)).toBeInstanceOf(TypeError);
              r = await get();
              const reader = (r.body as ReadableStream<Uint8Array>).getReader();
              expect(await r.text().catch((e: unknown) => e)).toBeInstanceOf(TypeError);
              reader.releaseLock();
              expect(await r.text()).toBe(expected);
              r = await get();
              void r.body;
              expect(new TextDecoder().decode(await r.arrayBuffer())).toBe(expected);
              expect((await (await get()).blob()).size).toBe(expected.length);
              expect(await new Response((await get()).body).text()).toBe(expected);
            }
            const json = await fetch(`${peer.url}/json`);
            expect([json.headers.get('content-type'), await json.json()]).toEqual(['application/json', { a: [1, 2] }]);
            expect((await (await fetch(`${peer.url}/json`)).blob()).type).toBe('application/json');
            expect(await (await fetch(`${peer.url}/json`)).json().then(() => 'parsed')).toBe('parsed');
            expect(await (await fetch(`${peer.url}/bom`)).text()).toBe('h\u00e9');
            const empty = await fetch(`${peer.url}/empty`);
            expect([empty.body === null, await empty.text()]).toEqual([false, '']);
            const bad = await fetch(`${peer.url}/bom`);
            expect(await bad.json().catch((e: unknown) => e)).toBeInstanceOf(SyntaxError);
          }),
      );
    });

    it('fetch: redirects followed by default (303 POST becomes GET, Authorization dropped across origins), manual and error modes', async () => {
      await withPeer(peerHandler, async (other) => {
        await withPeer(
          (req, res) => {
            if (req.url === '/303') res.writeHead(303, { Location: '/echo' }).end();
            else if (req.url === '/away') res.writeHead(302, { Location: `${other.url}/echo` }).end();
            else peerHandler(req, res);
          },
          (peer) =>
            withAgent(async (agent) => {
              const fetch = fetchOn(agent);
              const followed = await fetch(`${peer.url}/303`, { method: 'POST', body: 'data', headers: { Authorization: 'same origin' } });
              expect(followed.redirected).toBe(true);
              expect(followed.url).toBe(`${peer.url}/echo`);
              const seen = (await followed.json()) as { method: string; headers: Record<string, string> };
              expect(seen.method).toBe('GET');
              expect(seen.headers.authorization).toBe('same origin');
              const away = (await (await fetch(`${peer.url}/away`, { headers: { Authorization: 'secret' } })).json()) as { headers: Record<string, string> };
              expect(away.headers.authorization).toBeUndefined();
              const manual = await fetch(`${peer.url}/303`, { redirect: 'manual' });
              expect([manual.status, manual.headers.get('location')]).toEqual([303, '/echo']);
              await manual.arrayBuffer();
              const refused = await fetch(`${peer.url}/303`, { redirect: 'error' }).catch((e: unknown) => e);
              expect(refused).toBeInstanceOf(TypeError);
              expect((refused as TypeError).cause).toBeInstanceOf(RedirectError);
            }),
        );
      });
    });

    it('fetch: bodies (URLSearchParams, a ReadableStream), an abort mid-body, a network error as TypeError', async () => {
      await withPeer(
        (req, res) => {
          if (req.url === '/slow') {
            res.write('first');
            return;
          }
          peerHandler(req, res);
        },
        (peer) =>
          withAgent(async (agent) => {
            const fetch = fetchOn(agent);
            const form = (await (await fetch(`${peer.url}/echo`, { method: 'POST', body: new URLSearchParams({ a: '1', b: 'two' }) })).json()) as { length: number; headers: Record<string, string> };
            expect(form.length).toBe('a=1&b=two'.length);
            expect(form.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8');
            const stream = new ReadableStream<Uint8Array>({
              start(controller) {
                for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(`piece ${i} `));
                controller.close();
              },
            });
            const streamed = (await (await fetch(`${peer.url}/echo`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit)).json()) as { length: number };
            expect(streamed.length).toBe(Array.from({ length: 10 }, (_, i) => `piece ${i} `).join('').length);
            const controller = new AbortController();
            const slow = await fetch(`${peer.url}/slow`, { signal: controller.signal });
            const reader = (slow.body as ReadableStream<Uint8Array>).getReader();
            expect(new TextDecoder().decode((await reader.read()).value)).toBe('first');
            const pending = reader.read().catch((e: unknown) => e);
            controller.abort();
            expect(((await pending) as Error).name).toBe('AbortError');
            const refused = await fetch('http://127.0.0.1:1/').catch((e: unknown) => e);
            expect(refused).toBeInstanceOf(TypeError);
            expect((refused as TypeError).cause).toBeInstanceOf(ConnectionError);
            // data: URLs need no connection, as with the platform's fetch.
            const data = await fetch('data:text/plain;charset=utf-8,h%C3%A9llo');
            expect([data.status, data.headers.get('content-type'), await data.text()]).toEqual([200, 'text/plain;charset=utf-8', 'héllo']);
          }),
      );
    });

    if (harness.capabilities.tls) {
      it('https with a self-signed certificate: trusted through `tls.ca`, refused without it', async () => {
        const certs = makeTestCertificates();
        const server = https.createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) => res.end(`secure ${req.url}`));
        const peer = await track(server, (port) => `https://localhost:${port}`);
        try {
          await withAgent(async (agent) => {
            const response = await agent.request(`https://localhost:${peer.port}/x`, { tls: { ca: certs.ca } });
            expect(await response.body.text()).toBe('secure /x');
            expect(await (await agent.request(`https://localhost:${peer.port}/y`, { tls: { ca: certs.ca } })).body.text()).toBe('secure /y');
            expect(peer.connections).toBe(1);
            expect(await agent.request(`https://localhost:${peer.port}/`).catch((e: unknown) => e)).toBeInstanceOf(ConnectionError);
          });
        } finally {
          await peer.close();
        }
      });

      it('a proxy: http:// in absolute form with its credentials, https:// through a CONNECT tunnel; a refused tunnel is ERR_PROXY_TUNNEL', async () => {
        const certs = makeTestCertificates();
        const origin = await track(https.createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) => res.end(`secure ${req.url}`)), (port) => `https://localhost:${port}`);
        const plain = await nodeHttpServer(peerHandler);
        const proxy = await startProxy(`Basic ${Buffer.from('user:pw').toString('base64')}`);
        const proxyUrl = `http://user:pw@127.0.0.1:${proxy.port}`;
        try {
          await withAgent(async (agent) => {
            expect(await (await agent.request(`${plain.url}/hello`, { proxy: proxyUrl })).body.text()).toBe('hello');
            expect(await (await agent.request(`${plain.url}/hello`, { proxy: proxyUrl })).body.text()).toBe('hello');
            expect(proxy.seen).toEqual([`GET ${plain.url}/hello`, `GET ${plain.url}/hello`]);
            const refused = await agent.request(`${plain.url}/hello`, { proxy: `http://127.0.0.1:${proxy.port}` });
            expect(refused.status).toBe(407);
            await refused.body.dump();
            for (const path of ['/x', '/y']) expect(await (await agent.request(`${origin.url}${path}`, { proxy: proxyUrl, tls: { ca: certs.ca } })).body.text()).toBe(`secure ${path}`);
            expect(proxy.seen.filter((line) => line.startsWith('CONNECT'))).toEqual([`CONNECT localhost:${origin.port}`]);
            expect(origin.connections).toBe(1);
            const tunnel = await agent.request(`${origin.url}/`, { proxy: `http://127.0.0.1:${proxy.port}`, tls: { ca: certs.ca } }).catch((e: unknown) => e);
            expect(tunnel).toBeInstanceOf(ConnectionError);
            expect((tunnel as ConnectionError).code).toBe('ERR_PROXY_TUNNEL');
          });
        } finally {
          await proxy.close();
          await plain.close();
          await origin.close();
        }
      });
    }

    if (harness.capabilities.unixSockets) {
      it('a unix socket through `socketPath`', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'curio-http-client-'));
        const socketPath = path.join(dir, 'http.sock');
        const server = http.createServer(peerHandler);
        await new Promise<void>((resolve) => server.listen(socketPath, resolve));
        try {
          await withAgent(async (agent) => {
            const response = await agent.request('http://localhost/hello', { socketPath });
            expect(await response.body.text()).toBe('hello');
            expect(await (await agent.request('http://localhost/hello', { socketPath })).body.text()).toBe('hello');
          });
        } finally {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
    it("pipelining against Node's http server: five requests arrive before the first is answered, the answers come back in order", async () => {
      // The server answers nothing until it has all five requests of one connection, and then
      // answers the last first: Node writes the responses in request order.
      const held: { path: string; res: http.ServerResponse }[] = [];
      await withPeer(
        (req, res) => {
          held.push({ path: req.url ?? '', res });
          if (held.length < 5) return;
          for (const { path: p, res: r } of held.splice(0).reverse()) r.end(`for ${p}`);
        },
        (peer) =>
          withAgent(
            async (agent) => {
              const paths = ['/1', '/2', '/3', '/4', '/5'];
              const texts = await Promise.all(paths.map(async (p) => (await agent.request(`${peer.url}${p}`, { headersTimeout: 10_000 })).body.text()));
              expect(texts).toEqual(paths.map((p) => `for ${p}`));
              expect(peer.connections).toBe(1);
            },
            { pipelining: 5, maxConnectionsPerOrigin: 1 },
          ),
      );
    });

    it('pipelining: a response with Connection: close ends the pipeline, the requests behind it are sent again on a new connection', async () => {
      let seen = 0;
      await withPeer(
        (req, res) => {
          seen++;
          if (req.url === '/2' && seen === 2) res.setHeader('Connection', 'close');
          res.end(`for ${req.url ?? ''}`);
        },
        (peer) =>
          withAgent(
            async (agent) => {
              const paths = ['/1', '/2', '/3', '/4', '/5'];
              const texts = await Promise.all(paths.map(async (p) => (await agent.request(`${peer.url}${p}`)).body.text()));
              expect(texts).toEqual(paths.map((p) => `for ${p}`));
              expect(peer.connections).toBe(2);
            },
            { pipelining: 5, maxConnectionsPerOrigin: 1 },
          ),
      );
    });

    it('pipelining: aborting a request in the middle of the pipeline closes the connection; the others are sent again and succeed', async () => {
      const held: http.ServerResponse[] = [];
      let first: net.Socket | null = null;
      await withPeer(
        (req, res) => {
          // The first connection answers nothing (its requests are all held); later ones at once.
          first ??= req.socket;
          if (req.socket === first) held.push(res);
          else res.end(`for ${req.url ?? ''}`);
        },
        (peer) =>
          withAgent(
            async (agent, runtime) => {
              const controller = new AbortController();
              const paths = ['/1', '/2', '/3', '/4', '/5'];
              const results = Promise.all(
                paths.map(async (p) => {
                  try {
                    return await (await agent.request(`${peer.url}${p}`, p === '/3' ? { signal: controller.signal } : {})).body.text();
                  } catch (error) {
                    return (error as Error).name;
                  }
                }),
              );
              expect(await until(runtime, () => held.length === 5)).toBe(true);
              controller.abort();
              expect(await results).toEqual(['for /1', 'for /2', 'AbortError', 'for /4', 'for /5']);
              expect(peer.connections).toBe(2);
            },
            { pipelining: 5, maxConnectionsPerOrigin: 1 },
          ),
      );
    });
    it('pipelining: nothing is pipelined behind a POST (a GET sent meanwhile takes another connection), and a POST is never pipelined', async () => {
      const held: http.ServerResponse[] = [];
      const sockets: string[] = [];
      await withPeer(
        (req, res) => {
          sockets.push(`${req.method} ${req.url} ${req.socket.remotePort}`);
          if (req.method === 'POST') held.push(res);
          else res.end(`for ${req.url ?? ''}`);
        },
        (peer) =>
          withAgent(
            async (agent, runtime) => {
              expect(await (await agent.request(`${peer.url}/warm`)).body.text()).toBe('for /warm');
              const posted = agent.request(`${peer.url}/post`, { method: 'POST', body: 'x' });
              expect(await until(runtime, () => held.length === 1)).toBe(true);
              // The POST's connection is busy and takes nothing behind it: the GET opens another.
              expect(await (await agent.request(`${peer.url}/get`)).body.text()).toBe('for /get');
              const second = agent.request(`${peer.url}/post2`, { method: 'POST', body: 'y' });
              expect(await until(runtime, () => held.length === 2)).toBe(true);
              for (const res of held) res.end('posted');
              expect(await (await posted).body.text()).toBe('posted');
              expect(await (await second).body.text()).toBe('posted');
              const port = (line: string | undefined): string => (line ?? '').split(' ')[2] as string;
              // /warm and the first POST share a connection; the GET is on another; the second POST not on the first POST's.
              expect(port(sockets[1])).toBe(port(sockets[0]));
              expect(port(sockets[2])).not.toBe(port(sockets[1]));
              expect(port(sockets[3])).not.toBe(port(sockets[1]));
            },
            { pipelining: 5, maxConnectionsPerOrigin: 3 },
          ),
      );
    });
  });
}
