// Every codec against PostgreSQL 15's own input and output functions: the server produces the
// text and binary bytes of each value (`select $1::T`), our decoders must agree with each other
// and, for string results, with the server's text; our encodings (text and binary) are sent
// back and must come back as the same value.

import { describe, expect, it } from 'vitest';
import { TypeRegistry } from '../../src/index.js';
import type { PgCodec } from '../../src/index.js';
import { asPgParam, connectRaw, embedded, rawClientForFile, serverText, serverValue } from './peer.js';

const rawClient = rawClientForFile();

const registry = new TypeRegistry();
const strings = new TypeRegistry({ int8: 'string', dates: 'string', intervals: 'string' });

/** Decodes the server's text and binary bytes of a value with `types`; both must agree. */
function decodeBoth(types: TypeRegistry, oid: number, text: string | null, binary: Buffer | null): unknown {
  if (text === null || binary === null) {
    expect(text).toBeNull();
    expect(binary).toBeNull();
    return null;
  }
  const t = embedded(text);
  const fromText = types.decode(oid, 0, t.bytes, t.start, t.end);
  if (types.get(oid)?.decodeBinary !== undefined) {
    const b = embedded(binary);
    const fromBinary = types.decode(oid, 1, b.bytes, b.start, b.end);
    expect(fromBinary, `binary vs text of ${text}`).toEqual(fromText);
  }
  return fromText;
}

/** Sends `value` encoded by the codec of `oid` in every form it has; each must read back as `value`. */
async function sendBack(types: TypeRegistry, oid: number, type: string, value: unknown): Promise<void> {
  const codec = types.get(oid) as PgCodec;
  // A string for json is JSON text already (the documented rule): a decoded JSON string is
  // sent back as its JSON form.
  const json = (type === 'json' || type === 'jsonb') && typeof value === 'string';
  const params: (string | Uint8Array | null)[] = [types.encodeParam(json ? JSON.stringify(value) : value, oid)];
  if (value !== null && typeof value !== 'string') {
    if (codec.encodeText !== undefined) params.push(codec.encodeText(value));
    if (codec.encodeBinary !== undefined && !(Array.isArray(value) && value.some((item) => typeof item === 'string'))) {
      try {
        params.push(codec.encodeBinary(value));
      } catch {
        // An array of strings for a non-text element type has no binary form; text was sent.
      }
    }
  }
  for (const param of params) {
    const back = await serverValue(rawClient(), `select $1::${type}`, [asPgParam(param)]);
    expect(decodeBoth(types, oid, back.text, back.binary), `${type} sent as ${typeof param === 'string' ? param : 'binary'}`).toEqual(value);
  }
}

/** The cases: a SQL type and literals of it (as the server reads them). */
const CASES: [string, string[]][] = [
  ['bool', ['true', 'false']],
  ['int2', ['0', '-32768', '32767', '1', '-7']],
  ['int4', ['0', '-2147483648', '2147483647', '42', '-1']],
  ['int8', ['0', '-9223372036854775808', '9223372036854775807', '9007199254740993', '-9007199254740991', '123456789012345']],
  ['oid', ['0', '4294967295', '1234']],
  ['float4', ['0', '-0', '1.1', '3.4028235e38', '1e-45', 'NaN', 'Infinity', '-Infinity', '0.1', '123456.79', '1.1754944e-38', '-2.5']],
  ['float8', ['0', '-0', '0.1', '1.7976931348623157e308', '5e-324', 'NaN', 'Infinity', '-Infinity', '-1.5', '123456789.123456789', '2.2250738585072014e-308', '1e21', '1e-7']],
  [
    'numeric',
    [
      '0',
      '-0',
      '1.50',
      '-12345678901234567890.000000000001',
      'NaN',
      'Infinity',
      '-Infinity',
      '0.0001',
      '1e-20',
      '123456789e30',
      '0.000',
      '10000',
      '9999.9999',
      '-0.00001230',
      '1' + '0'.repeat(1000),
      '0.' + '0'.repeat(500) + '1',
      '-' + '9'.repeat(300) + '.' + '9'.repeat(300),
      '0.' + '0'.repeat(16000) + '7',
    ],
  ],
  ['text', ['', 'hello', 'ünïcødé 😀 ∑', 'a"b\\c{,} ', 'NULL', ' spaces ', 'x'.repeat(5000), 'é'.repeat(300)]],
  ['varchar', ['', 'abc', '日本語']],
  ['bpchar', ['abc  ', 'x']],
  ['name', ['pg_catalog', 'ß']],
  ['"char"', ['a']],
  ['bytea', ['\\x', '\\x00ff10', '\\x' + '7f'.repeat(300), 'abc\\\\\\001']],
  ['json', ['{"a":[1,2,{"b":null}]}', '"str"', '1', 'null', '[]', '{"u":"\\u00e9😀"}', ' { "spaced" : true } ']],
  ['jsonb', ['{"a":[1,2,{"b":null}]}', '"str"', '1.5', 'null', '[]', '{"u":"é😀"}']],
  ['uuid', ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF']],
  ['date', ['2024-02-29', '0001-01-01', '0001-12-31 BC', '4713-01-01 BC', 'infinity', '-infinity', '1970-01-01', '1900-03-01', '1969-12-31', '275760-09-13']],
  ['time', ['00:00:00', '23:59:59.999999', '24:00:00', '12:34:56.5', '01:02:03.000001']],
  ['timetz', ['00:00:00+00', '12:34:56.789-05:30', '23:59:59+14', '01:02:03-12', '10:00:00+05:45', '24:00:00-15:59']],
  [
    'timestamp',
    [
      '2024-01-02 03:04:05.123456',
      '1970-01-01 00:00:00',
      '1969-12-31 23:59:59.999',
      '0001-01-01 00:00:00 BC',
      '4713-11-24 00:00:00 BC',
      'infinity',
      '-infinity',
      '1600-01-01 00:00:00.001',
      '2400-06-15 12:00:00',
      '2000-01-01 00:00:00',
      '9999-12-31 23:59:59.999',
    ],
  ],
  [
    'timestamptz',
    [
      '2024-01-02 03:04:05.123456+00',
      '2024-06-30 23:59:59.999+05:30',
      '1970-01-01 00:00:00-08',
      '0044-03-15 12:00:00+00 BC',
      'infinity',
      '-infinity',
      '1600-01-01 00:00:00.001+00',
      '2262-04-12 00:00:00+00',
      '2400-06-15 12:00:00+00',
    ],
  ],
  [
    'interval',
    ['0', '1 year 2 mons 3 days 04:05:06.789', '-1 years -2 mons +3 days -04:05:06', '1 day -00:00:01', '-00:00:00.000001', '2000000 hours', '-2000000 hours', '1 mon -1 days', '5 years', '-1 day', '1 mon 00:00:00.5'],
  ],
];

/** A Date decoded from microsecond text loses its microseconds: compare encodings at ms. */
const LOSSY_IN_DATES = new Set(['timestamp', 'timestamptz']);

describe('codecs against the server, value by value', () => {
  for (const [type, literals] of CASES) {
    it(`${type}: text and binary decode alike, strings equal the server's text, encodings read back`, async () => {
      for (const literal of literals) {
        const { oid, text, binary } = await serverValue(rawClient(), `select $1::${type}`, [literal]);
        const value = decodeBoth(registry, oid, text, binary);
        const asString = decodeBoth(strings, oid, text, binary);
        // In the string modes every type that decodes to a string is the server's text exactly.
        if (typeof asString === 'string' && !['bytea', 'json', 'jsonb'].includes(type)) expect(asString).toBe(text);
        await sendBack(strings, oid, type, asString);
        if (value instanceof Date && LOSSY_IN_DATES.has(type)) {
          // Milliseconds: the Date is the server's value truncated to them.
          const truncated = await serverValue(rawClient(), `select date_trunc('milliseconds', $1::${type})`, [literal]);
          expect(decodeBoth(registry, oid, truncated.text, truncated.binary)).toEqual(value);
        }
        if (!(value instanceof Date) || !(Math.abs(value.getTime()) > 8.64e15)) await sendBack(registry, oid, type, value);
        // Arrays of it: NULLs, two dimensions, lower bounds other than 1.
        const array = await serverValue(rawClient(), `select array[$1::${type}, null, $1::${type}]`, [literal]);
        const decoded = decodeBoth(registry, array.oid, array.text, array.binary) as unknown[];
        expect(decoded).toEqual([value, null, value]);
        if (!((type === 'json' || type === 'jsonb') && typeof value === 'string')) await sendBack(registry, array.oid, `${type}[]`, decoded);
        const grid = await serverValue(rawClient(), `select ('[0:1][-1:0]=' || array[array[$1::${type}, null], array[$1::${type}, $1::${type}]]::text)::${type}[]`, [literal]);
        expect(decodeBoth(registry, grid.oid, grid.text, grid.binary)).toEqual([
          [value, null],
          [value, value],
        ]);
        expect(grid.text?.startsWith('[0:1][-1:0]=')).toBe(true);
      }
    });
  }

  it('decoding a date or timestamp beyond a Date is a PgDecodeError that names the string option; strings keep it', async () => {
    for (const [type, literal] of [
      ['date', '5874897-12-31'],
      ['timestamp', '294276-12-31 23:59:59.999999'],
      ['timestamptz', '294276-12-31 23:59:59+00'],
    ] as const) {
      const { oid, text, binary } = await serverValue(rawClient(), `select $1::${type}`, [literal]);
      const t = embedded(text as string);
      expect(() => registry.decode(oid, 0, t.bytes, t.start, t.end)).toThrow(/dates: 'string'/);
      expect(() => registry.decode(oid, 1, binary as Buffer, 0, (binary as Buffer).length)).toThrow(/dates: 'string'/);
      expect(decodeBoth(strings, oid, text, binary)).toBe(text);
    }
  });

  it('intervals beyond 2^53 microseconds: an error in object mode, exact text in string mode', async () => {
    for (const literal of ['178000000 hours', '-178000000 hours 3 days', '1 year -178000000 hours']) {
      const { oid, text, binary } = await serverValue(rawClient(), 'select $1::interval', [literal]);
      expect(() => registry.decode(oid, 1, binary as Buffer, 0, (binary as Buffer).length)).toThrow(/intervals: 'string'/);
      expect(strings.decode(oid, 1, binary as Buffer, 0, (binary as Buffer).length)).toBe(text);
    }
  });

  it('NULL, in both formats and inside arrays', async () => {
    const { oid, text, binary } = await serverValue(rawClient(), 'select null::int4', []);
    expect(text).toBeNull();
    expect(binary).toBeNull();
    expect(registry.decode(oid, 0, new Uint8Array(0), -1, -1)).toBeNull();
    expect(registry.encodeParam(null, oid)).toBeNull();
    expect(registry.encodeParam(undefined, oid)).toBeNull();
    const all = await serverValue(rawClient(), "select '{NULL,NULL}'::text[]", []);
    expect(decodeBoth(registry, all.oid, all.text, all.binary)).toEqual([null, null]);
  });

  it('bytea in the escape output format decodes as in hex', async () => {
    await rawClient().query("set bytea_output = 'escape'");
    try {
      for (const literal of ['\\x00015c7f80ff', '\\x', '\\x' + '41'.repeat(100), '\\x5c5c30']) {
        const { oid, text, binary } = await serverValue(rawClient(), 'select $1::bytea', [literal]);
        expect(text?.startsWith('\\x')).toBe(false);
        const value = decodeBoth(registry, oid, text, binary);
        expect(Buffer.from(value as Uint8Array).toString('hex')).toBe(literal.slice(2));
      }
    } finally {
      await rawClient().query("set bytea_output = 'hex'");
    }
  });

  it('text of arrays with quoting and escapes, as the server writes it', async () => {
    const literal = ['a b', 'x"y', 'back\\slash', '', 'NULL', null, '{}', ',', ' lead', 'é😀'];
    const { oid, text, binary } = await serverValue(rawClient(), 'select $1::text[]', [registry.encodeParam(literal, 1009)]);
    expect(text).toBe(String.raw`{"a b","x\"y","back\\slash","","NULL",NULL,"{}",","," lead",é😀}`);
    expect(decodeBoth(registry, oid, text, binary)).toEqual(literal);
  });

  it('parameters of unknown type (0) are inferred, and the server reads them as meant', async () => {
    const cases: [unknown, string, string][] = [
      [42, 'int4', '42'],
      [-1.5, 'float8', '-1.5'],
      [-0, 'float8', '-0'],
      [NaN, 'float8', 'NaN'],
      [Infinity, 'numeric', 'Infinity'],
      [12345678901234567890n, 'numeric', '12345678901234567890'],
      [true, 'bool', 'true'],
      [new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), 'timestamptz', '2024-01-02 03:04:05.678+00'],
      [new Date(Date.UTC(-43, 2, 15)), 'timestamptz', '0044-03-15 00:00:00+00 BC'],
      [new Uint8Array([0, 1, 255]), 'bytea', '\\x0001ff'],
      [{ a: [1, 'x'] }, 'jsonb', '{"a": [1, "x"]}'],
      [[1, null, 3], 'int4[]', '{1,NULL,3}'],
      [[['a b', 'c']], 'text[]', '{{"a b",c}}'],
      [[new Uint8Array([1])], 'bytea[]', '{"\\\\x01"}'],
    ];
    for (const [value, type, expected] of cases) {
      const declared = registry.inferType(value);
      const param = registry.encodeParam(value, declared);
      if (declared !== 0) expect(param).toBeInstanceOf(Uint8Array);
      expect(await serverText(rawClient(), `select $1::${type}::text`, [asPgParam(param)])).toBe(expected);
    }
  });
});

describe('timestamptz text in zones other than UTC', () => {
  for (const zone of ['Asia/Kolkata', 'America/St_Johns', 'Europe/Amsterdam', 'Pacific/Kiritimati']) {
    it(`${zone}: the text (with its offset) and the binary decode to the same Date and string instant`, async () => {
      const zoned = await connectRaw(zone);
      try {
        for (const literal of ['2024-03-10 12:00:00.123456+00', '1900-01-01 00:00:00+00', '1850-06-01 12:34:56+00', '0100-01-01 00:00:00+00 BC', '2038-01-19 03:14:08+00']) {
          const { oid, text, binary } = await serverValue(zoned, 'select $1::timestamptz', [literal]);
          expect(text).not.toBe(literal);
          decodeBoth(registry, oid, text, binary);
          const fromText = strings.decode(oid, 0, Buffer.from(text as string), 0, Buffer.byteLength(text as string));
          const back = await serverText(rawClient(), 'select $1::timestamptz::text', [fromText]);
          expect(back).toBe(await serverText(rawClient(), 'select $1::timestamptz::text', [literal]));
        }
      } finally {
        await zoned.end();
      }
    });
  }
});
