// The Postgres session alone, without IO: a pipelined burst (a statement parsed once and bound
// twice, one query that fails) answered by golden server bytes, fed whole, split at every
// offset, byte by byte, and hostile bytes after the startup. The real server is exercised by
// the conformance suite (packages/conformance/src/pg.ts); this pins the session's own logic.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PgCall, PgError, PgSession } from '@curio-ts/client';
import type { PgResult, PgSessionEvent, SessionSink } from '@curio-ts/client';
import { ProtocolError, TypeRegistry } from '@curio-ts/proto-pg';

const text = new TextEncoder();

function cstr(value: string): number[] {
  return [...text.encode(value), 0];
}
function int16(n: number): number[] {
  return [(n >> 8) & 255, n & 255];
}
function int32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}
function message(type: string, body: number[] = []): number[] {
  return [type.charCodeAt(0), ...int32(body.length + 4), ...body];
}
function field(name: string, typeOid: number): number[] {
  return [...cstr(name), ...int32(0), ...int16(0), ...int32(typeOid), ...int16(4), ...int32(-1), ...int16(0)];
}
function dataRow(values: (string | null)[]): number[] {
  const body = int16(values.length);
  for (const value of values) {
    if (value === null) body.push(...int32(-1));
    else {
      const bytes = [...text.encode(value)];
      body.push(...int32(bytes.length), ...bytes);
    }
  }
  return message('D', body);
}

/** The server's side of: startup; q1 (parse, describe, bind, execute); q2 (bind q1 again); q3 (1/0). */
const STARTUP = [
  ...message('R', int32(0)),
  ...message('S', [...cstr('server_version'), ...cstr('15.0')]),
  ...message('K', [...int32(4242), ...int32(99)]),
  ...message('Z', [0x49]),
];
const SERVER = new Uint8Array([
  ...STARTUP,
  // q1
  ...message('1'),
  ...message('t', [...int16(1), ...int32(23)]),
  ...message('T', [...int16(2), ...field('n', 23), ...field('t', 25)]),
  ...message('2'),
  ...dataRow(['1', 'ünï ✓']),
  ...dataRow(['2', null]),
  ...message('C', cstr('SELECT 2')),
  ...message('Z', [0x49]),
  // q2: the statement bound again, before its Describe had come (text results)
  ...message('2'),
  ...dataRow(['7', 'x']),
  ...message('C', cstr('SELECT 1')),
  ...message('Z', [0x49]),
  // q3: an error at execution
  ...message('1'),
  ...message('t', [...int16(0)]),
  ...message('T', [...int16(1), ...field('q', 23)]),
  ...message('2'),
  ...message('E', [...cstr('SERROR'), ...cstr('VERROR'), ...cstr('C22012'), ...cstr('Mdivision by zero'), 0]),
  ...message('Z', [0x49]),
  ...message('S', [...cstr('application_name'), ...cstr('after')]),
]);

interface Outcome {
  readonly ok: boolean;
  readonly value: unknown;
}

/** A session with the burst sent, and a sink that records outcomes and events. */
function scenario(rowMode: 'object' | 'array' = 'object'): { session: PgSession; sink: SessionSink<PgCall, PgSessionEvent>; outcomes: Map<PgCall, Outcome>; calls: PgCall[]; events: PgSessionEvent[] } {
  const session = new PgSession({ statementCacheSize: 10, types: new TypeRegistry() });
  session.open({ user: 'u', database: 'd' });
  const outcomes = new Map<PgCall, Outcome>();
  const events: PgSessionEvent[] = [];
  const written = new Map<number, PgCall>();
  const make = (kind: 'startup' | 'query', sql: string, params: unknown[]): PgCall => {
    const call = new PgCall(kind, sql, params, rowMode, true, null, undefined, undefined);
    call.start({ resolve: (value) => outcomes.set(call, { ok: true, value }), reject: (error) => outcomes.set(call, { ok: false, value: error }) });
    return call;
  };
  const calls = [make('startup', '', []), make('query', 'select $1::int4 as n, t', [1]), make('query', 'select $1::int4 as n, t', [7]), make('query', 'select 1/0 as q', [])];
  for (const call of calls) {
    call.id = session.send(call);
    call.state = 'written';
    written.set(call.id, call);
  }
  expect(session.dataToSend()?.length).toBeGreaterThan(0);
  const sink: SessionSink<PgCall, PgSessionEvent> = {
    take: (id) => {
      const call = written.get(id) ?? null;
      written.delete(id);
      return call;
    },
    event: (event) => events.push(event),
    ready: () => {},
    handshakeFailed: () => {},
    pauseReading: () => () => {},
    sendAside: () => {},
    resubmit: () => {},
  };
  return { session, sink, outcomes, calls, events };
}

function expectSettled(run: ReturnType<typeof scenario>): void {
  const [startup, q1, q2, q3] = run.calls as [PgCall, PgCall, PgCall, PgCall];
  expect(run.outcomes.get(startup)).toEqual({ ok: true, value: undefined });
  const r1 = run.outcomes.get(q1)?.value as PgResult<unknown>;
  const arrays = run.calls[1]?.rowMode === 'array';
  expect(r1.rows).toEqual(
    arrays
      ? [
          [1, 'ünï ✓'],
          [2, null],
        ]
      : [
          { n: 1, t: 'ünï ✓' },
          { n: 2, t: null },
        ],
  );
  expect([r1.command, r1.rowCount, r1.fields.map((f) => f.name)]).toEqual(['SELECT', 2, ['n', 't']]);
  expect((run.outcomes.get(q2)?.value as PgResult<unknown>).rows).toEqual(arrays ? [[7, 'x']] : [{ n: 7, t: 'x' }]);
  const error = run.outcomes.get(q3);
  expect(error?.ok).toBe(false);
  expect(error?.value).toBeInstanceOf(PgError);
  expect((error?.value as PgError).code).toBe('22012');
  expect(run.session.processId).toBe(4242);
  expect(run.session.serverParameters.get('server_version')).toBe('15.0');
  expect(run.events).toContainEqual({ type: 'parameter-status', name: 'application_name', value: 'after' });
}

describe('PgSession', () => {
  it('settles a pipelined burst from the whole answer', () => {
    const run = scenario();
    run.session.receive(SERVER, run.sink);
    expectSettled(run);
  });

  it.each(['object', 'array'] as const)('settles it the same way split at every offset, and byte by byte (rowMode %s)', (rowMode) => {
    for (let cut = 1; cut < SERVER.length; cut++) {
      const run = scenario(rowMode);
      run.session.receive(SERVER.slice(0, cut), run.sink);
      run.session.receive(SERVER.slice(cut), run.sink);
      expectSettled(run);
    }
    const run = scenario(rowMode);
    for (let i = 0; i < SERVER.length; i++) run.session.receive(SERVER.slice(i, i + 1), run.sink);
    expectSettled(run);
  });

  it('hostile bytes after the startup: a typed error or calls left waiting, never a wrong answer', () => {
    const startupEnd = STARTUP.length;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (garbage) => {
        const run = scenario();
        run.session.receive(SERVER.slice(0, startupEnd), run.sink);
        expect(run.outcomes.size).toBe(1);
        try {
          run.session.receive(garbage, run.sink);
        } catch (error) {
          expect(error instanceof ProtocolError || error instanceof Error).toBe(true);
          expect((error as { code?: unknown }).code).toEqual(expect.any(String));
        }
        for (const [call, outcome] of run.outcomes) {
          if (call === run.calls[0]) continue;
          // Whatever settled from garbage settled with an error or a well-formed result.
          if (outcome.ok) expect(Array.isArray((outcome.value as PgResult).rows)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('cancels the running query with a CancelRequest sent aside; one waiting behind only once it starts', () => {
    const run = scenario();
    const aside: Uint8Array[] = [];
    const sink = { ...run.sink, sendAside: (bytes: Uint8Array) => aside.push(bytes) };
    run.session.receive(SERVER.subarray(0, STARTUP.length), sink);
    expect(run.session.abandon(run.calls[1] as PgCall, sink)).toBe('pending');
    expect(aside).toHaveLength(1);
    expect([...(aside[0] as Uint8Array)]).toEqual([...int32(16), ...int32(80877102), ...int32(4242), ...int32(99)]);
    // The query behind it is cancelled only once it starts (when the one before it is answered).
    expect(run.session.abandon(run.calls[3] as PgCall, sink)).toBe('pending');
    expect(aside).toHaveLength(1);
  });
});
