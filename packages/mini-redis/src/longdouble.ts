// longdouble.ts
//
// INCRBYFLOAT as Redis computes it on x86-64: both operands read with strtold into an 80-bit
// long double (64-bit mantissa), added with one rounding, and printed with "%.17Lf" with the
// trailing zeros removed. Doubles would print 0.1 + 0.2 as 0.30000000000000004 where Redis
// prints 0.3, so the arithmetic is done exactly on BigInts and rounded the way the x87 unit
// does (to nearest, ties to even).
//
// A value is sign * mantissa * 2^exponent with mantissa < 2^64. The exponent range is checked
// against the long double's (beyond about 1.19e4932 is infinity); subnormals are not modelled.

const MANTISSA_BITS = 64n;
const MAX_EXPONENT = 16384;

interface LongDouble {
  readonly negative: boolean;
  readonly mantissa: bigint;
  readonly exponent: number;
}

/** Result of {@link incrByFloat}: the new value as Redis prints it, or why it failed. */
export type FloatResult = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: 'invalid-value' | 'not-finite' };

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const INFINITE = /^([+-]?)inf(?:inity)?$/i;

/** `current + increment` as Redis's INCRBYFLOAT computes and prints it. */
export function incrByFloat(current: string, increment: string): FloatResult {
  const a = parse(current);
  const b = parse(increment);
  if (a === null || b === null) return { ok: false, reason: 'invalid-value' };
  if (a === 'inf' || a === '-inf' || b === 'inf' || b === '-inf') return { ok: false, reason: 'not-finite' };
  const sum = add(a, b);
  if (sum === null) return { ok: false, reason: 'not-finite' };
  return { ok: true, text: format(sum) };
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Round `numerator / 2^shift` to nearest, ties to even (shift >= 0). */
function shiftRound(numerator: bigint, shift: number): bigint {
  if (shift <= 0) return numerator << BigInt(-shift);
  const s = BigInt(shift);
  const quotient = numerator >> s;
  const remainder = numerator - (quotient << s);
  const half = 1n << (s - 1n);
  if (remainder > half || (remainder === half && (quotient & 1n) === 1n)) return quotient + 1n;
  return quotient;
}

/** Round a non-negative exact integer scaled by 2^exponent to a 64-bit mantissa. */
function normalize(negative: boolean, value: bigint, exponent: number): LongDouble | null {
  if (value === 0n) return { negative, mantissa: 0n, exponent: 0 };
  const extra = bitLength(value) - Number(MANTISSA_BITS);
  let mantissa = value;
  let e = exponent;
  if (extra > 0) {
    mantissa = shiftRound(value, extra);
    e += extra;
    if (bitLength(mantissa) > Number(MANTISSA_BITS)) {
      mantissa >>= 1n;
      e += 1;
    }
  }
  if (e + bitLength(mantissa) > MAX_EXPONENT) return null;
  return { negative, mantissa, exponent: e };
}

/**
 * strtold of a whole string, or null if Redis would refuse it: not a number, NaN, or out of
 * the long double's range (strtold's ERANGE, which Redis's string2ld refuses). A literal
 * infinity is accepted (its sum is refused later).
 */
function parse(text: string): LongDouble | 'inf' | '-inf' | null {
  if (text.length === 0 || text.length >= 5 * 1024) return null;
  const infinite = INFINITE.exec(text);
  if (infinite !== null) return infinite[1] === '-' ? '-inf' : 'inf';
  const match = DECIMAL.exec(text);
  if (match === null) return null;
  const whole = match[2] ?? '';
  const fraction = match[3] ?? '';
  if (whole.length === 0 && fraction.length === 0) return null;
  const negative = match[1] === '-';
  const digits = BigInt(whole + fraction);
  if (digits === 0n) return { negative, mantissa: 0n, exponent: 0 };
  const decimalExponent = Number(match[4] ?? '0') - fraction.length;
  const magnitude = decimalExponent + (whole + fraction).replace(/^0+/, '').length;
  if (magnitude > 4934) return null; // overflows
  if (magnitude < -4952) return null; // underflows to zero
  if (decimalExponent >= 0) return normalize(negative, digits * 10n ** BigInt(decimalExponent), 0);
  // digits / 10^k: scale by 2^s so that the quotient has 66+ bits, then round once.
  const divisor = 10n ** BigInt(-decimalExponent);
  const shift = Math.max(0, bitLength(divisor) - bitLength(digits) + Number(MANTISSA_BITS) + 2);
  const scaled = digits << BigInt(shift);
  const quotient = scaled / divisor;
  const sticky = scaled % divisor === 0n ? 0n : 1n;
  // Keep a sticky bit below the quotient so that ties are only exact ties.
  return normalize(negative, (quotient << 1n) | sticky, -shift - 1);
}

function add(a: LongDouble, b: LongDouble): LongDouble | null {
  const exponent = Math.min(a.exponent, b.exponent);
  const av = (a.mantissa << BigInt(a.exponent - exponent)) * (a.negative ? -1n : 1n);
  const bv = (b.mantissa << BigInt(b.exponent - exponent)) * (b.negative ? -1n : 1n);
  const sum = av + bv;
  return normalize(sum < 0n, sum < 0n ? -sum : sum, exponent);
}

/** printf("%.17Lf") with trailing zeros (and a bare point) removed; "-0" becomes "0". */
function format(value: LongDouble): string {
  const scale = 10n ** 17n;
  let scaled: bigint;
  if (value.exponent >= 0) scaled = (value.mantissa << BigInt(value.exponent)) * scale;
  else scaled = shiftRound(value.mantissa * scale, -value.exponent);
  const whole = scaled / scale;
  let fraction = (scaled % scale).toString().padStart(17, '0').replace(/0+$/, '');
  const sign = value.negative && scaled !== 0n ? '-' : '';
  if (fraction.length > 0) fraction = `.${fraction}`;
  return `${sign}${whole}${fraction}`;
}
