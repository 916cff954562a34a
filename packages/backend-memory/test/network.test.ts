// The memory network and its pipes: addresses, connect and accept, bytes as written, end of
// stream, errors with the socket runtimes' codes, and pacing with bounded memory.
import { describe, expect, it } from 'vitest';
import { ConnectionError } from '@curio-ts/client';
import type { ByteStream } from '@curio-ts/client';
import { createMemoryRuntime, MemoryRuntimeError } from '@curio-ts/backend-memory';
import type { MemoryByteStream } from '@curio-ts/backend-memory';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));

/** Everything the stream delivers until its end, as text. */
async function readAll(stream: ByteStream): Promise<string> {
  let all = '';
  for (let chunk = await stream.read(); chunk !== null && chunk.length > 0; chunk = await stream.read()) all += str(chunk);
  return all;
}

/** A runtime with a listener and one connection accepted. */
async function connected(options: Parameters<typeof createMemoryRuntime>[0] = {}) {
  const memory = createMemoryRuntime(options);
  const listener = await memory.runtime.listen({ port: 7000 });
  const client = await memory.runtime.connect({ host: '127.0.0.1', port: 7000 });
  const server = (await listener.accept()) as ByteStream;
  return { ...memory, listener, client, server };
}

describe('memory network: addresses', () => {
  it('port 0 binds free ports in a fixed order; a bound address is EADDRINUSE', async () => {
    const { runtime } = createMemoryRuntime();
    const a = await runtime.listen({ port: 0 });
    const b = await runtime.listen({ host: 'localhost', port: 0 });
    expect(a.address).toEqual({ host: '127.0.0.1', port: 49152 });
    expect(b.address).toEqual({ host: 'localhost', port: 49153 });
    for (const target of [{ port: 49152 }, { host: '::1', port: 49152 }, { host: '0.0.0.0', port: 49153 }]) {
      const failure = await runtime.listen(target).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ConnectionError);
      expect((failure as ConnectionError).code).toBe('EADDRINUSE');
    }
    a.close();
    const again = await runtime.listen({ port: 49152 });
    expect(again.address).toEqual({ host: '127.0.0.1', port: 49152 });
    const path = await runtime.listen({ path: '/tmp/a.sock' });
    expect(((await runtime.listen({ path: '/tmp/a.sock' }).catch((e: unknown) => e)) as ConnectionError).code).toBe('EADDRINUSE');
    path.close();
  });

  it('loopback names are one host; a wildcard listener takes every host; paths are their own', async () => {
    const { runtime } = createMemoryRuntime();
    const loop = await runtime.listen({ host: 'localhost', port: 6000 });
    const any = await runtime.listen({ host: '0.0.0.0', port: 6001 });
    const unix = await runtime.listen({ path: '/run/app.sock' });
    const pairs: [ByteStream, typeof loop][] = [
      [await runtime.connect({ host: '127.0.0.1', port: 6000 }), loop],
      [await runtime.connect({ host: '::1', port: 6000 }), loop],
      [await runtime.connect({ host: 'db.internal', port: 6001 }), any],
      [await runtime.connect({ path: '/run/app.sock' }), unix],
    ];
    for (const [client, listener] of pairs) {
      const server = (await listener.accept()) as ByteStream;
      await client.write(text('hi'));
      expect(str(await server.read())).toBe('hi');
      expect(client.remoteAddress).toEqual(listener.address);
      expect(server.remoteAddress).toEqual((client as MemoryByteStream).localAddress);
      client.close();
      server.close();
    }
  });

  it('a connect nothing listens to is refused with ECONNREFUSED; TLS and bad ports are typed errors', async () => {
    const { runtime } = createMemoryRuntime();
    const failures = await Promise.all([
      runtime.connect({ host: '127.0.0.1', port: 6379 }),
      runtime.connect({ path: '/nowhere' }),
      runtime.connect({ host: '127.0.0.1', port: 6379, tls: {} }),
      runtime.connect({ host: '127.0.0.1', port: 70_000 }),
      runtime.listen({ port: 1, tls: { cert: '', key: '' } }),
    ].map((p) => p.then(() => null, (e: unknown) => e)));
    for (const failure of failures) expect(failure).toBeInstanceOf(ConnectionError);
    expect(failures.map((f) => (f as ConnectionError).code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ERR_TLS_UNAVAILABLE', 'ERR_SOCKET_BAD_PORT', 'ERR_TLS_UNAVAILABLE']);
    expect((failures[0] as Error).message).toBe('connect ECONNREFUSED 127.0.0.1:6379');
  });

  it('closing a listener ends a pending accept with null, resets connections never accepted, frees the address', async () => {
    const { runtime, network } = createMemoryRuntime();
    const listener = await runtime.listen({ port: 6000 });
    const waiting = await runtime.connect({ host: 'localhost', port: 6000 });
    const accepted = (await listener.accept()) as ByteStream;
    const neverAccepted = await runtime.connect({ host: 'localhost', port: 6000 });
    expect(network.connections.map((c) => c.id)).toEqual([1, 2]);
    listener.close();
    listener.close();
    expect(await listener.accept()).toBeNull();
    const reset = await neverAccepted.read().catch((e: unknown) => e);
    expect((reset as ConnectionError).code).toBe('ECONNRESET');
    // The accepted connection stays open.
    await waiting.write(text('still here'));
    expect(str(await accepted.read())).toBe('still here');
    expect(((await runtime.connect({ host: 'localhost', port: 6000 }).catch((e: unknown) => e)) as ConnectionError).code).toBe('ECONNREFUSED');
    expect(network.connections.map((c) => c.id)).toEqual([1]);
    expect((await runtime.listen({ port: 6000 })).address).toEqual({ host: '127.0.0.1', port: 6000 });
  });

  it('a backlog that is full refuses further connects', async () => {
    const { runtime } = createMemoryRuntime();
    const listener = await runtime.listen({ port: 6000 }, { backlog: 2 });
    await runtime.connect({ host: 'localhost', port: 6000 });
    await runtime.connect({ host: 'localhost', port: 6000 });
    expect(((await runtime.connect({ host: 'localhost', port: 6000 }).catch((e: unknown) => e)) as ConnectionError).code).toBe('ECONNREFUSED');
    expect(await listener.accept()).not.toBeNull();
    expect(await runtime.connect({ host: 'localhost', port: 6000 })).toBeDefined();
  });
});

describe('memory network: streams', () => {
  it('delivers each write as one chunk, the writer’s own bytes, in order, both ways', async () => {
    const { client, server } = await connected();
    const one = text('one');
    const two = text('two');
    await client.write(one);
    await client.write(new Uint8Array(0)); // nothing: an empty chunk would mean end of stream
    await client.write(two);
    const first = await server.read();
    expect(first).toBe(one);
    expect(await server.read()).toBe(two);
    await server.write(text('back'));
    expect(str(await client.read())).toBe('back');
  });

  it('a read waits for the next write; close gives the peer end of stream after what was written', async () => {
    const { client, server } = await connected();
    const reading = server.read();
    await client.write(text('late'));
    expect(str(await reading)).toBe('late');
    await client.write(text('last words'));
    client.close();
    client.close();
    expect(await readAll(server)).toBe('last words');
    expect(await server.read()).toBeNull();
    // The closing end reads nothing more and cannot write; the peer's writes fail with EPIPE.
    expect(await client.read()).toBeNull();
    const own = await client.write(text('x')).catch((e: unknown) => e);
    expect((own as ConnectionError).code).toBe('EPIPE');
    const peer = await server.write(text('x')).catch((e: unknown) => e);
    expect(peer).toBeInstanceOf(ConnectionError);
    expect((peer as ConnectionError).code).toBe('EPIPE');
  });

  it('closing an end ends its own pending read with null and drops what it had not read', async () => {
    const { client, server, network } = await connected();
    await server.write(text('unread'));
    const pending = server.read();
    client.close();
    expect(await client.read()).toBeNull();
    expect(await pending).toBeNull();
    server.close();
    expect(network.connections).toEqual([]);
  });

  it('two reads at once on one stream are refused, typed', async () => {
    const { client } = await connected();
    const first = client.read();
    const second = await client.read().catch((e: unknown) => e);
    // As on the socket runtimes: a ConnectionError with code ERR_STREAM_BUSY.
    expect(second).toBeInstanceOf(ConnectionError);
    expect((second as ConnectionError).code).toBe('ERR_STREAM_BUSY');
    client.close();
    expect(await first).toBeNull();
  });

  it('a consumer that stops reading stalls the writer with bounded memory, and it resumes when read', async () => {
    const highWater = 64 * 1024;
    const { client, server, clock, network } = await connected({ highWater });
    const connection = network.connections[0];
    if (connection === undefined) throw new Error('no connection');
    const chunk = new Uint8Array(16 * 1024);
    const total = 4 * 1024 * 1024;
    let written = 0;
    let mostPending = 0;
    const writer = (async () => {
      while (written < total) {
        await client.write(chunk);
        written += chunk.length;
        mostPending = Math.max(mostPending, connection.toServer.pending);
      }
      client.close();
    })();
    await clock.runUntilIdle();
    // The reader has read nothing: the writer is stopped, the pipe holds at most the high-water mark plus one write.
    expect(written).toBeLessThan(total);
    expect(connection.toServer.pending).toBeLessThanOrEqual(highWater + chunk.length);
    const stalledAt = written;
    await clock.runUntilIdle();
    expect(written).toBe(stalledAt);
    // Reading lets it go on, still bounded, to the end.
    let received = 0;
    for (let c = await server.read(); c !== null; c = await server.read()) received += c.length;
    await writer;
    expect(received).toBe(total);
    expect(mostPending).toBeLessThanOrEqual(highWater + chunk.length);
  });

  it('writes waiting for the reader fail with EPIPE when the reader closes', async () => {
    const { client, server } = await connected({ highWater: 4 });
    const blocked = client.write(text('more than four bytes'));
    server.close();
    expect(((await blocked.catch((e: unknown) => e)) as ConnectionError).code).toBe('EPIPE');
  });
});

describe('memory runtime: wait and spawn', () => {
  it('wait is a Promise settled by the waiter, through start or startWith; cancel is never called', async () => {
    const { runtime } = createMemoryRuntime();
    let cancelled = 0;
    const viaStart = runtime.wait<string>('TEST', {
      start: (wake) => queueMicrotask(() => wake.resolve('started')),
      cancel: () => {
        cancelled++;
      },
    });
    const viaStartWith = runtime.wait<string>('TEST', {
      start: () => {
        throw new Error('not this one');
      },
      startWith: (_resolve, reject) => reject(new Error('rejected')),
      cancel: () => {
        cancelled++;
      },
    });
    expect(viaStart).toBeInstanceOf(Promise);
    expect(await viaStart).toBe('started');
    await expect(viaStartWith).rejects.toThrow('rejected');
    expect(cancelled).toBe(0);
  });

  it('spawn runs at once; cancel aborts its signal; done settles once it returned, never rejecting', async () => {
    const errors: unknown[] = [];
    const { runtime, clock } = createMemoryRuntime({ onError: (e) => errors.push(e) });
    const trace: string[] = [];
    const worker = runtime.spawn(async (signal) => {
      trace.push('started');
      while (!signal.aborted) await runtime.sleep(10);
      trace.push(`stopped@${runtime.now()}`);
    }, 'worker');
    expect(trace).toEqual(['started']);
    await clock.advance(35);
    worker.cancel();
    worker.cancel();
    await clock.advance(10);
    await worker.done;
    expect(trace).toEqual(['started', 'stopped@40']);
    const failing = runtime.spawn(async () => {
      await runtime.sleep(1);
      throw new Error('escaped');
    }, 'failing');
    const throwing = runtime.spawn(() => {
      throw new Error('synchronous');
    }, 'throwing');
    await clock.advance(1);
    await failing.done;
    await throwing.done;
    expect(errors.map((e) => (e as Error).message)).toEqual(['synchronous', 'escaped']);
  });
});
