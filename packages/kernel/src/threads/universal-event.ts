// threads/universal-event.ts
//
// UniversalEvent: an event usable at once from kernel tasks, plain Promise code and worker
// threads. It needs no owner: its flag is one Int32 in a SharedArrayBuffer shared by every copy.
// `set()` stores 1 and notifies; blocking waiters use Atomics.wait; each thread with async
// waiters (kernel tasks, Promises) keeps one Atomics.waitAsync watching the flag, so a set in
// any thread wakes them without a message.

import { isMainThread } from 'node:worker_threads';
import { waitExternal } from '../cancellation.js';
import { currentTaskOrNull } from '../traps.js';
import { UniversalTimeout } from './errors.js';
import {
  RESOLVED,
  checkTimeout,
  lookupUniversal,
  newId,
  promiseWait,
  remember,
  waitAsync,
  wouldBlock,
} from './universal-common.js';
import type { AsyncOptions, SyncOptions, UniversalEventHandle } from './universal-common.js';

/** A local waiter of an event (a kernel task or a Promise). */
interface EventWaiter {
  dead: boolean;
  wake(): void;
}

/**
 * An event usable at once from kernel tasks (`await e.wait()`), plain Promise code, and worker
 * threads (`e.waitSync()` blocks; `await e.wait()` too). `set()` and `clear()` work anywhere
 * and never block. Its flag is shared memory: every thread sees `isSet()` at once.
 *
 * As with any event that can be cleared, a waiter may miss a `set()` that is followed at once
 * by a `clear()` in another thread.
 */
export class UniversalEvent {
  /** Identifies this event in every thread. */
  readonly id: string;
  private readonly buffer: SharedArrayBuffer;
  private readonly flag: Int32Array;
  private local: EventWaiter[] = [];
  private watching = false;

  constructor() {
    this.id = newId();
    this.buffer = new SharedArrayBuffer(4);
    this.flag = new Int32Array(this.buffer);
    remember(this.id, this);
  }

  /** The event in the thread that receives `handle` (one object per thread and id). */
  static fromHandle(handle: UniversalEventHandle): UniversalEvent {
    const known = lookupUniversal(handle.id);
    if (known instanceof UniversalEvent) return known;
    const event = Object.create(UniversalEvent.prototype) as UniversalEvent;
    const fields = event as unknown as {
      id: string;
      buffer: SharedArrayBuffer;
      flag: Int32Array;
      local: EventWaiter[];
      watching: boolean;
    };
    fields.id = handle.id;
    fields.buffer = handle.flag;
    fields.flag = new Int32Array(handle.flag);
    fields.local = [];
    fields.watching = false;
    remember(handle.id, event);
    return event;
  }

  /** A handle for another thread (plain data; nothing to transfer). */
  handle(): UniversalEventHandle {
    return { __curio: 'ue', id: this.id, flag: this.buffer };
  }

  /** Whether the event is set (in any thread). */
  isSet(): boolean {
    return Atomics.load(this.flag, 0) !== 0;
  }

  /** Set the event and wake every waiter in every thread. Never blocks. */
  set(): void {
    Atomics.store(this.flag, 0, 1);
    Atomics.notify(this.flag, 0);
    this.wakeLocal();
  }

  /** Clear the event. */
  clear(): void {
    Atomics.store(this.flag, 0, 0);
  }

  /** Number of kernel tasks and Promises of this thread waiting. */
  get waiters(): number {
    let n = 0;
    for (const w of this.local) if (!w.dead) n++;
    return n;
  }

  /**
   * Wait until the event is set. In a kernel task a cancellable trap (state `UEVENT_WAIT`);
   * from plain code, `options.signal` aborts it.
   */
  wait(options?: AsyncOptions): Promise<void> {
    if (this.isSet()) return RESOLVED;
    if (currentTaskOrNull() !== null) {
      return waitExternal<void>('UEVENT_WAIT', (wake) => {
        const waiter: EventWaiter = { dead: false, wake: () => wake.resolve(undefined) };
        this.addWaiter(waiter);
        return () => {
          waiter.dead = true;
        };
      });
    }
    return promiseWait<void>(options?.signal, (resolve, done) => {
      const waiter: EventWaiter = {
        dead: false,
        wake: () => {
          done();
          resolve();
        },
      };
      this.addWaiter(waiter);
      return () => {
        waiter.dead = true;
      };
    });
  }

  /**
   * Block the calling thread until the event is set (worker threads). Throws
   * {@link UniversalTimeout} after `options.timeout` ms. On the main thread it returns at
   * once if the event is set and otherwise throws KernelUsageError `ERR_WOULD_BLOCK`.
   */
  waitSync(options?: SyncOptions): void {
    const timeout = checkTimeout(options);
    if (this.isSet()) return;
    if (isMainThread) throw wouldBlock('UniversalEvent.waitSync() on the main thread');
    const deadline = performance.now() + timeout;
    while (!this.isSet()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new UniversalTimeout(`UniversalEvent.waitSync() timed out after ${timeout} ms`);
      Atomics.wait(this.flag, 0, 0, left === Infinity ? undefined : left);
    }
  }

  private addWaiter(waiter: EventWaiter): void {
    if (this.local.length > 32) this.local = this.local.filter((w) => !w.dead);
    this.local.push(waiter);
    this.watch();
  }

  /** Keep one Atomics.waitAsync on the flag while this thread has waiters (other threads' sets). */
  private watch(): void {
    if (this.watching) return;
    const result = waitAsync(this.flag, 0, 0);
    if (!result.async) {
      this.wakeLocal();
      return;
    }
    this.watching = true;
    void result.value.then(() => {
      this.watching = false;
      if (this.isSet()) this.wakeLocal();
      else if (this.local.some((w) => !w.dead)) this.watch();
    });
  }

  private wakeLocal(): void {
    const list = this.local;
    if (list.length === 0) return;
    this.local = [];
    for (const waiter of list) {
      if (!waiter.dead) {
        waiter.dead = true;
        waiter.wake();
      }
    }
  }
}
