// awaitable.ts
//
// KernelAwaitable: what a client call returns on the curio runtime. It is a Promise-compatible
// object whose waiting becomes a kernel trap only when that is safe.
//
// Discussion. A kernel task may wait on one thing at a time: a trap suspends the task at once.
// If every client call trapped when it was made, `Promise.all([client.get(a), client.get(b)])`
// or a fire-and-forget `client.set(k, v).catch(log)` would suspend a task that is still running
// its own code, and corrupt the kernel's view of it. So the call is sent at once (auto-
// pipelining is unaffected), but the decision how to wait is taken in `then`:
//
// - `then` called by an `await` (or Promise.all/race, which await for you): V8 calls it from a
//   job of its own with its native resolving functions, after the awaiting task suspended. If
//   the task that made the call is the one holding the kernel's baton and it is running, the
//   wait becomes a kernel trap (state REDIS_REPLY...): task.cancel(), timeoutAfter and the
//   monitor all see it, and the kernel keeps its fast path.
// - Anything else (a callback passed to `.then` by user code, a second call awaited while the
//   task is already blocked on a first one, plain code outside the kernel): an ordinary
//   Promise. The task then waits on a foreign Promise, which the kernel handles too (more
//   slowly, and interruptible only when it settles or through the task's abortSignal).

import { runningTask, waitExternal, waitExternalInto } from '@curio-ts/kernel';
import type { ExternalWake, Task } from '@curio-ts/kernel';
import type { Wake, Waiter } from '@curio-ts/client';

const nativeSource = Function.prototype.toString;

/** Whether `fn` is one of V8's own functions (the resolving functions of an await). */
function isNative(fn: unknown): boolean {
  return typeof fn === 'function' && nativeSource.call(fn).endsWith('{ [native code] }');
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

// The trap's start function is shared; the awaitable it belongs to is passed in this slot
// (the kernel calls start synchronously inside waitExternalInto).
let starting: KernelAwaitable<unknown> | null = null;
function startTrap(wake: ExternalWake): () => void {
  const awaitable = starting as KernelAwaitable<unknown>;
  starting = null;
  return awaitable.trapStarted(wake);
}

/** A client call's result on the curio runtime (Promise-compatible). */
export class KernelAwaitable<T> implements Wake<T> {
  private outcome: Settled<T> | null = null;
  private trapWake: ExternalWake | null = null;
  // Plain subscribers: the first one in two fields (the usual case), more in a list.
  private plainResolve: ((value: T) => void) | null = null;
  private plainReject: ((error: unknown) => void) | null = null;
  private more: { resolve(value: T): void; reject(error: unknown): void }[] | null = null;
  private readonly creator: Task | null;

  constructor(
    private readonly state: string,
    private readonly waiter: Waiter<T>,
  ) {
    this.creator = runningTask();
    waiter.start(this);
  }

  /** For `Object.prototype.toString` (a getter: nothing stored per call). */
  get [Symbol.toStringTag](): string {
    return 'KernelAwaitable';
  }

  /** @internal Wake: the call finished. */
  resolve(value: T): void {
    this.settle({ ok: true, value });
  }

  /** @internal Wake: the call failed. */
  reject(error: unknown): void {
    this.settle({ ok: false, error });
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    const awaited = isNative(onFulfilled);
    if (awaited && this.outcome === null) {
      // V8's own resolving functions (an await, or Promise.all awaiting for you): use them
      // directly, whether the wait becomes a trap or not (V8 ignores what `then` returns here).
      const resolve = onFulfilled as (value: T) => void;
      const reject = onRejected as (error: unknown) => void;
      if (this.mayTrap()) {
        starting = this as KernelAwaitable<unknown>;
        waitExternalInto<T>(this.state, startTrap, resolve, reject);
      } else this.addPlain(resolve, reject);
      return undefined as unknown as Promise<R1 | R2>;
    }
    return this.subscribe(awaited).then(onFulfilled, onRejected);
  }

  /** @internal The kernel started the trap of this awaitable. */
  trapStarted(wake: ExternalWake): () => void {
    this.trapWake = wake;
    return () => {
      this.trapWake = null;
      this.waiter.cancel();
    };
  }

  private mayTrap(): boolean {
    return this.trapWake === null && this.creator !== null && runningTask() === this.creator;
  }

  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.subscribe(false).catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.subscribe(false).finally(onFinally);
  }

  /** A Promise of the outcome: a kernel trap when an await of the creating task asks for it. */
  private subscribe(awaited: boolean): Promise<T> {
    const outcome = this.outcome;
    if (outcome !== null) return outcome.ok ? Promise.resolve(outcome.value) : Promise.reject(outcome.error);
    if (awaited && this.mayTrap()) {
      return waitExternal<T>(this.state, (wake) => {
        this.trapWake = wake;
        return () => {
          this.trapWake = null;
          this.waiter.cancel();
        };
      });
    }
    return new Promise<T>((resolve, reject) => this.addPlain(resolve, reject));
  }

  private addPlain(resolve: (value: T) => void, reject: (error: unknown) => void): void {
    if (this.plainResolve === null) {
      this.plainResolve = resolve;
      this.plainReject = reject;
    } else (this.more ??= []).push({ resolve, reject });
  }

  private settle(outcome: Settled<T>): void {
    if (this.outcome !== null) return;
    this.outcome = outcome;
    const wake = this.trapWake;
    this.trapWake = null;
    if (wake !== null) {
      if (outcome.ok) wake.resolve(outcome.value);
      else wake.reject(outcome.error);
    }
    const resolve = this.plainResolve;
    if (resolve !== null) {
      const reject = this.plainReject as (error: unknown) => void;
      this.plainResolve = this.plainReject = null;
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    }
    const more = this.more;
    this.more = null;
    if (more !== null) {
      for (const p of more) {
        if (outcome.ok) p.resolve(outcome.value);
        else p.reject(outcome.error);
      }
    }
  }
}
