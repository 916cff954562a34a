// The virtual clock: timers in order on virtual time, the end of a burst, idleness, autojump.
import { describe, expect, it } from 'vitest';
import { createMemoryRuntime, MemoryRuntimeError, VirtualClock } from '@curio-ts/backend-memory';

describe('VirtualClock', () => {
  it('fires timers in order of time then creation, each at its own time, as advance passes them', async () => {
    const clock = new VirtualClock();
    const trace: string[] = [];
    clock.timer(30, () => trace.push(`c@${clock.now()}`));
    clock.timer(10, () => trace.push(`a@${clock.now()}`));
    clock.timer(10, () => trace.push(`b@${clock.now()}`));
    clock.timer(31, () => trace.push(`late@${clock.now()}`));
    await clock.advance(30);
    expect(trace).toEqual(['a@10', 'b@10', 'c@30']);
    expect(clock.now()).toBe(30);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(1);
    expect(trace.at(-1)).toBe('late@31');
    expect(clock.pendingTimers).toBe(0);
  });

  it('lets the work one timer causes finish before the next timer due at the same time fires', async () => {
    const clock = new VirtualClock();
    const trace: string[] = [];
    clock.timer(5, () => {
      trace.push('first');
      void Promise.resolve()
        .then(() => trace.push('first: job 1'))
        .then(() => clock.defer(() => trace.push('first: deferred')));
    });
    clock.timer(5, () => trace.push('second'));
    await clock.advance(5);
    expect(trace).toEqual(['first', 'first: job 1', 'first: deferred', 'second']);
  });

  it('timers started by timers fire within the same advance when due, at their own time', async () => {
    const clock = new VirtualClock();
    const times: number[] = [];
    const tick = (): void => {
      times.push(clock.now());
      if (times.length < 5) clock.timer(7, tick);
    };
    clock.timer(7, tick);
    await clock.advance(30);
    expect(times).toEqual([7, 14, 21, 28]);
    expect(clock.now()).toBe(30);
  });

  it('a cancelled timer never fires; cancelling twice is harmless', async () => {
    const clock = new VirtualClock();
    let fired = false;
    const cancel = clock.timer(1, () => {
      fired = true;
    });
    cancel();
    cancel();
    await clock.advance(10);
    expect(fired).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('runUntilIdle runs due timers and deferred work without moving time; next() jumps to the next timer', async () => {
    const clock = new VirtualClock({ start: 1000 });
    const trace: string[] = [];
    clock.timer(0, () => trace.push('zero'));
    clock.timer(-5, () => trace.push('negative is zero'));
    clock.timer(50, () => trace.push('fifty'));
    clock.timer(Number.POSITIVE_INFINITY, () => trace.push('never'));
    await clock.runUntilIdle();
    expect(trace).toEqual(['zero', 'negative is zero']);
    expect(clock.now()).toBe(1000);
    expect(await clock.next()).toBe(true);
    expect(clock.now()).toBe(1050);
    expect(trace).toEqual(['zero', 'negative is zero', 'fifty']);
    expect(await clock.next()).toBe(false);
    expect(clock.now()).toBe(1050);
  });

  it('defer runs after every pending Promise job, deferred functions of one burst together and in order', async () => {
    const clock = new VirtualClock();
    const trace: string[] = [];
    clock.defer(() => {
      trace.push('deferred 1');
      clock.defer(() => trace.push('deferred by deferred'));
      void Promise.resolve().then(() => trace.push('job of deferred 1'));
    });
    void Promise.resolve()
      .then(() => trace.push('job 1'))
      .then(() => trace.push('job 2'))
      .then(() => clock.defer(() => trace.push('deferred 2')));
    clock.defer(() => trace.push('deferred 3'));
    await clock.runUntilIdle();
    expect(trace).toEqual(['job 1', 'job 2', 'deferred 1', 'deferred 3', 'deferred 2', 'job of deferred 1', 'deferred by deferred']);
  });

  it('defer called from a macrotask still waits for the Promise jobs of that macrotask', async () => {
    const clock = new VirtualClock();
    const trace: string[] = [];
    await new Promise<void>((resolve) => {
      setImmediate(() => {
        clock.defer(() => {
          trace.push('deferred');
          resolve();
        });
        void Promise.resolve().then(() => trace.push('job'));
      });
    });
    expect(trace).toEqual(['job', 'deferred']);
  });

  it('autoAdvance jumps to the next timer when the program is idle, and only then', async () => {
    const clock = new VirtualClock({ autoAdvance: true });
    const trace: string[] = [];
    const sleeper = (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(1000);
        trace.push(`woke@${clock.now()}`);
      }
    })();
    // Work that never sleeps runs before any jump.
    let spins = 0;
    for (let i = 0; i < 50; i++) {
      await new Promise<void>((resolve) => clock.defer(resolve));
      spins++;
    }
    expect(spins).toBe(50);
    expect(clock.now()).toBe(0);
    await sleeper;
    expect(trace).toEqual(['woke@1000', 'woke@2000', 'woke@3000']);
  });

  it('switching autoAdvance on later starts jumping', async () => {
    const clock = new VirtualClock();
    const slept = clock.sleep(500).then(() => clock.now());
    await clock.runUntilIdle();
    expect(clock.now()).toBe(0);
    clock.autoAdvance = true;
    expect(await slept).toBe(500);
  });

  it('an error thrown by a timer or a deferred function goes to onError and the clock goes on', async () => {
    const errors: unknown[] = [];
    const clock = new VirtualClock({ onError: (error) => errors.push(error) });
    const boom = new Error('timer');
    let after = false;
    clock.timer(1, () => {
      throw boom;
    });
    clock.defer(() => {
      throw new Error('deferred');
    });
    clock.timer(2, () => {
      after = true;
    });
    await clock.advance(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(['deferred', 'timer']);
    expect(after).toBe(true);
  });

  it('refuses a negative advance and a bad start with MemoryRuntimeError', async () => {
    const clock = new VirtualClock();
    await expect(clock.advance(-1)).rejects.toBeInstanceOf(MemoryRuntimeError);
    await expect(clock.advance(Number.NaN)).rejects.toMatchObject({ code: 'ERR_BAD_OPTION' });
    expect(() => new VirtualClock({ start: Number.NaN })).toThrow(MemoryRuntimeError);
  });

  it("the runtime's sleep, timer and now follow the clock, never wall time", async () => {
    const { runtime, clock } = createMemoryRuntime({ start: 5 });
    expect(runtime.now()).toBe(5);
    let slept = false;
    void runtime.sleep(60_000).then(() => {
      slept = true;
    });
    let fired = 0;
    runtime.timer(120_000, () => fired++);
    await clock.advance(59_999);
    expect(slept).toBe(false);
    await clock.advance(1);
    expect(slept).toBe(true);
    expect(runtime.now()).toBe(60_005);
    await clock.advance(60_000);
    expect(fired).toBe(1);
  });
});

describe('VirtualClock with autoAdvance and runUntilIdle together', () => {
  it('runUntilIdle returns at an idle point, and time goes on jumping afterwards', async () => {
    const clock = new VirtualClock({ autoAdvance: true });
    const slept = clock.sleep(100).then(() => clock.now());
    await clock.runUntilIdle();
    await clock.runUntilIdle();
    expect(await slept).toBe(100);
  });
});

describe('random', () => {
  it('is seeded: the same seed gives the same sequence, in [0, 1); another seed another one', () => {
    const draw = (seed: number): number[] => {
      const { runtime } = createMemoryRuntime({ seed });
      const random = runtime.random as () => number;
      return Array.from({ length: 50 }, () => random());
    };
    const first = draw(7);
    expect(draw(7)).toEqual(first);
    expect(draw(8)).not.toEqual(first);
    for (const value of first) expect(value >= 0 && value < 1).toBe(true);
    expect(new Set(first).size).toBe(50);
  });
});
