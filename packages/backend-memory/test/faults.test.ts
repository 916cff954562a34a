// Fault injection: every fault of a plan and of the live controls, exactly where it was asked
// for, and the same run twice gives the same trace.
import { describe, expect, it } from 'vitest';
import { ConnectionError, ConnectTimeoutError } from '@curio-ts/client';
import type { ByteStream } from '@curio-ts/client';
import { createMemoryRuntime, forFirst, MemoryRuntimeError } from '@curio-ts/backend-memory';
import type { ConnectionPlan, MemoryConnection, MemoryRuntime } from '@curio-ts/backend-memory';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** How a read ended: its text, 'EOF', or the error code. */
async function outcome(stream: ByteStream): Promise<string> {
  try {
    const chunk = await stream.read();
    return chunk === null || chunk.length === 0 ? 'EOF' : str(chunk);
  } catch (error) {
    return `error ${(error as ConnectionError).code}`;
  }
}

/** Every read until the end, with the virtual time each arrived at. */
async function trace(memory: MemoryRuntime, stream: ByteStream): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const read = await outcome(stream);
    seen.push(`${read}@${memory.clock.now()}`);
    if (read === 'EOF' || read.startsWith('error')) return seen;
  }
}

/** A runtime listening on 7000, a connect with `plan`, and the accepted server end. */
async function pair(plan: ConnectionPlan, options: Parameters<typeof createMemoryRuntime>[0] = {}) {
  const memory = createMemoryRuntime(options);
  const listener = await memory.runtime.listen({ port: 7000 });
  memory.network.faults({ port: 7000 }, plan);
  const client = await memory.runtime.connect({ host: '127.0.0.1', port: 7000 });
  const server = (await listener.accept()) as ByteStream;
  const connection = memory.network.connections[0] as MemoryConnection;
  return { memory, listener, client, server, connection };
}

describe('fault plans', () => {
  it('closeAfter: the client reads exactly N bytes of the reply, then end of stream; both sides then fail with EPIPE', async () => {
    const { client, server, connection } = await pair({ toClient: { closeAfter: 7 } });
    await client.write(text('GET k'));
    expect(await outcome(server)).toBe('GET k');
    await server.write(text('$5\r\nvalue\r\n')); // the cut falls inside this reply
    expect(await outcome(client)).toBe('$5\r\nval');
    expect(await outcome(client)).toBe('EOF');
    expect(await outcome(server)).toBe('EOF');
    expect(((await server.write(text('more')).catch((e: unknown) => e)) as ConnectionError).code).toBe('EPIPE');
    expect(((await client.write(text('PING')).catch((e: unknown) => e)) as ConnectionError).code).toBe('EPIPE');
    expect(connection.open).toBe(false);
    expect(connection.toClient.writtenBytes).toBe(7);
  });

  it('resetAfter: N bytes, then ECONNRESET on both ends', async () => {
    const { client, server } = await pair({ toClient: { resetAfter: 3 } });
    await server.write(text('+OK\r\n'));
    expect(await outcome(client)).toBe('+OK');
    expect(await outcome(client)).toBe('error ECONNRESET');
    expect(await outcome(server)).toBe('error ECONNRESET');
    const failure = await client.write(text('x')).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionError);
    expect((failure as ConnectionError).code).toBe('ECONNRESET');
  });

  it('stallAfter / stallFor: delivery stops after N bytes for that long, then goes on in order', async () => {
    const { memory, client, server } = await pair({ toClient: { stallAfter: 4, stallFor: 250 } });
    const seen = trace(memory, client);
    await server.write(text('one two three'));
    await memory.clock.advance(100);
    await server.write(text(' four'));
    server.close();
    await memory.clock.advance(1000);
    expect(await seen).toEqual(['one @0', 'two three@250', ' four@250', 'EOF@250']);
  });

  it('stallAfter without stallFor holds forever, resume() lets it through', async () => {
    const { memory, client, server, connection } = await pair({ toClient: { stallAfter: 0 } });
    await server.write(text('held'));
    const read = client.read();
    await memory.clock.advance(60_000);
    expect(connection.toClient.pending).toBe(4);
    connection.toClient.resume();
    expect(str((await read) as Uint8Array)).toBe('held');
  });

  it('inject: garbage arrives at the position asked, as if the peer had sent it', async () => {
    const { client, server } = await pair({ toClient: { inject: '?garbage\r\n', injectAfter: 5 } });
    await server.write(text('+OK\r\n+PONG\r\n'));
    expect([await outcome(client), await outcome(client), await outcome(client)]).toEqual(['+OK\r\n', '?garbage\r\n', '+PONG\r\n']);
  });

  it('inject at 0 arrives before anything the server writes; bytes may be any of the 256 values', async () => {
    const { client } = await pair({ toClient: { inject: new Uint8Array([0xff, 0x00, 0x0d]) } });
    expect(Array.from((await client.read()) as Uint8Array)).toEqual([0xff, 0x00, 0x0d]);
  });

  it('chunkSize: every write reaches the reader cut into chunks of at most k bytes', async () => {
    const { client, server } = await pair({ toServer: { chunkSize: 3 } });
    await client.write(text('*1\r\n$4\r\nPING\r\n'));
    client.close();
    const chunks: string[] = [];
    for (let c = await server.read(); c !== null; c = await server.read()) chunks.push(str(c));
    expect(chunks).toEqual(['*1\r', '\n$4', '\r\nP', 'ING', '\r\n']);
  });

  it('firstDelay: the first bytes (the handshake reply) arrive late, the rest after them in order', async () => {
    const { memory, client, server } = await pair({ toClient: { firstDelay: 500 } });
    const seen = trace(memory, client);
    await server.write(text('hello'));
    await server.write(text('world'));
    server.close();
    await memory.clock.advance(500);
    expect(await seen).toEqual(['hello@500', 'world@500', 'EOF@500']);
  });

  it('latency: each chunk arrives that long after it was written, in order', async () => {
    const { memory, client, server } = await pair({ toClient: { latency: 10 } });
    const seen = trace(memory, client);
    await server.write(text('a'));
    await memory.clock.advance(3);
    await server.write(text('b'));
    server.close();
    await memory.clock.advance(100);
    expect(await seen).toEqual(['a@10', 'b@13', 'EOF@13']);
  });

  it('acceptDelay: the connect completes that much later; Infinity never does, and the connect timeout ends it', async () => {
    const memory = createMemoryRuntime({ autoAdvance: true });
    const listener = await memory.runtime.listen({ port: 7000 });
    const rule = memory.network.faults({ port: 7000 }, { acceptDelay: 300 });
    await memory.runtime.connect({ host: 'localhost', port: 7000 });
    expect(memory.clock.now()).toBe(300);
    rule.remove();
    memory.network.faults({ port: 7000 }, { acceptDelay: Number.POSITIVE_INFINITY });
    const failure = await memory.runtime.connect({ host: 'localhost', port: 7000 }, { timeout: 1000 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectTimeoutError);
    expect((failure as ConnectTimeoutError).code).toBe('ETIMEDOUT');
    expect(memory.clock.now()).toBe(1300);
    expect(await listener.accept()).not.toBeNull(); // only the first one reached the server
    expect(memory.network.connectionsMade).toBe(1);
  });

  it('refuse and reset for the first K connects (a reconnect that fails K times), then normal ones', async () => {
    const memory = createMemoryRuntime();
    const listener = await memory.runtime.listen({ port: 7000 });
    const refusals = memory.network.faults({ port: 7000 }, forFirst(2, { refuse: true }));
    const resets = memory.network.faults({ port: 7000 }, (attempt) => (attempt.index >= 2 && attempt.index < 4 ? { reset: true } : undefined));
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      try {
        const stream = await memory.runtime.connect({ host: 'localhost', port: 7000 });
        outcomes.push(await stream.write(text('x')).then(() => 'connected', (e: unknown) => `connected, then ${(e as ConnectionError).code}`));
      } catch (error) {
        outcomes.push((error as ConnectionError).code);
      }
    }
    expect(outcomes).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'connected, then ECONNRESET', 'connected, then ECONNRESET', 'connected']);
    expect(refusals.attempts).toBe(5);
    expect(resets.attempts).toBe(5);
    const accepted = await listener.accept();
    expect(await (accepted as ByteStream).read().catch((e: unknown) => (e as ConnectionError).code)).toBe('ECONNRESET');
  });

  it('a fault plan that makes no sense is refused with MemoryRuntimeError', async () => {
    const memory = createMemoryRuntime();
    await memory.runtime.listen({ port: 7000 });
    expect(() => memory.network.faults({ port: 7000 }, { acceptDelay: -1 })).toThrow(MemoryRuntimeError);
    memory.network.faults({ port: 7000 }, { toClient: { chunkSize: 0 } });
    const failure = await memory.runtime.connect({ host: 'localhost', port: 7000 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MemoryRuntimeError);
    expect((failure as MemoryRuntimeError).code).toBe('ERR_BAD_OPTION');
    expect(memory.network.connections).toEqual([]);
  });

  it('a live plan is applied whole or not at all', async () => {
    const { client, server, connection } = await pair({});
    expect(() => connection.configure({ toServer: { chunkSize: 2, stallAfter: 0, stallFor: -1 } })).toThrow(MemoryRuntimeError);
    expect(() => connection.configure({ toServer: { injectAfter: 3 } })).toThrow(MemoryRuntimeError);
    await client.write(text('abcd'));
    expect(await outcome(server)).toBe('abcd');
  });
});

describe('live fault controls', () => {
  it('reset(): what is on the way is lost, both ends fail with ECONNRESET at once, waiting writers too', async () => {
    const { client, server, connection, memory } = await pair({ toClient: { latency: 50 } }, { highWater: 2 });
    const lost = server.write(text('lost')); // beyond the high-water mark: waits for the reader
    const reading = client.read();
    const blocked = server.write(text('blocked'));
    connection.reset();
    expect(await reading.catch((e: unknown) => (e as ConnectionError).code)).toBe('ECONNRESET');
    expect(await lost.catch((e: unknown) => (e as ConnectionError).code)).toBe('ECONNRESET');
    expect(await blocked.catch((e: unknown) => (e as ConnectionError).code)).toBe('ECONNRESET');
    expect(await outcome(server)).toBe('error ECONNRESET');
    await memory.clock.advance(100);
    expect(memory.network.connections).toEqual([]);
  });

  it('close(): each end reads what was on the way to it, then end of stream', async () => {
    const { client, server, connection } = await pair({});
    await server.write(text('reply'));
    await client.write(text('request'));
    connection.close();
    expect([await outcome(client), await outcome(client)]).toEqual(['reply', 'EOF']);
    expect([await outcome(server), await outcome(server)]).toEqual(['request', 'EOF']);
  });

  it('stall(ms), inject() and configure() on a live connection; onConnection sees each connection first', async () => {
    const memory = createMemoryRuntime();
    const listener = await memory.runtime.listen({ port: 7000 });
    const seenIds: number[] = [];
    const stop = memory.network.onConnection((connection) => {
      seenIds.push(connection.id);
      connection.configure({ toServer: { chunkSize: 2 } });
    });
    const client = await memory.runtime.connect({ host: 'localhost', port: 7000 });
    const server = (await listener.accept()) as ByteStream;
    stop();
    const connection = memory.network.connections[0] as MemoryConnection;
    await client.write(text('abcd'));
    expect([await outcome(server), await outcome(server)]).toEqual(['ab', 'cd']);
    connection.toClient.stall(40);
    const seen = trace(memory, client);
    await server.write(text('late'));
    connection.toClient.inject('!');
    connection.configure({ toClient: { closeAfter: 4 } });
    await memory.clock.advance(40);
    expect(await seen).toEqual(['late@40', '!@40', 'EOF@40']);
    await memory.runtime.connect({ host: 'localhost', port: 7000 });
    expect(seenIds).toEqual([1]);
  });

  it('is deterministic: the same scenario gives the same trace every time', async () => {
    const scenario = async (): Promise<string[]> => {
      const memory = createMemoryRuntime({ autoAdvance: true });
      const listener = await memory.runtime.listen({ port: 0 });
      const address = listener.address as { port: number };
      memory.network.faults(address, (attempt) => ({ toClient: { chunkSize: 1 + attempt.index, latency: 3, stallAfter: 2, stallFor: 7 * (attempt.index + 1) } }));
      const events: string[] = [];
      const serve = (async () => {
        for (let n = 0; n < 3; n++) {
          const stream = (await listener.accept()) as ByteStream;
          memory.runtime.spawn(async () => {
            for (let c = await stream.read(); c !== null; c = await stream.read()) await stream.write(c);
            stream.close();
          }, 'echo');
        }
      })();
      await Promise.all(
        [0, 1, 2].map(async (i) => {
          const stream = await memory.runtime.connect({ host: 'localhost', port: address.port });
          const hello = `client ${i} says hello`;
          await stream.write(text(hello));
          let echoed = '';
          while (echoed.length < hello.length) {
            const chunk = (await stream.read()) as Uint8Array;
            echoed += str(chunk);
            events.push(`${i}:${str(chunk)}@${memory.clock.now()}`);
          }
          stream.close();
        }),
      );
      await serve;
      return events;
    };
    const first = await scenario();
    expect(first.length).toBeGreaterThan(10);
    expect(await scenario()).toEqual(first);
  });
});
