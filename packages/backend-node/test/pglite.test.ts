// connectPg('pglite:'): the same client on PGlite (PostgreSQL in WebAssembly, in a worker
// thread) through @curio-ts/transport-pglite, chosen by the URL alone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPgError, sql } from '@curio-ts/client';
import type { PgClient } from '@curio-ts/client';
import { closePglite } from '@curio-ts/transport-pglite';
import { connectPg } from '../src/index.js';

describe("connectPg('pglite:') on the node runtime", () => {
  let client: PgClient;
  beforeAll(async () => {
    client = await connectPg('pglite:');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await closePglite();
  });

  it('runs parameterized queries and the sql tag', async () => {
    const result = await client.query('select $1::int + 1 as n, $2::text as t', [41, 'héllo']);
    expect(result.rows).toEqual([{ n: 42, t: 'héllo' }]);
    const id = 7;
    const tagged = await client.query(sql`select ${id}::int * 6 as answer`);
    expect(tagged.rows).toEqual([{ answer: 42 }]);
  });

  it('pipelines concurrent queries, and an error fails only its own query', async () => {
    const queries = Array.from({ length: 50 }, (_, i) => client.query('select $1::int as i', [i]));
    const bad = client.query('select * from no_such_table');
    const results = await Promise.all(queries);
    expect(results.map((r) => r.rows[0]?.['i'])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const error = await bad.then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPgError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('42P01');
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  it('keeps data in a table across queries', async () => {
    await client.query('create table if not exists pglite_t (id int primary key, name text)');
    await client.query('insert into pglite_t values ($1, $2), ($3, $4)', [1, 'a', 2, 'b']);
    const rows = await client.query('select id, name from pglite_t order by id');
    expect(rows.rows).toEqual([
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ]);
    expect(rows.rowCount).toBe(2);
  });

  it('a transaction takes the one session: a query made outside it waits until it commits, then sees its rows', async () => {
    await client.query('create table if not exists pglite_tx (v int)');
    let outside: Promise<unknown> | undefined;
    const committed = await client.transaction(async (tx) => {
      await tx.query('insert into pglite_tx values (1)');
      // Not awaited here: it waits for the transaction's end (awaiting it would wait for ever).
      outside = client.query<{ n: number }>('select count(*)::int as n from pglite_tx');
      await tx.transaction(async (inner) => inner.query('insert into pglite_tx values (2)'));
      const failed = await tx.transaction(async (inner) => inner.query('select 1 / 0')).catch((e: unknown) => e);
      expect((failed as { code: string }).code).toBe('22012');
      return (await tx.query<{ n: number }>('select count(*)::int as n from pglite_tx')).rows[0]?.n;
    });
    expect(committed).toBe(2);
    expect(((await outside) as { rows: unknown[] }).rows).toEqual([{ n: 2 }]);
    const thrown = new Error('boom');
    expect(await client.transaction(async (tx) => {
      await tx.query('insert into pglite_tx values (3)');
      throw thrown;
    }).catch((e: unknown) => e)).toBe(thrown);
    expect((await client.query('select count(*)::int as n from pglite_tx')).rows).toEqual([{ n: 2 }]);
  }, 30_000);

  it('a cursor, COPY TO and LISTEN run on the one session; COPY FROM STDIN is a typed refusal', async () => {
    let count = 0;
    for await (const row of client.cursor<{ g: number }>('select g from generate_series(1, 1000) g', [], { batch: 100 })) count += row.g > 0 ? 1 : 0;
    expect(count).toBe(1000);
    let text = '';
    for await (const chunk of client.copyTo('copy (select g from generate_series(1, 3) g) to stdout')) text += new TextDecoder().decode(chunk);
    expect(text).toBe('1\n2\n3\n');
    const listener = await client.listen('pglite chan');
    try {
      await client.notify('pglite chan', 'hello');
      expect((await listener.next()).value?.payload).toBe('hello');
    } finally {
      await listener.close();
    }
    const refused = await client.copyFrom('copy pglite_t from stdin', ['9\tz\n']).catch((e: unknown) => e);
    expect(isPgError(refused, '0A000')).toBe(true);
    expect((await client.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
  }, 30_000);

  it('refuses what is not a pglite: or postgres URL', async () => {
    await expect(connectPg('pglite-nope:')).rejects.toThrow();
  });
});
