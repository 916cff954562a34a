// queue.ts
//
// Queues between tasks: FIFO Queue, PriorityQueue, LifoQueue (Curio's queue.py), built on the
// wait queues of sched.ts.
//
// Invariants, which make cancellation safe:
// - Items are handed over directly. A `put` with getters waiting gives its item to the
//   longest-waiting getter, which becomes ready with the item already in hand: if it is
//   cancelled before it runs, the cancellation is delivered at its next blocking call and the
//   item is still returned. A cancelled `get` that was still waiting took nothing.
// - A `put` that must wait (bounded queue, full) keeps its item with it. A getter that frees a
//   slot moves the longest-waiting putter's item into the queue and wakes that putter; a
//   putter cancelled while waiting never adds its item.
// - Getters only wait when the queue is empty, putters only when it is full, so buffered items
//   and waiting getters never coexist.

import { KernelUsageError } from './errors.js';
import { Deque } from './deque.js';
import { SchedBarrier, SchedFIFO } from './sched.js';

const RESOLVED: Promise<void> = Promise.resolve();

abstract class QueueBase<T> {
  /** Maximum number of items held (0: unbounded). */
  readonly maxsize: number;
  private readonly getters = new SchedFIFO();
  private readonly putters = new SchedFIFO();
  private readonly joiners = new SchedBarrier();
  private unfinished = 0;

  constructor(maxsize = 0) {
    if (!Number.isInteger(maxsize) || maxsize < 0) throw new TypeError('Queue: maxsize must be an integer >= 0');
    this.maxsize = maxsize;
  }

  protected abstract pushItem(item: T): void;
  protected abstract takeItem(): T;
  /** Number of items held. */
  abstract size(): number;

  /** Whether no item is held. */
  empty(): boolean {
    return this.size() === 0;
  }

  /** Whether a bounded queue holds `maxsize` items. */
  full(): boolean {
    return this.maxsize > 0 && this.size() >= this.maxsize;
  }

  /**
   * Add an item, waiting while a bounded queue is full. An unbounded queue never waits and
   * never switches tasks.
   */
  put(item: T): Promise<void> {
    this.unfinished++;
    if (this.getters.wakeOne(item)) return RESOLVED;
    if (this.full() || this.putters.length > 0) return this.waitToPut(item);
    this.pushItem(item);
    return RESOLVED;
  }

  private async waitToPut(item: T): Promise<void> {
    try {
      await this.putters.suspend('QUEUE_PUT', item);
    } catch (error) {
      this.unfinished--;
      throw error;
    }
  }

  /** Take the next item, waiting while the queue is empty. */
  get(): Promise<T> {
    if (this.size() === 0) return this.getters.suspend<T>('QUEUE_GET');
    const item = this.takeItem();
    if (this.putters.length > 0) {
      // Make room for the longest-waiting putter: its item enters the queue now.
      this.pushItem(this.putters.peekPayload() as T);
      this.putters.wakeOne();
    }
    return Promise.resolve(item);
  }

  /** Mark one item taken with `get` as fully processed (see {@link join}). */
  taskDone(): void {
    if (this.unfinished <= 0) throw new KernelUsageError('Queue.taskDone() called too many times', 'ERR_TASK_DONE');
    this.unfinished--;
    if (this.unfinished === 0) this.joiners.wakeAll();
  }

  /** Wait until every item put has been marked done with {@link taskDone}. */
  async join(): Promise<void> {
    if (this.unfinished > 0) await this.joiners.suspend('QUEUE_JOIN');
  }

  /** Async iteration: `for await (const item of queue)` gets items forever. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) yield await this.get();
  }
}

/** A first-in first-out queue. `new Queue(maxsize)`; 0 or omitted is unbounded. */
export class Queue<T> extends QueueBase<T> {
  private readonly items = new Deque<T>();

  protected pushItem(item: T): void {
    this.items.push(item);
  }

  protected takeItem(): T {
    return this.items.shift() as T;
  }

  /** Number of items held. */
  size(): number {
    return this.items.length;
  }
}

/** A last-in first-out queue (a stack). */
export class LifoQueue<T> extends QueueBase<T> {
  private readonly items: T[] = [];

  protected pushItem(item: T): void {
    this.items.push(item);
  }

  protected takeItem(): T {
    return this.items.pop() as T;
  }

  /** Number of items held. */
  size(): number {
    return this.items.length;
  }
}

/**
 * Default ordering of PriorityQueue items: numbers, bigints and strings by `<`; arrays
 * element by element, so `[priority, payload]` pairs work as in Python.
 */
export function defaultCompare(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = defaultCompare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if ((a as number) < (b as number)) return -1;
  if ((a as number) > (b as number)) return 1;
  return 0;
}

interface Ranked<T> {
  readonly item: T;
  readonly seq: number;
}

/**
 * A queue that gives the smallest item first (by `compare`, default {@link defaultCompare});
 * equal items come out in insertion order.
 */
export class PriorityQueue<T> extends QueueBase<T> {
  private readonly heap: Ranked<T>[] = [];
  private seq = 0;
  private readonly compare: (a: T, b: T) => number;

  constructor(maxsize = 0, compare: (a: T, b: T) => number = defaultCompare) {
    super(maxsize);
    this.compare = compare;
  }

  private less(a: Ranked<T>, b: Ranked<T>): boolean {
    const c = this.compare(a.item, b.item);
    return c < 0 || (c === 0 && a.seq < b.seq);
  }

  protected pushItem(item: T): void {
    const heap = this.heap;
    const entry: Ranked<T> = { item, seq: this.seq++ };
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Ranked<T>;
      if (!this.less(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  protected takeItem(): T {
    const heap = this.heap;
    const top = heap[0] as Ranked<T>;
    const last = heap.pop() as Ranked<T>;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        let child = left;
        if (right < n && this.less(heap[right] as Ranked<T>, heap[left] as Ranked<T>)) child = right;
        const c = heap[child] as Ranked<T>;
        if (!this.less(c, last)) break;
        heap[i] = c;
        i = child;
      }
      heap[i] = last;
    }
    return top.item;
  }

  /** Number of items held. */
  size(): number {
    return this.heap.length;
  }
}
