// binary.ts
//
// Keys and string values live as "binary strings": one UTF-16 code unit per byte (latin1),
// cut from the received bytes by proto-redis's server role (`args: 'binary'`, Node's native
// latin1 decoder). They are binary safe (all 256 byte values round-trip),
// hash fast as Map keys, compare with ===, and hold no reference to the received chunk (a view
// kept as a value would pin its whole 64 KiB chunk). Options and numbers are ASCII, which
// latin1 leaves unchanged, so they are read from the same strings.
//
// Also here: Redis's strict integer and float parsing (string2ll, string2ld) and 64-bit
// integer arithmetic that stays in plain numbers while it can.

/** Printable form of a binary string for error messages (bytes as they are, CR/LF blanked). */
export function printable(text: string): string {
  return text.replace(/[\r\n]/g, ' ');
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/**
 * Redis's string2ll: a base-10 64-bit signed integer with no sign but '-', no leading zeros, no
 * blanks, at most 20 characters. Returns a number when it is a safe integer, a bigint when it
 * is beyond 2^53, or null when `text` is not such an integer.
 */
export function parseInt64(text: string): number | bigint | null {
  const n = text.length;
  if (n === 0 || n > 20) return null;
  let i = 0;
  const negative = text.charCodeAt(0) === 45; /* - */
  if (negative) {
    if (n === 1) return null;
    i = 1;
  }
  const first = text.charCodeAt(i);
  if (first === 48 /* 0 */) return n === 1 ? 0 : null;
  if (first < 49 || first > 57) return null;
  let value = 0;
  for (; i < n; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  if (n - (negative ? 1 : 0) < 16) return negative ? -value : value;
  const exact = BigInt(text);
  if (exact > INT64_MAX || exact < INT64_MIN) return null;
  return Number.isSafeInteger(Number(exact)) ? Number(exact) : exact;
}

/** {@link parseInt64} as a (possibly rounded) number, for counts and indexes. */
export function parseIndex(text: string): number | null {
  const value = parseInt64(text);
  return value === null ? null : Number(value);
}

/** `a + b` in 64-bit signed arithmetic, or null when it overflows. */
export function addInt64(a: number | bigint, b: number | bigint): number | bigint | null {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b;
    if (Number.isSafeInteger(sum)) return sum;
  }
  const exact = BigInt(a) + BigInt(b);
  if (exact > INT64_MAX || exact < INT64_MIN) return null;
  return Number.isSafeInteger(Number(exact)) ? Number(exact) : exact;
}

/** Whether `value` is the smallest 64-bit integer (it has no negation). */
export function isInt64Min(value: number | bigint): boolean {
  return typeof value === 'bigint' && value === INT64_MIN;
}

const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY = /^[+-]?inf(?:inity)?$/i;

/**
 * A float as C's strtold reads a whole argument (decimal, or inf/infinity), with no leading
 * blank: what Redis accepts for timeouts. NaN is refused, and so are hexadecimal floats, which
 * strtold would read. Returns null for anything else.
 */
export function parseFloatText(text: string): number | null {
  if (text.length === 0 || text.length >= 5 * 1024) return null;
  if (INFINITY.test(text)) return text.charCodeAt(0) === 45 ? -Infinity : Infinity;
  return FLOAT.test(text) ? Number(text) : null;
}
