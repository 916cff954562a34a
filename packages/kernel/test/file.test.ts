// Async files on real files in a temp directory: text and bytes, large files, lines (long ones,
// CRLF), seek/tell, append mode, typed errors, and what a cancelled or timed-out read or write
// leaves behind (nothing lost, the position right). Reads and writes that really block use a
// FIFO, whose far end the test controls.

import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
  constants as fsConstants,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, test } from 'vitest';
import {
  ClosedResourceError,
  OSError,
  TaskCancelled,
  TaskTimeout,
  UnsupportedOperation,
  aopen,
  sleep,
  spawn,
  timeoutAfter,
} from '@curio-ts/kernel';
import type { AsyncFile, FileMode, FileOptions, Task } from '@curio-ts/kernel';
import { blockedIn, failure, payload, runReal, sha256, until } from './socket-helpers.js';

let dir = '';
let counter = 0;
const fresh = (name: string): string => join(dir, `${++counter}-${name}`);
/** A new FIFO in the temp directory. */
const freshFifo = (name: string): string => {
  const path = fresh(name);
  execFileSync('mkfifo', [path]);
  return path;
};
/** Open the far (reading) end of a FIFO, non-blocking: this test drains what the file writes. */
const farReader = (fifo: string): number => openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'curio-file-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('text files', () => {
  test('write, then read back with readline, read(n), readlines and readAll', async () => {
    const path = fresh('text.txt');
    const got = await runReal(async () => {
      {
        await using out = await aopen(path, 'w');
        expect(await out.write('héllo wörld\n')).toBe(12);
        await out.writelines(['second line\n', 'third\n', 'last, no newline']);
      }
      await using file = await aopen(path);
      expectTypeOf(file).toEqualTypeOf<AsyncFile<string>>();
      await using binary = await aopen(path, 'rb');
      expectTypeOf(binary).toEqualTypeOf<AsyncFile<Uint8Array>>();
      await using either = await aopen(path, 'r+' as FileMode);
      expectTypeOf(either).toEqualTypeOf<AsyncFile<string> | AsyncFile<Uint8Array>>();
      const first = await file.readline();
      const five = await file.read(5);
      const rest = await file.readline();
      const lines = await file.readlines();
      const atEnd = [await file.readline(), await file.read(10), await file.readAll()];
      await file.seek(0);
      const all = await file.readAll();
      return { first, five, rest, lines, atEnd, all, encoding: file.encoding };
    });
    expect(got.first).toBe('héllo wörld\n');
    expect(got.five).toBe('secon');
    expect(got.rest).toBe('d line\n');
    expect(got.lines).toEqual(['third\n', 'last, no newline']);
    expect(got.atEnd).toEqual(['', '', '']);
    expect(got.all).toBe('héllo wörld\nsecond line\nthird\nlast, no newline');
    expect(got.encoding).toBe('utf8');
    expect(readFileSync(path, 'utf8')).toBe(got.all);
  });

  test('read(n) counts characters, never splitting a multi-byte one', async () => {
    const path = fresh('utf8.txt');
    const text = 'aé€😀'.repeat(5000);
    writeFileSync(path, text);
    const pieces = await runReal(async () => {
      await using file = await aopen(path, 'r', { bufferSize: 1000 });
      const out: string[] = [];
      for (;;) {
        const piece = await file.read(7);
        if (piece === '') return out;
        out.push(piece);
      }
    });
    expect(pieces.join('')).toBe(text);
    // 7 code points per read: 'a', 'é', '€' are one UTF-16 unit each, the emoji two.
    expect(pieces.slice(0, -1).every((p) => [...p].length === 7)).toBe(true);
  });

  test('latin1 text round-trips every byte value', async () => {
    const path = fresh('latin1.txt');
    const text = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    const back = await runReal(async () => {
      {
        await using out = await aopen(path, 'w', { encoding: 'latin1' });
        await out.write(text);
      }
      await using file = await aopen(path, 'r', { encoding: 'latin1' });
      return await file.readAll();
    });
    expect(back).toBe(text);
    expect([...readFileSync(path)]).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  test('readline over very long lines and CRLF endings; for await gives each line once', async () => {
    const path = fresh('lines.txt');
    const long = 'x'.repeat(3 * 1024 * 1024 + 17);
    const content = `short\r\n${long}\r\nmiddle\n${long}y\nend`;
    writeFileSync(path, content);
    const lines = await runReal(async () => {
      await using file = await aopen(path, 'r', { bufferSize: 4096 });
      const out: string[] = [];
      for await (const line of file) out.push(line);
      return out;
    });
    expect(lines.map((l) => l.length)).toEqual([7, long.length + 2, 7, long.length + 2, 3]);
    expect(lines.join('')).toBe(content);
    expect(lines[0]).toBe('short\r\n');
    expect(lines[2]).toBe('middle\n');
  });
});

describe('binary files', () => {
  test('bytes in, bytes out; read(n) gives n bytes until the end, then an empty array', async () => {
    const path = fresh('data.bin');
    const data = payload(100_003);
    const got = await runReal(async () => {
      {
        await using out = await aopen(path, 'wb');
        expect(await out.write(data.subarray(0, 3))).toBe(3);
        await out.write(data.subarray(3));
      }
      await using file = await aopen(path, 'rb');
      const sizes: number[] = [];
      const parts: Uint8Array[] = [];
      for (;;) {
        const chunk = await file.read(30_000);
        sizes.push(chunk.length);
        if (chunk.length === 0) break;
        parts.push(chunk);
      }
      return { sizes, joined: Buffer.concat(parts), encoding: file.encoding };
    });
    expect(got.sizes).toEqual([30_000, 30_000, 30_000, 10_003, 0]);
    expect(got.joined.equals(data)).toBe(true);
    expect(got.encoding).toBeNull();
  });

  test('a 32 MiB file written in pieces and read back whole and in chunks', async () => {
    const path = fresh('large.bin');
    const data = payload(32 * 1024 * 1024, 7);
    const got = await runReal(async () => {
      {
        await using out = await aopen(path, 'wb');
        for (let at = 0; at < data.length; at += 1_000_000) await out.write(data.subarray(at, at + 1_000_000));
        expect(out.tell()).toBe(data.length);
      }
      await using file = await aopen(path, 'rb');
      const whole = await file.readAll();
      await file.seek(0);
      const parts: Uint8Array[] = [];
      for (;;) {
        const chunk = await file.read(777_777);
        if (chunk.length === 0) break;
        parts.push(chunk);
      }
      return { whole: sha256(whole), chunks: sha256(Buffer.concat(parts)), length: whole.length };
    });
    expect(got.length).toBe(data.length);
    expect(got.whole).toBe(sha256(data));
    expect(got.chunks).toBe(sha256(data));
    expect(sha256(readFileSync(path))).toBe(sha256(data));
  });

  test('binary readline keeps the line ends; readlines gives the rest', async () => {
    const path = fresh('lines.bin');
    writeFileSync(path, 'a\r\nbb\n\nccc');
    const got = await runReal(async () => {
      await using file = await aopen(path, 'rb');
      const first = await file.readline();
      const rest = await file.readlines();
      return [first, ...rest].map((line) => Buffer.from(line).toString());
    });
    expect(got).toEqual(['a\r\n', 'bb\n', '\n', 'ccc']);
  });
});

describe('position', () => {
  test('seek and tell from the start, the current position and the end', async () => {
    const path = fresh('seek.txt');
    writeFileSync(path, 'hello world, hello file');
    const got = await runReal(async () => {
      await using file = await aopen(path, 'r+');
      const trace: (string | number)[] = [];
      trace.push(await file.seek(6), await file.read(5), file.tell());
      trace.push(await file.seek(-4, 'end'), await file.read(4), file.tell());
      await file.seek(0);
      await file.read(1); // fills the read-ahead; a seek inside it keeps the buffer
      trace.push(await file.seek(2, 'current'), await file.read(2), file.tell());
      trace.push(await file.seek(100), await file.read(1), file.tell());
      await file.seek(0);
      await file.write('J');
      trace.push(file.tell());
      await file.seek(13);
      await file.write('HELLO');
      trace.push(file.tell(), await file.read(1));
      const negative = await failure(file.seek(-1));
      trace.push((negative as OSError).code, file.tell());
      return trace;
    });
    expect(got).toEqual([6, 'world', 11, 19, 'file', 23, 3, 'lo', 5, 100, '', 100, 1, 18, ' ', 'EINVAL', 19]);
    expect(readFileSync(path, 'utf8')).toBe('Jello world, HELLO file');
  });

  test('a read after writes sees them; a write after reads goes where reading stopped', async () => {
    const path = fresh('mixed.txt');
    const got = await runReal(async () => {
      await using file = await aopen(path, 'w+');
      await file.write('line one\nline two\n');
      await file.seek(0);
      const first = await file.readline();
      await file.write('LINE');
      const rest = await file.readAll();
      const at = file.tell();
      await file.flush();
      return { first, rest, at };
    });
    expect(got).toEqual({ first: 'line one\n', rest: ' two\n', at: 18 });
    expect(readFileSync(path, 'utf8')).toBe('line one\nLINE two\n');
  });

  test("append mode writes at the end; 'a+' reads anywhere, writes still append", async () => {
    const path = fresh('append.txt');
    writeFileSync(path, 'abc');
    const got = await runReal(async () => {
      const trace: (string | number)[] = [];
      {
        await using file = await aopen(path, 'a');
        trace.push(file.tell());
        await file.write('def');
        await file.flush();
        trace.push(file.tell());
      }
      await using file = await aopen(path, 'a+');
      await file.seek(0);
      trace.push(await file.read(2));
      await file.write('XYZ');
      await file.flush();
      trace.push(file.tell(), await file.read(1));
      await file.seek(0);
      trace.push(await file.readAll());
      return trace;
    });
    expect(got).toEqual([3, 6, 'ab', 9, '', 'abcdefXYZ']);
  });

  test('truncate cuts at the position by default, and the position stays', async () => {
    const path = fresh('truncate.bin');
    writeFileSync(path, '0123456789');
    const got = await runReal(async () => {
      await using file = await aopen(path, 'r+b');
      await file.read(4);
      const size = await file.truncate();
      const at = file.tell();
      const grown = await file.truncate(6);
      return { size, at, grown, rest: Buffer.from(await file.readAll()).toString('hex') };
    });
    expect(got).toEqual({ size: 4, at: 4, grown: 6, rest: '0000' });
    expect(readFileSync(path, 'hex')).toBe('303132330000');
  });
});

describe('errors', () => {
  test('the system error codes are kept: ENOENT, EEXIST, EISDIR, EACCES', async () => {
    const existing = fresh('exists.txt');
    writeFileSync(existing, 'x');
    const locked = fresh('locked.txt');
    writeFileSync(locked, 'x', { mode: 0o000 });
    const errors = await runReal(async () => [
      await failure(aopen(join(dir, 'missing', 'nope.txt'))),
      await failure(aopen(existing, 'x')),
      await failure(aopen(dir, 'r')),
      await failure(aopen(dir, 'w')),
      process.getuid?.() === 0 ? null : await failure(aopen(locked, 'r')),
    ]);
    const [missing, exists, dirRead, dirWrite, denied] = errors as OSError[];
    for (const error of [missing, exists, dirRead, dirWrite]) expect(error).toBeInstanceOf(OSError);
    expect(missing?.code).toBe('ENOENT');
    expect(missing?.path).toBe(join(dir, 'missing', 'nope.txt'));
    expect(missing?.syscall).toBe('open');
    expect(exists?.code).toBe('EEXIST');
    expect(dirRead?.code).toBe('EISDIR');
    expect(dirWrite?.code).toBe('EISDIR');
    if (denied !== null) expect(denied?.code).toBe('EACCES');
  });

  test('misuse: wrong direction, wrong value type, bad mode or encoding, use after close', async () => {
    const path = fresh('misuse.txt');
    writeFileSync(path, 'data\n');
    const got = await runReal(async () => {
      const reader = await aopen(path, 'r');
      const writeOnRead = await failure(reader.write('x'));
      const wrongType = await failure(reader.read(1.5));
      await reader.close();
      await reader.close(); // twice is harmless
      const afterClose = await Promise.all([failure(reader.read()), failure(reader.write('x')), failure(reader.seek(0))]);
      const writer = await aopen(path, 'ab');
      const readOnWrite = await failure(writer.read());
      const notBytes = await failure(writer.write('text' as unknown as Uint8Array));
      await writer.close();
      const badMode = await failure(aopen(path, 'rw' as 'r'));
      const badEncoding = await failure(aopen(path, 'r', { encoding: 'utf16le' as 'utf8' }));
      const binaryEncoding = await failure(aopen(path, 'rb', { encoding: 'utf8' } as FileOptions));
      return { writeOnRead, wrongType, afterClose, readOnWrite, notBytes, badMode, badEncoding, binaryEncoding, closed: reader.closed };
    });
    expect(got.writeOnRead).toBeInstanceOf(UnsupportedOperation);
    expect(got.readOnWrite).toBeInstanceOf(UnsupportedOperation);
    expect((got.readOnWrite as UnsupportedOperation).code).toBe('ERR_UNSUPPORTED_OPERATION');
    expect(got.wrongType).toBeInstanceOf(TypeError);
    expect(got.notBytes).toBeInstanceOf(TypeError);
    for (const error of got.afterClose) expect(error).toBeInstanceOf(ClosedResourceError);
    expect(got.badMode).toBeInstanceOf(TypeError);
    expect(got.badEncoding).toBeInstanceOf(TypeError);
    expect(got.binaryEncoding).toBeInstanceOf(TypeError);
    expect(got.closed).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('data\n');
  });
});

describe('cancellation and timeouts', () => {
  test('a readAll cancelled while the OS reads consumed nothing: the position is 0 and the next readAll gets everything', async () => {
    const path = fresh('cancel-read.bin');
    const data = payload(24 * 1024 * 1024, 3);
    writeFileSync(path, data);
    const got = await runReal(async () => {
      await using file = await aopen(path, 'rb');
      const reader = spawn(() => file.readAll(), { name: 'reader' });
      await inState(reader, 'FILE_READ');
      await reader.cancel();
      const afterCancel = file.tell();
      const all = await file.readAll();
      return { error: reader.exception, afterCancel, digest: sha256(all), at: file.tell() };
    });
    expect(got.error).toBeInstanceOf(TaskCancelled);
    expect(got.afterCancel).toBe(0);
    expect(got.digest).toBe(sha256(data));
    expect(got.at).toBe(data.length);
  });

  test('a write cancelled while the OS writes still lands, and the position counts it', async () => {
    const path = fresh('cancel-write.bin');
    const data = payload(24 * 1024 * 1024, 5);
    const got = await runReal(async () => {
      await using file = await aopen(path, 'wb', { bufferSize: 0 });
      const writer = spawn(() => file.write(data), { name: 'writer' });
      await inState(writer, 'FILE_WRITE');
      await writer.cancel();
      const at = file.tell();
      await file.write(Buffer.from('tail'));
      await file.flush();
      return { error: writer.exception, at, end: file.tell() };
    });
    expect(got.error).toBeInstanceOf(TaskCancelled);
    expect(got.at).toBe(data.length);
    expect(got.end).toBe(data.length + 4);
    const written = readFileSync(path);
    expect(sha256(written.subarray(0, data.length))).toBe(sha256(data));
    expect(written.subarray(data.length).toString()).toBe('tail');
  });

  test('reads from a FIFO: a timed-out readline loses nothing, a cancelled read neither', async () => {
    const fifo = freshFifo('read.fifo');
    const got = await runReal(async () => {
      // r+ on a FIFO opens at once (we are a reader and a writer); the test writes the far end.
      await using file = await aopen(fifo, 'r+');
      const trace: string[] = [];
      const timedOut = await failure(timeoutAfter(30, () => file.readline()));
      trace.push(`timeout: ${(timedOut as Error).name}`);
      const allTimedOut = await failure(timeoutAfter(30, () => file.readlines()));
      trace.push(`readlines timeout: ${(allTimedOut as Error).name}`);
      const far = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      writeSync(far, 'first li');
      await sleep(20);
      writeSync(far, 'ne\nsecond\n');
      trace.push(`line: ${await file.readline()}`);
      const reader = spawn(() => file.read(100), { name: 'fifo-reader' });
      await blockedIn(reader, 'FILE_READ');
      await reader.cancel();
      trace.push(`cancelled: ${(reader.exception as Error).name}`);
      writeSync(far, 'third\n');
      closeSync(far);
      trace.push(`rest: ${JSON.stringify(await file.readline())}`);
      trace.push(`tell: ${(await failure(Promise.resolve().then(() => file.tell())) as OSError).code}`);
      return trace;
    });
    expect(got).toEqual([
      'timeout: TaskTimeout',
      'readlines timeout: TaskTimeout',
      'line: first line\n',
      'cancelled: TaskCancelled',
      'rest: "second\\n"',
      'tell: ESPIPE',
    ]);
  });

  test('a write blocked on a full FIFO: a timeout leaves it to finish once the far end reads; a blocked flush times out too', async () => {
    const fifo = freshFifo('write.fifo');
    const data = payload(1024 * 1024, 9);
    const got = await runReal(async () => {
      const far = farReader(fifo);
      const file = await aopen(fifo, 'wb', { bufferSize: 0 });
      const writeError = await failure(timeoutAfter(30, () => file.write(data)));
      // The next write waits for the timed-out one, which waits for the far end to read.
      const marker = spawn(() => file.write(Buffer.from('END')), { name: 'marker' });
      await blockedIn(marker, 'FILE_WRITE');
      const flushError = await failure(timeoutAfter(30, () => file.flush()));
      const received = await drainFar(far, data.length + 3);
      await marker.join();
      await file.close();
      closeSync(far);
      return { writeError, flushError, received };
    });
    expect(got.writeError).toBeInstanceOf(TaskTimeout);
    expect(got.flushError).toBeInstanceOf(TaskTimeout);
    expect(got.received.length).toBe(data.length + 3);
    expect(sha256(got.received.subarray(0, data.length))).toBe(sha256(data));
    expect(got.received.subarray(data.length).toString()).toBe('END');
  });

  test('a close that times out while a write is blocked still finishes: the write lands, then the file closes', async () => {
    const fifo = freshFifo('close.fifo');
    const data = payload(1024 * 1024, 13);
    const got = await runReal(async () => {
      const far = farReader(fifo);
      const file = await aopen(fifo, 'wb');
      await file.write(data.subarray(0, 10)); // buffered, goes out at close
      const writer = spawn(() => file.write(data.subarray(10)), { name: 'writer' });
      await blockedIn(writer, 'FILE_WRITE');
      const closeError = await failure(timeoutAfter(30, () => file.close()));
      const closedAt = file.closed;
      const received = await drainFar(far, data.length, true);
      await file.close(); // the same close, now finished
      closeSync(far);
      return { closeError, closedAt, writer: await writer.join(), received };
    });
    expect(got.closeError).toBeInstanceOf(TaskTimeout);
    expect(got.closedAt).toBe(true);
    expect(got.writer).toBe(data.length - 10);
    expect(sha256(got.received)).toBe(sha256(data));
  });

  test('a cancelled write that then fails reports its error at the next operation', async () => {
    const fifo = freshFifo('epipe.fifo');
    const got = await runReal(async () => {
      const far = farReader(fifo);
      const file = await aopen(fifo, 'wb', { bufferSize: 0 });
      const writer = spawn(() => file.write(payload(1024 * 1024)), { name: 'writer' });
      await blockedIn(writer, 'FILE_WRITE');
      await writer.cancel();
      closeSync(far); // the blocked write now fails with EPIPE, with nobody waiting for it
      const flushError = await failure(file.flush());
      const afterwards = await file.flush(); // reported once
      await file.close();
      return { flushError, afterwards };
    });
    expect(got.flushError).toBeInstanceOf(OSError);
    expect((got.flushError as OSError).code).toBe('EPIPE');
    expect(got.afterwards).toBeUndefined();
  });

  test('an open cancelled by a timeout leaves no descriptor behind', async () => {
    const fifo = freshFifo('open.fifo');
    const descriptors = (): number => readdirSync('/proc/self/fd').length;
    const got = await runReal(async () => {
      const before = descriptors();
      // Opening a FIFO for reading only blocks until a writer appears.
      const error = await failure(timeoutAfter(30, () => aopen(fifo, 'r')));
      const far = openSync(fifo, fsConstants.O_WRONLY); // unblocks the abandoned open
      closeSync(far);
      await until(() => descriptors() === before, 'the abandoned open was closed');
      return error;
    });
    expect(got).toBeInstanceOf(TaskTimeout);
  });
});

describe('sharing a file between tasks', () => {
  test('two tasks reading lines at once get every line exactly once', async () => {
    const path = fresh('shared.txt');
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'.'.repeat(i % 97)}\n`);
    writeFileSync(path, lines.join(''));
    const got = await runReal(async () => {
      await using file = await aopen(path, 'r', { bufferSize: 1024 });
      const readers = [0, 1].map((n) =>
        spawn(async () => {
          const mine: string[] = [];
          for await (const line of file) mine.push(line);
          return mine;
        }, { name: `reader-${n}` }),
      );
      const results: string[][] = [];
      for (const reader of readers) results.push(await reader.join());
      return results;
    });
    expect(got.every((mine) => mine.length > 0)).toBe(true);
    const all = got.flat().sort();
    expect(all).toEqual([...lines].sort());
  });
});

/**
 * Wait, in turns of the scheduler rather than real time, until `task` is in `state`: an OS
 * read or write of a regular file lasts only milliseconds, but it cannot end between two
 * turns that run without the event loop in between.
 */
async function inState(task: Task, state: string): Promise<void> {
  for (let turn = 0; turn < 10_000 && task.state !== state; turn++) await sleep(0);
  expect(task.state).toBe(state);
}

/**
 * Read `expected` bytes from the far end of a FIFO (opened non-blocking), sleeping briefly
 * while it is empty; with `untilEof`, keep reading until every writer has closed it.
 */
async function drainFar(fd: number, expected: number, untilEof = false): Promise<Buffer> {
  const received: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.alloc(65536);
  for (let rounds = 0; rounds < 100_000; rounds++) {
    const n = readNonBlocking(fd, chunk);
    if (n > 0) {
      received.push(Buffer.from(chunk.subarray(0, n)));
      total += n;
    } else if (n === 0 && untilEof) {
      break;
    } else if (total >= expected && !untilEof) {
      break;
    } else {
      await sleep(1);
    }
  }
  return Buffer.concat(received);
}

/** Read what a non-blocking descriptor has: -1 if nothing yet, 0 at end of file. */
function readNonBlocking(fd: number, into: Buffer): number {
  try {
    return readSync(fd, into);
  } catch (error) {
    if ((error as { code?: string }).code === 'EAGAIN') return -1;
    throw error;
  }
}
