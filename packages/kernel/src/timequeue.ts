// timequeue.ts
//
// The kernel's deadline queue: a binary min-heap ordered by (deadline, task id, insertion
// sequence), so that equal deadlines wake in task-id order in the same scheduling cycle.
//
// Entries are not searched for when they are cancelled. A task records the deadline it
// currently cares about (`sleepAt` / `timeoutAt`); an entry whose deadline no longer matches is
// stale and is skipped when it surfaces (Curio's approach), or dropped at once when it is
// marked stale at the front of the heap (so the scheduler does not read the clock, nor keep a
// wake timer, for a deadline nobody waits for any more). Stale entries are counted, and
// when they outnumber live ones the heap is rebuilt without them, so a program that sets and
// clears long timeouts at a high rate (a 30 s timeout per Redis call) keeps the heap small.

/**
 * What a deadline is for: waking a sleeping task, cancelling a task with a timeout, or running a
 * callback scheduled with `Kernel.callLater`.
 */
export type DeadlineKind = 'sleep' | 'timeout' | 'call';

/** One deadline in the queue. */
export interface DeadlineEntry<T> {
  readonly at: number;
  readonly owner: T;
  readonly ownerId: number;
  readonly kind: DeadlineKind;
  readonly seq: number;
}

function before<T>(a: DeadlineEntry<T>, b: DeadlineEntry<T>): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.ownerId !== b.ownerId) return a.ownerId < b.ownerId;
  return a.seq < b.seq;
}

/** A min-heap of deadlines with lazy deletion. */
export class TimeQueue<T> {
  private heap: DeadlineEntry<T>[] = [];
  private seq = 0;
  private stale = 0;

  /** Number of entries held, stale ones included. */
  get size(): number {
    return this.heap.length;
  }

  /** Add a deadline. */
  push(at: number, owner: T, ownerId: number, kind: DeadlineKind): void {
    const entry: DeadlineEntry<T> = { at, owner, ownerId, kind, seq: this.seq++ };
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as DeadlineEntry<T>;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  /**
   * Record that one held entry became stale; stale entries at the front leave at once, and the
   * heap is compacted when stale entries dominate.
   */
  markStale(isLive: (entry: DeadlineEntry<T>) => boolean): void {
    this.stale++;
    if (this.stale > 1024 && this.stale * 2 > this.heap.length) {
      this.heap = this.heap.filter(isLive);
      this.stale = 0;
      this.heap.sort((a, b) => (before(a, b) ? -1 : 1));
      return;
    }
    // A cancelled deadline is usually the earliest one (a call's timeout, a connect timeout): at
    // the front it would make every scheduling cycle read the clock (issue 9: two clock reads per
    // sequential Redis call for a connect timeout cancelled long ago) and keep a wake timer armed.
    let top = this.heap[0];
    while (top !== undefined && !isLive(top)) {
      this.popExpired(top.at);
      this.noteStalePopped();
      top = this.heap[0];
    }
  }

  /** The earliest entry held (possibly stale), or `undefined`. */
  peek(): DeadlineEntry<T> | undefined {
    return this.heap[0];
  }

  /** The earliest deadline held (possibly stale), or `undefined`. */
  peekDeadline(): number | undefined {
    return this.heap[0]?.at;
  }

  /** Remove and return the earliest entry if its deadline is `<= now`. */
  popExpired(now: number): DeadlineEntry<T> | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined || top.at > now) return undefined;
    const last = heap.pop() as DeadlineEntry<T>;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        let child = left;
        if (right < n && before(heap[right] as DeadlineEntry<T>, heap[left] as DeadlineEntry<T>)) child = right;
        const c = heap[child] as DeadlineEntry<T>;
        if (!before(c, last)) break;
        heap[i] = c;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }

  /** Forget that stale entries were counted (after the caller dropped one while popping). */
  noteStalePopped(): void {
    if (this.stale > 0) this.stale--;
  }

  /** Drop everything. */
  clear(): void {
    this.heap = [];
    this.stale = 0;
  }
}
