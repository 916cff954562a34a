// profile/count.ts
//
// Runs a workload a given number of times and nothing else, for instruction counts that do not
// depend on the machine's load: run it under callgrind twice with different run counts, and
// the difference divided by the calls of the extra runs is the instructions per call (start-up,
// connection and warm-up cancel out). The Redis server's own instructions are not counted (it
// is another process).
//
//   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
//     node apps/bench/dist/profile/count.js concurrent-node 50000 2     # then with 4 runs
//
// Arguments: <workload> <calls per run> <runs> [--module <path>] (as profile.ts).

import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WorkloadModule } from './workload.js';

const args = process.argv.slice(2);
const moduleIndex = args.indexOf('--module');
const spec = moduleIndex === -1 ? new URL('./redis-workloads.js', import.meta.url).href : pathToFileURL(path.resolve(args.splice(moduleIndex, 2)[1] as string)).href;
const [name, callsText, runsText] = args;
const mod = (await import(spec)) as WorkloadModule;
const workload = mod.workloads[name ?? ''];
if (workload === undefined) {
  console.error(`unknown workload '${String(name)}'; known: ${Object.keys(mod.workloads).join(', ')}`);
  process.exit(2);
}
const calls = callsText === undefined ? workload.defaultCalls : Number(callsText);
const runs = runsText === undefined ? 1 : Number(runsText);
await workload.setup();
for (let i = 0; i < runs; i++) await workload.run(calls);
await workload.teardown();
