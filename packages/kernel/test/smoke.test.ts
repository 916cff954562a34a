import { describe, expect, it } from 'vitest';
import { run, spawn, sleep, Lock, TaskGroup } from '@curio-ts/kernel';

describe('smoke', () => {
  it('runs tasks in Curio order', async () => {
    const trace: string[] = [];
    const result = await run(async () => {
      const t = spawn(async () => {
        trace.push('child');
        await sleep(0);
        return 2;
      });
      trace.push('main');
      return (await t.join()) * 21;
    });
    expect(result).toBe(42);
    expect(trace).toEqual(['main', 'child']);
  });

  it('supports await using', async () => {
    const trace: string[] = [];
    await run(async () => {
      const lock = new Lock();
      {
        await using g = new TaskGroup();
        g.spawn(async () => {
          using _held = await lock.acquire();
          trace.push('a');
          await sleep(0);
        });
        g.spawn(async () => {
          using _held = await lock.acquire();
          trace.push('b');
        });
      }
      trace.push(`locked=${lock.locked()}`);
    });
    expect(trace).toEqual(['a', 'b', 'locked=false']);
  });
});
