// pg/client-bench.ts: our Postgres client on the node and curio runtimes beside pg and
// postgres.js, against one server, in one process (suite `pg-client`). A stand-in until the
// shared `pg` suite (raw net, pgbench, PGlite) takes these rows.
//
// Workloads (issue 11): 20 000 sequential `select $1::int`; 20 000 concurrent parameterized
// queries on one connection; 100 000 rows of `select g, md5(g::text) from generate_series`.
// The server: BENCH_PG_URL, else CURIO_TEST_PG_URL, else a private server started here.

import { run as runKernel } from '@curio-ts/kernel';
import { connectPg as connectPgNode } from '@curio-ts/backend-node';
import { connectPg as connectPgCurio } from '@curio-ts/backend-curio';
import type { PgClient } from '@curio-ts/client';
import { sharedTestPgUrl } from '@curio-ts/conformance';
import pg from 'pg';
import postgres from 'postgres';
import { measure, rate } from '../harness.js';
import type { Contender, Measurement } from '../harness.js';

const SEQUENTIAL = 20_000;
const CONCURRENT = 20_000;
const ROWS = 100_000;
const ROWS_SQL = 'select g, md5(g::text) as m from generate_series(1, 100000) g';

async function ours(client: PgClient): Promise<Record<string, () => Promise<number>>> {
  return {
    sequential: async () => {
      for (let i = 0; i < SEQUENTIAL; i++) await client.query('select $1::int as n', [i]);
      return SEQUENTIAL;
    },
    concurrent: async () => {
      const all: Promise<unknown>[] = new Array(CONCURRENT);
      for (let i = 0; i < CONCURRENT; i++) all[i] = client.query('select $1::int as n', [i]);
      await Promise.all(all);
      return CONCURRENT;
    },
    rows: async () => (await client.query(ROWS_SQL)).rows.length,
  };
}

/** Run the three workloads for every contender; a table of ops/s and ratios. */
export async function pgClientBench(): Promise<string> {
  const url = process.env.BENCH_PG_URL ?? (await sharedTestPgUrl());
  const plain = url.includes('sslmode=') ? url : `${url}${url.includes('?') ? '&' : '?'}sslmode=disable`;
  const node = await connectPgNode(plain);
  const nodeRuns = await ours(node);
  const pgClient = new pg.Client({ connectionString: url });
  await pgClient.connect();
  const sql = postgres(url, { max: 1, prepare: true });
  const lines: string[] = [];
  // curio: the whole measurement runs inside the kernel (a task making the calls).
  let curioResults: Measurement[] = [];
  await runKernel(async () => {
    const curio = await connectPgCurio(plain);
    const runs = await ours(curio);
    curioResults = [];
    for (const name of ['sequential', 'concurrent', 'rows'] as const) {
      const [m] = await measure([{ name: `ours (curio)`, run: runs[name] as () => Promise<number> }], 3);
      curioResults.push({ ...(m as Measurement), name });
    }
    await curio.close();
  });
  const others: Record<string, Contender[]> = {
    sequential: [
      { name: 'ours (node)', run: nodeRuns.sequential as () => Promise<number> },
      {
        name: 'pg',
        run: async () => {
          for (let i = 0; i < SEQUENTIAL; i++) await pgClient.query({ text: 'select $1::int as n', values: [i], name: 'seq' });
          return SEQUENTIAL;
        },
      },
      {
        name: 'postgres.js',
        run: async () => {
          for (let i = 0; i < SEQUENTIAL; i++) await sql`select ${i}::int as n`;
          return SEQUENTIAL;
        },
      },
    ],
    concurrent: [
      { name: 'ours (node)', run: nodeRuns.concurrent as () => Promise<number> },
      {
        name: 'pg',
        run: async () => {
          const all: Promise<unknown>[] = new Array(CONCURRENT);
          for (let i = 0; i < CONCURRENT; i++) all[i] = pgClient.query({ text: 'select $1::int as n', values: [i], name: 'seq' });
          await Promise.all(all);
          return CONCURRENT;
        },
      },
      {
        name: 'postgres.js',
        run: async () => {
          const all: Promise<unknown>[] = new Array(CONCURRENT);
          for (let i = 0; i < CONCURRENT; i++) all[i] = sql`select ${i}::int as n`;
          await Promise.all(all);
          return CONCURRENT;
        },
      },
    ],
    rows: [
      { name: 'ours (node)', run: nodeRuns.rows as () => Promise<number> },
      { name: 'pg', run: async () => (await pgClient.query(ROWS_SQL)).rows.length },
      { name: 'postgres.js', run: async () => (await sql.unsafe(ROWS_SQL)).length },
    ],
  };
  lines.push('| workload | ours (node) | ours (curio) | pg | postgres.js | node/pg | node/postgres.js |', '|---|---|---|---|---|---|---|');
  for (const name of ['sequential', 'concurrent', 'rows'] as const) {
    console.error(`pg-client: ${name}`);
    const results = await measure(others[name] as Contender[], 3);
    const get = (who: string): number => (results.find((m) => m.name === who) as Measurement).opsPerSec;
    const curio = (curioResults.find((m) => m.name === name) as Measurement).opsPerSec;
    lines.push(`| ${name} | ${rate(get('ours (node)'))} | ${rate(curio)} | ${rate(get('pg'))} | ${rate(get('postgres.js'))} | ${(get('ours (node)') / get('pg')).toFixed(2)}× | ${(get('ours (node)') / get('postgres.js')).toFixed(2)}× |`);
  }
  await node.close();
  await pgClient.end();
  await sql.end();
  return `PostgreSQL client (${SEQUENTIAL} sequential, ${CONCURRENT} concurrent, ${ROWS} rows; rows counted as ops)\n\n${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await pgClientBench());
  process.exit(0);
}
