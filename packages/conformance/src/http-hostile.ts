// conformance/http-hostile.ts
//
// Hostile clients against the HTTP server of @curio-ts/client, on each runtime, over raw
// node:net sockets: request-smuggling shapes, slowloris, header floods, 10 000 pipelined
// requests, a client that never reads its responses, a client that goes away mid-body, and a
// flood of idle connections. Every case checks the status and that the server closed the
// connection (not our timeout), and then that a normal request on a fresh connection is still
// served. http.ts holds the friendly cases (and the first smuggling shapes); this file extends
// them without repeating them.

import * as net from 'node:net';
import { serveHttp } from '@curio-ts/client';
import type { HttpHandler, HttpServer, HttpServerOptions, Runtime } from '@curio-ts/client';
import type { RuntimeHarness } from './runtime.js';
import type { TestApi } from './redis.js';

/** What a raw exchange saw: the bytes received, and whether the server ended the connection. */
export interface RawOutcome {
  readonly text: string;
  /** The server closed (FIN or reset) before our deadline. */
  readonly closedByServer: boolean;
}

/** Send `bytes` on a new connection; collect what comes back until the server closes or `ms` pass. */
export function rawOutcome(port: number, bytes: string | Uint8Array, ms = 5000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, ms);
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedByServer: !timedOut });
    });
    socket.write(bytes);
  });
}

/** Status codes of the responses in `text`, in order. */
function statuses(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1] as string);
}

const BIG_RESPONSE = new Uint8Array(256 * 1024).fill(0x62);

/** The hostile suite's routes: '/' hello, '/n/<i>' its number, '/big' 256 KiB, '/consume' reads its body. */
function hostileHandler(seen: string[], bodyOutcomes: string[]): HttpHandler {
  return async (request) => {
    seen.push(request.path);
    if (request.path === '/') return { headers: [['Content-Type', 'text/plain']], body: 'hello' };
    if (request.path.startsWith('/n/')) return { body: request.path.slice(3) };
    if (request.path === '/big') return { body: BIG_RESPONSE };
    if (request.path === '/consume') {
      try {
        const body = await request.body.bytes();
        bodyOutcomes.push(`read ${body.length}`);
        return { body: `read ${body.length}` };
      } catch (error) {
        bodyOutcomes.push(`failed: ${(error as Error).message}`);
        throw error;
      }
    }
    return { status: 404, body: 'not found' };
  };
}

function portOf(server: HttpServer): number {
  const address = server.address;
  if (!('port' in address)) throw new Error('not a TCP server');
  return address.port;
}

const H = 'Host: h\r\n';
/** Pipelined behind every bad request: it must never reach the handler. */
const BEHIND = 'GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';

/**
 * Smuggling and malformed shapes not already in http.ts (which has CL+TE, a missing Host on
 * 1.1, a long target, a long header and an unknown transfer coding), with the status each gets.
 */
const SMUGGLING: readonly (readonly [string, string, string])[] = [
  ['TE then CL (the reverse order)', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`, '400'],
  ['two Content-Length values that differ', `POST /consume HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`, '400'],
  ['two Content-Length fields, same value', `POST /consume HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`, '400'],
  ['a Content-Length list', `POST /consume HTTP/1.1\r\n${H}Content-Length: 4, 4\r\n\r\nabcd`, '400'],
  ['Content-Length +4', `POST /consume HTTP/1.1\r\n${H}Content-Length: +4\r\n\r\nabcd`, '400'],
  ['Content-Length -1', `POST /consume HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\nabcd`, '400'],
  ['Content-Length 0x4', `POST /consume HTTP/1.1\r\n${H}Content-Length: 0x4\r\n\r\nabcd`, '400'],
  ['Content-Length "4 4"', `POST /consume HTTP/1.1\r\n${H}Content-Length: 4 4\r\n\r\nabcd`, '400'],
  ['a Content-Length past 2^64', `POST /consume HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\nabcd`, '400'],
  ['chunked not the last coding', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, '400'],
  ['chunked twice (two fields)', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, '400'],
  ['gzip, chunked (a coding we do not do)', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, '501'],
  ['Transfer-Encoding: xchunked', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, '501'],
  ['a chunk size that is not hex', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\ng\r\nabc\r\n0\r\n\r\n`, '400'],
  ['a negative chunk size', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n`, '400'],
  ['a chunk size past 2^64', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n`, '400'],
  ['a 0x chunk size', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`, '400'],
  ['a chunk size followed by a space', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`, '400'],
  ['chunk data longer than its size', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n`, '400'],
  ['chunk lines ended by bare LF', `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n`, '400'],
  ['a bare CR inside a header value', `GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n`, '400'],
  ['a request line ended by a bare CR', `GET / HTTP/1.1\r${H}\r\n`, '400'],
  ['a head ended by bare LFs', 'GET / HTTP/1.1\nHost: h\n\n', '400'],
  ['obs-fold (a continuation line)', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, '400'],
  ['a header line beginning with a space', `GET / HTTP/1.1\r\n X: a\r\n${H}\r\n`, '400'],
  ['a space inside a header name', `GET / HTTP/1.1\r\n${H}X Y: z\r\n\r\n`, '400'],
  ['@ in a header name', `GET / HTTP/1.1\r\n${H}X@Y: z\r\n\r\n`, '400'],
  ['NUL in a header name', `GET / HTTP/1.1\r\n${H}X\0: z\r\n\r\n`, '400'],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X: a\0b\r\n\r\n`, '400'],
  ['an empty header name', `GET / HTTP/1.1\r\n${H}: h\r\n\r\n`, '400'],
  ['a space before the colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', '400'],
  ['a tab before the colon', `GET / HTTP/1.1\r\n${H}X\t: h\r\n\r\n`, '400'],
  ['two Host fields on HTTP/1.1', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', '400'],
  ['a method with a separator', `G(T / HTTP/1.1\r\n${H}\r\n`, '400'],
  ['a lower-case version', `GET / http/1.1\r\n${H}\r\n`, '400'],
  ['HTTP/2.0 in a request line', `GET / HTTP/2.0\r\n${H}\r\n`, '505'],
];

/** The hostile-client suite on `harness`'s runtime. */
export function httpHostileConformance(harness: RuntimeHarness, t: TestApi): void {
  const { describe, it, expect } = t;

  const withServer = (body: (port: number, server: HttpServer, seen: string[], bodyOutcomes: string[], runtime: Runtime) => Promise<void>, options: HttpServerOptions = {}): Promise<void> =>
    harness.run(async (runtime) => {
      const seen: string[] = [];
      const bodyOutcomes: string[] = [];
      const server = await serveHttp(runtime, hostileHandler(seen, bodyOutcomes), options);
      try {
        await body(portOf(server), server, seen, bodyOutcomes, runtime);
      } finally {
        await server.closeNow();
      }
    });

  /** Handler errors the server reported (onError), for the cases that pass it. */
  const errors: unknown[] = [];

  /** A normal request on a fresh connection is served. */
  const stillServes = async (port: number): Promise<void> => {
    const out = await rawOutcome(port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(out.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(out.text.endsWith('hello')).toBe(true);
    expect(out.closedByServer).toBe(true);
  };

  /** Poll `check` until true (a hang guard, not a timing assertion). */
  const eventually = async (check: () => boolean, what: string, ms = 10_000): Promise<void> => {
    const until = Date.now() + ms;
    while (!check()) {
      if (Date.now() > until) throw new Error(`still not the case after ${ms} ms: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  describe(`HTTP server on the ${harness.name} runtime, hostile clients`, () => {
    it(`smuggling shapes (${SMUGGLING.length}): each gets its status and a close, and nothing pipelined behind it is served`, async () => {
      await withServer(async (port, _server, seen) => {
        const outcomes = await Promise.all(SMUGGLING.map(([, bytes]) => rawOutcome(port, bytes + BEHIND)));
        SMUGGLING.forEach(([name, , status], i) => {
          const out = outcomes[i] as RawOutcome;
          expect({ name, statuses: statuses(out.text), closed: out.closedByServer }).toEqual({ name, statuses: [status], closed: true });
          expect(out.text).toMatch(/\r\nconnection: close\r\n/i);
        });
        expect(seen).not.toContain('/smuggled');
        expect(seen.filter((path) => path === '/consume')).toEqual([]);
        await stillServes(port);
      });
    });

    it('HTTP/1.0 with Transfer-Encoding: served as faulty framing, then closed; nothing behind it is served', async () => {
      await withServer(async (port, _server, seen) => {
        const out = await rawOutcome(port, `POST /consume HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n${BEHIND}`);
        expect(statuses(out.text)).toEqual(['200']);
        expect(out.text).toMatch(/\r\nconnection: close\r\n/i);
        expect(out.text.endsWith('read 3')).toBe(true);
        expect(out.closedByServer).toBe(true);
        expect(seen).not.toContain('/smuggled');
        await stillServes(port);
      });
    });

    it('every single-byte mutation of a request: a status or a close, never a 500, never a hang; the server goes on', async () => {
      await withServer(
        async (port) => {
          const base = `GET /n/7 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
          const replacements = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x3a, 0x7f, 0xff];
          const mutations: Buffer[] = [];
          for (let at = 0; at < base.length; at++) {
            for (const byte of replacements) {
              const bytes = Buffer.from(base, 'latin1');
              if (bytes[at] === byte) continue;
              bytes[at] = byte;
              mutations.push(bytes);
            }
          }
          const outcomes: RawOutcome[] = [];
          for (let i = 0; i < mutations.length; i += 64) outcomes.push(...(await Promise.all(mutations.slice(i, i + 64).map((bytes) => rawOutcome(port, bytes, 10_000)))));
          const seenStatuses = new Set<string>();
          outcomes.forEach((out) => {
            expect(out.closedByServer).toBe(true);
            const got = statuses(out.text);
            expect(got.length).toBeLessThanOrEqual(1);
            for (const status of got) seenStatuses.add(status);
          });
          expect([...seenStatuses].filter((status) => !['200', '400', '404', '408', '505', '501'].includes(status))).toEqual([]);
          expect(seenStatuses.has('400')).toBe(true);
          expect(errors).toEqual([]);
          await stillServes(port);
        },
        { headersTimeout: 300, idleTimeout: 300, onError: (error) => errors.push(error) },
      );
    });

    it('slowloris: a head sent 1 byte every 20 ms gets 408 and a close before it is complete, on a new and on a kept-alive connection', async () => {
      await withServer(
        async (port, _server, seen) => {
          const head = `GET /slow HTTP/1.1\r\n${H}${'X-Padding: slow\r\n'.repeat(20)}\r\n`;
          /** Send `first` at once, then `head` byte by byte; what came back, how much was sent, whether the server ended. */
          const drip = (first: string): Promise<{ text: string; sent: number; ended: boolean }> =>
            new Promise((resolve) => {
              const socket = net.connect(port, '127.0.0.1');
              let text = '';
              let sent = 0;
              let ended = false;
              socket.write(first);
              const timer = setInterval(() => {
                // A kept-alive connection starts its drip once its first response is in.
                if (first !== '' && !text.endsWith('hello')) return;
                if (sent < head.length && !socket.destroyed) socket.write(head[sent++] as string);
              }, 20);
              const guard = setTimeout(() => socket.destroy(), 15_000);
              socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
              socket.on('error', () => {});
              socket.on('end', () => (ended = true));
              socket.on('close', () => {
                clearInterval(timer);
                clearTimeout(guard);
                resolve({ text, sent, ended });
              });
            });
          const [fresh, kept] = await Promise.all([drip(''), drip(`GET / HTTP/1.1\r\n${H}\r\n`)]);
          expect(fresh.text).toMatch(/^HTTP\/1\.1 408 /);
          expect(statuses(kept.text)).toEqual(['200', '408']);
          for (const out of [fresh, kept]) {
            expect(out.ended).toBe(true);
            expect(out.sent).toBeGreaterThan(0);
            expect(out.sent).toBeLessThan(head.length);
          }
          expect(seen).not.toContain('/slow');
          await stillServes(port);
        },
        { headersTimeout: 300, idleTimeout: 5000 },
      );
    });

    it('a body that stalls: 408 and close after bodyTimeout (read by the handler, or drained after its response); a slow but steady body is read whole', async () => {
      await withServer(
        async (port, _server, seen, bodyOutcomes) => {
          const steady = new Promise<RawOutcome>((resolve) => {
            const socket = net.connect(port, '127.0.0.1');
            let text = '';
            let sent = 0;
            socket.on('error', () => {});
            socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
            socket.on('close', () => resolve({ text, closedByServer: true }));
            socket.write(`POST /consume HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n`);
            const timer = setInterval(() => {
              socket.write(sent++ < 5 ? '2\r\nab\r\n' : '0\r\n\r\n');
              if (sent > 5) clearInterval(timer);
            }, 50);
          });
          const [read, drained, slow] = await Promise.all([
            rawOutcome(port, `POST /consume HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabcde`, 10_000),
            rawOutcome(port, `GET / HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabcde`, 10_000),
            steady,
          ]);
          expect(statuses(read.text)).toEqual(['408']);
          expect(read.closedByServer).toBe(true);
          expect(bodyOutcomes).toContain('failed: the connection ended before the request body was complete');
          expect(statuses(drained.text)).toEqual(['200']);
          expect(drained.text.endsWith('hello')).toBe(true);
          expect(drained.closedByServer).toBe(true);
          expect(slow.text.endsWith('read 10')).toBe(true);
          expect(seen.filter((path) => path === '/consume')).toHaveLength(2);
          await stillServes(port);
        },
        { bodyTimeout: 1000 },
      );
    });

    it('header floods: 10 000 header fields, and one 1 MB header field → 431 and close', async () => {
      await withServer(async (port, _server, seen) => {
        let many = `GET /many HTTP/1.1\r\n${H}`;
        for (let i = 0; i < 10_000; i++) many += `X-${i}: v\r\n`;
        const huge = `GET /huge HTTP/1.1\r\n${H}X-Huge: ${'v'.repeat(1 << 20)}\r\n`;
        for (const flood of [`${many}\r\n`, `${huge}\r\n`]) {
          const out = await rawOutcome(port, flood + BEHIND);
          expect(statuses(out.text)).toEqual(['431']);
          expect(out.closedByServer).toBe(true);
        }
        expect(seen).toEqual([]);
        await stillServes(port);
      });
    });

    it('10 000 pipelined GETs in one write: 10 000 responses, in order', async () => {
      await withServer(async (port) => {
        const count = 10_000;
        let requests = '';
        for (let i = 0; i < count; i++) requests += `GET /n/${i} HTTP/1.1\r\n${H}${i === count - 1 ? 'Connection: close\r\n' : ''}\r\n`;
        const out = await rawOutcome(port, requests, 20_000);
        expect(out.closedByServer).toBe(true);
        const bodies = [...out.text.matchAll(/HTTP\/1\.1 200 OK\r\n(?:[^\r\n]+\r\n)*?Content-Length: (\d+)\r\n(?:[^\r\n]+\r\n)*\r\n/gi)].map((m) => out.text.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + Number(m[1])));
        expect(bodies.length).toBe(count);
        expect(bodies.every((body, i) => body === String(i))).toBe(true);
        await stillServes(port);
      });
    });

    it('a client that pipelines without ever reading: the server stops reading (bounded memory) and serves others meanwhile', async () => {
      await withServer(async (port, server, seen) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', () => {});
        socket.pause(); // never read a byte
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        const chunk = Buffer.from(`GET /big HTTP/1.1\r\n${H}\r\n`.repeat(32 * 1024)); // ~1 MB of requests
        const requestBytes = chunk.length / (32 * 1024);
        let pushed = 0;
        let stalled = false;
        const limit = 256 * 1024 * 1024;
        while (pushed < limit) {
          pushed += chunk.length;
          if (socket.write(chunk)) continue;
          const drained = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => {
              socket.off('drain', onDrain);
              resolve(false);
            }, 1000);
            const onDrain = (): void => {
              clearTimeout(timer);
              resolve(true);
            };
            socket.once('drain', onDrain);
          });
          if (!drained) {
            stalled = true;
            break;
          }
        }
        // The server read only as far as it could answer: its reader paused (READ_HIGH_WATER),
        // the kernel buffers filled, and our writes stopped being accepted.
        expect(stalled).toBe(true);
        const accepted = pushed - socket.writableLength;
        expect(accepted).toBeLessThan(64 * 1024 * 1024);
        const handled = seen.filter((path) => path === '/big').length;
        expect(handled * BIG_RESPONSE.length).toBeLessThan(64 * 1024 * 1024);
        expect(handled).toBeLessThan(accepted / requestBytes);
        // Other clients are served meanwhile.
        const others = await Promise.all(Array.from({ length: 20 }, () => rawOutcome(port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)));
        for (const other of others) expect(other.text.endsWith('hello')).toBe(true);
        // Still stalled: nothing more was handled for the silent client.
        expect(seen.filter((path) => path === '/big').length).toBe(handled);
        socket.destroy();
        await eventually(() => server.connections === 0, 'the stalled connection ends once its client goes away');
        await stillServes(port);
      });
    });

    it('clients that go away mid-body: the handler’s read fails, the connection ends, the server goes on', async () => {
      await withServer(async (port, server, _seen, bodyOutcomes) => {
        const shapes = [`POST /consume HTTP/1.1\r\n${H}Content-Length: 1000000\r\n\r\n${'x'.repeat(1000)}`, `POST /consume HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n100\r\npartial`];
        for (const shape of shapes) {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('error', () => {});
          socket.write(shape);
          const before = bodyOutcomes.length;
          await new Promise((resolve) => setTimeout(resolve, 50));
          socket.destroy();
          await eventually(() => bodyOutcomes.length > before, 'the handler learns its body will not come');
          expect(bodyOutcomes[before]).toMatch(/^failed: /);
        }
        await eventually(() => server.connections === 0, 'the broken connections end');
        // A whole body is still read.
        const whole = await rawOutcome(port, `POST /consume HTTP/1.1\r\n${H}Connection: close\r\nContent-Length: 5\r\n\r\nabcde`);
        expect(whole.text.endsWith('read 5')).toBe(true);
        await stillServes(port);
      });
    });

    it('500 connections left idle (250 silent from the start, 250 after one request) are all closed by the timeouts', async () => {
      await withServer(
        async (port, server) => {
          const open = (request: string | null): Promise<{ text: string; closed: Promise<void> }> =>
            new Promise((resolve) => {
              const socket = net.connect(port, '127.0.0.1');
              let text = '';
              socket.on('error', () => {});
              socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
              const closed = new Promise<void>((done) => socket.on('close', () => done()));
              socket.on('connect', () => {
                if (request !== null) socket.write(request);
                resolve({
                  get text() {
                    return text;
                  },
                  closed,
                });
              });
            });
          const silent = await Promise.all(Array.from({ length: 250 }, () => open(null)));
          const kept = await Promise.all(Array.from({ length: 250 }, () => open(`GET / HTTP/1.1\r\n${H}\r\n`)));
          await Promise.all([...silent, ...kept].map((c) => c.closed));
          for (const c of silent) expect(c.text).toBe(''); // no request, no 408: just closed
          for (const c of kept) expect(c.text).toMatch(/^HTTP\/1\.1 200 [\s\S]*hello$/);
          await eventually(() => server.connections === 0, 'the server forgets the closed connections');
          await stillServes(port);
        },
        { headersTimeout: 400, idleTimeout: 300 },
      );
    });
  });
}
