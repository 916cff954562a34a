// local.ts
//
// Task-local storage (Curio's contextvars-based task class). Each task holds its own values;
// a spawned task starts with a copy of its parent's, so a value set in the child is not seen
// by the parent and a value set in the parent later is not seen by the child. Code outside
// any kernel task sees a separate, process-wide value; a top-level task (run(), runTask())
// starts with a copy of the values set outside, as Curio's ContextTask copies its creator's
// context.

import { currentTaskOrNull } from './traps.js';

/** Values set outside any task; a top-level task starts with a copy (like a task's children). */
const outsideValues = new Map<object, unknown>();

/** @internal The values a new top-level task starts with, or null if none was set. */
export function outsideLocals(): Map<object, unknown> | null {
  return outsideValues.size === 0 ? null : new Map(outsideValues);
}

/** A variable with one value per task. */
export class Local<T> {
  private readonly initial: T;

  /** `initial` is the value before any `set`. */
  constructor(initial: T) {
    this.initial = initial;
  }

  /** The calling task's value. */
  get(): T {
    const task = currentTaskOrNull();
    const values = task === null ? outsideValues : task._locals;
    if (values === null || !values.has(this)) return this.initial;
    return values.get(this) as T;
  }

  /** Set the calling task's value (tasks it spawns from now on inherit it). */
  set(value: T): void {
    const task = currentTaskOrNull();
    if (task === null) outsideValues.set(this, value);
    else (task._locals ??= new Map()).set(this, value);
  }

  /** Run `fn` with the value set to `value`, restoring the previous value afterwards. */
  async scope<R>(value: T, fn: () => R | PromiseLike<R>): Promise<R> {
    const previous = this.get();
    this.set(value);
    try {
      return await fn();
    } finally {
      this.set(previous);
    }
  }
}
