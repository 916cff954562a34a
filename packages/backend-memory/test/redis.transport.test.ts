// A Redis client over a transport that is not the runtime's own connect: `RedisOptions.connect`
// returns any ByteStream (PGlite will be one for Postgres). The client uses it for the first
// connection, every pool connection and every reconnect, and host/port are never dialled.
import { describe, expect, it } from 'vitest';
import type { ByteStream } from '@curio-ts/client';
import { ConnectTimeoutError } from '@curio-ts/client';
import { startInProcessRedis } from '@curio-ts/conformance';
import { createMemoryRuntime } from '@curio-ts/backend-memory';

describe('RedisOptions.connect: a transport of the caller\'s', () => {
  it('carries the main connection, the pool and every reconnect', async () => {
    const memory = createMemoryRuntime({ autoAdvance: true, latency: 0.5 });
    const server = await startInProcessRedis(memory.runtime, { host: 'redis.internal', port: 0 });
    const opened: number[] = [];
    let bytesWritten = 0;
    const connect = async ({ timeout }: { readonly timeout: number }): Promise<ByteStream> => {
      opened.push(timeout);
      const stream = await memory.runtime.connect({ host: 'redis.internal', port: server.port }, { timeout });
      // A wrapper counting what the client writes: any object with read/write/close will do.
      return {
        read: () => stream.read(),
        write: (data) => {
          bytesWritten += data.length;
          return stream.write(data);
        },
        close: () => stream.close(),
      };
    };
    // The URL names a host that does not exist on this network: only `connect` is used.
    const redis = await memory.connectRedis({ url: 'redis://nowhere.invalid:1', connect, connectTimeout: 1234 });
    expect(await redis.set('k', 'v')).toBe('OK');
    expect(await redis.get('k')).toBe('v');
    expect(await redis.blPop('list', 0.01)).toBeNull(); // a blocking command: a pool connection
    expect(opened).toEqual([1234, 1234]);
    await server.kill();
    await server.restart();
    expect(await redis.get('k')).toBe('v'); // reconnected through `connect` again
    expect(opened.length).toBeGreaterThanOrEqual(3);
    expect(bytesWritten).toBeGreaterThan(0);
    await redis.close();
  });

  it('a transport that never answers is bounded by connectTimeout', async () => {
    const memory = createMemoryRuntime({ autoAdvance: true });
    const connect = ({ timeout }: { readonly timeout: number }): Promise<ByteStream> =>
      new Promise((_, reject) => memory.runtime.timer(timeout, () => reject(new ConnectTimeoutError(`no transport after ${timeout} ms`))));
    const error = await memory.connectRedis({ connect, connectTimeout: 500, reconnect: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectTimeoutError);
    expect(memory.clock.now()).toBe(500);
  });
});

describe('how a burst of calls is written', () => {
  it('in parts that double (256, 512, 1024... calls) while it is made, the rest at its end; each burst starts again', async () => {
    const memory = createMemoryRuntime({ autoAdvance: true, latency: 0.5 });
    const server = await startInProcessRedis(memory.runtime, { host: 'redis.internal', port: 0 });
    const writes: string[] = [];
    const connect = async ({ timeout }: { readonly timeout: number }): Promise<ByteStream> => {
      const stream = await memory.runtime.connect({ host: 'redis.internal', port: server.port }, { timeout });
      return {
        read: () => stream.read(),
        write: (data) => {
          writes.push(new TextDecoder().decode(data));
          return stream.write(data);
        },
        close: () => stream.close(),
      };
    };
    const redis = await memory.connectRedis({ url: 'redis://nowhere.invalid:1', connect });
    expect(await redis.set('k', 'v')).toBe('OK');
    /** GET commands in each write of `burst`. */
    const writtenBy = async (burst: () => Promise<unknown>): Promise<number[]> => {
      writes.length = 0;
      await burst();
      return writes.map((text) => text.split('*2\r\n$3\r\nGET\r\n').length - 1);
    };
    const gets = (n: number) => async () => {
      const replies = await Promise.all(Array.from({ length: n }, (_, i) => redis.get(i % 3 === 0 ? 'missing' : 'k')));
      // Every reply is its own call's, in order, whatever part it was written in.
      expect(replies).toEqual(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : 'v')));
    };
    expect(await writtenBy(gets(256 + 512 + 1024 + 100))).toEqual([256, 512, 1024, 100]);
    expect(await writtenBy(gets(300))).toEqual([256, 44]);
    expect(await writtenBy(gets(255))).toEqual([255]);
    expect(await writtenBy(gets(256))).toEqual([256]);
    // A pipeline is a burst too; its replies still come back as one array, in order.
    expect(
      await writtenBy(async () => {
        const pipeline = redis.pipeline();
        for (let i = 0; i < 600; i++) pipeline.get(i % 2 === 0 ? 'k' : 'missing');
        const results = await pipeline.exec();
        expect(results).toEqual(Array.from({ length: 600 }, (_, i) => (i % 2 === 0 ? 'v' : null)));
      }),
    ).toEqual([256, 344]);
    await redis.close();
    await server.kill();
  });
});
