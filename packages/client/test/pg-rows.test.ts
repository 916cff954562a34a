// Rows as the session builds them (pg/rows.ts: one builder per result, specialised for up to
// four columns in rowMode 'array', a template copy per row for objects): results of 0 to 7
// columns, text and int4, NULLs, repeated column names and `__proto__`, in both row modes,
// from simple-query answers fed whole, split at random offsets and byte by byte, compared with
// rows built the obvious way; a DataRow of the wrong width fails its call alone.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PgCall, PgSession } from '@curio-ts/client';
import type { PgResult, PgSessionEvent, SessionSink } from '@curio-ts/client';
import { TypeRegistry } from '@curio-ts/proto-pg';

const text = new TextEncoder();
const cstr = (value: string): number[] => [...text.encode(value), 0];
const int16 = (n: number): number[] => [(n >> 8) & 255, n & 255];
const int32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const message = (type: string, body: number[] = []): number[] => [type.charCodeAt(0), ...int32(body.length + 4), ...body];
const field = (name: string, typeOid: number): number[] => [...cstr(name), ...int32(0), ...int16(0), ...int32(typeOid), ...int16(-1), ...int32(-1), ...int16(0)];

const STARTUP = [...message('R', int32(0)), ...message('K', [...int32(1), ...int32(2)]), ...message('Z', [0x49])];

interface Column {
  readonly name: string;
  readonly int: boolean;
}
type Value = number | string | null;

/** A simple query's answer: RowDescription, the rows, CommandComplete, ReadyForQuery. */
function answer(columns: readonly Column[], rows: readonly Value[][], widthOf: (row: number) => number = () => columns.length): number[] {
  const out = [...message('T', [...int16(columns.length), ...columns.flatMap((c) => field(c.name, c.int ? 23 : 25))])];
  rows.forEach((row, r) => {
    const width = widthOf(r);
    const body = int16(width);
    for (let i = 0; i < width; i++) {
      const value = row[i] ?? null;
      if (value === null) body.push(...int32(-1));
      else {
        const bytes = [...text.encode(String(value))];
        body.push(...int32(bytes.length), ...bytes);
      }
    }
    out.push(...message('D', body));
  });
  return [...out, ...message('C', cstr(`SELECT ${rows.length}`)), ...message('Z', [0x49])];
}

/** The rows the obvious way: arrays in column order, objects with a later column of a name winning. */
function expected(columns: readonly Column[], rows: readonly Value[][], rowMode: 'object' | 'array'): unknown[] {
  return rows.map((row) => {
    if (rowMode === 'array') return columns.map((_, i) => row[i] ?? null);
    const object: Record<string, unknown> = {};
    columns.forEach((c, i) => Object.defineProperty(object, c.name, { value: row[i] ?? null, enumerable: true, writable: true, configurable: true }));
    return object;
  });
}

/** A sink that hands the session its written calls by id and ignores the rest. */
function sinkOf(calls: ReadonlyMap<number, PgCall>): SessionSink<PgCall, PgSessionEvent> {
  return {
    take: (id) => calls.get(id) ?? null,
    event: () => {},
    ready: () => {},
    handshakeFailed: () => {},
    pauseReading: () => () => {},
    sendAside: () => {},
    resubmit: () => {},
  };
}

/** Feed `bytes` in the pieces `cuts` makes to a session that sent one simple query; its outcome. */
function run(bytes: readonly number[], cuts: readonly number[], rowMode: 'object' | 'array'): { ok: boolean; value: unknown } {
  const session = new PgSession({ statementCacheSize: 0, types: new TypeRegistry() });
  session.open({ user: 'u' });
  const calls = new Map<number, PgCall>();
  let outcome: { ok: boolean; value: unknown } | null = null;
  for (const kind of ['startup', 'simple'] as const) {
    const call = new PgCall(kind, kind === 'simple' ? 'select ...' : '', [], rowMode, false, null, undefined, undefined);
    if (kind === 'simple') call.start({ resolve: (value) => (outcome = { ok: true, value }), reject: (value) => (outcome = { ok: false, value }) });
    else call.start({ resolve: () => {}, reject: () => {} });
    call.id = session.send(call);
    call.state = 'written';
    calls.set(call.id, call);
  }
  const sink = sinkOf(calls);
  const all = Uint8Array.from([...STARTUP, ...bytes]);
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= at || cut >= all.length) continue;
    session.receive(all.slice(at, cut), sink);
    at = cut;
  }
  session.receive(all.slice(at), sink);
  if (outcome === null) throw new Error('the query did not settle');
  return outcome;
}

const columnArb = fc.record({ name: fc.constantFrom('a', 'b', 'c', 'n', '__proto__', 'constructor', 'ünï', ''), int: fc.boolean() });
const caseArb = fc.array(columnArb, { minLength: 0, maxLength: 7 }).chain((columns) =>
  fc.record({
    columns: fc.constant(columns),
    rows: fc.array(
      fc.tuple(...columns.map((c) => (c.int ? fc.option(fc.integer({ min: -2147483648, max: 2147483647 })) : fc.option(fc.string({ maxLength: 40 }))))).map((row) => row as Value[]),
      { maxLength: 6 },
    ),
    rowMode: fc.constantFrom('object' as const, 'array' as const),
    cuts: fc.array(fc.nat({ max: 2000 }), { maxLength: 8 }),
  }),
);

describe('rows of a result', () => {
  it('are built as the obvious way builds them, for 0 to 7 columns, both row modes, any split', () => {
    fc.assert(
      fc.property(caseArb, ({ columns, rows, rowMode, cuts }) => {
        const outcome = run(answer(columns, rows), cuts.map((c) => c + STARTUP.length), rowMode);
        expect(outcome.ok).toBe(true);
        const result = outcome.value as PgResult<unknown>[];
        expect(result).toHaveLength(1);
        expect(result[0]?.rows).toEqual(expected(columns, rows, rowMode));
        if (rowMode === 'object') for (const row of result[0]?.rows ?? []) expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
      }),
      { numRuns: 400 },
    );
  });

  it('byte by byte, for every width the builder has a case for', () => {
    for (let width = 0; width <= 6; width++) {
      const columns = Array.from({ length: width }, (_, i) => ({ name: `c${i % 3}`, int: i % 2 === 0 }));
      const rows: Value[][] = [columns.map((c, i) => (c.int ? i * 1000 - 7 : `v${i} ✓`)), columns.map(() => null)];
      const bytes = answer(columns, rows);
      for (const rowMode of ['object', 'array'] as const) {
        const outcome = run(bytes, Array.from({ length: bytes.length }, (_, i) => STARTUP.length + i), rowMode);
        expect((outcome.value as PgResult<unknown>[])[0]?.rows).toEqual(expected(columns, rows, rowMode));
      }
    }
  });

  it("a prepared statement's executions share its builders, in either row mode", () => {
    const session = new PgSession({ statementCacheSize: 10, types: new TypeRegistry() });
    session.open({ user: 'u' });
    const calls = new Map<number, PgCall>();
    const outcomes: unknown[] = [];
    const sink = sinkOf(calls);
    const send = (kind: 'startup' | 'query', rowMode: 'object' | 'array', param: number): void => {
      const call = new PgCall(kind, kind === 'query' ? 'select $1::int4 as n, $1::text as t' : '', kind === 'query' ? [param] : [], rowMode, true, null, undefined, undefined);
      call.start({ resolve: (value) => outcomes.push(kind === 'query' ? (value as PgResult<unknown>).rows : value), reject: (error) => outcomes.push(error) });
      call.id = session.send(call);
      call.state = 'written';
      calls.set(call.id, call);
    };
    send('startup', 'object', 0);
    send('query', 'object', 1);
    const described = [...message('1'), ...message('t', [...int16(1), ...int32(23)]), ...message('T', [...int16(2), ...field('n', 23), ...field('t', 25)]), ...message('2')];
    const textRow = [...message('D', [...int16(2), ...int32(1), 0x31, ...int32(1), 0x31])];
    const end = [...message('C', cstr('SELECT 1')), ...message('Z', [0x49])];
    session.receive(Uint8Array.from([...STARTUP, ...described, ...textRow, ...end]), sink);
    // Later executions are bound with the statement's result formats: int4 in binary.
    const modes = ['object', 'array', 'object', 'array'] as const;
    modes.forEach((mode, i) => send('query', mode, i + 2));
    const answers = modes.flatMap((_, i) => [...message('2'), ...message('D', [...int16(2), ...int32(4), ...int32(i + 2), ...int32(1), 0x30 + i + 2]), ...end]);
    for (let i = 0; i < answers.length; i++) session.receive(Uint8Array.of(answers[i] as number), sink);
    expect(outcomes).toEqual([undefined, [{ n: 1, t: '1' }], [{ n: 2, t: '2' }], [[3, '3']], [{ n: 4, t: '4' }], [[5, '5']]]);
  });

  it('a column named __proto__ is an own property, not the prototype', () => {
    const outcome = run(answer([{ name: '__proto__', int: false }], [['{}']]), [], 'object');
    const [row] = (outcome.value as PgResult[])[0]?.rows ?? [];
    expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toBe('{}');
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
  });

  it('a DataRow of another width than its RowDescription fails the call with ERR_PG_PROTOCOL', () => {
    for (let width = 0; width <= 6; width++) {
      const columns = Array.from({ length: width }, (_, i) => ({ name: `c${i}`, int: false }));
      for (const rowMode of ['object', 'array'] as const) {
        const outcome = run(answer(columns, [columns.map(() => 'x'), columns.map(() => 'y')], (r) => (r === 1 ? width + 1 : width)), [], rowMode);
        expect(outcome.ok).toBe(false);
        expect((outcome.value as { code?: string }).code).toBe('ERR_PG_PROTOCOL');
      }
    }
  });
});
