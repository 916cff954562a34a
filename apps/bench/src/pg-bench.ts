// PostgreSQL client benchmarks (issue 11): the competitors and the ceilings, against one server
// in one process run, with slots where our client's rows go.
//
// Server: PG_BENCH_URL or CURIO_TEST_PG_URL when set, else a private server started here (the
// test kit's startPrivatePostgres), else 127.0.0.1:5432.
// Workloads: SEQ_N sequential `select $1::int`; CONC_N concurrent parameterized queries on one
// connection; ROWS rows of `select g, md5(g::text) from generate_series(1, ROWS) g`.
// Contenders: a raw node:net client (prepared bytes; for rows it frames the DataRows without
// decoding them: the server's own row rate), pg, postgres.js, pgbench (the C ceiling), and
// PGlite: its own `query` in this thread, raw protocol bytes in this thread, and raw bytes
// through our transport (the worker hop). Ours on PGlite runs in both thread modes: in the
// worker (OURS, with the server rows) and in this thread (OURS_IN_THREAD, interleaved with
// PGlite's own query measured again in the same rounds: the sequential target compares these).
//
// Discussion: slots. pg-client adds its contenders to OURS (one per runtime, and one through the
// PGlite transport); each row of TARGETS then compares it with its reference.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { findPostgresBinaries, startPrivatePostgres } from '@curio-ts/conformance';
import type { PrivatePostgres } from '@curio-ts/conformance';
import { closePglite, pgliteConnect, startPglite } from '@curio-ts/transport-pglite';
import type { ByteStream } from '@curio-ts/client';
import pg from 'pg';
import postgres from 'postgres';
import { serialize } from 'pg-protocol';
import { measure, rate } from './harness.js';
import type { Contender, Measurement } from './harness.js';

export const SEQ_N = Number(process.env['PG_BENCH_SEQ'] ?? 20_000);
export const CONC_N = Number(process.env['PG_BENCH_CONC'] ?? 20_000);
export const ROWS = Number(process.env['PG_BENCH_ROWS'] ?? 100_000);
export const ROUNDS = Number(process.env['PG_BENCH_ROUNDS'] ?? 3);
export const PGLITE_SEQ_N = Number(process.env['PG_BENCH_PGLITE_SEQ'] ?? 5_000);
export const SEQ_SQL = 'select $1::int';
export const ROWS_SQL = `select g, md5(g::text) from generate_series(1, ${ROWS}) g`;

export type Workload = 'sequential' | 'concurrent' | 'rows';

/** A contender of one workload; `unit` is what its rate counts. */
export interface PgContender extends Contender {
  readonly workload: Workload;
  /** The PGlite rows run against PGlite, not the server. */
  readonly target: 'server' | 'pglite';
}

/**
 * Slots for our client (pg-client fills them): a function that, given the server's URL, returns
 * its contenders, named 'curio-ts (node)', 'curio-ts (curio)', 'curio-ts (pglite)'.
 */
export const OURS: ((url: string) => Promise<{ contenders: PgContender[]; close(): Promise<void> }>)[] = [];

/**
 * Slots for our client on PGlite in this thread ('curio-ts (pglite, main thread)'): measured in
 * the same interleaved rounds as PGlite's own in-thread rows, both in this thread, so the
 * target compares like with like. (The worker-thread contender runs in OURS: at most two
 * PGlite instances are alive at once, each costing hundreds of MB.)
 */
export const OURS_IN_THREAD: (() => Promise<{ contenders: PgContender[]; close(): Promise<void> }>)[] = [];

/** What each target compares (ours name, reference name, workload, minimum ratio; no minimum: an info row). */
const TARGETS: readonly { ours: string; reference: string; workload: Workload; min?: number }[] = [
  { ours: 'curio-ts (node)', reference: 'postgres.js', workload: 'concurrent', min: 1.5 },
  { ours: 'curio-ts (curio)', reference: 'postgres.js', workload: 'concurrent', min: 1.5 },
  { ours: 'curio-ts (node)', reference: 'pg', workload: 'sequential', min: 1.1 },
  { ours: 'curio-ts (curio)', reference: 'pg', workload: 'sequential', min: 1.1 },
  { ours: 'curio-ts (node)', reference: 'raw net (frames only)', workload: 'rows', min: 0.95 },
  { ours: 'curio-ts (curio)', reference: 'raw net (frames only)', workload: 'rows', min: 0.95 },
  { ours: 'curio-ts (pglite)', reference: 'PGlite query (in-thread)', workload: 'rows', min: 1.0 },
  // Like with like: PGlite in this thread under our client, and PGlite's own query in this thread.
  // (the reference measured again in the same rounds).
  { ours: 'curio-ts (pglite, main thread)', reference: 'PGlite query (in-thread, same rounds as ours in this thread)', workload: 'sequential', min: 1.0 },
  // Info: the default (worker thread) pays a thread hop per query that the in-thread query does not.
  { ours: 'curio-ts (pglite)', reference: 'PGlite query (in-thread)', workload: 'sequential' },
  { ours: 'curio-ts (pglite, main thread)', reference: 'PGlite query (in-thread, same rounds as ours in this thread)', workload: 'rows' },
];

// ---------------------------------------------------------------------------------------------
// Backend-message counting shared by the raw clients: frames only, nothing decoded.

/** Counts ReadyForQuery and DataRow frames across chunk boundaries. */
class FrameCounter {
  ready = 0;
  rows = 0;
  private header = new Uint8Array(5);
  private headerFill = 0;
  private skip = 0; // body bytes of the current frame still to pass

  feed(chunk: Uint8Array): void {
    let at = 0;
    const n = chunk.length;
    while (at < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - at);
        this.skip -= take;
        at += take;
        continue;
      }
      if (this.headerFill === 0 && n - at >= 5) {
        const type = chunk[at] as number;
        const length = (((chunk[at + 1] as number) << 24) | ((chunk[at + 2] as number) << 16) | ((chunk[at + 3] as number) << 8) | (chunk[at + 4] as number)) >>> 0;
        this.count(type);
        at += 5;
        this.skip = length - 4;
        continue;
      }
      this.header[this.headerFill++] = chunk[at++] as number;
      if (this.headerFill === 5) {
        const h = this.header;
        this.count(h[0] as number);
        this.skip = ((((h[1] as number) << 24) | ((h[2] as number) << 16) | ((h[3] as number) << 8) | (h[4] as number)) >>> 0) - 4;
        this.headerFill = 0;
      }
    }
  }

  private count(type: number): void {
    if (type === 0x5a) this.ready++;
    else if (type === 0x44) this.rows++;
  }
}

/** Where a raw client's bytes go and come from: a socket, or a ByteStream (the PGlite transport). */
export interface RawPipe {
  write(bytes: Uint8Array): void;
  onData(handler: (chunk: Uint8Array) => void): void;
  close(): void;
}

export function socketPipe(url: URL): Promise<RawPipe> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port || 5432), noDelay: true });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        write: (bytes) => void socket.write(bytes),
        onData: (handler) => void socket.on('data', handler),
        close: () => socket.destroy(),
      }));
  });
}

function streamPipe(stream: ByteStream): RawPipe {
  return {
    write: (bytes) => void stream.write(bytes),
    onData: (handler) => {
      void (async () => {
        for (;;) {
          const chunk = await stream.read();
          if (chunk === null || chunk.length === 0) return;
          handler(chunk);
        }
      })();
    },
    close: () => stream.close(),
  };
}

/**
 * A raw protocol client: startup (trust), one named prepared statement, then bytes built
 * beforehand; it waits for the count of ReadyForQuery it expects and counts DataRows.
 */
export class RawPgClient {
  private readonly frames = new FrameCounter();
  private waitingFor = 0;
  private wake: (() => void) | null = null;
  private readonly bindCache: Uint8Array[] = [];

  constructor(private readonly pipe: RawPipe) {
    pipe.onData((chunk) => {
      this.frames.feed(chunk);
      if (this.wake !== null && this.frames.ready >= this.waitingFor) {
        const wake = this.wake;
        this.wake = null;
        wake();
      }
    });
  }

  /** Send bytes holding `readies` Syncs/Queries; resolves when their ReadyForQuery arrived. */
  roundTrip(bytes: Uint8Array, readies: number): Promise<void> {
    this.waitingFor = this.frames.ready + readies;
    const done = new Promise<void>((resolve) => (this.wake = resolve));
    this.pipe.write(bytes);
    return done;
  }

  async start(user: string, database: string): Promise<void> {
    await this.roundTrip(serialize.startup({ user, database }), 1);
    await this.roundTrip(Buffer.concat([serialize.parse({ name: 's1', text: SEQ_SQL, types: [23] }), serialize.sync()]), 1);
    for (let i = 0; i < 1000; i++) {
      this.bindCache.push(Buffer.concat([serialize.bind({ statement: 's1', values: [String(i)] }), serialize.execute(), serialize.sync()]));
    }
  }

  /** `n` sequential Bind/Execute/Sync of the prepared statement, each awaited. */
  async sequential(n: number): Promise<number> {
    for (let i = 0; i < n; i++) await this.roundTrip(this.bindCache[i % 1000] as Uint8Array, 1);
    return n;
  }

  /** `n` Bind/Execute/Sync written at once; resolves when all have answered. */
  async concurrent(n: number): Promise<number> {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < n; i++) parts.push(this.bindCache[i % 1000] as Uint8Array);
    await this.roundTrip(Buffer.concat(parts), n);
    return n;
  }

  /** The rows query (extended protocol, unnamed); returns the DataRows framed. */
  async rows(sql: string): Promise<number> {
    const before = this.frames.rows;
    await this.roundTrip(Buffer.concat([serialize.parse({ text: sql }), serialize.bind(), serialize.execute(), serialize.sync()]), 1);
    return this.frames.rows - before;
  }

  close(): void {
    this.pipe.close();
  }
}

// ---------------------------------------------------------------------------------------------
// pgbench: the C ceiling.

function pgbench(url: URL, script: string, transactions: number, queriesPerTransaction: number): Measurement | string {
  const bins = findPostgresBinaries();
  const binary = bins === null ? 'pgbench' : join(bins.binDir, 'pgbench');
  const dir = mkdtempSync(join(tmpdir(), 'curio-pgbench-'));
  try {
    const file = join(dir, 'script.sql');
    writeFileSync(file, script);
    const samples: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const result = spawnSync(binary, [
        '-n', '-M', 'prepared', '-c1', '-t', String(transactions), '-f', file,
        '-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username || 'postgres'), url.pathname.slice(1) || 'postgres',
      ], { encoding: 'utf8', env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) } });
      const tps = /tps = ([\d.]+)/.exec(result.stdout ?? '')?.[1];
      if (result.status !== 0 || tps === undefined) return `pgbench failed: ${(result.stderr || result.stdout || String(result.error)).trim().split('\n').slice(-2).join(' ')}`;
      samples.push(Number(tps) * queriesPerTransaction);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return { name: 'pgbench', opsPerSec: sorted[sorted.length >> 1] as number, samples };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

export async function serverUnderTest(): Promise<{ url: string; note: string; server: PrivatePostgres | null }> {
  const given = process.env['PG_BENCH_URL'] || process.env['CURIO_TEST_PG_URL'];
  if (given) return { url: given, note: `the server in ${process.env['PG_BENCH_URL'] ? 'PG_BENCH_URL' : 'CURIO_TEST_PG_URL'}`, server: null };
  try {
    const server = await startPrivatePostgres();
    return { url: server.url, note: `a private PostgreSQL ${findPostgresBinaries()?.version ?? ''} started for the run (fsync off, loopback, trust)`, server };
  } catch (error) {
    return { url: 'postgres://postgres@127.0.0.1:5432/test', note: `127.0.0.1:5432 (no private server: ${(error as Error).message.split('\n')[0]})`, server: null };
  }
}

function serverContenders(url: URL, raw: RawPgClient, pgClient: pg.Client, sql: postgres.Sql): PgContender[] {
  const server = 'server' as const;
  return [
    { name: 'raw net (prepared bytes)', workload: 'sequential', target: server, run: () => raw.sequential(SEQ_N) },
    {
      name: 'pg', workload: 'sequential', target: server,
      run: async () => {
        for (let i = 0; i < SEQ_N; i++) await pgClient.query(SEQ_SQL, [i]);
        return SEQ_N;
      },
    },
    {
      name: 'postgres.js', workload: 'sequential', target: server,
      run: async () => {
        for (let i = 0; i < SEQ_N; i++) await sql`select ${i}::int`;
        return SEQ_N;
      },
    },
    { name: 'raw net (prepared bytes)', workload: 'concurrent', target: server, run: () => raw.concurrent(CONC_N) },
    {
      name: 'pg', workload: 'concurrent', target: server,
      run: async () => (await Promise.all(Array.from({ length: CONC_N }, (_, i) => pgClient.query(SEQ_SQL, [i])))).length,
    },
    {
      name: 'postgres.js', workload: 'concurrent', target: server,
      run: async () => (await Promise.all(Array.from({ length: CONC_N }, (_, i) => sql`select ${i}::int`))).length,
    },
    { name: 'raw net (frames only)', workload: 'rows', target: server, run: () => raw.rows(ROWS_SQL) },
    { name: 'pg', workload: 'rows', target: server, run: async () => (await pgClient.query(ROWS_SQL)).rows.length },
    { name: 'postgres.js', workload: 'rows', target: server, run: async () => (await sql.unsafe(ROWS_SQL)).length },
  ].map((c) => ({ ...c, workload: c.workload as Workload })) satisfies PgContender[];
}

/** The name of PGlite's own query measured again in the rounds of ours in this thread. */
const SAME_ROUNDS = 'PGlite query (in-thread, same rounds as ours in this thread)';

/** PGlite's own `query` in this thread, sequential and rows, under `name`. */
function pgliteQueryContenders(db: PGlite, name: string): PgContender[] {
  const target = 'pglite' as const;
  return [
    {
      name, workload: 'sequential' as const, target,
      run: async () => {
        for (let i = 0; i < PGLITE_SEQ_N; i++) await db.query(SEQ_SQL, [i]);
        return PGLITE_SEQ_N;
      },
    },
    { name, workload: 'rows' as const, target, run: async () => (await db.query(ROWS_SQL)).rows.length },
  ];
}

function pgliteContenders(db: PGlite, hop: RawPgClient): PgContender[] {
  const target = 'pglite' as const;
  const rawQuery = Buffer.concat([serialize.parse({ text: ROWS_SQL }), serialize.bind(), serialize.execute(), serialize.sync()]);
  const select1 = Buffer.concat([serialize.bind({ statement: 's1', values: ['1'] }), serialize.execute(), serialize.sync()]);
  return [
    {
      name: 'PGlite query (in-thread)', workload: 'sequential', target,
      run: async () => {
        for (let i = 0; i < PGLITE_SEQ_N; i++) await db.query(SEQ_SQL, [i]);
        return PGLITE_SEQ_N;
      },
    },
    {
      name: 'PGlite raw bytes (in-thread)', workload: 'sequential', target,
      run: async () => {
        for (let i = 0; i < PGLITE_SEQ_N; i++) await db.execProtocolRaw(select1, { syncToFs: false });
        return PGLITE_SEQ_N;
      },
    },
    { name: 'raw bytes through the transport (worker hop)', workload: 'sequential', target, run: () => hop.sequential(PGLITE_SEQ_N) },
    {
      name: 'PGlite query (in-thread)', workload: 'concurrent', target,
      run: async () => (await Promise.all(Array.from({ length: PGLITE_SEQ_N }, (_, i) => db.query(SEQ_SQL, [i])))).length,
    },
    { name: 'raw bytes through the transport (worker hop)', workload: 'concurrent', target, run: () => hop.concurrent(PGLITE_SEQ_N) },
    { name: 'PGlite query (in-thread)', workload: 'rows', target, run: async () => (await db.query(ROWS_SQL)).rows.length },
    {
      name: 'PGlite raw bytes (in-thread, frames only)', workload: 'rows', target,
      run: async () => {
        const counter = new FrameCounter();
        counter.feed(await db.execProtocolRaw(rawQuery, { syncToFs: false }));
        return counter.rows;
      },
    },
    { name: 'raw bytes through the transport (frames only)', workload: 'rows', target, run: () => hop.rows(ROWS_SQL) },
  ].map((c) => ({ ...c, workload: c.workload as Workload })) satisfies PgContender[];
}

const WORKLOAD_TITLES: Record<Workload, string> = {
  sequential: `sequential \`${SEQ_SQL}\`, each awaited (q/s)`,
  concurrent: 'concurrent parameterized queries on one connection (q/s)',
  rows: `${ROWS} rows of \`select g, md5(g::text) ...\` (rows/s)`,
};

/** The `pg` suite: the table of competitor rows, the PGlite rows, and the target slots. */
export async function pgSuite(): Promise<string> {
  const { url, note, server } = await serverUnderTest();
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username || 'postgres');
  const database = parsed.pathname.slice(1) || 'postgres';
  const raw = new RawPgClient(await socketPipe(parsed));
  await raw.start(user, database);
  const pgClient = new pg.Client({ connectionString: url });
  await pgClient.connect();
  const sql = postgres(url, { max: 1, onnotice: () => {} });

  const results: { contender: PgContender; measurement: Measurement }[] = [];
  const run = async (contenders: PgContender[]): Promise<void> => {
    const measured = await measure(contenders, ROUNDS);
    measured.forEach((measurement, i) => results.push({ contender: contenders[i] as PgContender, measurement }));
  };
  try {
    // Ours in the same interleaved rounds as the references (A B C A B C...): a ratio between
    // rows measured in different minutes of a shared machine carries its load changes.
    const ours = await Promise.all(OURS.map((make) => make(url)));
    await run([...serverContenders(parsed, raw, pgClient, sql), ...ours.flatMap(({ contenders }) => contenders)]);
    for (const { close } of ours) await close();
  } finally {
    raw.close();
    await pgClient.end();
    await sql.end();
  }
  const ceilings = [
    { workload: 'sequential' as const, label: 'pgbench -M prepared -c1, `select :n::int`', m: pgbench(parsed, '\\set n random(1, 1000000)\nselect :n::int;\n', SEQ_N, 1) },
    {
      workload: 'concurrent' as const,
      label: 'pgbench -M prepared -c1, 100 × `select :n::int` in \\startpipeline',
      m: pgbench(parsed, `\\set n random(1, 1000000)\n\\startpipeline\n${'select :n::int;\n'.repeat(100)}\\endpipeline\n`, Math.ceil(CONC_N / 100), 100),
    },
  ];
  await server?.stop();

  // PGlite: in this thread (its own query, raw bytes) and through the transport (worker hop).
  const rssBefore = process.memoryUsage().rss;
  let began = performance.now();
  const db = await PGlite.create();
  const inThreadStart = performance.now() - began;
  const inThreadRss = process.memoryUsage().rss - rssBefore;
  began = performance.now();
  const info = await startPglite();
  const workerStart = performance.now() - began;
  const hopStream = await pgliteConnect()({ timeout: 120_000 });
  const hop = new RawPgClient(streamPipe(hopStream));
  await hop.start('postgres', 'postgres');
  await db.query('select 1');
  await db.execProtocolRaw(Buffer.concat([serialize.parse({ name: 's1', text: SEQ_SQL, types: [23] }), serialize.sync()]), { syncToFs: false });
  try {
    await run(pgliteContenders(db, hop));
    hop.close();
    await closePglite();
    // Ours with PGlite in this thread, interleaved with PGlite's own in-thread rows again (two
    // instances alive: `db` and ours); the target row takes the reference from these rounds.
    const inThread = await Promise.all(OURS_IN_THREAD.map((make) => make()));
    try {
      await run([...pgliteQueryContenders(db, SAME_ROUNDS), ...inThread.flatMap(({ contenders }) => contenders)]);
    } finally {
      for (const { close } of inThread) await close();
    }
  } finally {
    hop.close();
    await closePglite();
    await db.close();
  }

  const lines: string[] = [
    `Server: ${note}. ${ROUNDS} interleaved rounds after a warm-up, medians; PGlite rows use ${PGLITE_SEQ_N} queries (PG_BENCH_PGLITE_SEQ).`,
    '',
    '| workload | contender | against | rate | vs first row |',
    '|---|---|---|---|---|',
  ];
  for (const workload of ['sequential', 'concurrent', 'rows'] as const) {
    for (const target of ['server', 'pglite'] as const) {
      const group = results.filter((r) => r.contender.workload === workload && r.contender.target === target);
      const first = group[0]?.measurement.opsPerSec ?? 1;
      for (const { contender, measurement } of group) {
        lines.push(`| ${WORKLOAD_TITLES[workload]} | ${contender.name} | ${target === 'server' ? 'server' : 'PGlite'} | ${rate(measurement.opsPerSec)} | ${(measurement.opsPerSec / first).toFixed(2)}x |`);
      }
      if (target === 'server') {
        for (const ceiling of ceilings.filter((c) => c.workload === workload)) {
          lines.push(typeof ceiling.m === 'string'
            ? `| ${WORKLOAD_TITLES[workload]} | ${ceiling.label} | server | ${ceiling.m} | |`
            : `| ${WORKLOAD_TITLES[workload]} | ${ceiling.label} | server | ${rate(ceiling.m.opsPerSec)} | ${(ceiling.m.opsPerSec / first).toFixed(2)}x |`);
        }
      }
    }
  }
  lines.push('', '| target | ours | reference | ratio | |', '|---|---|---|---|---|');
  for (const t of TARGETS) {
    const ours = results.find((r) => r.contender.name === t.ours && r.contender.workload === t.workload);
    const reference = results.find((r) => r.contender.name === t.reference && r.contender.workload === t.workload);
    const refText = reference === undefined ? t.reference : `${t.reference}: ${rate(reference.measurement.opsPerSec)}`;
    const label = t.min === undefined ? `${t.workload}: info` : `${t.workload}: >= ${t.min}x`;
    if (ours === undefined || reference === undefined) {
      lines.push(`| ${label} | ${t.ours}: (slot: not in the bench yet) | ${refText} | | pending |`);
    } else {
      const ratio = ours.measurement.opsPerSec / reference.measurement.opsPerSec;
      const verdict = t.min === undefined ? 'info' : ratio >= t.min ? 'met' : 'MISSED';
      lines.push(`| ${label} | ${t.ours}: ${rate(ours.measurement.opsPerSec)} | ${refText} | ${ratio.toFixed(2)}x | ${verdict} |`);
    }
  }
  lines.push(
    '',
    `PGlite start-up: in this thread ${Math.round(inThreadStart)} ms and +${Math.round(inThreadRss / 1e6)} MB RSS; ` +
      `in the transport's worker ${Math.round(info.startupMs)} ms inside the worker, ${Math.round(workerStart)} ms to ready from here (process RSS then ${Math.round(info.rss / 1e6)} MB).`,
  );
  return lines.join('\n');
}
