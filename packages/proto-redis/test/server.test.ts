// The server role's input side, as a server drives it: chunks cut anywhere, bytes that pile up
// while the server does not parse (a client blocked in BLPOP keeps sending), and the bound on
// what it holds. What is checked is what a server sees: the commands, their arguments as views
// of the very chunks it fed (no hidden copies), bufferedBytes, and the errors.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NEED_DATA, PAUSED, RedisServerProtocol, RemoteProtocolError } from '@curio-ts/proto-redis';
import type { RedisServerEvent } from '@curio-ts/proto-redis';
import { commands } from './helpers.js';

const encoder = new TextEncoder();
const bytes = (s: string): Uint8Array => encoder.encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** One command in RESP, and where each of its arguments' bodies lies in it. */
function encode(args: readonly string[]): { bytes: Uint8Array; bodies: { start: number; end: number }[] } {
  let out = `*${args.length}\r\n`;
  const bodies: { start: number; end: number }[] = [];
  for (const arg of args) {
    out += `$${arg.length}\r\n`;
    bodies.push({ start: out.length, end: out.length + arg.length });
    out += `${arg}\r\n`;
  }
  return { bytes: bytes(out), bodies };
}

/** `stream` cut into chunks of `size` bytes, each a separate ArrayBuffer (as sockets deliver). */
function cut(stream: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += size) chunks.push(stream.slice(i, i + size));
  return chunks;
}

describe('server connection: received bytes', () => {
  it('an argument inside one chunk is a view of that chunk, even after a command cut across chunks', () => {
    // 2 000 commands of varied sizes, all fed before any is parsed (what a blocked client sends),
    // in 1 000-byte chunks: most arguments lie in one chunk, some span two.
    const values = Array.from({ length: 2000 }, (_, i) => `v${i}:${'x'.repeat((i * 37) % 300)}`);
    const encoded = values.map((value) => encode(['SET', `key:${value.length}`, value]));
    const stream = new Uint8Array(encoded.reduce((n, e) => n + e.bytes.length, 0));
    const bodies: { start: number; end: number }[] = [];
    let offset = 0;
    for (const e of encoded) {
      stream.set(e.bytes, offset);
      for (const body of e.bodies) bodies.push({ start: offset + body.start, end: offset + body.end });
      offset += e.bytes.length;
    }
    const size = 1000;
    const chunks = cut(stream, size);
    const server = new RedisServerProtocol();
    for (const chunk of chunks) server.receiveData(chunk);
    expect(server.bufferedBytes).toBe(stream.length);
    const got = commands(server);
    expect(server.bufferedBytes).toBe(0);
    expect(got.map((c) => (c.type === 'command' ? text(c.args[2] as Uint8Array) : c.type))).toEqual(values);
    const args = got.flatMap((c) => (c.type === 'command' ? c.args : []));
    expect(args).toHaveLength(bodies.length);
    let views = 0;
    args.forEach((arg, i) => {
      const body = bodies[i] as { start: number; end: number };
      const chunkIndex = Math.floor(body.start / size);
      if (Math.floor((body.end - 1) / size) !== chunkIndex || body.end === body.start) return; // spans chunks: a copy is fine
      const chunk = chunks[chunkIndex] as Uint8Array;
      expect(arg.buffer, `argument ${i}`).toBe(chunk.buffer);
      expect(arg.byteOffset).toBe(chunk.byteOffset + (body.start - chunkIndex * size));
      views++;
    });
    expect(views).toBeGreaterThan(args.length * 0.9);
  });

  it('parses the same commands however the stream is cut, one byte at a time included', () => {
    const command = fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (list, sizes) => {
        const parts = list.map((args) => encode(args.map((a) => a.replace(/[^\x20-\x7e]/g, '?'))).bytes);
        // An inline command between them, to cut lines too.
        const inline = bytes('PING "a b"\r\n');
        const stream = new Uint8Array(parts.reduce((n, p) => n + p.length + inline.length, 0));
        let at = 0;
        for (const part of parts) {
          stream.set(part, at);
          stream.set(inline, at + part.length);
          at += part.length + inline.length;
        }
        const server = new RedisServerProtocol();
        const got: string[][] = [];
        let i = 0;
        for (let offset = 0; offset < stream.length; i++) {
          const size = sizes[i % sizes.length] as number;
          server.receiveData(stream.slice(offset, offset + size));
          offset += size;
          if (i % 3 !== 0) for (const c of commands(server)) if (c.type === 'command') got.push(c.args.map(text));
        }
        for (const c of commands(server)) if (c.type === 'command') got.push(c.args.map(text));
        const expected = list.flatMap((args) => [args.map((a) => a.replace(/[^\x20-\x7e]/g, '?')), ['PING', 'a b']]);
        expect(got).toEqual(expected);
        expect(server.bufferedBytes).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it("args: 'binary': an argument repeated at the same place is the same string; one byte apart is not", () => {
    // Every length up to 40 (up to 16 made in JavaScript, up to 32 remembered), each byte
    // value at each position, against the argument of the command before (equal, or not).
    const server = new RedisServerProtocol<string>({ args: 'binary' });
    const send = (args: readonly string[]): readonly string[] => {
      const text = args.reduce((out, a) => `${out}$${a.length}\r\n${a}\r\n`, `*${args.length}\r\n`);
      server.receiveData(Buffer.from(text, 'latin1'));
      const event = server.nextEvent();
      if (event === NEED_DATA || event === PAUSED || event.type !== 'command') throw new Error('no command');
      return event.args;
    };
    for (let length = 0; length <= 40; length++) {
      const base = 'k'.repeat(length);
      for (let at = 0; at < length; at++) {
        for (const code of [0, 0x6a, 0x6b, 0x80, 0xff]) {
          const other = base.slice(0, at) + String.fromCharCode(code) + base.slice(at + 1);
          const first = send(['HSET', base, other, base, base]);
          const second = send(['HSET', other, base, other, other]);
          expect(first).toEqual(['HSET', base, other, base, base]);
          expect(second).toEqual(['HSET', other, base, other, other]);
          const third = send(['HSET', other, base, other, other]);
          expect(third).toEqual(second);
        }
      }
    }
  });

  it("args: 'binary': arguments as binary strings (every byte value, Buffers or not), cut anywhere", () => {
    const binaryArg = fc.uint8Array({ maxLength: 40 }).map((b) => String.fromCharCode(...b));
    const command = fc.tuple(fc.constantFrom('SET', 'get', 'SET'), fc.array(binaryArg, { maxLength: 4 }));
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
        fc.boolean(),
        (list, sizes, asBuffers) => {
          let stream = '';
          for (const [name, rest] of list) stream += [name, ...rest].reduce((out, a) => `${out}$${a.length}\r\n${a}\r\n`, `*${rest.length + 1}\r\n`);
          stream += 'PING "a\\xffb"\r\n'; // and an inline one
          const all = Uint8Array.from(stream, (c) => c.charCodeAt(0));
          const server = new RedisServerProtocol<string>({ args: 'binary' });
          const got: (readonly string[])[] = [];
          const names: string[] = [];
          let i = 0;
          for (let offset = 0; offset < all.length; i++) {
            const size = sizes[i % sizes.length] as number;
            const part = all.slice(offset, offset + size);
            server.receiveData(asBuffers ? Buffer.from(part) : part);
            offset += size;
            for (;;) {
              const event = server.nextEvent();
              if (event === NEED_DATA || event === PAUSED || event.type !== 'command') break;
              got.push(event.args);
              names.push(event.name);
            }
          }
          expect(got).toEqual([...list.map(([name, rest]) => [name, ...rest]), ['PING', 'a\xffb']]);
          expect(names).toEqual([...list.map(([name]) => name.toUpperCase()), 'PING']);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a long inline line and a long argument fed one byte at a time', () => {
    const line = `SET k ${'y'.repeat(60_000)}\r\n`;
    const bulk = encode(['SET', 'k', 'z'.repeat(100_000)]).bytes;
    const server = new RedisServerProtocol();
    const got: RedisServerEvent[] = [];
    for (const stream of [bytes(line), bulk]) {
      for (let i = 0; i < stream.length; i++) {
        server.receiveData(stream.subarray(i, i + 1));
        got.push(...commands(server));
      }
    }
    expect(got.map((c) => (c.type === 'command' ? c.args.map((a) => a.length) : c.type))).toEqual([
      [3, 1, 60_000],
      [3, 1, 100_000],
    ]);
  });

  it('bufferedBytes counts what is received and not yet delivered, a partial command included', () => {
    const server = new RedisServerProtocol();
    expect(server.bufferedBytes).toBe(0);
    server.receiveData(bytes('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n01234'));
    expect(server.bufferedBytes).toBe(30);
    expect(server.nextEvent()).toBe(NEED_DATA);
    // The header lines are consumed, the arguments parsed so far are still held.
    expect(server.bufferedBytes).toBe(5 + 4); // "01234", and "SET" and "k"
    server.receiveData(bytes('56789\r\nPING\r\n'));
    expect(commands(server).map((c) => (c.type === 'command' ? c.name : c.type))).toEqual(['SET', 'PING']);
    expect(server.bufferedBytes).toBe(0);
  });

  it('refuses data beyond maxBufferedBytes: the next event is an ERR_BUFFER_LIMIT error', () => {
    const command = encode(['SET', 'k', 'v'.repeat(50)]).bytes; // 77 bytes
    const fits = new RedisServerProtocol({ maxBufferedBytes: command.length });
    fits.receiveData(command);
    expect(commands(fits)).toHaveLength(1);
    fits.receiveData(command); // delivered commands no longer count
    expect(commands(fits)).toHaveLength(1);

    const server = new RedisServerProtocol({ maxBufferedBytes: 100 });
    server.receiveData(command);
    server.receiveData(command); // 154 bytes held: over the limit
    expect(() => server.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_BUFFER_LIMIT' }));
    expect(() => server.nextEvent()).toThrow(RemoteProtocolError);
    expect(() => server.receiveData(command)).toThrow(RemoteProtocolError);

    // The arguments of a command still incomplete count too.
    const partial = new RedisServerProtocol({ maxBufferedBytes: 100 });
    partial.receiveData(bytes('*3\r\n$3\r\nSET\r\n$60\r\n'));
    partial.receiveData(bytes(`${'a'.repeat(60)}\r\n$60\r\n`));
    expect(partial.nextEvent()).toBe(NEED_DATA);
    partial.receiveData(bytes('b'.repeat(40)));
    expect(() => partial.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_BUFFER_LIMIT' }));
  });

  it('reports the stream offset of a bad byte, wherever the chunks were cut', () => {
    const stream = bytes('PING\r\n*1\r\n$4\r\nPINGxx');
    for (let split = 1; split < stream.length; split++) {
      const server = new RedisServerProtocol();
      server.receiveData(stream.slice(0, split));
      server.receiveData(stream.slice(split));
      let error: unknown;
      try {
        commands(server);
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({ code: 'ERR_CRLF', offset: 18 });
    }
  });
});

/** What a server makes of a stream: command names in order, then 'closed' or the error code. */
type Outcome = string[];

/** The stream fed in one chunk, then its end; every command answered at once, no pause. */
function reference(stream: Uint8Array): Outcome {
  const server = new RedisServerProtocol({ maxArgs: 64, maxBulkLength: 1 << 16, maxInlineLength: 256 });
  const out: Outcome = [];
  try {
    if (stream.length > 0) server.receiveData(stream);
    server.receiveData(new Uint8Array(0));
    for (;;) {
      const e = server.nextEvent();
      if (e === NEED_DATA || e === PAUSED) throw new Error(`${String(e)} after the end of the stream`);
      if (e.type === 'closed') return [...out, 'closed'];
      out.push(e.name);
      server.answered();
    }
  } catch (error) {
    if (!(error instanceof RemoteProtocolError)) throw error;
    return [...out, error.code];
  }
}

/**
 * The same stream cut at `cuts`, driven by a consumer that follows `steps`: after each chunk it
 * reads events, and between events it may block (resuming a few events later), hold answers
 * back (up to `maxUnanswered`), or answer. Checks the pacing rules as it goes.
 */
function paced(stream: Uint8Array, cuts: number[], steps: number[], maxUnanswered: number): Outcome {
  const server = new RedisServerProtocol({ maxArgs: 64, maxBulkLength: 1 << 16, maxInlineLength: 256, maxUnanswered });
  const out: Outcome = [];
  let step = 0;
  const choice = (): number => steps[step++ % steps.length] as number;
  const bounds = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const to of [...bounds, stream.length]) {
    if (to > from) chunks.push(stream.slice(from, to));
    from = Math.max(from, to);
  }
  chunks.push(new Uint8Array(0));
  let blockedFor = 0; // PAUSED answers to wait before unblocking
  let heldBack = 0; // PAUSED answers the unanswered limit was kept
  try {
    for (const chunk of chunks) {
      server.receiveData(chunk);
      for (let guard = 0; ; guard++) {
        if (guard > 10_000) throw new Error('no progress');
        const paused = server.state === 'blocked' || server.unanswered >= maxUnanswered;
        const e = server.nextEvent();
        if (paused) {
          expect(e).toBe(PAUSED);
          // Resume now or after more input, as a consumer would.
          if (server.state === 'blocked' && --blockedFor <= 0) server.unblock();
          if (server.unanswered >= maxUnanswered && (choice() % 2 === 0 || ++heldBack > 2)) {
            server.answered(server.unanswered);
            heldBack = 0;
          }
          if (choice() % 3 === 0 && chunk.length > 0) break; // wait for the next chunk while paused
          continue;
        }
        if (e === PAUSED) throw new Error('PAUSED while neither blocked nor at the unanswered limit');
        if (e === NEED_DATA) break;
        if (e.type === 'closed') {
          expect(e.unanswered).toBe(server.unanswered);
          return [...out, 'closed'];
        }
        out.push(e.name);
        const what = choice() % 4;
        if (what === 0) {
          server.block();
          blockedFor = 1 + (choice() % 3);
        } else if (what === 1 && server.unanswered > 0) server.answered();
      }
    }
    // The end of the stream was fed: resume whatever is paused until it is reported.
    for (let guard = 0; guard < 10_000; guard++) {
      if (server.state === 'blocked') server.unblock();
      if (server.unanswered > 0) server.answered(server.unanswered);
      const e = server.nextEvent();
      if (e === NEED_DATA || e === PAUSED) throw new Error(`${String(e)} after the end of the stream`);
      if (e.type === 'closed') return [...out, 'closed'];
      out.push(e.name);
    }
    throw new Error('no progress');
  } catch (error) {
    if (!(error instanceof RemoteProtocolError)) throw error;
    expect(server.state).toBe('error');
    expect(() => server.nextEvent()).toThrow(error);
    expect(() => server.receiveData(bytes('PING\r\n'))).toThrow(error);
    return [...out, error.code];
  }
}

describe('server connection: pacing and end of stream under random input', () => {
  it('commands split anywhere and paced anyhow (block, unanswered limit): the same commands, then closed', () => {
    const validCommand = fc.array(fc.oneof(fc.constantFrom('GET', 'SET', 'PING', 'BLPOP'), fc.string({ unit: 'binary', maxLength: 40 })), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(validCommand, { minLength: 0, maxLength: 30 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
        fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 4 })),
        (commandList, inline, cuts, steps, maxUnanswered) => {
          const text = commandList
            .map((args) =>
              inline && args.every((a) => /^[A-Za-z0-9]+$/.test(a))
                ? `${args.join(' ')}\r\n`
                : `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('')}`,
            )
            .join('');
          const stream = Uint8Array.from(Buffer.from(text, 'latin1'));
          const expected = reference(stream);
          expect(expected.at(-1)).toBe('closed');
          expect(paced(stream, cuts, steps, maxUnanswered)).toEqual(expected);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('hostile bytes (random, and valid commands with bytes flipped): the same outcome however cut and paced', () => {
    const valid = fc.array(fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }).map((commandList) =>
      encoder.encode(commandList.map((args) => `*${args.length}\r\n${args.map((a) => `$${encoder.encode(a).length}\r\n${a}\r\n`).join('')}`).join('')),
    );
    const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([stream, flips]) => {
      const copy = stream.slice();
      for (const [at, value] of flips) copy[at % copy.length] = value;
      return copy;
    });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
        fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 3 })),
        (stream, cuts, steps, maxUnanswered) => {
          expect(paced(stream, cuts, steps, maxUnanswered)).toEqual(reference(stream));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
