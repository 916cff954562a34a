// profile/hops.ts
//
// What one call costs in scheduling hops (issue 9): Promises created, Promise jobs run
// (reactions, and the jobs that resolve a Promise with a thenable), process.nextTick,
// queueMicrotask and setImmediate callbacks, clock reads (performance.now), per call of a workload. Counts, not times: the
// same on a quiet and on a busy machine.
//
//   node apps/bench/dist/profile/hops.js <workload>[,<workload>...] [calls] [--module <path>]
//
// Method: V8's promise hooks (init: a Promise was created; before: a Promise job is about to
// run) and wrappers of process.nextTick, queueMicrotask, setImmediate and performance.now count what one run of
// `calls` calls does and one run of 2 × `calls` does, after warm-up; the difference divided by
// `calls` is the cost of a call (connection and start-up work cancel out). A kernel that follows
// its tasks with promise hooks of its own (a task in a raw foreign await) is unaffected: hooks
// are chained.

import { promiseHooks } from 'node:v8';
import { forSelectedWorkloads } from './workload.js';
import type { Workload } from './workload.js';

interface Counts {
  promises: number;
  jobs: number;
  nextTicks: number;
  microtasks: number;
  immediates: number;
  clockReads: number;
}

const counts: Counts = { promises: 0, jobs: 0, nextTicks: 0, microtasks: 0, immediates: 0, clockReads: 0 };

function snapshot(): Counts {
  return { ...counts };
}

function installCounters(): void {
  promiseHooks.createHook({
    init: () => {
      counts.promises++;
    },
    before: () => {
      counts.jobs++;
    },
  });
  const nextTick = process.nextTick.bind(process);
  process.nextTick = ((fn: (...args: unknown[]) => void, ...args: unknown[]) => {
    counts.nextTicks++;
    nextTick(fn, ...args);
  }) as typeof process.nextTick;
  const microtask = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (fn: () => void): void => {
    counts.microtasks++;
    microtask(fn);
  };
  const immediate = globalThis.setImmediate;
  globalThis.setImmediate = ((fn: (...args: unknown[]) => void, ...args: unknown[]) => {
    counts.immediates++;
    return immediate(fn, ...args);
  }) as typeof setImmediate;
  const now = performance.now.bind(performance);
  performance.now = (): number => {
    counts.clockReads++;
    return now();
  };
}

async function measure(workload: Workload, calls: number): Promise<Counts> {
  const before = snapshot();
  await workload.run(calls);
  const after = snapshot();
  return {
    promises: after.promises - before.promises,
    jobs: after.jobs - before.jobs,
    nextTicks: after.nextTicks - before.nextTicks,
    microtasks: after.microtasks - before.microtasks,
    immediates: after.immediates - before.immediates,
    clockReads: after.clockReads - before.clockReads,
  };
}

async function hopsOf(name: string, workload: Workload, calls: number): Promise<void> {
  await workload.setup();
  try {
    for (let i = 0; i < 3; i++) await workload.run(calls);
    const one = await measure(workload, calls);
    const two = await measure(workload, 2 * calls);
    const per = (key: keyof Counts): string => ((two[key] - one[key]) / calls).toFixed(2);
    console.log(
      `${name.padEnd(20)} per call: ${per('promises')} Promises, ${per('jobs')} Promise jobs, ` +
        `${per('nextTicks')} nextTick, ${per('microtasks')} queueMicrotask, ${per('immediates')} setImmediate, ${per('clockReads')} performance.now`,
    );
  } finally {
    await workload.teardown();
  }
}

// Installed before the workloads' module loads, so that what it captures at load time is counted too.
installCounters();
await forSelectedWorkloads(process.argv.slice(2), (name, workload, calls) => hopsOf(name, workload, calls ?? Math.min(workload.defaultCalls, 20_000)));
