// The RESP decoder: golden bytes for every RESP2/RESP3 type, every split point, hostile input,
// limits, and a differential test against redis-parser for RESP2.

import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteWriter,
  NEED_DATA,
  RemoteProtocolError,
  RespAttributed,
  RespDecoder,
  RespErrorReply,
  RespPush,
  RespVerbatim,
  writeReply,
} from '@curio-ts/proto-redis';
import type { DecoderLimits, RespFrame, RespValue } from '@curio-ts/proto-redis';

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

  it('round-trips every value through writeReply in RESP3', () => {
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
    const out = new ByteWriter();
    writeReply(out, value, 3);
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
  ])('rejects %j with %s and stays failed', (input, code) => {
    const decoder = new RespDecoder();
    decoder.feed(bytes(input));
    let error: unknown;
    try {
      while (decoder.next() !== NEED_DATA);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect((error as RemoteProtocolError).code).toBe(code);
    expect(() => decoder.next()).toThrow(RemoteProtocolError);
    expect(() => decoder.feed(bytes('+OK\r\n'))).toThrow(RemoteProtocolError);
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
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 5 }),
    ),
  })).value;

  it('decodes random RESP2 replies exactly as redis-parser does', () => {
    fc.assert(
      fc.property(fc.array(resp2Value, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (values, step) => {
        const out = new ByteWriter();
        for (const value of values) writeReply(out, value, 2);
        const data = Buffer.from(out.take());
        const theirs: unknown[] = [];
        const parser = new RedisParser({ returnReply: (r) => theirs.push(r), returnError: (e) => theirs.push(e) });
        const decoder = new RespDecoder();
        const ours: RespFrame[] = [];
        for (let i = 0; i < data.length; i += step) {
          const part = data.subarray(i, i + step);
          parser.execute(part);
          decoder.feed(part);
          for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) ours.push(f);
        }
        expect(ours).toEqual(theirs);
        expect(ours).toEqual(values);
      }),
      { numRuns: 1500 },
    );
  });
});
