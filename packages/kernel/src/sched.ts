// sched.ts
//
// The tiny scheduling protocol that every synchronization primitive is built on (Curio's
// sched.py): a wait queue that can *suspend* the calling task and *wake* some of the tasks it
// holds. Events, locks, semaphores, conditions, queues and task joins know nothing about the
// kernel beyond this.
//
// - `suspend(state, payload?)` is a blocking trap: the calling task waits in `state` until
//   woken. If the task is cancelled or times out while waiting, the kernel calls
//   `cancelWait(task)`, so a cancelled waiter never consumes a later wake-up.
// - `wake(n, value)` is an ordinary synchronous call that moves up to `n` waiters to the
//   ready queue; their `suspend()` resolves with `value`. It never switches tasks, so it can be
//   called from a task, from a task's cleanup code, or from plain Promise code outside any
//   kernel.
//
// Discussion: waiting costs no allocation. The queue holds the task itself plus the sequence
// number of that wait (`task._waitSeq`, bumped by the kernel at every suspension). A cancelled
// waiter is not searched for: it is counted out, and its entry is recognised as stale and
// skipped when it reaches the front (its task is no longer waiting on this queue, or is waiting
// again under a newer sequence number). A payload (a queued item for a blocked put) rides on the
// task, which waits for one thing at a time.

import type { Task, TaskState } from './task.js';
import { Deque } from './deque.js';
import { reschedule } from './handoff.js';
import { kernelTrap } from './traps.js';

/** Something a blocked task can be taken out of when it is cancelled or times out. */
export interface WaitCancel {
  /** Forget that `task` waits here. Called by the kernel only, while the task is still blocked. */
  cancelWait(task: Task): void;
}

/** A wait queue of suspended tasks. */
export abstract class SchedBase implements WaitCancel {
  /** Number of tasks waiting. */
  abstract get length(): number;

  // kernelSuspend and cancelWait stay in the published types although only the kernel calls
  // them: a subclass must implement them.

  /**
   * Register `task` (already marked as waiting by the kernel) as waiting here. Called by the
   * kernel only.
   */
  abstract kernelSuspend(task: Task): void;

  /** Forget that `task` waits here (it was cancelled or timed out). Called by the kernel only. */
  abstract cancelWait(task: Task): void;

  /** Remove the next waiting task, or return null. */
  protected abstract takeNext(): Task | null;

  /**
   * Suspend the calling task until it is woken. `state` names what it waits for; it is shown
   * by `task.state` and the monitor. `payload` is kept with the waiting task (see
   * {@link SchedFIFO.peekPayload}). Resolves with the value passed to `wake`.
   */
  suspend<V = unknown>(state: TaskState, payload?: unknown): Promise<V> {
    return kernelTrap({ trap: 'schedWait', sched: this, state, payload }) as Promise<V>;
  }

  /** Wake up to `n` waiting tasks; their `suspend()` resolves with `value`. Returns how many. */
  wake(n = 1, value?: unknown): number {
    let woken = 0;
    while (woken < n) {
      const task = this.takeNext();
      if (task === null) break;
      task._waitPayload = undefined;
      reschedule(task, value);
      woken++;
    }
    return woken;
  }

  /** Wake the longest-waiting task with `value`. Returns false if nobody waits. */
  wakeOne(value?: unknown): boolean {
    const task = this.takeNext();
    if (task === null) return false;
    task._waitPayload = undefined;
    reschedule(task, value);
    return true;
  }

  /** Wake every waiting task. */
  wakeAll(value?: unknown): number {
    return this.wake(this.length, value);
  }
}

/** Tasks wake in arrival order. Used by locks, semaphores and queues. */
export class SchedFIFO extends SchedBase {
  private readonly tasks = new Deque<Task>();
  private readonly seqs = new Deque<number>();
  private waiting = 0;

  override get length(): number {
    return this.waiting;
  }

  override kernelSuspend(task: Task): void {
    this.tasks.push(task);
    this.seqs.push(task._waitSeq);
    this.waiting++;
  }

  override cancelWait(_task: Task): void {
    this.waiting--;
  }

  /** Drop stale entries at the front; true if a live waiter is at the front. */
  private settleFront(): boolean {
    while (this.waiting > 0) {
      const task = this.tasks.peek() as Task;
      if (task._waitCancel === this && task._waitSeq === this.seqs.peek()) return true;
      this.tasks.shift();
      this.seqs.shift();
    }
    // Nobody waits: whatever entries remain are stale.
    if (this.tasks.length > 0) {
      this.tasks.clear();
      this.seqs.clear();
    }
    return false;
  }

  protected override takeNext(): Task | null {
    if (!this.settleFront()) return null;
    const task = this.tasks.shift() as Task;
    this.seqs.shift();
    this.waiting--;
    return task;
  }

  /**
   * The payload the longest-waiting task passed to `suspend`, without waking it; `undefined`
   * if nobody waits.
   */
  peekPayload(): unknown {
    return this.settleFront() ? (this.tasks.peek() as Task)._waitPayload : undefined;
  }
}

/**
 * A wait queue meant to be woken all at once (`wakeAll`), in arrival order. Used by events and
 * task joins.
 */
export class SchedBarrier extends SchedFIFO {}

/** The barrier of a task's joins: knows the task (kernel.ts, waitAside). @internal */
export class JoinBarrier extends SchedBarrier {
  constructor(readonly task: Task) {
    super();
  }
}
