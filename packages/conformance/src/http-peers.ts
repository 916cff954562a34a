// conformance/http-peers.ts
//
// Real HTTP clients as peers of the HTTP server of @curio-ts/client, on each runtime: undici
// (`request` on a keep-alive Agent, and a Pool pipelining 10 deep) and autocannon (a bounded
// one-second load, with and without pipelining). curl and Node's http client are in http.ts.

import autocannon from 'autocannon';
import { Agent, Pool, request } from 'undici';
import { serveHttp } from '@curio-ts/client';
import type { HttpHandler, HttpServer, Runtime } from '@curio-ts/client';
import { echoHandler } from './http.js';
import type { RuntimeHarness } from './runtime.js';
import type { TestApi } from './redis.js';

/** echoHandler's routes, and '/slow': answers after `ms` on the runtime's clock (so pipelines fill). */
function peersHandler(runtime: Runtime, ms: number): HttpHandler {
  const echo = echoHandler();
  return async (request) => {
    if (request.path === '/slow') {
      await runtime.sleep(ms);
      return { body: 'slow' };
    }
    return echo(request);
  };
}

function originOf(server: HttpServer): string {
  const address = server.address;
  if (!('port' in address)) throw new Error('not a TCP server');
  return `http://127.0.0.1:${address.port}`;
}

/** The real-client suite on `harness`'s runtime. */
export function httpPeersConformance(harness: RuntimeHarness, t: TestApi): void {
  const { describe, it, expect } = t;
  const withServer = (body: (origin: string, server: HttpServer) => Promise<void>): Promise<void> =>
    harness.run(async (runtime) => {
      const server = await serveHttp(runtime, peersHandler(runtime, 2));
      try {
        await body(originOf(server), server);
      } finally {
        await server.closeNow();
      }
    });

  describe(`HTTP server on the ${harness.name} runtime, with undici and autocannon`, () => {
    it('undici request on a keep-alive Agent: GET, POST echo, a streamed response, 404; one connection', async () => {
      await withServer(async (origin, server) => {
        const agent = new Agent({ connections: 1 });
        try {
          const hello = await request(`${origin}/`, { dispatcher: agent });
          expect(hello.statusCode).toBe(200);
          expect(await hello.body.text()).toBe('hello');
          const payload = new Uint8Array(300_000).map((_, i) => i % 251);
          const echoed = await request(`${origin}/echo`, { method: 'POST', body: payload, headers: { 'content-type': 'application/x-test' }, dispatcher: agent });
          expect(echoed.statusCode).toBe(200);
          expect(echoed.headers['content-type']).toBe('application/x-test');
          expect(Buffer.from(await echoed.body.arrayBuffer()).equals(Buffer.from(payload))).toBe(true);
          const streamed = await request(`${origin}/stream?n=4`, { dispatcher: agent });
          expect(streamed.headers['transfer-encoding']).toBe('chunked');
          expect(await streamed.body.text()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\n');
          const missing = await request(`${origin}/nope`, { dispatcher: agent });
          expect(missing.statusCode).toBe(404);
          await missing.body.dump();
          for (let i = 0; i < 50; i++) {
            const again = await request(`${origin}/`, { dispatcher: agent });
            expect(await again.body.text()).toBe('hello');
          }
          expect(server.connections).toBe(1);
        } finally {
          await agent.close();
        }
      });
    });

    it('undici Pool, 2 connections pipelining 10 deep: 400 requests, each its own answer', async () => {
      await withServer(async (origin, server) => {
        const pool = new Pool(origin, { connections: 2, pipelining: 10 });
        let mostRunning = 0;
        const sample = setInterval(() => (mostRunning = Math.max(mostRunning, pool.stats.running)), 1);
        try {
          const one = async (i: number): Promise<string> => {
            const path = i % 4 === 0 ? '/slow' : i % 4 === 1 ? `/stream?n=${i % 7}` : '/';
            // blocking: false: undici pipelines the next request before this one's head has come back.
            const { statusCode, body } = await pool.request({ path, method: 'GET', blocking: false });
            expect(statusCode).toBe(200);
            return body.text();
          };
          const answers = await Promise.all(Array.from({ length: 400 }, (_, i) => one(i)));
          answers.forEach((answer, i) => {
            const expected = i % 4 === 0 ? 'slow' : i % 4 === 1 ? Array.from({ length: i % 7 }, (_, k) => `chunk ${k}\n`).join('') : 'hello';
            expect(answer).toBe(expected);
          });
          // Pipelining happened: more requests were in flight than there are connections.
          expect(mostRunning).toBeGreaterThan(2);
          expect(server.connections).toBeLessThanOrEqual(2);
        } finally {
          clearInterval(sample);
          await pool.close();
        }
      });
    });

    for (const pipelining of [1, 10]) {
      it(`autocannon, 10 connections, pipelining ${pipelining}, for 1 s: no errors, only 2xx`, async () => {
        await withServer(async (origin) => {
          const result = await autocannon({ url: `${origin}/`, connections: 10, pipelining, duration: 1 });
          expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, resets: result.resets, mismatches: result.mismatches }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, resets: 0, mismatches: 0 });
          expect(result['2xx']).toBeGreaterThan(100);
          expect(result.requests.total).toBeGreaterThanOrEqual(result['2xx']);
        });
      });
    }
  });
}
