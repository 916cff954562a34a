// runInThread / runInProcess and their pools, against real worker threads and child processes:
// results and errors (with the worker's stack), modules in JavaScript and TypeScript,
// cancellation and timeouts while queued and while running, crashed workers and pool recovery,
// and pools closed with their kernel.
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  Lock,
  ProcessPool,
  RemoteError,
  TaskCancelled,
  TaskTimeout,
  ThreadPool,
  UniversalEvent,
  UniversalQueue,
  WorkerError,
  WorkerExited,
  configureWorkerPools,
  currentTask,
  kernelProcessPool,
  kernelThreadPool,
  run,
  runInProcess,
  runInThread,
  sleep,
  spawn,
  TaskGroup,
  timeoutAfter,
  workerFunction,
} from '@curio-ts/kernel';
import type * as WorkTs from './fixtures/threads-work.js';
import { rejected } from './helpers.js';

const mjs = new URL('./fixtures/threads-work.mjs', import.meta.url);
const ts = new URL('./fixtures/threads-work.ts', import.meta.url);

interface Where {
  pid: number;
  threadId: number;
  isMainThread: boolean;
  execArgv: string[];
  tsx: boolean;
}

const add = workerFunction<(a: number, b: number) => number>(mjs, 'add');
const addLater = workerFunction<(a: number, b: number) => Promise<number>>(mjs, 'addLater');
const where = workerFunction<() => Where>(mjs, 'where');
const fail = workerFunction<(message: string) => never>(mjs, 'fail');
const failLater = workerFunction<(message: string) => Promise<never>>(mjs, 'failLater');
const exitNow = workerFunction<(code: number) => never>(mjs, 'exitNow');
const startedThenBlock = workerFunction<
  (started: UniversalEvent, release: UniversalEvent, finished: UniversalQueue<string>) => string
>(mjs, 'startedThenBlock');
const hang = workerFunction<() => never>(mjs, 'hang');
const notCloneable = workerFunction<() => unknown>(mjs, 'notCloneable');
const echo = workerFunction<(value: unknown) => unknown>(mjs, 'echo');
const addPoints = workerFunction<typeof WorkTs.addPoints>(ts, 'addPoints');
const typedFail = workerFunction<typeof WorkTs.typedFail>(ts, 'typedFail');
const whoAmI = workerFunction<typeof WorkTs.whoAmI>(ts, 'whoAmI');

/** What `promise` rejected with, as a WorkerError (fails the test otherwise). */
async function workerError(promise: Promise<unknown>): Promise<WorkerError> {
  const error = await rejected(promise);
  expect(error).toBeInstanceOf(WorkerError);
  return error as WorkerError;
}

/** Whether process `pid` still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('runInThread', () => {
  it('runs a JavaScript function in another thread and returns its result', async () => {
    const [sum, later, place] = await run(async () => [
      await runInThread(add, 2, 3),
      await runInThread(addLater, 4, 5),
      await runInThread(where),
    ]);
    expect(sum).toBe(5);
    expect(later).toBe(9);
    expect(place.isMainThread).toBe(false);
    expect(place.threadId).toBeGreaterThan(0);
    expect(place.pid).toBe(process.pid);
  });

  it('runs a TypeScript module through the tsx loader', async () => {
    const result = await run(async () => [
      await runInThread(addPoints, { x: 1, y: 2 }, { x: 10, y: 20 }),
      await runInThread(whoAmI),
    ] as const);
    expect(result[0]).toEqual({ x: 11, y: 22 });
    expect(result[1].threadId).toBeGreaterThan(0);
  });

  it("reports the worker's error with its name, message, code and stack as cause", async () => {
    await run(async () => {
      const error = await workerError(runInThread(fail, 'bad input'));
      expect(error.code).toBe('ERR_WORKER_FAILED');
      expect(error.message).toBe("runInThread('fail' in threads-work.mjs) failed: RangeError: bad input");
      const cause = error.cause as RemoteError;
      expect(cause).toBeInstanceOf(RemoteError);
      expect(cause.name).toBe('RangeError');
      expect(cause.message).toBe('bad input');
      expect(cause.code).toBe('E_FIXTURE');
      expect(cause.stack).toContain('threads-work.mjs');

      const asyncError = await workerError(runInThread(failLater, 'later'));
      expect((asyncError.cause as RemoteError).name).toBe('TypeError');
      expect((asyncError.cause as RemoteError).message).toBe('later');

      const tsError = await workerError(runInThread(typedFail, 'typed'));
      expect((tsError.cause as RemoteError).name).toBe('SyntaxError');
      expect((tsError.cause as RemoteError).stack).toContain('threads-work.ts');
      // The pool is unharmed.
      expect(await runInThread(add, 1, 1)).toBe(2);
    });
  });

  it('reports modules and exports that cannot be loaded', async () => {
    await run(async () => {
      const missingExport = await workerError(runInThread(workerFunction(mjs, 'nope')));
      expect(missingExport.code).toBe('ERR_WORKER_LOAD');
      expect(missingExport.message).toContain("no function export 'nope'");
      const notFunction = await workerError(runInThread(workerFunction(mjs, 'notAFunction')));
      expect(notFunction.code).toBe('ERR_WORKER_LOAD');
      expect(notFunction.message).toContain('found number');
      const missingModule = await workerError(runInThread(workerFunction(new URL('./fixtures/none.mjs', import.meta.url), 'x')));
      expect(missingModule.code).toBe('ERR_WORKER_LOAD');
      expect(missingModule.message).toContain('none.mjs');
    });
    expect(() => workerFunction('./relative.mjs', 'x')).toThrow(TypeError);
    expect(() => workerFunction(mjs, '')).toThrow(TypeError);
    expect(workerFunction('/abs/work.ts', 'f').typescript).toBe(true);
    expect(workerFunction('/abs/work.mjs').exportName).toBe('default');
  });

  it('refuses values that cannot be copied, without harming the pool', async () => {
    await run(async () => {
      const badArg = await workerError(runInThread(echo, () => 1));
      expect(badArg.code).toBe('ERR_WORKER_DATA_CLONE');
      const badResult = await workerError(runInThread(notCloneable));
      expect(badResult.code).toBe('ERR_WORKER_DATA_CLONE');
      const lock = await workerError(runInThread(echo, { nested: [new Lock()] }));
      expect(lock.code).toBe('ERR_WORKER_DATA_CLONE');
      expect(lock.message).toContain('kernel Lock cannot be used in another thread');
      expect(await runInThread(echo, { deep: [1, { two: 2 }], when: new Date(0) })).toEqual({ deep: [1, { two: 2 }], when: new Date(0) });
    });
  });

  it('waits in THREAD_WAIT and is cancelled at once while the thread finishes in the background', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const started = new UniversalEvent();
      const release = new UniversalEvent();
      const finished = new UniversalQueue<string>();
      const trace: string[] = [];
      const caller = spawn(async () => {
        try {
          await pool.run(startedThenBlock, started, release, finished);
          trace.push('returned');
        } catch (error) {
          trace.push(`caught ${(error as Error).name}`);
          throw error;
        }
      });
      await started.wait();
      expect(caller.state).toBe('THREAD_WAIT');
      await caller.cancel();
      // Cancelled at once, although the thread is still blocked.
      expect(trace).toEqual(['caught TaskCancelled']);
      expect(caller.cancelled).toBe(true);
      expect(finished.size()).toBe(0);
      // The only worker is still busy: the next job waits until the abandoned one finishes.
      const next = spawn(() => pool.run(add, 20, 22));
      await sleep(10);
      expect(next.state).toBe('THREAD_WAIT');
      expect(pool.queued).toBe(1);
      release.set();
      expect(await finished.get()).toBe('finished');
      expect(await next.join()).toBe(42);
      expect(pool.workerCount).toBe(1);
    });
  });

  it('drops a cancelled job that was still queued', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const started = new UniversalEvent();
      const release = new UniversalEvent();
      const finished = new UniversalQueue<string>();
      const first = spawn(() => pool.run(startedThenBlock, started, release, finished));
      await started.wait();
      const second = spawn(() => pool.run(startedThenBlock, new UniversalEvent(), release, finished));
      await sleep(1);
      expect(pool.queued).toBe(1);
      await second.cancel();
      expect(pool.queued).toBe(0);
      release.set();
      expect(await first.join()).toBe('done');
      expect(await pool.run(add, 1, 2)).toBe(3);
      // Only the first job ever ran.
      expect(finished.size()).toBe(1);
    });
  });

  it('is subject to timeouts', async () => {
    await using pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const started = new UniversalEvent();
      const release = new UniversalEvent();
      const finished = new UniversalQueue<string>();
      const caller = spawn(() => timeoutAfter(30, () => pool.run(startedThenBlock, started, release, finished)));
      // The job runs (the timeout may expire before or after it starts: it is dropped either way).
      await started.wait();
      const error = await rejected(caller.join());
      expect((error as Error).cause).toBeInstanceOf(TaskTimeout);
      release.set();
      expect(await finished.get()).toBe('finished');
      expect(await pool.run(add, 2, 2)).toBe(4);
    });
  });

  it('recovers from a thread that calls process.exit()', async () => {
    await using pool = new ThreadPool({ size: 2 });
    await run(async () => {
      const error = await workerError(pool.run(exitNow, 7));
      expect(error).toBeInstanceOf(WorkerExited);
      expect(error.code).toBe('ERR_WORKER_EXITED');
      expect((error as WorkerExited).exitCode).toBe(7);
      const results = await Promise.all([pool.run(add, 1, 2), pool.run(add, 3, 4), pool.run(add, 5, 6)]);
      expect(results).toEqual([3, 7, 11]);
      expect(pool.workerCount).toBeLessThanOrEqual(2);
    });
  });

  it('serves many concurrent tasks with a small pool', async () => {
    await using pool = new ThreadPool({ size: 2 });
    const results = await run(() =>
      TaskGroup.scope(async (group) => {
        for (let i = 0; i < 200; i++) group.spawn(() => pool.run(add, i, 1000));
        return group;
      }).then((group) => group.results as number[]),
    );
    expect(results.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1000));
    expect(pool.workerCount).toBe(2);
  });

  it('works from plain Promise code outside any kernel', async () => {
    const pool = new ThreadPool({ size: 1 });
    expect(await pool.run(add, 40, 2)).toBe(42);
    expect(await Promise.all([pool.run(add, 1, 1), pool.run(addLater, 2, 2)])).toEqual([2, 4]);
    await pool.close();
    expect(pool.closed).toBe(true);
    expect(pool.workerCount).toBe(0);
    const error = await workerError(pool.run(add, 1, 1));
    expect(error.code).toBe('ERR_POOL_CLOSED');
  });

  it('fails queued and running jobs when the pool is closed', async () => {
    const pool = new ThreadPool({ size: 1 });
    await run(async () => {
      const started = new UniversalEvent();
      const running = spawn(() => pool.run(startedThenBlock, started, new UniversalEvent(), new UniversalQueue<string>()));
      const queued = spawn(() => pool.run(add, 1, 2));
      await started.wait();
      await pool.close();
      for (const task of [running, queued]) {
        const error = await rejected(task.join());
        expect(((error as Error).cause as WorkerError).code).toBe('ERR_POOL_CLOSED');
      }
    });
    expect(pool.workerCount).toBe(0);
  });

  it("closes the kernel's default pools when the kernel shuts down", async () => {
    const pools = await run(async () => {
      expect(await runInThread(add, 1, 2)).toBe(3);
      expect(await runInProcess(add, 3, 4)).toBe(7);
      const threadPool = kernelThreadPool();
      const processPool = kernelProcessPool();
      expect(kernelThreadPool()).toBe(threadPool);
      expect(threadPool.workerCount).toBe(1);
      expect(processPool.workerCount).toBe(1);
      expect(currentTask().name).toBe('main');
      return { threadPool, processPool };
    }, { name: 'main' });
    expect(pools.threadPool.closed).toBe(true);
    expect(pools.threadPool.workerCount).toBe(0);
    expect(pools.processPool.closed).toBe(true);
    expect(pools.processPool.workerCount).toBe(0);
  });

  it('validates pool sizes', () => {
    expect(() => new ThreadPool({ size: 0 })).toThrow(TypeError);
    expect(() => new ProcessPool({ size: 1.5 })).toThrow(TypeError);
    expect(() => configureWorkerPools({ threads: -1 })).toThrow(TypeError);
    expect(() => runInThread(add, 1, 2)).toThrow(/outside a kernel task/);
  });
});

describe('runInProcess', () => {
  it('runs JavaScript and TypeScript functions in a child process', async () => {
    await using pool = new ProcessPool({ size: 1 });
    await run(async () => {
      const place = await pool.run(where);
      expect(place.pid).not.toBe(process.pid);
      expect(place.isMainThread).toBe(true);
      expect(await pool.run(add, 20, 22)).toBe(42);
      expect(await pool.run(addPoints, { x: 1, y: 1 }, { x: 2, y: 2 })).toEqual({ x: 3, y: 3 });
      expect((await pool.run(whoAmI)).pid).toBe(place.pid);
    });
  });

  it("reports the child's errors with their stack", async () => {
    await using pool = new ProcessPool({ size: 1 });
    await run(async () => {
      const error = await workerError(pool.run(fail, 'in a child'));
      expect(error.code).toBe('ERR_WORKER_FAILED');
      expect((error.cause as RemoteError).name).toBe('RangeError');
      expect((error.cause as RemoteError).stack).toContain('threads-work.mjs');
      const clone = await workerError(pool.run(echo, new UniversalQueue<number>()));
      expect(clone.code).toBe('ERR_WORKER_DATA_CLONE');
      expect(clone.message).toContain('cannot be sent to another process');
      expect((await workerError(pool.run(echo, () => 1))).code).toBe('ERR_WORKER_DATA_CLONE');
      expect((await workerError(pool.run(notCloneable))).code).toBe('ERR_WORKER_DATA_CLONE');
      expect(await pool.run(add, 1, 2)).toBe(3);
    });
  });

  it('kills the child of a cancelled call and replaces it', async () => {
    await using pool = new ProcessPool({ size: 1 });
    await run(async () => {
      const { pid } = await pool.run(where);
      const caller = spawn(() => pool.run(hang));
      await sleep(1);
      expect(caller.state).toBe('PROCESS_WAIT');
      await caller.cancel();
      expect(caller.exception).toBeInstanceOf(TaskCancelled);
      for (let i = 0; i < 500 && alive(pid); i++) await sleep(10);
      expect(alive(pid)).toBe(false);
      const next = await pool.run(where);
      expect(next.pid).not.toBe(pid);
      expect(pool.workerCount).toBe(1);
    });
  });

  it('kills the child when a timeout expires', async () => {
    await using pool = new ProcessPool({ size: 1 });
    await run(async () => {
      const { pid } = await pool.run(where);
      const error = await rejected(timeoutAfter(50, () => pool.run(hang)));
      expect(error).toBeInstanceOf(CancelledError);
      for (let i = 0; i < 500 && alive(pid); i++) await sleep(10);
      expect(alive(pid)).toBe(false);
      expect(await pool.run(add, 1, 1)).toBe(2);
    });
  });

  it('recovers from a child that dies', async () => {
    await using pool = new ProcessPool({ size: 1 });
    await run(async () => {
      const error = await workerError(pool.run(exitNow, 4));
      expect(error).toBeInstanceOf(WorkerExited);
      expect((error as WorkerExited).exitCode).toBe(4);
      expect(await pool.run(add, 2, 3)).toBe(5);
    });
  });
});
