// sync.ts
//
// Task synchronization: Event, Lock, RLock, Semaphore, BoundedSemaphore, Condition, Result
// (Curio's sync.py). All are built on the wait queues of sched.ts and know nothing else of the
// kernel. Operations that cannot block (set, release, notify...) are synchronous and never
// switch tasks; operations that may block return a Promise and are cancellation points only
// when they actually block.
//
// Fairness: waiters are served in arrival order, and a release hands a lock (or semaphore
// unit) straight to the next waiter, so a task that releases and immediately re-acquires
// cannot barge ahead of tasks already waiting. A waiter that was handed the lock and is then
// cancelled before it runs still owns the lock: the cancellation is delivered at its next
// blocking call, after the acquire has returned, so the lock is never lost.

import { KernelUsageError } from './errors.js';
import { SchedBarrier, SchedFIFO } from './sched.js';
import type { Task } from './task.js';
import { currentTaskOrNull, kernelTrap } from './traps.js';
import { disableCancellation } from './cancellation.js';

const RESOLVED: Promise<void> = Promise.resolve();

/** A flag tasks can wait for. */
export class Event {
  private flag = false;
  private readonly waiting = new SchedBarrier();

  /** Whether the event is set. */
  isSet(): boolean {
    return this.flag;
  }

  /** Set the event and wake every waiter. Never switches tasks; callable from anywhere. */
  set(): void {
    this.flag = true;
    this.waiting.wakeAll();
  }

  /** Clear the event. */
  clear(): void {
    this.flag = false;
  }

  /** Wait until the event is set (returns at once if it is). */
  wait(): Promise<void> {
    if (this.flag) return RESOLVED;
    return this.waiting.suspend<void>('EVENT_WAIT');
  }

  /** Number of tasks waiting. */
  get waiters(): number {
    return this.waiting.length;
  }
}

/** A held lock; disposing it releases the lock (`await using held = await lock.acquire()`). */
export interface Held extends Disposable {
  /** Release what was acquired. */
  release(): void;
}

abstract class LockBase implements Held {
  abstract acquire(): Promise<this>;
  abstract release(): void;
  abstract locked(): boolean;

  /** Release on disposal: `await using _ = await lock.acquire()`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** Acquire, run `fn`, and release however `fn` ends. */
  async scope<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** A mutual-exclusion lock with FIFO hand-off. Not re-entrant (see {@link RLock}). */
export class Lock extends LockBase {
  private held = false;
  private readonly waiting = new SchedFIFO();

  /** Acquire the lock, waiting in line if it is held. Resolves with the lock itself. */
  override async acquire(): Promise<this> {
    if (!this.held) {
      this.held = true;
      return this;
    }
    await this.waiting.suspend('LOCK_ACQUIRE');
    // Ownership was handed over by release(): `held` stayed true.
    return this;
  }

  /** Release the lock; the longest waiter (if any) now holds it. Never switches tasks. */
  override release(): void {
    if (!this.held) throw new KernelUsageError('Lock.release(): lock is not acquired', 'ERR_NOT_ACQUIRED');
    if (!this.waiting.wakeOne()) this.held = false;
  }

  /** Whether the lock is held. */
  override locked(): boolean {
    return this.held;
  }

  /** Number of tasks waiting. */
  get waiters(): number {
    return this.waiting.length;
  }
}

/** A re-entrant lock: the owning task may acquire it again; it must release as often. */
export class RLock extends LockBase {
  private readonly lock = new Lock();
  private owner: Task | null = null;
  private count = 0;

  /** Acquire (again, if the calling task already owns it). */
  override async acquire(): Promise<this> {
    const me = kernelTrap({ trap: 'current' });
    if (this.owner !== me) {
      await this.lock.acquire();
      this.owner = me;
    }
    this.count++;
    return this;
  }

  /** Release once; the lock is free when the owner released as often as it acquired. */
  override release(): void {
    if (this.count === 0) throw new KernelUsageError('RLock.release(): lock is not acquired', 'ERR_NOT_ACQUIRED');
    if (currentTaskOrNull() !== this.owner) {
      throw new KernelUsageError('RLock.release(): only the owner may release', 'ERR_NOT_OWNER');
    }
    this.count--;
    if (this.count === 0) {
      this.owner = null;
      this.lock.release();
    }
  }

  /** Whether the lock is held. */
  override locked(): boolean {
    return this.count > 0;
  }
}

/** A counting semaphore with FIFO hand-off. */
export class Semaphore extends LockBase {
  protected count: number;
  private readonly waiting = new SchedFIFO();

  /** `value` units are available at first (default 1). */
  constructor(value = 1) {
    super();
    if (!Number.isInteger(value) || value < 0) throw new TypeError('Semaphore: value must be an integer >= 0');
    this.count = value;
  }

  /** Units available now. */
  get value(): number {
    return this.count;
  }

  /** Take a unit, waiting in line if none is available. */
  override async acquire(): Promise<this> {
    if (this.count > 0 && this.waiting.length === 0) {
      this.count--;
      return this;
    }
    await this.waiting.suspend('SEMA_ACQUIRE');
    return this;
  }

  /** Return a unit; the longest waiter (if any) gets it. Never switches tasks. */
  override release(): void {
    if (!this.waiting.wakeOne()) this.count++;
  }

  /** Whether no unit is available. */
  override locked(): boolean {
    return this.count === 0;
  }

  /** Number of tasks waiting. */
  get waiters(): number {
    return this.waiting.length;
  }
}

/** A semaphore that refuses to be released above its initial value. */
export class BoundedSemaphore extends Semaphore {
  private readonly bound: number;

  constructor(value = 1) {
    super(value);
    this.bound = value;
  }

  /** Return a unit; throws if that would exceed the initial value. */
  override release(): void {
    if (this.count >= this.bound && this.waiters === 0) {
      throw new KernelUsageError('BoundedSemaphore.release(): released too many times', 'ERR_SEMAPHORE_BOUND');
    }
    super.release();
  }
}

/** A condition variable over a lock (a new {@link Lock} by default). */
export class Condition extends LockBase {
  private readonly lock: Lock | RLock;
  private readonly waiting = new SchedFIFO();

  constructor(lock?: Lock | RLock) {
    super();
    this.lock = lock ?? new Lock();
  }

  /** Whether the underlying lock is held. */
  override locked(): boolean {
    return this.lock.locked();
  }

  /** Acquire the underlying lock. */
  override async acquire(): Promise<this> {
    await this.lock.acquire();
    return this;
  }

  /** Release the underlying lock. */
  override release(): void {
    this.lock.release();
  }

  /**
   * Release the lock, wait to be notified, and re-acquire the lock before returning (also when
   * cancelled). The lock must be held.
   */
  async wait(): Promise<void> {
    if (!this.locked()) throw new KernelUsageError("Condition.wait(): can't wait on an unacquired lock", 'ERR_NOT_ACQUIRED');
    this.release();
    try {
      await this.waiting.suspend('COND_WAIT');
    } finally {
      // Re-acquire even if cancelled meanwhile, so wait() always returns (or throws) holding the
      // lock; a cancellation arriving now is delivered at the next blocking call instead.
      await disableCancellation(() => this.acquire());
    }
  }

  /** Wait until `predicate()` is truthy; returns its value. The lock must be held. */
  async waitFor<T>(predicate: () => T): Promise<T> {
    for (;;) {
      const result = predicate();
      if (result) return result;
      await this.wait();
    }
  }

  /** Wake up to `n` waiters. The lock must be held. */
  notify(n = 1): void {
    if (!this.locked()) throw new KernelUsageError("Condition.notify(): can't notify on an unacquired lock", 'ERR_NOT_ACQUIRED');
    this.waiting.wake(n);
  }

  /** Wake every waiter. The lock must be held. */
  notifyAll(): void {
    this.notify(this.waiting.length);
  }

  /** Number of tasks waiting. */
  get waiters(): number {
    return this.waiting.length;
  }
}

/** A value (or error) set once by one task and awaited by others. */
export class Result<T = unknown> {
  private readonly event = new Event();
  private value: T | undefined = undefined;
  private error: unknown = undefined;
  private failed = false;

  /** Whether a value or error has been set. */
  isSet(): boolean {
    return this.event.isSet();
  }

  /** Set the value and wake the waiters. A Result is set once. */
  set(value: T): void {
    this.checkUnset();
    this.value = value;
    this.event.set();
  }

  /** Set an error that `unwrap()` will throw, and wake the waiters. */
  setError(error: unknown): void {
    this.checkUnset();
    this.failed = true;
    this.error = error;
    this.event.set();
  }

  /** Wait until set; return the value or throw the error. */
  async unwrap(): Promise<T> {
    if (!this.event.isSet()) await this.event.wait();
    if (this.failed) throw this.error;
    return this.value as T;
  }

  private checkUnset(): void {
    if (this.event.isSet()) throw new KernelUsageError('Result is already set', 'ERR_RESULT_SET');
  }
}
