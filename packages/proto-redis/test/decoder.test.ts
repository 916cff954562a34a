// The RESP decoder: golden bytes for every RESP2/RESP3 type, every split point, hostile input,
// limits, and a differential test against redis-parser for RESP2.

import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ReplyWriter,
  NEED_DATA,
  RemoteProtocolError,
  RespAttributed,
  RespDecoder,
  RespErrorReply,
  RespPush,
  RespVerbatim,
  decodeUtf8,
  withoutAttributes,
} from '@curio-ts/proto-redis';
import type { DecoderLimits, RespFrame, RespValue } from '@curio-ts/proto-redis';
import { resp3Stream } from './resp3-samples.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function decodeAll(input: Uint8Array | string, options?: { bytes?: boolean; limits?: DecoderLimits }): RespFrame[] {
  const decoder = new RespDecoder(options?.limits);
  decoder.feed(typeof input === 'string' ? bytes(input) : input);
  const out: RespFrame[] = [];
  for (;;) {
    const frame = decoder.next(options?.bytes ?? false);
    if (frame === NEED_DATA) break;
    out.push(frame);
  }
  expect(decoder.buffered).toBe(0);
  return out;
}

/** Feed `input` split at every possible offset (and byte by byte); all must decode alike. */
function decodeSplits(input: string | Uint8Array): RespFrame[] {
  const data = typeof input === 'string' ? bytes(input) : input;
  const whole = decodeAll(data);
  for (let cut = 1; cut < data.length; cut++) {
    const decoder = new RespDecoder();
    const out: RespFrame[] = [];
    for (const part of [data.subarray(0, cut), data.subarray(cut)]) {
      decoder.feed(part);
      for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) out.push(f);
    }
    expect(out).toEqual(whole);
  }
  const decoder = new RespDecoder();
  const out: RespFrame[] = [];
  for (let i = 0; i < data.length; i++) {
    decoder.feed(data.subarray(i, i + 1));
    for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) out.push(f);
  }
  expect(out).toEqual(whole);
  return whole;
}

describe('RESP2 types', () => {
  it.each([
    ['+OK\r\n', 'OK'],
    ['+\r\n', ''],
    [':0\r\n', 0],
    [':-42\r\n', -42],
    [':9007199254740993\r\n', 9007199254740993n],
    [':-9223372036854775808\r\n', -9223372036854775808n],
    ['$5\r\nhello\r\n', 'hello'],
    ['$0\r\n\r\n', ''],
    ['$-1\r\n', null],
    ['*-1\r\n', null],
    ['*0\r\n', []],
    ['*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n', [1, 'a', ['x']]],
    ['$6\r\nh\xc3\xa9llo\r\n', 'héllo'],
  ])('decodes %j', (input, expected) => {
    const raw = Uint8Array.from(input, (c) => c.charCodeAt(0));
    expect(decodeAll(raw)).toEqual([expected]);
    expect(decodeSplits(raw)).toEqual([expected]);
  });

  it('decodes error replies as values with their code', () => {
    const [err, wrong, plain] = decodeAll('-ERR unknown command\r\n-WRONGTYPE Operation against a key\r\n-oops lower\r\n');
    expect(err).toBeInstanceOf(RespErrorReply);
    expect((err as RespErrorReply).code).toBe('ERR');
    expect((wrong as RespErrorReply).code).toBe('WRONGTYPE');
    expect((wrong as RespErrorReply).message).toBe('WRONGTYPE Operation against a key');
    expect((plain as RespErrorReply).code).toBe('ERR');
  });

  it('returns blob strings as byte views on request, binary safe', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    const frame = new Uint8Array([...bytes('$256\r\n'), ...all, 13, 10]);
    const [value] = decodeAll(frame, { bytes: true });
    expect(value).toBeInstanceOf(Uint8Array);
    expect(Array.from(value as Uint8Array)).toEqual(Array.from(all));
  });
});

describe('RESP3 types', () => {
  it('decodes every scalar type', () => {
    expect(decodeSplits('_\r\n#t\r\n#f\r\n,3.14\r\n,-2\r\n,inf\r\n,-inf\r\n,1e3\r\n(3492890328409238509324850943850943825024385\r\n')).toEqual([
      null,
      true,
      false,
      3.14,
      -2,
      Infinity,
      -Infinity,
      1000,
      3492890328409238509324850943850943825024385n,
    ]);
    const [nan] = decodeAll(',nan\r\n');
    expect(Number.isNaN(nan)).toBe(true);
  });

  it('decodes verbatim strings and blob errors', () => {
    const [verbatim, blobError] = decodeSplits('=15\r\ntxt:Some string\r\n!21\r\nSYNTAX invalid syntax\r\n');
    expect(verbatim).toEqual(new RespVerbatim('txt', 'Some string'));
    expect(blobError).toBeInstanceOf(RespErrorReply);
    expect((blobError as RespErrorReply).code).toBe('SYNTAX');
  });

  it('decodes maps, sets and nested aggregates', () => {
    const [map, set] = decodeSplits('%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n:2\r\n~1\r\n#t\r\n~3\r\n+a\r\n+b\r\n+a\r\n');
    expect(map).toEqual(new Map<RespValue, RespValue>([
      ['first', 1],
      ['second', [2, new Set([true])]],
    ]));
    expect(set).toEqual(new Set(['a', 'b']));
  });

  it('decodes push frames, also between replies', () => {
    const frames = decodeSplits('+OK\r\n>3\r\n+message\r\n+chan\r\n$5\r\nhello\r\n:7\r\n');
    expect(frames[0]).toBe('OK');
    expect(frames[1]).toBeInstanceOf(RespPush);
    expect((frames[1] as RespPush).kind).toBe('message');
    expect((frames[1] as RespPush).data).toEqual(['message', 'chan', 'hello']);
    expect(frames[2]).toBe(7);
  });

  it('decodes attributes at top level and inside aggregates', () => {
    const input =
      '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n' +
      '*2\r\n|1\r\n+ttl\r\n:3600\r\n+x\r\n+y\r\n';
    const [top, nested] = decodeSplits(input);
    expect(top).toBeInstanceOf(RespAttributed);
    const attributed = top as RespAttributed;
    expect(attributed.value).toEqual([2039123, 9543892]);
    expect((attributed.attributes.get('key-popularity') as Map<RespValue, RespValue>).get('a')).toBe(0.1923);
    expect(nested).toEqual([new RespAttributed(new Map([['ttl', 3600]]), 'x'), 'y']);
  });

  it('decodes streamed strings and streamed aggregates', () => {
    const frames = decodeSplits(
      '$?\r\n;4\r\nHell\r\n;6\r\no worl\r\n;1\r\nd\r\n;0\r\n' +
        '*?\r\n:1\r\n:2\r\n:3\r\n.\r\n' +
        '%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n' +
        '~?\r\n+x\r\n*?\r\n.\r\n.\r\n',
    );
    expect(frames).toEqual([
      'Hello world',
      [1, 2, 3],
      new Map<RespValue, RespValue>([
        ['a', 1],
        ['b', 2],
      ]),
      new Set<RespValue>(['x', []]),
    ]);
  });

  it('round-trips every value through ReplyWriter.value in RESP3', () => {
    const value = new Map<RespValue, RespValue>([
      ['s', 'text'],
      ['n', -7],
      ['d', 1.5],
      ['big', 12345678901234567890n],
      ['b', false],
      ['null', null],
      ['arr', [1, [2, ['deep']]]],
      ['set', new Set(['u'])],
      ['v', new RespVerbatim('mkd', '# title')],
      ['e', new RespErrorReply('WRONGTYPE bad')],
    ]);
    const out = new ReplyWriter();
    out.setProtocol(3);
    out.value(value);
    expect(decodeAll(out.take())).toEqual([value]);
  });
});

describe('chunking and large values', () => {
  it('decodes a 64 MiB value fed in 64 KiB chunks with one copy', () => {
    const size = 64 * 1024 * 1024;
    const header = bytes(`$${size}\r\n`);
    const decoder = new RespDecoder();
    decoder.feed(header);
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    for (let sent = 0; sent < size; sent += chunk.length) {
      expect(decoder.next(true)).toBe(NEED_DATA);
      decoder.feed(chunk);
    }
    decoder.feed(bytes('\r\n:1\r\n'));
    const value = decoder.next(true) as Uint8Array;
    expect(value.length).toBe(size);
    expect(value[0]).toBe(0x61);
    expect(value[size - 1]).toBe(0x61);
    expect(decoder.next()).toBe(1);
  });

  it('decodes 100 000 pipelined replies arriving in odd-sized chunks', () => {
    const parts: string[] = [];
    for (let i = 0; i < 100_000; i++) parts.push(i % 3 === 0 ? `$${String(i).length}\r\n${i}\r\n` : i % 3 === 1 ? `:${i}\r\n` : `*2\r\n+a${i}\r\n$-1\r\n`);
    const data = bytes(parts.join(''));
    const decoder = new RespDecoder();
    let count = 0;
    for (let offset = 0; offset < data.length; offset += 4093) {
      decoder.feed(data.subarray(offset, offset + 4093));
      for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) {
        const i = count++;
        expect(f).toEqual(i % 3 === 0 ? String(i) : i % 3 === 1 ? i : [`a${i}`, null]);
      }
    }
    expect(count).toBe(100_000);
  });
});

describe('hostile input', () => {
  it.each([
    ['?oops\r\n', 'ERR_RESP_TYPE'],
    [':12a\r\n', 'ERR_RESP_INTEGER'],
    [':\r\n', 'ERR_RESP_INTEGER'],
    ['$3\r\nabcd\r\n', 'ERR_RESP_CRLF'],
    ['$-2\r\n', 'ERR_RESP_HEADER'],
    ['$x\r\n', 'ERR_RESP_HEADER'],
    ['+ok\rX', 'ERR_RESP_CRLF'],
    ['+ok\n', 'ERR_RESP_CRLF'],
    ['#x\r\n', 'ERR_RESP_BOOLEAN'],
    [',1.2.3\r\n', 'ERR_RESP_DOUBLE'],
    ['(12x\r\n', 'ERR_RESP_BIGNUM'],
    ['=3\r\nabc\r\n', 'ERR_RESP_VERBATIM'],
    ['*1\r\n>1\r\n+x\r\n', 'ERR_RESP_PUSH'],
    ['.\r\n', 'ERR_RESP_STREAM'],
    [';3\r\nabc\r\n', 'ERR_RESP_STREAM'],
    ['%?\r\n+a\r\n.\r\n', 'ERR_RESP_STREAM'],
    ['_x\r\n', 'ERR_RESP_NULL'],
    ['%-1\r\n', 'ERR_RESP_HEADER'],
  ])('rejects %j with %s wherever it is cut, and stays failed', (input, code) => {
    expect(failsEverywhere(input).code).toBe(code);
  });

  it('enforces limits', () => {
    const limits = { maxBulkLength: 10, maxAggregateLength: 3, maxNesting: 4, maxLineLength: 16 };
    const expectCode = (input: string, code: string): void => {
      const decoder = new RespDecoder(limits);
      decoder.feed(bytes(input));
      expect(() => decoder.next()).toThrowError(expect.objectContaining({ code }));
    };
    expectCode('$11\r\n', 'ERR_RESP_BULK_TOO_LONG');
    expectCode('*4\r\n', 'ERR_RESP_AGGREGATE_TOO_LONG');
    expectCode('*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n', 'ERR_RESP_NESTING');
    expectCode('+' + 'x'.repeat(17), 'ERR_RESP_LINE_TOO_LONG');
    expectCode('$?\r\n;6\r\nabcdef\r\n;6\r\nabcdef\r\n', 'ERR_RESP_BULK_TOO_LONG');
    // Within limits, all fine.
    expect(decodeAll('$10\r\n0123456789\r\n*3\r\n:1\r\n:2\r\n:3\r\n', { limits })).toEqual(['0123456789', [1, 2, 3]]);
  });

  it('never crashes or hangs on random bytes: frames, NEED_DATA or RemoteProtocolError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (data, step) => {
        const decoder = new RespDecoder({ maxNesting: 16, maxBulkLength: 1 << 20 });
        try {
          for (let i = 0; i < data.length; i += step) {
            decoder.feed(data.subarray(i, i + step));
            let guard = 0;
            while (decoder.next() !== NEED_DATA) if (++guard > 1000) throw new Error('no progress');
          }
        } catch (error) {
          if (!(error instanceof RemoteProtocolError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never crashes on random RESP-like token soup', () => {
    const token = fc.constantFrom('*', '%', '~', '>', '|', '$', '=', '!', '+', '-', ':', ',', '#', '(', '_', ';', '.', '?', '1', '2', '-1', '0', '\r\n', 'a', 't', 'inf');
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (tokens) => {
        const decoder = new RespDecoder({ maxNesting: 8 });
        try {
          decoder.feed(bytes(tokens.join('')));
          let guard = 0;
          while (decoder.next() !== NEED_DATA) if (++guard > 1000) throw new Error('no progress');
        } catch (error) {
          if (!(error instanceof RemoteProtocolError)) throw error;
        }
      }),
      { numRuns: 5000 },
    );
  });
});

/** Decode `data` fed in pieces cut at `cuts`: the frames, then the error code or null. */
function outcome(data: Uint8Array, cuts: readonly number[], limits?: DecoderLimits): { frames: RespFrame[]; error: string | null; buffered: number } {
  const decoder = new RespDecoder(limits);
  const frames: RespFrame[] = [];
  const points = [...new Set(cuts.filter((c) => c > 0 && c < data.length))].sort((a, b) => a - b);
  let from = 0;
  try {
    for (const to of [...points, data.length]) {
      decoder.feed(data.subarray(from, to));
      from = to;
      let guard = 0;
      for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) {
        frames.push(f);
        if (++guard > 100_000) throw new Error('no progress');
      }
    }
  } catch (error) {
    if (!(error instanceof RemoteProtocolError)) throw error;
    expect(() => decoder.next()).toThrow(error);
    expect(() => decoder.feed(bytes('+OK\r\n'))).toThrow(error);
    return { frames, error: error.code, buffered: -1 };
  }
  return { frames, error: null, buffered: decoder.buffered };
}

/** The error code `input` fails with, the same wherever it is cut. */
function failsEverywhere(input: string, limits?: DecoderLimits): RemoteProtocolError {
  const data = bytes(input);
  const decoder = new RespDecoder(limits);
  decoder.feed(data);
  let error: unknown;
  try {
    while (decoder.next() !== NEED_DATA);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(RemoteProtocolError);
  expect(() => decoder.next()).toThrow(RemoteProtocolError);
  expect(() => decoder.feed(bytes('+OK\r\n'))).toThrow(RemoteProtocolError);
  const code = (error as RemoteProtocolError).code;
  for (let cut = 1; cut < data.length; cut++) expect(outcome(data, [cut], limits).error).toBe(code);
  expect(outcome(data, Array.from({ length: data.length }, (_, i) => i), limits).error).toBe(code);
  return error as RemoteProtocolError;
}

/** Feed `data` piece by piece, yielding now and then (so the test timeout can fire). */
async function decodeChunked(decoder: RespDecoder, data: Iterable<Uint8Array>, bytesMode: boolean): Promise<RespFrame[]> {
  const frames: RespFrame[] = [];
  let fed = 0;
  for (const piece of data) {
    decoder.feed(piece);
    for (let f = decoder.next(bytesMode); f !== NEED_DATA; f = decoder.next(bytesMode)) frames.push(f);
    fed += piece.length;
    if (fed >= 16384) {
      fed = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return frames;
}

describe('streamed strings: limits before data, linear work', () => {
  it('a part longer than maxBulkLength fails at its header, before its data', () => {
    const decoder = new RespDecoder({ maxBulkLength: 1000 });
    decoder.feed(bytes('$?\r\n;1001\r\n'));
    expect(() => decoder.next()).toThrowError(expect.objectContaining({ code: 'ERR_RESP_BULK_TOO_LONG' }));
    expect(() => decoder.feed(new Uint8Array(1003))).toThrow(RemoteProtocolError);
  });

  it('parts adding up to more than maxBulkLength fail at the header of the part that crosses it', () => {
    const decoder = new RespDecoder({ maxBulkLength: 1000 });
    decoder.feed(bytes(`$?\r\n;600\r\n${'a'.repeat(600)}\r\n;400\r\n${'b'.repeat(400)}\r\n;1\r\n`));
    let error: unknown;
    try {
      decoder.next();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect((error as RemoteProtocolError).code).toBe('ERR_RESP_BULK_TOO_LONG');
    expect((error as RemoteProtocolError).message).toMatch(/streamed string of more than 1001 bytes/);
    // Exactly at the limit is fine, however it is cut.
    const atLimit = bytes(`$?\r\n;600\r\n${'a'.repeat(600)}\r\n;400\r\n${'b'.repeat(400)}\r\n;0\r\n`);
    for (const cut of [1, 7, 300, 610, 620, 1000, atLimit.length - 2]) {
      expect(outcome(atLimit, [cut], { maxBulkLength: 1000 }).frames).toEqual(['a'.repeat(600) + 'b'.repeat(400)]);
    }
  });

  it('one 32 MiB part arriving in 64 KiB chunks decodes like a plain blob of that size', async () => {
    const size = 32 * 1024 * 1024;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    function* pieces(): Iterable<Uint8Array> {
      yield bytes(`$?\r\n;${size}\r\n`);
      for (let sent = 0; sent < size; sent += chunk.length) yield chunk;
      yield bytes('\r\n;3\r\nxyz\r\n;0\r\n:7\r\n');
    }
    const decoder = new RespDecoder();
    const [value, seven] = await decodeChunked(decoder, pieces(), true);
    expect((value as Uint8Array).length).toBe(size + 3);
    expect((value as Uint8Array)[size - 1]).toBe(0x61);
    expect(new TextDecoder().decode((value as Uint8Array).subarray(size))).toBe('xyz');
    expect(seven).toBe(7);
    expect(decoder.buffered).toBe(0);
  });

  it('a streamed string of 300 000 one-byte parts decodes, and fails at the limit when over it', async () => {
    const parts = 300_000;
    const all = bytes('$?\r\n' + ';1\r\nz\r\n'.repeat(parts) + ';0\r\n');
    function* pieces(data: Uint8Array): Iterable<Uint8Array> {
      for (let i = 0; i < data.length; i += 4096) yield data.subarray(i, i + 4096);
    }
    const [value] = await decodeChunked(new RespDecoder(), pieces(all), false);
    expect(value).toBe('z'.repeat(parts));
    const limited = new RespDecoder({ maxBulkLength: parts - 1 });
    await expect(decodeChunked(limited, pieces(all), false)).rejects.toMatchObject({ code: 'ERR_RESP_BULK_TOO_LONG' });
  });

  it('a line arriving in small pieces is read once, up to the line limit', async () => {
    function* inPieces(text: string, size: number): Iterable<Uint8Array> {
      const data = bytes(text);
      for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
    }
    const byteByByte = (text: string): Iterable<Uint8Array> => inPieces(text, 1);
    const huge = 'h'.repeat(4 * 1024 * 1024);
    expect(await decodeChunked(new RespDecoder({ maxLineLength: huge.length }), inPieces(`+${huge}\r\n-ERR ${huge.slice(4)}\r\n`, 64), false)).toEqual([
      huge,
      new RespErrorReply(`ERR ${huge.slice(4)}`),
    ]);
    const long = 'x'.repeat(60 * 1024);
    const frames = await decodeChunked(new RespDecoder(), byteByByte(`+${long}\r\n:12345\r\n$3\r\nabc\r\n`), false);
    expect(frames).toEqual([long, 12345, 'abc']);
    await expect(decodeChunked(new RespDecoder({ maxLineLength: 100 }), byteByByte(`+${'y'.repeat(101)}\r\n`), false)).rejects.toMatchObject({
      code: 'ERR_RESP_LINE_TOO_LONG',
    });
  });

  it('streamed aggregates are bounded as they grow', () => {
    const limits = { maxAggregateLength: 3 };
    expect(failsEverywhere('*?\r\n:1\r\n:2\r\n:3\r\n:4\r\n', limits).code).toBe('ERR_RESP_AGGREGATE_TOO_LONG');
    expect(failsEverywhere('%?\r\n:1\r\n:1\r\n:2\r\n:2\r\n:3\r\n:3\r\n:4\r\n', limits).code).toBe('ERR_RESP_AGGREGATE_TOO_LONG');
    expect(decodeSplits('*?\r\n:1\r\n:2\r\n:3\r\n.\r\n%?\r\n:1\r\n:1\r\n:2\r\n:2\r\n:3\r\n:3\r\n.\r\n')).toEqual([
      [1, 2, 3],
      new Map([
        [1, 1],
        [2, 2],
        [3, 3],
      ]),
    ]);
  });
});

describe('malformed RESP3 is an error, never silently decoded', () => {
  it.each([
    ['$?\r\n:1\r\n;0\r\n', /':' inside a streamed string/],
    ['$?\r\n;1\r\na\r\n+x\r\n;0\r\n', /'\+' inside a streamed string/],
    ['$?\r\n*1\r\n:1\r\n;0\r\n', /'\*' inside a streamed string/],
    ['$?\r\n|1\r\n+a\r\n:1\r\n;1\r\nb\r\n;0\r\n', /'\|' inside a streamed string/],
    ['$?\r\n.\r\n', /'\.' inside a streamed string/],
  ])('another type inside a streamed string: %j', (input, message) => {
    const error = failsEverywhere(input);
    expect(error.code).toBe('ERR_RESP_STREAM');
    expect(error.message).toMatch(message);
  });

  it.each([
    ['*?\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n.\r\n'],
    ['~?\r\n|1\r\n+a\r\n:1\r\n.\r\n'],
    ['%?\r\n+k\r\n:1\r\n|1\r\n+a\r\n:1\r\n.\r\n'],
  ])('an attribute with nothing after it in a streamed aggregate: %j', (input) => {
    const error = failsEverywhere(input);
    expect(error.code).toBe('ERR_RESP_ATTRIBUTE');
    expect(error.message).toMatch(/attribute with no value after it/);
  });

  it.each([
    ['>0\r\n', /push frame with no elements/],
    ['>2\r\n:1\r\n+x\r\n', /first element is not a string/],
    ['>1\r\n*0\r\n', /first element is not a string/],
  ])('a push without a kind: %j', (input, message) => {
    const error = failsEverywhere(input);
    expect(error.code).toBe('ERR_RESP_PUSH');
    expect(error.message).toMatch(message);
  });

  it.each([['>?\r\n+message\r\n.\r\n'], ['|?\r\n+a\r\n:1\r\n.\r\n+x\r\n']])('a streamed form the spec does not define: %j', (input) => {
    const error = failsEverywhere(input);
    expect(error.code).toBe('ERR_RESP_HEADER');
    expect(error.message).toMatch(/streamed form only exists for arrays, sets and maps/);
  });
});

describe('aggregates of blob strings (their elements taken in one loop)', () => {
  const long = 'value-'.repeat(20);
  const mixed =
    `*9\r\n$3\r\nfoo\r\n$0\r\n\r\n$${long.length}\r\n${long}\r\n$-1\r\n:7\r\n$3\r\nh\u00e9\r\n` +
    `*2\r\n$1\r\na\r\n$1\r\nb\r\n$11\r\nhello world\r\n%1\r\n$1\r\nk\r\n$1\r\nv\r\n` +
    `>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n*2\r\n|1\r\n+a\r\n+b\r\n$3\r\nfoo\r\n$3\r\nbar\r\n`;

  it('decode like any other element wherever the bytes are cut, mixed with every other kind of element', () => {
    const frames = decodeSplits(mixed);
    expect(frames[0]).toEqual(['foo', '', long, null, 7, 'hé', ['a', 'b'], 'hello world', new Map([['k', 'v']])]);
    expect(frames[1]).toEqual(new RespPush('message', ['message', 'ch', 'hello']));
    expect(frames[2]).toEqual([new RespAttributed(new Map([['a', 'b']]), 'foo'), 'bar']);
    expect(frames).toHaveLength(3);
  });

  it('come back as byte views on request', () => {
    const [frame] = decodeAll(`*3\r\n$3\r\nfoo\r\n$${long.length}\r\n${long}\r\n$0\r\n\r\n`, { bytes: true });
    expect((frame as Uint8Array[]).map((b) => [b instanceof Uint8Array, new TextDecoder().decode(b)])).toEqual([
      [true, 'foo'],
      [true, long],
      [true, ''],
    ]);
  });

  it('a bad element fails with the error and offset it has on its own', () => {
    const input = `*3\r\n$3\r\nfoo\r\n$12\r\nhello world!XY$3\r\nbaz\r\n`;
    const error = failsEverywhere(input);
    expect(error.code).toBe('ERR_RESP_CRLF');
    expect(error.message).toContain(`at byte ${input.indexOf('XY')}`);
    expect(failsEverywhere('*2\r\n$3\r\nfoo\r\n$9\r\n123456789\r\n', { maxBulkLength: 8 }).code).toBe('ERR_RESP_BULK_TOO_LONG');
    expect(failsEverywhere('*2\r\n$3\r\nfoo\r\n$1x\r\na\r\n').code).toBe('ERR_RESP_HEADER');
    // Past 256 bytes a blob's body is decoded before its terminator is read: a bad one is
    // still reported, at its own offset, at top level and in an array, as text or as bytes.
    const big = 'b'.repeat(300);
    for (const [input, at] of [
      [`$300\r\n${big}XY`, 306],
      [`$300\r\n${big}\rY`, 306],
      [`*2\r\n$300\r\n${big}\r\n$300\r\n${big}X\n`, 618],
      [`*2\r\n$300\r\n${big}\r\n$300\r\n${big}\rY`, 618],
    ] as const) {
      const failed = failsEverywhere(input);
      expect(failed.code).toBe('ERR_RESP_CRLF');
      expect(failed.message).toContain(`at byte ${at}`);
      expect(() => decodeAll(input, { bytes: true })).toThrow(/not terminated by CRLF/);
    }
    // An array of blobs all here is taken without a frame, but counts for the nesting limit.
    expect(failsEverywhere('*1\r\n*1\r\n*1\r\n$1\r\na\r\n', { maxNesting: 2 }).code).toBe('ERR_RESP_NESTING');
    expect(decodeAll('*1\r\n*1\r\n$1\r\na\r\n', { limits: { maxNesting: 2 } })).toEqual([[['a']]]);
  });

  it('an array of 10 000 blobs in 64 KiB chunks decodes to its values, elements cut by chunk ends included', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => (i % 3 === 0 ? `v${i}` : `${long}${i}`));
    const data = bytes(`*${values.length}\r\n${values.map((v) => `$${v.length}\r\n${v}\r\n`).join('')}`);
    const decoder = new RespDecoder();
    const frames: RespFrame[] = [];
    for (let at = 0; at < data.length; at += 65536) {
      decoder.feed(data.subarray(at, at + 65536));
      for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) frames.push(f);
    }
    expect(frames).toEqual([values]);
  });
});

describe('attributes', () => {
  it('consecutive attribute maps before one value are all kept, merged (the later wins a shared key)', () => {
    const top = '|1\r\n+a\r\n:1\r\n|2\r\n+b\r\n:2\r\n+a\r\n:3\r\n+v\r\n';
    const nested = '*2\r\n|1\r\n+x\r\n:1\r\n|1\r\n+y\r\n:2\r\n:5\r\n:6\r\n';
    expect(decodeSplits(top + nested)).toEqual([
      new RespAttributed(
        new Map<RespValue, RespValue>([
          ['a', 3],
          ['b', 2],
        ]),
        'v',
      ),
      [
        new RespAttributed(
          new Map<RespValue, RespValue>([
            ['x', 1],
            ['y', 2],
          ]),
          5,
        ),
        6,
      ],
    ]);
  });

  it('an attribute before a push is kept on the push', () => {
    const [push, after] = decodeSplits('|1\r\n+ttl\r\n:9\r\n>2\r\n+message\r\n+hi\r\n+OK\r\n');
    expect(push).toBeInstanceOf(RespPush);
    expect((push as RespPush).kind).toBe('message');
    expect((push as RespPush).data).toEqual(['message', 'hi']);
    expect((push as RespPush).attributes).toEqual(new Map([['ttl', 9]]));
    expect(after).toBe('OK');
  });

  it('lastFrameHadAttributes says which frames carried one, and withoutAttributes removes them all', () => {
    const decoder = new RespDecoder();
    decoder.feed(bytes('$2\r\nab\r\n%1\r\n+k\r\n|1\r\n+a\r\n:1\r\n~1\r\n:2\r\n+plain\r\n'));
    expect(decoder.next()).toBe('ab');
    expect(decoder.lastFrameHadAttributes).toBe(false);
    const map = decoder.next() as RespValue;
    expect(decoder.lastFrameHadAttributes).toBe(true);
    expect(map).toEqual(new Map<RespValue, RespValue>([['k', new RespAttributed(new Map([['a', 1]]), new Set([2]))]]));
    expect(withoutAttributes(map)).toEqual(new Map<RespValue, RespValue>([['k', new Set([2])]]));
    expect(decoder.next()).toBe('plain');
    expect(decoder.lastFrameHadAttributes).toBe(false);
    const untouched = [1, ['a', new Map([['b', 2]])]];
    expect(withoutAttributes(untouched)).toBe(untouched);
  });
});

describe('every parser path under random, split and hostile bytes', () => {
  const everyCut = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

  it('valid RESP3 streams (every type and form) decode to their values wherever they are cut', () => {
    fc.assert(
      fc.property(resp3Stream, fc.array(fc.nat(), { maxLength: 12 }), ({ data, frames }, cuts) => {
        expect(outcome(data, [])).toEqual({ frames, error: null, buffered: 0 });
        expect(outcome(data, cuts.map((c) => c % (data.length + 1)))).toEqual({ frames, error: null, buffered: 0 });
        // Node Buffers take other decoding paths (their utf8Slice, also used on joined bytes).
        expect(outcome(Buffer.from(data), cuts.map((c) => c % (data.length + 1)))).toEqual({ frames, error: null, buffered: 0 });
        if (data.length <= 160) {
          for (let cut = 1; cut < data.length; cut++) expect(outcome(data, [cut]).frames).toEqual(frames);
          expect(outcome(data, everyCut(data.length))).toEqual({ frames, error: null, buffered: 0 });
        }
      }),
      { numRuns: 400 },
    );
  });

  it('decodeUtf8 reads any bytes as Node does, short ASCII runs (one fromCharCode call) and others alike', () => {
    const byte = fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0xff }));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), fc.nat({ max: 3 }), (values, pad) => {
        const node = Buffer.from([...Array<number>(pad).fill(0x41), ...values, 0x42]);
        const expected = node.toString('utf8', pad, pad + values.length);
        expect(decodeUtf8(node, pad, pad + values.length)).toBe(expected);
        expect(decodeUtf8(new Uint8Array(node), pad, pad + values.length)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('text blobs of any bytes (invalid UTF-8 too), in Node Buffers cut anywhere, decode as when unbroken', () => {
    const blob = fc.uint8Array({ maxLength: 40 }).map((body) => Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n')]));
    fc.assert(
      fc.property(fc.array(blob, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (blobs, cuts) => {
        const data = Buffer.concat(blobs);
        const whole = outcome(data, []);
        expect(whole.frames).toHaveLength(blobs.length);
        expect(outcome(data, cuts.map((c) => c % (data.length + 1)))).toEqual(whole);
        for (let cut = 1; cut < data.length; cut++) expect(outcome(data, [cut])).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('a text blob cut after a non-ASCII byte, or whose rest comes in several chunks, is joined before decoding', () => {
    const data = Buffer.from('$13\r\nhéllo wörld\r\n+OK\r\n'); // é at 6-7, ö at 13-14, CRLF at 18
    const frames = ['héllo wörld', 'OK'];
    const cutAt = (cuts: number[]): void => expect(outcome(data, cuts)).toEqual({ frames, error: null, buffered: 0 });
    cutAt([]);
    cutAt([7]); // inside é
    cutAt([8]); // after é
    cutAt([14]); // inside ö
    cutAt([9, 11, 13]); // the rest in several chunks
    cutAt([18]); // before the CR
    cutAt([19]); // between CR and LF
    cutAt([5]); // right after the header
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(13, 10, 0x24, 0x2a, 0x25, 0x3f, 0x3b, 0x2e, 0x7c, 0x3e, 0x2d, 0x30, 0x39, 0x5f)) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom('\r\n', '|1\r\n', '.\r\n', ';3\r\n', '$?\r\n', '*?\r\n', '>0\r\n', '\r', '\n', ':9999999999999999999999\r\n', '$99999\r\n', '%1\r\n') }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

  function mutate(data: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
    let out = Array.from(data);
    for (const m of mutations) {
      const at = out.length === 0 ? 0 : m.at % (out.length + 1);
      if (m.kind === 'set' && at < out.length) out[at] = m.byte;
      else if (m.kind === 'delete') out.splice(at, m.length);
      else if (m.kind === 'insert') out.splice(at, 0, ...bytes(m.text));
      else if (m.kind === 'truncate') out = out.slice(0, at);
    }
    return Uint8Array.from(out);
  }

  it('hostile bytes: frames, NEED_DATA or a RemoteProtocolError, the same wherever they are cut (tight limits)', () => {
    const limits = { maxBulkLength: 40, maxAggregateLength: 6, maxNesting: 5, maxLineLength: 30 };
    fc.assert(
      fc.property(resp3Stream, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 12 }), ({ data }, mutations, cuts) => {
        const hostile = mutate(data, mutations);
        const whole = outcome(hostile, [], limits);
        expect(outcome(hostile, cuts.map((c) => c % (hostile.length + 1)), limits)).toEqual(whole);
        // Node Buffers: a text blob cut by a chunk end is decoded in its two halves when it can be.
        expect(outcome(Buffer.from(hostile), cuts.map((c) => c % (hostile.length + 1)), limits)).toEqual(whole);
        if (hostile.length <= 160) expect(outcome(hostile, everyCut(hostile.length), limits)).toEqual(whole);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('long text blobs in Node Buffers (the ASCII path: latin1Slice proven ASCII, else utf8Slice)', () => {
  /** `$n\r\n<body>\r\n` as a Node Buffer. */
  const blobOf = (body: Uint8Array): Buffer => Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n')]);
  /** What any UTF-8 decoder makes of `body` (invalid sequences as U+FFFD). */
  const utf8Of = (body: Uint8Array): string => new TextDecoder().decode(body);
  const ascii = (n: number, from = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => 0x20 + ((from + i) % 95));

  // Bodies around the 256-byte threshold, long ones, ASCII or not: multi-byte characters (also
  // as the first or last bytes), invalid UTF-8 (a lone continuation byte, a truncated sequence,
  // an overlong form, a surrogate), Latin-1 bytes that are not UTF-8.
  const body = fc.oneof(
    fc.integer({ min: 250, max: 1100 }).map((n) => ascii(n)),
    fc.tuple(fc.integer({ min: 250, max: 1100 }), fc.nat(), fc.constantFrom([0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0x80], [0xe2, 0x82], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe9], [0xff]))
      .map(([n, at, seq]) => {
        const out = Array.from(ascii(n));
        out.splice(at % (n + 1), 0, ...seq);
        return Uint8Array.from(out);
      }),
    fc.string({ unit: 'grapheme', minLength: 100, maxLength: 400 }).map((text) => new TextEncoder().encode(text)),
    fc.uint8Array({ minLength: 250, maxLength: 700 }),
  );

  it('decode as UTF-8 of the whole body, in any order (ASCII ones after non-ASCII ones too), cut anywhere', () => {
    fc.assert(
      fc.property(fc.array(body, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (bodies, cuts) => {
        const data = Buffer.concat(bodies.map(blobOf));
        const expected = { frames: bodies.map(utf8Of), error: null, buffered: 0 };
        expect(outcome(data, [])).toEqual(expected);
        expect(outcome(data, cuts.map((c) => c % (data.length + 1)))).toEqual(expected);
        // The same bytes as plain Uint8Arrays (no Node decoders) give the same strings.
        expect(outcome(Uint8Array.from(data), cuts.map((c) => c % (data.length + 1)))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('at the threshold: 255, 256 and 257 bytes, ASCII or ending in a multi-byte character, cut at every byte of the body and its CRLF', () => {
    for (const n of [255, 256, 257]) {
      for (const tail of [[], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xe9]]) {
        const body = Uint8Array.from([...ascii(n - tail.length), ...tail]);
        const data = Buffer.concat([blobOf(body), Buffer.from('+OK\r\n')]);
        const expected = { frames: [utf8Of(body), 'OK'], error: null, buffered: 0 };
        for (let cut = 0; cut < data.length; cut++) expect(outcome(data, [cut])).toEqual(expected);
      }
    }
  });

  it('after a non-ASCII long blob, the next ones (past the retry count too) are still decoded exactly', () => {
    const euro = Uint8Array.from([...ascii(300), 0xe2, 0x82, 0xac]);
    const plain = ascii(300, 7);
    const bodies = [euro, ...Array.from({ length: 70 }, (_, i) => (i % 10 === 9 ? euro : plain)), plain, euro, plain];
    const data = Buffer.concat(bodies.map(blobOf));
    const frames = decodeAll(data);
    expect(frames).toEqual(bodies.map(utf8Of));
    expect(frames[1]).toBe(utf8Of(plain));
    expect(frames[frames.length - 2]).toContain('\u20ac');
  });

  it('a long text blob arriving in many chunks, or a streamed string of long parts, is decoded joined', () => {
    const body = Uint8Array.from([...ascii(400), 0xf0, 0x9f, 0x98, 0x80, ...ascii(400)]); // an emoji at 400-403
    const data = Buffer.concat([blobOf(body), Buffer.from('$?\r\n;402\r\n'), body.subarray(0, 402), Buffer.from('\r\n;402\r\n'), body.subarray(402), Buffer.from('\r\n;0\r\n')]);
    const expected = { frames: [utf8Of(body), utf8Of(body)], error: null, buffered: 0 };
    expect(outcome(data, [])).toEqual(expected);
    expect(outcome(data, [100, 402, 403, 404, 700])).toEqual(expected); // the emoji cut twice
    expect(outcome(data, Array.from({ length: data.length }, (_, i) => i * 37))).toEqual(expected);
    expect(outcome(Buffer.from(blobOf(ascii(5000))), [1000, 2000, 3000, 4000])).toEqual({ frames: [utf8Of(ascii(5000))], error: null, buffered: 0 });
  });

  it('chunks that have a utf8Slice but no latin1Slice or Buffer.byteLength still decode (utf8Slice alone)', () => {
    class Utf8Only extends Uint8Array {
      utf8Slice(start: number, end: number): string {
        return new TextDecoder().decode(this.subarray(start, end));
      }
    }
    const body = Uint8Array.from([...ascii(300), 0xc3, 0xa9, ...ascii(300)]);
    const data = Buffer.concat([blobOf(ascii(300)), blobOf(body)]);
    const decoder = new RespDecoder();
    decoder.feed(Utf8Only.from(data));
    expect([decoder.next(), decoder.next(), decoder.next()]).toEqual([utf8Of(ascii(300)), utf8Of(body), NEED_DATA]);
  });

  it('bytes mode returns the bytes themselves, not text, for long blobs', () => {
    const body = Uint8Array.from([...ascii(300), 0xff]);
    const decoder = new RespDecoder();
    decoder.feed(blobOf(body));
    expect(decoder.next(true)).toEqual(Buffer.from(body));
  });
});

describe('differential against redis-parser (RESP2)', () => {
  const require = createRequire(import.meta.url);
  const RedisParser = require('redis-parser') as new (options: {
    returnReply: (reply: unknown) => void;
    returnError: (error: Error) => void;
    returnFatalError?: (error: Error) => void;
  }) => { execute(buffer: Buffer): void };

  const resp2Value: fc.Arbitrary<RespValue> = fc.letrec<{ value: RespValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      { weight: 10, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
      { weight: 10, arbitrary: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }) },
      { weight: 5, arbitrary: fc.constant(null) },
      { weight: 10, arbitrary: fc.array(tie('value'), { maxLength: 5 }) },
      { weight: 5, arbitrary: fc.string({ maxLength: 20 }).map((text) => new RespErrorReply(`ERR ${text.replace(/[\r\n]/g, ' ')}`)) },
      { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 140_000 }).map((n) => 'v'.repeat(n)) },
      // Long enough for the ASCII path: ASCII, and with multi-byte characters anywhere.
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 200, maxLength: 1500 }) },
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 250, maxLength: 1500 }) },
    ),
  })).value;

  /** Error replies as comparable data: ours are RespErrorReply values, redis-parser's ReplyErrors. */
  const comparable = (value: unknown): unknown =>
    value instanceof RespErrorReply ? { error: value.text } : value instanceof Error ? { error: value.message } : Array.isArray(value) ? value.map(comparable) : value;

  it('decodes random RESP2 replies exactly as redis-parser does, however they are cut', () => {
    fc.assert(
      fc.property(
        fc.array(resp2Value, { minLength: 1, maxLength: 20 }),
        fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1000, max: 70_000 })),
        fc.array(fc.nat(), { maxLength: 8 }),
        (values, step, extraCuts) => {
          const out = new ReplyWriter();
          for (const value of values) out.value(value);
          const data = Buffer.from(out.take());
          const every = data.length > 20_000 ? Math.max(step, 997) : step;
          const cuts = [...new Set([...extraCuts.map((c) => c % data.length), ...Array.from({ length: Math.ceil(data.length / every) }, (_, i) => i * every)])]
            .filter((c) => c > 0)
            .sort((a, b) => a - b);
          const theirs: unknown[] = [];
          const parser = new RedisParser({ returnReply: (r) => theirs.push(r), returnError: (e) => theirs.push(e) });
          const decoder = new RespDecoder();
          const ours: RespFrame[] = [];
          let from = 0;
          for (const to of [...cuts, data.length]) {
            const part = data.subarray(from, to);
            from = to;
            parser.execute(part);
            decoder.feed(part);
            for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) ours.push(f);
          }
          expect(comparable(ours)).toEqual(comparable(theirs));
          expect(ours).toEqual(values);
        },
      ),
      { numRuns: 800 },
    );
  });
});
