// Random round trips (fast-check), in process: every value a codec encodes, text and binary,
// decodes back to itself, at any offset of a larger array; and hostile bytes: random or mutated
// input to every decoder gives a value or a PgDecodeError, nothing else.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PgDecodeError, PgOid, TypeRegistry } from '../../src/index.js';
import type { PgCodec } from '../../src/index.js';
import { arbitraries } from './values.js';

const registry = new TypeRegistry();
const enc = new TextEncoder();

/** `bytes` at `offset` inside a larger array. */
function placed(bytes: Uint8Array, offset: number): Uint8Array {
  const out = new Uint8Array(bytes.length + offset + 3).fill(0x22);
  out.set(bytes, offset);
  return out;
}

function roundTrip(oid: number, value: unknown, offset: number): void {
  const codec = registry.get(oid) as PgCodec;
  if (codec.encodeText !== undefined) {
    const body = enc.encode(codec.encodeText(value));
    expect(registry.decode(oid, 0, placed(body, offset), offset, offset + body.length)).toEqual(value);
  }
  if (codec.encodeBinary !== undefined && codec.decodeBinary !== undefined) {
    const body = codec.encodeBinary(value);
    expect(registry.decode(oid, 1, placed(body, offset), offset, offset + body.length)).toEqual(value);
  }
}

describe('random round trips through our own encoders', () => {
  for (const [name, oid, arbitrary] of arbitraries) {
    it(name, () => {
      fc.assert(
        fc.property(arbitrary, fc.nat(7), (value, offset) => roundTrip(oid, value, offset)),
        { numRuns: 300 },
      );
    });
    const arrayOid = registry.get(oid)?.arrayOid;
    if (arrayOid !== undefined) {
      it(`${name}[] in one and two dimensions, with NULLs`, () => {
        const element = fc.option(arbitrary, { nil: null });
        const grid = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).chain(([rows, columns]) => fc.array(fc.array(element, { minLength: columns, maxLength: columns }), { minLength: rows, maxLength: rows }));
        fc.assert(
          fc.property(fc.oneof(fc.array(element, { maxLength: 6 }), grid), fc.nat(5), (value, offset) => roundTrip(arrayOid, value, offset)),
          { numRuns: 150 },
        );
      });
    }
  }
});

describe('hostile bytes', () => {
  const oids = [...new Set(arbitraries.flatMap(([, oid]) => [oid, registry.get(oid)?.arrayOid ?? oid]))];
  const decodeSafely = (oid: number, format: 0 | 1, bytes: Uint8Array): void => {
    try {
      registry.decode(oid, format, bytes, 0, bytes.length);
    } catch (error) {
      if (!(error instanceof PgDecodeError)) throw error;
    }
  };
  it('random bytes to every decoder, both formats: a value or a PgDecodeError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...oids), fc.constantFrom(0 as const, 1 as const), fc.uint8Array({ maxLength: 80 }), (oid, format, bytes) => decodeSafely(oid, format, bytes)),
      { numRuns: 5000 },
    );
  });
  it('valid encodings truncated, extended or with one byte changed', () => {
    const cases = arbitraries.map(([, oid, arbitrary]) => arbitrary.map((value) => [oid, value] as const));
    fc.assert(
      fc.property(fc.oneof(...cases), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('truncate', 'extend', 'flip'), ([oid, value], where, byte, how) => {
        const codec = registry.get(oid) as PgCodec;
        for (const [format, body] of [
          [0, codec.encodeText === undefined ? null : enc.encode(codec.encodeText(value))],
          [1, codec.encodeBinary === undefined ? null : codec.encodeBinary(value)],
        ] as const) {
          if (body === null) continue;
          const at = body.length === 0 ? 0 : where % body.length;
          const mutated = how === 'truncate' ? body.slice(0, at) : how === 'extend' ? Uint8Array.from([...body, byte]) : Uint8Array.from(body, (b, i) => (i === at ? byte : b));
          decodeSafely(oid, format, mutated);
          const arrayOid = codec.arrayOid;
          if (arrayOid !== undefined && format === 1) {
            const array = registry.get(arrayOid)?.encodeBinary?.([value, value]) as Uint8Array;
            const cut = array.slice(0, where % (array.length + 1));
            decodeSafely(arrayOid, 1, cut);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
  it('every prefix of every encoding of sampled values, both formats, arrays included', () => {
    for (const [, oid, arbitrary] of arbitraries) {
      const codec = registry.get(oid) as PgCodec;
      const arrays = registry.get(codec.arrayOid as number) as PgCodec;
      for (const value of fc.sample(arbitrary, { numRuns: 20, seed: 11 })) {
        const forms: [PgCodec, 0 | 1, Uint8Array | undefined][] = [
          [codec, 0, codec.encodeText === undefined ? undefined : enc.encode(codec.encodeText(value))],
          [codec, 1, codec.encodeBinary?.(value)],
          [arrays, 0, arrays.encodeText === undefined ? undefined : enc.encode(arrays.encodeText([value, null, value]))],
          [arrays, 1, arrays.encodeBinary?.([[value], [null]])],
        ];
        for (const [which, format, body] of forms) {
          if (body === undefined) continue;
          for (let end = 0; end <= body.length; end++) decodeSafely(which.oid, format, body.subarray(0, end));
        }
      }
    }
  });
  it('random array text built from the syntax characters', () => {
    const syntax = fc.array(fc.constantFrom('{', '}', ',', '"', '\\', 'NULL', ' ', 'a', '1', '[1:2]', '='), { maxLength: 30 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(syntax, fc.constantFrom(PgOid._text, PgOid._int4, PgOid._json), (value, oid) => decodeSafely(oid, 0, enc.encode(value))),
      { numRuns: 5000 },
    );
  });
});
