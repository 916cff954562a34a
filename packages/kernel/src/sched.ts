// sched.ts
//
// The tiny scheduling protocol that every synchronization primitive is built on (Curio's
// sched.py): a wait queue that can *suspend* the calling task and *wake* some of the tasks it
// holds. Events, locks, semaphores, conditions, queues and task joins know nothing about the
// kernel beyond this.
//
// - `suspend(state)` is a blocking trap: the calling task waits in `state` until woken. If
//   the task is cancelled or times out while waiting, the kernel calls the removal function
//   returned by `kernelSuspend`, so a cancelled waiter never consumes a later wake-up.
// - `wake(n, value)` is an ordinary synchronous call that moves up to `n` waiters to the
//   ready queue; their `suspend()` resolves with `value`. It never switches tasks, so it can be
//   called from a task, from a task's cleanup code, or from plain Promise code outside any
//   kernel.

import type { Task, TaskState } from './task.js';
import { Deque } from './deque.js';
import { reschedule } from './runtime.js';
import { kernelTrap } from './traps.js';

/** A wait queue of suspended tasks. */
export abstract class SchedBase {
  /** Number of tasks waiting. */
  abstract get length(): number;

  /**
   * Register `task` as waiting. Returns a function that removes it again (used when the task is
   * cancelled or times out while waiting). Called by the kernel only.
   * @internal
   */
  abstract kernelSuspend(task: Task, payload?: unknown): () => void;

  /**
   * Remove up to `n` waiting tasks and return them, in the order they should run. Called by
   * `wake` only.
   * @internal
   */
  abstract kernelWake(n: number): Task[];

  /**
   * Suspend the calling task until it is woken. `state` names what it waits for; it is shown
   * by `task.state` and the monitor. Resolves with the value passed to `wake`.
   */
  suspend<V = unknown>(state: TaskState, payload?: unknown): Promise<V> {
    return kernelTrap({ trap: 'schedWait', sched: this, state, payload }) as Promise<V>;
  }

  /** Wake up to `n` waiting tasks; their `suspend()` resolves with `value`. Returns how many. */
  wake(n = 1, value?: unknown): number {
    if (n <= 0 || this.length === 0) return 0;
    const tasks = this.kernelWake(n);
    for (const task of tasks) reschedule(task, value);
    return tasks.length;
  }

  /** Wake every waiting task. */
  wakeAll(value?: unknown): number {
    return this.wake(this.length, value);
  }
}

interface FifoSlot {
  task: Task | null;
  payload: unknown;
}

/** Tasks wake in arrival order. Used by locks, semaphores and queues. */
export class SchedFIFO extends SchedBase {
  private readonly slots = new Deque<FifoSlot>();
  private waiting = 0;

  override get length(): number {
    return this.waiting;
  }

  /** @internal */
  override kernelSuspend(task: Task, payload?: unknown): () => void {
    // A cancelled waiter leaves its slot behind as null; wake skips it. O(1) both ways.
    const slot: FifoSlot = { task, payload };
    this.slots.push(slot);
    this.waiting++;
    return () => {
      slot.task = null;
      this.waiting--;
    };
  }

  /** @internal */
  override kernelWake(n: number): Task[] {
    const woken: Task[] = [];
    while (woken.length < n && this.waiting > 0) {
      const slot = this.slots.shift() as FifoSlot;
      if (slot.task !== null) {
        woken.push(slot.task);
        slot.task = null;
        this.waiting--;
      }
    }
    return woken;
  }

  /** Wake the longest-waiting task with `value`. Returns false if nobody waits. */
  wakeOne(value?: unknown): boolean {
    while (this.waiting > 0) {
      const slot = this.slots.shift() as FifoSlot;
      const task = slot.task;
      if (task !== null) {
        slot.task = null;
        slot.payload = undefined;
        this.waiting--;
        reschedule(task, value);
        return true;
      }
    }
    return false;
  }

  /**
   * The payload the longest-waiting task passed to `suspend`, without waking it; `undefined`
   * if nobody waits.
   */
  peekPayload(): unknown {
    while (this.waiting > 0) {
      const slot = this.slots.peek() as FifoSlot;
      if (slot.task !== null) return slot.payload;
      this.slots.shift();
    }
    return undefined;
  }
}

/**
 * A wait queue meant to be woken all at once (`wakeAll`), in arrival order. Used by events and
 * task joins. Same O(1) suspend and cancel as {@link SchedFIFO}.
 */
export class SchedBarrier extends SchedFIFO {}
