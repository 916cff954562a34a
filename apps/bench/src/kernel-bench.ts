// Kernel benchmarks, each beside the plain-Promise equivalent in the same process.

import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Event, Queue, run, sleep, spawn } from '@curio-ts/kernel';
import type { Task } from '@curio-ts/kernel';
import { measure, median, table } from './harness.js';
import type { Measurement, Row } from './harness.js';

const SPAWN_N = 100_000;
const PINGPONG_N = 1_000_000;
const EVENT_N = 100_000;
const SWITCH_N = 1_000_000;

/** A hand-written Promise queue: the shape a plain async program would use. */
class PromiseQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((value: T) => void)[] = [];
  async put(item: T): Promise<void> {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(item);
    else this.items.push(item);
  }
  get(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    return new Promise<T>((resolve) => this.waiters.push(resolve));
  }
}

/** A hand-written Promise event. */
class PromiseEvent {
  private resolvers: (() => void)[] = [];
  private flag = false;
  set(): void {
    this.flag = true;
    const waiting = this.resolvers;
    this.resolvers = [];
    for (const resolve of waiting) resolve();
  }
  clear(): void {
    this.flag = false;
  }
  wait(): Promise<void> {
    if (this.flag) return Promise.resolve();
    return new Promise<void>((resolve) => this.resolvers.push(resolve));
  }
}

/** Spawn `n` tasks that each sleep(0) once, then join them all (call it inside a kernel task). */
export async function kernelSpawnJoinTasks(n: number): Promise<void> {
  const tasks = new Array<Task<number>>(n);
  for (let i = 0; i < n; i++) {
    tasks[i] = spawn(async () => {
      await sleep(0);
      return i;
    });
  }
  for (let i = 0; i < n; i++) await (tasks[i] as Task<number>).join();
}

async function kernelSpawnJoin(): Promise<number> {
  return run(async () => {
    await kernelSpawnJoinTasks(SPAWN_N);
    return SPAWN_N;
  });
}

async function promiseAll(): Promise<number> {
  const calls = new Array<Promise<number>>(SPAWN_N);
  for (let i = 0; i < SPAWN_N; i++) {
    calls[i] = (async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return i;
    })();
  }
  await Promise.all(calls);
  return SPAWN_N;
}

async function promiseAllMicrotask(): Promise<number> {
  const calls = new Array<Promise<number>>(SPAWN_N);
  for (let i = 0; i < SPAWN_N; i++) {
    calls[i] = (async () => {
      await null;
      return i;
    })();
  }
  await Promise.all(calls);
  return SPAWN_N;
}

/**
 * `n` round trips between the calling task and an echo task over two kernel Queues (call it
 * inside a kernel task). Shared by every ping-pong row and the foreign-await profile script.
 */
export async function kernelQueuePingPong(n: number): Promise<void> {
  const ping = new Queue<number>();
  const pong = new Queue<number>();
  const echo = spawn(async () => {
    for (let i = 0; i < n; i++) await pong.put(await ping.get());
  });
  for (let i = 0; i < n; i++) {
    await ping.put(i);
    await pong.get();
  }
  await echo.join();
}

async function kernelPingPong(): Promise<number> {
  return run(async () => {
    await kernelQueuePingPong(PINGPONG_N);
    return PINGPONG_N;
  });
}

async function promisePingPong(): Promise<number> {
  const ping = new PromiseQueue<number>();
  const pong = new PromiseQueue<number>();
  const echo = (async () => {
    for (let i = 0; i < PINGPONG_N; i++) await pong.put(await ping.get());
  })();
  for (let i = 0; i < PINGPONG_N; i++) {
    await ping.put(i);
    await pong.get();
  }
  await echo;
  return PINGPONG_N;
}

/** `n` round trips between the calling task and another over two kernel Events (inside a task). */
export async function kernelEventRoundTrips(n: number): Promise<void> {
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

async function kernelEvents(): Promise<number> {
  return run(async () => {
    await kernelEventRoundTrips(EVENT_N);
    return EVENT_N;
  });
}

async function promiseEvents(): Promise<number> {
  const go = new PromiseEvent();
  const back = new PromiseEvent();
  const waiter = (async () => {
    for (let i = 0; i < EVENT_N; i++) {
      await go.wait();
      go.clear();
      back.set();
    }
  })();
  for (let i = 0; i < EVENT_N; i++) {
    go.set();
    await back.wait();
    back.clear();
  }
  await waiter;
  return EVENT_N;
}

/** `n` task switches: the calling task and another each sleep(0) n/2 times (inside a task). */
export async function kernelSleepSwitches(n: number): Promise<void> {
  const other = spawn(async () => {
    for (let i = 0; i < n / 2; i++) await sleep(0);
  });
  for (let i = 0; i < n / 2; i++) await sleep(0);
  await other.join();
}

async function kernelSwitches(): Promise<number> {
  return run(async () => {
    await kernelSleepSwitches(SWITCH_N);
    return SWITCH_N;
  });
}

/** Two plain async functions handing control back and forth through Promise resolvers. */
async function promiseSwitches(): Promise<number> {
  const half = SWITCH_N / 2;
  const wake: [(() => void) | null, (() => void) | null] = [null, null];
  const side = async (me: 0 | 1): Promise<void> => {
    const other = me === 0 ? 1 : 0;
    for (let i = 0; i < half; i++) {
      const w = wake[other];
      wake[other] = null;
      await new Promise<void>((resolve) => {
        wake[me] = resolve;
        if (w !== null) w();
      });
    }
    const w = wake[other];
    if (w !== null) w();
  };
  await Promise.all([side(0), side(1)]);
  return SWITCH_N;
}

/**
 * The ping-pong while another task sits in a raw foreign await: the kernel follows its tasks
 * with promise hooks for as long as that await lasts (before issue 9, every trap read the stack).
 */
/** The queue ping-pong (`n` round trips) beside a task parked in a raw foreign await (inside a task). */
export async function kernelQueuePingPongBesideParked(n: number): Promise<void> {
  let release!: () => void;
  const parked = spawn(() => new Promise<void>((resolve) => (release = resolve)));
  await sleep(0);
  await new Promise<void>((resolve) => setImmediate(resolve)); // let the scheduler see it parked
  await kernelQueuePingPong(n);
  release();
  await parked.join();
}

async function kernelPingPongSlowPath(): Promise<number> {
  const n = PINGPONG_N / 10;
  return run(async () => {
    await kernelQueuePingPongBesideParked(n);
    return n;
  });
}

/** The ping-pong beside a task looping over a raw `await fs.promises.stat(...)`. */
/** The queue ping-pong (`n` round trips) beside a task looping over a raw fs.promises.stat (inside a task). */
export async function kernelQueuePingPongBesideStat(n: number): Promise<void> {
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

async function kernelPingPongBesideStat(): Promise<number> {
  const n = PINGPONG_N / 10;
  return run(async () => {
    await kernelQueuePingPongBesideStat(n);
    return n;
  });
}

/**
 * The plain Promise ping-pong with an AsyncLocalStorage context active (promise hooks on). The
 * storage is disabled afterwards: Node keeps its promise hooks on after `run` returns, for as
 * long as any storage is enabled, which made every later suite of the same `npm run bench`
 * process slower (measured: a plain Promise ping-pong 11.1M/s before, 5.7M/s after `run`
 * returned, 10.3M/s after `disable()`).
 */
async function promisePingPongWithALS(): Promise<number> {
  const storage = new AsyncLocalStorage<number>();
  try {
    return await storage.run(1, () => promisePingPong());
  } finally {
    storage.disable();
  }
}

/** Run the kernel suite; returns the markdown table. */
export async function kernelSuite(): Promise<string> {
  const rows: Row[] = [];
  const [spawnOurs, spawnAll] = await measure([
    { name: 'kernel spawn+join', run: kernelSpawnJoin },
    { name: 'Promise.all (setImmediate)', run: promiseAll },
  ]);
  rows.push({ benchmark: `spawn + join ${SPAWN_N} tasks (each sleep(0) once)`, ours: spawnOurs!, baseline: spawnAll!, target: 0.3 });
  const [spawnOurs2, spawnMicro] = await measure([
    { name: 'kernel spawn+join', run: kernelSpawnJoin },
    { name: 'Promise.all (await null)', run: promiseAllMicrotask },
  ]);
  rows.push({ benchmark: `spawn + join ${SPAWN_N} tasks vs async calls awaiting a microtask`, ours: spawnOurs2!, baseline: spawnMicro!, target: 0.3 });
  const [ppOurs, ppRaw] = await measure([
    { name: 'kernel Queue', run: kernelPingPong },
    { name: 'Promise queue', run: promisePingPong },
  ]);
  rows.push({ benchmark: `queue ping-pong, ${PINGPONG_N} messages`, ours: ppOurs!, baseline: ppRaw!, target: 0.5 });
  const [evOurs, evRaw] = await measure([
    { name: 'kernel Event', run: kernelEvents },
    { name: 'Promise event', run: promiseEvents },
  ]);
  rows.push({ benchmark: `Event set/wait wake-ups, ${EVENT_N} round trips`, ours: evOurs!, baseline: evRaw! });
  const [swOurs, swRaw] = await measure([
    { name: 'kernel sleep(0)', run: kernelSwitches },
    { name: 'Promise hand-off', run: promiseSwitches },
  ]);
  rows.push({ benchmark: `task switches (2 tasks alternating), ${SWITCH_N} switches`, ours: swOurs!, baseline: swRaw! });
  const [slowOurs, fastOurs] = await measure([
    { name: 'slow path', run: kernelPingPongSlowPath },
    { name: 'fast path', run: kernelPingPong },
  ]);
  rows.push({ benchmark: 'queue ping-pong while a task sits in a raw foreign await (vs without)', ours: slowOurs!, baseline: fastOurs!, target: 0.5 });
  const [statOurs, fastOurs2] = await measure([
    { name: 'beside fs.promises.stat loop', run: kernelPingPongBesideStat },
    { name: 'fast path', run: kernelPingPong },
  ]);
  rows.push({ benchmark: 'queue ping-pong beside a task looping over a raw await fs.promises.stat (vs without)', ours: statOurs!, baseline: fastOurs2!, target: 0.5 });
  // Last, compared with the plain figure measured above (the storage is disabled after each run,
  // see promisePingPongWithALS, so later suites do not pay for it).
  const [als] = await measure([{ name: 'Promise queue + AsyncLocalStorage', run: promisePingPongWithALS }]);
  rows.push({
    benchmark: 'why not AsyncLocalStorage: plain Promise ping-pong once an ALS context is active (vs the same without, above)',
    ours: als!,
    baseline: ppRaw!,
  });
  const [hooked, plain] = protectorRow();
  rows.push({
    benchmark: 'why the kernel reads the stack before it enables promise hooks: plain async/await code (no kernel) in a process where a promise hook was once on, vs one where none ever was (child processes, alternated)',
    ours: hooked,
    baseline: plain,
  });
  return table(rows);
}

/**
 * The same async/await code (protector-child.ts) in child processes, alternating between one
 * where a promise hook was enabled and disabled first and one where none ever was: 7 of each
 * after one of each to warm the disk cache. Under callgrind the same code runs +23.5% more
 * instructions per call in the first (2 928 against 2 370).
 */
function protectorRow(): [Measurement, Measurement] {
  const child = fileURLToPath(new URL('./protector-child.js', import.meta.url));
  const once = (mode: string): number => Number(execFileSync(process.execPath, [child, mode], { encoding: 'utf8' }).trim());
  once('hook');
  once('plain');
  const hooked: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < 7; i++) {
    hooked.push(once('hook'));
    plain.push(once('plain'));
  }
  const result = (name: string, values: number[]): Measurement => ({ name, opsPerSec: median(values), samples: values });
  return [result('after a promise hook', hooked), result('no promise hook ever', plain)];
}
