// conformance/engine.ts
//
// The engine's own suite: everything the protocol-agnostic engine promises, checked with the
// toy line protocol (line-protocol.ts) against its server written on the Runtime's server side.
// No Redis, no external server: it runs on every runtime (in-memory first, where it is
// deterministic; node and curio too, over loopback).

import { AbortedError, ClientClosedError, CommandTimeoutError, ConnectionLostError, Engine, OfflineQueueFullError, PoolTimeoutError, ProtocolViolationError, ReconnectFailedError } from '@curio-ts/client';
import type { EngineOptions, Runtime } from '@curio-ts/client';
import { LineCall, LineError, lineAdapter, startLineServer } from './line-protocol.js';
import type { LineServer, LineSession } from './line-protocol.js';
import type { TestApi } from './redis.js';

/** What a runtime provides to the engine suite. */
export interface EngineHarness {
  /** 'node', 'curio', 'memory' (used in test names). */
  readonly name: string;
  /** The runtime under test. */
  readonly runtime: Runtime;
  /** Run a test body the way users of this runtime would (inside a kernel on curio). */
  run<T>(body: () => Promise<T>): Promise<T>;
  /** Sleep on the runtime's clock. */
  sleep(ms: number): Promise<void>;
  /** Run `body` concurrently with the caller (a kernel task on curio); `join` waits for it. */
  start<T>(body: () => Promise<T>): { join(): Promise<T> };
}

type LineEngine = Engine<LineCall, string, LineSession>;

/** Register the engine suite. */
export function engineConformance(h: EngineHarness, t: TestApi): void {
  const { describe, it, expect } = t;

  const open = async (server: LineServer, options?: Partial<EngineOptions>): Promise<LineEngine> => {
    const engine = new Engine(h.runtime, lineAdapter, {
      name: 'line',
      connect: ({ timeout }) => h.runtime.connect({ host: server.host, port: server.port }, { timeout }),
      connectTimeout: 2000,
      callTimeout: undefined,
      reconnect: { initialDelay: 5, maxDelay: 20, factor: 2, maxAttempts: Infinity },
      offlineQueueLimit: 1000,
      retryOnReconnect: 'idempotent',
      poolSize: 2,
      ...options,
    });
    await engine.start();
    return engine;
  };
  const call = (engine: LineEngine, line: string, options?: { timeout?: number; signal?: AbortSignal }): Promise<string> =>
    engine.perform<string>(new LineCall(line, engine, options));
  const settled = async (promise: Promise<unknown>): Promise<unknown> => promise.then((value) => value, (error: unknown) => error);
  /** A server for one test, closed after it. */
  const withServer = (body: (server: LineServer) => Promise<void>): Promise<void> =>
    h.run(async () => {
      const server = await startLineServer(h.runtime);
      try {
        await body(server);
      } finally {
        server.close();
      }
    });

  describe(`engine (${h.name} runtime, line protocol)`, () => {
    it('pipelined calls get their own responses, in order; an error response fails its call alone', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const calls = Array.from({ length: 300 }, (_, i) => (i % 7 === 3 ? call(engine, `ERR e${i}`) : call(engine, `ECHO m${i}`)));
        const results = await Promise.all(calls.map(settled));
        results.forEach((result, i) => {
          if (i % 7 === 3) {
            expect(result).toBeInstanceOf(LineError);
            expect((result as LineError).message).toBe(`e${i}`);
          } else expect(result).toBe(`m${i}`);
        });
        expect(await call(engine, 'ECHO after')).toBe('after');
        engine.close();
      });
    });

    it('a per-call timeout ends the call; its late response is discarded and the next caller gets its own', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const late = settled(call(engine, 'DELAY 80 late', { timeout: 10 }));
        const next = call(engine, 'ECHO next');
        const error = await late;
        expect(error).toBeInstanceOf(CommandTimeoutError);
        expect(await next).toBe('next');
        expect(await call(engine, 'ECHO again')).toBe('again');
        engine.close();
      });
    });

    it('an AbortSignal ends a written call with an AbortError; the connection stays in step', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const controller = new AbortController();
        const aborted = settled(call(engine, 'DELAY 50 x', { signal: controller.signal }));
        await h.sleep(5);
        controller.abort(new Error('stop'));
        const error = await aborted;
        expect(error).toBeInstanceOf(AbortedError);
        expect((error as Error).name).toBe('AbortError');
        expect(await call(engine, 'ECHO y')).toBe('y');
        engine.close();
      });
    });

    it('a call that cannot be abandoned at once ends only after the peer confirmed, with the abandonment error; the connection stays in step', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const slow = settled(call(engine, 'SLOW', { timeout: 10 }));
        const behind = call(engine, 'ECHO behind');
        const error = await slow;
        expect(error).toBeInstanceOf(CommandTimeoutError);
        // The session asked the server to cancel, and the server's answer to SLOW was consumed
        // before the next response: the call behind it gets its own.
        expect(server.lines).toContain('CANCEL');
        expect(await behind).toBe('behind');
        expect(await call(engine, 'ECHO after')).toBe('after');
        engine.close();
      });
    });

    it('pushes reach listeners, never callers', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const events: string[] = [];
        engine.addListener({ onEvent: (event) => events.push(event), onReconnect: () => {} });
        expect(await call(engine, 'PUSH hello')).toBe('pushed');
        expect(await call(engine, 'ECHO x')).toBe('x');
        expect(events).toEqual(['hello']);
        engine.close();
      });
    });

    it('a lost connection: a retryable call is sent again after reconnecting, others fail with ConnectionLostError', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        let reconnects = 0;
        engine.addListener({ onEvent: () => {}, onReconnect: () => reconnects++ });
        const results = await Promise.all([call(engine, 'CLOSE'), call(engine, 'ECHO lost'), call(engine, 'GET k')].map(settled));
        expect(results[0]).toBeInstanceOf(ConnectionLostError);
        expect(results[1]).toBeInstanceOf(ConnectionLostError);
        expect(results[2]).toBe('value:k');
        expect(server.lines.filter((line) => line === 'GET k')).toHaveLength(2);
        expect(server.lines.filter((line) => line === 'ECHO lost')).toHaveLength(1);
        expect(reconnects).toBe(1);
        expect(engine.status).toBe('ready');
        engine.close();
      });
    });

    it('a protocol violation fails the waiting calls with ProtocolViolationError and never sends them again', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const results = await Promise.all([call(engine, 'GARBAGE'), call(engine, 'GET k')].map(settled));
        expect(results[0]).toBeInstanceOf(ProtocolViolationError);
        expect(results[1]).toBeInstanceOf(ProtocolViolationError);
        expect(server.lines.filter((line) => line === 'GET k')).toHaveLength(1);
        // The engine reconnected: a new connection works.
        expect(await call(engine, 'ECHO fresh')).toBe('fresh');
        engine.close();
      });
    });

    it('reconnecting gives up after maxAttempts failures in a row: the calls waiting fail with ReconnectFailedError, and the engine is closed', async () => {
      await h.run(async () => {
        const server = await startLineServer(h.runtime);
        const engine = await open(server, { reconnect: { initialDelay: 1, maxDelay: 2, factor: 2, maxAttempts: 3 } });
        server.close();
        const waiting = settled(call(engine, 'CLOSE'));
        const error = await waiting;
        expect(error).toBeInstanceOf(ConnectionLostError);
        const queued = await settled(call(engine, 'ECHO never'));
        expect(queued).toBeInstanceOf(ReconnectFailedError);
        expect(engine.status).toBe('closed');
        expect(await settled(call(engine, 'ECHO after'))).toBeInstanceOf(ReconnectFailedError);
      });
    });

    it('while reconnecting, calls wait in a bounded offline queue; beyond it they fail at once', async () => {
      await h.run(async () => {
        const server = await startLineServer(h.runtime);
        const engine = await open(server, { offlineQueueLimit: 3, reconnect: { initialDelay: 1000, maxDelay: 1000, factor: 1, maxAttempts: Infinity } });
        await settled(call(engine, 'CLOSE'));
        const queued = [1, 2, 3].map((i) => settled(call(engine, `ECHO q${i}`)));
        expect(engine.offlineCount).toBe(3);
        expect(await settled(call(engine, 'ECHO over'))).toBeInstanceOf(OfflineQueueFullError);
        engine.close();
        for (const result of await Promise.all(queued)) expect(result).toBeInstanceOf(ClientClosedError);
        server.close();
      });
    });

    it('a refused handshake fails start() with the handshake error, and leaves nothing open', async () => {
      await withServer(async (server) => {
        server.refuseHello = true;
        const error = await settled(open(server, { reconnect: false }));
        expect(error).toBeInstanceOf(LineError);
        expect((error as LineError).message).toBe('nope');
      });
    });

    it('exclusive calls run on pool connections of their own; abandoning one closes its connection', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const blocks = [call(engine, 'BLOCK 30'), call(engine, 'BLOCK 30')];
        expect(await call(engine, 'ECHO main')).toBe('main');
        expect(await Promise.all(blocks)).toEqual(['unblocked', 'unblocked']);
        expect(server.accepted).toBe(3);
        const abandoned = await settled(call(engine, 'BLOCK 1000', { timeout: 10 }));
        expect(abandoned).toBeInstanceOf(CommandTimeoutError);
        // Its slot is free again: two exclusive calls at once get the idle connection and a new one.
        expect(await Promise.all([call(engine, 'BLOCK 1'), call(engine, 'BLOCK 1')])).toEqual(['unblocked', 'unblocked']);
        expect(server.accepted).toBe(4);
        engine.close();
      });
    });

    it('a lease carries only its lessee\'s calls, and goes back to the pool when released', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const lease = await engine.lease();
        expect(await lease.perform<string>(new LineCall('ECHO leased', engine))).toBe('leased');
        expect(await call(engine, 'ECHO main')).toBe('main');
        lease.release();
        expect(lease.isClosed).toBe(true);
        const again = await engine.lease();
        expect(await again.perform<string>(new LineCall('ECHO reused', engine))).toBe('reused');
        again.release();
        expect(server.accepted).toBe(2);
        engine.close();
      });
    });

    it('one session (sessions: 1): a lease takes the main connection; calls made outside it wait, in order, within their own timeouts and signals', async () => {
      await withServer(async (server) => {
        const engine = await open(server, { sessions: 1 });
        const before = call(engine, 'DELAY 20 before');
        // Granted at once: what was written before it is answered first on the one connection.
        const lease = await engine.lease();
        const outside = call(engine, 'ECHO outside');
        const timedOut = settled(call(engine, 'ECHO too late', { timeout: 10 }));
        const aborter = new AbortController();
        const aborted = settled(call(engine, 'ECHO aborted', { signal: aborter.signal }));
        const second = h.start(() => engine.lease());
        await h.sleep(1); // (on curio the task asks for its lease when it first runs)
        const behind = call(engine, 'ECHO behind the second lease');
        expect(await settled(engine.lease(10))).toBeInstanceOf(PoolTimeoutError);
        aborter.abort();
        expect(await lease.perform<string>(new LineCall('ECHO leased', engine))).toBe('leased');
        expect(await before).toBe('before');
        expect(await timedOut).toBeInstanceOf(CommandTimeoutError);
        expect(await aborted).toBeInstanceOf(AbortedError);
        lease.release();
        expect(await outside).toBe('outside');
        const lease2 = await second.join();
        expect(await lease2.perform<string>(new LineCall('ECHO second', engine))).toBe('second');
        expect(server.lines).not.toContain('ECHO behind the second lease');
        lease2.release();
        expect(await behind).toBe('behind the second lease');
        expect(server.lines.filter((line) => line !== 'HELLO')).toEqual(['DELAY 20 before', 'ECHO leased', 'ECHO outside', 'ECHO second', 'ECHO behind the second lease']);
        // An exclusive call takes the main connection too.
        expect(await call(engine, 'BLOCK 5')).toBe('unblocked');
        expect(server.accepted).toBe(1);
        // A lease given back with its call in flight closes the connection; what waited goes
        // out on the next one.
        const lease3 = await engine.lease();
        const inFlight = settled(lease3.perform<string>(new LineCall('DELAY 500 x', engine)));
        const waiting = call(engine, 'ECHO after reconnect');
        await h.sleep(20);
        lease3.release();
        expect(await inFlight).toBeInstanceOf(ConnectionLostError);
        expect(await waiting).toBe('after reconnect');
        expect(server.accepted).toBe(2);
        engine.close();
      });
    });

    it('pool health: an idle pool connection is checked before reuse and replaced when the check fails; idleTimeout and maxLifetime close pool connections', async () => {
      await withServer(async (server) => {
        const engine = await open(server, { poolCheckAfter: 0 });
        const leaseOn = async (line: string): Promise<string> => {
          const lease = await engine.lease();
          try {
            return await lease.perform<string>(new LineCall(line, engine));
          } finally {
            lease.release();
          }
        };
        expect(await leaseOn('ECHO a')).toBe('a');
        expect(server.lines.filter((line) => line === 'PING')).toEqual([]); // a new connection is not checked
        expect(await leaseOn('ECHO b')).toBe('b');
        expect(server.lines.filter((line) => line === 'PING')).toEqual(['PING']);
        expect(server.accepted).toBe(2);
        server.refusePing = true;
        expect(await leaseOn('ECHO c')).toBe('c'); // the idle one failed its check: a new one, unseen
        expect(server.accepted).toBe(3);
        server.refusePing = false;
        engine.close();
      });
      await withServer(async (server) => {
        const engine = await open(server, { idleTimeout: 30 });
        (await engine.lease()).release();
        expect(server.accepted).toBe(2);
        (await engine.lease()).release(); // reused while younger than idleTimeout
        expect(server.accepted).toBe(2);
        await h.sleep(100);
        (await engine.lease()).release(); // the idle one was closed: a new one
        expect(server.accepted).toBe(3);
        expect(await call(engine, 'ECHO main')).toBe('main'); // the main connection stays
        expect(server.accepted).toBe(3);
        engine.close();
      });
      await withServer(async (server) => {
        const engine = await open(server, { maxLifetime: 50 });
        const lease = await engine.lease();
        await h.sleep(80);
        lease.release(); // too old: closed instead of going back idle
        (await engine.lease()).release();
        expect(server.accepted).toBe(3);
        (await engine.lease()).release();
        expect(server.accepted).toBe(3);
        engine.close();
      });
    });

    it('close() is final: pending and later calls fail with ClientClosedError', async () => {
      await withServer(async (server) => {
        const engine = await open(server);
        const pending = settled(call(engine, 'DELAY 50 x'));
        await h.sleep(1);
        engine.close();
        expect(await pending).toBeInstanceOf(ClientClosedError);
        expect(await settled(call(engine, 'ECHO after'))).toBeInstanceOf(ClientClosedError);
        expect(engine.status).toBe('closed');
      });
    });
  });
}
