// conformance/pg.ts
//
// The PostgreSQL conformance suite every runtime runs unchanged, against real servers: the
// test server (CURIO_TEST_PG_URL, which `npm test` points at a private instance, else a private
// instance of this process: sharedTestPgUrl; never 127.0.0.1:5432) and private instances started here
// for what needs a configuration of its own (TLS, SCRAM and MD5 users, a unix socket). A
// backend calls `pgConformance` from its own test file with its `connectPg` and a `run` that
// executes a test body the way its users would (plain async code on node, a kernel task on
// curio). Never a mock server.
//
// Tables are named after the runtime (conf_<runtime>_...), so that the backends' test files can
// run at the same time against one server.
//
// The same suite runs on PGlite (`peer: { kind: 'pglite', ... }`): one session in WebAssembly,
// no server process. The cases that cannot apply there are listed in PGLITE_EXCLUSIONS with
// their reasons and are not registered on it (never skipped); a case that applies in part
// branches on `single` (one session) where PGlite must behave differently, and asserts that.

import type * as Vitest from 'vitest';
import { AbortedError, AllHostsFailedError, AuthenticationFailedError, ClientError, CommandTimeoutError, ConnectionError, InvalidArgumentError, PgError, sql } from '@curio-ts/client';
import type { PgClient, PgOptions, PgResult } from '@curio-ts/client';
import { sharedTestPgUrl, startPrivatePostgres } from './postgres-server.js';
import { freePort } from './servers.js';
import type { PrivatePostgres } from './postgres-server.js';
import type { RedisHarness, TestApi } from './redis.js';

/** What a backend provides to the suite: how it runs test bodies (as for Redis), and its connectPg. */
export interface PgHarness extends Pick<RedisHarness, 'runtime' | 'run' | 'sleep' | 'start'> {
  /** The backend's connectPg. */
  connect(options?: string | PgOptions): Promise<PgClient>;
  /** The peer to run against instead of a PostgreSQL server (default: the shared test server). */
  readonly peer?: PgPeer;
}

/** A peer that is not a PostgreSQL server: PGlite, one per process (shared by the whole file). */
export interface PgPeer {
  /** What it is: selects the exclusions (PGLITE_EXCLUSIONS). */
  readonly kind: 'pglite';
  /** The URL clients connect with (`pglite:`, `pglite:?thread=main`). */
  readonly url: string;
  /**
   * Where PGlite runs (default 'worker'): in 'main' (the calling thread) a query blocks the
   * event loop while it runs, so the cases that need a timer to fire meanwhile are left out too
   * (PGLITE_MAIN_THREAD_EXCLUSIONS).
   */
  readonly thread?: 'worker' | 'main';
  /** End it once the suite is done (closePglite). */
  stop(): Promise<void>;
}

/**
 * The cases of the suite that cannot apply to PGlite, each with the reason; they are not
 * registered there. PGlite is one session in WebAssembly with no server process: nothing can
 * watch it from a second session, cancel or terminate its one backend, or speak TLS or
 * passwords to it.
 */
export const PGLITE_EXCLUSIONS: Readonly<Record<string, string>> = {
  'an aborted running query is cancelled on the server; the connection stays usable':
    'PGlite cannot interrupt a running query (the transport swallows a CancelRequest), and the test watches pg_stat_activity from a second session',
  'a server connection killed under a query: typed errors, no hang, the client reconnects': 'it kills the backend from a second session; PGlite has one backend, and terminating it ends PGlite',
  'connection failures are typed: a refused port, an unknown database': 'there is no server to refuse a port or a database: PGlite has one database, and a pglite: URL never falls back to a server',
  'listen again after its connection is killed': 'it terminates the listening backend from a second session; PGlite has one backend',
  'an idle pool connection killed by the server is replaced, the transaction runs': 'with one session there is no pool connection beside the main one, and no second session to kill it from',
  'pool health: an idle pool connection the server terminated is replaced before use, unseen by a transaction, a cursor or a COPY':
    'it terminates a pool connection from a second session; with one session there is no pool connection',
  'idleTimeout closes idle pool connections on the server; the next transaction opens a new one': 'with one session there is no pool connection to close, and no second session to watch it from',
  'private servers: a unix socket, SCRAM-SHA-256 and MD5 passwords (a function too), TLS modes': 'sockets, TLS and authentication belong to a server process; PGlite runs in the worker thread, trusts its one user and speaks no TLS',
  'several hosts: a dead port first, then the server; target_session_attrs read-write and primary take it, standby finds none':
    'a pglite: URL names no host: PGlite is one in-process database, with no second host to try and no port to refuse (pg-hosts.ts covers several hosts on real servers)',
};

/**
 * The cases left out, besides PGLITE_EXCLUSIONS, when PGlite runs in the calling thread
 * (`pglite:?thread=main`): a query there blocks the event loop until it ends, so no timer fires
 * while it runs.
 */
export const PGLITE_MAIN_THREAD_EXCLUSIONS: Readonly<Record<string, string>> = {
  'the pool limits connections for transactions; a wait beyond poolTimeout is a typed error':
    "it needs the pool wait's 100 ms timer to fire while another transaction's pg_sleep(0.5) runs; with PGlite in this thread the sleep blocks the event loop, so the wait begins only after it and ends in time",
};

/** The error a promise rejects with (or a failure when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Register the suite. */
export function pgConformance(h: PgHarness, t: TestApi): void {
  const { describe, expect, beforeAll, afterAll } = t;
  const peer = h.peer;
  /** One session (PGlite): a transaction holds the client's one connection while it runs. */
  const single = peer?.kind === 'pglite';
  const excluded: Readonly<Record<string, string>> = !single ? {} : peer.thread === 'main' ? { ...PGLITE_EXCLUSIONS, ...PGLITE_MAIN_THREAD_EXCLUSIONS } : PGLITE_EXCLUSIONS;
  /** The name of every case of the suite, registered or excluded. */
  const declared = new Set<string>();
  /** Vitest's `it`, which leaves out the cases excluded on this peer (see PGLITE_EXCLUSIONS). */
  const it = ((name: string, ...rest: unknown[]) => {
    declared.add(name);
    if (excluded[name] !== undefined) return;
    (t.it as unknown as (name: string, ...rest: unknown[]) => void)(name, ...rest);
  }) as unknown as TestApi['it'];
  /** The shared server (sharedTestPgUrl: CURIO_TEST_PG_URL, else a private one) or the peer; set before the first test. */
  let url = '';
  const table = (name: string): string => `conf_${h.runtime}_${name}`;
  const withClient = <T>(body: (client: PgClient) => Promise<T>, options?: string | PgOptions): Promise<T> =>
    h.run(async () => {
      const client = await h.connect(options ?? url);
      try {
        return await body(client);
      } finally {
        await client.close();
      }
    });

  describe(`pg conformance (${h.runtime} runtime${peer === undefined ? '' : `, ${peer.kind}${peer.thread === 'main' ? ' in the main thread' : ''}`})`, () => {
    const privateServers: PrivatePostgres[] = [];
    beforeAll(async () => {
      if (peer === undefined) url = await sharedTestPgUrl();
      else {
        url = peer.url;
        // Start it once for the file (seconds and hundreds of MB): the cases then connect at once.
        await withClient(async (db) => db.query('select 1'));
      }
    }, 120_000);
    afterAll(async () => {
      for (const server of privateServers) await server.stop();
      await peer?.stop();
    });

    it('connects with a URL and runs a query: rows, fields, command, rowCount', async () => {
      await withClient(async (db) => {
        const result = await db.query<{ n: number; s: string }>('select 1::int4 as n, $1::text as s', ['hello']);
        expect(result.rows).toEqual([{ n: 1, s: 'hello' }]);
        expect(result.fields.map((f) => [f.name, f.typeOid])).toEqual([
          ['n', 23],
          ['s', 25],
        ]);
        expect(result.command).toBe('SELECT');
        expect(result.rowCount).toBe(1);
        expect(db.serverParameters.get('server_version')).toMatch(/^\d+/);
        // PGlite answers the startup itself and applies none of its parameters.
        expect(db.serverParameters.get('application_name')).toBe(single ? '' : 'curio-ts');
        expect(db.processId).toBeGreaterThan(0);
        const arrays = await db.query('select 1 as a, 2 as b', [], { rowMode: 'array' });
        expect(arrays.rows).toEqual([[1, 2]]);
      });
    });

    it('types round trip through the server, NULLs and Unicode included', async () => {
      await withClient(async (db) => {
        const bytes = new Uint8Array([0, 1, 2, 254, 255]);
        const unicode = 'héllo wörld ✓ 日本語 🎉 \u0000'.replace('\u0000', '');
        const { rows } = await db.query(
          `select $1::int4 as i4, $2::int8 as i8, $3::float8 as f8, $4::numeric as num, $5::bool as b, $6::text as t,
                  $7::bytea as by, $8::jsonb as j, $9::int4[] as arr, $10::text[] as tarr, $11::uuid as u,
                  $12::timestamptz as ts, $13::text as nul, $14::date as d`,
          [2147483647, 9007199254740993n, 1.5, '12345678901234567890.123456789', true, unicode, bytes, { a: [1, 'x', null] }, [1, null, 3], ['a', 'b c', '', null, 'NULL', '"q"'], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', new Date('2024-02-29T12:34:56.789Z'), null, '2024-01-02'],
        );
        const row = rows[0] as Record<string, unknown>;
        expect(row.i4).toBe(2147483647);
        expect(row.i8).toBe(9007199254740993n);
        expect(row.f8).toBe(1.5);
        expect(row.num).toBe('12345678901234567890.123456789');
        expect(row.b).toBe(true);
        expect(row.t).toBe(unicode);
        expect(row.by).toEqual(bytes);
        expect(row.j).toEqual({ a: [1, 'x', null] });
        expect(row.arr).toEqual([1, null, 3]);
        expect(row.tarr).toEqual(['a', 'b c', '', null, 'NULL', '"q"']);
        expect(row.u).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
        expect((row.ts as Date).toISOString()).toBe('2024-02-29T12:34:56.789Z');
        expect(row.nul).toBeNull();
        expect(row.d).toBeInstanceOf(Date);
        // The same statement again (now prepared, parameters typed from its Describe, binary
        // results where the codecs prefer them) gives the same values.
        const again = await db.query(`select $1::int4 as i4, $2::int8 as i8, $3::bytea as by, $4::text as t`, [7, 5n, bytes, unicode]);
        const again2 = await db.query(`select $1::int4 as i4, $2::int8 as i8, $3::bytea as by, $4::text as t`, [8, -5n, bytes, unicode]);
        expect(again.rows).toEqual([{ i4: 7, i8: 5n, by: bytes, t: unicode }]);
        expect(again2.rows).toEqual([{ i4: 8, i8: -5n, by: bytes, t: unicode }]);
        // NULL in every position, and values the server produced itself.
        const nulls = await db.query('select null::int4 a, null::text b, null::bytea c, null::jsonb d, array[null]::int[] e');
        expect(nulls.rows).toEqual([{ a: null, b: null, c: null, d: null, e: [null] }]);
        const server = await db.query("select 'ünï'::text || chr(128512) as s, 'NaN'::float8 as nan, '-infinity'::float8 as ninf");
        expect(server.rows).toEqual([{ s: 'ünï😀', nan: NaN, ninf: -Infinity }]);
      });
    });

    it("dates: 'string' and intervals: 'string' keep the server's text (microseconds, BC years); int8: 'string'", async () => {
      await withClient(
        async (db) => {
          await db.query("set timezone = 'UTC'");
          const { rows } = await db.query(
            "select '2024-02-29 12:34:56.123456+00'::timestamptz as ts, '0044-03-15 BC'::date as d, '1 year 2 mons 3 days 04:05:06.7'::interval as i, 9007199254740993::int8 as big",
          );
          expect(rows).toEqual([{ ts: '2024-02-29 12:34:56.123456+00', d: '0044-03-15 BC', i: '1 year 2 mons 3 days 04:05:06.7', big: '9007199254740993' }]);
        },
        { url, dates: 'string', intervals: 'string', int8: 'string' },
      );
    });

    it('writes: command tags and row counts, statements without rows', async () => {
      await withClient(async (db) => {
        const name = table('w');
        await db.query(`drop table if exists ${name}`);
        const created = await db.query(`create table ${name} (id int primary key, v text)`);
        expect(created.command).toBe('CREATE');
        expect(created.rows).toEqual([]);
        const inserted = await db.query(`insert into ${name} select g, 'v' || g from generate_series(1, 5) g`);
        expect([inserted.command, inserted.rowCount]).toEqual(['INSERT', 5]);
        const updated = await db.query(`update ${name} set v = $1 where id > $2`, ['x', 2]);
        expect([updated.command, updated.rowCount]).toEqual(['UPDATE', 3]);
        const deleted = await db.query(`delete from ${name} where v = $1 returning id`, ['x']);
        expect(deleted.rows).toEqual([{ id: 3 }, { id: 4 }, { id: 5 }]);
        const scripts = await db.simpleQuery(`select 1 as one; select 'two' as two; update ${name} set v = v`);
        expect(scripts.map((r) => [r.command, r.rowCount, r.rows])).toEqual([
          ['SELECT', 1, [{ one: 1 }]],
          ['SELECT', 1, [{ two: 'two' }]],
          ['UPDATE', 2, []],
        ]);
        const duplicate = await rejection(db.query(`insert into ${name} values (1, 'again')`));
        expect(duplicate).toBeInstanceOf(PgError);
        expect((duplicate as PgError).code).toBe('23505');
        expect((duplicate as PgError).constraint).toBe(`${name}_pkey`);
        expect((duplicate as PgError).table).toBe(name);
        expect((duplicate as PgError).detail).toMatch(/already exists/);
        await db.query(`drop table ${name}`);
      });
    });

    it('concurrent queries are pipelined on one connection, each gets its own result', async () => {
      await withClient(async (db) => {
        const pid = db.processId;
        const results = await Promise.all(Array.from({ length: 500 }, (_, i) => db.query<{ n: number; p: number }>('select $1::int4 as n, pg_backend_pid() as p', [i])));
        results.forEach((result, i) => expect(result.rows).toEqual([{ n: i, p: pid }]));
        const mixed = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? db.query('select $1::text as s', [`t${i}`]) : db.query(`select ${i} as n`, [], { prepare: false }))));
        mixed.forEach((result, i) => expect(result.rows).toEqual([i % 2 === 0 ? { s: `t${i}` } : { n: i }]));
      });
    });

    it('queries made from recycled calls: bursts of every kind each get their own result, and earlier results stay as they were', async () => {
      await withClient(async (db) => {
        const burst = (round: number) =>
          Promise.all(
            Array.from({ length: 300 }, (_, i) => {
              const kind = (i + round) % 5;
              const query =
                kind === 0
                  ? // A timeout alone: made from a spare, and recycled, like a plain query.
                    db.query('select $1::int4 as n, $2::text as s', [i, `r${round}`], i % 2 === 0 ? { timeout: 60_000 } : undefined)
                  : kind === 1
                    ? db.query('select 1 / $1::int4 as q', [0])
                    : kind === 2
                      ? db.query('select $1::int4 as n, $2::text as s', [i, `r${round}`], { rowMode: 'array' })
                      : kind === 3
                        ? db.query(`select ${i} as n, 'r${round}' as s`, [], { prepare: false })
                        : db.query('select generate_series(1, $1::int4) as g', [i % 7]);
              return query.then(
                (result) => result,
                (error: unknown) => error,
              );
            }),
          );
        const check = (outcomes: unknown[], round: number): void => {
          outcomes.forEach((outcome, i) => {
            const kind = (i + round) % 5;
            if (kind === 1) {
              expect((outcome as PgError).code).toBe('22012');
              return;
            }
            const result = outcome as PgResult<unknown>;
            if (kind === 0 || kind === 3) expect(result.rows).toEqual([{ n: i, s: `r${round}` }]);
            else if (kind === 2) expect(result.rows).toEqual([[i, `r${round}`]]);
            else expect(result.rows).toEqual(Array.from({ length: i % 7 }, (_, g) => ({ g: g + 1 })));
            expect(result.fields.length).toBe(kind === 4 ? 1 : 2);
          });
        };
        const kept: unknown[][] = [];
        for (let round = 0; round < 4; round++) {
          const outcomes = await burst(round);
          check(outcomes, round);
          kept.push(outcomes);
        }
        // The calls of every round were made anew for the next: what each round's callers got is unchanged.
        kept.forEach((outcomes, round) => check(outcomes, round));
      });
    });

    it('an error inside a pipeline fails that query alone; the others settle correctly', async () => {
      await withClient(async (db) => {
        const outcomes = await Promise.all(
          Array.from({ length: 30 }, (_, i) => {
            const query = i % 3 === 1 ? db.query('select 1 / $1::int4 as q', [0]) : i % 3 === 2 ? db.query('select nosuchcolumn') : db.query('select $1::int4 as q', [i]);
            return query.then(
              (result) => result.rows,
              (error: unknown) => error,
            );
          }),
        );
        outcomes.forEach((outcome, i) => {
          if (i % 3 === 0) expect(outcome).toEqual([{ q: i }]);
          else {
            expect(outcome).toBeInstanceOf(PgError);
            expect((outcome as PgError).code).toBe(i % 3 === 1 ? '22012' : '42703');
          }
        });
        const syntax = (await rejection(db.query('selec 1'))) as PgError;
        expect([syntax.code, syntax.position, syntax.severity]).toEqual(['42601', '1', 'ERROR']);
        expect((await db.query('select 2 as ok')).rows).toEqual([{ ok: 2 }]);
      });
    });

    it('statements are prepared once and prepared again when a table changes under them; prepare: false works', async () => {
      await withClient(async (db) => {
        const name = table('plan');
        await db.query(`drop table if exists ${name}`);
        await db.query(`create table ${name} (a int)`);
        await db.query(`insert into ${name} values (1)`);
        const text = `select * from ${name}`;
        expect((await db.query(text)).rows).toEqual([{ a: 1 }]);
        expect((await db.query(text)).rows).toEqual([{ a: 1 }]);
        const prepared = await db.query<{ n: number }>("select count(*)::int as n from pg_prepared_statements where statement like 'select * from conf_%'");
        expect(prepared.rows[0]?.n).toBe(1);
        await db.query(`alter table ${name} add column b text default 'x'`);
        expect((await db.query(text)).rows).toEqual([{ a: 1, b: 'x' }]);
        await db.query(`drop table ${name}`);
      });
      await withClient(
        async (db) => {
          for (let i = 0; i < 3; i++) expect((await db.query('select $1::int as n', [i])).rows).toEqual([{ n: i }]);
          const prepared = await db.query<{ n: number }>('select count(*)::int as n from pg_prepared_statements');
          expect(prepared.rows[0]?.n).toBe(0);
        },
        { url, prepare: false },
      );
    });

    it('the sql tag makes parameters only; identifiers and lists through helpers', async () => {
      await withClient(async (db) => {
        const hostile = "x'); drop table users; --";
        expect((await db.query(sql`select ${hostile}::text as v`)).rows).toEqual([{ v: hostile }]);
        const where = sql`n = any(${[1, 3]}::int[])`;
        const { rows } = await db.query(sql`select n as ${sql.id('my col')} from generate_series(1, 4) n where ${where} or n in ${sql.in([4])} order by n`);
        expect(rows).toEqual([{ 'my col': 1 }, { 'my col': 3 }, { 'my col': 4 }]);
        expect(await rejection(db.query(sql`select 1`, [1]))).toBeInstanceOf(InvalidArgumentError);
      });
    });

    it('transactions commit, roll back on error, nest with savepoints', async () => {
      await withClient(async (db) => {
        const name = table('tx');
        await db.query(`drop table if exists ${name}`);
        await db.query(`create table ${name} (v text)`);
        let outside: Promise<PgResult<{ n: number }>> | undefined;
        let outsideSettled = false;
        const result = await db.transaction(async (tx) => {
          await tx.query(`insert into ${name} values ($1)`, ['committed']);
          if (single) {
            // One session: a query made outside the transaction waits for its end (awaiting it
            // here would wait for ever), then sees the committed row.
            outside = db.query<{ n: number }>(`select count(*)::int as n from ${name}`);
            const settle = (): void => {
              outsideSettled = true;
            };
            outside.then(settle, settle);
            await h.sleep(20);
            expect(outsideSettled).toBe(false);
          } else {
            // Outside the transaction, the row is not visible yet.
            expect((await db.query(`select count(*)::int as n from ${name}`)).rows).toEqual([{ n: 0 }]);
          }
          return 'done';
        });
        expect(result).toBe('done');
        if (single) expect((await (outside as Promise<PgResult<{ n: number }>>)).rows).toEqual([{ n: 1 }]);
        const failure = new Error('boom');
        expect(
          await rejection(
            db.transaction(async (tx) => {
              await tx.query(`insert into ${name} values ($1)`, ['rolled back']);
              throw failure;
            }),
          ),
        ).toBe(failure);
        await db.transaction(async (tx) => {
          await tx.query(`insert into ${name} values ('outer')`);
          await rejection(
            tx.transaction(async (inner) => {
              await inner.query(`insert into ${name} values ('inner, rolled back')`);
              await inner.query('select 1 / 0');
            }),
          );
          await tx.transaction(async (inner) => {
            await inner.query(`insert into ${name} values ('inner, kept')`);
          });
        });
        const rows = (await db.query<{ v: string }>(`select v from ${name} order by v`)).rows.map((r) => r.v);
        expect(rows).toEqual(['committed', 'inner, kept', 'outer']);
        // An error caught inside leaves the transaction failed: COMMIT is an error, not a success.
        const rolledBack = await rejection(
          db.transaction(async (tx) => {
            await tx.query(`insert into ${name} values ('lost')`);
            await tx.query('select 1 / 0').catch(() => {});
          }),
        );
        expect((rolledBack as ClientError).code).toBe('ERR_PG_ROLLED_BACK');
        const serializable = await db.transaction(async (tx) => (await tx.query<{ l: string }>("select current_setting('transaction_isolation') as l")).rows[0]?.l, { isolation: 'serializable', readOnly: true });
        expect(serializable).toBe('serializable');
        expect((await db.query(`select count(*)::int as n from ${name}`)).rows).toEqual([{ n: 3 }]);
        await db.query(`drop table ${name}`);
      });
    });

    it('an aborted running query is cancelled on the server; the connection stays usable', { timeout: 20_000 }, async () => {
      await withClient(async (db) => {
        const pid = db.processId;
        const controller = new AbortController();
        const started = Date.now();
        const sleeping = db.query('select pg_sleep(5)', [], { signal: controller.signal });
        const other = db.query('select 42 as n');
        // Abort once the server runs it (a CancelRequest that arrives before is ignored, by design).
        const watcher = await h.connect(url);
        try {
          for (let i = 0; i < 200; i++) {
            const active = await watcher.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where pid = $1 and state = 'active'", [pid]);
            if (active.rows[0]?.n === 1) break;
            await h.sleep(10);
          }
        } finally {
          await watcher.close();
        }
        controller.abort();
        const error = await rejection(sleeping);
        expect(error).toBeInstanceOf(AbortedError);
        expect(Date.now() - started).toBeLessThan(4000);
        // The query pipelined behind it ran normally, on the same connection.
        expect((await other).rows).toEqual([{ n: 42 }]);
        expect((await db.query<{ p: number }>('select pg_backend_pid() as p')).rows[0]?.p).toBe(pid);
        // A timeout does the same.
        const timedOut = await rejection(db.query('select pg_sleep(5)', [], { timeout: 200 }));
        expect(timedOut).toBeInstanceOf(CommandTimeoutError);
        expect(Date.now() - started).toBeLessThan(8000);
        expect((await db.query<{ p: number }>('select pg_backend_pid() as p')).rows[0]?.p).toBe(pid);
        // A query aborted before it was sent never reaches the server.
        const early = new AbortController();
        early.abort();
        expect(await rejection(db.query('select 1', [], { signal: early.signal }))).toBeInstanceOf(AbortedError);
        // A transaction aborted mid-way rolls back.
        const name = table('abort');
        await db.query(`drop table if exists ${name}`);
        await db.query(`create table ${name} (v int)`);
        const txAbort = new AbortController();
        // (A task of its own: on curio a task waits on one thing at a time.)
        const inTx = h.start(() =>
          rejection(
            db.transaction(async (tx) => {
              await tx.query(`insert into ${name} values (1)`);
              await tx.query('select pg_sleep(5)', [], { signal: txAbort.signal });
            }),
          ),
        );
        await h.sleep(300);
        txAbort.abort();
        expect(await inTx.join()).toBeInstanceOf(AbortedError);
        expect((await db.query(`select count(*)::int as n from ${name}`)).rows).toEqual([{ n: 0 }]);
        await db.query(`drop table ${name}`);
      });
    });

    it('a server connection killed under a query: typed errors, no hang, the client reconnects', async () => {
      await withClient(async (db) => {
        const killer = await h.connect(url);
        try {
          const pid = db.processId;
          const outcome = (error: unknown): unknown => error;
          const sleeping = db.query('select pg_sleep(10)').then(() => 'resolved', outcome);
          const behind = db.query('select 1').then(() => 'resolved', outcome);
          await h.sleep(200);
          const killed = await killer.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [pid]);
          expect(killed.rows).toEqual([{ ok: true }]);
          const error = await sleeping;
          expect(error instanceof PgError ? error.code : (error as ConnectionError).code).toMatch(/^(57P01|ERR_CONNECTION_LOST)$/);
          const second = await behind;
          expect(second).toBeInstanceOf(ConnectionError);
          // The next query runs on a new connection.
          const again = await db.query<{ p: number }>('select pg_backend_pid() as p');
          expect(again.rows[0]?.p).not.toBe(pid);
        } finally {
          await killer.close();
        }
      });
    }, 20_000);

    it('connection failures are typed: a refused port, an unknown database', async () => {
      await h.run(async () => {
        const refused = await rejection(h.connect({ host: '127.0.0.1', port: 1, sslmode: 'disable', reconnect: false }));
        expect(refused).toBeInstanceOf(ConnectionError);
        expect((refused as ConnectionError).code).toBe('ECONNREFUSED');
        const parsed = new URL(url);
        parsed.pathname = '/no_such_database_here';
        const unknown = await rejection(h.connect(parsed.toString()));
        expect(unknown).toBeInstanceOf(PgError);
        expect((unknown as PgError).code).toBe('3D000');
        expect(await rejection(h.connect({ url, poolSize: 0 }))).toBeInstanceOf(InvalidArgumentError);
      });
    });

    it('a cursor reads a large result batch by batch; leaving early closes it', async () => {
      await withClient(async (db) => {
        let count = 0;
        let sum = 0;
        for await (const row of db.cursor<{ g: number; m: string }>('select g, md5(g::text) as m from generate_series(1, $1::int) g', [10_000], { batch: 1000 })) {
          count++;
          sum += row.g;
          if (count === 1) expect(row.m).toBe('c4ca4238a0b923820dcc509a6f75849b');
        }
        expect([count, sum]).toEqual([10_000, 50_005_000]);
        const seen: number[] = [];
        for await (const row of db.cursor<number[]>('select g from generate_series(1, 100) g', [], { batch: 7, rowMode: 'array' })) {
          seen.push(row[0] as number);
          if (seen.length === 10) break;
        }
        expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        // Inside a transaction, the cursor uses the transaction's connection.
        const inside = await db.transaction(async (tx) => {
          const rows: number[] = [];
          for await (const row of tx.cursor<{ g: number }>('select g from generate_series(1, 5) g', [], { batch: 2 })) rows.push(row.g);
          return rows;
        });
        expect(inside).toEqual([1, 2, 3, 4, 5]);
        const failing = await rejection(
          (async () => {
            for await (const _row of db.cursor('select 1 / (g - 3) from generate_series(1, 5) g', [], { batch: 1 })) {
              // consume
            }
          })(),
        );
        expect((failing as PgError).code).toBe('22012');
        expect((await db.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
      });
    });

    it('COPY FROM STDIN and TO STDOUT as streams; bad data and a failing source are typed errors', async () => {
      await withClient(async (db) => {
        const name = table('copy');
        await db.query(`drop table if exists ${name}`);
        await db.query(`create table ${name} (id int, v text)`);
        async function* lines(): AsyncGenerator<string | Uint8Array> {
          for (let i = 1; i <= 5000; i++) yield `${i}\tvalue ${i} ✓\n`;
          yield new TextEncoder().encode('5001\t\\N\n');
        }
        if (single) {
          // PGlite cannot run COPY FROM STDIN (it would crash): a typed refusal, the connection
          // usable after it; the rows come by INSERT instead.
          const refused = await rejection(db.copyFrom(`copy ${name} from stdin`, lines()));
          expect(refused).toBeInstanceOf(PgError);
          expect((refused as PgError).code).toBe('0A000');
          await db.query(`insert into ${name} select g, 'value ' || g || ' ✓' from generate_series(1, 5000) g union all select 5001, null`);
          const decoder = new TextDecoder();
          let text = '';
          for await (const chunk of db.copyTo(`copy (select * from ${name} where id <= 3 or id = 5001 order by id) to stdout`)) text += decoder.decode(chunk, { stream: true });
          expect(text).toBe('1\tvalue 1 ✓\n2\tvalue 2 ✓\n3\tvalue 3 ✓\n5001\t\\N\n');
          let chunks = 0;
          for await (const _chunk of db.copyTo(`copy ${name} to stdout`)) {
            if (++chunks === 2) break;
          }
          expect(chunks).toBe(2);
          expect(await rejection(db.query(`copy ${name} from stdin`))).toBeInstanceOf(PgError);
          expect((await db.query(`select count(*)::int as n from ${name}`)).rows).toEqual([{ n: 5001 }]);
          await db.query(`drop table ${name}`);
          return;
        }
        expect(await db.copyFrom(`copy ${name} from stdin`, lines())).toBe(5001);
        expect((await db.query(`select count(*)::int as n, count(v)::int as v from ${name}`)).rows).toEqual([{ n: 5001, v: 5000 }]);
        const decoder = new TextDecoder();
        let text = '';
        for await (const chunk of db.copyTo(`copy (select * from ${name} where id <= 3 order by id) to stdout`)) text += decoder.decode(chunk, { stream: true });
        expect(text).toBe('1\tvalue 1 ✓\n2\tvalue 2 ✓\n3\tvalue 3 ✓\n');
        let chunks = 0;
        for await (const _chunk of db.copyTo(`copy ${name} to stdout`)) {
          if (++chunks === 2) break;
        }
        expect(chunks).toBe(2);
        const bad = await rejection(db.copyFrom(`copy ${name} from stdin`, ['1\tok\n', 'not a number\tx\n']));
        expect((bad as PgError).code).toBe('22P02');
        const failure = new Error('the source failed');
        async function* failing(): AsyncGenerator<string> {
          yield '9999\tpartial\n';
          throw failure;
        }
        expect(await rejection(db.copyFrom(`copy ${name} from stdin`, failing()))).toBe(failure);
        const byQuery = await rejection(db.query(`copy ${name} from stdin`));
        expect(byQuery).toBeInstanceOf(PgError);
        expect((await db.query(`select count(*)::int as n from ${name}`)).rows).toEqual([{ n: 5001 }]);
        await db.query(`drop table ${name}`);
      });
    });

    it('listen receives notifications, while queries run', async () => {
      await withClient(async (db) => {
        const channel = `conf ${h.runtime} "chan"`;
        const listener = await db.listen(channel);
        try {
          await db.notify(channel, 'one');
          await db.query('select pg_notify($1, $2)', [channel, 'two ✓']);
          const received = [];
          for await (const notification of listener) {
            received.push(notification.payload);
            if (received.length === 2) break;
          }
          expect(received).toEqual(['one', 'two ✓']);
        } finally {
          await listener.close();
        }
        // A listener closed stops listening; another one on the same channel hears it again.
        const second = await db.listen(channel);
        try {
          await db.notify(channel, 'three');
          expect((await second.next()).value?.payload).toBe('three');
        } finally {
          await second.close();
        }
      });
    }, 20_000);

    it('listen again after its connection is killed', async () => {
      await withClient(async (db) => {
        const channel2 = `conf ${h.runtime} "chan" again`;
        const again = await db.listen(channel2);
        try {
          const listenText = `listen "${channel2.replace(/"/g, '""')}"`;
          const pids = await db.query<{ pid: number }>('select pid from pg_stat_activity where query = $1', [listenText]);
          expect(pids.rows.length).toBe(1);
          for (const { pid } of pids.rows) await db.query('select pg_terminate_backend($1)', [pid]);
          // It listens again on its new connection: notify until one arrives.
          let delivered: string | undefined;
          const waiting = h.start(async () => {
            delivered = (await again.next()).value?.payload;
          });
          for (let i = 0; i < 100 && delivered === undefined; i++) {
            await db.notify(channel2, 'after');
            await h.sleep(50);
          }
          await waiting.join();
          expect(delivered).toBe('after');
        } finally {
          await again.close();
        }
      });
    }, 20_000);

    it('the pool limits connections for transactions; a wait beyond poolTimeout is a typed error', async () => {
      await withClient(
        async (db) => {
          const release = h.start(() =>
            db.transaction(async (tx) => {
              await tx.query('select pg_sleep(0.5)');
            }),
          );
          await h.sleep(100);
          const waited = await rejection(db.transaction(async (tx) => tx.query('select 1')));
          expect((waited as ClientError).code).toBe('ERR_POOL_TIMEOUT');
          await release.join();
          expect(await db.transaction(async (tx) => (await tx.query('select 3 as n')).rows)).toEqual([{ n: 3 }]);
        },
        { url, poolSize: 1, poolTimeout: 100 },
      );
    });

    it('one flow opens pool connections for several transactions at once, and awaits a started one after other awaits', async () => {
      await withClient(
        async (db) => {
          const ids = await Promise.all([1, 2, 3].map((i) => db.transaction(async (tx) => (await tx.query('select $1::int as i', [i])).rows[0])));
          expect(ids).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
          const started = db.transaction(async (tx) => (await tx.query('select 4 as i')).rows[0]);
          await h.sleep(5);
          expect((await db.query('select 5 as i')).rows).toEqual([{ i: 5 }]);
          expect(await started).toEqual({ i: 4 });
          const twice = await Promise.allSettled([db.transaction(async (tx) => tx.query('select 1/0')), db.transaction(async (tx) => (await tx.query('select 6 as i')).rows[0])]);
          expect(twice[0].status).toBe('rejected');
          expect(twice[1]).toEqual({ status: 'fulfilled', value: { i: 6 } });
        },
        { url, poolSize: 3 },
      );
    });

    it('an idle pool connection killed by the server is replaced, the transaction runs', async () => {
      await withClient(
        async (db) => {
          const first = await db.transaction(async (tx) => tx.processId);
          await db.query('select pg_terminate_backend($1)', [first]);
          // Whether or not the pool's reader has seen that connection end yet, the next
          // transaction runs on a new one (a dead one fails at BEGIN, where nothing ran, and
          // is replaced).
          const second = await db.transaction(async (tx) => (await tx.query<{ p: number }>('select pg_backend_pid() as p')).rows[0]?.p ?? 0);
          expect(second).not.toBe(first);
          expect(second).toBeGreaterThan(0);
        },
        { url, poolSize: 1 },
      );
    });

    it('pool health: an idle pool connection the server terminated is replaced before use, unseen by a transaction, a cursor or a COPY', async () => {
      const name = table('health');
      const uses: readonly [string, (db: PgClient) => Promise<unknown>, unknown][] = [
        ['transaction', async (db) => db.transaction(async (tx) => (await tx.query('select 1 as n')).rows), [{ n: 1 }]],
        [
          'cursor',
          async (db) => {
            const rows: unknown[] = [];
            for await (const row of db.cursor('select g from generate_series(1, 3) g', [], { batch: 2 })) rows.push(row);
            return rows;
          },
          [{ g: 1 }, { g: 2 }, { g: 3 }],
        ],
        [
          'copyTo',
          async (db) => {
            let text = '';
            for await (const chunk of db.copyTo('copy (select 7) to stdout')) text += new TextDecoder().decode(chunk);
            return text;
          },
          '7\n',
        ],
        ['copyFrom', async (db) => db.copyFrom(`copy ${name} from stdin`, ['1\n', '2\n']), 2],
      ];
      const killIdle = async (db: PgClient): Promise<number> => {
        const pid = await db.transaction(async (tx) => tx.processId);
        const killed = await db.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [pid]);
        expect(killed.rows).toEqual([{ ok: true }]);
        return pid;
      };
      // Used at once after pg_terminate_backend (the pool's reader may not have seen the end):
      // with poolCheckAfter 0, every reuse is checked first.
      await withClient(
        async (db) => {
          await db.query(`drop table if exists ${name}`);
          await db.query(`create table ${name} (v int)`);
          for (const [what, use, expected] of uses) {
            const pid = await killIdle(db);
            expect([what, await use(db)]).toEqual([what, expected]);
            expect(await db.transaction(async (tx) => tx.processId)).not.toBe(pid);
          }
        },
        { url, poolSize: 1, poolCheckAfter: 0 },
      );
      // The defaults: a connection idle past poolCheckAfter (1 s) is checked; a transaction and a
      // cursor also replace a connection found dead at their BEGIN, even at once.
      await withClient(
        async (db) => {
          for (const [what, use, expected] of uses) {
            await killIdle(db);
            if (what !== 'transaction' && what !== 'cursor') await h.sleep(1100);
            expect([what, await use(db)]).toEqual([what, expected]);
          }
          expect((await db.query(`select count(*)::int as n from ${name}`)).rows).toEqual([{ n: 4 }]);
          await db.query(`drop table ${name}`);
        },
        { url, poolSize: 1 },
      );
    }, 30_000);

    it('idleTimeout closes idle pool connections on the server; the next transaction opens a new one', async () => {
      await withClient(
        async (db) => {
          const pid = await db.transaction(async (tx) => tx.processId);
          const alive = async (): Promise<number> => (await db.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where pid = $1', [pid])).rows[0]?.n ?? -1;
          expect(await alive()).toBe(1);
          let gone = false;
          for (let i = 0; i < 100 && !gone; i++) {
            await h.sleep(50);
            gone = (await alive()) === 0;
          }
          expect(gone).toBe(true);
          expect(await db.transaction(async (tx) => tx.processId)).not.toBe(pid);
        },
        { url, idleTimeout: 200 },
      );
    }, 20_000);

    it('several hosts: a dead port first, then the server; target_session_attrs read-write and primary take it, standby finds none', async () => {
      const server = new URL(url);
      const dead = await freePort();
      const hosts = [
        { host: '127.0.0.1', port: dead },
        { host: server.hostname, port: Number(server.port || 5432) },
      ];
      for (const targetSessionAttrs of ['any', 'read-write', 'primary', 'prefer-standby'] as const) {
        await withClient(
          async (db) => {
            expect((await db.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
            expect(await db.transaction(async (tx) => (await tx.query('select 2 as n')).rows)).toEqual([{ n: 2 }]);
          },
          { url, hosts, targetSessionAttrs },
        );
      }
      const none = await h.run(() => rejection(h.connect({ url, hosts, targetSessionAttrs: 'standby', reconnect: false })));
      expect(none).toBeInstanceOf(AllHostsFailedError);
      expect((none as AllHostsFailedError).failures.map((failure) => [failure.host, (failure.error as ConnectionError).code])).toEqual([
        [`127.0.0.1:${dead}`, 'ECONNREFUSED'],
        [`${hosts[1]?.host}:${hosts[1]?.port}`, 'ERR_PG_TARGET_SESSION_ATTRS'],
      ]);
    });

    it('private servers: a unix socket, SCRAM-SHA-256 and MD5 passwords (a function too), TLS modes', async () => {
      const server = await startPrivatePostgres({
        tls: true,
        users: [
          { name: 'scram_user', password: 'scr@m pw', encryption: 'scram-sha-256', auth: 'scram-sha-256' },
          { name: 'md5_user', password: 'md5 pw', encryption: 'md5', auth: 'md5' },
          // The server stores its SCRAM verifier from the password after SASLprep: 'pass word IX'.
          { name: 'prep_user', password: 'pass\u00A0word \u2168', encryption: 'scram-sha-256', auth: 'scram-sha-256' },
        ],
      });
      privateServers.push(server);
      await withClient(async (db) => {
        expect((await db.query('select current_user as u')).rows).toEqual([{ u: 'postgres' }]);
      }, `postgres://postgres@${encodeURIComponent(server.socketDir)}:${server.port}/test`);
      const tcp = `postgres://127.0.0.1:${server.port}/test`;
      await withClient(
        async (db) => {
          expect((await db.query('select current_user as u, ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows).toEqual([{ u: 'scram_user', ssl: true }]);
          // Over TLS, SCRAM is bound to the TLS session (the certificate's tls-server-end-point hash).
          expect(db.authenticationMethod).toBe('SCRAM-SHA-256-PLUS');
        },
        { url: tcp, user: 'scram_user', password: async () => 'scr@m pw', sslmode: 'require' },
      );
      // TLS upgrades (SSLRequest, then the handshake) of several connections at once, from one flow.
      await h.run(async () => {
        const opts = { url: tcp, user: 'scram_user', password: 'scr@m pw', sslmode: 'require' as const, poolSize: 3 };
        const clients = await Promise.all([h.connect(opts), h.connect(opts)]);
        try {
          const ssl = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()';
          expect((await Promise.all(clients.map((c) => c.query(ssl)))).map((r) => r.rows)).toEqual([[{ ssl: true }], [{ ssl: true }]]);
          const inTx = await Promise.all([1, 2, 3].map((i) => clients[0]!.transaction(async (tx) => (await tx.query(ssl)).rows[0])));
          expect(inTx).toEqual([{ ssl: true }, { ssl: true }, { ssl: true }]);
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
      });
      await withClient(
        async (db) => {
          expect(db.authenticationMethod).toBe('SCRAM-SHA-256');
        },
        { url: tcp, user: 'scram_user', password: 'scr@m pw', sslmode: 'disable' },
      );
      await withClient(
        async (db) => {
          expect((await db.query('select current_user as u, ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows).toEqual([{ u: 'md5_user', ssl: false }]);
          expect(db.authenticationMethod).toBe('md5');
        },
        { url: tcp, user: 'md5_user', password: 'md5 pw', sslmode: 'disable' },
      );
      await withClient(
        async (db) => {
          expect((await db.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows).toEqual([{ ssl: true }]);
        },
        { url: tcp, user: 'postgres', sslmode: 'prefer' },
      );
      // SASLprep: the password as typed (a no-break space, a Roman numeral) and as prepared.
      for (const password of ['pass\u00A0word \u2168', 'pass word IX']) {
        await withClient(
          async (db) => {
            expect((await db.query('select current_user as u')).rows).toEqual([{ u: 'prep_user' }]);
          },
          { url: tcp, user: 'prep_user', password, sslmode: 'disable' },
        );
      }
      // channel_binding=require: SCRAM-SHA-256-PLUS or nothing, refused before any password is sent.
      await withClient(
        async (db) => {
          expect(db.authenticationMethod).toBe('SCRAM-SHA-256-PLUS');
        },
        { url: `${tcp}?channel_binding=require&sslmode=require`, user: 'scram_user', password: 'scr@m pw' },
      );
      await withClient(
        async (db) => {
          expect(db.authenticationMethod).toBe('SCRAM-SHA-256');
        },
        { url: tcp, user: 'scram_user', password: 'scr@m pw', sslmode: 'require', channelBinding: 'disable' },
      );
      await h.run(async () => {
        // All in one run (one kernel task on curio): a connect after one refused inside a TLS
        // socket's data event once found the task "outside a kernel task" (handoff.ts,
        // startCycle and adopt).
        for (const options of [
          { user: 'scram_user', password: 'scr@m pw', sslmode: 'disable' }, // SCRAM without TLS: no binding possible
          { user: 'md5_user', password: 'md5 pw', sslmode: 'require' },
          { user: 'postgres', sslmode: 'require' }, // trust
        ] satisfies PgOptions[]) {
          const error = await rejection(h.connect({ url: tcp, reconnect: false, channelBinding: 'require', ...options }));
          expect(error, options.user).toBeInstanceOf(AuthenticationFailedError);
          expect((error as AuthenticationFailedError).code).toBe('ERR_PG_CHANNEL_BINDING_REQUIRED');
        }
        const wrong = await rejection(h.connect({ url: tcp, user: 'scram_user', password: 'wrong', sslmode: 'disable', reconnect: false }));
        expect(wrong).toBeInstanceOf(PgError);
        expect((wrong as PgError).code).toBe('28P01');
        // verify-full checks the chain: a certificate signed by a CA we were not given is refused.
        const untrusted = await rejection(h.connect({ url: tcp, user: 'postgres', sslmode: 'verify-full', reconnect: false }));
        expect(untrusted).toBeInstanceOf(ConnectionError);
        expect((untrusted as ConnectionError).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      });
    }, 60_000);

    t.it('every case left out on PGlite names a case of this suite and says why', () => {
      for (const [name, reason] of Object.entries({ ...PGLITE_EXCLUSIONS, ...PGLITE_MAIN_THREAD_EXCLUSIONS })) {
        expect(declared.has(name), name).toBe(true);
        expect(reason.length).toBeGreaterThan(20);
      }
      expect(declared.size - Object.keys(excluded).length).toBeGreaterThan(10);
    });
  });
}
