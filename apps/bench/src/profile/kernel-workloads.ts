// profile/kernel-workloads.ts
//
// The kernel suite's rows as workloads for the per-call profiler and the instruction counter
// (`--module apps/bench/dist/profile/kernel-workloads.js`): what one spawn+join, one queue
// round trip, one Event round trip, one task switch costs, alone and beside a task in a raw
// foreign await. Instruction counts compare kernel changes where wall-clock rates are noisy.

import { awaitPromise, run, spawn } from '@curio-ts/kernel';
import { TaskOperation } from '@curio-ts/kernel/lowlevel';
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

/** Tasks (or plain async loops) that await their own operations, and how many. */
const OP_TASKS = 1000;

/**
 * `n` operations awaited by OP_TASKS loops, each settled from an IO-like callback (setImmediate,
 * all pending at once, as a socket read delivers a batch of replies): `tasks` runs each loop in a
 * task of its own, so each settlement is a task's turn of the scheduler (a stall check, a switch,
 * a resumption); otherwise the loops are plain async functions inside one task, whose operations
 * are delivered in that task's one turn. The difference is what a turn costs (issue 9: the Redis
 * client's 1000-task row).
 */
async function operationTurns(n: number, tasks: boolean): Promise<void> {
  let pending: TaskOperation<number>[] = [];
  let live = true;
  const deliver = (): void => {
    const batch = pending;
    pending = [];
    for (const op of batch) op.resolve(1);
    if (live) setImmediate(deliver);
  };
  setImmediate(deliver);
  const call = (): Promise<number> => {
    const op = new TaskOperation<number>('REDIS_REPLY');
    pending.push(op);
    return op.promise;
  };
  const per = Math.ceil(n / OP_TASKS);
  const loop = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) await call();
  };
  const counts = Array.from({ length: OP_TASKS }, (_, t) => Math.max(0, Math.min(per, n - t * per)));
  try {
    if (tasks) {
      const started = counts.map((count) => spawn(() => loop(count)));
      for (const task of started) await task.join();
    } else {
      await awaitPromise(Promise.all(counts.map(loop)));
    }
  } finally {
    live = false;
  }
}

/** The kernel suite's rows, by name. */
export const workloads: Record<string, Workload> = {
  'kernel-spawn-join': inKernel('spawn + sleep(0) + join per task', 100_000, kernelSpawnJoinTasks),
  'kernel-queue': inKernel('queue ping-pong round trip', 1_000_000, kernelQueuePingPong),
  'kernel-event': inKernel('Event round trip', 100_000, kernelEventRoundTrips),
  'kernel-switches': inKernel('task switch (sleep(0))', 1_000_000, kernelSleepSwitches),
  'kernel-queue-parked': inKernel('queue ping-pong beside a task parked in a raw foreign await', 100_000, kernelQueuePingPongBesideParked),
  'kernel-op-turns': inKernel(`an operation awaited by one of ${OP_TASKS} tasks, settled from an IO callback (one task turn each)`, 200_000, (n) => operationTurns(n, true)),
  'kernel-op-loops': inKernel(`the same, ${OP_TASKS} async loops in one task (no task turn)`, 200_000, (n) => operationTurns(n, false)),
  'kernel-queue-stat': inKernel('queue ping-pong beside a task looping over a raw await fs.promises.stat', 100_000, kernelQueuePingPongBesideStat),
};
