// profile/kernel-workloads.ts
//
// The kernel suite's rows as workloads for the per-call profiler and the instruction counter
// (`--module apps/bench/dist/profile/kernel-workloads.js`): what one spawn+join, one queue
// round trip, one Event round trip, one task switch costs, alone and beside a task in a raw
// foreign await. Instruction counts compare kernel changes where wall-clock rates are noisy.

import { run } from '@curio-ts/kernel';
import {
  kernelEventRoundTrips,
  kernelQueuePingPong,
  kernelQueuePingPongBesideParked,
  kernelQueuePingPongBesideStat,
  kernelSleepSwitches,
  kernelSpawnJoinTasks,
} from '../kernel-bench.js';
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

/** The kernel suite's rows, by name. */
export const workloads: Record<string, Workload> = {
  'kernel-spawn-join': inKernel('spawn + sleep(0) + join per task', 100_000, kernelSpawnJoinTasks),
  'kernel-queue': inKernel('queue ping-pong round trip', 1_000_000, kernelQueuePingPong),
  'kernel-event': inKernel('Event round trip', 100_000, kernelEventRoundTrips),
  'kernel-switches': inKernel('task switch (sleep(0))', 1_000_000, kernelSleepSwitches),
  'kernel-queue-parked': inKernel('queue ping-pong beside a task parked in a raw foreign await', 100_000, kernelQueuePingPongBesideParked),
  'kernel-queue-stat': inKernel('queue ping-pong beside a task looping over a raw await fs.promises.stat', 100_000, kernelQueuePingPongBesideStat),
};
