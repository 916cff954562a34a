// Benchmark entry point: `npm run bench [suite...]` from the repository root.
// Each suite rewrites its own section of apps/bench/RESULTS.md. A group name runs its suites
// (`http`: the wrk server rows, then http-foreign, http-parse, http-idle and http-client).

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as os from 'node:os';

// The harness can collect the heap before each run (harness.ts, measure), so that no contender
// pays for the garbage of the one before it: that needs `--expose-gc`, so without it the bench
// runs itself again with it.
if (typeof (globalThis as { gc?: unknown }).gc !== 'function') process.exit(runSelf(['--expose-gc'], process.argv.slice(2)));

/** This script again in a child process (Node options `nodeArgs` added); its exit status. */
function runSelf(nodeArgs: readonly string[], args: readonly string[]): number {
  const child = spawnSync(process.execPath, [...nodeArgs, ...process.execArgv, process.argv[1] as string, ...args], { stdio: 'inherit' });
  return child.status ?? 1;
}
import { kernelSuite } from './kernel-bench.js';
import { ioSuite } from './io-bench.js';
import { threadsSuite } from './threads-bench.js';
import { redisDecodeSuite, redisSuite } from './redis-bench.js';
import { writeSection } from './harness.js';

const suites: Record<string, () => Promise<string>> = {
  redis: redisSuite,
  'redis-decode': redisDecodeSuite,
  kernel: kernelSuite,
  io: ioSuite,
  threads: threadsSuite,
  'mini-redis': (await import('./miniredis-bench.js')).miniRedisSuite,
  memory: (await import('./memory-bench.js')).memorySuite,
  http: (await import('./http-bench.js')).httpSuite,
  'http-foreign': (await import('./http-foreign-bench.js')).httpForeignSuite,
  'http-parse': (await import('./http-parse-bench.js')).httpParseSuite,
  'http-client': (await import('./http-client-bench.js')).httpClientSuite,
  'http-idle': (await import('./http-idle-bench.js')).httpIdleSuite,
  pg: async () => {
    (await import('./pg/client-bench.js')).registerOurs();
    return (await import('./pg-bench.js')).pgSuite();
  },
  'pg-codecs': (await import('./pg/codecs-bench.js')).pgCodecsSuite,
  'pg-decode': (await import('./pg/decode-bench.js')).pgDecodeSuite,
};

/** Names that run several suites: the group's own suite (if any) first, each one once. */
const groups: Record<string, string[]> = {
  http: ['http', 'http-foreign', 'http-parse', 'http-idle', 'http-client'],
};

const results = fileURLToPath(new URL('../RESULTS.md', import.meta.url));
/** What the parent passes a child that runs one suite: the suite's name, never a group's. */
const ONLY = '--only';
const requested = process.argv.slice(2);
const names =
  requested[0] === ONLY
    ? requested.slice(1, 2)
    : [...new Set((requested.length > 0 ? requested : Object.keys(suites)).flatMap((name) => groups[name] ?? [name]))];

if (names.length === 0) {
  console.error(`${ONLY} takes the name of a suite`);
  process.exit(2);
}
for (const name of names) {
  if (suites[name] === undefined) {
    console.error(`unknown suite '${name}'; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
}

// Several suites: each in a process of its own. A suite leaves V8 state behind that no later
// suite should be measured in: besides its heap, any raw foreign await in a kernel task (the
// kernel and redis suites' foreign-await rows) enables promise hooks, and V8 then drops its
// PromiseHook protector for the rest of the process, which makes every async function and Promise
// in the process slower (issue 9: ~20% more instructions for async/await code, callgrind).
if (names.length > 1) {
  let failed = 0;
  // By name alone, a child asked for 'http' (a suite and a group) would expand the group again.
  for (const name of names) if (runSelf([], [ONLY, name]) !== 0) failed++;
  process.exit(failed === 0 ? 0 : 1);
}

{
  const name = names[0] as string;
  const suite = suites[name] as () => Promise<string>;
  console.log(`running suite: ${name}`);
  const body = await suite();
  const when = new Date().toISOString().slice(0, 10);
  const machine = `${os.cpus().length} CPU ${os.cpus()[0]?.model ?? ''}, Node ${process.version}`;
  writeSection(results, name, `Measured ${when} on ${machine}.\n\n${body}`);
  console.log(body);
}
console.log(`results written to ${results}`);
