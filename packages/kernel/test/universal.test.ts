// UniversalQueue and UniversalEvent across the three worlds at once: kernel tasks, plain Promise
// code, and real worker threads (blocking and async, with timeouts, aborts and kernels of their
// own). The invariant checked everywhere: every item is delivered exactly once, whatever is
// cancelled, timed out or aborted, and bounded queues block producers in every world.
import { Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  KernelUsageError,
  TaskGroup,
  TaskTimeout,
  ThreadPool,
  awaitPromise,
  UniversalEvent,
  UniversalQueue,
  WorkerError,
  ignoreAfter,
  run,
  sleep,
  spawn,
  timeoutAfter,
  workerFunction,
} from '@curio-ts/kernel';
import type { Task } from '@curio-ts/kernel';
import { rejected, thrown } from './helpers.js';

const work = new URL('./fixtures/universal-work.mjs', import.meta.url);
type Q = UniversalQueue<number>;
const getWithTimeout = workerFunction<(q: Q, ms: number) => number | 'timeout'>(work, 'getWithTimeout');
const putWithTimeout = workerFunction<(q: Q, item: number, ms: number) => 'put' | 'timeout'>(work, 'putWithTimeout');
const produce = workerFunction<(q: Q, start: number, count: number) => number>(work, 'produce');
const produceAsync = workerFunction<(q: Q, start: number, count: number) => Promise<number>>(work, 'produceAsync');
const produceInKernel = workerFunction<(q: Q, start: number, count: number) => Promise<number>>(work, 'produceInKernel');
const consume = workerFunction<(q: Q) => number[]>(work, 'consume');
const consumeWithAborts = workerFunction<(q: Q) => Promise<{ got: number[]; aborted: number }>>(work, 'consumeWithAborts');
const consumeWithTimeouts = workerFunction<(q: Q) => { got: number[]; timeouts: number }>(work, 'consumeWithTimeouts');
const consumeInKernel = workerFunction<(q: Q) => Promise<{ got: number[]; cancelled: number }>>(work, 'consumeInKernel');
const getOne = workerFunction<(q: Q) => number>(work, 'getOne');
const putOne = workerFunction<(q: Q, item: number) => number>(work, 'putOne');
const putUncloneable = workerFunction<(q: UniversalQueue<unknown>) => string>(work, 'putUncloneable');
const setEvent = workerFunction<(e: UniversalEvent) => boolean>(work, 'setEvent');
const waitEvent = workerFunction<(e: UniversalEvent, ms?: number) => 'set' | 'timeout'>(work, 'waitEvent');
const waitEventAsync = workerFunction<(e: UniversalEvent) => Promise<'set'>>(work, 'waitEventAsync');
const sameQueue = workerFunction<(a: Q, b: Q) => boolean>(work, 'sameQueue');
const createQueue = workerFunction<(maxsize: number) => Q>(work, 'createQueue');
const touch = workerFunction<(q: Q) => number>(work, 'touch');
const collect = workerFunction<() => Promise<boolean>>(work, 'collect');
const ownerSize = workerFunction<(q: Q) => { size: number; owner: boolean }>(work, 'ownerSize');
const consumeAndMarkDone = workerFunction<(q: Q) => number>(work, 'consumeAndMarkDone');
const produceAndJoin = workerFunction<(q: Q, start: number, count: number, ms: number) => 'joined' | 'timeout'>(work, 'produceAndJoin');
const finishAndRefill = workerFunction<(q: Q, item: number) => number>(work, 'finishAndRefill');
const taskDoneTooMany = workerFunction<(q: Q) => 'no error' | { name: string; code: string }>(work, 'taskDoneTooMany');
const joinWithTimeout = workerFunction<(q: Q, ms: number) => 'joined' | 'timeout'>(work, 'joinWithTimeout');
const produceInOwnKernel = workerFunction<(q: Q, start: number, count: number) => Promise<number>>(work, 'produceInOwnKernel');
const markDone = workerFunction<(q: Q, count: number) => number>(work, 'markDone');
const nothing = workerFunction<() => null>(work, 'nothing');
const joinThenSignal = workerFunction<(q: Q, posted: UniversalEvent, ms: number) => Promise<'joined' | 'timeout'>>(work, 'joinThenSignal');

const STOP = -1;

/** Wait (bounded) until `condition()` holds, yielding to other tasks and threads. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await sleep(5);
  expect(condition()).toBe(true);
}

/** Run `fn` as plain Promise code, outside any kernel task (from a fresh macrotask). */
function outside<T>(fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    setImmediate(() => {
      fn().then(resolve, reject);
    });
  });
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

describe('UniversalQueue between kernel tasks and plain code', () => {
  it('is a FIFO queue for kernel tasks, with cancellable and timed-out gets that lose nothing', async () => {
    await run(async () => {
      const q = new UniversalQueue<number>();
      expect(q.isOwner).toBe(true);
      await q.put(1);
      await q.put(2);
      expect(q.size()).toBe(2);
      expect([await q.get(), await q.get()]).toEqual([1, 2]);

      const blocked = spawn(() => q.get());
      await sleep(1);
      expect(blocked.state).toBe('UQUEUE_GET');
      await blocked.cancel();
      expect(await rejected(timeoutAfter(5, () => q.get()))).toBeInstanceOf(TaskTimeout);
      // Neither the cancelled nor the timed-out getter takes the next item.
      const next = spawn(() => q.get());
      await sleep(1);
      await q.put(3);
      expect(await next.join()).toBe(3);
      expect(q.size()).toBe(0);
    });
  });

  it('serves plain Promise code, abortable with a signal', async () => {
    const q = new UniversalQueue<string>();
    const controller = new AbortController();
    const aborted = q.get({ signal: controller.signal });
    controller.abort(new Error('stop waiting'));
    expect(((await rejected(aborted)) as Error).message).toBe('stop waiting');
    expect(await rejected(q.get({ signal: controller.signal }))).toBeInstanceOf(Error);
    const waiting = q.get();
    await q.put('a');
    expect(await waiting).toBe('a');
    // A kernel task and plain code on the same queue.
    const fromKernel = run(() => q.get());
    await q.put('b');
    expect(await fromKernel).toBe('b');
  });

  it('blocks producers of a bounded queue in kernel tasks; a cancelled put adds nothing', async () => {
    await run(async () => {
      const q = new UniversalQueue<number>({ maxsize: 2 });
      await q.put(1);
      await q.put(2);
      expect(q.full()).toBe(true);
      const producer = spawn(() => q.put(3));
      await sleep(1);
      expect(producer.state).toBe('UQUEUE_PUT');
      const cancelled = spawn(() => q.put(99));
      await sleep(1);
      await cancelled.cancel();
      expect(await rejected(timeoutAfter(5, () => q.put(98)))).toBeInstanceOf(TaskTimeout);
      // Plain code (outside the kernel's tasks) waits in line too.
      const plainPut = outside(() => q.put(4));
      await sleep(1);
      expect(q.size()).toBe(2);
      expect(await q.get()).toBe(1);
      await producer.join();
      expect(await q.get()).toBe(2);
      await awaitPromise(plainPut);
      expect([await q.get(), await q.get()]).toEqual([3, 4]);
      expect(q.size()).toBe(0);
    });
  });

  it('blocks producers of a bounded queue in plain code; an aborted put adds nothing', async () => {
    const q = new UniversalQueue<string>({ maxsize: 1 });
    await q.put('a');
    const controller = new AbortController();
    const aborted = q.put('never', { signal: controller.signal });
    let done = false;
    const waiting = q.put('b').then(() => {
      done = true;
    });
    controller.abort();
    await rejected(aborted);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(done).toBe(false);
    expect(await q.get()).toBe('a');
    await waiting;
    expect(await q.get()).toBe('b');
    expect(q.size()).toBe(0);
  });

  it('refuses to block the thread that serves it', () => {
    const q = new UniversalQueue<number>({ maxsize: 1 });
    expect((thrown(() => q.getSync()) as KernelUsageError).code).toBe('ERR_WOULD_BLOCK');
    q.putSync(1);
    expect((thrown(() => q.putSync(2)) as KernelUsageError).code).toBe('ERR_WOULD_BLOCK');
    expect(q.getSync()).toBe(1);
    const e = new UniversalEvent();
    expect((thrown(() => e.waitSync()) as KernelUsageError).code).toBe('ERR_WOULD_BLOCK');
    e.set();
    e.waitSync();
    expect(() => new UniversalQueue(-1)).toThrow(TypeError);
    expect(() => q.getSync({ timeout: Number.NaN })).toThrow(TypeError);
  });
});

describe('UniversalQueue with worker threads', () => {
  it('blocking and async worker producers and consumers', async () => {
    await using pool = new ThreadPool({ size: 2 });
    await run(async () => {
      const q = new UniversalQueue<number>();
      const consumer = spawn(() => pool.run(getOne, q));
      await sleep(1);
      await q.put(7);
      expect(await consumer.join()).toBe(7);
      expect(await pool.run(produce, q, 0, 3)).toBe(3);
      expect(await pool.run(produceAsync, q, 3, 3)).toBe(3);
      expect(await Promise.all(range(0, 6).map(() => q.get()))).toEqual(range(0, 6));
      // A worker is handed the same queue again: it keeps one copy.
      expect(await pool.run(sameQueue, q, q)).toBe(true);
    });
  });

  it('keeps one connection per worker holding the queue, and none once the worker drops it', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const q = new UniversalQueue<number>();
      await q.put(1);
      for (let i = 0; i < 50; i++) expect(await pool.run(touch, q)).toBe(1);
      await until(() => q.connections <= 1);
      // The worker kept nothing: once it collects its copy, the connection closes.
      for (let i = 0; i < 20 && q.connections > 0; i++) {
        await pool.run(collect);
        await sleep(20);
      }
      expect(q.connections).toBe(0);
      expect(await q.get()).toBe(1);
    });
  });

  it('times out blocking worker calls without taking or adding anything', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const q = new UniversalQueue<number>({ maxsize: 1 });
      expect(await pool.run(getWithTimeout, q, 10)).toBe('timeout');
      await q.put(1);
      expect(await pool.run(putWithTimeout, q, 2, 10)).toBe('timeout');
      expect(q.size()).toBe(1);
      expect(await q.get()).toBe(1);
      expect(q.size()).toBe(0);
      // No stale waiter of the worker is left behind to swallow items.
      await q.put(3);
      expect(await q.get()).toBe(3);
      expect(await pool.run(getWithTimeout, q, 10)).toBe('timeout');
      const late = spawn(() => pool.run(getWithTimeout, q, 60_000));
      await sleep(20);
      await q.put(4);
      expect(await late.join()).toBe(4);
    });
  });

  it('blocks a worker producer on a full bounded queue until a kernel task makes room', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const q = new UniversalQueue<number>({ maxsize: 2 });
      const producer = spawn(() => pool.run(produce, q, 0, 5));
      await until(() => q.size() === 2);
      await sleep(20);
      expect(producer.terminated).toBe(false);
      expect(q.size()).toBe(2);
      const got: number[] = [];
      for (let i = 0; i < 5; i++) got.push(await q.get());
      expect(got).toEqual(range(0, 5));
      expect(await producer.join()).toBe(5);
    });
  });

  it('reports items that cannot be copied, and keeps them', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const q = new UniversalQueue<unknown>();
      expect(await pool.run(putUncloneable, q)).toBe('ERR_WORKER_DATA_CLONE');
      const fn = (): number => 1;
      await q.put(fn);
      const error = await rejected(pool.run(getOne as never, q));
      expect(error).toBeInstanceOf(WorkerError);
      expect(((error as WorkerError).cause as { code?: string }).code).toBe('ERR_WORKER_DATA_CLONE');
      // The function stayed in the queue for a getter in this thread.
      expect(await q.get()).toBe(fn);
    });
  });

  it('drops the waits of a worker that dies while blocked', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const q = new UniversalQueue<number>();
      const doomed = spawn(() => pool.run(getOne, q));
      await sleep(20);
      await pool.close();
      await rejected(doomed.join());
      const survivor = spawn(() => q.get());
      await sleep(1);
      await q.put(5);
      expect(await survivor.join()).toBe(5);
    });
  });

  it('works from the kernel when a worker thread owns the queue', async () => {
    await using pool = new ThreadPool({ size: 2 });
    await run(async () => {
      const remote = await pool.run(createQueue, 4);
      expect(remote.isOwner).toBe(false);
      expect(remote.maxsize).toBe(4);
      const total = 400;
      const producer = spawn(async () => {
        for (let i = 0; i < total; i++) await remote.put(i);
      });
      const got: number[] = [];
      let cancelled = 0;
      // Kernel getters racing their own 0-1 ms timeouts, and plain Promise getters racing aborts.
      const kernelConsumer = spawn(async () => {
        for (let n = 0; got.length < total; n++) {
          const item = await ignoreAfter(n % 2, () => remote.get(), { timeoutResult: undefined });
          if (item === undefined) cancelled++;
          else got.push(item);
          if (n % 5 === 0) {
            const controller = new AbortController();
            setTimeout(() => controller.abort(), n % 2);
            try {
              got.push(await remote.get({ signal: controller.signal }));
            } catch {
              cancelled++;
            }
          }
        }
      });
      await producer.join();
      await kernelConsumer.join();
      expect(got.sort((a, b) => a - b)).toEqual(range(0, total));
      expect(await pool.run(ownerSize, remote)).toEqual({ size: 0, owner: true });
      expect(remote.size()).toBe(0);
    });
  });
});

describe('UniversalQueue handles for workers started by user code', () => {
  it('links a queue and an event through workerData (built package in the worker)', async () => {
    await run(async () => {
      const requests = new UniversalQueue<number | null>({ maxsize: 1 });
      const replies = new UniversalQueue<number>();
      const ready = new UniversalEvent();
      const handles = { requests: requests.handle(), replies: replies.handle(), ready: ready.handle() };
      const worker = new Worker(new URL('./fixtures/universal-user-worker.mjs', import.meta.url), {
        workerData: handles,
        transferList: [handles.requests.port as MessagePort, handles.replies.port as MessagePort],
        execArgv: [],
      });
      let failure: unknown = null;
      worker.once('error', (error) => {
        failure = error;
        ready.set();
      });
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      await ready.wait();
      expect(failure).toBe(null);
      const got: number[] = [];
      for (let i = 0; i < 50; i++) {
        await requests.put(i);
        got.push(await replies.get());
      }
      await requests.put(null);
      expect(got).toEqual(range(1, 50));
      expect(await awaitPromise(exited)).toBe(0);
    });
  });
});

describe('UniversalQueue whose owner thread ends', () => {
  it('fails waiting and later calls with ERR_QUEUE_OWNER_GONE instead of hanging', async () => {
    const pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const remote = await pool.run(createQueue, 0);
      const waiting = spawn(() => remote.get());
      await sleep(1);
      expect(waiting.state).toBe('UQUEUE_GET');
      await pool.close();
      const error = ((await rejected(waiting.join())) as Error).cause as WorkerError;
      expect(error).toBeInstanceOf(WorkerError);
      expect(error.code).toBe('ERR_QUEUE_OWNER_GONE');
      expect(((await rejected(remote.get())) as WorkerError).code).toBe('ERR_QUEUE_OWNER_GONE');
      expect(((await rejected(remote.put(1))) as WorkerError).code).toBe('ERR_QUEUE_OWNER_GONE');
    });
  });
});

describe('UniversalQueue under contention in all three worlds', () => {
  it('delivers every item exactly once while consumers are cancelled, timed out and aborted', async () => {
    await using pool = new ThreadPool({ size: 7 });
    const perProducer = 500;
    const collected: number[] = [];
    const stats: Record<string, number> = {};
    await run(async () => {
      const q = new UniversalQueue<number>({ maxsize: 8 });
      // Worker consumers: blocking, blocking with timeouts, async with aborts, a kernel of their own.
      const workerConsumers = [
        spawn(() => pool.run(consume, q).then((got) => collected.push(...got))),
        spawn(() =>
          pool.run(consumeWithTimeouts, q).then((r) => {
            collected.push(...r.got);
            stats.workerTimeouts = r.timeouts;
          }),
        ),
        spawn(() =>
          pool.run(consumeWithAborts, q).then((r) => {
            collected.push(...r.got);
            stats.workerAborts = r.aborted;
          }),
        ),
        spawn(() =>
          pool.run(consumeInKernel, q).then((r) => {
            collected.push(...r.got);
            stats.workerKernelCancels = r.cancelled;
          }),
        ),
      ];
      // Producers in every world, each with its own range.
      const producers: Task[] = [
        spawn(() => pool.run(produce, q, 0 * perProducer, perProducer)),
        spawn(() => pool.run(produceAsync, q, 1 * perProducer, perProducer)),
        spawn(() => pool.run(produceInKernel, q, 2 * perProducer, perProducer)),
        spawn(async () => {
          for (let i = 3 * perProducer; i < 4 * perProducer; i++) await q.put(i);
        }),
        spawn(() =>
          // Plain Promise code, outside the kernel's tasks.
          awaitPromise(
            outside(async () => {
              for (let i = 4 * perProducer; i < 5 * perProducer; i++) await q.put(i);
            }),
          ),
        ),
      ];
      // Kernel consumers, constantly timing out; one is cancelled and replaced over and over.
      let kernelTimeouts = 0;
      const localConsumer = async (withTimeouts: boolean): Promise<void> => {
        for (let n = 0; ; n++) {
          const item = withTimeouts ? await ignoreAfter(n % 2, () => q.get(), { timeoutResult: undefined }) : await q.get();
          if (item === undefined) {
            kernelTimeouts++;
            continue;
          }
          if (item === STOP) {
            await q.put(STOP);
            return;
          }
          collected.push(item);
        }
      };
      const localConsumers = new TaskGroup();
      localConsumers.spawn(() => localConsumer(true));
      localConsumers.spawn(() => localConsumer(true));
      let victim = localConsumers.spawn(() => localConsumer(false));
      let victimCancels = 0;
      const chaos = spawn(async () => {
        for (;;) {
          await sleep(2);
          await victim.cancel();
          victimCancels++;
          victim = localConsumers.spawn(() => localConsumer(false));
        }
      });
      // Plain Promise consumer with aborted waits.
      let plainAborts = 0;
      let plainStop = false;
      const plain = outside(async () => {
        while (!plainStop) {
          const controller = new AbortController();
          const timer = setTimeout(() => controller.abort(), plainAborts % 2);
          try {
            const item = await q.get({ signal: controller.signal });
            if (item === STOP) {
              await q.put(STOP);
              return;
            }
            collected.push(item);
          } catch {
            plainAborts++;
          } finally {
            clearTimeout(timer);
          }
        }
      });

      for (const producer of producers) await producer.join();
      await chaos.cancel();
      for (let i = 0; i < workerConsumers.length; i++) await q.put(STOP);
      for (const consumer of workerConsumers) await consumer.join();
      // Every STOP went to a worker: the local consumers wait on an empty queue. End them.
      plainStop = true;
      await localConsumers.cancelRemaining();
      await localConsumers.join();
      await awaitPromise(plain);
      expect(q.size()).toBe(0);
      stats.kernelTimeouts = kernelTimeouts;
      stats.victimCancels = victimCancels;
      stats.plainAborts = plainAborts;
    });
    expect(collected.length).toBe(5 * perProducer);
    expect([...collected].sort((a, b) => a - b)).toEqual(range(0, 5 * perProducer));
    // The races actually happened.
    expect(stats.kernelTimeouts).toBeGreaterThan(0);
    expect(stats.victimCancels).toBeGreaterThan(0);
    expect(stats.workerTimeouts).toBeGreaterThan(0);
    expect(stats.workerAborts).toBeGreaterThan(0);
  });
});


describe('UniversalQueue taskDone and join', () => {
  it('kernel tasks: join returns once every item put has been marked done; taskDone too often is ERR_TASK_DONE', async () => {
    const got = await run(async () => {
      const q = new UniversalQueue<number>();
      const trace: string[] = [];
      for (let i = 1; i <= 6; i++) await q.put(i);
      // Two workers; each stops after the first of the last two items it takes.
      const workers = [0, 1].map(() =>
        spawn(async () => {
          for (;;) {
            const item = await q.get();
            await sleep(item);
            trace.push(`done ${item}`);
            q.taskDone();
            if (item >= 5) return;
          }
        }),
      );
      const before = q.unfinished;
      await q.join();
      trace.push('joined');
      for (const worker of workers) await worker.join();
      const tooMany = thrown(() => q.taskDone());
      return { before, after: q.unfinished, last: trace.at(-1), done: trace.filter((t) => t.startsWith('done')).length, code: (tooMany as KernelUsageError).code };
    });
    expect(got).toEqual({ before: 6, after: 0, last: 'joined', done: 6, code: 'ERR_TASK_DONE' });
  });

  it('join with nothing unfinished returns at once; a timed-out join leaves no joiner behind', async () => {
    const got = await run(async () => {
      const q = new UniversalQueue<number>();
      await q.join();
      await q.put(1);
      const timedOut = (await rejected(timeoutAfter(10, () => q.join()))) instanceof TaskTimeout;
      const joining = spawn(() => q.join());
      await sleep(1);
      const blocked = joining.state;
      await q.get();
      q.taskDone();
      await joining.join();
      return { timedOut, blocked };
    });
    expect(got).toEqual({ timedOut: true, blocked: 'UQUEUE_JOIN' });
  });

  it('plain Promise code joins and can abort its join', async () => {
    const q = new UniversalQueue<number>();
    await q.put(1);
    await q.put(2);
    const controller = new AbortController();
    const aborted = q.join({ signal: controller.signal });
    controller.abort(new Error('stop waiting'));
    const reason = ((await rejected(aborted)) as Error).message;
    const joined = q.join().then(() => 'joined');
    await q.get();
    q.taskDone();
    await q.get();
    q.taskDone();
    expect({ reason, joined: await joined, unfinished: q.unfinished }).toEqual({ reason: 'stop waiting', joined: 'joined', unfinished: 0 });
  });

  it('worker threads mark items done with blocking gets; a kernel task joins, then stops them', async () => {
    await using pool = new ThreadPool({ size: 2 });
    const got = await run(async () => {
      const q = new UniversalQueue<number>();
      const items = range(1, 400);
      for (const item of items) await q.put(item);
      const consumers = [spawn(() => pool.run(consumeAndMarkDone, q)), spawn(() => pool.run(consumeAndMarkDone, q))];
      await q.join();
      const unfinishedAtJoin = q.unfinished;
      await q.put(STOP);
      await q.put(STOP);
      let sum = 0;
      for (const consumer of consumers) sum += (await consumer.join()) as number;
      await q.join();
      return { unfinishedAtJoin, sum, expected: items.reduce((a, b) => a + b, 0) };
    });
    expect(got.unfinishedAtJoin).toBe(0);
    expect(got.sum).toBe(got.expected);
  });

  it('a worker thread blocks in joinSync until kernel tasks have marked its items done, or times out', async () => {
    await using pool = new ThreadPool({ size: 1 });
    const got = await run(async () => {
      const q = new UniversalQueue<number>();
      const timedOut = await pool.run(produceAndJoin, q, 0, 3, 20);
      for (let i = 0; i < 3; i++) {
        await q.get();
        q.taskDone();
      }
      const producer = spawn(() => pool.run(produceAndJoin, q, 10, 5, 60_000));
      const seen: number[] = [];
      for (let i = 0; i < 5; i++) {
        seen.push(await q.get());
        await sleep(2);
        q.taskDone();
      }
      return { timedOut, joined: await producer.join(), seen };
    });
    expect(got).toEqual({ timedOut: 'timeout', joined: 'joined', seen: [10, 11, 12, 13, 14] });
  });

  it('the count reaching zero in a worker releases a kernel join even if the worker puts again at once', async () => {
    await using pool = new ThreadPool({ size: 1 });
    const got = await run(async () => {
      const q = new UniversalQueue<number>();
      await q.put(1);
      const joining = spawn(() => q.join());
      await sleep(1);
      const item = await pool.run(finishAndRefill, q, 2);
      await joining.join();
      return { item, unfinished: q.unfinished, next: await q.get() };
    });
    expect(got).toEqual({ item: 1, unfinished: 1, next: 2 });
  });

  it('taskDone once too often in a worker thread throws there, at once', async () => {
    await using pool = new ThreadPool({ size: 1 });
    const got = await run(async () => {
      const q = new UniversalQueue<number>();
      return pool.run(taskDoneTooMany, q);
    });
    expect(got).toEqual({ name: 'KernelUsageError', code: 'ERR_TASK_DONE' });
  });

  it('joinSync in the owning thread throws ERR_WOULD_BLOCK only when it would wait', async () => {
    const q = new UniversalQueue<number>();
    q.joinSync();
    await q.put(1);
    expect((thrown(() => q.joinSync()) as KernelUsageError).code).toBe('ERR_WOULD_BLOCK');
  });
});

describe('UniversalQueue: a put from another thread has taken effect when it returns', () => {
  // Each repetition races the worker's last puts against its result reaching the owner; the
  // counts are what made the race show reliably before the fix.
  const ROUNDS = 40;
  const ITEMS = 300;

  it('a kernel task sees every item a worker put (blocking, async, own kernel) once the worker returns', async () => {
    await using pool = new ThreadPool({ size: 1 });
    const producers = [produce, produceAsync, produceInOwnKernel] as const;
    const seen = await run(async () => {
      const q = new UniversalQueue<number>();
      const report: { size: number; unfinished: number; inOrder: boolean }[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const producer = producers[round % producers.length] as typeof produce;
        await pool.run(producer, q, 0, ITEMS);
        const size = q.size();
        const unfinished = q.unfinished;
        // A put in this thread now comes after all of them.
        await q.put(ITEMS);
        const got: number[] = [];
        for (let i = 0; i <= ITEMS; i++) {
          got.push(await q.get());
          q.taskDone();
        }
        report.push({ size, unfinished, inOrder: got.every((item, i) => item === i) });
      }
      return report;
    });
    expect(seen).toEqual(Array.from({ length: ROUNDS }, () => ({ size: ITEMS, unfinished: ITEMS, inOrder: true })));
  });

  it('plain Promise code sees every item a worker put once the worker returns', async () => {
    await using pool = new ThreadPool({ size: 1 });
    const q = new UniversalQueue<number>();
    const sizes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await outside(() => pool.run(produce, q, 0, ITEMS));
      sizes.push(q.size());
      for (let i = 0; i < ITEMS; i++) expect(await q.get()).toBe(i);
    }
    expect(sizes).toEqual(Array.from({ length: ROUNDS }, () => ITEMS));
  });

  it('join in a kernel task does not return while an item a worker put is not marked done', async () => {
    await using pool = new ThreadPool({ size: 1 });
    const report = await run(async () => {
      const q = new UniversalQueue<number>();
      let done = 0;
      const consumer = spawn(async () => {
        for (;;) {
          await q.get();
          await sleep(0);
          done++;
          q.taskDone();
        }
      });
      const early: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        await pool.run(produce, q, 0, ITEMS);
        await q.join();
        if (done !== round * ITEMS) early.push(round);
      }
      await consumer.cancel();
      return { early, unfinished: q.unfinished };
    });
    expect(report).toEqual({ early: [], unfinished: 0 });
  });

  it('a join in another worker thread waits for the items a worker put, until they are marked done', async () => {
    await using producers = new ThreadPool({ size: 1 });
    await using joiners = new ThreadPool({ size: 1 });
    const q = new UniversalQueue<number>();
    const posted = new UniversalEvent();
    const busy = new Int32Array(new SharedArrayBuffer(4));
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS / 4; round++) {
      await producers.run(produce, q, 0, ITEMS);
      // This thread stays busy until the other worker's join is on its way: the owner then
      // reads the join and the puts in the same turn, and the join must count the puts.
      posted.clear();
      const joining = joiners.run(joinThenSignal, q, posted, 5);
      for (let i = 0; i < 10_000 && !posted.isSet(); i++) Atomics.wait(busy, 0, 0, 1);
      outcomes.push(await joining);
      // Mark them done from a third thread, then the join returns.
      for (let i = 0; i < ITEMS; i++) await q.get();
      await producers.run(markDone, q, ITEMS);
      outcomes.push(await joiners.run(joinWithTimeout, q, 60_000));
    }
    expect(outcomes).toEqual(Array.from({ length: ROUNDS / 2 }, (_, i) => (i % 2 === 0 ? 'timeout' : 'joined')));
  });

  it('items of two workers putting one after the other come out in that order', async () => {
    await using first = new ThreadPool({ size: 1 });
    await using second = new ThreadPool({ size: 1 });
    const report = await run(async () => {
      const q = new UniversalQueue<number>();
      const disorders: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        await first.run(produce, q, 0, ITEMS);
        await second.run(produce, q, ITEMS, ITEMS);
        const got: number[] = [];
        for (let i = 0; i < 2 * ITEMS; i++) got.push(await q.get());
        if (!got.every((item, i) => item === i)) disorders.push(round);
      }
      return disorders;
    });
    expect(report).toEqual([]);
  });

  it('a worker that owns the queue sees every item a kernel task put once the put returned', async () => {
    await using pool = new ThreadPool({ size: 1 });
    const report = await run(async () => {
      const remote = await pool.run(createQueue, 0);
      const sizes: { size: number; owner: boolean }[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < ITEMS; i++) await remote.put(i);
        expect(remote.unfinished).toBe(ITEMS);
        sizes.push(await pool.run(ownerSize, remote));
        for (let i = 0; i < ITEMS; i++) {
          await remote.get();
          remote.taskDone();
        }
      }
      return sizes;
    });
    expect(report).toEqual(Array.from({ length: ROUNDS }, () => ({ size: ITEMS, owner: true })));
  });
});

describe('UniversalEvent', () => {
  it('wakes kernel tasks, plain code and worker threads, whoever sets it', async () => {
    await using pool = new ThreadPool({ size: 2 });
    await run(async () => {
      const e = new UniversalEvent();
      const kernelWaiter = spawn(() => e.wait());
      const plainWaiter = outside(() => e.wait());
      const blockedWorker = spawn(() => pool.run(waitEvent, e));
      await until(() => e.waiters === 2);
      expect(kernelWaiter.state).toBe('UEVENT_WAIT');
      // Set from a worker thread: the kernel side learns of it through shared memory.
      expect(await pool.run(setEvent, e)).toBe(true);
      await kernelWaiter.join();
      await awaitPromise(plainWaiter);
      expect(await blockedWorker.join()).toBe('set');
      expect(e.isSet()).toBe(true);
      e.clear();
      expect(e.isSet()).toBe(false);
      const asyncWorker = spawn(() => pool.run(waitEventAsync, e));
      await sleep(20);
      e.set();
      expect(await asyncWorker.join()).toBe('set');
    });
  });

  it('waits are cancellable, abortable and time out, leaving the event usable', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const e = new UniversalEvent();
      expect(await pool.run(waitEvent, e, 10)).toBe('timeout');
      const waiter = spawn(() => e.wait());
      await sleep(1);
      await waiter.cancel();
      expect(await rejected(timeoutAfter(5, () => e.wait()))).toBeInstanceOf(TaskTimeout);
      const controller = new AbortController();
      const plain = outside(() => e.wait({ signal: controller.signal }));
      await sleep(1);
      controller.abort();
      await awaitPromise(rejected(plain));
      expect(e.waiters).toBe(0);
      const last = spawn(() => e.wait());
      await sleep(1);
      e.set();
      await last.join();
    });
  });
});
