// TaskOperation: an operation a task starts and gets back as a plain Promise, which the kernel
// schedules (its settlement resumes the task in its own turn) and cancels (task.cancel() and
// timeouts abandon it) however the task awaits it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Queue,
  TaskCancelled,
  TaskTimeout,
  clock,
  currentTask,
  run,
  sleep,
  spawn,
  timeoutAfter,
} from '@curio-ts/kernel';
import { OwnedOperation, TaskOperation, abortOperation, atBurstEnd, beginOperation, operationFulfilled, settleOperation } from '@curio-ts/kernel/lowlevel';
import type { OperationSlots, TaskOperationLink } from '@curio-ts/kernel/lowlevel';
import type { CancelledError, Task } from '@curio-ts/kernel';

/** An operation settled from outside the kernel after `ms` (like a reply arriving from IO). */
function later<T>(ms: number, value: T, log?: string[]): TaskOperation<T> {
  const op = new TaskOperation<T>('OP_WAIT', {
    cancel: () => {
      clearTimeout(timer);
      log?.push('cancelled');
    },
  });
  const timer = setTimeout(() => op.resolve(value), ms);
  return op;
}

function failLater(ms: number, error: Error): TaskOperation<never> {
  const op = new TaskOperation<never>('OP_WAIT');
  setTimeout(() => op.reject(error), ms);
  return op;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('TaskOperation', () => {
  it('is a plain Promise whichever way it is used, and the task keeps working', async () => {
    const out = await run(async () => {
      const results: unknown[] = [];
      results.push(await later(5, 1).promise);
      results.push(await later(5, '2').promise.then(Number));
      results.push(await Promise.all([later(5, 3).promise, later(1, 4).promise]));
      results.push(await Promise.race([later(5, 'slow').promise, later(1, 'fast').promise]));
      const stored = later(1, 5).promise;
      await sleep(10);
      results.push(await stored);
      results.push(await failLater(1, new Error('six')).promise.catch((e: Error) => e.message));
      results.push(currentTask().state);
      return results;
    });
    expect(out).toEqual([1, 2, [3, 4], 'fast', 5, 'six', 'RUNNING']);
  });

  it('the waiting task shows the operation state and resumes in its own turn', async () => {
    await run(async () => {
      const waiter = spawn(async () => {
        const value = await later(20, 'done').promise;
        // Holding the baton: kernel calls work at once.
        return `${value}@${currentTask().name}`;
      }, { name: 'waiter' });
      await sleep(5);
      expect(waiter.state).toBe('OP_WAIT');
      expect(await waiter.join()).toBe('done@waiter');
    });
  });

  it('task.cancel() interrupts an await of an operation at once and abandons it', async () => {
    const log: string[] = [];
    await run(async () => {
      const task = spawn(() => later(10_000, 'never', log).promise);
      await sleep(5);
      const t0 = clock();
      await task.cancel();
      expect(clock() - t0).toBeLessThan(100);
      expect(task.exception).toBeInstanceOf(TaskCancelled);
      expect(log).toEqual(['cancelled']);
    });
  });

  it('a timeout abandons the operations started inside its block, not those started before', async () => {
    const log: string[] = [];
    await run(async () => {
      const before = later(40, 'before', log).promise;
      await expect(timeoutAfter(10, () => later(10_000, 'inside', log).promise)).rejects.toBeInstanceOf(TaskTimeout);
      expect(log).toEqual(['cancelled']);
      expect(await before).toBe('before');
    });
  });

  it('a cancellation received through an operation is delivered once', async () => {
    const log: string[] = [];
    await run(async () => {
      const task = spawn(async () => {
        try {
          await later(10_000, 'x').promise;
        } catch (error) {
          log.push((error as Error).name);
          await sleep(1);
          log.push('cleanup slept');
          throw error;
        }
      });
      await sleep(5);
      await task.cancel();
    });
    expect(log).toEqual(['TaskCancelled', 'cleanup slept']);
  });

  it('a cancelled task not awaiting its operation still gets the cancellation at its next trap', async () => {
    const log: string[] = [];
    await run(async () => {
      const task = spawn(async () => {
        const stored = later(10_000, 'x').promise;
        await new Promise((resolve) => setTimeout(resolve, 30)); // a plain (foreign) await
        log.push('after foreign');
        try {
          await sleep(1);
          log.push('not cancelled');
        } catch (error) {
          log.push((error as Error).name);
        }
        log.push(String(await stored.catch((e: Error) => e.name)));
      });
      await sleep(5);
      await task.cancel();
    });
    expect(log).toEqual(['after foreign', 'TaskCancelled', 'TaskCancelled']);
    expect(unhandled).toEqual([]);
  });

  it('operations of a task that ends stay pending and settle normally', async () => {
    const settled = await run(async () => {
      let value: unknown = null;
      const task = spawn(async () => {
        void later(20, 'late').promise.then((v) => {
          value = v;
        });
      });
      await task.join();
      await sleep(40);
      return value;
    });
    expect(settled).toBe('late');
  });

  it('operations started by plain code work outside any task', async () => {
    expect(await later(1, 'plain').promise).toBe('plain');
  });

  it('a task awaiting a plain Promise while its operation is pending is found again', async () => {
    const out = await run(async () => {
      const task = spawn(async () => {
        const pending = later(50, 'op').promise;
        await new Promise((resolve) => setTimeout(resolve, 10));
        await sleep(1); // a kernel call from a task resumed outside its turn
        const name = currentTask().name;
        return `${await pending}/${name}`;
      }, { name: 'mixed' });
      return task.join();
    });
    expect(out).toBe('op/mixed');
  });

  it('a fire-and-forget operation abandoned by a cancellation is no unhandled rejection', async () => {
    await run(async () => {
      const task = spawn(async () => {
        void later(10_000, 'x').promise;
        await sleep(10_000);
      });
      await sleep(5);
      await task.cancel();
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(unhandled).toEqual([]);
  });

  it('"not yet": a cancelled task keeps waiting until its operation settles, then gets the cancellation', async () => {
    const log: string[] = [];
    await run(async () => {
      let op: TaskOperation<string> | null = null;
      const task = spawn(async () => {
        op = new TaskOperation<string>('QUERY_WAIT', {
          cancel: () => {
            log.push('cancel asked');
            return false; // the server must confirm first
          },
        });
        try {
          log.push(`got ${await op.promise}`);
        } catch (error) {
          log.push(`${(error as Error).name} in ${currentTask().state}`);
          await sleep(0); // the cancellation was delivered once: kernel calls work again
          log.push('went on');
        }
      }, { name: 'query' });
      await sleep(1);
      await task.cancel({ blocking: false });
      await sleep(5);
      log.push(`after cancel: ${task.state}, terminated ${String(task.terminated)}`);
      (op as TaskOperation<string> | null)?.resolve('late value');
      await task.wait();
      log.push(`exception ${String(task.exception)}`);
    });
    expect(log).toEqual([
      'cancel asked',
      'after cancel: QUERY_WAIT, terminated false',
      'TaskCancelled in RUNNING',
      'went on',
      'exception undefined',
    ]);
  });

  it('"not yet" under a timeout: the block ends with TaskTimeout once the operation settles', async () => {
    const log: string[] = [];
    await run(async () => {
      const query = (): Promise<string> => {
        // Started inside the timeout block, so the timeout covers it.
        const op: TaskOperation<string> = new TaskOperation<string>('QUERY_WAIT', {
          cancel: () => {
            log.push('cancel asked');
            setTimeout(() => {
              log.push('settles with an error');
              op.reject(new Error('query cancelled by the server'));
            }, 10);
            return false;
          },
        });
        return op.promise;
      };
      try {
        await timeoutAfter(5, query);
      } catch (error) {
        log.push((error as Error).name);
      }
      await sleep(0);
      log.push('went on');
    });
    expect(log).toEqual(['cancel asked', 'settles with an error', 'TaskTimeout', 'went on']);
    expect(unhandled).toEqual([]);
  });

  it('a canceller that settles its operation inside cancel() still ends it with the cancellation', async () => {
    const out = await run(async () => {
      const task = spawn(async () => {
        const op: TaskOperation<string> = new TaskOperation<string>('OP_WAIT', {
          cancel: () => {
            op.resolve('a value nobody may see');
          },
        });
        return op.promise;
      });
      await sleep(1);
      await task.cancel();
      return task.exception;
    });
    expect(out).toBeInstanceOf(TaskCancelled);
  });

  it('a virtual clock does not jump while a task waits on an operation', async () => {
    const order = await run(
      async () => {
        const done: string[] = [];
        const waiter = spawn(async () => {
          done.push(`${await later(30, 'op').promise}@${clock()}`);
        });
        const sleeper = spawn(async () => {
          await sleep(1000);
          done.push(`sleep@${clock()}`);
        });
        await waiter.join();
        await sleeper.join();
        return done;
      },
      { clock: 'virtual' },
    );
    // Had the clock jumped while the operation was pending, the sleeper would finish first.
    expect(order).toEqual(['op@0', 'sleep@1000']);
  });
});

describe('OwnedOperation (a kind of operation named by its class)', () => {
  class ReplyOperation<T> extends OwnedOperation<T> {
    get state(): string {
      return 'REPLY_WAIT';
    }
  }

  it('names the waiting task by its getter, resumes it in its turn, and settles once', async () => {
    await run(async () => {
      let op: ReplyOperation<string> | null = null;
      const waiter = spawn(async () => {
        op = new ReplyOperation<string>();
        const value = await op.promise;
        return `${value}@${currentTask().name}`;
      }, { name: 'waiter' });
      await sleep(5);
      expect(waiter.state).toBe('REPLY_WAIT');
      expect(Object.keys(op as unknown as object)).not.toContain('state');
      setTimeout(() => {
        op?.resolve('done');
        op?.reject(new Error('ignored'));
      }, 5);
      expect(await waiter.join()).toBe('done@waiter');
      expect((op as unknown as ReplyOperation<string>).settled).toBe(true);
    });
  });

  it('gives its Promise while it starts only; a TaskOperation keeps its Promise', async () => {
    const owned = new ReplyOperation<number>();
    const promise = owned.promise;
    owned.resolve(1);
    expect(() => owned.promise).toThrow();
    expect(await promise).toBe(1);
    const kept = new TaskOperation<number>('OP_WAIT');
    kept.resolve(2);
    expect(await kept.promise).toBe(2);
  });

  it('is abandoned by a cancellation: its canceller is told and its Promise is handled', async () => {
    const log: string[] = [];
    await run(async () => {
      const task = spawn(async () => {
        const op = new ReplyOperation<string>({ cancel: () => void log.push('cancelled') });
        void op.promise;
        await op.promise;
      });
      await sleep(5);
      await task.cancel();
      expect(task.exception).toBeInstanceOf(TaskCancelled);
      expect(log).toEqual(['cancelled']);
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(unhandled).toEqual([]);
  });
});

/**
 * An object that is its own operation, as a runtime's call class is (no OwnedOperation made):
 * its slots, the kernel's functions, and its own resolve/reject and canceller.
 */
class SelfOperation<T> implements OperationSlots {
  _owner: Task | null = null;
  _prev: TaskOperationLink | null = null;
  _next: TaskOperationLink | null = null;
  _seq = 0;
  _outcome: unknown = null;
  readonly promise: Promise<T>;
  private settleWith: [(value: T) => void, (error: unknown) => void] | null = null;

  constructor(private readonly answer: () => boolean | void = () => {}) {
    this.promise = new Promise<T>((resolve, reject) => (this.settleWith = [resolve, reject]));
    beginOperation(this, this.promise);
  }
  get _waitState(): 'SELF_WAIT' {
    return 'SELF_WAIT';
  }
  _deliver(): void {
    const value = this._outcome;
    this._outcome = null;
    const [resolve, reject] = this.settleWith as [(value: T) => void, (error: unknown) => void];
    if (operationFulfilled(this)) resolve(value as T);
    else reject(value);
  }
  _cancelOperation(): boolean | void {
    return this.answer();
  }
  _abort(error: CancelledError): boolean {
    return abortOperation(this, error);
  }
}

describe('an object that is its own operation (OperationSlots)', () => {
  it('is owned by the task that made it, names its wait, resumes the task in its turn, settles once', async () => {
    await run(async () => {
      let op: SelfOperation<string> | null = null;
      const waiter = spawn(async () => {
        op = new SelfOperation<string>();
        expect(op._owner).toBe(currentTask());
        const value = await op.promise;
        return `${value}@${currentTask().name}`;
      }, { name: 'waiter' });
      await sleep(5);
      expect(waiter.state).toBe('SELF_WAIT');
      setTimeout(() => {
        settleOperation(op as unknown as SelfOperation<string>, true, 'done');
        settleOperation(op as unknown as SelfOperation<string>, false, new Error('ignored'));
      }, 5);
      expect(await waiter.join()).toBe('done@waiter');
      expect((op as unknown as SelfOperation<string>)._owner).toBeNull();
    });
    const plain = new SelfOperation<number>();
    expect(plain._owner).toBeNull();
    settleOperation(plain, false, new Error('plain'));
    await expect(plain.promise).rejects.toThrow('plain');
  });

  it('a cancellation asks it, rejects it with the cancellation, and leaves no unhandled rejection', async () => {
    const log: string[] = [];
    await run(async () => {
      const task = spawn(async () => {
        void new SelfOperation<string>(() => void log.push('fire-and-forget cancelled')).promise;
        await new SelfOperation<string>(() => void log.push('awaited cancelled')).promise;
      });
      await sleep(5);
      await task.cancel();
      expect(task.exception).toBeInstanceOf(TaskCancelled);
    });
    expect(log).toEqual(['fire-and-forget cancelled', 'awaited cancelled']);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(unhandled).toEqual([]);
  });

  it('"not yet": the task keeps waiting until it settles, then gets the cancellation', async () => {
    const log: string[] = [];
    await run(async () => {
      let op: SelfOperation<string> | null = null;
      const task = spawn(async () => {
        op = new SelfOperation<string>(() => false);
        try {
          log.push(`got ${await op.promise}`);
        } catch (error) {
          log.push(`${(error as Error).name} in ${currentTask().state}`);
        }
      });
      await sleep(1);
      await task.cancel({ blocking: false });
      await sleep(5);
      log.push(`after cancel: ${task.state}`);
      settleOperation(op as unknown as SelfOperation<string>, true, 'late value');
      await task.wait();
    });
    expect(log).toEqual(['after cancel: SELF_WAIT', 'TaskCancelled in RUNNING']);
  });
});

describe('the end of a burst (atBurstEnd) around a task stalled on its operation', () => {
  it('runs once every ready task ran, before the operation it settles is delivered', async () => {
    const out = await run(async () => {
      const trace: string[] = [];
      const op = new TaskOperation<number>('OP_WAIT');
      atBurstEnd(() => {
        trace.push('burst end');
        op.resolve(1);
      });
      spawn(async () => {
        trace.push('other task');
      });
      trace.push(`got ${await op.promise}`);
      return trace;
    });
    expect(out).toEqual(['other task', 'burst end', 'got 1']);
  });

  it('runs at the stall itself when nothing else is ready, and the task resumes in its turn', async () => {
    const out = await run(async () => {
      const trace: string[] = [];
      const op = new TaskOperation<number>('OP_WAIT');
      const task = currentTask();
      atBurstEnd(() => {
        trace.push(`burst end, task ${task.state}`);
        op.resolve(2);
        trace.push(`settled, task ${task.state}`);
      });
      trace.push(`got ${await op.promise}, task ${task.state}`);
      return trace;
    });
    expect(out).toEqual(['burst end, task OP_WAIT', 'settled, task READY', 'got 2, task RUNNING']);
  });
});

describe('an end-of-burst function that throws', () => {
  it('does not stop the others or the scheduler; its error is an uncaught exception', async () => {
    // In a child process: the test runner treats an uncaught exception as a failure of its own.
    const script = `
      import { run, spawn, sleep } from '@curio-ts/kernel';
      import { atBurstEnd } from '@curio-ts/kernel/lowlevel';
      const uncaught = [];
      process.on('uncaughtException', (error) => uncaught.push(error.message));
      const trace = await run(async () => {
        const trace = [];
        atBurstEnd(() => { throw new Error('boom'); });
        atBurstEnd(() => trace.push('second ran'));
        const other = spawn(async () => { await sleep(0); trace.push('other task ran'); });
        await other.join();
        await sleep(20); // the chain goes idle: the burst ends here
        trace.push('main went on');
        atBurstEnd(() => trace.push('third ran'));
        await sleep(20);
        trace.push('end');
        return trace;
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
      process.stdout.write(JSON.stringify({ trace, uncaught }));
    `;
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: import.meta.dirname, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ trace: ['other task ran', 'second ran', 'main went on', 'third ran', 'end'], uncaught: ['boom'] });
  });
});

describe('an operation that settles while its task sleeps in a trap (Promise.race against sleep)', () => {
  /** An operation of the calling task, settled by a timer of Node (as IO settles a client call). */
  function settledAfter<T>(ms: number, value: T, fail = false): Promise<T> {
    const op = new TaskOperation<T>('TEST_OP');
    setTimeout(() => (fail ? op.reject(value) : op.resolve(value)), ms);
    return op.promise;
  }

  it('the operation wins the race: the task goes on in its turn at once; the sleep still ends on time', async () => {
    const trace = await run(async () => {
      const events: string[] = [];
      const other = spawn(async () => {
        for (let i = 0; i < 20; i++) await sleep(2);
        return 'other';
      });
      const t0 = clock();
      // The operation starts first here (the call, then its timeout); the other order is below.
      const op = settledAfter(5, 'op');
      const s = sleep(200);
      const winner = await Promise.race([op, s.then(() => 'sleep')]);
      const wonAt = clock() - t0;
      events.push(winner, currentTask().name);
      await sleep(1); // the task holds the baton again: its own traps work
      events.push(await other.join());
      await s; // the sleep itself ends when it was due, not earlier
      expect(clock() - t0).toBeGreaterThanOrEqual(199);
      expect(wonAt).toBeLessThan(150);
      return events;
    });
    expect(trace).toEqual(['op', 'main', 'other']);
  });

  it('a task that awaits the sleep, not the operation, still sleeps its full time', async () => {
    const slept = await run(async () => {
      const p = settledAfter(2, 42);
      const t0 = clock();
      await sleep(40);
      const elapsed = clock() - t0;
      expect(await p).toBe(42);
      return elapsed;
    });
    expect(slept).toBeGreaterThanOrEqual(39);
  });

  it('a rejected operation wins the race as a rejection, caught by the task in its turn', async () => {
    const outcome = await run(async () => {
      try {
        await Promise.race([settledAfter(3, new Error('boom'), true), sleep(500)]);
        return 'no error';
      } catch (error) {
        await sleep(0);
        return (error as Error).message;
      }
    });
    expect(outcome).toBe('boom');
  });

  it('the rest of the sleep is cancelled with the task, and a timeout covers it', async () => {
    const result = await run(async () => {
      const sleeper = spawn(async () => {
        const op = settledAfter(2, 'op');
        const s = sleep(10_000);
        await Promise.race([op, s]);
        await s; // now waits on the rest of the sleep, as an operation of this task
        return 'slept';
      });
      await sleep(20);
      expect(sleeper.state).toBe('TIME_SLEEP');
      await sleeper.cancel();
      let timedOut = '';
      const t0 = clock();
      try {
        await timeoutAfter(30, async () => {
          const op = settledAfter(2, 'op');
          const s = sleep(10_000);
          await Promise.race([op, s]);
          await s;
        });
      } catch (error) {
        timedOut = (error as CancelledError).name;
      }
      return { cancelled: sleeper.cancelled, timedOut, elapsed: clock() - t0 };
    });
    expect(result.cancelled).toBe(true);
    expect(result.timedOut).toBe('TaskTimeout');
    expect(result.elapsed).toBeLessThan(5_000);
  });

  it('the sleep first, in the same expression (Promise.race([sleep, op])): the operation is still the task\'s, and wins at once, beside started and fresh tasks', async () => {
    const trace = await run(async () => {
      const events: string[] = [];
      const started = spawn(async () => {
        let n = 0;
        for (let i = 0; i < 30; i++) {
          await sleep(1);
          n++;
        }
        return n;
      });
      await sleep(2); // `started` is mid-loop now
      const t0 = clock();
      const winner = await Promise.race([sleep(300).then(() => 'sleep'), settledAfter(5, 'op')]);
      events.push(winner, currentTask().name, String(clock() - t0 < 150));
      // A task spawned just before: the baton goes to a task that has not begun.
      const fresh = spawn(async () => {
        await sleep(1);
        return 'fresh';
      });
      const both = await Promise.all([sleep(10).then(() => 'slept'), settledAfter(3, 'op2')]);
      events.push(...both, currentTask().name, await fresh.join(), String(await started.join()));
      return events;
    });
    expect(trace).toEqual(['op', 'main', 'true', 'slept', 'op2', 'main', 'fresh', '30']);
  });

  it('after a sleep in the same expression, another sleep or a join works; any other blocking call is refused for the task that made it, whoever runs next', async () => {
    const outcome = await run(async () => {
      const others = [0, 1].map((i) =>
        spawn(async () => {
          let n = 0;
          for (let j = 0; j < 20; j++) {
            await sleep(1);
            n++;
          }
          return `other${i}:${n}`;
        }),
      );
      await sleep(2);
      const t0 = clock();
      const [first, second] = await Promise.all([sleep(5), sleep(15)]);
      const results: string[] = [String(first! < second! && clock() - t0 >= 14)];
      results.push(await Promise.race([sleep(30).then(() => 'long'), sleep(3).then(() => 'short')]));
      const queueRefused = spawn(
        async () => {
          try {
            await Promise.all([sleep(5), new Queue<number>().get()]);
            return 'no error';
          } catch (error) {
            return `${(error as { code?: string }).code} ${String(error).includes('(queue-refused)') ? 'names the task' : String(error)}`;
          }
        },
        { name: 'queue-refused' },
      );
      results.push(await queueRefused.join());
      for (const other of others) results.push(await other.join());
      return results;
    });
    expect(outcome).toEqual(['true', 'short', 'ERR_NOT_AWAITED names the task', 'other0:20', 'other1:20']);
  });

  it('joins and sleeps combined in one expression: Promise.all over many joins, a race whose losers end later, cancellation and timeouts', async () => {
    const result = await run(async () => {
      const out: unknown[] = [];
      // Promise.all over the joins of 50 tasks, some ended, some running, some not begun.
      const early = Array.from({ length: 10 }, (_, i) => spawn(async () => i));
      await sleep(1);
      const later = Array.from({ length: 40 }, (_, i) =>
        spawn(async () => {
          await sleep(i % 7);
          return 10 + i;
        }),
      );
      const all = await Promise.all([...early, ...later].map((t) => t.join()));
      out.push(all.length, all[0], all[49]);
      // A race of joins: the losers end while the task sleeps in a later trap; it is not woken
      // by them, and its own turns go on.
      const quick = spawn(async () => {
        await sleep(2);
        return 'quick';
      });
      const slow = spawn(async () => {
        await sleep(20);
        return 'slow';
      });
      out.push(await Promise.race([slow.join(), quick.join()]));
      const t0 = clock();
      await sleep(40);
      out.push(clock() - t0 >= 39, currentTask().name, await slow.join());
      // Cancelled while waiting on two joins: TaskCancelled, the joined tasks unharmed.
      const never = spawn(async () => {
        await sleep(60_000);
      });
      const waiter = spawn(async () => {
        await Promise.all([never.join(), sleep(60_000)]);
      });
      await sleep(5);
      await waiter.cancel();
      out.push(waiter.cancelled, never.terminated);
      await never.cancel();
      // A timeout around two sleeps ends at its deadline.
      const t1 = clock();
      try {
        await timeoutAfter(20, () => Promise.all([sleep(10_000), sleep(20_000)]));
        out.push('no timeout');
      } catch (error) {
        out.push((error as Error).name, clock() - t1 < 5_000);
      }
      await sleep(1);
      out.push(currentTask().name);
      return out;
    });
    expect(result).toEqual([50, 0, 49, 'quick', true, 'main', 'slow', true, false, 'TaskTimeout', true, 'main']);
  });

  it('two joins in one expression: a failure rejects the whole as a TaskError, a timeout ends them, the same task joined twice, and no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown): void => void unhandled.push(error);
    process.on('unhandledRejection', onUnhandled);
    try {
      const out = await run(async () => {
        const seen: unknown[] = [];
        const a = spawn(async () => {
          await sleep(2);
          throw new Error('a failed');
        });
        const b = spawn(async () => {
          await sleep(10);
          return 'b';
        });
        try {
          await Promise.all([a.join(), b.join()]);
          seen.push('no error');
        } catch (error) {
          seen.push(`${(error as Error).name}: ${((error as Error).cause as Error).message}`);
        }
        seen.push(await b.join());
        const slow1 = spawn(async () => {
          await sleep(200);
          return 1;
        });
        const slow2 = spawn(async () => {
          await sleep(250);
          return 2;
        });
        try {
          await timeoutAfter(20, () => Promise.all([slow1.join(), slow2.join()]));
          seen.push('no timeout');
        } catch (error) {
          seen.push((error as Error).name);
        }
        seen.push(currentTask().name, await Promise.all([slow1.join(), slow1.join(), slow2.join()]));
        return seen;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(out).toEqual(['TaskError: a failed', 'b', 'TaskTimeout', 'main', [1, 1, 2]]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('another task settles the operation in its own turn while the owner sleeps', async () => {
    const order = await run(async () => {
      const op = new TaskOperation<string>('TEST_OP');
      const promise = op.promise;
      spawn(async () => {
        await sleep(3);
        op.resolve('from a task');
      });
      const got = await Promise.race([promise, sleep(300).then(() => 'sleep')]);
      return [got, currentTask().name];
    });
    expect(order).toEqual(['from a task', 'main']);
  });
});
