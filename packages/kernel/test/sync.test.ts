// sync.test.ts
//
// Port of Curio's tests/test_sync.py (Event, Lock, RLock, Semaphore, Condition, Result), plus
// tests for what the port adds or pins down: BoundedSemaphore, FIFO hand-off with several
// waiters, the `using` / `scope` forms releasing on error, ownership and usage errors.
// The Universal* classes (thread- and asyncio-safe variants) belong to a later issue.
//
// Every test records what each task does and asserts the exact sequence, as Curio's tests do.
// Curio's seconds become milliseconds on the virtual clock.

import { describe, expect, it } from 'vitest';
import {
  BoundedSemaphore,
  CancelledError,
  Condition,
  Event,
  Lock,
  RLock,
  Result,
  Semaphore,
  TaskCancelled,
  TaskTimeout,
  clock,
  sleep,
  spawn,
  timeoutAfter,
} from '@curio-ts/kernel';
import { rejected, runClean, thrown, usageCode } from './helpers.js';

/** Curio's main task of the cancel tests: spawn `worker`, sleep 1000 ms, then cancel it. */
async function sleepThenCancel(results: unknown[], worker: () => Promise<void>): Promise<void> {
  const task = spawn(worker);
  results.push('sleep');
  await sleep(1000);
  results.push('cancel_start');
  await task.cancel();
  results.push('cancel_done');
}

/** Curio's main task of the timeout tests: spawn `worker`, sleep 1000 ms (then record `woke`), join it. */
async function sleepThenJoin(results: unknown[], worker: () => Promise<void>, woke: string): Promise<void> {
  const task = spawn(worker);
  results.push('sleep');
  await sleep(1000);
  results.push(woke);
  await task.join();
}

// ---------------------------------------------------------------------------------------------
// Event

describe('Event', () => {
  it('test_event_get_wait', async () => {
    const results: unknown[] = [];
    async function eventSetter(evt: Event, ms: number): Promise<void> {
      results.push('sleep');
      await sleep(ms);
      results.push('event_set');
      evt.set();
    }
    async function eventWaiter(evt: Event): Promise<void> {
      results.push('wait_start');
      results.push(evt.isSet());
      await evt.wait();
      results.push('wait_done');
      results.push(evt.isSet());
      evt.clear();
      results.push(evt.isSet());
    }
    await runClean(async () => {
      const evt = new Event();
      const t1 = spawn(() => eventWaiter(evt));
      const t2 = spawn(() => eventSetter(evt, 1000));
      await t1.join();
      await t2.join();
    });
    expect(results).toEqual(['wait_start', false, 'sleep', 'event_set', 'wait_done', true, false]);
  });

  it('test_event_get_immediate', async () => {
    const results: unknown[] = [];
    async function eventSetter(evt: Event): Promise<void> {
      results.push('event_set');
      evt.set();
    }
    async function eventWaiter(evt: Event, ms: number): Promise<void> {
      results.push('sleep');
      await sleep(ms);
      results.push('wait_start');
      await evt.wait();
      results.push('wait_done');
    }
    await runClean(async () => {
      const evt = new Event();
      const t1 = spawn(() => eventWaiter(evt, 1000));
      const t2 = spawn(() => eventSetter(evt));
      await t1.join();
      await t2.join();
    });
    expect(results).toEqual(['sleep', 'event_set', 'wait_start', 'wait_done']);
  });

  it('test_event_wait_cancel', async () => {
    const results: unknown[] = [];
    async function eventWaiter(evt: Event): Promise<void> {
      results.push('event_wait');
      try {
        await evt.wait();
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        results.push('event_cancel');
      }
    }
    await runClean(async () => {
      const evt = new Event();
      await sleepThenCancel(results, () => eventWaiter(evt));
      results.push(`waiters=${evt.waiters}`);
    });
    expect(results).toEqual(['sleep', 'event_wait', 'cancel_start', 'event_cancel', 'cancel_done', 'waiters=0']);
  });

  it('test_event_wait_timeout', async () => {
    const results: unknown[] = [];
    async function eventWaiter(evt: Event): Promise<void> {
      results.push('event_wait');
      try {
        await timeoutAfter(500, () => evt.wait());
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push('event_timeout');
        results.push(clock());
      }
    }
    await runClean(async () => {
      const evt = new Event();
      await sleepThenJoin(results, () => eventWaiter(evt), 'sleep_done');
    });
    expect(results).toEqual(['sleep', 'event_wait', 'event_timeout', 500, 'sleep_done']);
  });

  it('test_event_wait_notimeout', async () => {
    const results: unknown[] = [];
    /** Wait with `wait` and record 'got event', or record `onTimeout` if it times out. */
    async function waitOrRecord(wait: () => Promise<void>, onTimeout: string): Promise<void> {
      try {
        await wait();
        results.push('got event');
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push(onTimeout);
      }
    }
    async function eventWaiter(evt: Event): Promise<void> {
      results.push('event_wait');
      await waitOrRecord(() => timeoutAfter(1000, () => evt.wait()), 'event_timeout');
      evt.clear();
      await waitOrRecord(() => evt.wait(), 'bad timeout');
    }
    await runClean(async () => {
      const evt = new Event();
      const task = spawn(() => eventWaiter(evt));
      results.push('sleep');
      await sleep(250);
      results.push('event_set');
      evt.set();
      await sleep(1000);
      results.push('event_set');
      evt.set();
      await task.join();
    });
    expect(results).toEqual(['sleep', 'event_wait', 'event_set', 'got event', 'event_set', 'got event']);
  });
});

// ---------------------------------------------------------------------------------------------
// Lock and Semaphore() as a mutex

/** A Lock or a Semaphore of one unit, and how the tests show its state. */
interface MutexCase<M extends Lock | Semaphore> {
  /** test_sync.py's name for it: the tests are test_<prefix>_sequence and so on. */
  prefix: string;
  make: () => M;
  /** Its state, as the trace records it. */
  state: (m: M) => string;
  /** `state` while a task holds it, and once it is free again. */
  held: string;
  free: string;
}

/** The three tests that test_sync.py runs on both Lock and Semaphore. */
function mutexTests<M extends Lock | Semaphore>({ prefix, make, state, held, free }: MutexCase<M>): void {
  it(`test_${prefix}_sequence`, async () => {
    const results: unknown[] = [];
    const states: string[] = [];
    async function worker(lck: M, label: string): Promise<void> {
      results.push(`${label} wait`);
      results.push(lck.locked());
      await lck.scope(async () => {
        states.push(state(lck));
        results.push(`${label} acquire`);
        await sleep(250);
      });
      results.push(`${label} release`);
    }
    await runClean(async () => {
      const lck = make();
      const t1 = spawn(() => worker(lck, 'work1'));
      const t2 = spawn(() => worker(lck, 'work2'));
      const t3 = spawn(() => worker(lck, 'work3'));
      await t1.join();
      await t2.join();
      await t3.join();
    });
    expect(results).toEqual([
      'work1 wait',
      false,
      'work1 acquire',
      'work2 wait',
      true,
      'work3 wait',
      true,
      'work1 release',
      'work2 acquire',
      'work2 release',
      'work3 acquire',
      'work3 release',
    ]);
    expect(states).toEqual([held, held, held]);
  });

  it(`test_${prefix}_acquire_cancel`, async () => {
    const results: unknown[] = [];
    async function worker(lck: M): Promise<void> {
      results.push('lock_wait');
      try {
        await lck.scope(() => {
          results.push('never here');
        });
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        results.push('lock_cancel');
      }
    }
    await runClean(async () => {
      const lck = make();
      await lck.scope(() => sleepThenCancel(results, () => worker(lck)));
      results.push(`${state(lck)} waiters=${lck.waiters}`);
    });
    expect(results).toEqual(['sleep', 'lock_wait', 'cancel_start', 'lock_cancel', 'cancel_done', `${free} waiters=0`]);
  });

  it(`test_${prefix}_acquire_timeout`, async () => {
    const results: unknown[] = [];
    async function worker(lck: M): Promise<void> {
      results.push('lock_wait');
      try {
        await timeoutAfter<Lock | Semaphore>(500, () => lck.acquire());
        results.push('never here');
        lck.release();
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push('lock_timeout');
      }
    }
    await runClean(async () => {
      const lck = make();
      await lck.scope(() => sleepThenJoin(results, () => worker(lck), 'sleep_done'));
      results.push(state(lck));
    });
    expect(results).toEqual(['sleep', 'lock_wait', 'lock_timeout', 'sleep_done', free]);
  });
}

// ---------------------------------------------------------------------------------------------
// Lock

describe('Lock', () => {
  mutexTests({
    prefix: 'lock',
    make: () => new Lock(),
    state: (lck) => `locked=${lck.locked()}`,
    held: 'locked=true',
    free: 'locked=false',
  });

  it('release of an unlocked Lock is a KernelUsageError', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const lck = new Lock();
      results.push(usageCode(thrown(() => lck.release())));
      await lck.acquire();
      lck.release();
      results.push(usageCode(thrown(() => lck.release())));
      results.push(lck.locked());
    });
    expect(results).toEqual(['ERR_NOT_ACQUIRED', 'ERR_NOT_ACQUIRED', false]);
  });

  it('hands the lock to waiters in arrival order; a releaser that re-acquires goes to the back', async () => {
    const results: unknown[] = [];
    async function worker(lck: Lock, label: string): Promise<void> {
      for (let round = 0; round < 2; round++) {
        results.push(`${label} wait ${round}`);
        await lck.acquire();
        results.push(`${label} got ${round}`);
        // Release and immediately try again without yielding: the lock was handed to the
        // next waiter, so this acquire waits at the back of the line.
        lck.release();
      }
      results.push(`${label} done`);
    }
    await runClean(async () => {
      const lck = new Lock();
      await lck.acquire();
      const tasks = ['w1', 'w2', 'w3'].map((label) => spawn(() => worker(lck, label)));
      await sleep(10);
      results.push(`main release waiters=${lck.waiters}`);
      lck.release();
      results.push(`main locked=${lck.locked()}`);
      // main re-acquires: it queues behind the three workers' second rounds.
      await lck.acquire();
      results.push('main got');
      lck.release();
      for (const t of tasks) await t.join();
      results.push(`locked=${lck.locked()}`);
    });
    expect(results).toEqual([
      'w1 wait 0',
      'w2 wait 0',
      'w3 wait 0',
      'main release waiters=3',
      'main locked=true',
      'w1 got 0',
      'w1 wait 1',
      'w2 got 0',
      'w2 wait 1',
      'w3 got 0',
      'w3 wait 1',
      'main got',
      'w1 got 1',
      'w1 done',
      'w2 got 1',
      'w2 done',
      'w3 got 1',
      'w3 done',
      'locked=false',
    ]);
  });

  it('a waiter cancelled while waiting leaves the line; the others keep their order', async () => {
    const results: unknown[] = [];
    async function worker(lck: Lock, label: string): Promise<void> {
      try {
        using _held = await lck.acquire();
        results.push(`${label} got @${clock()}`);
        await sleep(10);
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        results.push(`${label} cancelled`);
      }
    }
    await runClean(async () => {
      const lck = new Lock();
      await lck.acquire();
      const w1 = spawn(() => worker(lck, 'w1'));
      const w2 = spawn(() => worker(lck, 'w2'));
      const w3 = spawn(() => worker(lck, 'w3'));
      await sleep(5);
      await w2.cancel();
      results.push(`waiters=${lck.waiters}`);
      lck.release();
      await w1.join();
      await w3.join();
      results.push(`locked=${lck.locked()} @${clock()}`);
    });
    expect(results).toEqual(['w2 cancelled', 'waiters=2', 'w1 got @5', 'w3 got @15', 'locked=false @25']);
  });

  it('a waiter handed the lock and cancelled before it runs still gets it; the cancel arrives at its next blocking call', async () => {
    const results: unknown[] = [];
    async function worker(lck: Lock, label: string): Promise<void> {
      try {
        using _held = await lck.acquire();
        results.push(`${label} got, locked=${lck.locked()}`);
        await sleep(10);
        results.push(`${label} slept`);
      } catch (error) {
        if (!(error instanceof TaskCancelled)) throw error;
        results.push(`${label} cancelled, locked=${lck.locked()}`);
      }
    }
    await runClean(async () => {
      const lck = new Lock();
      await lck.acquire();
      const w1 = spawn(() => worker(lck, 'w1'));
      const w2 = spawn(() => worker(lck, 'w2'));
      await sleep(1);
      lck.release(); // w1 now owns the lock but has not run yet
      results.push(`released, locked=${lck.locked()}`);
      await w1.cancel({ blocking: false });
      results.push('cancel requested');
      await w1.join();
      results.push('w1 joined');
      await w2.join();
      results.push(`locked=${lck.locked()}`);
    });
    expect(results).toEqual([
      'released, locked=true',
      'cancel requested',
      'w1 got, locked=true',
      'w1 cancelled, locked=true', // its `using` handed the lock on to w2
      'w2 got, locked=true',
      'w1 joined',
      'w2 slept',
      'locked=false',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// RLock

describe('RLock', () => {
  it('test_rlock_reenter', async () => {
    const results: unknown[] = [];
    async function inner(lck: RLock, label: string): Promise<void> {
      results.push(lck.locked());
      await lck.scope(() => {
        results.push(`${label} inner acquired`);
        results.push(`${label} inner releasing`);
      });
    }
    async function worker(lck: RLock, label: string): Promise<void> {
      results.push(lck.locked());
      results.push(`${label} wait`);
      await lck.scope(async () => {
        results.push(`${label} acquired`);
        await sleep(250);
        await inner(lck, label);
        results.push(`${label} releasing`);
      });
    }
    async function workerSimple(lck: RLock): Promise<void> {
      results.push('simple wait');
      await lck.scope(() => {
        results.push('simple acquired');
        results.push('simple releasing');
      });
    }
    await runClean(async () => {
      const lck = new RLock();
      const t1 = spawn(() => worker(lck, 'work1'));
      const t2 = spawn(() => worker(lck, 'work2'));
      const t3 = spawn(() => workerSimple(lck));
      await t1.join();
      await t2.join();
      await t3.join();
    });
    expect(results).toEqual([
      false,
      'work1 wait',
      'work1 acquired',
      true,
      'work2 wait',
      'simple wait',
      true,
      'work1 inner acquired',
      'work1 inner releasing',
      'work1 releasing',
      'work2 acquired',
      true,
      'work2 inner acquired',
      'work2 inner releasing',
      'work2 releasing',
      'simple acquired',
      'simple releasing',
    ]);
  });

  it('test_rlock_notowner', async () => {
    const results: unknown[] = [];
    async function child1(lck: RLock): Promise<void> {
      await lck.acquire();
      results.push('child1 acquired');
      await sleep(250);
      lck.release();
      results.push('child1 released');
    }
    async function child2(lck: RLock): Promise<void> {
      await sleep(100);
      results.push(usageCode(thrown(() => lck.release())));
      results.push(`child2 locked=${lck.locked()}`);
    }
    await runClean(async () => {
      const lck = new RLock();
      results.push(usageCode(thrown(() => lck.release())));
      const t1 = spawn(() => child1(lck));
      const t2 = spawn(() => child2(lck));
      await t1.join();
      await t2.join();
      results.push(`locked=${lck.locked()}`);
    });
    expect(results).toEqual([
      'ERR_NOT_ACQUIRED',
      'child1 acquired',
      'ERR_NOT_OWNER',
      'child2 locked=true',
      'child1 released',
      'locked=false',
    ]);
  });

  it('a non-owner release leaves the recursion count alone; the owner must still release as often as it acquired', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const lck = new RLock();
      await lck.acquire();
      await lck.acquire();
      const other = spawn(async () => {
        results.push(`other release: ${usageCode(thrown(() => lck.release()))}`);
        results.push('other wait');
        await lck.acquire();
        results.push(`other got @${clock()}`);
        lck.release();
      });
      await sleep(10);
      lck.release();
      results.push(`main released once, locked=${lck.locked()}`);
      await sleep(10);
      lck.release();
      results.push('main released twice');
      results.push(`main release again: ${usageCode(thrown(() => lck.release()))}`);
      await other.join();
      results.push(`locked=${lck.locked()}`);
    });
    expect(results).toEqual([
      'other release: ERR_NOT_OWNER',
      'other wait',
      'main released once, locked=true',
      'main released twice',
      'main release again: ERR_NOT_ACQUIRED',
      'other got @20',
      'locked=false',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Semaphore

describe('Semaphore', () => {
  mutexTests({
    prefix: 'sema',
    make: () => new Semaphore(),
    state: (sema) => `value=${sema.value}`,
    held: 'value=0',
    free: 'value=1',
  });

  it('test_sema_sequence2', async () => {
    const results: unknown[] = [];
    async function worker(sema: Semaphore, label: string, ms: number): Promise<void> {
      results.push(`${label} wait`);
      results.push(sema.locked());
      await sema.scope(async () => {
        results.push(`${label} acquire`);
        await sleep(ms);
      });
      results.push(`${label} release`);
    }
    await runClean(async () => {
      const sema = new Semaphore(2);
      const t1 = spawn(() => worker(sema, 'work1', 250));
      const t2 = spawn(() => worker(sema, 'work2', 300));
      const t3 = spawn(() => worker(sema, 'work3', 350));
      await t1.join();
      await t2.join();
      await t3.join();
    });
    expect(results).toEqual([
      'work1 wait', // Both work1 and work2 admitted
      false,
      'work1 acquire',
      'work2 wait',
      false,
      'work2 acquire',
      'work3 wait',
      true,
      'work1 release',
      'work3 acquire',
      'work2 release',
      'work3 release',
    ]);
  });

  it('hands units to waiters in arrival order; a late acquirer cannot barge ahead', async () => {
    const results: unknown[] = [];
    async function worker(sema: Semaphore, label: string, hold: number): Promise<void> {
      results.push(`${label} wait`);
      await sema.acquire();
      results.push(`${label} got @${clock()}`);
      await sleep(hold);
      results.push(`${label} release @${clock()}`);
      sema.release();
    }
    await runClean(async () => {
      const sema = new Semaphore(2);
      const tasks = [
        spawn(() => worker(sema, 'w1', 55)),
        spawn(() => worker(sema, 'w2', 30)),
        spawn(() => worker(sema, 'w3', 10)),
        spawn(() => worker(sema, 'w4', 10)),
        spawn(() => worker(sema, 'w5', 10)),
      ];
      await sleep(1);
      results.push(`main wait, waiters=${sema.waiters}`);
      await sema.acquire();
      results.push(`main got @${clock()}`);
      sema.release();
      for (const t of tasks) await t.join();
      results.push(`value=${sema.value}`);
    });
    expect(results).toEqual([
      'w1 wait',
      'w1 got @0',
      'w2 wait',
      'w2 got @0',
      'w3 wait',
      'w4 wait',
      'w5 wait',
      'main wait, waiters=3',
      'w2 release @30',
      'w3 got @30',
      'w3 release @40',
      'w4 got @40',
      'w4 release @50',
      'w5 got @50',
      'w1 release @55',
      'main got @55',
      'w5 release @60',
      'value=2',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// BoundedSemaphore

describe('BoundedSemaphore', () => {
  it('refuses to be released above its initial value', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const sema = new BoundedSemaphore(2);
      results.push(`over-release at start: ${usageCode(thrown(() => sema.release()))}`);
      await sema.acquire();
      await sema.acquire();
      results.push(`value=${sema.value} locked=${sema.locked()}`);
      sema.release();
      sema.release();
      results.push(`value=${sema.value}`);
      const error = thrown(() => sema.release());
      results.push(`over-release: ${usageCode(error)}`);
      results.push(`value=${sema.value}`);
    });
    expect(results).toEqual([
      'over-release at start: ERR_SEMAPHORE_BOUND',
      'value=0 locked=true',
      'value=2',
      'over-release: ERR_SEMAPHORE_BOUND',
      'value=2',
    ]);
  });

  it('a release that hands the unit to a waiter is fine; one more than acquired is not', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const sema = new BoundedSemaphore(1);
      await sema.acquire();
      const waiter = spawn(async () => {
        results.push('waiter wait');
        await sema.acquire();
        results.push(`waiter got, value=${sema.value}`);
        sema.release();
        results.push(`waiter released, value=${sema.value}`);
      });
      await sleep(10);
      sema.release(); // handed to the waiter: no error even though value is at the bound
      results.push(`main released, value=${sema.value}`);
      await waiter.join();
      results.push(`extra release: ${usageCode(thrown(() => sema.release()))}`);
      results.push(`value=${sema.value}`);
    });
    expect(results).toEqual([
      'waiter wait',
      'main released, value=0',
      'waiter got, value=0',
      'waiter released, value=1',
      'extra release: ERR_SEMAPHORE_BOUND',
      'value=1',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Condition

describe('Condition', () => {
  /**
   * Curio's producer: `count` times, under the lock of `cond`, add `item(n)` to `q`, record
   * `[label, n]` and notify one waiter; then sleep 100 ms.
   */
  async function produce<T>(
    cond: Condition,
    q: T[],
    results: unknown[],
    label: string,
    count: number,
    item: (n: number) => T,
  ): Promise<void> {
    for (let n = 0; n < count; n++) {
      await cond.scope(() => {
        q.push(item(n));
        results.push([label, n]);
        cond.notify();
      });
      await sleep(100);
    }
  }

  /** Take the lock of `cond` and wait with `wait`, recording 'cond_wait' before and 'never here' after. */
  async function waitHolding(cond: Condition, results: unknown[], wait: () => Promise<void>): Promise<void> {
    using _held = await cond.acquire();
    results.push('cond_wait');
    await wait();
    results.push('never here');
  }

  it('test_cond_sequence', async () => {
    const results: unknown[] = [];
    async function consumer(cond: Condition, q: (number | null)[], label: string): Promise<void> {
      for (;;) {
        using _held = await cond.acquire();
        if (q.length === 0) {
          results.push(`${label} wait`);
          await cond.wait();
        }
        const item = q.shift();
        if (item === null || item === undefined) break;
        results.push([label, item]);
      }
      results.push(`${label} done`);
    }
    async function producer(cond: Condition, q: (number | null)[], count: number, nproducers: number): Promise<void> {
      await produce(cond, q, results, 'producing', count, (n) => n);
      await produce(cond, q, results, 'ending', nproducers, () => null);
    }
    await runClean(async () => {
      const cond = new Condition(new Lock());
      const q: (number | null)[] = [];
      const t1 = spawn(() => consumer(cond, q, 'cons1'));
      const t2 = spawn(() => consumer(cond, q, 'cons2'));
      const t3 = spawn(() => producer(cond, q, 4, 2));
      await t1.join();
      await t2.join();
      await t3.join();
    });
    expect(results).toEqual([
      'cons1 wait',
      'cons2 wait',
      ['producing', 0],
      ['cons1', 0],
      'cons1 wait',
      ['producing', 1],
      ['cons2', 1],
      'cons2 wait',
      ['producing', 2],
      ['cons1', 2],
      'cons1 wait',
      ['producing', 3],
      ['cons2', 3],
      'cons2 wait',
      ['ending', 0],
      'cons1 done',
      ['ending', 1],
      'cons2 done',
    ]);
  });

  it('test_cond_wait_cancel', async () => {
    const results: unknown[] = [];
    async function worker(cond: Condition): Promise<void> {
      try {
        await waitHolding(cond, results, () => cond.wait());
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        results.push('worker_cancel');
      }
    }
    await runClean(async () => {
      const cond = new Condition();
      await sleepThenCancel(results, () => worker(cond));
      results.push(`locked=${cond.locked()} waiters=${cond.waiters}`);
    });
    expect(results).toEqual(['sleep', 'cond_wait', 'cancel_start', 'worker_cancel', 'cancel_done', 'locked=false waiters=0']);
  });

  it('test_cond_wait_timeout', async () => {
    const results: unknown[] = [];
    async function worker(cond: Condition): Promise<void> {
      try {
        await waitHolding(cond, results, () => timeoutAfter(250, () => cond.wait()));
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push('worker_timeout');
      }
    }
    await runClean(async () => {
      const cond = new Condition();
      await sleepThenJoin(results, () => worker(cond), 'done');
      results.push(`locked=${cond.locked()}`);
    });
    expect(results).toEqual(['sleep', 'cond_wait', 'worker_timeout', 'done', 'locked=false']);
  });

  it('test_cond_notify_all', async () => {
    const results: unknown[] = [];
    async function worker(cond: Condition): Promise<void> {
      using _held = await cond.acquire();
      results.push('cond_wait');
      await cond.wait();
      results.push('wait_done');
    }
    await runClean(async () => {
      const cond = new Condition();
      const t1 = spawn(() => worker(cond));
      const t2 = spawn(() => worker(cond));
      const t3 = spawn(() => worker(cond));
      results.push('sleep');
      await sleep(1000);
      await cond.scope(() => {
        results.push('notify');
        cond.notifyAll();
      });
      results.push('done');
      await t1.join();
      await t2.join();
      await t3.join();
    });
    expect(results).toEqual(['sleep', 'cond_wait', 'cond_wait', 'cond_wait', 'notify', 'done', 'wait_done', 'wait_done', 'wait_done']);
  });

  it('test_cond_waitfor', async () => {
    const results: unknown[] = [];
    async function consumer(cond: Condition, q: number[], label: string): Promise<void> {
      await cond.scope(async () => {
        results.push(`${label} waitfor`);
        await cond.waitFor(() => q.length > 2);
        results.push([label, q.length]);
      });
      results.push(`${label} done`);
    }
    async function producer(cond: Condition, q: number[], count: number): Promise<void> {
      await produce(cond, q, results, 'producing', count, (n) => n);
    }
    await runClean(async () => {
      const cond = new Condition();
      const q: number[] = [];
      const t1 = spawn(() => consumer(cond, q, 'cons1'));
      const t2 = spawn(() => consumer(cond, q, 'cons2'));
      const t3 = spawn(() => producer(cond, q, 4));
      await t1.join();
      await t2.join();
      await t3.join();
    });
    expect(results).toEqual([
      'cons1 waitfor',
      'cons2 waitfor',
      ['producing', 0],
      ['producing', 1],
      ['producing', 2],
      ['cons1', 3],
      'cons1 done',
      ['producing', 3],
      ['cons2', 4],
      'cons2 done',
    ]);
  });

  it('test_condition_error', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const c = new Condition();
      results.push(`notify: ${usageCode(thrown(() => c.notify()))}`);
      results.push(`wait: ${usageCode(await rejected(c.wait()))}`);
    });
    expect(results).toEqual(['notify: ERR_NOT_ACQUIRED', 'wait: ERR_NOT_ACQUIRED']);
  });

  it('wait, waitFor, notify and notifyAll without holding the lock are errors and change nothing', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const c = new Condition();
      const waiter = spawn(async () => {
        using _held = await c.acquire();
        results.push('waiter wait');
        await c.wait();
        results.push('waiter woken');
      });
      await sleep(10);
      // The waiter released the lock inside wait(): nobody holds it now.
      results.push(`locked=${c.locked()} waiters=${c.waiters}`);
      results.push(`notify: ${usageCode(thrown(() => c.notify()))}`);
      results.push(`notifyAll: ${usageCode(thrown(() => c.notifyAll()))}`);
      results.push(`wait: ${usageCode(await rejected(c.wait()))}`);
      results.push(`waitFor: ${usageCode(await rejected(c.waitFor(() => false)))}`);
      results.push(`release: ${usageCode(thrown(() => c.release()))}`);
      results.push(`waiters=${c.waiters}`);
      await c.scope(() => c.notify());
      await waiter.join();
      results.push(`locked=${c.locked()}`);
    });
    expect(results).toEqual([
      'waiter wait',
      'locked=false waiters=1',
      'notify: ERR_NOT_ACQUIRED',
      'notifyAll: ERR_NOT_ACQUIRED',
      'wait: ERR_NOT_ACQUIRED',
      'waitFor: ERR_NOT_ACQUIRED',
      'release: ERR_NOT_ACQUIRED',
      'waiters=1',
      'waiter woken',
      'locked=false',
    ]);
  });

  it('waitFor returns at once, without waiting, when the predicate already holds', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const c = new Condition();
      const other = spawn(() => {
        results.push('other ran');
      });
      await c.scope(async () => {
        results.push(`waitFor -> ${await c.waitFor(() => 'ready')}`);
      });
      results.push('main after scope');
      await other.join();
    });
    expect(results).toEqual(['waitFor -> ready', 'main after scope', 'other ran']);
  });
});

// ---------------------------------------------------------------------------------------------
// The `using` and `scope` forms release on error

describe('using / scope release on error', () => {
  it('Lock.scope releases when the body throws, and the next waiter gets the lock', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const lck = new Lock();
      const waiter = spawn(async () => {
        results.push('waiter wait');
        await lck.scope(() => {
          results.push(`waiter got @${clock()}`);
        });
      });
      const error = await rejected(
        lck.scope(async () => {
          results.push('main got');
          await sleep(10);
          throw new Error('boom');
        }),
      );
      results.push(`main caught ${(error as Error).message}, locked=${lck.locked()}`);
      await waiter.join();
      results.push(`locked=${lck.locked()}`);
    });
    expect(results).toEqual([
      'main got',
      'waiter wait',
      'main caught boom, locked=true', // handed straight to the waiter
      'waiter got @10',
      'locked=false',
    ]);
  });

  it('scope releases when the body is cancelled', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const lck = new Lock();
      const holder = spawn(async () => {
        try {
          await lck.scope(async () => {
            results.push('holder got');
            await sleep(1000);
          });
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          results.push(`holder cancelled, locked=${lck.locked()}`);
        }
      });
      await sleep(10);
      await holder.cancel();
      results.push(`locked=${lck.locked()}`);
    });
    expect(results).toEqual(['holder got', 'holder cancelled, locked=false', 'locked=false']);
  });

  it('`using` releases Lock, RLock, Semaphore and Condition when the block throws', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const lock = new Lock();
      const rlock = new RLock();
      const sema = new Semaphore(1);
      const cond = new Condition();
      async function failWith(label: string, acquire: () => Promise<Disposable>): Promise<void> {
        try {
          using _held = await acquire();
          results.push(`${label} held`);
          await sleep(1);
          throw new Error(`${label} failed`);
        } catch (error) {
          results.push(`caught ${(error as Error).message}`);
        }
      }
      await failWith('lock', () => lock.acquire());
      await failWith('rlock', async () => {
        await rlock.acquire(); // re-entered: both levels must be released
        return rlock.acquire();
      });
      await failWith('sema', () => sema.acquire());
      await failWith('cond', () => cond.acquire());
      results.push(`lock=${lock.locked()} rlock=${rlock.locked()} sema=${sema.value} cond=${cond.locked()}`);
    });
    expect(results).toEqual([
      'lock held',
      'caught lock failed',
      'rlock held',
      'caught rlock failed',
      'sema held',
      'caught sema failed',
      'cond held',
      'caught cond failed',
      // The re-entered RLock was acquired twice and `using` released it once.
      'lock=false rlock=true sema=1 cond=false',
    ]);
  });

  it('`using` on each level of a re-entered RLock releases it fully on error', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const rlock = new RLock();
      try {
        using _outer = await rlock.acquire();
        {
          using _inner = await rlock.acquire();
          results.push('inner held');
          await sleep(1);
          throw new Error('boom');
        }
      } catch (error) {
        results.push(`caught ${(error as Error).message}, locked=${rlock.locked()}`);
      }
      const other = spawn(async () => {
        await rlock.scope(() => {
          results.push('other got');
        });
      });
      await other.join();
    });
    expect(results).toEqual(['inner held', 'caught boom, locked=false', 'other got']);
  });

  it('Condition.scope releases when wait() inside it times out', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const cond = new Condition();
      const error = await rejected(
        cond.scope(async () => {
          results.push('waiting');
          await timeoutAfter(50, () => cond.wait());
        }),
      );
      results.push(`${error instanceof TaskTimeout ? 'TaskTimeout' : String(error)} @${clock()}, locked=${cond.locked()}`);
    });
    expect(results).toEqual(['waiting', 'TaskTimeout @50, locked=false']);
  });
});

// ---------------------------------------------------------------------------------------------
// Result

describe('Result', () => {
  function add(x: unknown, y: unknown): number {
    // Mixing a bigint and a number throws TypeError, as Python's 2 + "3" does.
    return (x as number) + (y as number);
  }

  it('test_value', async () => {
    const value = await runClean(async () => {
      const r = new Result<number>();
      spawn(() => {
        r.set(add(2, 3));
      });
      return r.unwrap();
    });
    expect(value).toBe(5);
  });

  it('test_error', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const r = new Result<number>();
      spawn(() => {
        try {
          r.set(add(2n, 3));
        } catch (error) {
          r.setError(error);
        }
      });
      const error = await rejected(r.unwrap());
      results.push(error instanceof TypeError);
    });
    expect(results).toEqual([true]);
  });

  it('waiters block until the value is set, then all see it; a Result is set once', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const r = new Result<string>();
      const waiters = ['a', 'b'].map((label) =>
        spawn(async () => {
          results.push(`${label} wait`);
          results.push(`${label} got ${await r.unwrap()} @${clock()}`);
        }),
      );
      await sleep(100);
      results.push(`isSet=${r.isSet()}`);
      r.set('v');
      results.push(`isSet=${r.isSet()}`);
      results.push(`set again: ${usageCode(thrown(() => r.set('w')))}`);
      results.push(`setError again: ${usageCode(thrown(() => r.setError(new Error('x'))))}`);
      for (const t of waiters) await t.join();
      results.push(`unwrap again: ${await r.unwrap()}`);
    });
    expect(results).toEqual([
      'a wait',
      'b wait',
      'isSet=false',
      'isSet=true',
      'set again: ERR_RESULT_SET',
      'setError again: ERR_RESULT_SET',
      'a got v @100',
      'b got v @100',
      'unwrap again: v',
    ]);
  });
});
