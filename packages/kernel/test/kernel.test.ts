// kernel.test.ts
//
// Port of Curio's tests/test_kernel.py: sleeping, the clock, cancellation, timeouts (nested,
// uncaught, corner cases), disableCancellation / checkCancellation, and task join / cancel
// semantics. Each `it` is named after the Curio test it ports. Durations are milliseconds
// (Curio's 0.5 s is 500 ms here), and every test that sleeps or times out uses the virtual
// clock, except the few whose point is a blocked event loop (Curio's `time.sleep()`), which
// the virtual clock cannot express; those use the real clock with a short busy-wait.

import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  CurioError,
  Event,
  Kernel,
  KernelClosedError,
  KernelUsageError,
  Queue,
  TaskCancelled,
  TaskError,
  TaskTimeout,
  TimeoutCancellationError,
  UncaughtTimeoutError,
  awaitPromise,
  checkCancellation,
  clock,
  disableCancellation,
  ignoreAfter,
  run,
  setCancellation,
  sleep,
  spawn,
  timeoutAfter,
  timeoutAt,
} from '@curio-ts/kernel';
import type { KernelErrorInfo, Task } from '@curio-ts/kernel';
import { SchedFIFO, kernelTrap, waitExternal } from '@curio-ts/kernel/lowlevel';
import type { TrapRequest } from '@curio-ts/kernel/lowlevel';
import { rejected, runClean, runV } from './helpers.js';
import type { Report } from './helpers.js';

/** What `main`, run on the virtual clock, rejects with (it must reject). */
function failureOf(main: () => Promise<unknown>): Promise<unknown> {
  return rejected(run(main, { clock: 'virtual' }));
}

/** Curio's `time.sleep(s)`: block the whole event loop (real clock only). */
function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy-wait: nothing else can run, no timer can fire
  }
}

/** The class name of a caught value, for traces. */
function kind(error: unknown): string {
  return error instanceof Error ? error.constructor.name : typeof error;
}

describe('kernel: running and the clock', () => {
  it('test_hello', async () => {
    const result = await runClean(async function hello() {
      return 'hello';
    });
    expect(result).toBe('hello');
  });

  it('test_raise', async () => {
    class BoomError extends Error {}
    const boom = new BoomError('boom');
    const outcome = await failureOf(async () => {
      throw boom;
    });
    // run() rejects with main's own error, not a wrapper.
    expect(outcome).toBe(boom);
  });

  it('test_task_run_error', async () => {
    const outcome = await failureOf(async () => {
      JSON.parse('bad'); // Python's int('bad'): a built-in error
    });
    expect(outcome).toBeInstanceOf(SyntaxError);
  });

  it('test_sleep (virtual clock: exact)', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const start = clock();
      trace.push(`start ${start}`);
      const woke = await sleep(500);
      const end = clock();
      trace.push(`woke ${woke}`, `end ${end}`, `elapsed ${end - start}`);
    });
    expect(trace).toEqual(['start 0', 'woke 500', 'end 500', 'elapsed 500']);
  });

  it('test_sleep (real clock)', async () => {
    let elapsed = -1;
    let kernelElapsed = -1;
    await runClean(
      async () => {
        const start = performance.now();
        const kernelStart = clock();
        await sleep(20);
        elapsed = performance.now() - start;
        kernelElapsed = clock() - kernelStart;
      },
      { clock: 'real' },
    );
    expect(kernelElapsed).toBeGreaterThanOrEqual(20);
    expect(elapsed).toBeGreaterThanOrEqual(20);
  });

  it('test_clock', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const start = clock();
      await sleep(100);
      const end = clock();
      trace.push(`start ${start}`, `end ${end}`);
      expect(end - start).toBeGreaterThanOrEqual(100);
    });
    expect(trace).toEqual(['start 0', 'end 100']);
  });
});

describe('kernel: sleeping with cancellation and timeouts', () => {
  it('test_sleep_cancel', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const task = spawn(async function sleeper() {
        try {
          await sleep(1000);
          trace.push('sleeper woke');
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          trace.push(`sleeper cancelled ${kind(error)} at ${clock()}`);
        }
      });
      await sleep(100);
      trace.push('main cancelling');
      await task.cancel();
      trace.push(`main cancelled at ${clock()}`);
    });
    expect(trace).toEqual(['main cancelling', 'sleeper cancelled TaskCancelled at 100', 'main cancelled at 100']);
  });

  it('test_sleep_timeout', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const task = spawn(async function sleeper() {
        try {
          await timeoutAfter(100, () => sleep(1000));
          trace.push('not timed out');
        } catch (error) {
          if (!(error instanceof TaskTimeout)) throw error;
          trace.push(`timeout at ${clock()} (error.clock ${error.clock})`);
        }
      });
      await task.join();
      trace.push('joined');
    });
    expect(trace).toEqual(['timeout at 100 (error.clock 100)', 'joined']);
  });

  it('test_sleep_ignore_timeout', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const task = spawn(async function sleeper() {
        // Curio: `await ignore_after(0.1, sleep(1)) is None`
        const r1 = await ignoreAfter(100, () => sleep(1000));
        trace.push(`r1 ${String(r1)} at ${clock()}`);

        // Curio: `async with ignore_after(0.1) as s: await sleep(1)`, then `s.result is None`
        const r2 = await ignoreAfter(100, async () => {
          await sleep(1000);
          trace.push('block completed');
          return true;
        });
        trace.push(`r2 ${String(r2)} at ${clock()}`);

        // With an explicit timeout result.
        const r3 = await ignoreAfter(100, () => sleep(1000), { timeoutResult: 'expired' });
        trace.push(`r3 ${r3} at ${clock()}`);
      });
      await task.join();
    });
    expect(trace).toEqual(['r1 undefined at 100', 'r2 undefined at 200', 'r3 expired at 300']);
  });

  it('test_sleep_notimeout', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const task = spawn(async function sleeper() {
        try {
          const woke = await timeoutAfter(500, () => sleep(100));
          trace.push(`slept until ${woke}`);
        } catch (error) {
          trace.push(`unexpected ${kind(error)}`);
        }
        // The (now stale) 500 ms deadline must not fire during this sleep.
        await sleep(500);
        trace.push(`slept again until ${clock()}`);
      });
      await task.join();
    });
    expect(trace).toEqual(['slept until 100', 'slept again until 600']);
  });
});

describe('kernel: task join and cancel', () => {
  /**
   * Join `task`, which was cancelled: the join must throw a TaskError caused by the
   * cancellation. Records `join: TaskError caused by <class of the cause>` (or 'joined').
   */
  async function joinCancelled(task: Task, trace: string[]): Promise<void> {
    try {
      await task.join();
      trace.push('joined');
    } catch (error) {
      expect(error).toBeInstanceOf(TaskError);
      expect((error as Error).cause).toBeInstanceOf(CancelledError);
      trace.push(`join: ${kind(error)} caused by ${kind((error as Error).cause)}`);
    }
  }

  it('test_task_join', async () => {
    const r = await runClean(async () => {
      const task = spawn(async function child() {
        return 37;
      });
      return task.join();
    });
    expect(r).toBe(37);
  });

  it('test_task_join_error', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const task = spawn(async function child() {
        JSON.parse('bad');
      });
      try {
        await task.join();
        trace.push('joined');
      } catch (error) {
        trace.push(`${kind(error)} caused by ${kind((error as Error).cause)}`);
        expect(error).toBeInstanceOf(TaskError);
        expect(error).toBeInstanceOf(CurioError);
        expect((error as Error).cause).toBeInstanceOf(SyntaxError);
      }
    });
    expect(trace).toEqual(['TaskError caused by SyntaxError']);
  });

  it('test_task_cancel', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      let cancelled = false;
      // The child has not even started when it is cancelled: the cancellation stays pending
      // and is delivered at its first blocking call.
      const task = spawn(async function child() {
        trace.push('child start');
        try {
          await sleep(500);
          trace.push('child woke');
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          cancelled = true;
          trace.push('child cancelled');
        }
      });
      await task.cancel();
      trace.push(`main: cancelled=${cancelled} at ${clock()}`);
    });
    expect(trace).toEqual(['child start', 'child cancelled', 'main: cancelled=true at 0']);
  });

  it('test_task_cancel_poll', async () => {
    const results: string[] = [];
    await runClean(async () => {
      const task = spawn(async function child() {
        await disableCancellation(async () => {
          await sleep(100);
          results.push('success');
          if (checkCancellation()) {
            results.push('cancelled');
          } else {
            results.push('not cancelled');
          }
        });
      });
      await task.cancel();
      results.push('done');
    });
    expect(results).toEqual(['success', 'cancelled', 'done']);
  });

  it('test_task_cancel_not_blocking', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const e1 = new Event();
      const e2 = new Event();
      const task = spawn(async function child() {
        e1.set();
        trace.push('child sleeping');
        try {
          await sleep(1_000_000);
        } catch (error) {
          trace.push(`child caught ${kind(error)}`);
          await e2.wait();
          trace.push('child e2 set, re-raising');
          throw error;
        }
      });
      await e1.wait();
      await task.cancel({ blocking: false });
      trace.push(`main requested cancel, child terminated=${task.terminated}`);
      e2.set();
      await joinCancelled(task, trace);
    });
    expect(trace).toEqual([
      'child sleeping',
      'main requested cancel, child terminated=false',
      'child caught TaskCancelled',
      'child e2 set, re-raising',
      'join: TaskError caused by TaskCancelled',
    ]);
  });

  it('test_task_cancel_join', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const childEvt = new Event();
      const task = spawn(async function child() {
        trace.push('child waiting');
        await childEvt.wait();
        trace.push('child woke');
      });
      await sleep(0);
      await task.cancel();
      trace.push('cancelled');
      // Joining a cancelled task raises TaskError whose cause is the cancellation.
      await joinCancelled(task, trace);
    });
    expect(trace).toEqual(['child waiting', 'cancelled', 'join: TaskError caused by TaskCancelled']);
  });

  it('test_task_cancel_join_wait', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      const evt = new Event();
      const task1 = spawn(async function child() {
        trace.push('child waiting');
        await evt.wait();
        trace.push('child woke');
      });
      const task2 = spawn(async function canceller() {
        trace.push('canceller cancelling');
        await task1.cancel();
        trace.push('canceller done');
      });
      await task2.join();
      trace.push(`evt set=${evt.isSet()}`);
      await joinCancelled(task1, trace);
    });
    expect(trace).toEqual([
      'child waiting',
      'canceller cancelling',
      'canceller done',
      'evt set=false',
      'join: TaskError caused by TaskCancelled',
    ]);
  });

  it('test_task_child_cancel', async () => {
    const results: string[] = [];
    await runClean(async () => {
      async function child(): Promise<void> {
        results.push('start');
        try {
          await sleep(500);
          results.push('end');
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          results.push('child cancelled');
        }
      }
      // Spawns `inner` and sleeps; when cancelled, cancels `inner` first.
      function supervisor(name: string, inner: () => Promise<void>): () => Promise<void> {
        return async () => {
          let innerTask: Task | undefined;
          try {
            innerTask = spawn(inner);
            await sleep(500);
            results.push(`end ${name}`);
          } catch (error) {
            if (!(error instanceof CancelledError)) throw error;
            await innerTask?.cancel();
            results.push(`${name} cancelled`);
          }
        };
      }
      const parent = supervisor('parent', child);
      const grandparent = supervisor('grandparent', parent);
      const task = spawn(grandparent);
      await sleep(100);
      results.push('cancel start');
      await sleep(100);
      results.push('cancelling');
      await task.cancel();
      results.push('done');
    });
    expect(results).toEqual([
      'start',
      'cancel start',
      'cancelling',
      'child cancelled',
      'parent cancelled',
      'grandparent cancelled',
      'done',
    ]);
  });

  // Curio's test blocks the event loop (time.sleep(1)) so that the parent's and the child's
  // sleeps expire in the same scheduling pass: the parent then cancels a child that is on the
  // ready queue, not blocked. This is the faithful port (real clock, short busy-wait). To be
  // immune to the process being descheduled, both sleeps start in the same scheduling pass as
  // the busy-wait (no deadline is checked in between), and the parent's deadline is set
  // relative to the child's, so the parent's always expires first.
  it('test_task_ready_cancel (real clock, blocked event loop)', async () => {
    const results: string[] = [];
    await runClean(
      async () => {
        let base = 0;
        async function child(): Promise<void> {
          try {
            results.push('child sleep');
            base = clock();
            await sleep(20);
            results.push('child slept');
            await sleep(20);
            results.push('should not see this');
          } catch (error) {
            if (!(error instanceof CancelledError)) throw error;
            results.push('child cancelled');
          }
        }
        async function parent(): Promise<void> {
          const task = spawn(child);
          results.push('parent sleep');
          await sleep(0); // the child goes first in the next pass
          await sleep(Math.max(0, base + 10 - clock()));
          results.push('cancel start');
          await task.cancel();
          results.push('cancel done');
        }
        const parentTask = spawn(parent);
        await sleep(0);
        await sleep(0); // next pass: child sleeps, parent sleeps, then we block the loop
        blockEventLoop(30); // both sleeps expire while the loop is blocked
        await sleep(1);
        await parentTask.join();
      },
      { clock: 'real' },
    );
    expect(results).toEqual([
      'parent sleep',
      'child sleep',
      'cancel start',
      'child slept',
      'child cancelled',
      'cancel done',
    ]);
  });

  // The same corner case on the virtual clock: two sleeps with the same deadline expire in the
  // same pass and wake in task-id order, so the parent cancels a child that is ready.
  it('test_task_ready_cancel (virtual clock, equal deadlines)', async () => {
    const results: string[] = [];
    await runClean(async () => {
      async function child(): Promise<void> {
        try {
          results.push(`child sleep at ${clock()}`);
          await sleep(1000);
          results.push(`child slept until ${clock()}`);
          await sleep(1000);
          results.push('should not see this');
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          results.push(`child cancelled at ${clock()}`);
        }
      }
      async function parent(): Promise<void> {
        const task = spawn(child);
        results.push(`parent sleep at ${clock()}`);
        await sleep(1000);
        results.push(`cancel start at ${clock()}`);
        await task.cancel();
        results.push('cancel done');
      }
      spawn(parent);
      await sleep(100);
      await sleep(1100);
    });
    expect(results).toEqual([
      'parent sleep at 0',
      'child sleep at 0',
      'cancel start at 1000',
      'child slept until 1000',
      'child cancelled at 1000',
      'cancel done',
    ]);
  });

  it('test_double_cancel', async () => {
    const results: string[] = [];
    await runClean(async () => {
      const task = spawn(async function sleeper() {
        results.push('start');
        try {
          await sleep(1000);
          results.push('not here');
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          results.push(`cancel request at ${clock()}`);
          await sleep(1000);
          results.push(`cancelled at ${clock()}`);
        }
      });
      await sleep(500);
      try {
        await timeoutAfter(1000, () => task.cancel());
        results.push('cancel finished in time');
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push(`retry at ${clock()}`);
        // This second cancel must not abort any operation in the sleeper.
        await task.cancel();
        results.push(`done cancel at ${clock()}`);
      }
    });
    expect(results).toEqual([
      'start',
      'cancel request at 500',
      'retry at 1500',
      'cancelled at 1500',
      'done cancel at 1500',
    ]);
  });

  it('test_custom_cancel', async () => {
    class CustomCancelled extends CancelledError {}
    const trace: string[] = [];
    await runClean(async () => {
      const evt = new Event();
      const t = spawn(async function child() {
        try {
          await evt.wait();
          trace.push('child woke');
        } catch (error) {
          trace.push(`child caught ${kind(error)}`);
          expect(error).toBeInstanceOf(CustomCancelled);
        }
      });
      await sleep(0);
      await t.cancel({ error: new CustomCancelled() });
      trace.push('cancelled');
    });
    expect(trace).toEqual(['child caught CustomCancelled', 'cancelled']);
  });

  it('test_task_cancel_timeout (cancellation also cancels timeouts)', async () => {
    const results: string[] = [];
    await runClean(async () => {
      async function coro(): Promise<void> {
        try {
          await sleep(5000);
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          results.push(`cancelled at ${clock()}`);
          await sleep(1000); // runs past the 1000 ms deadline: it must not fire
          results.push(`done cancel at ${clock()}`);
          throw error;
        }
      }
      const task = spawn(async function child() {
        results.push('child');
        try {
          await timeoutAfter(1000, async () => {
            await coro();
          });
        } catch (error) {
          if (!(error instanceof TaskTimeout)) throw error;
          results.push('timeout');
        }
      });
      await sleep(500);
      await task.cancel();
      results.push(`main: child exception ${kind(task.exception)}`);
    });
    expect(results).toEqual([
      'child',
      'cancelled at 500',
      'done cancel at 1500',
      'main: child exception TaskCancelled',
    ]);
  });
});

describe('kernel: nested timeouts', () => {
  /**
   * Curio's two spellings of a timeout around a call: `await timeout_after(s, coro())` runs the
   * function itself under the timeout (`contextStyle` false), `async with timeout_after(s):`
   * runs a block that awaits it (`contextStyle` true).
   */
  function withTimeout(contextStyle: boolean, ms: number, fn: () => Promise<unknown>): Promise<unknown> {
    if (contextStyle) {
      return timeoutAfter(ms, async () => {
        await fn();
      });
    }
    return timeoutAfter(ms, fn);
  }

  /** A coroutine that records `<name> start`, sleeps `ms`, then records `<name> done`. */
  function sleeper(results: string[], name: string, ms: number): () => Promise<void> {
    return async () => {
      results.push(`${name} start`);
      await sleep(ms);
      results.push(`${name} done`);
    };
  }

  /** Run Curio's `parent()` as the main task: await `fn`, recording `parent timeout at <clock>` if it times out. */
  async function runParent(results: string[], fn: () => Promise<unknown>): Promise<void> {
    await runClean(async function parent() {
      try {
        await fn();
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push(`parent timeout at ${clock()}`);
      }
    });
  }

  it.each([
    ['test_nested_timeout', false],
    ['test_nested_context_timeout', true],
  ])('%s', async (_name, contextStyle) => {
    const results: string[] = [];
    const coro1 = sleeper(results, 'coro1', 1000);
    const coro2 = sleeper(results, 'coro2', 1000);
    // The parent's deadline expires before the child's: the child sees a
    // TimeoutCancellationError instead of a TaskTimeout.
    async function child(): Promise<void> {
      try {
        await withTimeout(contextStyle, 5000, coro1);
        results.push('coro1 success');
      } catch (error) {
        if (error instanceof TaskTimeout) results.push('coro1 timeout');
        else if (error instanceof TimeoutCancellationError) results.push('coro1 timeout cancel');
        else throw error;
      }
      await coro2();
      results.push('coro2 success');
    }
    await runParent(results, () => withTimeout(contextStyle, 750, child));
    expect(results).toEqual(['coro1 start', 'coro1 timeout cancel', 'coro2 start', 'parent timeout at 750']);
  });

  it.each([
    ['test_nested_context_timeout2', true],
    ['test_nested_context_timeout3', false],
  ])('%s', async (_name, contextStyle) => {
    const trace: string[] = [];
    // Awaits `fn` under a timeout of `ms`; records a cancellation passing through, and re-raises it.
    function coro(name: string, ms: number, fn: () => Promise<unknown>): () => Promise<void> {
      return async () => {
        try {
          await withTimeout(contextStyle, ms, fn);
          trace.push(`${name} no error`);
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          trace.push(`${name} ${kind(error)}`);
          throw error;
        }
      };
    }
    const coro1 = coro('coro1', 10_000, () => sleep(5000));
    const coro2 = coro('coro2', 15_000, coro1);
    await runClean(async function parent() {
      try {
        await withTimeout(contextStyle, 100, coro2);
        trace.push('parent no error');
      } catch (error) {
        trace.push(`parent ${kind(error)} at ${clock()}`);
      }
    });
    expect(trace).toEqual([
      'coro1 TimeoutCancellationError',
      'coro2 TimeoutCancellationError',
      'parent TaskTimeout at 100',
    ]);
  });

  it.each([
    ['test_nested_timeout_uncaught', false],
    ['test_nested_context_timeout_uncaught', true],
  ])('%s', async (_name, contextStyle) => {
    const results: string[] = [];
    const coro1 = sleeper(results, 'coro1', 5000);
    // This causes a TaskTimeout, but the child does not catch it.
    async function child(): Promise<void> {
      await withTimeout(contextStyle, 1000, coro1);
    }
    await runClean(async function parent() {
      try {
        await withTimeout(contextStyle, 10_000, child);
        results.push('no error');
      } catch (error) {
        if (error instanceof TaskTimeout) results.push('parent timeout');
        else if (error instanceof UncaughtTimeoutError) {
          results.push(`uncaught timeout at ${clock()}, cause ${kind(error.cause)}`);
        } else throw error;
      }
    });
    expect(results).toEqual(['coro1 start', 'uncaught timeout at 1000, cause TaskTimeout']);
  });

  // Curio's `timeout_after(None, ...)` (no deadline) is `timeoutAfter(Infinity, ...)` here.
  it('test_nested_timeout_none', async () => {
    const results: string[] = [];
    const coro1 = sleeper(results, 'coro1', 2000);
    const coro2 = sleeper(results, 'coro2', 1000);
    async function child(): Promise<void> {
      await timeoutAfter(Infinity, () => coro1());
      results.push('coro1 success');
      await coro2();
      results.push('coro2 success');
    }
    await runParent(results, () => timeoutAfter(1000, () => child()));
    expect(results).toEqual(['coro1 start', 'parent timeout at 1000']);
  });
});

describe('kernel: timeout corner cases', () => {
  // Curio blocks the event loop (time.sleep(1)) so that the inner sleep *and* the enclosing
  // timeout expire in the same pass. The sleep wakes the task first; the timeout then finds a
  // task that is not blocked and only becomes pending, and leaving the timeout block must drop
  // it. The virtual clock cannot expire two different deadlines at once, so this one uses the
  // real clock with a short busy-wait. The sleep starts in the same scheduling pass as the
  // busy-wait, so no deadline is checked before both have expired.
  it('test_kernel_multischedule (real clock, blocked event loop)', async () => {
    const trace: string[] = [];
    await runClean(
      async () => {
        const t = spawn(async function sleeper() {
          trace.push('sleeper start');
          try {
            // timeout_after(20 ms) around sleep(10 ms); the sleep is measured from the
            // deadline so that it ends first even if the process is descheduled in between.
            const deadline = clock() + 20;
            await timeoutAt(deadline, async () => {
              await sleep(Math.max(0, deadline - 10 - clock()));
              trace.push('sleep done');
            });
            trace.push('timeout block exited');
          } catch (error) {
            trace.push(`sleeper ${kind(error)}`);
          }
          await sleep(5); // must not crash, nor receive the stale timeout
          trace.push('slept');
          return true;
        });
        await sleep(0); // the sleeper enters its timeout block and sleeps
        blockEventLoop(30); // past both the sleep and the enclosing timeout
        const r = await t.join();
        trace.push(`joined ${String(r)}`);
      },
      { clock: 'real' },
    );
    expect(trace).toEqual(['sleeper start', 'sleep done', 'timeout block exited', 'slept', 'joined true']);
  });

  // Curio: an operation that never blocks takes longer than its enclosing timeout. It completes
  // (nothing could be cancelled), a warning is issued, and the timeout must not be delivered
  // at the next blocking call after the block.
  it('test_timeout_badness (real clock)', async () => {
    const trace: string[] = [];
    const reports: Report[] = [];
    await runV(
      async () => {
        const r = await timeoutAfter(5, async () => {
          blockEventLoop(15); // the timeout takes too long; no blocking operation to cancel
          return 'completed';
        });
        trace.push(r);
        await sleep(0);
        await sleep(1);
        trace.push('made it');
      },
      reports,
      undefined,
      { clock: 'real', debug: true },
    );
    expect(trace).toEqual(['completed', 'made it']);
    expect(reports.map((r) => r.reason)).toEqual(['timeout-overrun']);
  });

  it('test_timeout_badness (real clock, no debug: no warning, no error)', async () => {
    const trace: string[] = [];
    await runClean(
      async () => {
        const r = await timeoutAfter(5, async () => {
          blockEventLoop(15);
          return 'completed';
        });
        trace.push(r);
        await sleep(0);
        trace.push('made it');
      },
      { clock: 'real' },
    );
    expect(trace).toEqual(['completed', 'made it']);
  });

  it('test_pending_cancellation', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      // Every blocking trap delivers a pending cancellation at once.
      const blockingCalls: [string, () => Promise<unknown>][] = [
        // Curio: _read_wait(None); the generic external (IO) wait here.
        ['externalWait', () => waitExternal<void>('READ_WAIT', () => () => {})],
        // Curio: _future_wait(None)
        ['promiseWait', () => awaitPromise(new Promise<void>(() => {}))],
        // Curio: _scheduler_wait(None, None)
        ['schedWait', () => new SchedFIFO().suspend('SCHED_WAIT')],
        ['sleep', () => sleep(10)],
      ];
      for (const [name, call] of blockingCalls) {
        const pending = new CancelledError();
        setCancellation(pending);
        try {
          await call();
          trace.push(`${name} returned`);
        } catch (error) {
          trace.push(`${name} threw pending=${String(error === pending)}`);
        }
      }

      // Unsetting a timeout while a TaskTimeout is pending does not raise it (it drops it).
      setCancellation(new TaskTimeout(0));
      try {
        kernelTrap({ trap: 'unsetTimeout', previous: null });
        trace.push('unsetTimeout returned');
      } catch (error) {
        trace.push(`unsetTimeout threw ${kind(error)}`);
      }
      trace.push(`pending after unsetTimeout: ${String(checkCancellation())}`);
    });
    expect(trace).toEqual([
      'externalWait threw pending=true',
      'promiseWait threw pending=true',
      'schedWait threw pending=true',
      'sleep threw pending=true',
      'unsetTimeout returned',
      'pending after unsetTimeout: null',
    ]);
  });
});

describe('kernel: starvation', () => {
  // Adapted: Curio's test exchanges data over a socketpair. Sockets are not part of the kernel
  // yet, so the two "IO" tasks wait on external events (delivered from the Node event loop,
  // like socket readiness) while a task spins on sleep(0). The spinner must neither starve them
  // nor resist cancellation.
  it('test_sleep_0_starvation (adapted: external waits instead of a socketpair)', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      class Endpoint {
        peer: Endpoint | null = null;
        private readonly inbox: string[] = [];
        private wake: ((value: unknown) => void) | null = null;
        send(data: string): void {
          const peer = this.peer as Endpoint;
          // Delivery happens later, from the event loop, as IO readiness does.
          setImmediate(() => peer.deliver(data));
        }
        private deliver(data: string): void {
          this.inbox.push(data);
          const wake = this.wake;
          this.wake = null;
          wake?.(undefined);
        }
        async recv(): Promise<string> {
          while (this.inbox.length === 0) {
            await waitExternal<void>('READ_WAIT', (w) => {
              this.wake = (value) => w.resolve(value);
              return () => {
                this.wake = null;
              };
            });
          }
          return this.inbox.shift() as string;
        }
      }
      const sock1 = new Endpoint();
      const sock2 = new Endpoint();
      sock1.peer = sock2;
      sock2.peer = sock1;

      let spins = 0;
      const loopTask = spawn(async function loopForever() {
        for (;;) {
          spins++;
          await sleep(0);
        }
      });
      await sleep(0);
      const io1 = spawn(async function io1() {
        trace.push(`io1 recv ${await sock1.recv()}`);
        sock1.send('y');
        trace.push(`io1 recv ${await sock1.recv()}`);
      });
      const io2 = spawn(async function io2() {
        sock2.send('x');
        trace.push(`io2 recv ${await sock2.recv()}`);
        sock2.send('z');
      });
      await io1.join();
      await io2.join();
      await loopTask.cancel();
      trace.push(`loop cancelled: ${kind(loopTask.exception)}, spun=${spins > 0}`);
    });
    expect(trace).toEqual(['io1 recv x', 'io2 recv y', 'io1 recv z', 'loop cancelled: TaskCancelled, spun=true']);
  });

  it('test_ping_pong_starvation', async () => {
    const trace: string[] = [];
    await runClean(async () => {
      async function pingpong(inq: Queue<string>, outq: Queue<string>): Promise<void> {
        for (;;) {
          await outq.put(await inq.get());
        }
      }
      const q1 = new Queue<string>();
      const q2 = new Queue<string>();
      await q1.put('something');
      const pp1 = spawn(() => pingpong(q1, q2));
      const pp2 = spawn(() => pingpong(q2, q1));
      const iws = spawn(async function iWillSurvive() {
        for (let i = 0; i < 10; i++) await sleep(0);
        return 'i survived!';
      });
      trace.push(await iws.join());
      await pp1.cancel();
      await pp2.cancel();
      trace.push(`pp1 ${kind(pp1.exception)}`, `pp2 ${kind(pp2.exception)}`);
    });
    expect(trace).toEqual(['i survived!', 'pp1 TaskCancelled', 'pp2 TaskCancelled']);
  });
});

describe('kernel: the kernel object', () => {
  it('test_reentrant_kernel', async () => {
    const trace: string[] = [];
    const kernel = new Kernel({ clock: 'virtual' });
    try {
      await kernel.runTask(async function main() {
        async function child(): Promise<void> {
          trace.push('child ran');
        }
        // The same kernel (as in Curio)...
        try {
          await awaitPromise(kernel.runTask(child));
          trace.push('runTask returned');
        } catch (error) {
          trace.push(`runTask: ${kind(error)} ${(error as KernelUsageError).code}`);
        }
        // ...and a fresh one through run().
        try {
          await awaitPromise(run(child));
          trace.push('run returned');
        } catch (error) {
          trace.push(`run: ${kind(error)} ${(error as KernelUsageError).code}`);
        }
      });
    } finally {
      await kernel.shutdown();
    }
    expect(trace).toEqual(['runTask: KernelUsageError ERR_NESTED_RUN', 'run: KernelUsageError ERR_NESTED_RUN']);
  });

  it('test_coro_partial (arguments through closures and bind)', async () => {
    const calls: string[] = [];
    await runClean(async () => {
      async function func(x: number, y: number, z: number): Promise<boolean> {
        calls.push(`${x}${y}${z}`);
        return x === 1 && y === 2 && z === 3;
      }
      const results: unknown[] = [];
      results.push(await func(1, 2, 3));
      results.push(await ignoreAfter(1000, () => func(1, 2, 3)));
      results.push(await ignoreAfter(1000, func.bind(null, 1, 2, 3)));
      results.push(await ignoreAfter(1000, () => func.bind(null, 1, 2)(3)));
      // Try spawns
      results.push(await spawn(() => func(1, 2, 3)).join());
      results.push(await spawn(func.bind(null, 1, 2, 3)).join());
      results.push(await spawn(() => func.bind(null, 1, 2)(3)).join());
      expect(results).toEqual([true, true, true, true, true, true, true]);
    });
    expect(calls).toEqual(['123', '123', '123', '123', '123', '123', '123']);
  });

  it('test_kernel_no_shutdown', async () => {
    // A kernel that is never used or shut down is harmless.
    const unused = new Kernel();
    expect(unused.taskCount).toBe(0);

    let k: Kernel;
    {
      await using kernel = new Kernel();
      k = kernel;
    }
    // A disposed kernel refuses work.
    const outcome = await rejected(k.runTask(async () => 'ran'));
    expect(outcome).toBeInstanceOf(KernelClosedError);
    expect((outcome as KernelClosedError).code).toBe('ERR_KERNEL_CLOSED');
    // Shutting down again does nothing.
    await k.shutdown();
  });

  // Curio's SystemExit is not an Exception; the nearest JavaScript thing is a thrown value that
  // is not an Error at all. It must come out of the kernel unchanged.
  it('test_kernel_exit (a thrown non-Error value propagates)', async () => {
    const exit = { exitCode: 3 };
    let outcome: unknown;
    {
      await using k = new Kernel({ clock: 'virtual' });
      outcome = await rejected(
        k.runTask(async () => {
          await sleep(0);
          throw exit;
        }),
      );
    }
    expect(outcome).toBe(exit);
  });

  it('test_kernel_badtrap', async () => {
    const outcome = await failureOf(async () => {
      kernelTrap({ trap: 'bogus' } as unknown as TrapRequest);
    });
    expect(outcome).toBeInstanceOf(KernelUsageError);
    expect(String((outcome as Error).message)).toContain('bogus');
  });

  it('test_kernel_debug', async () => {
    const reasons: string[] = [];
    const trace: string[] = [];
    async function hello(): Promise<string> {
      await sleep(0);
      trace.push('hello');
      return 'hi';
    }
    const onError = (_error: unknown, info: KernelErrorInfo): void => {
      reasons.push(info.reason);
    };
    expect(await run(hello, { debug: true, onError })).toBe('hi');
    expect(await run(hello, { debug: { longForeignAwaitMs: 50 }, onError })).toBe('hi');
    expect(await run(hello, { debug: false, onError })).toBe('hi');
    expect(trace).toEqual(['hello', 'hello', 'hello']);
    expect(reasons).toEqual([]);
  });
});
