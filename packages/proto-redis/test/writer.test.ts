// The output side: ByteWriter's two ways of handing bytes out (take: for good; lend: until
// release, then the buffer is written again from its front), and ReplyWriter's every reply type
// in RESP2 and RESP3, UTF-8 and binary strings, as golden bytes and through the decoder.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteWriter, LocalProtocolError, NEED_DATA, ReplyWriter, RespAttributed, RespDecoder, RespErrorReply, RespPush, RespVerbatim } from '@curio-ts/proto-redis';
import type { RespFrame, RespValue, RespVersion } from '@curio-ts/proto-redis';

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const utf8 = (b: Uint8Array): string => new TextDecoder().decode(b);

function writer(version: RespVersion, strings: 'utf8' | 'binary' = 'utf8'): ReplyWriter {
  const out = new ReplyWriter({ strings });
  out.setProtocol(version);
  return out;
}

describe('ByteWriter: lend and release', () => {
  it('a lent buffer comes back: the next replies are written over it, with no new buffer', () => {
    const out = new ReplyWriter();
    out.ok();
    const first = out.lend();
    expect(latin1(first)).toBe('+OK\r\n');
    expect(out.loansOutstanding).toBe(1);
    out.release(first);
    expect(out.loansOutstanding).toBe(0);
    for (let i = 0; i < 1000; i++) {
      out.integer(i);
      const view = out.lend();
      expect(view.buffer).toBe(first.buffer);
      expect(view.byteOffset).toBe(first.byteOffset);
      expect(latin1(view)).toBe(`:${i}\r\n`);
      out.release(view);
    }
  });

  it('integers of every magnitude are written in decimal, on both sides of 2^31', () => {
    const edges = [0, 9, 10, 99, 100, 999, 1000, 1023, 1024, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
    const out = new ReplyWriter();
    for (const n of edges) {
      out.integer(n);
      out.integer(-n);
      expect(latin1(out.take())).toBe(`:${n}\r\n:${-n}\r\n`);
    }
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.integer({ min: 2 ** 31 - 1000, max: 2 ** 31 + 1000 }), fc.maxSafeNat()), (n) => {
        out.integer(n);
        out.bulk('x'.repeat(n % 2000));
        expect(latin1(out.take())).toBe(`:${n}\r\n$${n % 2000}\r\n${'x'.repeat(n % 2000)}\r\n`);
      }),
    );
  });

  it('writing goes on during a loan without touching the lent bytes; a full buffer is left to them', () => {
    const out = new ReplyWriter({ initialSize: 64 });
    out.bulk('a'.repeat(40));
    const lent = out.lend();
    const before = latin1(lent);
    for (let i = 0; i < 50; i++) out.bulk(`b${i}`); // outgrows the 64-byte buffer
    expect(latin1(lent)).toBe(before);
    const next = out.lend();
    expect(next.buffer).not.toBe(lent.buffer);
    out.release(lent); // a view of an earlier buffer: forgotten
    out.release(next);
    out.ok();
    const again = out.lend();
    expect(again.buffer).toBe(next.buffer);
    expect(again.byteOffset).toBe(next.byteOffset);
  });

  it('release of a view not on loan (released twice, never lent) is ERR_NOT_LENT; empty views are nothing', () => {
    const out = new ReplyWriter();
    out.ok();
    out.ok();
    const view = out.lend();
    out.status('WAITING');
    out.release(view);
    expect(() => out.release(view)).toThrowError(expect.objectContaining({ code: 'ERR_NOT_LENT' }));
    out.release(out.lend().subarray(0, 0));
    out.release(new Uint8Array(0));
  });

  it('taken bytes are given away: the buffer is never written from its front again', () => {
    const out = new ReplyWriter();
    out.ok();
    const taken = out.take();
    out.status('NEXT');
    const lent = out.lend();
    out.release(lent);
    out.status('AFTER');
    expect(latin1(taken)).toBe('+OK\r\n');
    expect(latin1(out.lend())).toBe('+AFTER\r\n');
  });

  it('any sequence of writes, takes, lends and releases: every view handed out keeps its bytes, and all of them are the stream', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), size: fc.integer({ min: 0, max: 3000 }) }),
      fc.record({ kind: fc.constantFrom('take' as const, 'lend' as const) }),
      fc.record({ kind: fc.constant('release' as const), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 4096 }), (ops, initialSize) => {
        const out = new ByteWriter({ initialSize });
        let next = 0;
        const written: number[] = [];
        const handed: { view: Uint8Array; copy: number[]; lent: boolean; released: boolean }[] = [];
        for (const o of ops) {
          if (o.kind === 'write') {
            const data = Uint8Array.from({ length: o.size }, () => next++ & 0xff);
            written.push(...data);
            out.bytes(data);
          } else if (o.kind === 'release') {
            const open = handed.filter((h) => h.lent && !h.released);
            const h = open[o.which % Math.max(1, open.length)];
            if (h === undefined) continue;
            out.release(h.view);
            h.released = true;
          } else {
            const view = o.kind === 'take' ? out.take() : out.lend();
            handed.push({ view, copy: [...view], lent: o.kind === 'lend' && view.length > 0, released: false });
          }
          // Every view not released holds what it held when handed out.
          for (const h of handed) if (!h.released) expect([...h.view]).toEqual(h.copy);
        }
        handed.push({ view: out.take(), copy: [], lent: false, released: false });
        expect(handed.flatMap((h) => (h.released ? h.copy : [...h.view]))).toEqual(written);
      }),
      { numRuns: 300 },
    );
  });

  it('binary strings long and short, into Node Buffers (latin1Write) or plain arrays, are the same bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 300 }), (text) => {
        const plain = new ReplyWriter({ strings: 'binary' });
        const node = new ReplyWriter({ strings: 'binary', allocate: (size) => Buffer.allocUnsafeSlow(size) });
        for (const out of [plain, node]) {
          out.bulk(text);
          out.status(text.replace(/[\r\n]/g, ''));
        }
        const expected = `$${text.length}\r\n${text}\r\n+${text.replace(/[\r\n]/g, '')}\r\n`;
        expect(latin1(plain.take())).toBe(expected);
        expect(latin1(node.take())).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('ReplyWriter: every type, RESP2 and RESP3', () => {
  const cases: [string, (out: ReplyWriter) => void, string, string][] = [
    ['ok', (o) => o.ok(), '+OK\r\n', '+OK\r\n'],
    ['status', (o) => o.status('QUEUED'), '+QUEUED\r\n', '+QUEUED\r\n'],
    ['error (CR/LF blanked)', (o) => o.error('ERR bad\r\nthing'), '-ERR bad  thing\r\n', '-ERR bad  thing\r\n'],
    ['integer', (o) => o.integer(-42), ':-42\r\n', ':-42\r\n'],
    ['integer 0 and large', (o) => (o.integer(0), o.integer(9007199254740991), o.integer(-(2n ** 63n))), ':0\r\n:9007199254740991\r\n:-9223372036854775808\r\n', ':0\r\n:9007199254740991\r\n:-9223372036854775808\r\n'],
    ['bulk string', (o) => o.bulk('välue'), '$6\r\nvälue\r\n', '$6\r\nvälue\r\n'],
    ['bulk bytes', (o) => o.bulk(new Uint8Array([0, 13, 10])), '$3\r\n\u0000\r\n\r\n', '$3\r\n\u0000\r\n\r\n'],
    ['bulkOrNull', (o) => (o.bulkOrNull(null), o.bulkOrNull(undefined), o.bulkOrNull('x')), '$-1\r\n$-1\r\n$1\r\nx\r\n', '_\r\n_\r\n$1\r\nx\r\n'],
    ['nil', (o) => o.nil(), '$-1\r\n', '_\r\n'],
    ['nullArray', (o) => o.nullArray(), '*-1\r\n', '_\r\n'],
    ['array', (o) => (o.array(2), o.integer(1), o.bulk('a')), '*2\r\n:1\r\n$1\r\na\r\n', '*2\r\n:1\r\n$1\r\na\r\n'],
    ['empty array', (o) => o.array(0), '*0\r\n', '*0\r\n'],
    ['map', (o) => (o.map(1), o.bulk('k'), o.integer(1)), '*2\r\n$1\r\nk\r\n:1\r\n', '%1\r\n$1\r\nk\r\n:1\r\n'],
    ['set', (o) => (o.set(1), o.bulk('m')), '*1\r\n$1\r\nm\r\n', '~1\r\n$1\r\nm\r\n'],
    ['push', (o) => (o.push(2), o.bulk('message'), o.bulk('x')), '*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n', '>2\r\n$7\r\nmessage\r\n$1\r\nx\r\n'],
    ['bulkArray', (o) => o.bulkArray(new Set(['a', 'b']), 2), '*2\r\n$1\r\na\r\n$1\r\nb\r\n', '*2\r\n$1\r\na\r\n$1\r\nb\r\n'],
    ['double', (o) => (o.double(1.5), o.double(-Infinity), o.double(Number.NaN)), '$3\r\n1.5\r\n$4\r\n-inf\r\n$3\r\nnan\r\n', ',1.5\r\n,-inf\r\n,nan\r\n'],
    ['boolean', (o) => (o.boolean(true), o.boolean(false)), ':1\r\n:0\r\n', '#t\r\n#f\r\n'],
    ['big number', (o) => o.bigNumber(12345678901234567890n), '$20\r\n12345678901234567890\r\n', '(12345678901234567890\r\n'],
    ['verbatim', (o) => o.verbatim('# x', 'mkd'), '$3\r\n# x\r\n', '=7\r\nmkd:# x\r\n'],
    ['value with attributes', (o) => o.value(new RespAttributed(new Map([['ttl', 5]]), 'v')), '$1\r\nv\r\n', '|1\r\n$3\r\nttl\r\n:5\r\n$1\r\nv\r\n'],
  ];

  it.each(cases)('%s', (_name, write, resp2, resp3) => {
    const two = writer(2);
    write(two);
    expect(utf8(two.take())).toBe(resp2);
    const three = writer(3);
    write(three);
    expect(utf8(three.take())).toBe(resp3);
  });

  it('binary strings: one byte per char in bulk strings, statuses, errors and verbatim text', () => {
    const out = writer(3, 'binary');
    const text = 'k\u00e9\u00ff\u0000';
    out.bulk(text);
    out.status(text);
    out.error(`ERR ${text}`);
    out.verbatim(text);
    out.value([text, new Map([[text, 1]])]);
    expect(latin1(out.take())).toBe(`$4\r\n${text}\r\n+${text}\r\n-ERR ${text}\r\n=8\r\ntxt:${text}\r\n*2\r\n$4\r\n${text}\r\n%1\r\n$4\r\n${text}\r\n:1\r\n`);
  });

  it('a reply that cannot be written throws LocalProtocolError and leaves nothing of itself', () => {
    const out = writer(3);
    out.ok();
    expect(() => out.status('two\r\nlines')).toThrow(LocalProtocolError);
    expect(() => out.integer(1.5)).toThrow(LocalProtocolError);
    expect(() => out.array(-1)).toThrow(LocalProtocolError);
    expect(() => out.verbatim('x', 'markdown')).toThrow(LocalProtocolError);
    expect(() => out.value(['fine', Symbol('no') as unknown as RespValue])).toThrow(LocalProtocolError);
    expect(() => out.value(new Map([['k', { not: 'resp' } as unknown as RespValue]]))).toThrow(LocalProtocolError);
    expect(utf8(out.take())).toBe('+OK\r\n');
  });

  it.each([2, 3] as RespVersion[])('random values decode back (RESP%i: as Redis downgrades them)', (version) => {
    const scalar = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }),
      fc.boolean(),
      fc.constant(null),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
      fc.string({ maxLength: 20 }).map((s) => new RespErrorReply(`ERR ${s.replace(/[\r\n]/g, '')}`)),
      fc.string({ maxLength: 20 }).map((s) => new RespVerbatim('txt', s)),
    );
    const value: fc.Arbitrary<RespValue> = fc.letrec<{ value: RespValue }>((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('value'), { maxLength: 4 })),
    })).value;
    const downgrade = (v: RespValue): RespValue => {
      if (version === 3) return v;
      if (v === null || v instanceof RespErrorReply) return v;
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'number') return Number.isInteger(v) ? v : String(v);
      if (v instanceof RespVerbatim) return v.text;
      if (Array.isArray(v)) return v.map(downgrade);
      return v;
    };
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 10 }), (values) => {
        const out = writer(version);
        for (const v of values) out.value(v);
        const decoder = new RespDecoder();
        decoder.feed(out.take());
        const got: RespFrame[] = [];
        for (let f = decoder.next(); f !== NEED_DATA; f = decoder.next()) got.push(f);
        expect(got).toEqual(values.map(downgrade));
      }),
      { numRuns: 300 },
    );
  });

  it('a push value is written as a push (an array in RESP2)', () => {
    const out = writer(2);
    out.value(new RespPush('message', ['message', 'c', 'm']));
    expect(utf8(out.take())).toBe('*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n');
  });
});
