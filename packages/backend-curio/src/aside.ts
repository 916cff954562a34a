// aside.ts
//
// Opening work that blocks in kernel traps (connecting, listening, a TLS upgrade), run in a
// task of its own while the caller waits on a kernel operation.
//
// Discussion: why. A kernel task is one thread of awaits: a trap that blocks suspends the task
// and hands the baton on, so a second trap made meanwhile by the same task's other code (another
// branch of a Promise.all, or the task's next await after a call it has not awaited yet) runs
// outside the task's turn and is refused (ERR_OUTSIDE_KERNEL). Client calls are kernel
// operations rather than traps for this reason. Opening a connection ran its traps in the
// caller's task, though (a client's connect, a pool growing for a transaction, pg's TLS upgrade
// after SSLRequest), so on curio `Promise.all([connectRedis(), connectRedis()])`, or a
// transaction started and not yet awaited while the task slept, failed. Here those traps run
// in a daemon task, and the caller waits as on any call: on an operation of its own, so its
// other code may go on making calls meanwhile; a cancellation or timeout of the caller cancels
// the opening task, and what that task opened after the caller gave up is closed.
//
// Outside any task (plain code), `fn` runs in the caller, as before.

import { FnWaiter } from '@curio-ts/client';
import { spawn } from '@curio-ts/kernel';
import type { Task } from '@curio-ts/kernel';
import { TaskOperation, currentTaskOrNull } from '@curio-ts/kernel/lowlevel';

/**
 * Run `fn` (which may block in kernel traps) in a daemon task named `name`; the caller gets a
 * Promise that is a kernel operation of its task. `dispose` takes what `fn` produced after the
 * caller stopped waiting.
 */
export function runAside<T>(name: string, fn: () => Promise<T>, dispose: (value: T) => void): Promise<T> {
  if (currentTaskOrNull() === null) return fn();
  let task: Task | null = null;
  let abandoned = false;
  const waiter = new FnWaiter<T>(
    (wake) => {
      task = spawn(
        async () => {
          let value: T;
          try {
            value = await fn();
          } catch (error) {
            // The caller's outcome: this task itself ends quietly (nothing for the kernel to report).
            if (!abandoned) wake.reject(error);
            return;
          }
          if (abandoned) dispose(value);
          else wake.resolve(value);
        },
        { name, daemon: true },
      );
    },
    () => {
      abandoned = true;
      void task?.cancel({ blocking: false });
    },
  );
  const operation = new TaskOperation<T>('OPENING', waiter);
  // Read before the wait begins, as the runtime's `wait` does.
  const promise = operation.promise;
  waiter.start(operation);
  return promise;
}
