// The Postgres client, unchanged, on the memory runtime against a scripted PostgreSQL peer
// (conformance's startFakePgOn), with faults injected exactly where a real network cannot put
// them: a server that goes away in the middle of a DataRow, a stalled reply under a per-call
// timeout (and the CancelRequest it sends), a CancelRequest that arrives late, garbage inside a
// reply, a handshake answered too late, refused reconnects, every byte in a chunk of its own,
// and a server that dies in the middle of a pipelined batch. The deterministic complement of
// the suites against real PostgreSQL (conformance's pg.ts and pg-faults.ts), not a substitute.
import { describe, expect, it } from 'vitest';
import { AbortedError, CommandTimeoutError, ConnectTimeoutError, ConnectionError, ConnectionLostError, ProtocolViolationError, ReconnectFailedError, isPgError } from '@curio-ts/client';
import type { PgClient, PgOptions } from '@curio-ts/client';
import { startFakePgOn } from '@curio-ts/conformance';
import type { FakePg, FakePgAnswer, FakePgQuery } from '@curio-ts/conformance';
import { createMemoryRuntime, forFirst, seededRandom } from '@curio-ts/backend-memory';
import type { MemoryConnection, MemoryRuntimeOptions } from '@curio-ts/backend-memory';

/** A peer that answers `select <n>` with one row, `rows <n>` with n rows, and `fail` with 42P01. */
function scripted(query: FakePgQuery): FakePgAnswer {
  const text = query.text.trim();
  if (text === 'fail') return { error: { code: '42P01', message: 'relation "nowhere" does not exist' } };
  const rows = /^rows (\d+)$/.exec(text);
  if (rows !== null) return { fields: ['n', 'label'], rows: Array.from({ length: Number(rows[1]) }, (_, i) => [String(i), `row ${i}`]) };
  const echo = /^select \$1::text$/.exec(text);
  if (echo !== null) return { fields: ['value'], rows: [[query.params[0] ?? null]] };
  const one = /^select (\d+)$/.exec(text);
  if (one !== null) return { fields: [{ name: 'n', typeOid: 23 }], rows: [[one[1] as string]] };
  return { command: text.split(' ')[0]?.toUpperCase() ?? '' };
}

async function setup(answer: (query: FakePgQuery) => FakePgAnswer | Promise<FakePgAnswer> = scripted, options: MemoryRuntimeOptions = {}) {
  const memory = createMemoryRuntime({ autoAdvance: true, ...options });
  const peer = await startFakePgOn(memory.runtime, answer);
  const connect = (more: PgOptions = {}): Promise<PgClient> => memory.connectPg({ host: '127.0.0.1', port: peer.port, user: 'test', database: 'test', ...more });
  return { memory, peer, connect, network: memory.network, clock: memory.clock };
}

/** The one open connection (the client's main connection). */
function only(connections: readonly MemoryConnection[]): MemoryConnection {
  expect(connections).toHaveLength(1);
  return connections[0] as MemoryConnection;
}

/** Where the virtual clock is after `attempts` reconnect pauses of `delay` ms from 0 (the engine's jitter, seed 1). */
function backoff(delay: number, attempts: number): number {
  const random = seededRandom(1);
  let at = 0;
  for (let i = 0; i < attempts; i++) at += delay * (0.5 + random() / 2);
  return at;
}

/** The outcome of a promise: its value, or the error it rejected with. */
function settle<T>(promise: Promise<T>): Promise<T | { readonly rejected: unknown }> {
  return promise.then(
    (value) => value,
    (rejected: unknown) => ({ rejected }),
  );
}

/** Bytes of one DataRow of `values` (text). */
function dataRowLength(values: readonly string[]): number {
  return 1 + 4 + 2 + values.reduce((sum, value) => sum + 4 + new TextEncoder().encode(value).length, 0);
}

describe('the scripted PostgreSQL peer (memory runtime)', () => {
  it('answers the startup with the parameters, a key per connection, and the queries as scripted', async () => {
    const { peer, connect } = await setup();
    const c = await connect();
    expect(c.serverParameters.get('server_version')).toMatch(/^17\.0/);
    expect(c.serverParameters.get('client_encoding')).toBe('UTF8');
    expect(c.serverParameters.get('integer_datetimes')).toBe('on');
    expect(c.processId).toBe(peer.processIdOf(1));
    expect((await c.query('select 7')).rows).toEqual([{ n: 7 }]);
    expect((await c.query('select 7')).rows).toEqual([{ n: 7 }]); // prepared: binary int4 this time
    expect((await c.query('select $1::text', ['é and 42'])).rows).toEqual([{ value: 'é and 42' }]);
    expect((await c.query('select $1::text', [42])).rows).toEqual([{ value: '42' }]);
    const failure = await c.query('fail').catch((e: unknown) => e);
    expect(isPgError(failure, '42P01')).toBe(true);
    expect((await c.simpleQuery('rows 2'))[0]?.rows).toEqual([
      { n: '0', label: 'row 0' },
      { n: '1', label: 'row 1' },
    ]);
    await c.transaction(async (tx) => {
      expect((await tx.query('rows 1')).rowCount).toBe(1);
    });
    expect(peer.queries.map((q) => q.text)).toEqual(['select 7', 'select 7', 'select $1::text', 'select $1::text', 'fail', 'rows 2', 'begin', 'rows 1', 'commit']);
    expect(peer.events[0]).toMatchObject({ type: 'startup', connection: 1, parameters: { user: 'test', database: 'test', client_encoding: 'UTF8' } });
    await c.close();
  });

  it('says no to an SSLRequest, then takes the startup on the same connection', async () => {
    const { memory, peer } = await setup();
    const raw = await memory.runtime.connect({ host: '127.0.0.1', port: peer.port });
    await raw.write(new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
    expect([...((await raw.read()) as Uint8Array)]).toEqual([0x4e]);
    raw.close();
    await memory.clock.runUntilIdle();
    expect(peer.events.map((e) => e.type)).toEqual(['ssl-request']);
  });
});

describe('the Postgres client under injected faults (memory runtime)', () => {
  it('a server that closes in the middle of a DataRow: ConnectionError, the next query runs on a new connection', async () => {
    const { connect, network, peer, clock } = await setup();
    const c = await connect();
    expect((await c.query('rows 3')).rows).toHaveLength(3);
    const first = only(network.connections);
    // The next reply (a cached statement: BindComplete, then the DataRows) is cut in the middle of its second DataRow.
    const cut = first.toClient.writtenBytes + 5 + dataRowLength(['0', 'row 0']) + 9;
    first.configure({ toClient: { closeAfter: cut } });
    const failure = await c.query('rows 3').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionError);
    expect(failure).not.toBeInstanceOf(ProtocolViolationError);
    expect(clock.now()).toBe(0); // no wait: the loss is seen as the bytes stop
    expect(first.toClient.writtenBytes).toBe(cut);
    expect(first.open).toBe(false);
    expect((await c.query('rows 2')).rows).toEqual([
      { n: '0', label: 'row 0' },
      { n: '1', label: 'row 1' },
    ]);
    expect(network.connectionsMade).toBe(2);
    expect(peer.queries.map((q) => q.connection)).toEqual([1, 1, 2]);
    await c.close();
  });

  it('a stalled reply under a per-call timeout: CommandTimeoutError at its virtual time, a CancelRequest with the right key reaches the peer, the connection is reused', async () => {
    let hold = true;
    const { connect, network, peer, clock } = await setup((query) => (hold && query.text === 'select 1' ? new Promise<FakePgAnswer>(() => {}) : scripted(query)));
    const c = await connect();
    expect((await c.query('select 2')).rows).toEqual([{ n: 2 }]);
    const main = only(network.connections);
    const started = clock.now();
    const failure = await c.query('select 1', [], { timeout: 250 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CommandTimeoutError);
    expect(clock.now() - started).toBe(250);
    hold = false;
    expect((await c.query('select 3')).rows).toEqual([{ n: 3 }]);
    expect(peer.cancels).toEqual([{ processId: peer.processIdOf(1), secret: peer.secretOf(1), connection: 2 }]);
    expect(peer.events.find((e) => e.type === 'cancel')?.at).toBe(started + 250);
    // The main connection stayed: one more connection was made, for the CancelRequest alone.
    expect(network.connectionsMade).toBe(2);
    expect(only(network.connections)).toBe(main);
    expect(peer.queries.map((q) => [q.text, q.connection])).toEqual([
      ['select 2', 1],
      ['select 1', 1],
      ['select 3', 1],
    ]);
    await c.close();
  });

  it('a reply held by the network past the timeout: the CancelRequest hits nothing (the query is over); the call ends with CommandTimeoutError only once the late reply comes, then the connection is reused', async () => {
    const { connect, network, peer, clock } = await setup();
    const c = await connect();
    expect((await c.query('select 2')).rows).toEqual([{ n: 2 }]);
    const main = only(network.connections);
    main.toClient.stall(); // the server answers at once; its bytes wait on the way
    const started = clock.now();
    let settledAt: number | null = null;
    const outcome = settle(c.query('select 1', [], { timeout: 250 })).finally(() => {
      settledAt = clock.now();
    });
    await clock.advance(1000);
    // The CancelRequest went out at 250 and found the connection idle (the answer was sent).
    expect(peer.cancels).toEqual([{ processId: peer.processIdOf(1), secret: peer.secretOf(1), connection: 2 }]);
    expect(peer.events.find((e) => e.type === 'cancel')?.at).toBe(started + 250);
    // An abandoned query settles once the server confirmed (PgQueryOptions), or at the latest
    // connectTimeout after its abandonment (next test): here the reply comes first.
    expect(settledAt).toBeNull();
    main.toClient.resume();
    expect(((await outcome) as { rejected: unknown }).rejected).toBeInstanceOf(CommandTimeoutError);
    expect(settledAt).toBe(started + 1000);
    expect((await c.query('select 3')).rows).toEqual([{ n: 3 }]); // its own answer, not the late one of select 1
    expect(network.connectionsMade).toBe(2);
    expect(only(network.connections)).toBe(main);
    await c.close();
  });

  it('a reply that never comes after a timeout (a black hole): the call ends connectTimeout after its abandonment, the connection is given up, the next query runs on a new one', async () => {
    const { connect, network, clock } = await setup();
    const c = await connect({ connectTimeout: 2000 });
    expect((await c.query('select 2')).rows).toEqual([{ n: 2 }]);
    const main = only(network.connections);
    main.toClient.stall(); // never resumed
    const started = clock.now();
    let settledAt: number | null = null;
    const outcome = settle(c.query('select 1', [], { timeout: 250 })).finally(() => {
      settledAt = clock.now();
    });
    expect(((await outcome) as { rejected: unknown }).rejected).toBeInstanceOf(CommandTimeoutError);
    expect(settledAt).toBe(started + 250 + 2000);
    expect((await c.query('select 3')).rows).toEqual([{ n: 3 }]);
    expect(network.connectionsMade).toBe(3); // main, the CancelRequest's, the new main
    await c.close();
  });

  it('an abort while the CancelRequest is slow to arrive: the peer sees the cancel before the next query', async () => {
    const { connect, network, peer, clock } = await setup((query) => (query.text === 'select 1' ? new Promise<FakePgAnswer>(() => {}) : scripted(query)));
    // The second connection (the CancelRequest's) takes 50 ms each way; the main one none.
    network.faults({ port: peer.port }, (attempt) => (attempt.index === 1 ? { toServer: { latency: 50 }, toClient: { latency: 50 } } : undefined));
    const c = await connect();
    const controller = new AbortController();
    const running = settle(c.query('select 1', [], { signal: controller.signal }));
    await clock.runUntilIdle();
    expect(peer.queries.map((q) => q.text)).toEqual(['select 1']);
    const abortedAt = clock.now();
    controller.abort();
    const next = c.query('select 2'); // at once, while the CancelRequest is on its way
    expect(((await running) as { rejected: unknown }).rejected).toBeInstanceOf(AbortedError);
    expect((await next).rows).toEqual([{ n: 2 }]);
    const order = peer.events.filter((e) => e.type === 'query' || e.type === 'cancel').map((e) => (e.type === 'query' ? e.query.text : 'cancel'));
    expect(order).toEqual(['select 1', 'cancel', 'select 2']);
    const cancel = peer.events.find((e) => e.type === 'cancel');
    const second = peer.events.find((e) => e.type === 'query' && e.query.text === 'select 2');
    expect(cancel?.at).toBe(abortedAt + 50);
    // Written once the server closed the cancel connection: its end of stream took 50 ms back.
    expect(second?.at).toBe(abortedAt + 100);
    expect(peer.cancels[0]).toMatchObject({ processId: peer.processIdOf(1), secret: peer.secretOf(1) });
    expect(network.connectionsMade).toBe(2);
    await c.close();
  });

  it('garbage inside a reply: ProtocolViolationError, the next query runs on a new connection', async () => {
    const { connect, network } = await setup();
    const c = await connect();
    expect((await c.query('select 1')).rows).toEqual([{ n: 1 }]);
    const main = only(network.connections);
    // After the reply's first type byte, a length of -1 (0xffffffff).
    main.configure({ toClient: { inject: new Uint8Array([0xff, 0xff, 0xff, 0xff]), injectAfter: main.toClient.writtenBytes + 1 } });
    const failure = await c.query('select 1').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ProtocolViolationError);
    expect((await c.query('select 5')).rows).toEqual([{ n: 5 }]);
    expect(network.connectionsMade).toBe(2);
    await c.close();
  });

  it('a handshake answered too late: ConnectTimeoutError at exactly the virtual connect timeout', async () => {
    const { connect, network, clock, peer } = await setup();
    network.faults({ port: peer.port }, { toClient: { firstDelay: 5000 } });
    const failure = await connect({ connectTimeout: 1000, reconnect: false }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectTimeoutError);
    expect(clock.now()).toBe(1000);
    expect(network.connectionsMade).toBe(1);
    await clock.runUntilIdle();
    expect(network.connections).toEqual([]);
    expect(peer.open).toBe(0);
  });

  it('reconnects refused every time: the queued query fails with ReconnectFailedError after maxAttempts, the client closes', async () => {
    const { connect, network, peer, clock } = await setup();
    const c = await connect({ reconnect: { initialDelay: 10, maxDelay: 10, maxAttempts: 3 } });
    const refusals = network.faults({ port: peer.port }, { refuse: true });
    only(network.connections).close();
    await clock.runUntilIdle(); // the client sees the loss (a query written before would fail with ConnectionLostError)
    expect(c.status).toBe('reconnecting');
    const failure = await c.query('select 1').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ReconnectFailedError);
    expect(((failure as ReconnectFailedError).cause as ConnectionError).code).toBe('ECONNREFUSED');
    expect(refusals.attempts).toBe(3);
    // Three pauses of 10 ms with the engine's jitter (× 0.5..1, from the runtime's seeded random).
    expect(clock.now()).toBe(backoff(10, 3));
    expect(network.connectionsMade).toBe(1);
    expect(c.status).toBe('closed');
  });

  it('refused twice, then accepted: the client is back on its third connect attempt', async () => {
    const { connect, network, peer, clock } = await setup();
    const c = await connect({ reconnect: { initialDelay: 100, maxDelay: 100, maxAttempts: 10 } });
    const refusals = network.faults({ port: peer.port }, forFirst(2, { refuse: true }));
    only(network.connections).close();
    await clock.runUntilIdle();
    expect(c.status).toBe('reconnecting');
    expect((await c.query('select 4')).rows).toEqual([{ n: 4 }]);
    expect(refusals.attempts).toBe(3);
    expect(clock.now()).toBe(backoff(100, 3));
    expect(network.connectionsMade).toBe(2);
    expect(c.status).toBe('ready');
    await c.close();
  });

  it('every byte in a chunk of its own, both ways: the same results as whole chunks', async () => {
    const run = async (chunked: boolean): Promise<unknown[]> => {
      const { connect, network, peer } = await setup();
      if (chunked) network.faults({ port: peer.port }, { toClient: { chunkSize: 1 }, toServer: { chunkSize: 1 } });
      const c = await connect();
      const out: unknown[] = [];
      out.push(c.serverParameters.get('server_version'), c.processId);
      out.push((await c.query('select 8')).rows, (await c.query('select 8')).rows);
      out.push((await c.query('select $1::text', ['naïve ☃'])).rows);
      out.push(await settle(c.query('fail')).then((r) => ('rejected' in (r as object) ? (r as { rejected: { code: string } }).rejected.code : r)));
      out.push((await Promise.all(Array.from({ length: 20 }, (_, i) => c.query(`rows ${i}`)))).map((r) => r.rows));
      out.push((await c.simpleQuery('rows 3'))[0]?.rows);
      await c.close();
      return out;
    };
    const whole = await run(false);
    const chunked = await run(true);
    expect(chunked).toEqual(whole);
    expect(whole[2]).toEqual([{ n: 8 }]);
    expect(whole[5]).toBe('42P01');
  });

  it('a pipelined batch of 100 where the server dies after answering 37: those 37 have their own rows, the 63 others fail typed', async () => {
    let answered = 0;
    const { connect, network, peer } = await setup((query) => {
      if (query.text.startsWith('select $1')) {
        if (answered === 37) return 'close';
        answered++;
        return { fields: ['value'], rows: [[query.params[0] ?? null]] };
      }
      return scripted(query);
    });
    const c = await connect();
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => settle(c.query('select $1::text', [`v${i}`]))));
    const resolved = outcomes.slice(0, 37);
    const failed = outcomes.slice(37);
    expect(resolved.map((r) => (r as { rows: unknown[] }).rows)).toEqual(Array.from({ length: 37 }, (_, i) => [{ value: `v${i}` }]));
    for (const outcome of failed) expect((outcome as { rejected: unknown }).rejected).toBeInstanceOf(ConnectionLostError);
    expect(peer.queries.filter((q) => q.connection === 1)).toHaveLength(100);
    expect(network.connectionsMade).toBe(1);
    // The client goes on, on a new connection.
    expect((await c.query('select 6')).rows).toEqual([{ n: 6 }]);
    expect(network.connectionsMade).toBe(2);
    await c.close();
  });
});
