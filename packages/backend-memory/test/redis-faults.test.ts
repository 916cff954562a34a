// The Redis client, unchanged, on the memory runtime against an in-process Redis, with faults
// injected exactly where a real network cannot be made to put them: a server that goes away in
// the middle of a reply, stalls, sends garbage, answers its handshake too late, refuses or
// resets the reconnects; and a consumer that stops reading, measured.
import { describe, expect, it } from 'vitest';
import { AbortedError, CommandTimeoutError, ConnectTimeoutError, ConnectionError, ConnectionLostError, ProtocolViolationError, ReconnectFailedError, RedisError } from '@curio-ts/client';
import { startInProcessRedis } from '@curio-ts/conformance';
import { createMemoryRuntime, forFirst } from '@curio-ts/backend-memory';
import type { MemoryConnection, MemoryRuntimeOptions } from '@curio-ts/backend-memory';

const URL = 'redis://127.0.0.1:6379';

async function setup(options: MemoryRuntimeOptions = {}) {
  const memory = createMemoryRuntime({ autoAdvance: true, ...options });
  const server = await startInProcessRedis(memory.runtime);
  return { memory, server, network: memory.network, clock: memory.clock };
}

/** A command as the client writes it (RESP array of bulk strings). */
function resp(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;
}

/** The one open connection (the client's main connection). */
function only(connections: readonly MemoryConnection[]): MemoryConnection {
  expect(connections).toHaveLength(1);
  return connections[0] as MemoryConnection;
}

describe('the Redis client under injected faults (memory runtime)', () => {
  it('a server that goes away after a command, before replying: a GET is retried on a new connection, an INCR fails with ConnectionLostError', async () => {
    const { memory, network } = await setup();
    const c = await memory.connectRedis(URL);
    await c.set('k', 'value');
    await c.set('n', '1');
    const first = only(network.connections);
    // The connection closes once the server has the whole command: it never answers.
    first.configure({ toServer: { closeAfter: first.toServer.writtenBytes + resp('GET', 'k').length } });
    expect(await c.get('k')).toBe('value');
    expect(first.open).toBe(false);
    expect(network.connectionsMade).toBe(2);
    const second = only(network.connections);
    second.configure({ toServer: { closeAfter: second.toServer.writtenBytes + resp('INCR', 'n').length } });
    const failure = await c.incr('n').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionLostError);
    expect(await c.get('n')).toBe('2'); // it ran: the reply was lost, not the command
    await c.close();
  });

  it('a server that closes in the middle of a reply: the call fails with a ConnectionError, the next one goes out on a new connection', async () => {
    const { memory, network } = await setup();
    const c = await memory.connectRedis(URL);
    await c.set('n', '1');
    const first = only(network.connections);
    first.configure({ toClient: { closeAfter: first.toClient.writtenBytes + 1 } }); // ":" of ":2\r\n"
    const failure = await c.incr('n').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionError);
    expect(await c.get('n')).toBe('2');
    expect(network.connectionsMade).toBe(2);
    await c.close();
  });

  it('a server that stalls: the per-call timeout ends the call at its virtual time; the late reply is discarded', async () => {
    const { memory, network, clock } = await setup();
    const c = await memory.connectRedis(URL);
    await c.set('k', 'value');
    const main = only(network.connections);
    main.toClient.stall();
    const started = clock.now();
    const failure = await c.get('k', { timeout: 250 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CommandTimeoutError);
    expect(clock.now() - started).toBe(250);
    main.toClient.resume();
    expect(await c.echo('after the stall')).toBe('after the stall');
    expect(network.connectionsMade).toBe(1);
    await c.close();
  });

  it('timeouts without a timer per call: staggered calls in two timeout lanes each end at their own virtual deadline; settled calls leave no timer behind', async () => {
    const { memory, network, clock } = await setup({ autoAdvance: false });
    const c = await memory.connectRedis({ url: URL, commandTimeout: 100 });
    await c.set('k', 'value');
    // Answered calls: nothing stays armed once they settle.
    // (1 000: up to 1 024 spares are kept without the timer that trims them.)
    expect(await Promise.all(Array.from({ length: 1000 }, () => c.get('k')))).toEqual(Array.from({ length: 1000 }, () => 'value'));
    expect(clock.pendingTimers).toBe(0);
    // Recycled with their timeout (nothing else in their CallExtra): the calls below are made
    // from these spares, and each still ends at its own deadline.
    expect(c.core.spareCalls).toBe(1000);
    const main = only(network.connections);
    main.toClient.stall();
    const t0 = clock.now();
    const ended: [string, number, unknown][] = [];
    const track = (name: string, call: Promise<unknown>): Promise<void> =>
      call.then(
        (value) => void ended.push([name, clock.now() - t0, value]),
        (error: unknown) => void ended.push([name, clock.now() - t0, error instanceof CommandTimeoutError ? 'timeout' : error]),
      );
    const all = [track('a0', c.get('k')), track('long0', c.get('k', { timeout: 250 }))];
    await clock.advance(30);
    all.push(track('a30', c.get('k')), track('b30', c.get('k')));
    await clock.advance(40);
    all.push(track('a70', c.get('k')), track('long70', c.get('k', { timeout: 250 })));
    await clock.advance(400);
    await Promise.all(all);
    expect(ended).toEqual([
      ['a0', 100, 'timeout'],
      ['a30', 130, 'timeout'],
      ['b30', 130, 'timeout'],
      ['a70', 170, 'timeout'],
      ['long0', 250, 'timeout'],
      ['long70', 320, 'timeout'],
    ]);
    expect(clock.pendingTimers).toBe(0);
    main.toClient.resume();
    await clock.advance(1);
    expect(await c.echo('after')).toBe('after');
    // More distinct timeouts than there are lanes: the rest get a timer each, same outcome.
    main.toClient.stall();
    const t1 = clock.now();
    const many = Array.from({ length: 20 }, (_, i) => c.get('k', { timeout: 10 + i }).then(() => -1, () => clock.now() - t1));
    await clock.advance(100);
    expect(await Promise.all(many)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
    main.toClient.resume();
    await c.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('garbage inside a reply: the call fails with ProtocolViolationError, the next one goes out on a new connection', async () => {
    const { memory, network } = await setup();
    const c = await memory.connectRedis(URL);
    await c.set('k', 'value');
    const main = only(network.connections);
    main.configure({ toClient: { inject: '?garbage\r\n', injectAfter: main.toClient.writtenBytes + 1 } });
    const failure = await c.get('k').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ProtocolViolationError);
    expect(await c.get('k')).toBe('value');
    expect(network.connectionsMade).toBe(2);
    await c.close();
  });

  it('garbage while no call waits: the connection is dropped, and the next call goes out on a new one', async () => {
    const { memory, network, clock } = await setup();
    const c = await memory.connectRedis(URL);
    await c.set('k', 'value');
    const first = only(network.connections);
    first.toClient.inject('?garbage\r\n');
    await clock.runUntilIdle();
    expect(first.open).toBe(false);
    expect(await c.get('k')).toBe('value');
    expect(network.connectionsMade).toBe(2);
    await c.close();
  });

  it('a handshake answered too late: connectTimeout ends the connect at exactly its virtual time', async () => {
    const { memory, network, clock } = await setup();
    network.faults({ port: 6379 }, { toClient: { firstDelay: 5000 } });
    const failure = await memory.connectRedis({ port: 6379, connectTimeout: 1000, reconnect: false }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectTimeoutError);
    expect(clock.now()).toBe(1000);
    await clock.runUntilIdle(); // the server sees the client's end of stream, and closes its end
    expect(network.connections).toEqual([]);
  });

  it('dropped during a reconnect: refused twice, reset twice, then the client is back', async () => {
    const { memory, network } = await setup();
    const c = await memory.connectRedis({ port: 6379, reconnect: { initialDelay: 100, maxDelay: 100, maxAttempts: 10 } });
    expect(await c.echo('before')).toBe('before');
    const refusals = network.faults({ port: 6379 }, forFirst(2, { refuse: true }));
    const resets = network.faults({ port: 6379 }, (attempt) => (attempt.index >= 2 && attempt.index < 4 ? { reset: true } : undefined));
    only(network.connections).reset();
    expect(await c.echo('after')).toBe('after');
    expect(refusals.attempts).toBe(5);
    expect(resets.attempts).toBe(5);
    expect(c.status).toBe('ready');
    await c.close();
  });

  it('reconnects refused every time: the client gives up after maxAttempts with ReconnectFailedError', async () => {
    const { memory, network } = await setup();
    const c = await memory.connectRedis({ port: 6379, reconnect: { initialDelay: 10, maxDelay: 10, maxAttempts: 3 } });
    const refusals = network.faults({ port: 6379 }, { refuse: true });
    only(network.connections).close();
    const failure = await c.echo('never').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ReconnectFailedError);
    expect(((failure as ReconnectFailedError).cause as ConnectionError).code).toBe('ECONNREFUSED');
    expect(refusals.attempts).toBe(3);
    expect(c.status).toBe('closed');
  });

  it('every byte in a chunk of its own, both ways: the same results', async () => {
    const { memory, network } = await setup();
    network.faults({ port: 6379 }, { toClient: { chunkSize: 1 }, toServer: { chunkSize: 1 } });
    const c = await memory.connectRedis(URL);
    await c.hSet('h', { a: '1', b: 'two' });
    expect(await c.hGetAll('h')).toEqual({ a: '1', b: 'two' });
    const pipeline = c.pipeline();
    for (let i = 0; i < 50; i++) pipeline.echo(`e${i}`);
    expect(await pipeline.exec()).toEqual(Array.from({ length: 50 }, (_, i) => `e${i}`));
    expect(await c.get('missing')).toBeNull();
    await c.close();
  });
});

describe('a consumer that stops reading (memory runtime, server written on the Runtime)', () => {
  it('stalls the peer with bounded memory, measured, and the peer goes on once it reads again', async () => {
    const highWater = 64 * 1024;
    const memory = createMemoryRuntime({ highWater });
    await startInProcessRedis(memory.runtime);
    const setupClient = await memory.connectRedis(URL);
    await setupClient.set('big', new Uint8Array(1024).fill(7));
    await setupClient.close();
    // A raw client that pipelines GET big as fast as its writes are taken, and never reads.
    const raw = await memory.runtime.connect({ host: '127.0.0.1', port: 6379 });
    const connection = memory.network.connections.find((c) => c.client === raw) as MemoryConnection;
    const get = new TextEncoder().encode('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n');
    const limit = 1_000_000;
    let sent = 0;
    const writer = (async () => {
      while (sent < limit) {
        await raw.write(get);
        sent++;
      }
    })().catch(() => {});
    await memory.clock.runUntilIdle();
    const held = connection.toServer.pending + connection.toClient.pending;
    // Held back after a few tens of thousands of commands (each answered with 1 KiB): the
    // pipes hold at most the high-water mark plus one write each, the server at most its
    // read-ahead (1 MiB) plus one burst of replies (1024 of them).
    expect(sent).toBeLessThan(100_000);
    expect(connection.toServer.pending).toBeLessThanOrEqual(highWater + get.length);
    expect(held).toBeLessThan(4 * 1024 * 1024);
    const stalledAt = sent;
    await memory.clock.runUntilIdle();
    expect(sent).toBe(stalledAt);
    // Reading again lets both go on.
    let received = 0;
    while (received < 8 * 1024 * 1024) received += ((await raw.read()) as Uint8Array).length;
    await memory.clock.runUntilIdle();
    expect(sent).toBeGreaterThan(stalledAt);
    raw.close();
    await writer;
  });
});

describe('spare calls (memory runtime): recycled after their reply, trimmed when unused', () => {
  it('a burst is made from the spares of the one before; a connection cut in the middle of a burst recycles nothing it should not; idle spares are let go', async () => {
    const { memory, network, clock } = await setup();
    const c = await memory.connectRedis(URL);
    const n = 3000;
    const values = Array.from({ length: n }, (_, i) => `value-${i}`);
    const batch = c.pipeline();
    for (let i = 0; i < n; i++) batch.set(`k${i}`, values[i] as string);
    await batch.exec(); // a batch's calls are not recycled
    expect(c.core.spareCalls).toBe(0);
    const burst = () => Promise.all(values.map((_, i) => c.get(`k${i}`)));
    expect(await burst()).toEqual(values);
    const held = c.core.spareCalls;
    expect(held).toBe(n);
    // The next burst takes every spare and gives each back: none made, none lost.
    expect(await burst()).toEqual(values);
    expect(c.core.spareCalls).toBe(held);
    // Cut the connection in the middle of the replies: the GETs not yet answered are sent again
    // on a new connection, and each caller still gets its own value.
    const first = only(network.connections);
    first.configure({ toClient: { closeAfter: first.toClient.writtenBytes + 1000 * `$${'value-1000'.length}\r\nvalue-1000\r\n`.length } });
    expect(await burst()).toEqual(values);
    expect(network.connectionsMade).toBe(2);
    expect(c.core.spareCalls).toBeLessThanOrEqual(n);
    expect(await burst()).toEqual(values);
    // Calls with a timeout alone are made from spares and given back (a lane entry, gone once
    // they settle); calls with a signal hold its listener: not made from spares, never recycled.
    const before = c.core.spareCalls;
    const timed = Promise.all(values.slice(0, 100).map((_, i) => c.get(`k${i}`, { timeout: 1000 })));
    expect(c.core.spareCalls).toBe(before - 100);
    expect(await timed).toEqual(values.slice(0, 100));
    expect(c.core.spareCalls).toBe(before);
    const signalled = Promise.all(values.slice(0, 100).map((_, i) => c.get(`k${i}`, { signal: new AbortController().signal })));
    expect(c.core.spareCalls).toBe(before);
    expect(await signalled).toEqual(values.slice(0, 100));
    expect(c.core.spareCalls).toBe(before);
    // A spare that had a timeout has none when made into a call without one: replies held past
    // the old timeout still arrive.
    const live = only(network.connections);
    live.toClient.stall();
    const untimed = Promise.all(values.slice(0, 100).map((_, i) => c.get(`k${i}`)));
    await clock.advance(1500);
    live.toClient.resume();
    expect(await untimed).toEqual(values.slice(0, 100));
    expect(c.core.spareCalls).toBe(before);
    // Idle: the first trim period saw them taken, the second lets go all but 1024.
    await clock.advance(10_000);
    expect(c.core.spareCalls).toBe(before);
    await clock.advance(10_000);
    expect(c.core.spareCalls).toBe(1024);
    await clock.advance(60_000);
    expect(c.core.spareCalls).toBe(1024);
    await c.close();
    expect(c.core.spareCalls).toBe(0);
  });

  it('random bursts of every kind of call, with connections cut, reset and chunked at random bytes: each caller gets its own reply or a typed error, never another\'s (seeded)', async () => {
    const { memory, network } = await setup();
    const c = await memory.connectRedis({ url: URL, reconnect: { initialDelay: 1, maxDelay: 5, maxAttempts: 1000 } });
    let seed = 0x9e3779b9;
    const random = (n: number): number => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return seed % n;
    };
    const n = 500;
    const values = Array.from({ length: n }, (_, i) => `value-${i}-${'z'.repeat(i % 37)}`);
    const batch = c.pipeline();
    for (let i = 0; i < n; i++) batch.set(`r${i}`, values[i] as string);
    batch.rPush('list', 'x');
    await batch.exec();
    let fulfilled = 0;
    for (let round = 0; round < 40; round++) {
      const size = 1 + random(800);
      const kinds: number[] = [];
      const calls: Promise<unknown>[] = [];
      const controllers: AbortController[] = [];
      for (let j = 0; j < size; j++) {
        const i = random(n);
        const kind = random(6);
        kinds.push(kind * n + i);
        if (kind === 0) calls.push(c.get(`r${i}`));
        else if (kind === 1) calls.push(c.get('list')); // WRONGTYPE
        else if (kind === 2) calls.push(c.exists(`r${i}`));
        else if (kind === 3) calls.push(c.get(`r${i}`, { bytes: true }));
        else if (kind === 4) calls.push(c.get(`r${i}`, { timeout: 10_000 }));
        else {
          const controller = new AbortController();
          controllers.push(controller);
          calls.push(c.get(`r${i}`, { signal: controller.signal }));
        }
      }
      const outcomes = Promise.allSettled(calls);
      // Faults at random: a cut or a reset somewhere in this burst's bytes, either way; chunks.
      const live = network.connections.filter((conn) => conn.open);
      const conn = live[live.length - 1];
      if (conn !== undefined && random(3) === 0) {
        const toClient = random(2) === 0;
        const pipe = toClient ? conn.toClient : conn.toServer;
        const at = pipe.writtenBytes + 1 + random(size * 20);
        pipe.configure(random(2) === 0 ? { closeAfter: at } : { resetAfter: at });
      } else if (conn !== undefined && random(4) === 0) {
        conn.toClient.configure({ chunkSize: 1 + random(40) });
      }
      if (random(2) === 0) for (const controller of controllers) if (random(2) === 0) controller.abort();
      const settled = await outcomes;
      settled.forEach((outcome, j) => {
        const kind = Math.floor((kinds[j] as number) / n);
        const i = (kinds[j] as number) % n;
        if (outcome.status === 'rejected') {
          const reason: unknown = outcome.reason;
          if (kind === 1 && reason instanceof RedisError) return;
          if (kind === 5 && reason instanceof AbortedError) return;
          // A GET written when its connection broke is sent again; one may still fail with the
          // connection's error (a lost connection of the retry itself): typed, never a value.
          expect(reason).toBeInstanceOf(ConnectionError);
          return;
        }
        fulfilled++;
        const value = outcome.value;
        if (kind === 1) throw new Error(`GET of a list answered ${String(value)}`);
        if (kind === 2) expect(value).toBe(1);
        else if (kind === 3) expect(Buffer.from(value as Uint8Array).toString()).toBe(values[i]);
        else expect(value).toBe(values[i]);
      });
      expect(c.core.spareCalls).toBeLessThanOrEqual(1 << 18);
    }
    expect(fulfilled).toBeGreaterThan(1000);
    expect(network.connectionsMade).toBeGreaterThan(3);
    expect(await c.get('r7')).toBe(values[7]);
    await c.close();
  });
});
