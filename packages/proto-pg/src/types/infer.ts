// infer.ts
//
// The text of a parameter whose type is not known (OID 0), inferred from its JavaScript type;
// also what the text types send for a value that is not a string. See registry.ts for the rules.

import { dateTimeCodecs } from './datetime.js';
import { PgEncodeError } from './errors.js';
import { byteaHex, jsonCodec } from './scalars.js';
import type { PgCodec } from './codec.js';

const TIMESTAMPTZ = dateTimeCodecs('date', 'object')[2] as PgCodec;

/** The text of a parameter whose type is not known, inferred from its JavaScript type. */
export function inferText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 't' : 'f';
    case 'object':
      if (value === null) return 'NULL';
      if (value instanceof Date) return (TIMESTAMPTZ.encodeText as (v: unknown) => string)(value);
      if (value instanceof Uint8Array) return byteaHex(value);
      if (Array.isArray(value)) return inferArrayText(value);
      return (jsonCodec.encodeText as (v: unknown) => string)(value);
    default:
      throw new PgEncodeError('unknown', `cannot infer a type for a ${typeof value}`);
  }
}

function inferArrayText(value: readonly unknown[]): string {
  let text = '{';
  for (let i = 0; i < value.length; i++) {
    if (i > 0) text += ',';
    const item = value[i];
    if (item === null || item === undefined) text += 'NULL';
    else if (Array.isArray(item)) text += inferArrayText(item);
    else {
      const element = inferText(item);
      text += element === '' || /[{}",\\\s]/.test(element) || element.toUpperCase() === 'NULL' ? '"' + element.replace(/[\\"]/g, '\\$&') + '"' : element;
    }
  }
  return text + '}';
}
