// scalars.ts
//
// Codecs of the types whose values are one JavaScript primitive: bool, the integers, oid,
// the floats, the text types, bytea, json/jsonb and uuid.
//
// Discussion: float4. The server prints a float4 as the shortest decimal that reads back as
// the same float4 ('1.1'), or with more digits under some settings ('4.9754592e+07' for
// 49754590 in an array); the binary format carries the float4 itself (1.100000023841858 as a
// double). Both formats decode to the double nearest that shortest decimal (1.1), so a
// column reads the same whichever format was asked for and whatever the server printed.

import { binaryOut, expectLength, readFloat32, readFloat64, readInt16, readInt32, readInt64Big, readInt64Safe, readUint32 } from './codec.js';
import type { PgCodec } from './codec.js';
import { PgDecodeError, PgEncodeError } from './errors.js';
import { PgOid } from './oids.js';
import { asciiText, copyBytes, HEX_PAIRS, hexValue, utf8Bytes, utf8Text } from './text.js';

// ---- integers -----------------------------------------------------------------------------

/** Reads decimal integer text of at most `maxDigits` digits as a number in [min, max]. */
function integerText(name: string, bytes: Uint8Array, start: number, end: number, maxDigits: number, min: number, max: number): number {
  let at = start;
  const negative = at < end && bytes[at] === 0x2d;
  if (negative) at++;
  if (at >= end || end - at > maxDigits) throw new PgDecodeError(name, 0, 'not an integer of its size');
  let value = 0;
  for (; at < end; at++) {
    const digit = (bytes[at] as number) - 0x30;
    if (digit < 0 || digit > 9) throw new PgDecodeError(name, 0, 'not a decimal integer');
    value = value * 10 + digit;
  }
  if (negative) value = 0 - value;
  if (value < min || value > max) throw new PgDecodeError(name, 0, 'out of range');
  return value;
}

function integerParam(name: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new PgEncodeError(name, `${String(value)} is not an integer in [${min}, ${max}]`);
  return n;
}

/** The codec of a 2- or 4-byte integer type holding values in [min, max]. */
function integerCodec(name: string, oid: number, arrayOid: number, size: 2 | 4, min: number, max: number): PgCodec<number> {
  const digits = size === 2 ? 5 : 10;
  const read = size === 2 ? readInt16 : min < 0 ? readInt32 : readUint32;
  return {
    name,
    oid,
    arrayOid,
    preferBinary: true,
    decodeText: (bytes, start, end) => integerText(name, bytes, start, end, digits, min, max),
    decodeBinary(bytes, start, end) {
      expectLength(name, start, end, size);
      return read(bytes, start);
    },
    encodeText: (value) => String(integerParam(name, value, min, max)),
    encodeBinary(value) {
      const n = integerParam(name, value, min, max);
      return size === 2 ? new Uint8Array([(n >> 8) & 0xff, n & 0xff]) : new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    },
  };
}

export const int2Codec = integerCodec('int2', PgOid.int2, PgOid._int2, 2, -32768, 32767);
export const int4Codec = integerCodec('int4', PgOid.int4, PgOid._int4, 4, -2147483648, 2147483647);
export const oidCodec = integerCodec('oid', PgOid.oid, PgOid._oid, 4, 0, 4294967295);

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** int8 text as a bigint (validated: sign, 1-19 digits, in range). */
function int8TextBig(bytes: Uint8Array, start: number, end: number): bigint {
  const digits = end - start - (bytes[start] === 0x2d ? 1 : 0);
  if (digits <= 15) return BigInt(integerText('int8', bytes, start, end, 15, -Infinity, Infinity));
  if (digits > 19) throw new PgDecodeError('int8', 0, 'not an integer of its size');
  for (let at = bytes[start] === 0x2d ? start + 1 : start; at < end; at++) {
    const c = bytes[at] as number;
    if (c < 0x30 || c > 0x39) throw new PgDecodeError('int8', 0, 'not a decimal integer');
  }
  const value = BigInt(asciiText(bytes, start, end));
  if (value < INT8_MIN || value > INT8_MAX) throw new PgDecodeError('int8', 0, 'out of range');
  return value;
}

function int8Param(value: unknown): bigint {
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
  else throw new PgEncodeError('int8', `${String(value)} is not an integer`);
  if (big < INT8_MIN || big > INT8_MAX) throw new PgEncodeError('int8', `${big} is out of range`);
  return big;
}

/** The int8 codec: values as bigint, string or number (see TypeOptions.int8). */
export function int8Codec(mode: 'bigint' | 'string' | 'number'): PgCodec<bigint | string | number> {
  const encode = {
    encodeText: (value: unknown) => (typeof value === 'string' ? value : int8Param(value).toString()),
    encodeBinary(value: unknown): Uint8Array {
      const big = typeof value === 'string' ? int8Param(BigInt(value)) : int8Param(value);
      const { bytes, view } = binaryOut(8);
      view.setBigInt64(0, big);
      return bytes;
    },
  };
  const base = { name: 'int8', oid: PgOid.int8, arrayOid: PgOid._int8, preferBinary: true, ...encode };
  if (mode === 'bigint') {
    return {
      ...base,
      decodeText: int8TextBig,
      decodeBinary(bytes, start, end) {
        expectLength('int8', start, end, 8);
        return readInt64Big(bytes, start);
      },
    };
  }
  if (mode === 'string') {
    return {
      ...base,
      decodeText: (bytes, start, end) => int8TextBig(bytes, start, end).toString(),
      decodeBinary(bytes, start, end) {
        expectLength('int8', start, end, 8);
        return readInt64Big(bytes, start).toString();
      },
    };
  }
  return {
    ...base,
    decodeText: (bytes, start, end) => integerText('int8', bytes, start, end, 16, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    decodeBinary(bytes, start, end) {
      expectLength('int8', start, end, 8);
      const value = readInt64Safe(bytes, start);
      if (value === null) throw new PgDecodeError('int8', 1, 'outside the safe integer range of a number (int8: "number" option)');
      return value;
    },
  };
}

// ---- bool ---------------------------------------------------------------------------------

export const boolCodec: PgCodec<boolean> = {
  name: 'bool',
  oid: PgOid.bool,
  arrayOid: PgOid._bool,
  preferBinary: true,
  decodeText(bytes, start, end) {
    if (end - start === 1) {
      if (bytes[start] === 0x74) return true;
      if (bytes[start] === 0x66) return false;
    }
    throw new PgDecodeError('bool', 0, "expected 't' or 'f'");
  },
  decodeBinary(bytes, start, end) {
    expectLength('bool', start, end, 1);
    const b = bytes[start];
    if (b !== 0 && b !== 1) throw new PgDecodeError('bool', 1, 'expected 0 or 1');
    return b === 1;
  },
  encodeText(value) {
    if (typeof value !== 'boolean') throw new PgEncodeError('bool', 'not a boolean');
    return value ? 't' : 'f';
  },
  encodeBinary(value) {
    if (typeof value !== 'boolean') throw new PgEncodeError('bool', 'not a boolean');
    return new Uint8Array([value ? 1 : 0]);
  },
};

// ---- floats -------------------------------------------------------------------------------

/** Float text as the server prints it: digits, sign, point, exponent, or NaN / [-]Infinity. */
function floatText(name: string, bytes: Uint8Array, start: number, end: number): number {
  if (end - start > 64) throw new PgDecodeError(name, 0, 'too long for a float');
  for (let at = start; at < end; at++) {
    const c = bytes[at] as number;
    const plain = (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
    if (!plain) {
      const text = asciiText(bytes, start, end);
      if (text === 'NaN') return NaN;
      if (text === 'Infinity') return Infinity;
      if (text === '-Infinity') return -Infinity;
      throw new PgDecodeError(name, 0, 'not a float');
    }
  }
  const value = end > start ? Number(asciiText(bytes, start, end)) : NaN;
  if (Number.isNaN(value)) throw new PgDecodeError(name, 0, 'not a float');
  return value;
}

/**
 * The double nearest the shortest decimal that reads back as the float4 `f`, chosen as the
 * server's shortest-exact output (Ryu) chooses: the fewest digits; among those, the nearest to
 * `f`; an exact tie goes to the even last digit (JavaScript's toPrecision would round it up).
 */
export function shortestFloat4(f: number): number {
  if (f === 0 || !Number.isFinite(f)) return f;
  for (let precision = 1; precision <= 9; precision++) {
    const candidate = Number(f.toPrecision(precision));
    if (Math.fround(candidate) !== f) continue;
    // A tie: the exact value's next digit is 5 and nothing follows (a float4 has fewer than
    // 110 significant digits, so toExponential(precision + 110) is exact).
    const exact = f.toExponential(Math.min(100, precision + 110));
    const [mantissa = '', exponentText = '0'] = exact.replace('-', '').split('e');
    const digits = mantissa.replace('.', '');
    if (digits[precision] !== '5' || /[1-9]/.test(digits.slice(precision + 1))) return candidate;
    const sign = f < 0 ? '-' : '';
    const scale = Number(exponentText) - precision + 1;
    const down = BigInt(digits.slice(0, precision));
    const even = down % 2n === 0n ? down : down + 1n;
    const chosen = Number(`${sign}${even}e${scale}`);
    return Math.fround(chosen) === f ? chosen : candidate;
  }
  return f;
}

function floatParam(name: string, value: unknown): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number') throw new PgEncodeError(name, 'not a number');
  return n;
}

/** A float as text the server reads back exactly (-0 keeps its sign). */
function floatString(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

export const float4Codec: PgCodec<number> = {
  name: 'float4',
  oid: PgOid.float4,
  arrayOid: PgOid._float4,
  preferBinary: true,
  // The text may carry more digits than the shortest (extra_float_digits, or another server):
  // it is read back to the float4 it names, then to that float4's shortest decimal.
  decodeText: (bytes, start, end) => shortestFloat4(Math.fround(floatText('float4', bytes, start, end))),
  decodeBinary(bytes, start, end) {
    expectLength('float4', start, end, 4);
    return shortestFloat4(readFloat32(bytes, start));
  },
  encodeText: (value) => floatString(floatParam('float4', value)),
  encodeBinary(value) {
    const { bytes, view } = binaryOut(4);
    view.setFloat32(0, floatParam('float4', value));
    return bytes;
  },
};

export const float8Codec: PgCodec<number> = {
  name: 'float8',
  oid: PgOid.float8,
  arrayOid: PgOid._float8,
  preferBinary: true,
  decodeText: (bytes, start, end) => floatText('float8', bytes, start, end),
  decodeBinary(bytes, start, end) {
    expectLength('float8', start, end, 8);
    return readFloat64(bytes, start);
  },
  encodeText: (value) => floatString(floatParam('float8', value)),
  encodeBinary(value) {
    const { bytes, view } = binaryOut(8);
    view.setFloat64(0, floatParam('float8', value));
    return bytes;
  },
};

// ---- text ---------------------------------------------------------------------------------

function textParam(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new PgEncodeError(name, 'not a string');
  return value;
}

/**
 * A codec for a type whose text and binary formats are both its UTF-8 text. A parameter that is
 * not a string is sent as `otherText` makes it (the registry's inference: 42 → '42').
 */
export function textLikeCodec(name: string, oid: number, arrayOid: number, otherText: (value: unknown) => string): PgCodec<string> {
  const param = (value: unknown): string => (typeof value === 'string' ? value : otherText(value));
  return {
    name,
    oid,
    arrayOid,
    decodeText: utf8Text,
    decodeBinary: utf8Text,
    encodeText: param,
    encodeBinary: (value) => utf8Bytes(param(value)),
  };
}

// ---- bytea --------------------------------------------------------------------------------

/** bytea's text format: hex ('\x0a0b') or, from old servers or bytea_output = escape, escapes. */
function byteaText(bytes: Uint8Array, start: number, end: number): Uint8Array {
  if (end - start >= 2 && bytes[start] === 0x5c && bytes[start + 1] === 0x78) {
    const length = end - start - 2;
    if (length % 2 !== 0) throw new PgDecodeError('bytea', 0, 'odd number of hex digits');
    const out = new Uint8Array(length / 2);
    for (let at = start + 2, o = 0; at < end; at += 2, o++) {
      const high = hexValue(bytes[at] as number);
      const low = hexValue(bytes[at + 1] as number);
      if (high < 0 || low < 0) throw new PgDecodeError('bytea', 0, 'not a hex digit');
      out[o] = (high << 4) | low;
    }
    return out;
  }
  const out = new Uint8Array(end - start);
  let o = 0;
  for (let at = start; at < end; ) {
    const c = bytes[at] as number;
    if (c !== 0x5c) {
      out[o++] = c;
      at++;
    } else if (at + 1 < end && bytes[at + 1] === 0x5c) {
      out[o++] = 0x5c;
      at += 2;
    } else {
      if (at + 4 > end) throw new PgDecodeError('bytea', 0, 'truncated escape');
      let value = 0;
      for (let k = 1; k <= 3; k++) {
        const d = (bytes[at + k] as number) - 0x30;
        if (!(d >= 0 && d <= 7)) throw new PgDecodeError('bytea', 0, 'bad octal escape');
        value = value * 8 + d;
      }
      if (value > 255) throw new PgDecodeError('bytea', 0, 'bad octal escape');
      out[o++] = value;
      at += 4;
    }
  }
  return o === out.length ? out : out.slice(0, o);
}

function byteaParam(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PgEncodeError('bytea', 'not a Uint8Array');
  return value;
}

/** The hex text format of bytes: '\x' and two digits a byte. */
export function byteaHex(value: Uint8Array): string {
  let text = '\\x';
  for (let i = 0; i < value.length; i++) text += HEX_PAIRS[value[i] as number] as string;
  return text;
}

export const byteaCodec: PgCodec<Uint8Array> = {
  name: 'bytea',
  oid: PgOid.bytea,
  arrayOid: PgOid._bytea,
  preferBinary: true,
  decodeText: byteaText,
  decodeBinary: copyBytes,
  encodeText: (value) => byteaHex(byteaParam(value)),
  encodeBinary: byteaParam,
};

// ---- json ---------------------------------------------------------------------------------

function parseJson(name: string, format: 0 | 1, bytes: Uint8Array, start: number, end: number): unknown {
  try {
    return JSON.parse(utf8Text(bytes, start, end)) as unknown;
  } catch (error) {
    throw new PgDecodeError(name, format, 'not JSON', { cause: error });
  }
}

/** JSON text of a parameter value: a string is taken as JSON text already (as pg does). */
function jsonParam(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new PgEncodeError(name, 'JSON.stringify failed', { cause: error });
  }
  if (text === undefined) throw new PgEncodeError(name, 'the value has no JSON form');
  return text;
}

export const jsonCodec: PgCodec<unknown> = {
  name: 'json',
  oid: PgOid.json,
  arrayOid: PgOid._json,
  decodeText: (bytes, start, end) => parseJson('json', 0, bytes, start, end),
  decodeBinary: (bytes, start, end) => parseJson('json', 1, bytes, start, end),
  encodeText: (value) => jsonParam('json', value),
  encodeBinary: (value) => utf8Bytes(jsonParam('json', value)),
};

export const jsonbCodec: PgCodec<unknown> = {
  name: 'jsonb',
  oid: PgOid.jsonb,
  arrayOid: PgOid._jsonb,
  decodeText: (bytes, start, end) => parseJson('jsonb', 0, bytes, start, end),
  decodeBinary(bytes, start, end) {
    if (end <= start || bytes[start] !== 1) throw new PgDecodeError('jsonb', 1, 'unknown jsonb version');
    return parseJson('jsonb', 1, bytes, start + 1, end);
  },
  encodeText: (value) => jsonParam('jsonb', value),
  encodeBinary(value) {
    const text = utf8Bytes(jsonParam('jsonb', value));
    const out = new Uint8Array(text.length + 1);
    out[0] = 1;
    out.set(text, 1);
    return out;
  },
};

// ---- uuid ---------------------------------------------------------------------------------

const UUID_DASHES = [4, 6, 8, 10];

/** 16 bytes as the canonical lowercase uuid text. */
export function uuidFromBytes(bytes: Uint8Array, start: number): string {
  let text = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += '-';
    text += HEX_PAIRS[bytes[start + i] as number] as string;
  }
  return text;
}

export const uuidCodec: PgCodec<string> = {
  name: 'uuid',
  oid: PgOid.uuid,
  arrayOid: PgOid._uuid,
  preferBinary: true,
  decodeText(bytes, start, end) {
    if (end - start !== 36) throw new PgDecodeError('uuid', 0, 'not 36 characters');
    for (let i = 0; i < 36; i++) {
      const c = bytes[start + i] as number;
      const dash = i === 8 || i === 13 || i === 18 || i === 23;
      if (dash ? c !== 0x2d : hexValue(c) < 0) throw new PgDecodeError('uuid', 0, 'not a uuid');
    }
    return asciiText(bytes, start, end).toLowerCase();
  },
  decodeBinary(bytes, start, end) {
    expectLength('uuid', start, end, 16);
    return uuidFromBytes(bytes, start);
  },
  encodeText: (value) => textParam('uuid', value),
  encodeBinary(value) {
    const text = textParam('uuid', value);
    const out = new Uint8Array(16);
    let o = 0;
    let at = text.startsWith('{') && text.endsWith('}') ? 1 : 0;
    const end = at === 1 ? text.length - 1 : text.length;
    for (; at < end; ) {
      if (text.charCodeAt(at) === 0x2d && UUID_DASHES.includes(o)) {
        at++;
        continue;
      }
      const high = hexValue(text.charCodeAt(at));
      const low = hexValue(text.charCodeAt(at + 1));
      if (high < 0 || low < 0 || o >= 16) throw new PgEncodeError('uuid', 'not a uuid');
      out[o++] = (high << 4) | low;
      at += 2;
    }
    if (o !== 16) throw new PgEncodeError('uuid', 'not a uuid');
    return out;
  },
};

