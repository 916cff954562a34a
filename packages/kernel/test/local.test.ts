// Port of Curio's test_contextvars (tests/test_task.py, run with Kernel(taskcls=ContextTask)),
// plus tests of the contextvars semantics Local reproduces: a task starts with a copy of its
// parent's values taken when it is spawned.

import { describe, expect, it } from 'vitest';
import { Event, Local, TaskGroup, clock, sleep, spawn } from '@curio-ts/kernel';
import { runClean } from './helpers.js';

describe('Local (contextvars)', () => {
  it('test_contextvars: each task of a group counts down its own value', async () => {
    const x = new Local(0);
    const events: number[] = [];
    async function countdown(n: number): Promise<void> {
      x.set(n);
      while (x.get() > 0) {
        events.push(x.get());
        x.set(x.get() - 1);
        await sleep(0);
      }
    }
    await runClean(async () => {
      await TaskGroup.scope(async (g) => {
        g.spawn(() => countdown(3));
        g.spawn(() => countdown(6));
      });
      // The parent's value was never touched by its children.
      expect(x.get()).toBe(0);
    });
    expect(events).toEqual([3, 6, 2, 5, 1, 4, 3, 2, 1]);
  });

  it('a task gets a copy of its parent values taken at spawn time', async () => {
    const x = new Local('initial');
    const trace: string[] = [];
    await runClean(async () => {
      const evt = new Event();
      const early = spawn(async () => {
        await evt.wait();
        trace.push(`early sees ${x.get()}`);
      });
      x.set('a');
      const child = spawn(async () => {
        trace.push(`child sees ${x.get()}`);
        await evt.wait();
        trace.push(`child still sees ${x.get()}`);
        x.set('c');
        trace.push(`child set ${x.get()}`);
      });
      x.set('b');
      trace.push(`main set ${x.get()}`);
      await sleep(0);
      evt.set();
      await early.join();
      await child.join();
      trace.push(`main sees ${x.get()}`);
    });
    expect(trace).toEqual([
      'main set b',
      'child sees a',
      'early sees initial',
      'child still sees a',
      'child set c',
      'main sees b',
    ]);
  });

  it('values pass down through generations, and into task groups', async () => {
    const x = new Local(0);
    const trace: string[] = [];
    await runClean(async () => {
      x.set(1);
      await spawn(async () => {
        x.set(x.get() + 1);
        await TaskGroup.scope(async (g) => {
          g.spawn(async () => {
            trace.push(`grandchild sees ${x.get()}`);
            x.set(100);
            await sleep(5);
            trace.push(`grandchild sees ${x.get()} at ${clock()}`);
          });
          x.set(x.get() + 1);
          trace.push(`child sees ${x.get()}`);
        });
        trace.push(`child still sees ${x.get()}`);
      }).join();
      trace.push(`main sees ${x.get()}`);
    });
    expect(trace).toEqual([
      'child sees 3',
      'grandchild sees 2',
      'grandchild sees 100 at 5',
      'child still sees 3',
      'main sees 1',
    ]);
  });

  it('several Locals are independent', async () => {
    const a = new Local('a0');
    const b = new Local<number | null>(null);
    const seen = await runClean(async () => {
      a.set('a1');
      const child = spawn(async () => {
        b.set(7);
        return `${a.get()} ${String(b.get())}`;
      });
      const fromChild = await child.join();
      return `${fromChild} / ${a.get()} ${String(b.get())}`;
    });
    expect(seen).toBe('a1 7 / a1 null');
  });

  it('Local.scope sets a value for a block and restores it, also on error', async () => {
    const x = new Local('outer');
    const trace: string[] = [];
    await runClean(async () => {
      const inside = await x.scope('inner', async () => {
        trace.push(`in scope ${x.get()}`);
        const child = spawn(async () => {
          await sleep(1);
          trace.push(`child spawned in scope sees ${x.get()}`);
        });
        await sleep(0);
        return child;
      });
      trace.push(`after scope ${x.get()}`);
      await inside.join();
      try {
        await x.scope('failing', async () => {
          await sleep(1);
          throw new Error('boom');
        });
      } catch (error) {
        trace.push(`scope threw ${(error as Error).message}, value ${x.get()}`);
      }
    });
    expect(trace).toEqual([
      'in scope inner',
      'after scope outer',
      'child spawned in scope sees inner',
      'scope threw boom, value outer',
    ]);
  });

  it('the main task starts with the value current where run() was called', async () => {
    // Curio's ContextTask: a task without a parent runs in copy_context() of the code that
    // created it, so values set before kernel.run() are seen by the main task, and values the
    // main task sets are not seen outside.
    const x = new Local('initial');
    expect(x.get()).toBe('initial');
    x.set('outside');
    const seen = await runClean(async () => {
      const before = x.get();
      x.set('main');
      const child = await spawn(async () => x.get()).join();
      return `${before} ${x.get()} ${child}`;
    });
    expect(seen).toBe('outside main main');
    expect(x.get()).toBe('outside');
  });

  it('code outside any task has its own value, untouched by tasks', async () => {
    const x = new Local(0);
    await runClean(async () => {
      x.set(5);
      await sleep(1);
      expect(x.get()).toBe(5);
    });
    expect(x.get()).toBe(0);
    x.set(2);
    expect(x.get()).toBe(2);
  });
});
