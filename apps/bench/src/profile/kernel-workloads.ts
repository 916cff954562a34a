// profile/kernel-workloads.ts
//
// The kernel suite's rows as workloads for the per-call profiler and the instruction counter
// (`--module apps/bench/dist/profile/kernel-workloads.js`): what one spawn+join, one queue
// round trip, one Event round trip, one task switch costs, alone and beside a task in a raw
// foreign await. Instruction counts compare kernel changes where wall-clock rates are noisy.

import { promises as fsp } from 'node:fs';
import { Event, run, sleep, spawn } from '@curio-ts/kernel';
import { kernelQueuePingPong } from '../kernel-bench.js';
import type { Workload } from './workload.js';

/** A workload whose every run is a fresh `run()` of `body(n)`. */
function inKernel(description: string, defaultCalls: number, body: (n: number) => Promise<void>): Workload {
  return {
    description,
    defaultCalls,
    async setup() {},
    run: (n) => run(() => body(n)),
    async teardown() {},
  };
}

async function spawnJoin(n: number): Promise<void> {
  const tasks = new Array<ReturnType<typeof spawn<number>>>(n);
  for (let i = 0; i < n; i++) {
    tasks[i] = spawn(async () => {
      await sleep(0);
      return i;
    });
  }
  for (let i = 0; i < n; i++) await (tasks[i] as ReturnType<typeof spawn<number>>).join();
}

async function events(n: number): Promise<void> {
  const go = new Event();
  const back = new Event();
  const waiter = spawn(async () => {
    for (let i = 0; i < n; i++) {
      await go.wait();
      go.clear();
      back.set();
    }
  });
  for (let i = 0; i < n; i++) {
    go.set();
    await back.wait();
    back.clear();
  }
  await waiter.join();
}

async function switches(n: number): Promise<void> {
  const other = spawn(async () => {
    for (let i = 0; i < n / 2; i++) await sleep(0);
  });
  for (let i = 0; i < n / 2; i++) await sleep(0);
  await other.join();
}

async function besideParked(n: number): Promise<void> {
  let release!: () => void;
  const parked = spawn(() => new Promise<void>((resolve) => (release = resolve)));
  await sleep(0);
  await new Promise<void>((resolve) => setImmediate(resolve)); // let the scheduler see it parked
  await kernelQueuePingPong(n);
  release();
  await parked.join();
}

async function besideStat(n: number): Promise<void> {
  let stop = false;
  const statter = spawn(async () => {
    while (!stop) await fsp.stat('.');
  });
  await sleep(0);
  await new Promise<void>((resolve) => setImmediate(resolve));
  await kernelQueuePingPong(n);
  stop = true;
  await statter.join();
}

/** The kernel suite's rows, by name. */
export const workloads: Record<string, Workload> = {
  'kernel-spawn-join': inKernel('spawn + sleep(0) + join per task', 100_000, spawnJoin),
  'kernel-queue': inKernel('queue ping-pong round trip', 1_000_000, kernelQueuePingPong),
  'kernel-event': inKernel('Event round trip', 100_000, events),
  'kernel-switches': inKernel('task switch (sleep(0))', 1_000_000, switches),
  'kernel-queue-parked': inKernel('queue ping-pong beside a task parked in a raw foreign await', 100_000, besideParked),
  'kernel-queue-stat': inKernel('queue ping-pong beside a task looping over a raw await fs.promises.stat', 100_000, besideStat),
};
