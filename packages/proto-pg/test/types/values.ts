// Random values of every built-in type, as the default TypeRegistry decodes them.

import fc from 'fast-check';
import { PgOid, TypeRegistry } from '../../src/index.js';

/** A Date the server's timestamp range and a JavaScript Date both hold (4713 BC .. 275760 AD). */
export const dates = fc.integer({ min: -210_866_760_000_000, max: 8_639_977_881_599_999 }).map((ms) => new Date(ms));

/** A decimal string as the server prints a numeric: no leading zeros, no '-0'. */
export const decimals = fc
  .tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 40n }), fc.option(fc.stringMatching(/^[0-9]{1,30}$/), { nil: undefined }))
  .map(([negative, whole, fraction]) => {
    const text = whole.toString() + (fraction === undefined ? '' : '.' + fraction);
    return negative && /[1-9]/.test(text) ? '-' + text : text;
  });

const registry = new TypeRegistry();

/** JSON values (-0 normalized as JSON does); no top-level strings, which parameters take as JSON text. */
const json = fc
  .jsonValue()
  .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
  .filter((v) => typeof v !== 'string');

/** [name, type OID, values] for every built-in codec. */
export const arbitraries: [string, number, fc.Arbitrary<unknown>][] = [
  ['bool', PgOid.bool, fc.boolean()],
  ['int2', PgOid.int2, fc.integer({ min: -32768, max: 32767 })],
  ['int4', PgOid.int4, fc.integer({ min: -2147483648, max: 2147483647 })],
  ['int8', PgOid.int8, fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })],
  ['oid', PgOid.oid, fc.integer({ min: 0, max: 4294967295 })],
  // What a float4 decodes to: the shortest decimal that reads back as it (see scalars.ts).
  ['float4', PgOid.float4, fc.float().map((f) => registry.decode(PgOid.float4, 1, registry.encodeParam(f, PgOid.float4) as Uint8Array, 0, 4))],
  ['float8', PgOid.float8, fc.double()],
  ['numeric', PgOid.numeric, fc.oneof(decimals, fc.constantFrom('NaN', 'Infinity', '-Infinity'))],
  ['text', PgOid.text, fc.string({ unit: 'grapheme', maxLength: 40 })],
  ['varchar', PgOid.varchar, fc.string({ maxLength: 20 })],
  ['bytea', PgOid.bytea, fc.uint8Array({ maxLength: 40 })],
  ['json', PgOid.json, json],
  ['jsonb', PgOid.jsonb, json],
  ['uuid', PgOid.uuid, fc.uuid()],
  ['timestamptz', PgOid.timestamptz, dates],
  ['timestamp', PgOid.timestamp, dates],
  ['date', PgOid.date, dates.map((d) => new Date(Math.floor(d.getTime() / 86_400_000) * 86_400_000))],
  [
    'interval',
    PgOid.interval,
    fc.record({
      months: fc.integer({ min: -2147483648, max: 2147483647 }),
      days: fc.integer({ min: -2147483648, max: 2147483647 }),
      microseconds: fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    }),
  ],
];
