// The foreign-await cost in an HTTP handler (suite 'http-foreign'): the keep-alive hello of the
// 'http' suite (wrk -t1 -c50), its handler first doing a raw `await fs.promises.stat(file)` (a
// foreign Promise, not a kernel trap), beside the plain hello: ours on the curio runtime (where
// a task in a raw foreign await takes the kernel's slow path), and for reference ours on the
// node runtime and node:http doing the same stat. The stat costs the same everywhere (a trip
// through libuv's thread pool), so the curio runtime's foreign-await cost shows as the share
// of its rate it keeps beside the share the node runtime keeps:
// (curio stat / curio plain) / (node stat / node plain), 1.00x when a raw foreign await costs
// the kernel nothing beyond the stat, below 1 when it does.

import { promises as fsp } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HttpHandler } from '@curio-ts/client';
import { table } from './harness.js';
import type { Row } from './harness.js';
import { ROUNDS, SECONDS, hello, load, nodeHttp, ours, oursCurio, pinServers, pinningNote, unpinServers, wrkMissing } from './http-bench.js';

const STAT_FILE = fileURLToPath(import.meta.url);
const stat = (): Promise<unknown> => fsp.stat(STAT_FILE);

/** Hello after a raw await of fs.promises.stat. */
const helloAfterStat: HttpHandler = async (request) => {
  await stat();
  return hello(request);
};

const CURIO = 'curio-ts (curio)';
const CURIO_STAT = 'curio-ts (curio), raw await fs.promises.stat';
const NODE = 'curio-ts (node)';
const NODE_STAT = 'curio-ts (node), await fs.promises.stat';
const HTTP = 'node:http';
const HTTP_STAT = 'node:http, await fs.promises.stat';

/** Run the foreign-await suite; returns the markdown table. */
export async function httpForeignSuite(): Promise<string> {
  const missing = wrkMissing('http-foreign');
  if (missing !== null) return missing;
  pinServers();
  const contenders = [
    oursCurio(CURIO, hello),
    oursCurio(CURIO_STAT, helloAfterStat),
    ours(NODE, hello),
    ours(NODE_STAT, helloAfterStat),
    nodeHttp(HTTP),
    nodeHttp(HTTP_STAT, stat),
  ];
  try {
    for (const c of contenders) c.port = await c.start();
    const rates = await load(contenders, 50, null);
    const at = (name: string): number => rates.get(name) ?? 0;
    const row = (benchmark: string, a: string, b: string): Row => ({
      benchmark,
      ours: { name: a, opsPerSec: at(a), samples: [] },
      baseline: { name: b, opsPerSec: at(b), samples: [] },
    });
    const label = 'keep-alive hello, wrk -c50';
    const rows: Row[] = [
      row(`${label}: curio runtime, handler in a raw foreign await (stat) vs plain`, CURIO_STAT, CURIO),
      row(`${label}: node runtime, handler awaiting stat vs plain (reference)`, NODE_STAT, NODE),
      row(`${label}: node:http, handler awaiting stat vs plain (reference)`, HTTP_STAT, HTTP),
      row(`${label}, handler awaiting stat: curio runtime vs node runtime`, CURIO_STAT, NODE_STAT),
      row(`${label}, handler awaiting stat: curio runtime vs node:http`, CURIO_STAT, HTTP_STAT),
    ];
    const cost = at(CURIO_STAT) / at(CURIO) / (at(NODE_STAT) / at(NODE));
    return (
      `wrk -t1, ${SECONDS} s per run, medians of ${ROUNDS} interleaved rounds after a warm-up; servers in the bench process. ${pinningNote()} ` +
      `Every handler stats ${'`'}apps/bench/dist/http-foreign-bench.js${'`'}.\n\n${table(rows)}\n\n` +
      `Foreign-await cost: the share of its rate the curio runtime keeps when its handlers await stat raw, over the share the node runtime keeps, ` +
      `(curio stat / curio plain) / (node stat / node plain) = ${cost.toFixed(2)}x ` +
      '(1.00x: a raw foreign await costs the kernel nothing beyond the stat itself; below 1: it does; informational, the kernel target for a task beside raw foreign awaits is >= 0.5x).'
    );
  } finally {
    for (const c of contenders) await c.stop();
    unpinServers();
  }
}
