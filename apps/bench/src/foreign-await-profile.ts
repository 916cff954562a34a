// foreign-await-profile.ts
//
// A profile script for issue 9's foreign-await cliff: the cost of one operation of a kernel
// task while another task sits in a raw await of a foreign Promise, counted in ways that do not
// depend on the machine's load (stack captures per operation; run it under
// `valgrind --tool=callgrind` at two sizes for instructions per operation), beside the
// wall-clock rate and CPU time.
//
//   node apps/bench/dist/foreign-await-profile.js <pingpong|redis> <beside> [n] [rounds]
//
// <beside>: none (no other task), parked (a task in a raw await of a Promise that settles only
// at the end), stat (a task looping over a raw `await fs.promises.stat('.')`), stat-trap (the
// same loop through `awaitPromise`, which blocks in a proper trap). The stat loops compete for
// the event loop too: compare `stat` with `stat-trap` for the cost of the raw await alone.
// `redis` needs redis-server on 127.0.0.1:6379.
//
// Instructions per operation: (Ir(n2) - Ir(n1)) / (n2 - n1), with rounds = 1, e.g.
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//     node apps/bench/dist/foreign-await-profile.js pingpong parked 4000 1

import { promises as fsp } from 'node:fs';
import { connectRedis } from '@curio-ts/backend-curio';
import { awaitPromise, run, sleep, spawn } from '@curio-ts/kernel';
import type { Task } from '@curio-ts/kernel';
import { kernelQueuePingPong } from './kernel-bench.js';

type Beside = 'none' | 'parked' | 'stat' | 'stat-trap';

let captures = 0;
const capture = Error.captureStackTrace.bind(Error);
Error.captureStackTrace = (...args: Parameters<typeof Error.captureStackTrace>): void => {
  captures++;
  capture(...args);
};

interface Sample {
  rate: number;
  capturesPerOp: number;
  cpuUsPerOp: number;
  statsPerOp: number;
}

/** Start the task beside the measured one; returns how to stop it and the stat count. */
function startBeside(beside: Beside): { stop: () => Promise<void>; stats: () => number } {
  let stopped = false;
  let stats = 0;
  let release: () => void = () => {};
  let task: Task<unknown> | null = null;
  if (beside === 'parked') task = spawn(() => new Promise<void>((resolve) => (release = resolve)));
  if (beside === 'stat' || beside === 'stat-trap') {
    task = spawn(async () => {
      while (!stopped) {
        if (beside === 'stat') await fsp.stat('.');
        else await awaitPromise(fsp.stat('.'));
        stats++;
      }
    });
  }
  return {
    stop: async () => {
      stopped = true;
      release();
      if (task !== null) await task.join();
    },
    stats: () => stats,
  };
}

async function measureOps(n: number, beside: Beside, body: () => Promise<void>): Promise<Sample> {
  const other = startBeside(beside);
  await sleep(1); // let the scheduler see a raw await as FOREIGN_WAIT
  const c0 = captures;
  const s0 = other.stats();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await body();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const sample = {
    rate: (n / ms) * 1000,
    capturesPerOp: (captures - c0) / n,
    cpuUsPerOp: (cpu.user + cpu.system) / n,
    statsPerOp: (other.stats() - s0) / n,
  };
  await other.stop();
  return sample;
}

const pingPong = kernelQueuePingPong;

async function main(): Promise<void> {
  const [what = 'pingpong', besideArg = 'parked', nArg = '20000', roundsArg = '5'] = process.argv.slice(2);
  const beside = besideArg as Beside;
  if (!['none', 'parked', 'stat', 'stat-trap'].includes(beside) || !['pingpong', 'redis'].includes(what)) {
    throw new Error('usage: foreign-await-profile.js <pingpong|redis> <none|parked|stat|stat-trap> [n] [rounds]');
  }
  const n = Number(nArg);
  const rounds = Number(roundsArg);
  const samples = await run(async () => {
    const out: Sample[] = [];
    if (what === 'pingpong') {
      for (let r = 0; r < rounds; r++) out.push(await measureOps(n, beside, () => pingPong(n)));
      return out;
    }
    const client = await connectRedis({ host: '127.0.0.1', port: 6379 });
    await client.set('bench:key', 'x'.repeat(16));
    for (let r = 0; r < rounds; r++) {
      out.push(
        await measureOps(n, beside, async () => {
          for (let i = 0; i < n; i++) await client.get('bench:key');
        }),
      );
    }
    await client.close();
    return out;
  });
  const median = (pick: (s: Sample) => number): number => {
    const values = samples.map(pick).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)] as number;
  };
  console.log(
    `${what} beside ${beside}: ${Math.round(median((s) => s.rate))} ops/s, ` +
      `${median((s) => s.capturesPerOp).toFixed(2)} stack captures/op, ` +
      `${median((s) => s.cpuUsPerOp).toFixed(1)} us CPU/op, ${median((s) => s.statsPerOp).toFixed(2)} stats/op ` +
      `(median of ${rounds}, n = ${n})`,
  );
}

await main();
