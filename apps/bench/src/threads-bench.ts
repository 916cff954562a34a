// Threads benchmarks: runInThread's round trip against piscina (same pool size, same trivial
// job), and UniversalQueue traffic between a worker thread and a kernel task against a raw
// MessagePort stream.

import { Worker, MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Kernel, configureWorkerPools, run, runInThread, spawn, TaskGroup, ThreadPool, UniversalQueue, workerFunction } from '@curio-ts/kernel';
import type * as Work from './threads-work.js';
import { measure, table } from './harness.js';
import type { Row } from './harness.js';

const POOL_SIZE = 2;
const SEQUENTIAL_N = 20_000;
const CONCURRENT_N = 40_000;
const CALLERS = 100;
const QUEUE_N = 200_000;
const QUEUE_BACK_N = 20_000;

const workUrl = new URL('./threads-work.js', import.meta.url);
const add = workerFunction<typeof Work.add>(workUrl, 'add');
const produceSync = workerFunction<typeof Work.produceSync>(workUrl, 'produceSync');
const consumeSync = workerFunction<typeof Work.consumeSync>(workUrl, 'consumeSync');

/** n sequential raw MessagePort round trips to a worker: the limit of any thread pool here. */
function rawPingPong(worker: Worker, n: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ port: port2, n, direction: 'echo' }, [port2]);
  return new Promise<number>((resolve) => {
    let left = n;
    port1.on('message', (i: number) => {
      if (--left === 0) {
        port1.close();
        resolve(n);
        return;
      }
      port1.postMessage([i, 1]);
    });
    port1.postMessage([0, 1]);
  });
}

/** Stream n raw messages between the main thread and a worker, in one direction. */
function rawStream(worker: Worker, n: number, direction: 'in' | 'out'): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ port: port2, n, direction }, [port2]);
  return new Promise<number>((resolve) => {
    if (direction === 'out') {
      let seen = 0;
      port1.on('message', () => {
        if (++seen === n) {
          port1.close();
          resolve(n);
        }
      });
      return;
    }
    port1.on('message', () => {
      port1.close();
      resolve(n);
    });
    for (let i = 0; i < n; i++) port1.postMessage(i);
  });
}

export async function threadsSuite(): Promise<string> {
  // runInThread uses its kernel's default pool: one long-lived kernel, so the pool is made once.
  configureWorkerPools({ threads: POOL_SIZE });
  const kernel = new Kernel();
  const pool = new ThreadPool({ size: POOL_SIZE });
  const piscina = new Piscina({ filename: workUrl.href, minThreads: POOL_SIZE, maxThreads: POOL_SIZE });
  const raw = new Worker(new URL('./threads-raw-worker.js', import.meta.url));
  try {
    const sequential = await measure([
      {
        name: 'runInThread (kernel task)',
        run: () =>
          kernel.runTask(async () => {
            for (let i = 0; i < SEQUENTIAL_N; i++) await runInThread(add, i, 1);
            return SEQUENTIAL_N;
          }),
      },
      {
        name: 'piscina.run',
        run: async () => {
          for (let i = 0; i < SEQUENTIAL_N; i++) await piscina.run({ a: i, b: 1 }, { name: 'addPair' });
          return SEQUENTIAL_N;
        },
      },
      { name: 'raw MessagePort ping-pong', run: () => rawPingPong(raw, SEQUENTIAL_N) },
    ]);
    const perCaller = CONCURRENT_N / CALLERS;
    const concurrent = await measure([
      {
        name: `runInThread (${CALLERS} tasks)`,
        run: () =>
          kernel.runTask(async () => {
            await TaskGroup.scope(async (group) => {
              for (let c = 0; c < CALLERS; c++) {
                group.spawn(async () => {
                  for (let i = 0; i < perCaller; i++) await runInThread(add, i, 1);
                });
              }
            });
            return CONCURRENT_N;
          }),
      },
      {
        name: `piscina.run (${CALLERS} async callers)`,
        run: async () => {
          const callers: Promise<void>[] = [];
          for (let c = 0; c < CALLERS; c++) {
            callers.push(
              (async () => {
                for (let i = 0; i < perCaller; i++) await piscina.run({ a: i, b: 1 }, { name: 'addPair' });
              })(),
            );
          }
          await Promise.all(callers);
          return CONCURRENT_N;
        },
      },
    ]);
    const toKernel = await measure([
      {
        name: 'UniversalQueue putSync -> await get',
        run: () =>
          run(async () => {
            const queue = new UniversalQueue<number>();
            const producer = spawn(() => pool.run(produceSync, queue, QUEUE_N));
            for (let i = 0; i < QUEUE_N; i++) await queue.get();
            await producer.join();
            return QUEUE_N;
          }),
      },
      { name: 'raw MessagePort stream', run: () => rawStream(raw, QUEUE_N, 'out') },
    ]);
    const toWorker = await measure([
      {
        name: 'UniversalQueue await put -> getSync',
        run: () =>
          run(async () => {
            const queue = new UniversalQueue<number>();
            const consumer = spawn(() => pool.run(consumeSync, queue, QUEUE_BACK_N));
            for (let i = 0; i < QUEUE_BACK_N; i++) await queue.put(i);
            await consumer.join();
            return QUEUE_BACK_N;
          }),
      },
      { name: 'raw MessagePort stream', run: () => rawStream(raw, QUEUE_BACK_N, 'in') },
    ]);
    const rows: Row[] = [
      {
        benchmark: `runInThread round trip, ${SEQUENTIAL_N} sequential calls of add(a, b), pool of ${POOL_SIZE}`,
        ours: sequential[0]!,
        baseline: sequential[1]!,
        target: 1.0,
      },
      {
        benchmark: 'the same round trip against raw MessagePort ping-pong with a worker (the limit of thread wake-ups)',
        ours: sequential[0]!,
        baseline: sequential[2]!,
      },
      {
        benchmark: `runInThread round trip, ${CONCURRENT_N} calls from ${CALLERS} concurrent callers, pool of ${POOL_SIZE}`,
        ours: concurrent[0]!,
        baseline: concurrent[1]!,
        target: 1.0,
      },
      {
        benchmark: `UniversalQueue worker thread -> kernel task, ${QUEUE_N} items`,
        ours: toKernel[0]!,
        baseline: toKernel[1]!,
      },
      {
        benchmark: `UniversalQueue kernel task -> worker thread (blocking get: one request per item), ${QUEUE_BACK_N} items`,
        ours: toWorker[0]!,
        baseline: toWorker[1]!,
      },
    ];
    return table(rows);
  } finally {
    await kernel.shutdown();
    await pool.close();
    await piscina.destroy();
    await raw.terminate();
  }
}
