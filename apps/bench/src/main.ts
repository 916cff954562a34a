// Benchmark entry point: `npm run bench [suite...]` from the repository root.
// Suites: kernel. Each suite rewrites its own section of apps/bench/RESULTS.md.

import { fileURLToPath } from 'node:url';
import * as os from 'node:os';
import { kernelSuite } from './kernel-bench.js';
import { ioSuite } from './io-bench.js';
import { threadsSuite } from './threads-bench.js';
import { redisSuite } from './redis-bench.js';
import { writeSection } from './harness.js';

const suites: Record<string, () => Promise<string>> = {
  redis: redisSuite,
  kernel: kernelSuite,
  io: ioSuite,
  threads: threadsSuite,
  'mini-redis': (await import('./miniredis-bench.js')).miniRedisSuite,
  memory: (await import('./memory-bench.js')).memorySuite,
  http: (await import('./http-bench.js')).httpSuite,
  'http-parse': (await import('./http-parse-bench.js')).httpParseSuite,
  'http-client': (await import('./http-client-bench.js')).httpClientSuite,
  'http-idle': (await import('./http-idle-bench.js')).httpIdleSuite,
};

const results = fileURLToPath(new URL('../RESULTS.md', import.meta.url));
const requested = process.argv.slice(2);
const names = requested.length > 0 ? requested : Object.keys(suites);

for (const name of names) {
  const suite = suites[name];
  if (suite === undefined) {
    console.error(`unknown suite '${name}'; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  console.log(`running suite: ${name}`);
  const body = await suite();
  const when = new Date().toISOString().slice(0, 10);
  const machine = `${os.cpus().length} CPU ${os.cpus()[0]?.model ?? ''}, Node ${process.version}`;
  writeSection(results, name, `Measured ${when} on ${machine}.\n\n${body}`);
  console.log(body);
}
console.log(`results written to ${results}`);
