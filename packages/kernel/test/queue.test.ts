// queue.test.ts
//
// Port of Curio's tests/test_queue.py (Queue, PriorityQueue, LifoQueue), plus tests for what
// the port pins down: a cancelled get never loses an item, a cancelled put never adds one,
// join/taskDone bookkeeping (including taskDone() called too many times), FIFO service of
// several getters and putters. The UniversalQueue tests (threads, asyncio, file descriptors)
// belong to a later issue.
//
// Every test records what each task does and asserts the exact sequence, as Curio's tests do.
// Curio's seconds become milliseconds on the virtual clock.

import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  KernelUsageError,
  LifoQueue,
  PriorityQueue,
  Queue,
  TaskCancelled,
  TaskTimeout,
  clock,
  currentTask,
  ignoreAfter,
  sleep,
  spawn,
  timeoutAfter,
} from '@curio-ts/kernel';
import type { Task } from '@curio-ts/kernel';
import { runClean, thrown, usageCode } from './helpers.js';

/** The part of the queue classes that the consumers below use. */
interface Gettable<T> {
  get(): Promise<T>;
  taskDone(): void;
}

/**
 * Curio's consumer: get items until a `null`, recording `[label, item]` for each and marking it
 * done (after `workMs` of work, when given); then mark the `null` done and record `<label> done`.
 */
async function consume(queue: Gettable<number | null>, label: string, results: unknown[], workMs = 0): Promise<void> {
  for (;;) {
    const item = await queue.get();
    if (item === null) break;
    results.push([label, item]);
    if (workMs > 0) await sleep(workMs);
    queue.taskDone();
  }
  queue.taskDone();
  results.push(`${label} done`);
}

/**
 * The consumer of the PriorityQueue and LifoQueue tests: get items until the value of one
 * (`valueOf`) is `null`, recording each value, marking it done and then sleeping 200 ms.
 */
async function drain<T>(queue: Gettable<T>, valueOf: (item: T) => number | null, results: number[]): Promise<void> {
  for (;;) {
    const value = valueOf(await queue.get());
    if (value === null) break;
    results.push(value);
    queue.taskDone();
    await sleep(200);
  }
  queue.taskDone();
}

/** Spawn `fn`, let it run for `ms`, then cancel it (and wait until it has ended). */
async function cancelAfter(ms: number, fn: () => Promise<void>): Promise<void> {
  const task = spawn(fn);
  await sleep(ms);
  await task.cancel();
}

// ---------------------------------------------------------------------------------------------
// Ported from test_queue.py

describe('Queue (test_queue.py)', () => {
  it('test_queue_simple', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const queue = new Queue<number | null>();
      results.push('producer_start');
      const c1 = spawn(() => consume(queue, 'cons1', results));
      const c2 = spawn(() => consume(queue, 'cons2', results));
      await sleep(100);
      for (let n = 0; n < 4; n++) {
        await queue.put(n);
        await sleep(100);
      }
      for (let n = 0; n < 2; n++) await queue.put(null);
      results.push('producer_join');
      await queue.join();
      results.push('producer_done');
      await c1.join();
      await c2.join();
    });
    expect(results).toEqual([
      'producer_start',
      ['cons1', 0],
      ['cons2', 1],
      ['cons1', 2],
      ['cons2', 3],
      'producer_join',
      'cons1 done',
      'cons2 done',
      'producer_done',
    ]);
  });

  it('test_queue_unbounded', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const queue = new Queue<number | null>();
      results.push('producer_start');
      const c1 = spawn(() => consume(queue, 'cons1', results));
      await sleep(100);
      for (let n = 0; n < 4; n++) await queue.put(n);
      await queue.put(null);
      results.push('producer_join');
      await queue.join();
      results.push('producer_done');
      await c1.join();
    });
    expect(results).toEqual([
      'producer_start',
      'producer_join',
      ['cons1', 0],
      ['cons1', 1],
      ['cons1', 2],
      ['cons1', 3],
      'cons1 done',
      'producer_done',
    ]);
  });

  it('test_queue_bounded', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const queue = new Queue<number | null>(2);
      results.push('producer_start');
      spawn(() => consume(queue, 'cons1', results, 100));
      await sleep(100);
      for (let n = 0; n < 4; n++) {
        await queue.put(n);
        results.push(['produced', n]);
      }
      await queue.put(null);
      results.push('producer_join');
      await queue.join();
      results.push('producer_done');
    });
    // Deliberate difference from Curio: put(0) hands item 0 straight to the waiting consumer
    // instead of buffering it, so the queue has room for items 1 and 2 and the producer blocks
    // one item later than in Curio (Curio: produced 0, produced 1, cons1 0, produced 2, ...).
    expect(results).toEqual([
      'producer_start',
      ['produced', 0],
      ['produced', 1],
      ['produced', 2],
      ['cons1', 0],
      ['cons1', 1],
      ['produced', 3],
      ['cons1', 2],
      'producer_join',
      ['cons1', 3],
      'cons1 done',
      'producer_done',
    ]);
  });

  it('test_queue_get_cancel', async () => {
    const results: unknown[] = [];
    async function consumer(): Promise<void> {
      const queue = new Queue<number>();
      try {
        results.push('consumer waiting');
        await queue.get();
        results.push('not here');
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        results.push('consumer cancelled');
      }
    }
    await runClean(() => cancelAfter(500, consumer));
    expect(results).toEqual(['consumer waiting', 'consumer cancelled']);
  });

  it('test_queue_put_cancel', async () => {
    const results: unknown[] = [];
    async function producer(): Promise<void> {
      const queue = new Queue<number>(1);
      results.push('producer_start');
      await queue.put(0);
      try {
        await queue.put(1);
        results.push('not here');
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        results.push('producer_cancel');
      }
    }
    await runClean(() => cancelAfter(500, producer));
    expect(results).toEqual(['producer_start', 'producer_cancel']);
  });

  it('test_queue_get_timeout', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const queue = new Queue<number>();
      try {
        results.push('consumer waiting');
        await timeoutAfter(500, () => queue.get());
        results.push('not here');
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push(`consumer timeout @${clock()}`);
      }
    });
    expect(results).toEqual(['consumer waiting', 'consumer timeout @500']);
  });

  it('test_queue_put_timeout', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const queue = new Queue<number>(1);
      results.push('producer start');
      await queue.put(0);
      try {
        await timeoutAfter(500, () => queue.put(1));
        results.push('not here');
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        results.push(`producer timeout @${clock()}`);
      }
      results.push(`size=${queue.size()}`);
    });
    expect(results).toEqual(['producer start', 'producer timeout @500', 'size=1']);
  });

  it('test_queue_qsize', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<number>();
      results.push(`size=${q.size()} empty=${q.empty()} full=${q.full()}`);
      await q.put(1);
      results.push(`size=${q.size()} empty=${q.empty()} full=${q.full()}`);
      const b = new Queue<number>(2);
      await b.put(1);
      await b.put(2);
      results.push(`bounded size=${b.size()} full=${b.full()} maxsize=${b.maxsize}`);
    });
    expect(results).toEqual([
      'size=0 empty=true full=false',
      'size=1 empty=false full=false',
      'bounded size=2 full=true maxsize=2',
    ]);
  });

  it('test_priority_queue', async () => {
    const results: number[] = [];
    const priorities = [4, 2, 1, 3];
    await runClean(async () => {
      const queue = new PriorityQueue<[number, number | null]>();
      for (const n of priorities) await queue.put([n, n]);
      await queue.put([10, null]);
      spawn(() => drain(queue, ([, value]) => value, results));
      await queue.join();
    });
    expect(results).toEqual([...priorities].sort((a, b) => a - b));
  });

  it('test_lifo_queue', async () => {
    const results: number[] = [];
    const items = [0, 1, 2, 3];
    await runClean(async () => {
      const queue = new LifoQueue<number | null>();
      await queue.put(null);
      for (const n of items) await queue.put(n);
      spawn(() => drain(queue, (item) => item, results));
      await queue.join();
    });
    expect(results).toEqual([...items].reverse());
  });
});

// ---------------------------------------------------------------------------------------------
// Cancellation never loses or invents an item

describe('Queue cancellation', () => {
  it('a getter cancelled after a put handed it an item, but before it ran, still returns the item; the cancel arrives at its next blocking call', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>();
      const getter = spawn(async () => {
        results.push('getter wait');
        const item = await q.get();
        results.push(`getter got ${item}, cancelled=${currentTask().cancelled}`);
        try {
          await q.get();
          results.push('not here');
        } catch (error) {
          if (!(error instanceof TaskCancelled)) throw error;
          results.push('getter cancelled at next get');
        }
        return item;
      });
      await sleep(10);
      await q.put('a');
      results.push(`main put a, size=${q.size()}`);
      await getter.cancel({ blocking: false });
      results.push('main cancel requested');
      results.push(`getter returned ${await getter.join()}`);
      results.push(`size=${q.size()}`);
    });
    expect(results).toEqual([
      'getter wait',
      'main put a, size=0',
      'main cancel requested',
      'getter got a, cancelled=true',
      'getter cancelled at next get',
      'getter returned a',
      'size=0',
    ]);
  });

  it('the same holds when the next blocking call is not a queue operation', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>();
      const getter = spawn(async () => {
        const item = await q.get();
        results.push(`getter got ${item}`);
        try {
          await sleep(1000);
          results.push('not here');
        } catch (error) {
          if (!(error instanceof TaskCancelled)) throw error;
          results.push(`getter cancelled at sleep @${clock()}`);
        }
      });
      await sleep(10);
      await q.put('a');
      await getter.cancel(); // blocking: waits until the getter has ended
      results.push(`main cancel done @${clock()}`);
    });
    expect(results).toEqual(['getter got a', 'getter cancelled at sleep @10', 'main cancel done @10']);
  });

  it('a getter cancelled while still waiting takes nothing: the next put goes to the next getter', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>();
      const getters = ['g1', 'g2', 'g3'].map((label) =>
        spawn(async () => {
          try {
            results.push(`${label} got ${await q.get()}`);
          } catch (error) {
            if (!(error instanceof CancelledError)) throw error;
            results.push(`${label} cancelled`);
          }
        }),
      );
      await sleep(10);
      await getters[0]?.cancel();
      await q.put('a');
      await q.put('b');
      results.push(`size=${q.size()}`);
      for (const t of getters) await t.join();
    });
    expect(results).toEqual(['g1 cancelled', 'size=0', 'g2 got a', 'g3 got b']);
  });

  it('a getter whose timeout expires while waiting takes nothing', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>();
      const getter = spawn(async () => {
        const item = await ignoreAfter(50, () => q.get(), { timeoutResult: 'timed out' });
        results.push(`getter: ${item} @${clock()}`);
      });
      await sleep(100);
      await q.put('a');
      results.push(`size=${q.size()}`);
      await getter.join();
      results.push(`main got ${await q.get()}`);
    });
    expect(results).toEqual(['getter: timed out @50', 'size=1', 'main got a']);
  });

  it('a put cancelled while waiting on a full queue never adds its item', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>(1);
      await q.put('a');
      const putter = spawn(async () => {
        try {
          results.push('putter wait');
          await q.put('b');
          results.push('not here');
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          results.push(`putter cancelled, size=${q.size()}`);
        }
      });
      await sleep(10);
      await putter.cancel();
      results.push(`main got ${await q.get()}, size=${q.size()}`);
      q.taskDone();
      // The cancelled put is not counted as unfinished work: join returns at once.
      await timeoutAfter(10, () => q.join());
      results.push('joined');
      results.push(`get again: ${await ignoreAfter(50, () => q.get(), { timeoutResult: 'nothing' })}`);
    });
    expect(results).toEqual(['putter wait', 'putter cancelled, size=1', 'main got a, size=0', 'joined', 'get again: nothing']);
  });

  it('a put that timed out never adds its item; the next waiting putter takes the free slot', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>(1);
      await q.put('a');
      const p1 = spawn(async () => {
        try {
          await timeoutAfter(20, () => q.put('b'));
          results.push('not here');
        } catch (error) {
          if (!(error instanceof TaskTimeout)) throw error;
          results.push(`p1 timed out @${clock()}`);
        }
      });
      const p2 = spawn(async () => {
        await q.put('c');
        results.push(`p2 put c @${clock()}`);
      });
      await sleep(50);
      results.push(`main got ${await q.get()}, size=${q.size()}`);
      results.push(`main got ${await q.get()}, size=${q.size()}`);
      await p1.join();
      await p2.join();
    });
    expect(results).toEqual(['p1 timed out @20', 'main got a, size=1', 'main got c, size=0', 'p2 put c @50']);
  });

  it('a putter whose item entered the queue and is then cancelled before it runs: the item stays, the cancel arrives at its next blocking call', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>(1);
      await q.put('a');
      const putter = spawn(async () => {
        await q.put('b');
        results.push(`putter put b, size=${q.size()}`);
        try {
          await sleep(1000);
          results.push('not here');
        } catch (error) {
          if (!(error instanceof TaskCancelled)) throw error;
          results.push('putter cancelled at sleep');
        }
      });
      await sleep(10);
      results.push(`main got ${await q.get()}, size=${q.size()}`);
      await putter.cancel({ blocking: false });
      results.push('main cancel requested');
      await putter.join();
      results.push(`main got ${await q.get()}, size=${q.size()}`);
    });
    expect(results).toEqual([
      'main got a, size=1',
      'main cancel requested',
      'putter put b, size=1',
      'putter cancelled at sleep',
      'main got b, size=0',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// join / taskDone

describe('Queue.join and taskDone', () => {
  it('join waits until every item put has been marked done; every joiner wakes', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>();
      await q.put('x');
      await q.put('y');
      const joiners = ['j1', 'j2'].map((label) =>
        spawn(async () => {
          results.push(`${label} join`);
          await q.join();
          results.push(`${label} joined @${clock()}`);
        }),
      );
      const worker = spawn(async () => {
        for (let i = 0; i < 2; i++) {
          const item = await q.get();
          results.push(`worker got ${item}`);
          await sleep(10);
          results.push(`worker done ${item}`);
          q.taskDone();
        }
      });
      await worker.join();
      for (const t of joiners) await t.join();
    });
    expect(results).toEqual([
      'j1 join',
      'j2 join',
      'worker got x',
      'worker done x',
      'worker got y',
      'worker done y',
      'j1 joined @20',
      'j2 joined @20',
    ]);
  });

  it('join returns at once, without switching tasks, when no work is unfinished', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<number>();
      const other = spawn(() => {
        results.push('other ran');
      });
      await q.join();
      results.push('joined empty queue');
      await q.put(1);
      await q.get();
      q.taskDone();
      await q.join();
      results.push('joined after taskDone');
      await other.join();
    });
    expect(results).toEqual(['joined empty queue', 'joined after taskDone', 'other ran']);
  });

  it('join counts items that were put, not items still buffered', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<number>();
      await q.put(1);
      await q.get();
      results.push(`size=${q.size()}`);
      const joiner = spawn(async () => {
        await q.join();
        results.push(`joined @${clock()}`);
      });
      await sleep(30);
      results.push('taskDone');
      q.taskDone();
      await joiner.join();
    });
    expect(results).toEqual(['size=0', 'taskDone', 'joined @30']);
  });

  it('taskDone() called more times than items were put is a KernelUsageError and leaves the count alone', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>();
      results.push(`on empty queue: ${usageCode(thrown(() => q.taskDone()))}`);
      await q.put('a');
      await q.get();
      q.taskDone();
      results.push(`one too many: ${usageCode(thrown(() => q.taskDone()))}`);
      // The count did not go negative: one more put makes join wait for one taskDone.
      await q.put('b');
      const joiner = spawn(async () => {
        await q.join();
        results.push(`joined @${clock()}`);
      });
      await sleep(10);
      await q.get();
      q.taskDone();
      await joiner.join();
    });
    expect(results).toEqual(['on empty queue: ERR_TASK_DONE', 'one too many: ERR_TASK_DONE', 'joined @10']);
  });

  it('the error has the documented type and code', async () => {
    await runClean(async () => {
      const q = new Queue<number>();
      expect(() => q.taskDone()).toThrow(KernelUsageError);
      expect(() => q.taskDone()).toThrow(expect.objectContaining({ code: 'ERR_TASK_DONE' }));
    });
  });
});

// ---------------------------------------------------------------------------------------------
// FIFO service and the other queue kinds

describe('Queue ordering', () => {
  /**
   * Put `items` into the bounded queue `q` (filling it), then spawn a putter of `extra`, which
   * records 'putter wait', waits for room and then records `done()`; give it 10 ms to block.
   */
  async function fillThenPut<T>(
    q: { put(item: T): Promise<void> },
    items: T[],
    extra: T,
    results: unknown[],
    done: () => string,
  ): Promise<Task> {
    for (const item of items) await q.put(item);
    const putter = spawn(async () => {
      results.push('putter wait');
      await q.put(extra);
      results.push(done());
    });
    await sleep(10);
    return putter;
  }

  it('several getters are served in arrival order; a put to a waiting getter does not switch tasks', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<number>();
      const getters = ['g1', 'g2', 'g3'].map((label) =>
        spawn(async () => {
          results.push(`${label} wait`);
          results.push(`${label} got ${await q.get()}`);
        }),
      );
      await sleep(10);
      for (let n = 1; n <= 3; n++) {
        await q.put(n);
        results.push(`put ${n}`);
      }
      for (const t of getters) await t.join();
    });
    expect(results).toEqual(['g1 wait', 'g2 wait', 'g3 wait', 'put 1', 'put 2', 'put 3', 'g1 got 1', 'g2 got 2', 'g3 got 3']);
  });

  it('several putters on a full queue are served in arrival order', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<string>(1);
      await q.put('a');
      const putters = ['b', 'c', 'd'].map((item) =>
        spawn(async () => {
          results.push(`put ${item} wait`);
          await q.put(item);
          results.push(`put ${item} done`);
        }),
      );
      await sleep(10);
      const got: string[] = [];
      for (let i = 0; i < 4; i++) got.push(await q.get());
      results.push(`got ${got.join('')}`);
      for (const t of putters) await t.join();
    });
    expect(results).toEqual([
      'put b wait',
      'put c wait',
      'put d wait',
      'got abcd',
      'put b done',
      'put c done',
      'put d done',
    ]);
  });

  it('for await iterates over the items as they arrive', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new Queue<number>();
      const consumer = spawn(async () => {
        for await (const item of q) {
          results.push(`item ${item} @${clock()}`);
          if (item === 3) break;
        }
      });
      for (let n = 1; n <= 3; n++) {
        await sleep(10);
        await q.put(n);
      }
      await consumer.join();
    });
    expect(results).toEqual(['item 1 @10', 'item 2 @20', 'item 3 @30']);
  });

  it('PriorityQueue orders [priority, value] pairs like Python tuples; with a compare function, ties keep insertion order', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const pq = new PriorityQueue<[number, string]>();
      for (const entry of [[2, 'x'], [1, 'b'], [1, 'a'], [0, 'z']] as [number, string][]) await pq.put(entry);
      const order: string[] = [];
      while (!pq.empty()) order.push((await pq.get()).join(':'));
      results.push(order.join(' '));
      const maxFirst = new PriorityQueue<{ p: number; id: string }>(0, (a, b) => b.p - a.p);
      for (const [p, id] of [[1, 'one'], [3, 'three'], [2, 'two'], [3, 'three-again']] as [number, string][]) {
        await maxFirst.put({ p, id });
      }
      const ids: string[] = [];
      while (!maxFirst.empty()) ids.push((await maxFirst.get()).id);
      results.push(ids.join(' '));
    });
    expect(results).toEqual(['0:z 1:a 1:b 2:x', 'three three-again two one']);
  });

  it('a bounded PriorityQueue keeps a waiting putter until a get frees a slot', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const pq = new PriorityQueue<number>(2);
      const putter = await fillThenPut(pq, [5, 3], 1, results, () => `putter done @${clock()}`);
      results.push(`got ${await pq.get()}`);
      results.push(`got ${await pq.get()}`);
      results.push(`got ${await pq.get()}`);
      await putter.join();
    });
    expect(results).toEqual(['putter wait', 'got 3', 'got 1', 'got 5', 'putter done @10']);
  });

  it('a bounded LifoQueue hands out the newest item first', async () => {
    const results: unknown[] = [];
    await runClean(async () => {
      const q = new LifoQueue<number>(2);
      const putter = await fillThenPut(q, [1, 2], 3, results, () => 'putter done');
      const got: number[] = [];
      for (let i = 0; i < 3; i++) got.push(await q.get());
      results.push(`got ${got.join(',')}`);
      await putter.join();
    });
    expect(results).toEqual(['putter wait', 'got 2,3,1', 'putter done']);
  });
});
