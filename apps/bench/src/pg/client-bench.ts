// pg/client-bench.ts: our Postgres client's rows in the `pg` suite (pg-bench.ts): the slots of
// OURS, filled with contenders 'curio-ts (node)', 'curio-ts (curio)' and 'curio-ts (pglite)'
// (PGlite in its worker thread), and of OURS_IN_THREAD with 'curio-ts (pglite, main thread)',
// running the suite's workloads (the same sizes, PG_BENCH_* variables).
//
// curio: the client lives in one long-lived kernel (kernel-host.ts), connected once, as the node
// runtime's client is; each run is handed to that kernel. (A kernel per run, connecting and
// closing each time, added 5-25 ms of kernel start, connect, startup and first Parse to every
// run: 5-15 % of the rows workload's runs of about 100 ms.)

import { connectPg as connectPgNode } from '@curio-ts/backend-node';
import { connectPg as connectPgCurio } from '@curio-ts/backend-curio';
import type { PgClient } from '@curio-ts/client';
import { closePglite, pgliteConnect } from '@curio-ts/transport-pglite';
import type { PgliteThread } from '@curio-ts/transport-pglite';
import { KernelHost } from '../kernel-host.js';
import { CONC_N, OURS, OURS_IN_THREAD, PGLITE_SEQ_N, ROWS, ROWS_SQL, SEQ_N, SEQ_SQL } from '../pg-bench.js';
import type { PgContender, Workload } from '../pg-bench.js';


/** The three workloads on a client; each returns the operations done (rows for `rows`). */
const WORK: Record<Workload, (db: PgClient, n: number) => Promise<number>> = {
  sequential: async (db, n) => {
    for (let i = 0; i < n; i++) await db.query(SEQ_SQL, [i]);
    return n;
  },
  concurrent: async (db, n) => {
    const all = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) all[i] = db.query(SEQ_SQL, [i]);
    await Promise.all(all);
    return n;
  },
  rows: async (db) => (await db.query(ROWS_SQL, [], { rowMode: 'array' })).rows.length,
};

const SIZES: Record<Workload, number> = { sequential: SEQ_N, concurrent: CONC_N, rows: ROWS };

/** `url` without TLS negotiation (the bench's server is local). */
export function plain(url: string): string {
  return url.includes('sslmode=') ? url : `${url}${url.includes('?') ? '&' : '?'}sslmode=disable`;
}

/** Fill the suite's slots (call before pgSuite). */
export function registerOurs(): void {
  OURS.push(async (url) => {
    const node = await connectPgNode(plain(url));
    const curio = new KernelHost(() => connectPgCurio(plain(url)));
    await curio.start();
    const workloads: Workload[] = ['sequential', 'concurrent', 'rows'];
    return {
      contenders: [
        ...workloads.map((workload) => ({ name: 'curio-ts (node)', workload, target: 'server' as const, run: () => WORK[workload](node, SIZES[workload]) })),
        ...workloads.map((workload) => ({
          name: 'curio-ts (curio)',
          workload,
          target: 'server' as const,
          run: () => curio.submit(() => WORK[workload](curio.client, SIZES[workload])),
        })),
      ],
      close: async () => {
        await node.close();
        await curio.stop();
      },
    };
  });
  OURS.push(() => onPglite('curio-ts (pglite)', 'worker'));
  // PGlite in this thread (thread: 'main'): no thread hop; a query blocks this event loop, as
  // PGlite's own query does.
  OURS_IN_THREAD.push(() => onPglite('curio-ts (pglite, main thread)', 'main'));
}

/** Our client on PGlite in `thread`: its sequential and rows contenders, named `name`. */
async function onPglite(name: string, thread: PgliteThread): Promise<{ contenders: PgContender[]; close(): Promise<void> }> {
  const db = await connectPgNode({ connect: pgliteConnect({ thread }), user: 'postgres', database: 'postgres', reconnect: false, connectTimeout: 120_000 });
  const sizes: Record<Workload, number> = { sequential: PGLITE_SEQ_N, concurrent: PGLITE_SEQ_N, rows: ROWS };
  return {
    contenders: (['sequential', 'rows'] as const).map((workload) => ({ name, workload, target: 'pglite' as const, run: () => WORK[workload](db, sizes[workload]) })),
    close: async () => {
      await db.close();
      await closePglite();
    },
  };
}
