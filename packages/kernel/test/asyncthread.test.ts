// Async threads: synchronous code in real worker threads blocking on kernel objects through
// AWAIT. Kernel objects stay in the kernel (the thread holds references), operations are
// cancellable and time out like any kernel call, cancellation reaches the thread at its
// current or next AWAIT, and errors, crashes and kernel shutdown end the thread cleanly.
import { describe, expect, it } from 'vitest';
import {
  AWAIT,
  CancelledError,
  Event,
  KernelUsageError,
  Lock,
  Queue,
  RemoteError,
  Result,
  Semaphore,
  TaskCancelled,
  TaskError,
  TaskTimeout,
  ThreadPool,
  UniversalEvent,
  UniversalQueue,
  WorkerError,
  WorkerExited,
  op,
  run,
  sleep,
  spawn,
  spawnThread,
  timeoutAfter,
  workerFunction,
} from '@curio-ts/kernel';
import type { AsyncThread, KernelRef } from '@curio-ts/kernel';
import type * as WorkTs from './fixtures/asyncthread-work.js';
import { rejected, thrown } from './helpers.js';

const work = new URL('./fixtures/asyncthread-work.mjs', import.meta.url);
const echoThread = workerFunction<(q: UniversalQueue<number | null>, r: UniversalQueue<number>) => number>(work, 'echoThread');
const lockedAppend = workerFunction<(lock: KernelRef<Lock>, trace: KernelRef<Queue<string>>, name: string, rounds: number) => number>(
  work,
  'lockedAppend',
);
const kernelObjects = workerFunction<
  (e: KernelRef<Event>, q: KernelRef<Queue<string>>, r: KernelRef<Result<number>>) => { item: string; value: number; size: number }
>(work, 'kernelObjects');
const drainAndJoin = workerFunction<(queue: KernelRef<Queue<number | null>> | UniversalQueue<number | null>) => number>(work, 'drainAndJoin');
const sleeper = workerFunction<(durations: number[]) => number[]>(work, 'sleeper');
const catchCancel = workerFunction<(e: UniversalEvent, results: UniversalQueue<string>) => string>(work, 'catchCancel');
const cancelAtNextAwait = workerFunction<(started: UniversalEvent, release: UniversalEvent) => string>(work, 'cancelAtNextAwait');
const waitForever = workerFunction<(e: KernelRef<Event>) => string>(work, 'waitForever');
const awaitWithTimeout = workerFunction<(q: UniversalQueue<string>, results: UniversalQueue<string>) => [string, string]>(
  work,
  'awaitWithTimeout',
);
const throwing = workerFunction<(message: string) => never>(work, 'throwing');
const exiting = workerFunction<(code: number) => never>(work, 'exiting');
const misuse = workerFunction<(ref: KernelRef<Lock>) => string[]>(work, 'misuse');
const notAnAsyncThread = workerFunction<() => string>(work, 'notAnAsyncThread');
const serveForever = workerFunction<(q: UniversalQueue<number>) => never>(work, 'serveForever');
const spinUntil = workerFunction<(flag: SharedArrayBuffer) => string>(work, 'spinUntil');
const putRounds = workerFunction<
  (queues: KernelRef<Queue<UniversalQueue<number>>>, ready: KernelRef<Queue<number>>, rounds: number, count: number) => number
>(
  work,
  'putRounds',
);
const squares = workerFunction<typeof WorkTs.squares>(new URL('./fixtures/asyncthread-work.ts', import.meta.url), 'squares');

/** Wait (bounded) until `condition()` holds: threads take a moment to start. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await sleep(5);
  expect(condition()).toBe(true);
}

/** The `cause` of the TaskError that `thread.join()` rejects with. */
async function joinError(thread: AsyncThread): Promise<unknown> {
  const error = await rejected(thread.join());
  expect(error).toBeInstanceOf(TaskError);
  return (error as TaskError).cause;
}

describe('spawnThread and AWAIT', () => {
  it('serves requests through universal queues and joins with the return value', async () => {
    const served = await run(async () => {
      const requests = new UniversalQueue<number | null>();
      const replies = new UniversalQueue<number>();
      const thread = spawnThread(echoThread, requests, replies);
      const answers: number[] = [];
      for (let i = 1; i <= 20; i++) {
        await requests.put(i);
        answers.push(await replies.get());
      }
      expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => 2 * (i + 1)));
      await requests.put(null);
      expect(thread.terminated).toBe(false);
      return thread.join();
    });
    expect(served).toBe(20);
  });

  it('runs TypeScript thread code and shares kernel semaphores', async () => {
    await run(async () => {
      const requests = new UniversalQueue<number>();
      const replies = new UniversalQueue<number>();
      const gate = new Semaphore(1);
      const threads = [spawnThread(squares, requests, replies, gate), spawnThread(squares, requests, replies, gate)];
      for (let i = 0; i < 10; i++) await requests.put(i);
      const got: number[] = [];
      for (let i = 0; i < 10; i++) got.push(await replies.get());
      expect(got.sort((a, b) => a - b)).toEqual([0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
      await requests.put(-1);
      await requests.put(-1);
      const served = (await threads[0]?.join() ?? 0) + (await threads[1]?.join() ?? 0);
      expect(served).toBe(10);
      expect(gate.value).toBe(1);
    });
  });

  it('takes kernel locks in turn with kernel tasks', async () => {
    await run(async () => {
      const lock = new Lock();
      const trace = new Queue<string>();
      const threadA = spawnThread(lockedAppend, lock, trace, 'A', 5);
      const threadB = spawnThread(lockedAppend, lock, trace, 'B', 5);
      const task = spawn(async () => {
        for (let i = 0; i < 5; i++) {
          await lock.scope(async () => {
            await trace.put('T in');
            await sleep(1);
            await trace.put('T out');
          });
        }
      });
      expect(await threadA.join()).toBe(5);
      expect(await threadB.join()).toBe(5);
      await task.join();
      const events: string[] = [];
      while (trace.size() > 0) events.push(await trace.get());
      expect(events).toHaveLength(30);
      for (let i = 0; i < events.length; i += 2) {
        const who = (events[i] as string).split(' ')[0];
        expect([events[i], events[i + 1]]).toEqual([`${who} in`, `${who} out`]);
      }
      expect(lock.locked()).toBe(false);
    });
  });

  it('reaches kernel Event, Queue and Result through references', async () => {
    await run(async () => {
      const event = new Event();
      const queue = new Queue<string>();
      const result = new Result<number>();
      const thread = spawnThread(kernelObjects, event, queue, result);
      await until(() => thread.state === 'EVENT_WAIT');
      event.set();
      await queue.put('item');
      await queue.put('left');
      result.set(42);
      expect(await thread.join()).toEqual({ item: 'item', value: 42, size: 1 });
    });
  });

  it('marks items of a kernel Queue and of a UniversalQueue done with op.taskDone, and joins them with op.join', async () => {
    await run(async () => {
      for (const queue of [new Queue<number | null>(), new UniversalQueue<number | null>()]) {
        for (const item of [1, 2, 3, null]) await queue.put(item);
        const thread = spawnThread(drainAndJoin, queue);
        await queue.join();
        expect(await thread.join()).toBe(3);
        expect(thrown(() => queue.taskDone())).toBeInstanceOf(KernelUsageError);
      }
    });
  });

  it('items a thread put on a UniversalQueue are in it when the thread says so through AWAIT, and a join waits for them', async () => {
    const rounds = 20;
    const count = 1000;
    const report = await run(async () => {
      const queues = new Queue<UniversalQueue<number>>();
      const ready = new Queue<number>();
      const thread = spawnThread(putRounds, queues, ready, rounds, count);
      const seen: { size: number; unfinished: number; joinWaited: boolean }[] = [];
      for (let round = 0; round < rounds; round++) {
        // A new queue each round, linked to the thread after it started.
        const q = new UniversalQueue<number>();
        await queues.put(q);
        await ready.get();
        const size = q.size();
        const unfinished = q.unfinished;
        const joining = spawn(() => q.join());
        await sleep(1);
        const joinWaited = !joining.terminated;
        for (let i = 0; i < count; i++) {
          await q.get();
          q.taskDone();
        }
        await joining.join();
        seen.push({ size, unfinished, joinWaited });
      }
      expect(await thread.join()).toBe(rounds);
      return seen;
    });
    expect(report).toEqual(Array.from({ length: rounds }, () => ({ size: count, unfinished: count, joinWaited: true })));
  });

  it('sleeps on the kernel clock (virtual clock: exact)', async () => {
    const clocks = await run(() => spawnThread(sleeper, [100, 250, 0]).join(), { clock: 'virtual' });
    expect(clocks).toEqual([100, 350, 350]);
  });

  it('raises a cancellation at the AWAIT the thread is blocked in; the thread may clean up', async () => {
    await run(async () => {
      const event = new UniversalEvent();
      const results = new UniversalQueue<string>();
      const thread = spawnThread(catchCancel, event, results);
      await until(() => thread.state === 'UEVENT_WAIT');
      await thread.cancel();
      expect(thread.cancelled).toBe(true);
      expect(await results.get()).toBe('caught TaskCancelled');
      expect(await thread.join()).toBe('cleaned up');
    });
  });

  it('raises a cancellation requested while the thread runs its own code at its next AWAIT', async () => {
    await run(async () => {
      const started = new UniversalEvent();
      const release = new UniversalEvent();
      const thread = spawnThread(cancelAtNextAwait, started, release);
      await started.wait();
      expect(thread.state).toBe('ASYNC_THREAD');
      await thread.cancel({ blocking: false });
      await sleep(5);
      expect(thread.terminated).toBe(false);
      release.set();
      expect(await thread.join()).toBe('raised TaskCancelled at next AWAIT');
    });
  });

  it('ends with the cancellation when the thread lets it escape', async () => {
    await run(async () => {
      const thread = spawnThread(waitForever, new Event());
      await until(() => thread.state === 'EVENT_WAIT');
      await thread.cancel();
      expect(await joinError(thread)).toBeInstanceOf(TaskCancelled);
      expect(thread.exception).toBeInstanceOf(CancelledError);
    });
  });

  it('applies kernel timeouts to AWAIT, and to joining', async () => {
    await run(async () => {
      const queue = new UniversalQueue<string>();
      const results = new UniversalQueue<string>();
      const thread = spawnThread(awaitWithTimeout, queue, results);
      const stuck = spawnThread(waitForever, new Event());
      expect(await rejected(timeoutAfter(10, () => stuck.join()))).toBeInstanceOf(TaskTimeout);
      expect(stuck.terminated).toBe(false);
      expect(await results.get()).toBe('timeout');
      await queue.put('after the timeout');
      expect(await thread.join()).toEqual(['timeout', 'after the timeout']);
      await stuck.cancel();
    });
  });

  it('reports errors thrown in the thread with their stack', async () => {
    await run(async () => {
      const cause = await joinError(spawnThread(throwing, 'thread broke'));
      expect(cause).toBeInstanceOf(WorkerError);
      const error = cause as WorkerError;
      expect(error.code).toBe('ERR_WORKER_FAILED');
      expect((error.cause as RemoteError).name).toBe('RangeError');
      expect((error.cause as RemoteError).code).toBe('E_THREAD');
      expect((error.cause as RemoteError).stack).toContain('asyncthread-work.mjs');
      const missing = await joinError(spawnThread(workerFunction(work, 'missing')));
      expect((missing as WorkerError).code).toBe('ERR_WORKER_LOAD');
    });
  });

  it('reports a thread that exits or is terminated', async () => {
    await run(async () => {
      const exited = await joinError(spawnThread(exiting, 9));
      expect(exited).toBeInstanceOf(WorkerExited);
      expect((exited as WorkerExited).exitCode).toBe(9);
      const flag = new SharedArrayBuffer(4);
      const spinning = spawnThread(spinUntil, flag);
      await sleep(20);
      await spinning.terminate();
      const terminated = await joinError(spinning);
      expect(terminated).toBeInstanceOf(WorkerExited);
      expect((terminated as Error).message).toContain('was terminated');
    });
  });

  it('refuses misuse with typed errors', async () => {
    await run(async () => {
      expect(await spawnThread(misuse, new Lock()).join()).toEqual(['ERR_BAD_OPERATION', 'ERR_NOT_ACQUIRED']);
      await using pool = new ThreadPool({ size: 1 });
      expect(await pool.run(notAnAsyncThread)).toBe('false ERR_NOT_ASYNC_THREAD');
    });
    expect((thrown(() => AWAIT(op.sleep(1))) as KernelUsageError).code).toBe('ERR_NOT_ASYNC_THREAD');
    expect((thrown(() => spawnThread(sleeper, [1])) as KernelUsageError).code).toBe('ERR_OUTSIDE_KERNEL');
    await run(async () => {
      const clone = thrown(() => spawnThread(workerFunction<(f: () => void) => void>(work, 'throwing'), () => {})) as WorkerError;
      expect(clone).toBeInstanceOf(WorkerError);
      expect(clone.code).toBe('ERR_WORKER_DATA_CLONE');
    });
    expect(() => op.sleep(Number.NaN)).toThrow(TypeError);
  });

  it('is cancelled at kernel shutdown and leaves no thread behind', async () => {
    let thread: AsyncThread | null = null;
    await run(async () => {
      const serving = spawnThread(serveForever, new UniversalQueue<number>());
      thread = serving;
      await until(() => serving.state === 'UQUEUE_GET');
    });
    const ended = thread as unknown as AsyncThread;
    expect(ended.terminated).toBe(true);
    expect(ended.exception).toBeInstanceOf(TaskCancelled);
  });
});
