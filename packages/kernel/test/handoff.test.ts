// The scheduler itself: ordering rules, foreign awaits and how the kernel keeps track of the
// calling task, interop with plain Promise code, the virtual clock, the Kernel object.

import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelledError,
  Event,
  Kernel,
  KernelClosedError,
  KernelUsageError,
  Local,
  Lock,
  Queue,
  TaskCancelled,
  TaskTimeout,
  abortSignal,
  awaitPromise,
  clock,
  currentTask,
  ignoreAfter,
  run,
  schedule,
  sleep,
  spawn,
  timeoutAfter,
} from '@curio-ts/kernel';
import type { KernelErrorInfo, Task } from '@curio-ts/kernel';
import { promises as fsp } from 'node:fs';
import { followingTasks, setStackReadsBeforeHooks } from '../src/handoff.js';
import { waitExternal } from '@curio-ts/kernel/lowlevel';
import type { ExternalWake } from '@curio-ts/kernel/lowlevel';

describe('scheduling order', () => {
  it('spawn does not switch; the child runs at its turn', async () => {
    const trace: string[] = [];
    await run(async () => {
      const a = spawn(async () => {
        trace.push('a1');
        await schedule();
        trace.push('a2');
      });
      const b = spawn(async () => {
        trace.push('b1');
        await schedule();
        trace.push('b2');
      });
      trace.push('main spawned');
      await a.join();
      await b.join();
      trace.push('main joined');
    });
    expect(trace).toEqual(['main spawned', 'a1', 'b1', 'a2', 'b2', 'main joined']);
  });

  it('a cycle runs only the tasks that were ready when it began', async () => {
    const trace: string[] = [];
    await run(async () => {
      // t1 wakes t2 during the cycle; t2 must wait for the next cycle, after t3.
      const ev = new Event();
      const t2 = spawn(async () => {
        await ev.wait();
        trace.push('t2 woke');
      });
      await schedule(); // let t2 block
      const t1 = spawn(async () => {
        trace.push('t1 sets');
        ev.set();
        trace.push('t1 after set');
      });
      const t3 = spawn(async () => {
        trace.push('t3 runs');
      });
      await t1.join();
      await t2.join();
      await t3.join();
    });
    expect(trace).toEqual(['t1 sets', 't1 after set', 't3 runs', 't2 woke']);
  });

  it('setting an Event, releasing a Lock, putting to an unbounded Queue never yield', async () => {
    const trace: string[] = [];
    await run(async () => {
      const ev = new Event();
      const lock = new Lock();
      const q = new Queue<number>();
      await lock.acquire();
      const waiters = [
        spawn(async () => {
          await ev.wait();
          trace.push('event waiter');
        }),
        spawn(async () => {
          await lock.acquire();
          trace.push('lock waiter');
          lock.release();
        }),
        spawn(async () => {
          trace.push(`queue waiter got ${await q.get()}`);
        }),
      ];
      await schedule();
      ev.set();
      trace.push('set');
      lock.release();
      trace.push('released');
      await q.put(7);
      trace.push('put');
      for (const w of waiters) await w.join();
    });
    expect(trace).toEqual(['set', 'released', 'put', 'event waiter', 'lock waiter', 'queue waiter got 7']);
  });

  it('sleep(0) is a cancellation point', async () => {
    const trace: string[] = [];
    await run(async () => {
      const t = spawn(async () => {
        try {
          for (;;) await sleep(0);
        } catch (error) {
          trace.push(error instanceof TaskCancelled ? 'cancelled' : 'other');
          throw error;
        }
      });
      await schedule();
      await t.cancel();
      trace.push(`state ${t.state}, cancelled ${String(t.cancelled)}`);
    });
    expect(trace).toEqual(['cancelled', 'state TERMINATED, cancelled true']);
  });

  it('a busy kernel does not starve Node: timers fire while tasks switch', async () => {
    let timerFired = -1;
    await run(async () => {
      let switches = 0;
      setTimeout(() => {
        timerFired = switches;
      }, 1);
      const spinner = async (): Promise<void> => {
        while (timerFired < 0 && switches < 5_000_000) {
          switches++;
          await schedule();
        }
      };
      const a = spawn(spinner);
      const b = spawn(spinner);
      await a.join();
      await b.join();
    });
    expect(timerFired).toBeGreaterThan(0);
    expect(timerFired).toBeLessThan(5_000_000);
  });

  it('a Task is not thenable: awaiting spawn() gives the task', async () => {
    await run(async () => {
      const task: Task<number> = await spawn(async () => 5);
      expect(task.id).toBeGreaterThan(0);
      expect(await task.join()).toBe(5);
    });
  });

  it('runs 100 000 tasks without growing the stack', async () => {
    const total = await run(async () => {
      const tasks: Task<number>[] = [];
      for (let i = 0; i < 100_000; i++) tasks.push(spawn(async () => (await sleep(0), i)));
      let sum = 0;
      for (const t of tasks) sum += await t.join();
      return sum;
    });
    expect(total).toBe((100_000 * 99_999) / 2);
  });

  it('a chain of 10 000 nested spawn+join completes', async () => {
    const depth = await run(async () => {
      const nest = async (n: number): Promise<number> => (n === 0 ? 0 : 1 + (await spawn(() => nest(n - 1)).join()));
      return nest(10_000);
    });
    expect(depth).toBe(10_000);
  });
});

describe('foreign awaits (raw await of a non-kernel Promise)', () => {
  it('other tasks keep running while one task awaits a foreign Promise', async () => {
    const trace: string[] = [];
    await run(async () => {
      const slow = spawn(async () => {
        trace.push('slow start');
        await delay(300); // long enough for 'fast' even on a loaded machine
        trace.push(`slow back as ${currentTask().name}`);
      }, { name: 'slow' });
      const fast = spawn(async () => {
        for (let i = 0; i < 3; i++) {
          trace.push(`fast ${i}`);
          await sleep(1);
        }
      }, { name: 'fast' });
      await schedule();
      await schedule();
      expect(slow.state).toBe('FOREIGN_WAIT');
      await fast.join();
      await slow.join();
    });
    expect(trace).toEqual(['slow start', 'fast 0', 'fast 1', 'fast 2', 'slow back as slow']);
  });

  it('identifies the calling task after foreign awaits that interleave with kernel tasks', async () => {
    const seen: string[] = [];
    const local = new Local('none');
    await run(async () => {
      const tasks: Task[] = [];
      for (let i = 0; i < 20; i++) {
        tasks.push(
          spawn(async () => {
            local.set(`v${i}`);
            for (let round = 0; round < 5; round++) {
              // a foreign await resolved at a random moment, then kernel calls
              await delay(Math.floor(Math.random() * 4));
              await sleep(0);
              await new Promise<void>((resolve) => setImmediate(resolve));
              if (currentTask().name !== `w${i}` || local.get() !== `v${i}`) seen.push(`mismatch in w${i}`);
            }
            seen.push(`w${i} done`);
          }, { name: `w${i}` }),
        );
      }
      for (const t of tasks) await t.join();
    });
    expect(seen.filter((s) => s.startsWith('mismatch'))).toEqual([]);
    expect(seen).toHaveLength(20);
  });

  it('a foreign Promise resolved by another task resumes its task correctly', async () => {
    const trace: string[] = [];
    await run(async () => {
      let release!: (v: string) => void;
      const plain = new Promise<string>((resolve) => {
        release = resolve;
      });
      const waiter = spawn(async () => {
        const v = await plain;
        trace.push(`waiter got ${v} as ${currentTask().name}`);
        await sleep(0);
        trace.push('waiter after sleep');
      }, { name: 'waiter' });
      await sleep(5); // long enough for the waiter to be seen in FOREIGN_WAIT
      expect(waiter.state).toBe('FOREIGN_WAIT');
      release('x');
      trace.push('main released');
      await sleep(0);
      trace.push(`main after sleep as ${currentTask().name}`);
      await waiter.join();
    });
    expect(trace).toContain('waiter got x as waiter');
    expect(trace).toContain('main after sleep as main');
    expect(trace.indexOf('waiter got x as waiter')).toBeLessThan(trace.indexOf('waiter after sleep'));
  });

  it('cancelling a task in a raw foreign await takes effect when the Promise settles', async () => {
    const trace: string[] = [];
    await run(async () => {
      // Settled by hand, 10 ms after the cancel: the task is still in its foreign await however
      // slow the machine, and the cancel cannot return before the release.
      let release!: () => void;
      const foreign = new Promise<void>((resolve) => (release = resolve));
      const t = spawn(async () => {
        try {
          await foreign;
          trace.push('promise settled');
          await sleep(0);
          trace.push('not reached');
        } catch (error) {
          trace.push(`caught ${(error as Error).name}`);
          throw error;
        }
      });
      await sleep(2);
      expect(t.state).toBe('FOREIGN_WAIT');
      setTimeout(release, 10);
      const t0 = clock();
      await t.cancel();
      trace.push(`cancel waited ${clock() - t0 >= 9 ? 'for the promise' : 'too little'}`);
    });
    expect(trace).toEqual(['promise settled', 'caught TaskCancelled', 'cancel waited for the promise']);
  });

  it('abortSignal() lets a foreign API be interrupted by cancellation', async () => {
    let outcome = '';
    await run(async () => {
      const t = spawn(async () => {
        await delay(10_000, undefined, { signal: abortSignal() });
      });
      await sleep(2);
      const t0 = clock();
      await t.cancel();
      outcome = `${(t.exception as Error).name} after ${clock() - t0 < 1000 ? 'a moment' : 'too long'}`;
    });
    expect(outcome).toBe('TaskCancelled after a moment');
  });

  it('abortSignal() turns a timeout on a foreign await into TaskTimeout', async () => {
    const result = await run(async () => {
      try {
        await timeoutAfter(5, () => delay(10_000, undefined, { signal: abortSignal() }));
        return 'no timeout';
      } catch (error) {
        return error instanceof TaskTimeout ? 'TaskTimeout' : `other: ${String(error)}`;
      }
    });
    expect(result).toBe('TaskTimeout');
  });

  it('awaitPromise() is cancellable at once and passes values and errors through', async () => {
    const trace: string[] = [];
    await run(async () => {
      trace.push(await awaitPromise(delay(1, 'value')));
      try {
        await awaitPromise(Promise.reject(new Error('boom')));
      } catch (error) {
        trace.push((error as Error).message);
      }
      trace.push(String(await awaitPromise(42)));
      const never = new Promise<never>(() => {});
      const r = await ignoreAfter(5, () => awaitPromise(never), { timeoutResult: 'timed out' });
      trace.push(r);
      const t = spawn(() => awaitPromise(never));
      await sleep(1);
      expect(t.state).toBe('PROMISE_WAIT');
      await t.cancel();
      trace.push(t.exception instanceof TaskCancelled ? 'cancelled at once' : 'not cancelled');
    });
    expect(trace).toEqual(['value', 'boom', '42', 'timed out', 'cancelled at once']);
  });

  it('a task adopted from the stack keeps the baton when a task woken just before it was due to run next', async () => {
    // From one callback with no task holding the baton: a plain Promise a task awaits raw is
    // resolved (its continuation queued first), then another task is woken (the scheduler's
    // job queued after). The resumed task makes a kernel call (adopted: found from the stack),
    // yields a microtask, and makes more: it must still be known as the caller, not lose the
    // baton to the woken task and be "outside a kernel task" (found through a Postgres
    // connect that failed in a TLS socket's data event on the curio runtime).
    await run(async () => {
      let wakeOther: ExternalWake | null = null;
      let resolvePlain: (() => void) | null = null;
      const plain = new Promise<void>((resolve) => (resolvePlain = resolve));
      const other = await spawn(async () => {
        await waitExternal<void>('READ_WAIT', (wake) => {
          wakeOther = wake;
          return () => {};
        });
        return 'other done';
      });
      await sleep(0);
      setTimeout(() => {
        resolvePlain?.();
        wakeOther?.resolve(undefined);
      }, 5);
      await plain;
      const first = clock();
      await Promise.resolve();
      await Promise.resolve();
      const second = clock();
      expect(second).toBeGreaterThanOrEqual(first);
      expect((await currentTask()).name).not.toBe(other.name);
      expect(await other.join()).toBe('other done');
    });
  });

  // Both ways the kernel follows tasks while one is in a raw foreign await: promise hooks, and
  // the stack alone (the first STACK_READS_BEFORE_HOOKS callers of a process, handoff.ts).
  for (const [label, reads, hooks] of [
    ['promise hooks', 0, true],
    ['the stack alone', Infinity, false],
  ] as const) {
    describe(label, () => {
      beforeAll(() => setStackReadsBeforeHooks(reads));
      afterAll(() => setStackReadsBeforeHooks(1000));

      it(`a task resuming from a raw foreign await in the middle of a burst is identified correctly (${label})`, async () => {
        // The parked task's foreign Promise is settled by main's code while main and echo pass the
        // baton back and forth: its continuation runs between their traps, in a Promise job whose
        // reaction was registered before the kernel started following tasks.
        const mismatches: string[] = [];
        const check = (name: string): void => {
          const seen = currentTask().name;
          if (seen !== name) mismatches.push(`${name} seen as ${seen}`);
        };
        let parkedSum = 0;
        let echoed = 0;
        await run(async () => {
          let release!: (v: number) => void;
          const foreign = new Promise<number>((resolve) => (release = resolve));
          const results = new Queue<number>();
          const parked = spawn(async () => {
            const first = await foreign;
            check('parked');
            for (let i = 0; i < 200; i++) {
              await results.put(first + i);
              check('parked');
              if (i % 50 === 0) await new Promise<void>((resolve) => setImmediate(resolve)); // foreign again
              await sleep(0);
              check('parked');
            }
          }, { name: 'parked' });
          const ping = new Queue<number>();
          const pong = new Queue<number>();
          const echo = spawn(async () => {
            for (let i = 0; i < 2000; i++) {
              const v = await ping.get();
              check('echo');
              await pong.put(v);
              echoed++;
            }
          }, { name: 'echo' });
          await sleep(1);
          expect(parked.state).toBe('FOREIGN_WAIT');
          expect(followingTasks()).toBe(hooks);
          for (let i = 0; i < 2000; i++) {
            if (i === 500) release(1000);
            await ping.put(i);
            check('main');
            expect(await pong.get()).toBe(i);
            check('main');
          }
          for (let i = 0; i < 200; i++) parkedSum += await results.get();
          await echo.join();
          await parked.join();
          expect(followingTasks()).toBe(false);
        }, { name: 'main' });
        expect(mismatches).toEqual([]);
        expect(echoed).toBe(2000);
        expect(parkedSum).toBe(200 * 1000 + (199 * 200) / 2);
      });

      it(`tasks trapping beside a task looping over fs.promises.stat are identified correctly (${label})`, async () => {
        const mismatches: string[] = [];
        const local = new Local('none');
        await run(async () => {
          let stop = false;
          let stats = 0;
          const statter = spawn(async () => {
            local.set('statter');
            while (!stop) {
              await fsp.stat('.');
              stats++;
              if (stats % 3 === 0) {
                await sleep(0);
                if (currentTask().name !== 'statter' || local.get() !== 'statter') mismatches.push('statter');
              }
            }
          }, { name: 'statter' });
          const workers = Array.from({ length: 4 }, (_, w) =>
            spawn(async () => {
              local.set(`w${w}`);
              for (let i = 0; i < 300; i++) {
                await sleep(0);
                if (currentTask().name !== `w${w}` || local.get() !== `w${w}`) mismatches.push(`w${w}`);
                if (i % 100 === 0) await fsp.stat('.');
              }
            }, { name: `w${w}` }),
          );
          for (const t of workers) await t.join();
          while (stats < 5) await sleep(1);
          stop = true;
          await statter.join();
        });
        expect(mismatches).toEqual([]);
        expect(followingTasks()).toBe(false);
      });

      it(`Promise.all of two joins in one task works while a foreign wait exists (${label})`, async () => {
        // The first join keeps the baton to the end of the expression; the second makes both
        // operations of the task (kernel.ts, waitAside), also while callers are found from the stack.
        const outcome = await run(async () => {
          let release!: () => void;
          const parked = spawn(() => new Promise<void>((resolve) => (release = resolve)));
          await sleep(1);
          expect(parked.state).toBe('FOREIGN_WAIT');
          const a = spawn(async () => {
            await sleep(2);
            return 'a';
          });
          const b = spawn(async () => {
            await sleep(1);
            return 'b';
          });
          const both = spawn(async () => Promise.all([a.join(), b.join()]));
          const joined = await both.join();
          release();
          await parked.join();
          return joined;
        });
        expect(outcome).toEqual(['a', 'b']);
      });

    });
  }

  it('following switches from the stack to promise hooks once the stack budget is spent, in the middle of a foreign wait, and callers stay right', async () => {
    setStackReadsBeforeHooks(200);
    try {
      const mismatches: string[] = [];
      const following: boolean[] = [];
      await run(async () => {
        let release!: () => void;
        const parked = spawn(async () => {
          await new Promise<void>((resolve) => (release = resolve));
          for (let i = 0; i < 50; i++) {
            await sleep(0);
            if (currentTask().name !== 'parked') mismatches.push('parked');
          }
        }, { name: 'parked' });
        await sleep(1);
        expect(parked.state).toBe('FOREIGN_WAIT');
        following.push(followingTasks());
        const workers = Array.from({ length: 2 }, (_, w) =>
          spawn(async () => {
            for (let i = 0; i < 300; i++) {
              await sleep(0);
              if (currentTask().name !== `w${w}`) mismatches.push(`w${w}`);
            }
          }, { name: `w${w}` }),
        );
        for (const worker of workers) await worker.join();
        following.push(followingTasks());
        release();
        await parked.join();
        following.push(followingTasks());
      });
      expect(mismatches).toEqual([]);
      // Not at the start of the wait, on after 600 traps had been followed from the stack, off
      // once the wait had ended.
      expect(following).toEqual([false, true, false]);
    } finally {
      setStackReadsBeforeHooks(1000);
    }
  });

  it('two waits in one expression: joins and sleeps work, any other second blocking call is refused at once with a typed error (no foreign wait, no debug)', async () => {
    const codeOf = (error: unknown): string => (error instanceof KernelUsageError ? error.code : String(error));
    const attempt = async (fn: () => Promise<unknown>): Promise<string> => {
      try {
        return `no error ${JSON.stringify(await fn())}`;
      } catch (error) {
        return codeOf(error);
      }
    };
    const outcome = await run(async () => {
      const seen: string[] = [];
      // Joins of tasks just spawned, and of tasks that already run: both work, in any combination.
      const joins = spawn(async () => {
        const a = spawn(async () => {
          await sleep(5);
          return 'a';
        });
        const b = spawn(async () => {
          await sleep(10);
          return 'b';
        });
        return attempt(() => Promise.all([a.join(), b.join()]));
      });
      seen.push(await joins.join());
      const running = [1, 2, 3].map((i) =>
        spawn(async () => {
          await sleep(i * 3);
          return i;
        }),
      );
      await sleep(1);
      seen.push(await attempt(() => Promise.race(running.map((t) => t.join()))));
      seen.push(await attempt(() => Promise.all([sleep(4).then(() => 'slept'), running[2]!.join()])));
      seen.push(await attempt(() => Promise.all([sleep(2), sleep(4)]).then((clocks) => clocks.length)));
      // A refused task is still blocked in its first call, so it must not block again: each
      // refused attempt below is the last thing its task does.
      const queue = new Queue<number>();
      const mixed = spawn(async () => {
        spawn(async () => {
          await sleep(5);
          await queue.put(7);
        });
        return attempt(() => Promise.all([sleep(1), queue.get()]));
      });
      seen.push(await mixed.join());
      // The item nobody took is still there.
      seen.push(String(await queue.get()));
      // A queue first passes the baton at once: to a task that has not begun, the next call is
      // refused; when nothing holds it, the call says so.
      const never = new Queue<number>();
      const toFresh = spawn(async () => {
        const b = spawn(async () => 'b');
        return attempt(() => Promise.all([never.get(), b.join()]));
      });
      seen.push(await toFresh.join());
      const alone = spawn(async () => {
        try {
          await Promise.all([never.get(), sleep(2)]);
          return 'no error';
        } catch (error) {
          return `${codeOf(error)} ${/One wait at a time per task/.test(String(error)) ? 'with hint' : 'no hint'}`;
        }
      });
      seen.push(await alone.join());
      return seen;
    });
    expect(outcome).toEqual([
      'no error ["a","b"]',
      'no error 1',
      'no error ["slept",3]',
      'no error 2',
      'ERR_NOT_AWAITED',
      '7',
      'ERR_NOT_AWAITED',
      'ERR_OUTSIDE_KERNEL with hint',
    ]);
  });

  it('two waits in one expression settle in the order they ended, also when both ended before the task ran again', async () => {
    // The event loop is held busy past every deadline, so the joined tasks (or sleeps) all end
    // in one burst, before the racing task's turn: the first to end must still win.
    const holdEventLoop = (ms: number): void => {
      setTimeout(() => {
        const start = performance.now();
        while (performance.now() - start < ms);
      }, 0);
    };
    const outcome = await run(async () => {
      const seen: unknown[] = [];
      for (const hold of [0, 12]) {
        const running = [1, 2, 3].map((i) =>
          spawn(async () => {
            await sleep(i * 3);
            return i;
          }),
        );
        holdEventLoop(hold);
        await sleep(1);
        seen.push(await Promise.race(running.map((t) => t.join())));
        for (const t of running) await t.join();
        holdEventLoop(hold);
        seen.push(await Promise.race([sleep(3).then(() => 'sleep 3'), sleep(6).then(() => 'sleep 6')]));
      }
      return seen;
    });
    expect(outcome).toEqual([1, 'sleep 3', 1, 'sleep 3']);
  });

  it('the refusal of a second blocking call names the rule', async () => {
    const message = await run(async () => {
      const refused = spawn(async () => {
        const never = new Queue<number>();
        const b = spawn(async () => 2);
        try {
          await Promise.all([never.get(), b.join()]);
          return 'no error';
        } catch (error) {
          return String(error);
        }
      });
      return refused.join();
    });
    expect(message).toMatch(/ERR_NOT_AWAITED|same expression/);
    expect(message).toContain('One wait at a time per task');
  });

  it('a debug kernel reports long foreign awaits through the error hook', async () => {
    const reports: KernelErrorInfo[] = [];
    await run(
      async () => {
        await delay(30);
        await sleep(0);
      },
      { debug: { longForeignAwaitMs: 10 }, onError: (_e, info) => reports.push(info) },
    );
    expect(reports.map((r) => r.reason)).toEqual(['long-foreign-await']);
    expect(reports[0]?.message).toMatch(/awaitPromise/);
  });
});

describe('the virtual clock', () => {
  it('starts at 0 and jumps exactly to deadlines', async () => {
    const trace: string[] = [];
    await run(
      async () => {
        trace.push(`start ${clock()}`);
        const t = spawn(async () => {
          await sleep(250);
          trace.push(`child ${clock()}`);
        });
        await sleep(1000);
        trace.push(`main ${clock()}`);
        await t.join();
        const r = await ignoreAfter(3_600_000, () => sleep(7_200_000), { timeoutResult: 'hour' });
        trace.push(`${r} ${clock()}`);
      },
      { clock: 'virtual' },
    );
    expect(trace).toEqual(['start 0', 'child 250', 'main 1000', 'hour 3601000']);
  });

  it('equal deadlines wake in task-id order in one cycle', async () => {
    const trace: string[] = [];
    await run(
      async () => {
        const tasks: Task[] = [];
        for (const name of ['c', 'a', 'b']) {
          tasks.push(
            spawn(async () => {
              await sleep(100);
              trace.push(`${name}@${clock()}`);
            }),
          );
        }
        for (const t of tasks) await t.join();
      },
      { clock: 'virtual' },
    );
    expect(trace).toEqual(['c@100', 'a@100', 'b@100']);
  });

  it('does not jump while a task waits on a foreign Promise', async () => {
    const trace: string[] = [];
    await run(
      async () => {
        const sleeper = spawn(async () => {
          await sleep(10_000);
          trace.push(`sleeper ${clock()}`);
        });
        const external = spawn(async () => {
          await awaitPromise(delay(20));
          trace.push(`external done at ${clock()}`);
        });
        await external.join();
        await sleeper.join();
      },
      { clock: 'virtual' },
    );
    expect(trace).toEqual(['external done at 0', 'sleeper 10000']);
  });

  it('rejects NaN durations and treats negative ones as 0', async () => {
    await run(
      async () => {
        await expect(sleep(Number.NaN)).rejects.toThrow(TypeError);
        await expect(timeoutAfter(Number.NaN, () => sleep(1))).rejects.toThrow(TypeError);
        const t0 = clock();
        await sleep(-50);
        expect(clock()).toBe(t0);
        await expect(timeoutAfter(-5, () => sleep(10))).rejects.toBeInstanceOf(TaskTimeout);
      },
      { clock: 'virtual' },
    );
  });
});

describe('the Kernel object and plain Promise code', () => {
  it('runs several top-level tasks from plain code and shuts down cleanly', async () => {
    const kernel = new Kernel({ clock: 'virtual' });
    const q = new Queue<number>();
    const consumer = kernel.runTask(async () => {
      let sum = 0;
      for (let i = 0; i < 3; i++) sum += await q.get();
      return sum;
    });
    const producer = kernel.runTask(async () => {
      for (const n of [1, 2, 3]) {
        await sleep(10);
        await q.put(n);
      }
      return 'produced';
    });
    expect(await Promise.all([consumer, producer])).toEqual([6, 'produced']);
    const forever = kernel.runTask(() => new Event().wait());
    await kernel.shutdown();
    await expect(forever).rejects.toBeInstanceOf(TaskCancelled);
    await expect(kernel.runTask(async () => 1)).rejects.toBeInstanceOf(KernelClosedError);
  });

  it('run() rejects with the main task\'s own error', async () => {
    class Boom extends Error {}
    await expect(
      run(async () => {
        throw new Boom('main failed');
      }),
    ).rejects.toBeInstanceOf(Boom);
  });

  it('cancels remaining tasks when main ends', async () => {
    const trace: string[] = [];
    await run(async () => {
      spawn(async () => {
        try {
          await new Event().wait();
        } catch (error) {
          trace.push(error instanceof CancelledError ? 'leftover cancelled' : 'other');
          throw error;
        }
      });
      await schedule();
      trace.push('main ends');
    });
    expect(trace).toEqual(['main ends', 'leftover cancelled']);
  });

  it('run() inside a kernel task is a typed error', async () => {
    await run(async () => {
      await expect(run(async () => 1)).rejects.toMatchObject({ code: 'ERR_NESTED_RUN' });
    });
  });

  it('kernel calls outside any task are typed errors', () => {
    expect(() => spawn(async () => 1)).toThrow(KernelUsageError);
    expect(() => currentTask()).toThrow(/outside a kernel task/);
    expect(() => clock()).toThrowError(expect.objectContaining({ code: 'ERR_OUTSIDE_KERNEL' }));
  });

  it('plain code can set events and put to queues that tasks wait on', async () => {
    const ev = new Event();
    const q = new Queue<string>();
    const result = run(async () => {
      await ev.wait();
      return q.get();
    });
    setTimeout(() => {
      ev.set();
      void q.put('from outside');
    }, 5);
    expect(await result).toBe('from outside');
  });

  it('plain code can cancel and wait for a task', async () => {
    let task: Task | null = null;
    const kernel = new Kernel();
    const main = kernel.runTask(async () => {
      task = spawn(() => new Event().wait(), { name: 'victim' });
      await sleep(1000);
    });
    await delay(5);
    const victim = task as unknown as Task;
    expect(victim.state).toBe('EVENT_WAIT');
    await victim.cancel();
    expect(victim.terminated).toBe(true);
    expect(victim.exception).toBeInstanceOf(TaskCancelled);
    await kernel.shutdown();
    await expect(main).rejects.toBeInstanceOf(TaskCancelled);
  });

  it('plain code resumed in the middle of the kernel\'s work is still recognised as plain code', async () => {
    // Plain code awaiting runTask() resumes while the kernel is busy handing control between
    // tasks; its kernel calls must not be attributed to the task that holds the baton.
    const kernel = new Kernel();
    const release = new Event();
    const tasks = await kernel.runTask(async () => ({
      a: spawn(() => release.wait(), { name: 'a' }),
      b: spawn(() => release.wait(), { name: 'b' }),
      busy: spawn(async () => {
        for (let i = 0; i < 1000; i++) await schedule();
      }),
    }));
    release.set();
    await tasks.a.wait();
    await tasks.b.wait();
    await tasks.busy.join();
    expect([tasks.a.state, tasks.b.state]).toEqual(['TERMINATED', 'TERMINATED']);
    await kernel.shutdown();
  });

  it('shutdown also ends a task that caught an earlier cancellation and carried on', async () => {
    const trace: string[] = [];
    const kernel = new Kernel();
    await kernel.runTask(async () => {
      const stubborn = spawn(async () => {
        try {
          await new Event().wait();
        } catch {
          trace.push('caught the first cancel');
        }
        try {
          await new Event().wait();
        } catch (error) {
          trace.push(`shutdown: ${(error as Error).name}`);
          throw error;
        }
      });
      await schedule();
      await stubborn.cancel({ blocking: false });
      await schedule();
    });
    await kernel.shutdown();
    expect(trace).toEqual(['caught the first cancel', 'shutdown: TaskCancelled']);
  });

  it('reports errors nobody looked at through the error hook, and not those that were', async () => {
    const reports: [unknown, KernelErrorInfo][] = [];
    await run(
      async () => {
        const lost = spawn(async () => {
          throw new Error('nobody looks at me');
        }, { name: 'lost' });
        const seen = spawn(async () => {
          throw new Error('joined');
        });
        const cancelled = spawn(() => new Event().wait());
        await lost.wait();
        await expect(seen.join()).rejects.toMatchObject({ code: 'ERR_TASK_CRASHED' });
        await cancelled.cancel();
      },
      { onError: (error, info) => reports.push([error, info]) },
    );
    expect(reports).toHaveLength(1);
    expect((reports[0]?.[0] as Error).message).toBe('nobody looks at me');
    expect(reports[0]?.[1].reason).toBe('unobserved-task-error');
    expect(reports[0]?.[1].message).toMatch(/lost/);
  });
});

describe('debugging aids', () => {
  it('where() names the wait and, with debug, the source line of the await', async () => {
    await run(
      async () => {
        const t = spawn(async () => {
          await new Event().wait(); // where() should point here
        });
        await schedule();
        expect(t.where()).toMatch(/^EVENT_WAIT at .*handoff\.test\.ts:\d+/);
        const s = spawn(() => sleep(500));
        await schedule();
        expect(s.where()).toMatch(/^TIME_SLEEP \(until clock \d+/);
        await t.cancel();
        await s.cancel();
      },
      { debug: true },
    );
  });

  it('without debug, where() names the wait only', async () => {
    await run(async () => {
      const t = spawn(() => new Event().wait());
      await schedule();
      expect(t.where()).toBe('EVENT_WAIT');
      await t.cancel();
    });
  });

  it('a debug kernel catches a kernel call that was not awaited', async () => {
    const outcome = await run(
      async () => {
        void new Queue<number>().get(); // forgot the await: the task keeps running while "blocked"
        try {
          await sleep(1);
          return 'not detected';
        } catch (error) {
          return (error as KernelUsageError).code;
        }
      },
      { debug: true, onError: () => {} },
    );
    expect(outcome).toBe('ERR_NOT_AWAITED');
  });
});

describe('explicit resource management on Node 20', () => {
  it('provides SuppressedError for await using', async () => {
    expect(typeof (globalThis as { SuppressedError?: unknown }).SuppressedError).toBe('function');
    let caught: unknown;
    try {
      await using _resource = {
        async [Symbol.asyncDispose]() {
          throw new Error('dispose failed');
        },
      };
      throw new Error('body failed');
    } catch (error) {
      caught = error;
    }
    expect((caught as { name: string }).name).toBe('SuppressedError');
    expect(((caught as { error: Error }).error).message).toBe('dispose failed');
    expect(((caught as { suppressed: Error }).suppressed).message).toBe('body failed');
  });
});
