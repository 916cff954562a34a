// SocketStream over real loopback TCP: lines, exact reads, read-all, iteration, writes, and
// what a cancelled or timed-out stream read leaves behind (everything, back in the stream).

import { describe, expect, test } from 'vitest';
import {
  IncompleteReadError,
  LineTooLongError,
  ReadResourceBusy,
  SocketStream,
  TaskCancelled,
  TaskTimeout,
  spawn,
  timeoutAfter,
} from '@curio-ts/kernel';
import { closeAll, blockedIn, connectedPair, drain, failure, payload, runReal, until } from './socket-helpers.js';

const text = (data: Uint8Array): string => Buffer.from(data).toString();

describe('reading', () => {
  test('readline splits lines across chunk boundaries; the last line may lack a newline', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream();
      const lines: string[] = [];
      const reading = spawn(async () => {
        for (;;) {
          const line = await stream.readline();
          if (line.length === 0) return;
          lines.push(text(line));
        }
      });
      for (const piece of ['one\ntw', 'o\n', 'thr', 'ee', '\nfour\nfive']) {
        await client.sendall(Buffer.from(piece));
        await until(() => peer.bufferedBytes === 0, 'the piece was read');
      }
      await client.shutdown();
      await reading.join();
      await closeAll(client, peer, server);
      return lines;
    });
    expect(got).toEqual(['one\n', 'two\n', 'three\n', 'four\n', 'five']);
  });

  test('for await gives lines until end of stream; readlines gives the rest', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.sendall(Buffer.from('a\nb\nc\nd\n'));
      await client.shutdown();
      const stream = peer.asStream();
      const first: string[] = [];
      for await (const line of stream) {
        first.push(text(line));
        if (first.length === 2) break;
      }
      const rest = (await stream.readlines()).map(text);
      await closeAll(client, peer, server);
      return { first, rest };
    });
    expect(got).toEqual({ first: ['a\n', 'b\n'], rest: ['c\n', 'd\n'] });
  });

  test('readExactly reads exact sizes across chunks; early end of stream gives IncompleteReadError with the partial bytes', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = new SocketStream(peer);
      const reading = spawn(async () => [text(await stream.readExactly(3)), text(await stream.readExactly(6)), await failure(stream.readExactly(10))]);
      for (const piece of ['ab', 'cdef', 'ghi', 'jk']) {
        await client.sendall(Buffer.from(piece));
        await until(() => peer.bufferedBytes === 0, 'the piece was read');
      }
      await client.shutdown();
      const [a, b, error] = await reading.join();
      await closeAll(client, peer, server);
      const incomplete = error as IncompleteReadError;
      return { a, b, typed: incomplete instanceof IncompleteReadError, partial: text(incomplete.partial), expected: incomplete.expected, code: incomplete.code };
    });
    expect(got).toEqual({ a: 'abc', b: 'defghi', typed: true, partial: 'jk', expected: 10, code: 'ERR_INCOMPLETE_READ' });
  });

  test('readAll returns everything until end of stream; read returns what is there', async () => {
    const data = payload(3 * 1024 * 1024, 9);
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream();
      const sending = spawn(async () => {
        await client.sendall(data);
        await client.shutdown();
      });
      const first = await stream.read(10);
      const rest = await stream.readAll();
      const after = await stream.read();
      await sending.join();
      await closeAll(client, peer, server);
      return { first: first.length, whole: Buffer.concat([first, rest]).equals(data), after: after.length };
    });
    expect(got).toEqual({ first: 10, whole: true, after: 0 });
  });

  test('readInto fills a buffer from the stream', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.sendall(Buffer.from('hello'));
      const buffer = new Uint8Array(16);
      const n = await peer.asStream().readInto(buffer);
      await closeAll(client, peer, server);
      return text(buffer.subarray(0, n));
    });
    expect(got).toBe('hello');
  });
});

describe('line limit', () => {
  test('a line of exactly lineLimit bytes passes; one byte more throws LineTooLongError and consumes nothing', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream({ lineLimit: 8 });
      await client.sendall(Buffer.from('1234'));
      await until(() => peer.bufferedBytes === 4, 'the first piece is queued');
      await client.sendall(Buffer.from('567\n12345678\nrest\n'));
      const exact = text(await stream.readline());
      const error = await failure(stream.readline());
      const kept = text(await stream.readExactly(9)); // the long line is still there, whole
      const after = text(await stream.readline());
      await closeAll(client, peer, server);
      return { exact, tooLong: error instanceof LineTooLongError, code: (error as LineTooLongError).code, limit: (error as LineTooLongError).limit, kept, after };
    });
    expect(got).toEqual({ exact: '1234567\n', tooLong: true, code: 'ERR_LINE_TOO_LONG', limit: 8, kept: '12345678\n', after: 'rest\n' });
  });

  test('a last line of exactly lineLimit bytes without a newline is returned at end of stream', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream({ lineLimit: 6 });
      await client.sendall(Buffer.from('abc'));
      await until(() => peer.bufferedBytes === 3, 'the first piece is queued');
      await client.sendall(Buffer.from('def'));
      await client.shutdown();
      const lines = (await stream.readlines()).map(text);
      await closeAll(client, peer, server);
      return lines;
    });
    expect(got).toEqual(['abcdef']);
  });

  test('a peer that never sends a newline gets LineTooLongError at the default 64 KiB, with memory bounded', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream();
      const flood = spawn(async () => {
        const block = Buffer.alloc(256 * 1024, 0x61);
        for (let i = 0; i < 40; i++) await client.sendall(block); // 10 MiB, no newline
      });
      let error: unknown;
      try {
        for await (const line of stream) void line;
      } catch (caught) {
        error = caught;
      }
      const buffered = peer.bufferedBytes;
      await flood.cancel();
      await closeAll(client, peer, server);
      return { tooLong: error instanceof LineTooLongError, limit: (error as LineTooLongError).limit, bounded: buffered <= 4 * 1024 * 1024 };
    });
    expect(got).toEqual({ tooLong: true, limit: 65536, bounded: true });
  });

  test('a lineLimit that is not a positive integer is a RangeError', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const errors = [0, -1, 1.5, Number.NaN].map((lineLimit) => {
        try {
          peer.asStream({ lineLimit });
          return null;
        } catch (error) {
          return error instanceof RangeError;
        }
      });
      await closeAll(client, peer, server);
      return errors;
    });
    expect(got).toEqual([true, true, true, true]);
  });
});

describe('cancelled and timed-out reads keep the stream in step', () => {
  test('readline timed out mid-line: bytesRead says how much, and the whole line comes next time', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream();
      await client.sendall(Buffer.from('partial '));
      await until(() => peer.bufferedBytes === 8, 'the partial line is queued');
      const error = (await failure(timeoutAfter(30, () => stream.readline()))) as TaskTimeout & { bytesRead?: number };
      await client.sendall(Buffer.from('line\nnext\n'));
      const line = text(await stream.readline());
      const next = text(await stream.readline());
      await closeAll(client, peer, server);
      return { timeout: error instanceof TaskTimeout, bytesRead: error.bytesRead, line, next };
    });
    expect(got).toEqual({ timeout: true, bytesRead: 8, line: 'partial line\n', next: 'next\n' });
  });

  test('readExactly cancelled after part of its bytes: they stay in the stream', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream();
      const reading = spawn(() => stream.readExactly(10), { name: 'reader' });
      await client.sendall(Buffer.from('12345'));
      // Resumed once by the five bytes (cycles 2), took them, and waits again.
      await until(() => reading.cycles >= 2 && peer.bufferedBytes === 0 && reading.state === 'READ_WAIT', 'the reader took five bytes and waits');
      await reading.cancel();
      const error = reading.exception as TaskCancelled & { bytesRead?: number };
      await client.sendall(Buffer.from('67890'));
      const whole = text(await stream.readExactly(10));
      await closeAll(client, peer, server);
      return { cancelled: error instanceof TaskCancelled, bytesRead: error.bytesRead, whole };
    });
    expect(got).toEqual({ cancelled: true, bytesRead: 5, whole: '1234567890' });
  });

  test('readAll timed out: bytesRead reported, and nothing is lost', async () => {
    const data = payload(200_000, 4);
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream();
      await client.sendall(data);
      await until(() => peer.bufferedBytes === data.length, 'everything is queued');
      const error = (await failure(timeoutAfter(30, () => stream.readAll()))) as TaskTimeout & { bytesRead?: number };
      await client.shutdown();
      const all = await drain(peer);
      await closeAll(client, peer, server);
      return { timeout: error instanceof TaskTimeout, bytesRead: error.bytesRead, same: all.equals(data) };
    });
    expect(got).toEqual({ timeout: true, bytesRead: 200_000, same: true });
  });

  test('a stream read holds the read side: a second reader is ReadResourceBusy', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = peer.asStream();
      const reading = spawn(() => stream.readline(), { name: 'reader' });
      await blockedIn(reading, 'READ_WAIT');
      const busy = [await failure(peer.recv(1)), await failure(stream.readExactly(1)), await failure(stream.readAll())];
      await client.sendall(Buffer.from('done\n'));
      const line = text(await reading.join());
      await closeAll(client, peer, server);
      return { busy: busy.map((e) => e instanceof ReadResourceBusy), line };
    });
    expect(got).toEqual({ busy: [true, true, true], line: 'done\n' });
  });
});

describe('writing', () => {
  test('write and writelines deliver in order; small lines are batched, large ones sent as they are', async () => {
    const big = payload(600_000, 2);
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = client.asStream();
      await stream.write(Buffer.from('head\n'));
      await stream.writelines([Buffer.from('a\n'), Buffer.from('b\n'), big, Buffer.from('\ntail\n')]);
      await stream.close();
      const all = await drain(peer);
      await closeAll(peer, server);
      return all.equals(Buffer.concat([Buffer.from('head\na\nb\n'), big, Buffer.from('\ntail\n')]));
    });
    expect(got).toBe(true);
  });

  test('a timed-out write reports bytesWritten', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const stream = client.asStream();
      const error = (await failure(timeoutAfter(200, () => stream.writelines([payload(1000), payload(64 * 1024 * 1024)])))) as TaskTimeout & {
        bytesWritten?: number;
      };
      await closeAll(client, peer, server);
      return { timeout: error instanceof TaskTimeout, counted: (error.bytesWritten ?? 0) > 1000 };
    });
    expect(got).toEqual({ timeout: true, counted: true });
  }, 30_000);
});
