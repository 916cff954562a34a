// Unit tests of each codec: hand-picked edge cases, golden binary bytes, and the errors.

import { describe, expect, it } from 'vitest';
import { arrayCodec, PgDecodeError, PgEncodeError, PgOid, RemoteProtocolError, LocalProtocolError, TypeRegistry } from '../../src/index.js';
import type { PgCodec } from '../../src/index.js';

const registry = new TypeRegistry();
const enc = new TextEncoder();

function text(oid: number, value: string, types: TypeRegistry = registry): unknown {
  const body = enc.encode(value);
  const bytes = new Uint8Array(body.length + 6);
  bytes.set(body, 3);
  return types.decode(oid, 0, bytes, 3, 3 + body.length);
}
function binary(oid: number, value: number[] | Uint8Array, types: TypeRegistry = registry): unknown {
  const bytes = new Uint8Array([9, ...value, 9]);
  return types.decode(oid, 1, bytes, 1, bytes.length - 1);
}
function hex(bytes: unknown): string {
  return Buffer.from(bytes as Uint8Array).toString('hex');
}

describe('integers', () => {
  it('text and binary, limits, and what is refused', () => {
    expect(text(PgOid.int2, '-32768')).toBe(-32768);
    expect(text(PgOid.int4, '2147483647')).toBe(2147483647);
    expect(text(PgOid.int4, '0')).toBe(0);
    expect(Object.is(text(PgOid.int4, '-0'), 0)).toBe(true);
    expect(binary(PgOid.int4, [0xff, 0xff, 0xff, 0xfe])).toBe(-2);
    expect(binary(PgOid.int2, [0x80, 0x00])).toBe(-32768);
    expect(binary(PgOid.oid, [0xff, 0xff, 0xff, 0xff])).toBe(4294967295);
    for (const bad of ['', '-', '+1', '1.0', ' 1', '2147483648', '99999999999', '1e3', 'x']) expect(() => text(PgOid.int4, bad), bad).toThrow(PgDecodeError);
    expect(() => text(PgOid.int2, '32768')).toThrow(/out of range/);
    for (const length of [0, 1, 3, 5]) expect(() => binary(PgOid.int4, new Array<number>(length).fill(0))).toThrow(/expected 4 bytes/);
    expect(() => binary(PgOid.int2, [1])).toThrow(PgDecodeError);
  });

  it('int8 as bigint (default), string, or number (exact or an error)', () => {
    const asString = new TypeRegistry({ int8: 'string' });
    const asNumber = new TypeRegistry({ int8: 'number' });
    expect(text(PgOid.int8, '-9223372036854775808')).toBe(-(2n ** 63n));
    expect(text(PgOid.int8, '42')).toBe(42n);
    expect(binary(PgOid.int8, [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toBe(2n ** 63n - 1n);
    expect(binary(PgOid.int8, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toBe(-1n);
    expect(binary(PgOid.int8, [0, 0x20, 0, 0, 0, 0, 0, 1])).toBe(2n ** 53n + 1n);
    expect(text(PgOid.int8, '9223372036854775807', asString)).toBe('9223372036854775807');
    expect(binary(PgOid.int8, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], asString)).toBe('-2');
    expect(text(PgOid.int8, '9007199254740991', asNumber)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => text(PgOid.int8, '9007199254740993', asNumber)).toThrow(PgDecodeError);
    expect(() => binary(PgOid.int8, [0, 0x20, 0, 0, 0, 0, 0, 1], asNumber)).toThrow(/safe integer/);
    for (const bad of ['9223372036854775808', '-9223372036854775809', '12345678901234567890', '1-2']) expect(() => text(PgOid.int8, bad), bad).toThrow(PgDecodeError);
    expect(hex(registry.encodeParam(-1n, PgOid.int8))).toBe('ffffffffffffffff');
    expect(hex(registry.encodeParam(5, PgOid.int8))).toBe('0000000000000005');
    expect(() => registry.encodeParam(1.5, PgOid.int8)).toThrow(PgEncodeError);
    expect(() => registry.encodeParam(2n ** 63n, PgOid.int8)).toThrow(/out of range/);
    expect(() => registry.encodeParam(70000, PgOid.int2)).toThrow(PgEncodeError);
  });
});

describe('bool, floats', () => {
  it('bool', () => {
    expect(text(PgOid.bool, 't')).toBe(true);
    expect(binary(PgOid.bool, [0])).toBe(false);
    expect(() => text(PgOid.bool, 'true')).toThrow(PgDecodeError);
    expect(() => binary(PgOid.bool, [2])).toThrow(PgDecodeError);
    expect(registry.encodeParam(true, PgOid.bool)).toEqual(new Uint8Array([1]));
  });

  it('floats: NaN, ±Infinity, -0; float4 in both formats reads as its shortest decimal', () => {
    expect(text(PgOid.float8, 'NaN')).toBeNaN();
    expect(text(PgOid.float8, '-Infinity')).toBe(-Infinity);
    expect(Object.is(text(PgOid.float8, '-0'), -0)).toBe(true);
    expect(Object.is(binary(PgOid.float8, [0x80, 0, 0, 0, 0, 0, 0, 0]), -0)).toBe(true);
    expect(binary(PgOid.float4, [0x3f, 0x8c, 0xcc, 0xcd])).toBe(1.1);
    expect(text(PgOid.float4, '1.1')).toBe(1.1);
    // More digits than the shortest (as the server prints 49754590 inside a float4[]): the same float4.
    expect(text(PgOid.float4, '4.9754592e+07')).toBe(49754590);
    // 3137717.25 is a float4 halfway between 3137717.2 and 3137717.3: the server prints the even one.
    expect(binary(PgOid.float4, [...Buffer.from(new Float32Array([3137717.25]).buffer).reverse()])).toBe(3137717.2);
    expect(binary(PgOid.float4, [...Buffer.from(new Float32Array([-3137717.75]).buffer).reverse()])).toBe(-3137717.8);
    expect(Object.is(binary(PgOid.float4, [0x80, 0, 0, 0]), -0)).toBe(true);
    expect(binary(PgOid.float4, [0x7f, 0xc0, 0, 0])).toBeNaN();
    for (const bad of ['', '0x10', ' 1', 'inf', '1e', '.', 'Infinityx', '1,5']) expect(() => text(PgOid.float8, bad), bad).toThrow(PgDecodeError);
    expect(registry.get(PgOid.float8)?.encodeText?.(-0)).toBe('-0');
    expect(hex(registry.encodeParam(-0, PgOid.float8))).toBe('8000000000000000');
  });
});

describe('numeric', () => {
  const codec = registry.get(PgOid.numeric) as PgCodec<string>;
  const send = (value: string): string => hex(codec.encodeBinary?.(value));
  it('binary golden bytes, as numeric_send writes them', () => {
    expect(send('0')).toBe('0000000000000000');
    expect(send('1.50')).toBe('0002000000000002' + '00011388');
    expect(send('-12345.678')).toBe('0003000140000003' + '0001' + '0929' + '1a7c');
    expect(send('0.0001')).toBe('0001ffff00000004' + '0001');
    expect(send('1e-5')).toBe('0001fffe00000005' + '03e8');
    expect(send('NaN')).toBe('00000000c0000000');
    expect(send('-Infinity')).toBe('00000000f0000000');
    expect(send('1e10')).toBe('0001000200000000' + '0064');
  });
  it('binary to the server text', () => {
    const decode = (h: string): unknown => binary(PgOid.numeric, Buffer.from(h, 'hex'));
    expect(decode('0002000000000002' + '00011388')).toBe('1.50');
    expect(decode('0003000140000003' + '00010929' + '1a7c')).toBe('-12345.678');
    expect(decode('0000000000000003')).toBe('0.000');
    expect(decode('0001000200000000' + '0064')).toBe('10000000000');
    expect(decode('00000000d0000000')).toBe('Infinity');
    expect(() => decode('0001000000000000')).toThrow(/does not match/);
    expect(() => decode('000100000000000027' + '10')).toThrow(PgDecodeError);
    expect(() => decode('0001000000000000' + '2710')).toThrow(/digit out of range/);
    expect(() => decode('0000000012340000')).toThrow(/unknown sign/);
    expect(() => decode('00000000000040000')).toThrow(PgDecodeError);
  });
  it('text is validated and kept exactly', () => {
    expect(text(PgOid.numeric, '-0.00012300')).toBe('-0.00012300');
    for (const bad of ['', '-', '1e5', '1,5', 'nan', ' 1', '1.2.3', '.5', '5.', '-.', '1-2', '--1']) expect(() => text(PgOid.numeric, bad), bad).toThrow(PgDecodeError);
    expect(() => codec.encodeBinary?.('12abc')).toThrow(PgEncodeError);
  });
});

describe('text types, bytea, json, uuid', () => {
  it('UTF-8 in place, short and long, Buffers and plain arrays alike', () => {
    const long = 'é😀a'.repeat(200);
    const ascii = 'x'.repeat(1000);
    for (const value of ['', 'a', 'abcdefgh', 'abcdefghi', 'é', long, ascii]) {
      expect(text(PgOid.text, value)).toBe(value);
      const buffer = Buffer.from('##' + value + '##');
      expect(registry.decode(PgOid.varchar, 0, buffer, 2, buffer.length - 2)).toBe(value);
      expect(registry.decode(PgOid.text, 1, buffer, 2, buffer.length - 2)).toBe(value);
    }
    expect(text(PgOid.text, '\uFFFD')).toBe('\uFFFD');
    expect(registry.decode(PgOid.text, 0, new Uint8Array([0xff, 0x61]), 0, 2)).toBe('\uFFFDa');
  });
  it('bytea hex and escape, copies not views', () => {
    expect(hex(text(PgOid.bytea, '\\x00ff'))).toBe('00ff');
    expect(hex(text(PgOid.bytea, '\\xABcd'))).toBe('abcd');
    expect(hex(text(PgOid.bytea, 'a\\\\b\\000\\377'))).toBe('615c6200ff');
    for (const bad of ['\\x0', '\\xzz', 'a\\', 'a\\9', 'a\\40', '\\400']) expect(() => text(PgOid.bytea, bad), bad).toThrow(PgDecodeError);
    const source = new Uint8Array([1, 2, 3]);
    const copy = registry.decode(PgOid.bytea, 1, source, 0, 3) as Uint8Array;
    source[0] = 9;
    expect([...copy]).toEqual([1, 2, 3]);
    expect(registry.encodeParam(new Uint8Array([1]), PgOid.bytea)).toEqual(new Uint8Array([1]));
    expect(registry.get(PgOid.bytea)?.encodeText?.(new Uint8Array([0, 255]))).toBe('\\x00ff');
  });
  it('json and jsonb (binary version byte)', () => {
    expect(text(PgOid.json, '{"a":[1,null]}')).toEqual({ a: [1, null] });
    expect(binary(PgOid.jsonb, [1, ...enc.encode('[1]')])).toEqual([1]);
    expect(() => binary(PgOid.jsonb, [2, ...enc.encode('[1]')])).toThrow(/version/);
    expect(() => binary(PgOid.jsonb, [])).toThrow(PgDecodeError);
    expect(() => text(PgOid.json, '{')).toThrow(PgDecodeError);
    expect(registry.encodeParam({ a: 1 }, PgOid.jsonb)).toEqual(new Uint8Array([1, ...enc.encode('{"a":1}')]));
    expect(registry.encodeParam('{"raw":true}', PgOid.json)).toBe('{"raw":true}');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => registry.encodeParam(cyclic, PgOid.json)).toThrow(PgEncodeError);
    expect(() => registry.get(PgOid.json)?.encodeText?.(undefined)).toThrow(/no JSON form/);
  });
  it('uuid', () => {
    const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    const bytes = Buffer.from(id.replace(/-/g, ''), 'hex');
    expect(binary(PgOid.uuid, bytes)).toBe(id);
    expect(text(PgOid.uuid, id.toUpperCase())).toBe(id);
    expect(() => text(PgOid.uuid, id.slice(1))).toThrow(PgDecodeError);
    expect(() => text(PgOid.uuid, id.replace('-', 'x'))).toThrow(PgDecodeError);
    expect(() => binary(PgOid.uuid, bytes.subarray(1))).toThrow(PgDecodeError);
    const codec = registry.get(PgOid.uuid) as PgCodec<string>;
    expect(hex(codec.encodeBinary?.(id))).toBe(bytes.toString('hex'));
    expect(hex(codec.encodeBinary?.('{' + id.replace(/-/g, '') + '}'))).toBe(bytes.toString('hex'));
    expect(() => codec.encodeBinary?.('a0ee')).toThrow(PgEncodeError);
  });
});

describe('dates and times', () => {
  const strings = new TypeRegistry({ dates: 'string', intervals: 'string' });
  it('Dates: UTC for timestamp and date, offsets applied for timestamptz, microseconds truncated toward the past', () => {
    expect(text(PgOid.timestamp, '2024-01-02 03:04:05.123999')).toEqual(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 123)));
    expect(text(PgOid.timestamptz, '2024-01-02 03:04:05+05:30')).toEqual(new Date(Date.UTC(2024, 0, 1, 21, 34, 5)));
    expect(text(PgOid.timestamptz, '1900-01-01 00:00:00+00:19:32')).toEqual(new Date(Date.UTC(1899, 11, 31, 23, 40, 28)));
    expect(text(PgOid.date, '0001-01-01 BC')).toEqual(dateOf(0, 1, 1));
    expect(dateOf(0, 1, 1).getUTCFullYear()).toBe(0);
    expect(text(PgOid.date, '0002-03-04 BC')).toEqual(dateOf(-1, 3, 4));
    expect(text(PgOid.date, 'infinity')).toBe(Infinity);
    expect(text(PgOid.timestamptz, '-infinity')).toBe(-Infinity);
    // 1969-12-31 23:59:59.9995 is 0.5 ms before the epoch: the Date is -1 ms, not 0.
    expect((text(PgOid.timestamp, '1969-12-31 23:59:59.9995') as Date).getTime()).toBe(-1);
    // -1 microsecond from 2000 in binary: truncated toward the past too.
    expect((binary(PgOid.timestamp, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) as Date).getTime()).toBe(Date.UTC(2000, 0, 1) - 1);
    expect(binary(PgOid.timestamptz, [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toBe(Infinity);
    expect(binary(PgOid.date, [0x80, 0, 0, 0])).toBe(-Infinity);
  });
  it('strings: binary printed as the server prints it in UTC', () => {
    expect(binary(PgOid.timestamptz, [0, 0, 0, 0, 0, 0, 0, 1], strings)).toBe('2000-01-01 00:00:00.000001+00');
    expect(binary(PgOid.timestamp, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], strings)).toBe('1999-12-31 23:59:59.999999');
    expect(binary(PgOid.date, [0xff, 0xff, 0xff, 0xff], strings)).toBe('1999-12-31');
    expect(binary(PgOid.time, [0, 0, 0, 0x14, 0x1d, 0xd7, 0x60, 0x00], strings)).toBe('24:00:00');
    expect(binary(PgOid.timetz, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xb9, 0xb0], strings)).toBe('00:00:00+05');
    expect(text(PgOid.timestamptz, '2024-01-02 03:04:05.123456+05:30', strings)).toBe('2024-01-02 03:04:05.123456+05:30');
  });
  it('malformed text and binary are PgDecodeErrors', () => {
    for (const bad of ['2024-01-02', '2024-13-02 00:00:00', '2024-01-02 00:00', '2024-01-02 25:00:00', '24-01-02 00:00:00', '2024-01-02 00:00:00.1234567', '2024-01-02 00:00:00 AD', 'infinit']) {
      expect(() => text(PgOid.timestamp, bad), bad).toThrow(PgDecodeError);
    }
    expect(() => text(PgOid.timestamptz, '2024-01-02 00:00:00')).toThrow(PgDecodeError);
    expect(() => text(PgOid.date, '2024-01-02 BCE')).toThrow(PgDecodeError);
    expect(() => binary(PgOid.timestamp, [0, 0, 0, 0])).toThrow(/expected 8 bytes/);
    expect(() => binary(PgOid.time, [0xff, 0, 0, 0, 0, 0, 0, 0])).toThrow(/time of day/);
    expect(() => binary(PgOid.timetz, [0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0, 0, 0])).toThrow(/zone/);
  });
  it('encoding Dates: BC years, infinity, an invalid Date refused', () => {
    const ts = registry.get(PgOid.timestamptz) as PgCodec<unknown>;
    expect(ts.encodeText?.(dateOf(-43, 3, 15))).toBe('0044-03-15 00:00:00+00 BC');
    expect(ts.encodeText?.(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)))).toBe('2024-01-02 03:04:05.006+00');
    expect(ts.encodeText?.(Infinity)).toBe('infinity');
    expect(hex(ts.encodeBinary?.(new Date(Date.UTC(2000, 0, 1, 0, 0, 0, 1))))).toBe('00000000000003e8');
    expect(hex(ts.encodeBinary?.(-Infinity))).toBe('8000000000000000');
    expect(() => ts.encodeText?.(new Date(NaN))).toThrow(PgEncodeError);
    expect(registry.get(PgOid.date)?.encodeText?.(new Date(Date.UTC(2024, 1, 29, 23)))).toBe('2024-02-29');
    expect(hex(registry.encodeParam(new Date(Date.UTC(1999, 11, 31)), PgOid.date))).toBe('ffffffff');
  });
  it('intervals: text, binary, both directions', () => {
    const cases: [string, { months: number; days: number; microseconds: number }][] = [
      ['00:00:00', { months: 0, days: 0, microseconds: 0 }],
      ['1 year 2 mons 3 days 04:05:06.789', { months: 14, days: 3, microseconds: 14_706_789_000 }],
      ['-1 years -2 mons +3 days -04:05:06', { months: -14, days: 3, microseconds: -14_706_000_000 }],
      ['1 day -00:00:01', { months: 0, days: 1, microseconds: -1_000_000 }],
      ['-1 days +00:00:01', { months: 0, days: -1, microseconds: 1_000_000 }],
      ['1 mon', { months: 1, days: 0, microseconds: 0 }],
      ['2000000:00:00', { months: 0, days: 0, microseconds: 7_200_000_000_000_000 }],
    ];
    const codec = registry.get(PgOid.interval) as PgCodec<unknown>;
    for (const [textForm, value] of cases) {
      expect(text(PgOid.interval, textForm)).toEqual(value);
      expect(codec.encodeText?.(value)).toBe(textForm);
      expect(registry.decode(PgOid.interval, 1, codec.encodeBinary?.(value) as Uint8Array, 0, 16)).toEqual(value);
      expect(text(PgOid.interval, textForm, strings)).toBe(textForm);
    }
    for (const bad of ['1 week', '1 day 2', '00:00', '1 day 00:00:00 1 day', 'x']) expect(() => text(PgOid.interval, bad), bad).toThrow(PgDecodeError);
    expect(() => codec.encodeText?.({ months: 1 })).toThrow(PgEncodeError);
  });
});

function dateOf(year: number, month: number, day: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date;
}

describe('arrays, text format', () => {
  const ints = (value: string): unknown => text(PgOid._int4, value);
  const texts = (value: string): unknown => text(PgOid._text, value);
  it('the shapes the server writes, and some it reads', () => {
    expect(ints('{}')).toEqual([]);
    expect(ints('{1,2,NULL}')).toEqual([1, 2, null]);
    expect(ints('{ 1 , 2 }')).toEqual([1, 2]);
    expect(ints('{{1,2},{3,4}}')).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(ints('[0:2]={1,2,3}')).toEqual([1, 2, 3]);
    expect(ints('[1:1][-2:-1]={{1,2}}')).toEqual([[1, 2]]);
    expect(ints('{{{{{{1}}}}}}')).toEqual([[[[[[1]]]]]]);
    expect(texts('{"",""}')).toEqual(['', '']);
    expect(texts('{"NULL",NULL,null,nulls}')).toEqual(['NULL', null, null, 'nulls']);
    expect(texts('{a\\,b,"c\\"d\\\\",e f}')).toEqual(['a,b', 'c"d\\', 'e f']);
    expect(texts('{"a\\\\\\"b"}')).toEqual(['a\\"b']);
    expect(texts('{é,"😀 x"}')).toEqual(['é', '😀 x']);
    expect(text(PgOid._bytea, '{"\\\\x00ff",NULL}')).toEqual([new Uint8Array([0, 255]), null]);
    expect(text(PgOid._json, '{"{\\"a\\":[1]}",2}')).toEqual([{ a: [1] }, 2]);
  });
  it('malformed text is a PgDecodeError', () => {
    for (const bad of ['', '1', '{', '{1', '{1,}', '{,1}', '{1,,2}', '1}', '{{1}', '{1}}', '{1}x', '{"a}', '{a"b}', '{a{b}', '{{{{{{{1}}}}}}}', '[1:2]{1,2}', '[1:2', '{1 2}x', '{a\\}', '{"a"b}']) {
      expect(() => texts(bad), bad).toThrow(PgDecodeError);
    }
    expect(() => ints('{1,x}')).toThrow(PgDecodeError);
  });
  it('hostile sizes fail after one pass', () => {
    expect(() => texts('{'.repeat(1_000_000))).toThrow(/dimensions/);
    expect(() => texts('{"' + 'a'.repeat(1_000_000))).toThrow(/unterminated/);
    expect(() => texts('{' + 'a,'.repeat(500_000))).toThrow(/unterminated/);
    expect(texts('{' + 'a,'.repeat(100_000) + 'a}')).toHaveLength(100_001);
  });
});

describe('arrays, binary format', () => {
  const codec = registry.get(PgOid._int4) as PgCodec<unknown[]>;
  const golden = Buffer.from('00000002' + '00000001' + '00000017' + '00000002' + '00000000' + '00000001' + '00000001' + '00000004' + '00000005' + 'ffffffff', 'hex');
  it('dimensions, NULLs, lower bounds dropped', () => {
    expect(registry.decode(PgOid._int4, 1, golden, 0, golden.length)).toEqual([[5], [null]]);
    expect(registry.decode(PgOid._int4, 1, Buffer.from('000000000000000000000017', 'hex'), 0, 12)).toEqual([]);
  });
  it('every truncation, a huge claimed size and a bad element length are PgDecodeErrors', () => {
    for (let end = 0; end < golden.length; end++) expect(() => registry.decode(PgOid._int4, 1, golden, 0, end), `end ${end}`).toThrow(PgDecodeError);
    const huge = Buffer.from('00000001' + '00000000' + '00000017' + '7fffffff' + '00000001', 'hex');
    expect(() => registry.decode(PgOid._int4, 1, huge, 0, huge.length)).toThrow(/truncated elements/);
    const bigDims = Buffer.from('00000003' + '00000000' + '00000017' + '00010000'.concat('00000001').repeat(3), 'hex');
    expect(() => registry.decode(PgOid._int4, 1, bigDims, 0, bigDims.length)).toThrow(/truncated elements/);
    const badLength = Buffer.from('00000001' + '00000000' + '00000017' + '00000001' + '00000001' + '7ffffff0' + '00000001', 'hex');
    expect(() => registry.decode(PgOid._int4, 1, badLength, 0, badLength.length)).toThrow(/element length/);
    const wrongSize = Buffer.from('00000001' + '00000000' + '00000017' + '00000001' + '00000001' + '00000002' + '0001', 'hex');
    expect(() => registry.decode(PgOid._int4, 1, wrongSize, 0, wrongSize.length)).toThrow(/expected 4 bytes/);
    const otherType = Buffer.from('00000001' + '00000000' + '00000019' + '00000001' + '00000001' + '00000004' + '00000005', 'hex');
    expect(() => registry.decode(PgOid._int4, 1, otherType, 0, otherType.length)).toThrow(/element type 25, not 23/);
    const seven = Buffer.from('00000007' + '00000000' + '00000017', 'hex');
    expect(() => registry.decode(PgOid._int4, 1, seven, 0, seven.length)).toThrow(/7 dimensions/);
    expect(() => registry.decode(PgOid._int4, 1, Buffer.concat([golden, Buffer.from([0])]), 0, golden.length + 1)).toThrow(/after the last/);
  });
  it('encodes rectangular nested arrays; refuses ragged ones', () => {
    expect(hex(codec.encodeBinary?.([[5], [null]]))).toBe('00000002' + '00000001' + '00000017' + '00000002' + '00000001' + '00000001' + '00000001' + '00000004' + '00000005' + 'ffffffff');
    const round = codec.encodeBinary?.([[5], [null]]) as Uint8Array;
    expect(registry.decode(PgOid._int4, 1, round, 0, round.length)).toEqual([[5], [null]]);
    expect(() => codec.encodeBinary?.([[1, 2], [3]])).toThrow(/rectangular/);
    expect(() => codec.encodeBinary?.([1, [2]])).toThrow(/rectangular/);
    expect(codec.encodeText?.([[1, null], [3, 4]])).toBe('{{1,NULL},{3,4}}');
    expect(registry.encodeParam([' a', 'NULL', '', 'x"y\\', null], PgOid._text)).toEqual(expect.any(Uint8Array));
    expect(registry.get(PgOid._text)?.encodeText?.([' a', 'NULL', '', 'x"y\\', null, '{}'])).toBe('{" a","NULL","","x\\"y\\\\",NULL,"{}"}');
    expect(registry.encodeParam(['1', '2'], PgOid._int4)).toBe('{1,2}');
  });
});

describe('TypeRegistry', () => {
  it('user codecs by OID, with their arrays; replacing a built-in; unknown OIDs as text or bytes', () => {
    const types = new TypeRegistry();
    const point: PgCodec<{ x: number; y: number }> = {
      name: 'point',
      oid: 600,
      arrayOid: 1017,
      decodeText(bytes, start, end) {
        const [x, y] = new TextDecoder().decode(bytes.subarray(start + 1, end - 1)).split(',').map(Number);
        return { x: x as number, y: y as number };
      },
      encodeText: (value) => `(${value.x},${value.y})`,
    };
    types.register(point);
    expect(text(600, '(1,2)', types)).toEqual({ x: 1, y: 2 });
    expect(text(1017, '{"(1,2)","(3,4)"}', types)).toEqual([
      { x: 1, y: 2 },
      { x: 3, y: 4 },
    ]);
    expect(types.encodeParam({ x: 1, y: 2 }, 600)).toBe('(1,2)');
    expect(types.encodeParam([{ x: 1, y: 2 }], 1017)).toBe('{"(1,2)"}');
    expect(types.resultFormat(600)).toBe(0);
    expect(types.resultFormat(PgOid.int4)).toBe(1);
    expect(types.resultFormat(PgOid.numeric)).toBe(0);
    expect(types.resultFormat(99999)).toBe(0);
    const before = types.decoder(PgOid.int4, 0);
    expect(types.decoder(PgOid.int4, 0)).toBe(before);
    types.register({ name: 'int4', oid: PgOid.int4, decodeText: () => 'mine' });
    expect(text(PgOid.int4, '1', types)).toBe('mine');
    expect(types.decode(PgOid.int4, 1, new Uint8Array(4), 0, 4)).toEqual(new Uint8Array(4));
    expect(text(99999, 'é', types)).toBe('é');
    expect(types.decode(99999, 1, new Uint8Array([1, 2]), 0, 2)).toEqual(new Uint8Array([1, 2]));
    expect(types.decode(99999, 1, new Uint8Array([1, 2]), -1, -1)).toBeNull();
    // The array codec helper for types registered separately.
    const arrays = arrayCodec(point as PgCodec, 1017);
    expect(arrays.name).toBe('_point');
  });
  it('errors are typed: decode errors are RemoteProtocolErrors, encode errors LocalProtocolErrors', () => {
    const decode = (() => {
      try {
        text(PgOid.int4, 'x');
      } catch (error) {
        return error;
      }
    })() as PgDecodeError;
    expect(decode).toBeInstanceOf(RemoteProtocolError);
    expect(decode.code).toBe('PG_DECODE');
    expect(decode.typeName).toBe('int4');
    expect(decode.format).toBe(0);
    const encode = (() => {
      try {
        registry.encodeParam('x' as unknown as number, PgOid.int4);
        registry.encodeParam(Symbol('s'), 0);
      } catch (error) {
        return error;
      }
    })() as PgEncodeError;
    expect(encode).toBeInstanceOf(LocalProtocolError);
    expect(encode.code).toBe('PG_ENCODE');
  });
  it('parameters: strings as text, typed values in binary, unknown types inferred as text', () => {
    expect(registry.encodeParam('42', PgOid.int4)).toBe('42');
    expect(registry.encodeParam(42, PgOid.int4)).toEqual(new Uint8Array([0, 0, 0, 42]));
    expect(registry.encodeParam(42, 0)).toBe('42');
    expect(registry.encodeParam(42, PgOid.text)).toEqual(enc.encode('42'));
    expect(registry.encodeParam({ a: 1 }, PgOid.varchar)).toEqual(enc.encode('{"a":1}'));
    expect(registry.encodeParam([1, 2], PgOid._text)).toEqual(registry.encodeParam(['1', '2'], PgOid._text));
    expect(registry.encodeParam(2n ** 70n, 0)).toBe('1180591620717411303424');
    expect(registry.encodeParam(false, 0)).toBe('f');
    expect(registry.encodeParam(new Uint8Array([10]), 0)).toBe('\\x0a');
    expect(registry.encodeParam({ a: 'b' }, 0)).toBe('{"a":"b"}');
    expect(registry.encodeParam([1, [2, null], 'a b', { k: 1 }], 0)).toBe('{1,{2,NULL},"a b","{\\"k\\":1}"}');
    expect(registry.encodeParam(new Date(Date.UTC(2024, 0, 1)), 0)).toBe('2024-01-01 00:00:00+00');
    expect(registry.inferType(new Uint8Array(0))).toBe(PgOid.bytea);
    expect(registry.inferType([new Uint8Array(0), null])).toBe(PgOid._bytea);
    expect(registry.inferType(1)).toBe(0);
    expect(() => registry.encodeParam(() => 1, 0)).toThrow(PgEncodeError);
    expect(registry.encodeParams([1, 'x', null, new Uint8Array([7])], [PgOid.int4, PgOid.int4])).toEqual({
      params: [new Uint8Array([0, 0, 0, 1]), 'x', null, '\\x07'],
      formats: [1, 0, 0, 0],
    });
    expect(registry.resultFormats([PgOid.int4, PgOid.text, PgOid._int4, PgOid._numeric, PgOid.timestamptz])).toEqual([1, 0, 1, 0, 1]);
  });
});
