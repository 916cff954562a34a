// conformance/http-handlers.ts
//
// The HTTP server against handlers written the way JavaScript allows: answers of every shape
// (undefined, a thenable, a number as a header value, a Headers or a Map of headers, bodies of
// every kind), failures of every shape (a rejection with null, a string, a malformed status, a
// header that would inject another), on both handler styles. What a user may count on:
// - a handler whose answer cannot be sent gets one 500 and `onError` with a TypeError (or the
//   LocalProtocolError) that says what was wrong, and the connection serves its next request;
// - headers given in any of the forms JavaScript has for them are all sent, none dropped;
// - bodies a handler keeps stay intact while the connection goes on reading.
// Clients: raw sockets with pipelined requests (two answers on one connection show that it
// stayed sane) and Node's global fetch.

import * as net from 'node:net';
import { fetchHandler, serveHttp } from '@curio-ts/client';
import type { HttpHandler, HttpServer, HttpServerOptions, Runtime, ServerRequest } from '@curio-ts/client';
import type { RuntimeHarness } from './runtime.js';
import type { TestApi } from './redis.js';

/** One parsed response of a raw exchange. */
interface RawResponse {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

/** Send `requests` in one write on one connection; the responses, parsed (Content-Length or chunked), once `count` arrived or the server closed. */
function pipelined(port: number, requests: string, count: number, ms = 5000): Promise<{ responses: RawResponse[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses: parseResponses(text), closed });
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (parseResponses(text).length >= count) finish();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.write(requests);
  });
}

/** The complete responses at the start of `text`. */
function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return out;
    const lines = text.slice(at, headEnd).split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    const headers = lines.slice(1).map((line): [string, string] => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
    const field = (name: string): string | undefined => headers.find(([n]) => n === name)?.[1];
    let bodyStart = headEnd + 4;
    let body = '';
    const length = field('content-length');
    if (length !== undefined) {
      if (text.length < bodyStart + Number(length)) return out;
      body = text.slice(bodyStart, bodyStart + Number(length));
      at = bodyStart + Number(length);
    } else if (field('transfer-encoding') === 'chunked') {
      for (;;) {
        const lineEnd = text.indexOf('\r\n', bodyStart);
        if (lineEnd < 0) return out;
        const size = parseInt(text.slice(bodyStart, lineEnd), 16);
        if (text.length < lineEnd + 2 + size + 2) return out;
        if (size === 0) {
          at = lineEnd + 4;
          break;
        }
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        bodyStart = lineEnd + 2 + size + 2;
      }
    } else if (status === 204 || status === 304 || status < 200) {
      at = bodyStart;
    } else {
      return out; // close-delimited: not used by these cases
    }
    out.push({ status, headers, body });
  }
}

const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`;

/** The handler-shape suite on `harness`'s runtime. */
export function httpHandlerConformance(harness: RuntimeHarness, t: TestApi): void {
  const { describe, it, expect } = t;
  const withServer = (handler: HttpHandler, body: (port: number, errors: unknown[], server: HttpServer, runtime: Runtime) => Promise<void>, options: HttpServerOptions = {}): Promise<void> =>
    harness.run(async (runtime) => {
      const errors: unknown[] = [];
      const server = await serveHttp(runtime, handler, { ...options, onError: (error) => errors.push(error) });
      try {
        const address = server.address;
        if (!('port' in address)) throw new Error('not a TCP server');
        await body(address.port, errors, server, runtime);
      } finally {
        await server.closeNow();
      }
    });

  /** A lean handler answering `answer()` on /bad and 'ok' elsewhere. */
  const leanWith = (answer: (request: ServerRequest) => unknown): HttpHandler =>
    ((request: ServerRequest) => (request.path === '/bad' ? answer(request) : { body: 'ok' })) as HttpHandler;

  /** /bad then / on one connection: one 500, then 'ok' on the same connection; onError got one error matching `pattern`. */
  async function expect500ThenOk(port: number, errors: unknown[], pattern: RegExp): Promise<void> {
    const { responses, closed } = await pipelined(port, GET('/bad') + GET('/'), 2);
    expect(responses.map((r) => r.status)).toEqual([500, 200]);
    expect(responses[1]?.body).toBe('ok');
    expect(closed).toBe(false);
    expect(errors.length).toBe(1);
    const error = errors[0];
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    expect(message).toMatch(pattern);
  }

  describe(`HTTP handlers of every shape on the ${harness.name} runtime`, () => {
    const answers: [string, () => unknown, RegExp][] = [
      ['undefined', () => undefined, /TypeError: .*handler.*undefined/i],
      ['null', () => null, /TypeError: .*handler.*null/i],
      ['a string', () => 'ok', /TypeError: .*handler.*string/i],
      ['a number', () => 42, /TypeError: .*handler.*number/i],
      ['a Promise of undefined', async () => undefined, /TypeError: .*handler.*undefined/i],
      ['a status that is a string', () => ({ status: '201', body: 'x' }), /status/i],
      ['a status out of range', () => ({ status: 42, body: 'x' }), /status/i],
      ['a status that is not an integer', () => ({ status: 200.5, body: 'x' }), /status/i],
      ['a header value with CR LF (header injection)', () => ({ headers: { 'x-a': 'v\r\nSet-Cookie: evil=1' }, body: 'x' }), /CR|LF/],
      ['a header name with a space', () => ({ headers: [['x a', 'v']], body: 'x' }), /field name/i],
      ['a header value that is an object', () => ({ headers: { 'x-a': { no: 1 } }, body: 'x' }), /TypeError: .*x-a/i],
      ['a header pair that is not a pair', () => ({ headers: [['x-a']], body: 'x' }), /TypeError: .*pair/i],
      ['a Content-Length that is not the body length', () => ({ headers: { 'content-length': '10' }, body: 'short' }), /Content-Length/],
      ['a body that is a plain object', () => ({ body: { a: 1 } }), /TypeError: .*body/i],
      ['a body that is a number', () => ({ body: 42 }), /TypeError: .*body/i],
      ['conflicting framing headers', () => ({ headers: { 'content-length': '1', 'transfer-encoding': 'chunked' }, body: 'x' }), /Content-Length|Transfer-Encoding/i],
    ];
    for (const [name, answer, pattern] of answers) {
      it(`a lean handler answering ${name}: one 500, onError says why, the connection goes on`, async () => {
        await withServer(leanWith(answer), (port, errors) => expect500ThenOk(port, errors, pattern));
      });
    }

    const rejections: [string, unknown][] = [
      ['null', null],
      ['undefined', undefined],
      ['a string', 'just a string'],
      ['an Error', new Error('boom')],
    ];
    for (const [name, reason] of rejections) {
      it(`a lean handler rejecting with ${name}: one 500, onError gets the reason as it was thrown`, async () => {
        await withServer(leanWith(() => Promise.reject(reason)), async (port, errors) => {
          const { responses, closed } = await pipelined(port, GET('/bad') + GET('/'), 2);
          expect(responses.map((r) => r.status)).toEqual([500, 200]);
          expect(closed).toBe(false);
          expect(errors).toEqual([reason]);
        });
      });
    }

    it('a lean handler answering a thenable, a number header value, and multi-valued headers', async () => {
      await withServer(
        leanWith(() => ({
          then(resolve: (value: unknown) => void) {
            resolve({ headers: { 'x-count': 3, 'set-cookie': ['a=1', 'b=2'] }, body: 'thenable' });
          },
        })),
        async (port, errors) => {
          const { responses } = await pipelined(port, GET('/bad'), 1);
          const response = responses[0] as RawResponse;
          expect(response.status).toBe(200);
          expect(response.body).toBe('thenable');
          expect(response.headers.filter(([n]) => n === 'x-count')).toEqual([['x-count', '3']]);
          expect(response.headers.filter(([n]) => n === 'set-cookie')).toEqual([
            ['set-cookie', 'a=1'],
            ['set-cookie', 'b=2'],
          ]);
          expect(errors).toEqual([]);
        },
      );
    });

    it('headers given as a Headers, a Map, pairs or a record are all sent', async () => {
      const forms: Record<string, unknown> = {
        '/headers': new Headers([
          ['x-one', '1'],
          ['x-two', '2'],
        ]),
        '/map': new Map([
          ['x-one', '1'],
          ['x-two', '2'],
        ]),
        '/pairs': [
          ['x-one', '1'],
          ['x-two', '2'],
        ],
        '/record': { 'x-one': '1', 'x-two': '2' },
      };
      await withServer(((request: ServerRequest) => ({ headers: forms[request.path], body: request.path })) as HttpHandler, async (port, errors) => {
        const paths = Object.keys(forms);
        const { responses } = await pipelined(port, paths.map(GET).join(''), paths.length);
        expect(responses.map((r) => r.body)).toEqual(paths);
        for (const response of responses) {
          expect(response.headers.filter(([n]) => n.startsWith('x-'))).toEqual([
            ['x-one', '1'],
            ['x-two', '2'],
          ]);
        }
        expect(errors).toEqual([]);
      });
    });

    it('bodies of every kind: string, Uint8Array, Buffer, ArrayBuffer, DataView, Blob, sync and async iterables, a ReadableStream, null', async () => {
      const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
      const bodies: Record<string, () => unknown> = {
        '/string': () => 'héllo',
        '/uint8array': () => bytes('héllo'),
        '/buffer': () => Buffer.from('héllo'),
        '/subarray': () => bytes('xxhéllo').subarray(2),
        '/arraybuffer': () => bytes('héllo').buffer,
        '/dataview': () => new DataView(bytes('héllo').buffer),
        '/blob': () => new Blob(['hé', 'llo']),
        '/sync-iterable': () => ['hé', bytes('llo')],
        '/async-iterable': () =>
          (async function* () {
            yield 'hé';
            yield bytes('llo');
          })(),
        '/readable-stream': () =>
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(bytes('hé'));
              controller.enqueue(bytes('llo'));
              controller.close();
            },
          }),
      };
      await withServer(((request: ServerRequest) => ({ body: bodies[request.path]?.() ?? null })) as HttpHandler, async (port, errors) => {
        for (const path of Object.keys(bodies)) {
          const response = await fetch(`http://127.0.0.1:${port}${path}`);
          expect([path, response.status, await response.text()]).toEqual([path, 200, 'héllo']);
        }
        const empty = await fetch(`http://127.0.0.1:${port}/none`);
        expect([empty.status, await empty.text(), empty.headers.get('content-length')]).toEqual([200, '', '0']);
        expect(errors).toEqual([]);
      });
    });

    it('a streamed body that fails after its head: the connection closes, onError gets the error, the server serves on', async () => {
      await withServer(
        leanWith(() => ({
          body: (async function* () {
            yield 'part';
            throw new Error('the source broke');
          })(),
        })),
        async (port, errors) => {
          const { closed } = await pipelined(port, GET('/bad') + GET('/'), 2, 3000);
          expect(closed).toBe(true);
          expect(errors.map((e) => (e as Error).message)).toEqual(['the source broke']);
          const { responses } = await pipelined(port, GET('/'), 1);
          expect(responses.map((r) => [r.status, r.body])).toEqual([[200, 'ok']]);
        },
      );
    });

    it("a streamed body's source still running: the client leaving aborts request.signal, the source ends, so does closeNow", async () => {
      const seen: string[] = [];
      const source = (request: ServerRequest): AsyncIterable<string> =>
        (async function* () {
          try {
            yield 'first';
            await new Promise<void>((resolve) => {
              if (request.signal.aborted) resolve();
              else request.signal.addEventListener('abort', () => resolve(), { once: true });
            });
            seen.push(`aborted: ${request.signal.aborted}`);
          } finally {
            seen.push('source ended');
          }
        })();
      await withServer(((request: ServerRequest) => ({ body: source(request) })) as HttpHandler, async (port, errors, server) => {
        // A client that reads the first chunk and leaves.
        await new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('data', (chunk: Buffer) => {
            if (chunk.toString('latin1').includes('first')) socket.destroy();
          });
          socket.on('close', () => resolve());
          socket.write(GET('/'));
        });
        for (let i = 0; i < 200 && (seen.length < 2 || server.connections > 0); i++) await new Promise((r) => setTimeout(r, 10));
        expect(seen).toEqual(['aborted: true', 'source ended']);
        expect(server.connections).toBe(0);
        expect(errors).toEqual([]);
        // closeNow while a source waits on the signal: it ends too, and closeNow resolves.
        seen.length = 0;
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', () => {});
        const first = new Promise<void>((resolve) => socket.on('data', () => resolve()));
        socket.write(GET('/'));
        await first;
        await server.closeNow();
        socket.destroy();
        expect(seen).toEqual(['aborted: true', 'source ended']);
      });
    });

    it('bodies a handler keeps stay intact while the connection reads on (no view into a reused buffer)', async () => {
      const kept: Uint8Array[] = [];
      await withServer(
        (async (request: ServerRequest) => {
          if (request.method === 'POST') kept.push(await request.body.bytes());
          return { body: String(kept.length) };
        }) as HttpHandler,
        async (port) => {
          const posts = Array.from({ length: 50 }, (_, i) => {
            const body = String.fromCharCode(65 + (i % 26)).repeat(100 + i * 37);
            return `POST /keep HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
          });
          const { responses } = await pipelined(port, posts.join(''), posts.length);
          expect(responses.length).toBe(50);
          // More traffic on other connections after the bodies were taken.
          await Promise.all(Array.from({ length: 10 }, () => fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'z'.repeat(5000) }).then((r) => r.text())));
          kept.slice(0, 50).forEach((body, i) => {
            expect(Buffer.from(body).toString('latin1')).toBe(String.fromCharCode(65 + (i % 26)).repeat(100 + i * 37));
          });
        },
      );
    });

    describe('the web-standard style', () => {
      const webWith = (answer: (request: Request) => unknown): HttpHandler =>
        fetchHandler(((request: Request) => (new URL(request.url).pathname === '/bad' ? answer(request) : new Response('ok'))) as (request: Request) => Response);
      const webAnswers: [string, () => unknown, RegExp][] = [
        ['undefined', () => undefined, /TypeError: the fetch handler answered undefined, not a Response/],
        ['a plain object', () => ({ status: 200, body: 'x' }), /TypeError: the fetch handler answered a plain object, not a Response/],
        ['a string', () => 'ok', /TypeError: the fetch handler answered a string .*, not a Response/],
        ['Response.error()', () => Response.error(), /TypeError: .*network error/i],
      ];
      for (const [name, answer, pattern] of webAnswers) {
        it(`a fetch handler answering ${name}: one 500, onError says why, the connection goes on`, async () => {
          await withServer(webWith(answer), (port, errors) => expect500ThenOk(port, errors, pattern));
        });
      }

      it('a fetch handler rejecting with null: one 500, onError gets null', async () => {
        await withServer(webWith(() => Promise.reject(null)), async (port, errors) => {
          const { responses } = await pipelined(port, GET('/bad') + GET('/'), 2);
          expect(responses.map((r) => r.status)).toEqual([500, 200]);
          expect(errors).toEqual([null]);
        });
      });

      it('a Response with several Set-Cookie headers sends each one', async () => {
        await withServer(
          webWith(() => {
            const headers = new Headers();
            headers.append('set-cookie', 'a=1');
            headers.append('set-cookie', 'b=2');
            return new Response('c', { headers });
          }),
          async (port) => {
            const { responses } = await pipelined(port, GET('/bad'), 1);
            expect(responses[0]?.headers.filter(([n]) => n === 'set-cookie')).toEqual([
              ['set-cookie', 'a=1'],
              ['set-cookie', 'b=2'],
            ]);
          },
        );
      });
    });
  });
}
