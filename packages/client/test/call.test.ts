// EngineCall and RedisCall: what a call keeps (its booleans as bits, its rare parts apart) and
// where its outcome goes (a Wake, a Promise's functions, a batch's sink, or held until its wait
// begins), independent of any runtime or connection.
import { describe, expect, it } from 'vitest';
import { EngineCall, RedisCall } from '@curio-ts/client';
import { encodeCommand } from '@curio-ts/proto-redis';
import type { Wake } from '@curio-ts/client';

/** What a batch's waiter implements (engine/call.ts's BatchSink, not exported). */
interface BatchSink {
  settled(call: EngineCall, ok: boolean, value: unknown): void;
}

function plainCall(transform: ((response: never) => unknown) | null = null): EngineCall {
  return new EngineCall('TEST', true, false, null, undefined, undefined, transform);
}

function recorder(): { wake: Wake<unknown>; seen: [string, unknown][] } {
  const seen: [string, unknown][] = [];
  return { seen, wake: { resolve: (v) => seen.push(['resolve', v]), reject: (e) => seen.push(['reject', e]) } };
}

describe('EngineCall', () => {
  it('reports its constructor arguments, rare ones included', () => {
    const signal = new AbortController().signal;
    const call = new EngineCall('X', false, true, null, 25, signal, null);
    expect([call.label, call.retryable, call.exclusive, call.timeout, call.signal]).toEqual(['X', false, true, 25, signal]);
    const bare = plainCall();
    expect([bare.retryable, bare.exclusive, bare.timeout, bare.signal, bare.cleanup, bare.onSettled, bare.abandonedWith]).toEqual([true, false, undefined, undefined, null, null, null]);
  });

  it('settles a Wake once, through its transform, and runs cleanup and onSettled first', () => {
    const order: string[] = [];
    const call = plainCall(((n: number) => n * 2) as (response: never) => unknown);
    const { wake, seen } = recorder();
    call.cleanup = () => order.push('cleanup');
    call.onSettled = () => order.push('settled');
    call.start(wake);
    call.resolve(21);
    call.resolve(1);
    call.fail(new Error('late'));
    expect(seen).toEqual([['resolve', 42]]);
    expect(order).toEqual(['cleanup', 'settled']);
    expect(call.done).toBe(true);
  });

  it('settles the functions a Promise runtime hands it; a throwing transform fails the call', async () => {
    const boom = new Error('boom');
    const call = plainCall(() => {
      throw boom;
    });
    const promise = new Promise((resolve, reject) => call.startWith(resolve, reject));
    call.resolve('x');
    await expect(promise).rejects.toBe(boom);
  });

  it('keeps only the resolve function it is handed: an error settles the Promise through a rejected one', async () => {
    const error = new Error('failed');
    const settled: string[] = [];
    const call = plainCall();
    const promise = new Promise((resolve, reject) =>
      call.startWith(
        (value) => {
          settled.push('resolve');
          resolve(value);
        },
        (reason) => {
          settled.push('reject');
          reject(reason);
        },
      ),
    );
    call.fail(error);
    await expect(promise).rejects.toBe(error);
    expect(settled).toEqual(['resolve']);
    // Fire-and-forget: the rejected Promise it settles through is handled by the call's Promise.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const dropped = plainCall();
      const kept = new Promise((resolve, reject) => dropped.startWith(resolve, reject));
      dropped.fail(new Error('dropped'));
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(unhandled).toHaveLength(1); // the call's own Promise, as with a reject function
      expect(unhandled[0]).toBeInstanceOf(Error);
      kept.catch(() => {});
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('holds an outcome reached before its wait began and hands it over when it begins (every kind of wait)', async () => {
    const early = plainCall();
    early.resolve('early');
    const { wake, seen } = recorder();
    early.start(wake);
    expect(seen).toEqual([['resolve', 'early']]);

    const failed = plainCall();
    const error = new Error('failed early');
    failed.fail(error);
    await expect(new Promise((resolve, reject) => failed.startWith(resolve, reject))).rejects.toBe(error);

    const inBatch = plainCall();
    inBatch.resolve('batched');
    const got: [number, boolean, unknown][] = [];
    const sink: BatchSink = { settled: (call, ok, value) => got.push([call.index, ok, value]) };
    inBatch.startBatch(sink, 7);
    expect(got).toEqual([[7, true, 'batched']]);
  });

  it('tells a batch sink its number while it settles', () => {
    const got: number[] = [];
    const sink: BatchSink = { settled: (call) => got.push(call.index) };
    const calls = [plainCall(), plainCall(), plainCall()];
    calls.forEach((call, i) => call.startBatch(sink, i));
    calls[2]?.resolve(null);
    calls[0]?.resolve(null);
    calls[1]?.fail(new Error('x'));
    expect(got).toEqual([2, 0, 1]);
  });

  it('an abandoning call ends with the abandonment error, not its response; drop tells nobody', () => {
    const call = plainCall();
    const { wake, seen } = recorder();
    call.start(wake);
    const timeout = new Error('timed out');
    call.state = 'abandoning';
    call.abandonedWith = timeout;
    call.resolve('late reply');
    expect(seen).toEqual([['reject', timeout]]);

    const dropped = plainCall();
    const other = recorder();
    dropped.start(other.wake);
    dropped.drop();
    expect(other.seen).toEqual([]);
    expect(dropped.done).toBe(true);
  });
});

describe('RedisCall', () => {
  it('keeps bytes and the attributes callback, and a one-key command without an argument array until asked', () => {
    const onAttributes = (): void => {};
    const call = RedisCall.forKey('GET', 'k', true, true, null, undefined, undefined, null);
    call.onAttributes = onAttributes;
    expect([call.label, call.bytes, call.retryable, call.exclusive, call.onAttributes]).toEqual(['GET', true, true, false, onAttributes]);
    expect(call.args).toEqual(['GET', 'k']);
    const full = new RedisCall(['SET', 'k', 'v'], 'SET', false, false, false, null, undefined, undefined, null);
    expect([full.args, full.bytes, full.onAttributes]).toEqual([['SET', 'k', 'v'], false, null]);
  });

  it('sizeHint is the bytes the command takes on the wire for ASCII strings and byte arrays, one-key or not', () => {
    const keys = ['', 'k', 'bench:key', 'x'.repeat(10), 'y'.repeat(99), 'z'.repeat(100), 'w'.repeat(1000), 'v'.repeat(12_345)];
    for (const key of keys) {
      for (const arg of [key, new TextEncoder().encode(key)]) {
        expect(RedisCall.forKey('GET', arg, false, true, null, undefined, undefined, null).sizeHint).toBe(encodeCommand(['GET', arg]).length);
        const args = ['SET', arg, 'value', ...Array.from({ length: 12 }, (_, i) => `a${i}`)];
        expect(new RedisCall(args, 'SET', false, false, false, null, undefined, undefined, null).sizeHint).toBe(encodeCommand(args).length);
      }
    }
    // Numbers are guessed (their text is made only when encoded).
    expect(RedisCall.forKey('INCRBY', 5, false, false, null, undefined, undefined, null).sizeHint).toBeGreaterThan(0);
  });
});
