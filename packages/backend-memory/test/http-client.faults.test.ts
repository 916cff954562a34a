// The HTTP client under fault injection: serveHttp and the client on one memory runtime (no
// sockets), connections broken exactly where the test says, time on the virtual clock.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AbortedError, ConnectionError, ConnectionLostError, HeadersTimeoutError, HttpAgent, serveHttp } from '@curio-ts/client';
import type { HttpAgentOptions, HttpHandler, HttpServerOptions } from '@curio-ts/client';
import { createMemoryRuntime, forFirst } from '@curio-ts/backend-memory';
import type { MemoryRuntime } from '@curio-ts/backend-memory';

/** The coarse clock's granularity (packages/client src/deadline.ts COARSE_MS). */
const COARSE_MS = 100;

const BODY = 'x'.repeat(1000);
const URL_ = 'http://127.0.0.1:8080/';

/**
 * The agent's one idle connection closes `ms` from now, within the coarse clock's bound: a
 * timeout of a second or more is counted on it (packages/client deadline.ts): never early, at
 * most COARSE_MS late.
 */
async function closesIdleWithin(memory: MemoryRuntime, agent: HttpAgent, ms: number): Promise<void> {
  expect(agent.idleConnections).toBe(1);
  await memory.clock.advance(ms - 1);
  expect(agent.connections).toBe(1);
  await memory.clock.advance(COARSE_MS + 2);
  expect(agent.connections).toBe(0);
}

/** A memory runtime with serveHttp on port 8080 and an agent. */
async function setup(handler: HttpHandler = () => ({ body: BODY }), serverOptions: HttpServerOptions = {}, agentOptions: HttpAgentOptions = {}) {
  const memory: MemoryRuntime = createMemoryRuntime({ autoAdvance: true });
  const server = await serveHttp(memory.runtime, handler, { listen: { port: 8080 }, ...serverOptions });
  const agent = new HttpAgent(memory.runtime, agentOptions);
  const stop = async (): Promise<void> => {
    await agent.close();
    await server.closeNow();
  };
  return { memory, server, agent, stop };
}

describe('HTTP client on the memory runtime, with faults', () => {
  it("the runtime's own request and fetch (its default agent): a gzip body decoded by the platform", async () => {
    const text = 'in memory '.repeat(500);
    const { memory, stop } = await setup((request) =>
      request.path === '/gzip' ? { headers: [['Content-Encoding', 'gzip']], body: new Uint8Array(gzipSync(text)) } : { body: BODY },
    );
    try {
      expect(await (await memory.request(URL_)).body.text()).toBe(BODY);
      const response = await memory.fetch(`${URL_}gzip`);
      expect(response.headers.get('content-encoding')).toBe('gzip');
      expect(await response.text()).toBe(text);
      expect(memory.network.connectionsMade).toBe(1);
    } finally {
      await stop();
    }
  });

  it('a connection closed in the middle of a response: ConnectionLostError, the pool drops it, the next request gets a fresh one', async () => {
    const { memory, agent, stop } = await setup();
    memory.network.faults({ port: 8080 }, forFirst(1, { toClient: { closeAfter: 300 } }));
    try {
      const response = await agent.request(URL_);
      expect(response.status).toBe(200);
      const error = await response.body.text().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionLostError);
      expect(agent.connections).toBe(0);
      expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
      expect(memory.network.connectionsMade).toBe(2);
    } finally {
      await stop();
    }
  });

  it('a reset in the middle of the head: ConnectionLostError whose cause is the ECONNRESET', async () => {
    const { memory, agent, stop } = await setup();
    memory.network.faults({ port: 8080 }, forFirst(1, { toClient: { resetAfter: 10 } }));
    try {
      const error = (await agent.request(URL_, { method: 'POST', body: 'once' }).catch((e: unknown) => e)) as ConnectionLostError;
      expect(error).toBeInstanceOf(ConnectionLostError);
      expect((error.cause as ConnectionError).code).toBe('ECONNRESET');
      expect(agent.connections).toBe(0);
    } finally {
      await stop();
    }
  });

  it('a reused connection reset as the next request is sent: a GET is sent again on a fresh connection', async () => {
    const { memory, agent, stop } = await setup();
    try {
      expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
      // The next bytes the client sends reset the connection (the server never sees them).
      memory.network.connections[0]?.configure({ toServer: { resetAfter: 0 } });
      expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
      expect(memory.network.connectionsMade).toBe(2);
    } finally {
      await stop();
    }
  });

  it('a head arriving a few bytes at a time on a reused connection (the wait parked again per piece), and an abort in the middle of one', async () => {
    const { memory, agent, stop } = await setup((request) => ({ headers: [['X-Path', request.path]], body: request.path.repeat(20) }));
    try {
      expect(await (await agent.request(`${URL_}first`)).body.text()).toBe('/first'.repeat(20));
      memory.network.connections[0]?.configure({ toClient: { chunkSize: 3, latency: 1 } });
      for (const path of ['/a', '/bb', '/ccc']) {
        const response = await agent.request(`${URL_}${path.slice(1)}`);
        expect(response.status).toBe(200);
        expect(response.headers.get('x-path')).toBe(path);
        expect(await response.body.text()).toBe(path.repeat(20));
      }
      expect(memory.network.connectionsMade).toBe(1);
      // Aborted while the head is half there (its first 10 bytes delivered, then a stall): the
      // caller gets the AbortedError, the connection is not reused.
      const connection = memory.network.connections[0];
      connection?.configure({ toClient: { stallAfter: (connection?.toClient.writtenBytes ?? 0) + 10 } });
      const controller = new AbortController();
      const pending = agent.request(`${URL_}d`, { signal: controller.signal }).catch((e: unknown) => e);
      await memory.clock.advance(5);
      // The rest of the response waits behind the stall.
      expect(connection?.toClient.pending).toBeGreaterThan(0);
      controller.abort();
      expect(await pending).toBeInstanceOf(AbortedError);
      expect(await (await agent.request(`${URL_}e`)).body.text()).toBe('/e'.repeat(20));
      expect(memory.network.connectionsMade).toBe(2);
    } finally {
      await stop();
    }
  });

  it('a whole-body POST whose write fails on a reused connection (the write is not awaited): ConnectionLostError with the reset as cause, not sent again, the pool drops it', async () => {
    const { memory, agent, stop } = await setup();
    try {
      expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
      memory.network.connections[0]?.configure({ toServer: { resetAfter: 0 } });
      const error = (await agent.request(URL_, { method: 'POST', body: 'not idempotent' }).catch((e: unknown) => e)) as ConnectionLostError;
      expect(error).toBeInstanceOf(ConnectionLostError);
      expect((error.cause as ConnectionError).code).toBe('ECONNRESET');
      expect(memory.network.connectionsMade).toBe(1);
      expect(agent.connections).toBe(0);
      // The agent goes on: the next request gets a fresh connection.
      expect(await (await agent.request(URL_, { method: 'POST', body: 'again' })).body.text()).toBe(BODY);
      expect(memory.network.connectionsMade).toBe(2);
    } finally {
      await stop();
    }
  });

  it('idle connections close after idleTimeout on the virtual clock; a server closing them is seen before reuse', async () => {
    const { memory, agent, stop } = await setup(undefined, { idleTimeout: 10_000 }, { idleTimeout: 1_000 });
    try {
      expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
      await closesIdleWithin(memory, agent, 1_000);
      expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
      expect(memory.network.connectionsMade).toBe(2);
    } finally {
      await stop();
    }
    const second = await setup(undefined, { idleTimeout: 500 }, { idleTimeout: 60_000 });
    try {
      expect(await (await second.agent.request(URL_)).body.text()).toBe(BODY);
      await second.memory.clock.advance(600);
      expect(second.agent.connections).toBe(0);
      // The dropped connection left no timer behind (its idle timeout was 60 s).
      expect(second.memory.clock.nextTimerAt() ?? 0).toBeLessThan(59_000);
      expect(await (await second.agent.request(URL_)).body.text()).toBe(BODY);
      expect(second.memory.network.connectionsMade).toBe(2);
    } finally {
      await second.stop();
    }
  });

  it("the server's idle timeout (one sweep for every connection): never early, at most two sixteenths late, and no timer left once connections end", async () => {
    const { memory, server, agent, stop } = await setup(undefined, { idleTimeout: 1_600 }, { idleTimeout: 60_000 });
    try {
      expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
      await memory.clock.advance(1_599);
      expect(server.connections).toBe(1);
      // Granularity 1 600 / 16 = 100 ms: closed by 1 600 + 2 × 100.
      await memory.clock.advance(201);
      expect(server.connections).toBe(0);
      await agent.close();
      // The sweep stopped with the last connection: only the agent's own timers could remain.
      expect(memory.clock.nextTimerAt() ?? Infinity).toBeGreaterThan(memory.clock.now() + 1_000);
    } finally {
      await stop();
    }
  });

  it('a connect that is never accepted ends with the connect timeout at the virtual instant; a stalled head with the headers timeout within its bound', async () => {
    const { memory, agent, stop } = await setup(undefined, {}, { connectTimeout: 2_000 });
    memory.network.faults({ port: 8080 }, forFirst(1, { acceptDelay: Infinity }));
    try {
      const start = memory.clock.now();
      expect(await agent.request(URL_).catch((e: unknown) => e)).toBeInstanceOf(ConnectionError);
      expect(memory.clock.now() - start).toBe(2_000);
      memory.network.faults({ port: 8080 }, forFirst(1, { toClient: { stallAfter: 5 } }));
      const before = memory.clock.now();
      expect(await agent.request(URL_, { headersTimeout: 3_000 }).catch((e: unknown) => e)).toBeInstanceOf(HeadersTimeoutError);
      // On the coarse clock (see the idle test): never early, at most COARSE_MS late.
      const waited = memory.clock.now() - before;
      expect(waited).toBeGreaterThanOrEqual(3_000);
      expect(waited).toBeLessThanOrEqual(3_000 + COARSE_MS);
      // Below a second the clock is read: exact.
      memory.network.faults({ port: 8080 }, forFirst(1, { toClient: { stallAfter: 5 } }));
      const again = memory.clock.now();
      expect(await agent.request(URL_, { headersTimeout: 300 }).catch((e: unknown) => e)).toBeInstanceOf(HeadersTimeoutError);
      expect(memory.clock.now() - again).toBe(300);
    } finally {
      await stop();
    }
  });
  it("an idle connection closes a second before the server's Keep-Alive timeout says it will drop it", async () => {
    const { memory, agent, stop } = await setup(() => ({ headers: [['Keep-Alive', 'timeout=3']], body: BODY }), { idleTimeout: 60_000 }, { idleTimeout: 10_000 });
    try {
      for (let i = 0; i < 2; i++) {
        expect(await (await agent.request(URL_)).body.text()).toBe(BODY);
        await closesIdleWithin(memory, agent, 2_000);
      }
      expect(memory.network.connectionsMade).toBe(2);
    } finally {
      await stop();
    }
  });
  it('a timeout set while the coarse clock is stale is still never early and at most COARSE_MS late', async () => {
    // '/stall' is never answered. The idle timeout (500 ms: read on the exact clock) leaves a
    // timer pending on the connection that fires before the headers timeout is due: that
    // timer finds the deadline counted from the coarse clock.
    let answer: (response: { body: string }) => void = () => {};
    const stalled = new Promise<{ body: string }>((resolve) => (answer = resolve));
    const { memory, agent, stop } = await setup((request) => (request.path === '/stall' ? stalled : { body: BODY }), {}, { idleTimeout: 500 });
    try {
      for (const stale of [0, 1, 50, 99]) {
        await memory.clock.advance(COARSE_MS + 1);
        // This request reads the clock (its headers timeout); `stale` ms later, the time the
        // coarse clock answers is that old.
        expect(await (await agent.request(URL_, { headersTimeout: 60_000 })).body.text()).toBe(BODY);
        await memory.clock.advance(stale);
        const sent = memory.clock.now();
        expect(await agent.request(`${URL_}stall`, { headersTimeout: 1_000 }).catch((e: unknown) => e)).toBeInstanceOf(HeadersTimeoutError);
        const waited = memory.clock.now() - sent;
        expect(waited).toBeGreaterThanOrEqual(1_000);
        expect(waited).toBeLessThanOrEqual(1_000 + COARSE_MS);
      }
    } finally {
      answer({ body: '' });
      await stop();
    }
  });
  it('pipelining: a cut in the middle of the third of five pipelined responses fails that one (ConnectionLostError), the two behind it are sent again', async () => {
    const handler: HttpHandler = (request) => ({ body: request.path.slice(1).repeat(1000) });
    // The size of one response's head, from a connection without faults.
    const probe = await setup(handler);
    const first = await probe.agent.request(`${URL_}a`);
    const headBytes = 'HTTP/1.1 200 OK\r\n'.length + first.headers.entries().reduce((n, [name, value]) => n + name.length + value.length + 4, 0) + 2;
    expect(await first.body.text()).toBe('a'.repeat(1000));
    await probe.stop();

    const served: string[] = [];
    const { memory, agent, stop } = await setup(
      (request) => {
        served.push(`${request.path} from ${JSON.stringify(request.remoteAddress)}`);
        return handler(request);
      },
      {},
      { pipelining: 5, maxConnectionsPerOrigin: 1 },
    );
    memory.network.faults({ port: 8080 }, forFirst(1, { toClient: { closeAfter: 2 * (headBytes + 1000) + headBytes + 500 } }));
    try {
      const paths = ['a', 'b', 'c', 'd', 'e'];
      const results = await Promise.all(
        paths.map(async (p) => {
          const response = await agent.request(`${URL_}${p}`);
          return response.body.text().catch((error: unknown) => error);
        }),
      );
      expect(results[0]).toBe('a'.repeat(1000));
      expect(results[1]).toBe('b'.repeat(1000));
      expect(results[2]).toBeInstanceOf(ConnectionLostError);
      expect(results[3]).toBe('d'.repeat(1000));
      expect(results[4]).toBe('e'.repeat(1000));
      expect(memory.network.connectionsMade).toBe(2);
      // /d was sent (pipelined) and served on the first connection before /c's response was
      // cut; /d and /e were sent again on the second.
      const [firstPort, secondPort] = [...new Set(served.map((line) => line.split(' from ')[1]))];
      expect(served.filter((line) => line.endsWith(firstPort as string)).map((line) => line.split(' ')[0])).toEqual(expect.arrayContaining(['/a', '/b', '/c', '/d']));
      expect(served.filter((line) => line.endsWith(secondPort as string)).map((line) => line.split(' ')[0])).toEqual(['/d', '/e']);
    } finally {
      await stop();
    }
  });

  it('pipelining: a headers timeout of the second of four pipelined requests closes the connection; the two behind it are sent again', async () => {
    let stalled = false;
    const { memory, agent, stop } = await setup(
      (request) => {
        if (request.path === '/b' && !stalled) {
          stalled = true;
          // Never answers (until the client leaves).
          return new Promise((resolve) => request.signal.addEventListener('abort', () => resolve({ status: 500 })));
        }
        return { body: `for ${request.path}` };
      },
      {},
      { pipelining: 4, maxConnectionsPerOrigin: 1 },
    );
    try {
      const results = await Promise.all(
        ['a', 'b', 'c', 'd'].map(async (p) => {
          try {
            return await (await agent.request(`${URL_}${p}`, { headersTimeout: 1000 })).body.text();
          } catch (error) {
            return error;
          }
        }),
      );
      expect(results[0]).toBe('for /a');
      expect(results[1]).toBeInstanceOf(HeadersTimeoutError);
      expect(results.slice(2)).toEqual(['for /c', 'for /d']);
      expect(memory.network.connectionsMade).toBe(2);
    } finally {
      await stop();
    }
  });
});
