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

  it('a transaction, which needs a connection of its own, fails with a typed error instead of hanging', async () => {
    const outcome = await client.transaction(async (tx) => tx.query('select 1')).then(
      () => 'committed',
      (e: unknown) => e,
    );
    expect(isPgError(outcome)).toBe(true);
    expect((outcome as { code: string }).code).toBe('53300');
    expect((await client.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
  }, 30_000);

  it('refuses what is not a pglite: or postgres URL', async () => {
    await expect(connectPg('pglite-nope:')).rejects.toThrow();
  });
});
