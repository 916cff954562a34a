// deque.ts
//
// A growable ring buffer. The ready queue and the wait queues of sync primitives push at the
// back and pop at the front millions of times a second; `Array.prototype.shift` is O(n) once an
// array leaves V8's fast path, so the kernel uses this instead.
//
// Invariants: `capacity` is a power of two; `head` indexes the first item; `length` items follow
// it (modulo capacity); empty slots hold `undefined` so popped items can be collected.

/** A double-ended queue backed by a power-of-two ring buffer. */
export class Deque<T> {
  private items: (T | undefined)[];
  private head = 0;
  private mask: number;
  /** Number of items held. */
  length = 0;

  constructor(initialCapacity = 16) {
    let capacity = 4;
    while (capacity < initialCapacity) capacity <<= 1;
    this.items = new Array<T | undefined>(capacity);
    this.mask = capacity - 1;
  }

  /** Append at the back. */
  push(item: T): void {
    if (this.length > this.mask) this.grow();
    this.items[(this.head + this.length) & this.mask] = item;
    this.length++;
  }

  /** Insert at the front. */
  unshift(item: T): void {
    if (this.length > this.mask) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.items[this.head] = item;
    this.length++;
  }

  /** Remove and return the front item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return item;
  }

  /** Remove and return the back item, or `undefined` when empty. */
  pop(): T | undefined {
    if (this.length === 0) return undefined;
    const index = (this.head + this.length - 1) & this.mask;
    const item = this.items[index];
    this.items[index] = undefined;
    this.length--;
    return item;
  }

  /** The front item without removing it. */
  peek(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  /** The item at position `index` from the front (0-based), or `undefined`. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.length) return undefined;
    return this.items[(this.head + index) & this.mask];
  }

  /** Remove the first item that is `===` to `item`. Returns whether one was found. O(n). */
  remove(item: T): boolean {
    for (let i = 0; i < this.length; i++) {
      if (this.items[(this.head + i) & this.mask] === item) {
        for (let j = i; j < this.length - 1; j++) {
          this.items[(this.head + j) & this.mask] = this.items[(this.head + j + 1) & this.mask];
        }
        this.items[(this.head + this.length - 1) & this.mask] = undefined;
        this.length--;
        return true;
      }
    }
    return false;
  }

  /** Drop every item. */
  clear(): void {
    this.items = new Array<T | undefined>(this.mask + 1);
    this.head = 0;
    this.length = 0;
  }

  /** Iterate front to back. The deque must not be modified during iteration. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.length; i++) yield this.items[(this.head + i) & this.mask] as T;
  }

  private grow(): void {
    const capacity = (this.mask + 1) * 2;
    const next = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.length; i++) next[i] = this.items[(this.head + i) & this.mask];
    this.items = next;
    this.head = 0;
    this.mask = capacity - 1;
  }
}
