// numeric.ts
//
// numeric, exact, as a decimal string: the text format is the server's own string; the
// binary format (base-10000 digits, a weight, a sign and a display scale) is printed as the
// server prints it, so both formats give the same string ('1.50', 'NaN', 'Infinity').
//
// Invariants:
// - Binary values are checked before use: the length is 8 + 2 * ndigits, every digit < 10000,
//   the sign one of the five the server writes, the display scale within 0x3FFF. The printed
//   string is at most 4 * 32768 + 16383 characters, whatever the bytes claim.
// - Encoding takes a decimal string (with an optional exponent, as numeric_in accepts), a
//   number or a bigint, and writes what numeric_send would for the same value.

import type { PgCodec } from './codec.js';
import { readInt16, readUint16 } from './codec.js';
import { PgDecodeError, PgEncodeError } from './errors.js';
import { PgOid } from './oids.js';
import { asciiText } from './text.js';

const SIGN_POSITIVE = 0x0000;
const SIGN_NEGATIVE = 0x4000;
const SIGN_NAN = 0xc000;
const SIGN_PINF = 0xd000;
const SIGN_NINF = 0xf000;
/** The most base-10000 digits before the point a numeric may have (NUMERIC_WEIGHT_MAX + 1). */
const MAX_GROUPS = 32768;

let groupTexts: string[] | null = null;
/** The four-character, zero-padded text of each base-10000 digit. */
function groupText(digit: number): string {
  if (groupTexts === null) groupTexts = Array.from({ length: 10000 }, (_, d) => String(d).padStart(4, '0'));
  return groupTexts[digit] as string;
}

function numericText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > 200_000) throw new PgDecodeError('numeric', 0, 'too long');
  // [-]digits[.digits], as numeric_out writes it, or one of the three words.
  let digits = 0;
  let points = 0;
  for (let at = start; at < end; at++) {
    const c = bytes[at] as number;
    if (c >= 0x30 && c <= 0x39) digits++;
    else if (c === 0x2e && digits > 0) points++;
    else if (!(c === 0x2d && at === start)) {
      const text = asciiText(bytes, start, end);
      if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return text;
      throw new PgDecodeError('numeric', 0, 'not a number');
    }
  }
  if (digits === 0 || points > 1 || bytes[end - 1] === 0x2e) throw new PgDecodeError('numeric', 0, 'not a number');
  return asciiText(bytes, start, end);
}

function numericBinary(bytes: Uint8Array, start: number, end: number): string {
  if (end - start < 8) throw new PgDecodeError('numeric', 1, 'shorter than its header');
  const ndigits = readUint16(bytes, start);
  const weight = readInt16(bytes, start + 2);
  const sign = readUint16(bytes, start + 4);
  const dscale = readUint16(bytes, start + 6);
  if (end - start !== 8 + 2 * ndigits) throw new PgDecodeError('numeric', 1, `length ${end - start} does not match ${ndigits} digits`);
  if (sign === SIGN_NAN) return 'NaN';
  if (sign === SIGN_PINF) return 'Infinity';
  if (sign === SIGN_NINF) return '-Infinity';
  if (sign !== SIGN_POSITIVE && sign !== SIGN_NEGATIVE) throw new PgDecodeError('numeric', 1, 'unknown sign');
  if (dscale > 0x3fff) throw new PgDecodeError('numeric', 1, 'display scale out of range');
  const digitsAt = start + 8;
  const digit = (index: number): number => {
    if (index < 0 || index >= ndigits) return 0;
    const value = readUint16(bytes, digitsAt + 2 * index);
    if (value > 9999) throw new PgDecodeError('numeric', 1, 'digit out of range');
    return value;
  };
  let text = sign === SIGN_NEGATIVE ? '-' : '';
  if (weight < 0) text += '0';
  else {
    text += String(digit(0));
    for (let i = 1; i <= weight; i++) text += groupText(digit(i));
  }
  if (dscale > 0) {
    let fraction = '';
    const groups = Math.ceil(dscale / 4);
    for (let k = 1; k <= groups; k++) fraction += groupText(digit(weight + k));
    text += '.' + fraction.slice(0, dscale);
  }
  // A digit that no printed group read still has to be valid.
  for (let i = 0; i < ndigits; i++) digit(i);
  return text;
}

/** The pieces of a decimal: sign, digits, and how many of them are before the point. */
interface Decimal {
  readonly negative: boolean;
  readonly digits: string;
  readonly point: number;
  readonly scale: number;
}

/** A decimal string as numeric_in reads it: [+-]digits[.digits][e[+-]digits], or null. */
function parseDecimal(text: string): Decimal | null {
  const match = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (match === null) return null;
  const whole = match[2] ?? '';
  const fraction = match[3] ?? '';
  if (whole === '' && fraction === '') return null;
  const exponent = match[4] === undefined ? 0 : Number(match[4]);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 4 * MAX_GROUPS + 0x3fff) return null;
  return { negative: match[1] === '-', digits: whole + fraction, point: whole.length + exponent, scale: Math.max(0, fraction.length - exponent) };
}

/** numeric_send's bytes for a decimal string, number or bigint. */
export function encodeNumericBinary(value: unknown): Uint8Array {
  const text = numericParam(value);
  const special = text === 'NaN' ? SIGN_NAN : text === 'Infinity' ? SIGN_PINF : text === '-Infinity' ? SIGN_NINF : -1;
  if (special >= 0) return new Uint8Array([0, 0, 0, 0, special >> 8, 0, 0, 0]);
  const decimal = parseDecimal(text);
  if (decimal === null) throw new PgEncodeError('numeric', `'${text}' is not a decimal number`);
  const scale = Math.min(decimal.scale, 0x3fff);
  let { digits, point } = decimal;
  // Keep only the digits the display scale shows (numeric_in rounds; these are exact inputs).
  if (digits.length - point > scale) digits = digits.slice(0, Math.max(0, point + scale));
  const padLeft = (((4 - (point % 4)) % 4) + 4) % 4;
  digits = '0'.repeat(padLeft) + digits;
  point += padLeft;
  if (digits.length < point) digits += '0'.repeat(point - digits.length);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  digits += '0'.repeat((4 - ((digits.length - point) % 4)) % 4);
  const groups: number[] = [];
  for (let i = 0; i < digits.length; i += 4) groups.push(Number(digits.slice(i, i + 4)));
  let weight = point / 4 - 1;
  let first = 0;
  while (first < groups.length && groups[first] === 0) {
    first++;
    weight--;
  }
  let last = groups.length;
  while (last > first && groups[last - 1] === 0) last--;
  const used = groups.slice(first, last);
  if (used.length === 0) weight = 0;
  if (weight >= MAX_GROUPS || weight < -MAX_GROUPS) throw new PgEncodeError('numeric', 'out of range');
  const out = new Uint8Array(8 + 2 * used.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, used.length);
  view.setInt16(2, weight);
  view.setUint16(4, decimal.negative && used.length > 0 ? SIGN_NEGATIVE : SIGN_POSITIVE);
  view.setUint16(6, scale);
  used.forEach((group, i) => view.setUint16(8 + 2 * i, group));
  return out;
}

function numericParam(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  throw new PgEncodeError('numeric', 'not a string, number or bigint');
}

export const numericCodec: PgCodec<string> = {
  name: 'numeric',
  oid: PgOid.numeric,
  arrayOid: PgOid._numeric,
  decodeText: numericText,
  decodeBinary: numericBinary,
  encodeText: numericParam,
  encodeBinary: encodeNumericBinary,
};
