// profile/pg-workloads.ts
//
// The Postgres client's rows workloads for the per-call profiler (profile.ts, count.ts, hops.ts):
// one call is one row of `select g, md5(g::text) from generate_series(1, n) g` (the pg suite's
// rows workload), so `run(n)` is one query of n rows and every figure is per row. Against
// PG_BENCH_URL / CURIO_TEST_PG_URL, else a private PostgreSQL started for the module (the test
// kit's startPrivatePostgres) and stopped after the last workload; its instructions are not
// counted (another process).
//
//   node --expose-gc apps/bench/dist/profile/profile.js all 100000 --module apps/bench/dist/profile/pg-workloads.js
//   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
//     node apps/bench/dist/profile/count.js rows-node 100000 2 --module apps/bench/dist/profile/pg-workloads.js
//   (then with 8 runs: the difference / 600 000 is the instructions per row; fewer extra runs
//   leave it to chance whether a major collection falls inside them, +-1 000 per row)
//
// Contenders: ours on the node and curio runtimes (rowMode 'array', as in the suite, and
// objects), pg 8 (objects, its default and the suite's; and arrays), postgres.js, and the raw
// node:net client that frames the DataRows without decoding them (the server's own row rate).

import { connectPg as connectPgNode } from '@curio-ts/backend-node';
import { connectPg as connectPgCurio } from '@curio-ts/backend-curio';
import type { PgClient } from '@curio-ts/client';
import pg from 'pg';
import postgres from 'postgres';
import { KernelHost } from '../kernel-host.js';
import { RawPgClient, serverUnderTest, socketPipe } from '../pg-bench.js';
import { plain } from '../pg/client-bench.js';
import type { Workload } from './workload.js';

/** The rows query for `n` rows (the suite's ROWS_SQL with n). */
const rowsSql = (n: number): string => `select g, md5(g::text) from generate_series(1, ${n}) g`;

// One server for every workload of the process, started by the first setup, stopped by the
// last teardown.
let server: ReturnType<typeof serverUnderTest> | null = null;
let users = 0;

async function acquire(): Promise<string> {
  users++;
  return (await (server ??= serverUnderTest())).url;
}

async function release(): Promise<void> {
  if (--users > 0 || server === null) return;
  const { server: own } = await server;
  server = null;
  await own?.stop();
}

/** A workload over a client made at setup: `open` connects, `rows` runs one query of n rows, `close` ends. */
function rowsWorkload<T>(description: string, open: (url: string) => Promise<T>, rows: (client: T, n: number) => Promise<number>, close: (client: T) => Promise<void>): Workload {
  let client: T | null = null;
  return {
    description,
    defaultCalls: 100_000,
    async setup() {
      client = await open(await acquire());
      // Connect, prepare and warm up (the JIT's tiers) outside the counted runs.
      for (let i = 0; i < 2; i++) await rows(client, 100_000);
    },
    async run(n) {
      const got = await rows(client as T, n);
      if (got !== n) throw new Error(`${got} rows, not ${n}`);
    },
    async teardown() {
      if (client !== null) await close(client);
      client = null;
      await release();
    },
  };
}

const ours = (rowMode: 'array' | 'object') => async (db: PgClient, n: number) => (await db.query(rowsSql(n), [], { rowMode })).rows.length;

function oursCurio(rowMode: 'array' | 'object'): Workload {
  return rowsWorkload(
    `ours, curio runtime (one long-lived kernel), rowMode '${rowMode}'`,
    async (url) => {
      const host = new KernelHost(() => connectPgCurio(plain(url)));
      await host.start();
      return host;
    },
    (host, n) => host.submit(() => ours(rowMode)(host.client, n)),
    (host) => host.stop(),
  );
}

async function openPg(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

export const workloads: Record<string, Workload> = {
  'rows-raw': rowsWorkload(
    'raw node:net client framing the DataRows, nothing decoded (the server\'s own row rate)',
    async (url) => {
      const parsed = new URL(url);
      const raw = new RawPgClient(await socketPipe(parsed));
      await raw.start(decodeURIComponent(parsed.username || 'postgres'), parsed.pathname.slice(1) || 'postgres');
      return raw;
    },
    (raw, n) => raw.rows(rowsSql(n)),
    async (raw) => raw.close(),
  ),
  'rows-node': rowsWorkload("ours, node runtime, rowMode 'array' (the suite's)", (url) => connectPgNode(plain(url)), ours('array'), (db) => db.close()),
  'rows-node-objects': rowsWorkload("ours, node runtime, rowMode 'object'", (url) => connectPgNode(plain(url)), ours('object'), (db) => db.close()),
  'rows-curio': oursCurio('array'),
  'rows-curio-objects': oursCurio('object'),
  'rows-pg': rowsWorkload(
    'pg 8, objects (its default, the suite\'s)',
    openPg,
    async (client, n) => (await client.query(rowsSql(n))).rows.length,
    (client) => client.end(),
  ),
  'rows-pg-array': rowsWorkload(
    "pg 8, rowMode 'array'",
    openPg,
    async (client, n) => (await client.query({ text: rowsSql(n), rowMode: 'array' })).rows.length,
    (client) => client.end(),
  ),
  'rows-postgresjs': rowsWorkload(
    'postgres.js (max: 1)',
    async (url) => postgres(url, { max: 1, onnotice: () => {} }),
    async (sql, n) => (await sql.unsafe(rowsSql(n))).length,
    (sql) => sql.end(),
  ),
};
