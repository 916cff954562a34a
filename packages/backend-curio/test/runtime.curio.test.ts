// What only the curio runtime does with the Runtime interface: time on the kernel's clock (a
// per-call timeout under a virtual clock ends at once in wall time), a wait that answers "not
// yet" to its cancellation, background work started from outside any task, and the listener's
// bound on connections nobody accepts.
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandTimeoutError, EngineCall, FnWaiter, RedisCall } from '@curio-ts/client';
import type { Background, CallOwner, Wake } from '@curio-ts/client';
import { answerLikeRedis, startFakeRedis } from '@curio-ts/conformance';
import type { FakeRedis } from '@curio-ts/conformance';
import { TaskCancelled, clock, currentTask, run, sleep, spawn } from '@curio-ts/kernel';
import { currentTaskOrNull } from '@curio-ts/kernel/lowlevel';
import { CurioListener, connectCurio, connectRedis, curioRuntime } from '@curio-ts/backend-curio';

describe('the curio runtime on the kernel clock', () => {
  let silent: FakeRedis;
  beforeAll(async () => {
    // Answers the handshake like Redis, never answers GET.
    silent = await startFakeRedis((command) => (command.name === 'GET' ? null : answerLikeRedis(command)));
  });
  afterAll(async () => {
    await silent.stop();
  });

  it('a 60 s per-call timeout on a GET nobody answers ends at once under the virtual clock', async () => {
    const wallStart = Date.now();
    const out = await run(
      async () => {
        const client = await connectRedis(`redis://127.0.0.1:${silent.port}`);
        const start = clock();
        const failure = await client.get('never', { timeout: 60_000 }).then(
          () => null,
          (error: unknown) => error,
        );
        const elapsed = clock() - start;
        await client.close();
        return { failure, elapsed };
      },
      { clock: 'virtual', autojumpThreshold: 50 },
    );
    expect(out.failure).toBeInstanceOf(CommandTimeoutError);
    expect(out.elapsed).toBeGreaterThanOrEqual(60_000);
    expect(Date.now() - wallStart).toBeLessThan(60_000);
    expect(silent.commands.some((command) => command.name === 'GET')).toBe(true);
  });

  it('a wait answering "not yet" keeps its task waiting until it settles, then delivers the cancellation', async () => {
    const log = await run(async () => {
      const rt = curioRuntime();
      const trace: string[] = [];
      let wake: Wake<string> | null = null;
      const task = spawn(async () => {
        try {
          trace.push(
            await rt.wait(
              'QUERY_WAIT',
              new FnWaiter<string>(
                (w) => {
                  wake = w;
                },
                () => {
                  trace.push('cancel asked');
                  return false; // e.g. a Postgres CancelRequest must be answered first
                },
              ),
            ),
          );
        } catch (error) {
          trace.push((error as Error).name);
        }
      }, { name: 'query' });
      await sleep(1);
      await task.cancel({ blocking: false });
      await sleep(5);
      trace.push(`still ${task.state}`);
      (wake as Wake<string> | null)?.resolve('late value');
      await task.wait();
      return trace;
    });
    expect(log).toEqual(['cancel asked', 'still QUERY_WAIT', 'TaskCancelled']);
  });

  it('work spawned from a timer (outside any task) is a daemon task of the kernel and stops when cancelled', async () => {
    const out = await run(async () => {
      const rt = curioRuntime();
      rt.now(); // learns the kernel from this task
      let background: Background | null = null;
      let seen = '';
      let rounds = 0;
      rt.timer(1, () => {
        seen = `timer in a task: ${String(currentTaskOrNull() !== null)}`;
        background = rt.spawn(async () => {
          const self = currentTask();
          seen += `; work: ${self.name}, daemon ${String(self.daemon)}`;
          for (;;) {
            rounds++;
            await sleep(1); // ignores its signal: cancelled at this await
          }
        }, 'from-timer');
      });
      while (rounds < 3) await sleep(1);
      (background as Background | null)?.cancel();
      await (background as Background | null)?.done;
      const stoppedAt = rounds;
      await sleep(5);
      return { seen, stopped: rounds === stoppedAt };
    });
    expect(out).toEqual({ seen: 'timer in a task: false; work: from-timer, daemon true', stopped: true });
  });

  it('a stream starts its writer task only when a write must queue, also from outside any task, and every byte arrives in order', async () => {
    const received: Buffer[] = [];
    let resume: () => void = () => {};
    const ended = new Promise<void>((resolve) => (resume = resolve));
    const server = net.createServer((socket) => {
      socket.pause(); // push back until the writes have queued
      setTimeout(() => {
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('end', () => {
          socket.end();
          resume();
        });
        socket.resume();
      }, 200);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const chunks = Array.from({ length: 32 }, (_, i) => new Uint8Array(1024 * 1024).fill(i + 1));
    const out = await run(async () => {
      const stream = await connectCurio({ host: '127.0.0.1', port }, undefined);
      const writers = (): number => currentTask().kernel.taskList().filter((task) => task.name === 'stream-writer').length;
      const before = writers();
      const inTask: boolean[] = [];
      const written = new Promise<void>((resolve, reject) => {
        setTimeout(() => {
          inTask.push(currentTaskOrNull() !== null);
          Promise.all(chunks.map((chunk) => stream.write(chunk))).then(() => resolve(), reject);
        }, 1);
      });
      await written;
      await sleep(1); // the starter task has run
      const after = writers();
      while (stream.pendingWriteBytes > 0) await sleep(5);
      stream.close();
      return { before, after, inTask };
    });
    await ended;
    server.close();
    const all = Buffer.concat(received);
    expect(out).toEqual({ before: 0, after: 1, inTask: [false] });
    expect(all.length).toBe(32 * 1024 * 1024);
    for (let i = 0; i < 32; i++) expect(all[i * 1024 * 1024]).toBe(i + 1);
  });

  it('a listener keeps at most `backlog` connections waiting for accept and closes the rest', async () => {
    const out = await run(async () => {
      const rt = curioRuntime();
      const listener = (await rt.listen({ port: 0 }, { backlog: 2 })) as CurioListener;
      const address = listener.address as { host: string; port: number };
      const clients = Array.from({ length: 5 }, () => net.connect({ host: address.host, port: address.port }).on('error', () => {}));
      while (listener.pendingConnections + listener.droppedConnections < 5) await sleep(2);
      const counts = { pending: listener.pendingConnections, dropped: listener.droppedConnections };
      const first = await listener.accept();
      listener.close();
      const afterClose = await listener.accept();
      first?.close();
      for (const client of clients) client.destroy();
      return { counts, accepted: first !== null, afterClose };
    });
    expect(out).toEqual({ counts: { pending: 2, dropped: 3 }, accepted: true, afterClose: null });
  });

  it('bytes the socket could not take at once hold back later writes: every byte arrives, in order', async () => {
    // The first write leaves most of its bytes in Node (the peer reads nothing yet); the stream
    // fences them with an empty write and later writes go through its writer task behind them.
    const big = new Uint8Array(8 * 1024 * 1024).fill(1);
    const received: Buffer[] = [];
    let total = 0;
    let peer: net.Socket | null = null;
    const server = net.createServer((socket) => {
      peer = socket;
      socket.pause();
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        total += chunk.length;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const expected = big.length + 3;
    const out = await run(async () => {
      const stream = await connectCurio({ host: '127.0.0.1', port }, undefined);
      await stream.write(big);
      const heldInNode = stream.pendingWriteBytes > 0;
      for (const byte of [2, 3, 4]) await stream.write(Uint8Array.of(byte));
      while (peer === null) await sleep(1);
      (peer as net.Socket).resume();
      while (total < expected) await sleep(2);
      const pendingAfter = stream.pendingWriteBytes;
      stream.close();
      return { heldInNode, pendingAfter };
    });
    server.close();
    const all = Buffer.concat(received);
    expect(out).toEqual({ heldInNode: true, pendingAfter: 0 });
    expect(all.length).toBe(expected);
    expect(all.subarray(0, big.length).every((b) => b === 1)).toBe(true);
    expect([...all.subarray(big.length)]).toEqual([2, 3, 4]);
  });

  it('cancelling a task blocked in accept() interrupts it at once', async () => {
    const out = await run(async () => {
      const rt = curioRuntime();
      const listener = await rt.listen({ port: 0 });
      const acceptor = spawn(() => listener.accept(), { name: 'acceptor' });
      await sleep(2);
      const state = acceptor.state;
      await acceptor.cancel();
      listener.close();
      return { state, cancelled: acceptor.exception instanceof TaskCancelled };
    });
    expect(out).toEqual({ state: 'READ_WAIT', cancelled: true });
  });
});

describe('calls that are their own kernel operations (Runtime.callClass)', () => {
  /** Records what the runtime asks of the calls' owner; `pending` answers abandon with "not yet". */
  function owner(pending = false): CallOwner & { log: string[] } {
    const log: string[] = [];
    return {
      log,
      begin: (call: EngineCall) => void log.push(`begin ${call.label}`),
      abandon: (call: EngineCall) => {
        log.push(`abandon ${call.label}`);
        if (pending) return false;
        call.drop();
        return true;
      },
    };
  }

  it('one subclass per call class, of that class, made by its static constructors too', () => {
    const runtime = curioRuntime();
    const Calls = runtime.callClass?.(RedisCall, 'REDIS_REPLY') as typeof RedisCall;
    expect(runtime.callClass?.(RedisCall, 'REDIS_REPLY')).toBe(Calls);
    const call = Calls.forKey('GET', 'k', false, true, null, undefined, undefined, null);
    expect(call).toBeInstanceOf(Calls);
    expect(call).toBeInstanceOf(RedisCall);
    expect(call.args).toEqual(['GET', 'k']);
  });

  it('a task waiting on one shows its state and gets its (transformed) value in its turn; one settled before its wait began too', async () => {
    const runtime = curioRuntime();
    const Calls = runtime.callClass?.(RedisCall, 'REDIS_REPLY') as typeof RedisCall;
    const who = owner();
    const out = await run(async () => {
      const call = Calls.forKey('GET', 'k', false, true, who, undefined, undefined, (reply) => `<${String(reply)}>`);
      const waiter = spawn(async () => `${String(await runtime.wait('REDIS_REPLY', call))}@${currentTask().name}`, { name: 'w' });
      await sleep(5);
      expect(waiter.state).toBe('REDIS_REPLY');
      setTimeout(() => call.resolve('v'), 5);
      const early = Calls.forKey('GET', 'e', false, true, who, undefined, undefined, null);
      early.fail(new Error('settled first'));
      const failed = await runtime.wait('REDIS_REPLY', early).catch((error: Error) => error.message);
      return [await waiter.join(), failed];
    });
    expect(out).toEqual(['<v>@w', 'settled first']);
    expect(who.log).toEqual(['begin GET']);
  });

  it('cancelling the task abandons the call through its owner; "not yet" keeps the task waiting until the call settles', async () => {
    const runtime = curioRuntime();
    const Calls = runtime.callClass?.(RedisCall, 'REDIS_REPLY') as typeof RedisCall;
    const at = owner();
    const late = owner(true);
    const log = await run(async () => {
      const seen: string[] = [];
      const atOnce = spawn(async () => runtime.wait('REDIS_REPLY', Calls.forKey('GET', 'a', false, true, at, undefined, undefined, null)));
      const call = Calls.forKey('GET', 'b', false, true, late, undefined, undefined, null);
      const notYet = spawn(async () => runtime.wait('REDIS_REPLY', call));
      await sleep(5);
      await atOnce.cancel();
      seen.push(`at once: ${String(atOnce.exception instanceof TaskCancelled)}`);
      await notYet.cancel({ blocking: false });
      await sleep(5);
      seen.push(`not yet: ${notYet.state}`);
      call.resolve('late value');
      await notYet.wait();
      seen.push(`then: ${String(notYet.exception instanceof TaskCancelled)}`);
      return seen;
    });
    expect(log).toEqual(['at once: true', 'not yet: REDIS_REPLY', 'then: true']);
    expect([at.log, late.log]).toEqual([
      ['begin GET', 'abandon GET'],
      ['begin GET', 'abandon GET'],
    ]);
  });
});
