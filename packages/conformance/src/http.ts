// conformance/http.ts
//
// The HTTP server conformance suite: the server of @curio-ts/client (written once on the
// Runtime interface) on each runtime with real sockets, against real clients: curl, Node's own
// http client, and raw sockets for what clients do not do on purpose (smuggling shapes, slow
// heads, disconnecting mid-request).

import { spawn as spawnChild } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { fetchHandler, serveHttp } from '@curio-ts/client';
import { Hono } from 'hono';
import { stream as honoStream } from 'hono/streaming';
import type { HttpHandler, HttpServer, HttpServerOptions, Runtime, ServerRequest } from '@curio-ts/client';
import { makeTestCertificates } from './certs.js';
import type { RuntimeHarness } from './runtime.js';
import type { TestApi } from './redis.js';

/** The test server's routes (the same as apps/http-echo's). */
export function echoHandler(onRequest?: (request: ServerRequest) => void): HttpHandler {
  return async (request) => {
    onRequest?.(request);
    if (request.path === '/' && request.method === 'GET') return { headers: [['Content-Type', 'text/plain']], body: 'hello' };
    if (request.path === '/echo' && request.method === 'POST') {
      return { headers: [['Content-Type', request.headers.get('content-type') ?? 'application/octet-stream']], body: request.body };
    }
    if (request.path === '/stream') {
      const n = Number(new URLSearchParams(request.query).get('n') ?? '3');
      return {
        headers: [['Content-Type', 'text/plain']],
        body: (async function* () {
          for (let i = 0; i < n; i++) yield `chunk ${i}\n`;
        })(),
      };
    }
    if (request.path === '/throw') throw new Error('handler failed');
    return { status: 404, body: 'not found' };
  };
}

/** Run curl with `args`; its stdout (latin1). */
export function curl(args: readonly string[], input?: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnChild('curl', ['-sS', '--max-time', '20', ...args]);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('latin1')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (error) => reject(new Error(`curl could not run (apt-get install curl): ${error.message}`)));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`curl ${args.join(' ')}: exit ${code}: ${err}`))));
    child.stdin.end(input);
  });
}

/** Send raw bytes on a new connection; everything received until the server closes (or `ms`). */
export function rawExchange(port: number, bytes: string | Uint8Array, ms = 5000, endAfterWrite = false): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(bytes);
    if (endAfterWrite) socket.end();
  });
}

function portOf(server: HttpServer): number {
  const address = server.address;
  if (!('port' in address)) throw new Error('not a TCP server');
  return address.port;
}

/** The HTTP server conformance suite on `harness`'s runtime. */
export function httpServerConformance(harness: RuntimeHarness, t: TestApi): void {
  const { describe, it, expect } = t;
  const withServer = (handler: HttpHandler, body: (port: number, server: HttpServer, runtime: Runtime) => Promise<void>, options: HttpServerOptions = {}): Promise<void> =>
    harness.run(async (runtime) => {
      const server = await serveHttp(runtime, handler, options);
      try {
        await body(portOf(server), server, runtime);
      } finally {
        await server.closeNow();
      }
    });

  describe(`HTTP server on the ${harness.name} runtime`, () => {
    it('curl: GET, HTTP/1.0, 404, keep-alive over one connection', async () => {
      await withServer(echoHandler(), async (port, server) => {
        const base = `http://127.0.0.1:${port}`;
        expect(await curl([`${base}/`])).toBe('hello');
        expect(await curl(['--http1.0', `${base}/`])).toBe('hello');
        expect(await curl(['-o', '/dev/null', '-w', '%{http_code}', `${base}/nope`])).toBe('404');
        expect(await curl(['-w', '|%{num_connects}\\n', `${base}/`, `${base}/`, `${base}/`])).toBe('hello|1\nhello|0\nhello|0\n');
        expect(server.connections).toBeLessThanOrEqual(1);
      });
    });

    it('curl: a 1 MB chunked upload echoed back streamed, and Expect: 100-continue', async () => {
      await withServer(echoHandler(), async (port) => {
        const payload = new Uint8Array(1024 * 1024).map((_, i) => 97 + (i % 26));
        const echoed = await curl(['-H', 'Transfer-Encoding: chunked', '-H', 'Content-Type: application/x-test', '--data-binary', '@-', `http://127.0.0.1:${port}/echo`], payload);
        expect(echoed.length).toBe(payload.length);
        expect(echoed === Buffer.from(payload).toString('latin1')).toBe(true);
        const continued = await curl(['-H', 'Expect: 100-continue', '--expect100-timeout', '10', '--data-binary', '@-', `http://127.0.0.1:${port}/echo`], Buffer.from('after continue'));
        expect(continued).toBe('after continue');
      });
    });

    it('a streamed response arrives chunked, in order', async () => {
      await withServer(echoHandler(), async (port) => {
        const out = await curl(['-i', `http://127.0.0.1:${port}/stream?n=5`]);
        expect(out).toMatch(/transfer-encoding: chunked/i);
        expect(out.endsWith('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n')).toBe(true);
      });
    });

    it("Node's http client, keep-alive agent, 200 requests on 4 sockets", async () => {
      await withServer(echoHandler(), async (port) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
        const one = (i: number): Promise<[number, string]> =>
          new Promise((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port, path: i % 2 === 0 ? '/' : '/echo', method: i % 2 === 0 ? 'GET' : 'POST', agent }, (res) => {
              let text = '';
              res.setEncoding('latin1');
              res.on('data', (c: string) => (text += c));
              res.on('end', () => resolve([res.statusCode ?? 0, text]));
            });
            req.on('error', reject);
            req.end(i % 2 === 0 ? undefined : `body ${i}`);
          });
        const results = await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
        results.forEach(([status, text], i) => {
          expect(status).toBe(200);
          expect(text).toBe(i % 2 === 0 ? 'hello' : `body ${i}`);
        });
        agent.destroy();
      });
    });

    it('a handler that throws gives one 500 and the connection goes on', async () => {
      const errors: unknown[] = [];
      await withServer(
        echoHandler(),
        async (port) => {
          const out = await curl(['-w', '|%{http_code}|%{num_connects}\\n', `http://127.0.0.1:${port}/throw`, `http://127.0.0.1:${port}/`]);
          expect(out).toBe('Internal Server Error|500|1\nhello|200|0\n');
          expect(errors).toHaveLength(1);
        },
        { onError: (error) => errors.push(error) },
      );
    });

    it('smuggling shapes get their status and the connection is closed; nothing behind them is served', async () => {
      await withServer(echoHandler(), async (port) => {
        const smuggled = await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n');
        expect(smuggled).toMatch(/^HTTP\/1.1 400 /);
        expect(smuggled).not.toContain('hello');
        expect(await rawExchange(port, 'GET / HTTP/1.1\r\n\r\n')).toMatch(/^HTTP\/1.1 400 /);
        expect(await rawExchange(port, `GET /${'a'.repeat(10000)} HTTP/1.1\r\nHost: h\r\n\r\n`)).toMatch(/^HTTP\/1.1 414 /);
        expect(await rawExchange(port, `GET / HTTP/1.1\r\nHost: h\r\nX: ${'v'.repeat(20000)}\r\n\r\n`)).toMatch(/^HTTP\/1.1 431 /);
        expect(await rawExchange(port, 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n')).toMatch(/^HTTP\/1.1 501 /);
      });
    });

    it('pipelined requests are answered in order', async () => {
      await withServer(echoHandler(), async (port) => {
        const out = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
        const statuses = [...out.matchAll(/HTTP\/1.1 (\d+)/g)].map((m) => m[1]);
        expect(statuses).toEqual(['200', '200', '404']);
        expect(out).toContain('hello');
        expect(out).toContain('\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      });
    });

    it('the body size limit: 413', async () => {
      await withServer(
        echoHandler(),
        async (port) => {
          expect(await rawExchange(port, `POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n${'x'.repeat(2000)}`)).toMatch(/^HTTP\/1.1 413 /);
        },
        { maxBodyBytes: 1000 },
      );
    });

    it('a head that does not arrive in time: 408 and close; an idle kept-alive connection is closed', async () => {
      await withServer(
        echoHandler(),
        async (port) => {
          const started = Date.now();
          const slow = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: h\r\n', 10_000);
          expect(slow).toMatch(/^HTTP\/1.1 408 /);
          expect(Date.now() - started).toBeLessThan(5000);
          const idle = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n', 10_000);
          expect(idle).toContain('hello');
          expect(Date.now() - started).toBeLessThan(8000);
        },
        { headersTimeout: 300, idleTimeout: 300 },
      );
    });

    it("a client that disconnects aborts the request's signal", async () => {
      let aborted: () => void = () => {};
      const sawAbort = new Promise<void>((resolve) => (aborted = resolve));
      const handler: HttpHandler = async (request) => {
        await new Promise<void>((resolve) => {
          request.signal.addEventListener('abort', () => {
            aborted();
            resolve();
          });
        });
        return { body: 'too late' };
      };
      await withServer(handler, async (port) => {
        await rawExchange(port, 'GET /wait HTTP/1.1\r\nHost: h\r\n\r\n', 200);
        await sawAbort;
      });
    });

    it('a Hono app runs unchanged: routes with parameters, middleware, JSON and form bodies, a streamed response', async () => {
      const app = new Hono();
      const seen: string[] = [];
      app.use('*', async (c, next) => {
        seen.push(`${c.req.method} ${c.req.path}`);
        await next();
        c.header('X-Middleware', 'yes');
      });
      app.get('/users/:id/posts/:post', (c) => c.json({ id: c.req.param('id'), post: Number(c.req.param('post')), q: c.req.query('q') ?? null }));
      app.post('/json', async (c) => {
        const body = (await c.req.json()) as { n: number };
        return c.json({ doubled: body.n * 2 }, 201);
      });
      app.post('/form', async (c) => {
        const form = await c.req.parseBody();
        return c.text(`name=${String(form['name'])} age=${String(form['age'])}`);
      });
      app.get('/stream', (c) =>
        honoStream(c, async (s) => {
          for (let i = 0; i < 3; i++) await s.write(`part ${i};`);
        }),
      );
      app.get('/cookies', (c) => {
        c.header('Set-Cookie', 'a=1; Path=/', { append: true });
        c.header('Set-Cookie', 'b=2; Path=/', { append: true });
        return c.text('ok');
      });
      await withServer(fetchHandler(app.fetch), async (port) => {
        const base = `http://127.0.0.1:${port}`;
        const user = await curl(['-i', `${base}/users/42/posts/7?q=x`]);
        expect(user).toMatch(/^HTTP\/1.1 200 /);
        expect(user).toMatch(/x-middleware: yes/i);
        expect(user).toMatch(/content-type: application\/json/i);
        expect(JSON.parse(user.slice(user.indexOf('\r\n\r\n') + 4))).toEqual({ id: '42', post: 7, q: 'x' });
        expect(await curl(['-w', '|%{http_code}', '-H', 'Content-Type: application/json', '--data-binary', '{"n":21}', `${base}/json`])).toBe('{"doubled":42}|201');
        expect(await curl(['--data-urlencode', 'name=Ada Lovelace', '--data', 'age=36', `${base}/form`])).toBe('name=Ada Lovelace age=36');
        expect(await curl([`${base}/stream`])).toBe('part 0;part 1;part 2;');
        const cookies = await curl(['-i', `${base}/cookies`]);
        expect(cookies.match(/set-cookie: [ab]=\d; Path=\//gi)).toHaveLength(2);
        expect(await curl(['-o', '/dev/null', '-w', '%{http_code}', `${base}/missing`])).toBe('404');
        expect(seen).toContain('GET /users/42/posts/7');
      });
    });

    if (harness.capabilities.tls) {
      it('https: curl and node:https against a TLS listener, keep-alive included', async () => {
        const certs = makeTestCertificates();
        try {
          await harness.run(async (runtime) => {
            const server = await serveHttp(runtime, fetchHandler((request) => new Response(`secure ${new URL(request.url).protocol}`), { scheme: 'https' }), {
              listen: { host: '127.0.0.1', port: 0, tls: { cert: certs.serverCert, key: certs.serverKey } },
            });
            try {
              const port = portOf(server);
              const out = await curl(['--cacert', `${certs.dir}/ca.crt`, '-w', '|%{num_connects}\\n', `https://127.0.0.1:${port}/`, `https://127.0.0.1:${port}/`]);
              expect(out).toBe('secure https:|1\nsecure https:|0\n');
              await expect(curl([`https://127.0.0.1:${port}/`])).rejects.toThrow();
            } finally {
              await server.closeNow();
            }
          });
        } finally {
          certs.remove();
        }
      });
    }

    if (harness.capabilities.cancelsAwaits) {
      it("a client that disconnects cancels the handler's task at its await", async () => {
        let interrupted: (how: string) => void = () => {};
        const outcome = new Promise<string>((resolve) => (interrupted = resolve));
        await harness.run(async (runtime) => {
          const handler: HttpHandler = async () => {
            try {
              await runtime.sleep(60_000); // ignores the signal: only the task's cancellation ends it
              interrupted('slept to the end');
            } catch (error) {
              interrupted(`interrupted: ${(error as Error).name}`);
              throw error;
            }
            return { body: 'too late' };
          };
          const server = await serveHttp(runtime, handler);
          try {
            const started = Date.now();
            await rawExchange(portOf(server), 'GET /sleep HTTP/1.1\r\nHost: h\r\n\r\n', 200);
            expect(await outcome).toMatch(/^interrupted: /);
            expect(Date.now() - started).toBeLessThan(10_000);
          } finally {
            await server.closeNow();
          }
        });
      });
    }

    it('graceful close lets the request in flight end, then refuses new connections', async () => {
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered: () => void = () => {};
      const inHandler = new Promise<void>((resolve) => (entered = resolve));
      const handler: HttpHandler = async () => {
        entered();
        await gate;
        return { body: 'finished' };
      };
      await harness.run(async (runtime) => {
        const server = await serveHttp(runtime, handler);
        const port = portOf(server);
        const response = curl(['-i', `http://127.0.0.1:${port}/`]);
        await inHandler;
        const closing = server.close();
        release();
        const out = await response;
        expect(out).toMatch(/^HTTP\/1.1 200 /);
        expect(out).toMatch(/connection: close/i);
        expect(out.endsWith('finished')).toBe(true);
        await closing;
        expect(server.connections).toBe(0);
        await expect(curl([`http://127.0.0.1:${port}/`])).rejects.toThrow();
      });
    });

    it('an upgrade hands the connection over with the bytes that followed the request', async () => {
      const handler: HttpHandler = (request) => {
        if (request.headers.get('upgrade') !== 'echo') return { status: 426, body: 'upgrade required' };
        return {
          status: 101,
          headers: [['Upgrade', 'echo'], ['Connection', 'Upgrade']],
          async upgrade(stream, head) {
            if (head.length > 0) await stream.write(head);
            for (;;) {
              const chunk = await stream.read();
              if (chunk === null || chunk.length === 0) break;
              await stream.write(chunk);
            }
            stream.close();
          },
        };
      };
      await withServer(handler, async (port) => {
        const out = await new Promise<string>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          let text = '';
          socket.on('data', (c: Buffer) => {
            text += c.toString('latin1');
            if (text.includes('\r\n\r\nearly') && !text.includes('late')) socket.write('late');
            if (text.endsWith('late')) socket.end();
          });
          socket.on('close', () => resolve(text));
          socket.write('GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly');
        });
        expect(out).toMatch(/^HTTP\/1.1 101 /);
        expect(out.endsWith('\r\n\r\nearlylate')).toBe(true);
      });
    });
  });
}
