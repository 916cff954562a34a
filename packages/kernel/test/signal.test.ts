// Signals for kernel tasks: SIGUSR1/SIGUSR2 sent to this process (queued in order while nobody
// waits, bounded, handed to a waiting task, cancellable waits, listeners removed on close),
// and SIGINT/SIGTERM/SIGHUP sent to a child node process that runs a kernel with a
// SignalQueue and a SignalEvent and reports over stdout (Node's default exit is off while they
// listen, and back after close).

import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  ClosedResourceError,
  Event,
  SignalEvent,
  SignalQueue,
  TaskCancelled,
  TaskTimeout,
  spawn,
  subprocess,
  timeoutAfter,
} from '@curio-ts/kernel';
import { blockedIn, failure, runReal, until } from './socket-helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const listeners = (): number[] => [process.listenerCount('SIGUSR1'), process.listenerCount('SIGUSR2')];
const raise = (signal: NodeJS.Signals): void => {
  process.kill(process.pid, signal);
};

describe('SignalQueue', () => {
  test('a waiting task gets the signal; signals that come while nobody waits are queued in order', async () => {
    const before = listeners();
    const got = await runReal(async () => {
      using signals = new SignalQueue('SIGUSR1', 'SIGUSR2');
      const waiter = spawn(() => signals.get(), { name: 'waiter' });
      await blockedIn(waiter, 'SIGNAL_WAIT');
      raise('SIGUSR2');
      const first = await waiter.join();
      raise('SIGUSR1');
      raise('SIGUSR2');
      raise('SIGUSR1');
      await until(() => signals.size() === 3, 'three signals were queued');
      const queued = [await signals.get(), await signals.get(), await signals.get()];
      return { first, queued, during: listeners(), dropped: signals.dropped };
    });
    expect(got.first).toBe('SIGUSR2');
    expect(got.queued).toEqual(['SIGUSR1', 'SIGUSR2', 'SIGUSR1']);
    expect(got.during).toEqual([before[0] as number + 1, before[1] as number + 1]);
    expect(got.dropped).toBe(0);
    expect(listeners()).toEqual(before);
  });

  test('the queue is bounded: beyond maxsize, signals are counted as dropped', async () => {
    const got = await runReal(async () => {
      using signals = new SignalQueue(['SIGUSR1'], { maxsize: 2 });
      for (let i = 0; i < 5; i++) raise('SIGUSR1');
      await until(() => signals.size() + signals.dropped === 5, 'five signals arrived');
      return { size: signals.size(), dropped: signals.dropped, maxsize: signals.maxsize };
    });
    expect(got).toEqual({ size: 2, dropped: 3, maxsize: 2 });
  });

  test('a timed-out or cancelled get takes nothing: the next signal waits for the next get', async () => {
    const got = await runReal(async () => {
      using signals = new SignalQueue('SIGUSR2');
      const timedOut = await failure(timeoutAfter(20, () => signals.get()));
      const waiter = spawn(() => signals.get(), { name: 'waiter' });
      await blockedIn(waiter, 'SIGNAL_WAIT');
      await waiter.cancel();
      raise('SIGUSR2');
      await until(() => signals.size() === 1, 'the signal was queued');
      return { timedOut, cancelled: waiter.exception, next: await signals.get() };
    });
    expect(got.timedOut).toBeInstanceOf(TaskTimeout);
    expect(got.cancelled).toBeInstanceOf(TaskCancelled);
    expect(got.next).toBe('SIGUSR2');
  });

  test('for await gives signals until the queue is closed; close wakes a waiting get', async () => {
    const before = listeners();
    const got = await runReal(async () => {
      const signals = new SignalQueue('SIGUSR1', 'SIGUSR2');
      const seen: string[] = [];
      const iterating = spawn(async () => {
        for await (const signal of signals) seen.push(signal);
        return 'ended';
      }, { name: 'iterating' });
      for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
        await blockedIn(iterating, 'SIGNAL_WAIT');
        raise(signal);
        await until(() => seen.length > 0 && seen[seen.length - 1] === signal, `${signal} was seen`);
      }
      await blockedIn(iterating, 'SIGNAL_WAIT');
      signals.close();
      const end = await iterating.join();
      const afterClose = await failure(signals.get());
      signals.close(); // twice is harmless
      return { seen, end, afterClose, closed: signals.closed };
    });
    expect(got.seen).toEqual(['SIGUSR1', 'SIGUSR2']);
    expect(got.end).toBe('ended');
    expect(got.afterClose).toBeInstanceOf(ClosedResourceError);
    expect(got.closed).toBe(true);
    expect(listeners()).toEqual(before);
  });

  test('bad signals are TypeErrors', () => {
    expect(() => new SignalQueue()).toThrow(TypeError);
    expect(() => new SignalQueue('SIGKILL')).toThrow(/cannot be caught/);
    expect(() => new SignalQueue('SIGSTOP')).toThrow(TypeError);
    expect(() => new SignalQueue('SIGNOPE' as NodeJS.Signals)).toThrow(/unknown signal/);
    expect(() => new SignalQueue(['SIGUSR1'], { maxsize: 0 })).toThrow(TypeError);
    expect(() => new SignalEvent()).toThrow(TypeError);
  });
});

describe('SignalEvent', () => {
  test('an Event set by a signal; wait is cancellable; close wakes waiters with ClosedResourceError', async () => {
    const before = listeners();
    const got = await runReal(async () => {
      const event = new SignalEvent('SIGUSR1', 'SIGUSR2');
      const trace: unknown[] = [event instanceof Event, event.isSet(), event.signal];
      const waiter = spawn(() => event.wait(), { name: 'waiter' });
      await blockedIn(waiter, 'SIGNAL_WAIT');
      trace.push(event.waiters);
      raise('SIGUSR2');
      await waiter.join();
      trace.push(event.isSet(), event.signal, event.waiters);
      await event.wait(); // set: returns at once
      event.clear();
      trace.push(await failure(timeoutAfter(20, () => event.wait())));
      const closing = spawn(() => event.wait(), { name: 'closing' });
      await blockedIn(closing, 'SIGNAL_WAIT');
      event.close();
      trace.push(await failure(closing.join()));
      return { trace, during: event.closed };
    });
    expect(got.trace.slice(0, 6)).toEqual([true, false, null, 1, true, 'SIGUSR2']);
    expect(got.trace[6]).toBe(0);
    expect(got.trace[7]).toBeInstanceOf(TaskTimeout);
    expect((got.trace[8] as { cause?: unknown }).cause).toBeInstanceOf(ClosedResourceError);
    expect(got.during).toBe(true);
    expect(listeners()).toEqual(before);
  });
});

describe('in a child process: SIGINT, SIGHUP and SIGTERM', () => {
  test('handled by the program while a SignalQueue or SignalEvent listens; default exit after close', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess([process.execPath, fixture('signals.mjs')], { stdout: 'pipe', stderr: 'pipe' });
      const stdout = child.stdout as NonNullable<typeof child.stdout>;
      const lines: string[] = [];
      const next = async (): Promise<Uint8Array> => {
        const line = await timeoutAfter(10_000, () => stdout.readline());
        if (line.length === 0) {
          const stderr = await (child.stderr as NonNullable<typeof child.stderr>).readAll();
          throw new Error(`the fixture ended early: ${Buffer.from(stderr).toString()}`);
        }
        lines.push(Buffer.from(line).toString().trimEnd());
        return line;
      };
      await next(); // queue ready
      for (const signal of ['SIGINT', 'SIGHUP', 'SIGINT', 'SIGTERM'] as const) {
        child.kill(signal);
        await next();
      }
      await next(); // listeners after close
      await next(); // event ready
      child.kill('SIGHUP');
      await next();
      await next(); // defaults restored
      child.kill('SIGTERM');
      const status = await timeoutAfter(10_000, () => child.wait());
      return { lines, status, signal: child.signalCode, rest: (await stdout.readAll()).length };
    });
    expect(got.lines).toEqual([
      'queue ready',
      'got SIGINT',
      'got SIGHUP',
      'got SIGINT',
      'got SIGTERM',
      'listeners after close: 0',
      'event ready',
      'event SIGHUP',
      'defaults restored',
    ]);
    expect([got.status, got.signal, got.rest]).toEqual([-15, 'SIGTERM', 0]);
  });
});
