// local.ts
//
// Task-local storage (Curio's contextvars-based task class). Each task holds its own values;
// a spawned task starts with a copy of its parent's, so a value set in the child is not seen
// by the parent and a value set in the parent later is not seen by the child. Code outside
// any kernel task sees a separate, process-wide value.

import { currentTaskOrNull } from './traps.js';

/** A variable with one value per task. */
export class Local<T> {
  private outside: T;

  /** `initial` is the value before any `set`. */
  constructor(initial: T) {
    this.outside = initial;
    this.initial = initial;
  }

  private readonly initial: T;

  /** The calling task's value. */
  get(): T {
    const task = currentTaskOrNull();
    if (task === null) return this.outside;
    const locals = task._locals;
    if (locals === null || !locals.has(this)) return this.initial;
    return locals.get(this) as T;
  }

  /** Set the calling task's value (tasks it spawns from now on inherit it). */
  set(value: T): void {
    const task = currentTaskOrNull();
    if (task === null) {
      this.outside = value;
      return;
    }
    (task._locals ??= new Map()).set(this, value);
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
