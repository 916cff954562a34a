// Random values through PostgreSQL 15: each value encoded by us (text and binary) is read by
// the server's own input or receive function; the server's output and send bytes for it decode
// back to the value.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TypeRegistry } from '../../src/index.js';
import type { PgCodec } from '../../src/index.js';
import { asPgParam, rawClientForFile, serverValue } from './peer.js';
import { arbitraries } from './values.js';

const rawClient = rawClientForFile();

const registry = new TypeRegistry();
const TYPE_NAMES: Record<string, string> = { varchar: 'varchar' };

describe('random values round-trip through the server', () => {
  for (const [name, oid, arbitrary] of arbitraries) {
    const type = TYPE_NAMES[name] ?? name;
    for (const array of [false, true]) {
      const codec = registry.get(array ? (registry.get(oid)?.arrayOid as number) : oid) as PgCodec;
      const values = array ? fc.array(fc.option(arbitrary, { nil: null }), { maxLength: 4 }) : arbitrary;
      it(`${type}${array ? '[]' : ''}`, async () => {
        await fc.assert(
          fc.asyncProperty(values, async (value) => {
            const sql = `select $1::${type}${array ? '[]' : ''}`;
            const forms: (string | Uint8Array)[] = [];
            if (codec.encodeText !== undefined) forms.push(codec.encodeText(value));
            if (codec.encodeBinary !== undefined) forms.push(codec.encodeBinary(value));
            for (const form of forms) {
              const back = await serverValue(rawClient(), sql, [asPgParam(form)]);
              const t = Buffer.from(back.text as string);
              expect(registry.decode(back.oid, 0, t, 0, t.length)).toEqual(value);
              expect(registry.decode(back.oid, 1, back.binary as Buffer, 0, (back.binary as Buffer).length)).toEqual(value);
            }
          }),
          { numRuns: 40 },
        );
      });
    }
  }
});
