// datetime.ts
//
// date, time, timetz, timestamp, timestamptz and interval, text and binary.
//
// The mapping (TypeOptions.dates): 'date' gives JavaScript Dates for date, timestamp and
// timestamptz; 'string' gives the server's ISO text. time and timetz are always strings
// ('13:45:00.5', '13:45:00+02'); interval is a PgInterval or its text (TypeOptions.intervals).
// - A Date holds milliseconds: microseconds are truncated toward the earlier instant. Ask for
//   strings to keep them.
// - timestamp (without time zone) reads as UTC wall-clock time, and a date as UTC midnight:
//   the same value on every host, whatever its time zone (`getUTC*` give the fields back).
// - 'infinity' and '-infinity' are the numbers Infinity and -Infinity.
// - BC years are astronomical years <= 0 in a Date (1 BC is year 0); the calendar is the
//   proleptic Gregorian one, as in PostgreSQL.
// - Values a Date cannot hold (beyond ±8.64e15 ms around 1970, years past 275 760) are a
//   PgDecodeError naming the 'string' option.
//
// Discussion: text decoding reads DateStyle ISO output ('2024-01-02 03:04:05.123456+05:30 BC',
// years of 4 or more digits, zone offsets with optional minutes and seconds, as the server prints
// for local mean time before 1900). The binary formats count microseconds (int64) or days (int32)
// from 2000-01-01; their extremes mean infinity. Binary values outside ±2^53 microseconds
// (before 1715, after 2285) are computed with bigint; all others with numbers.

import type { PgCodec } from './codec.js';
import { binaryOut, expectLength, readInt32, readInt64Big, readInt64Safe, readUint32 } from './codec.js';
import { PgDecodeError, PgEncodeError } from './errors.js';
import { PgOid } from './oids.js';
import type { PgInterval } from './options.js';
import { asciiText } from './text.js';

const MS_PER_DAY = 86_400_000;
const US_PER_DAY = 86_400_000_000;
const US_PER_DAY_BIG = 86_400_000_000n;
/** Days from 1970-01-01 to 2000-01-01, the PostgreSQL epoch. */
const EPOCH_DAYS = 10_957;
const EPOCH_MS = EPOCH_DAYS * MS_PER_DAY;
/** The largest |time value| of a Date, in milliseconds. */
const DATE_LIMIT_MS = 8.64e15;

// ---- the calendar -------------------------------------------------------------------------

/** Days since 1970-01-01 of a proleptic Gregorian date (astronomical year). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The proleptic Gregorian date (astronomical year, month 1-12, day) of days since 1970-01-01. */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** 'YYYY-MM-DD' of days since 1970 with ' BC' kept apart: [date, bc]. */
function formatDays(days: number): [string, boolean] {
  const [year, month, day] = civilFromDays(days);
  const bc = year <= 0;
  return [`${String(bc ? 1 - year : year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}`, bc];
}

/** 'HH:MM:SS[.ffffff]' of microseconds within a day (trailing zeros of the fraction dropped). */
export function formatTimeOfDay(micros: number): string {
  const seconds = Math.floor(micros / 1e6);
  const fraction = micros - seconds * 1e6;
  let text = `${pad2(Math.floor(seconds / 3600))}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}`;
  if (fraction > 0) text += '.' + String(fraction).padStart(6, '0').replace(/0+$/, '');
  return text;
}

/** A zone offset as the server prints it: '+HH', '+HH:MM' or '+HH:MM:SS' (east positive). */
function formatOffset(eastSeconds: number): string {
  const sign = eastSeconds < 0 ? '-' : '+';
  const abs = Math.abs(eastSeconds);
  let text = sign + pad2(Math.floor(abs / 3600));
  const minutes = Math.floor(abs / 60) % 60;
  const seconds = abs % 60;
  if (minutes !== 0 || seconds !== 0) text += ':' + pad2(minutes);
  if (seconds !== 0) text += ':' + pad2(seconds);
  return text;
}

// ---- text parsing -------------------------------------------------------------------------

/** What parseTimestampText found: days since 1970, microseconds of the day, zone east in seconds. */
interface ParsedTimestamp {
  days: number;
  micros: number;
  offset: number;
}
const parsed: ParsedTimestamp = { days: 0, micros: 0, offset: 0 };

/** A cursor over ASCII bytes for the datetime texts; failures throw PgDecodeError. */
class Cursor {
  at = 0;
  private name = '';
  private bytes: Uint8Array = new Uint8Array(0);
  private end = 0;

  /** Points the cursor at bytes [start, end) of a value of type `name`. */
  reset(name: string, bytes: Uint8Array, start: number, end: number): this {
    this.name = name;
    this.bytes = bytes;
    this.at = start;
    this.end = end;
    return this;
  }

  fail(): never {
    throw new PgDecodeError(this.name, 0, 'not in the ISO format');
  }

  /** An unsigned decimal of between `min` and `max` digits. */
  digits(min: number, max: number): number {
    let value = 0;
    let count = 0;
    while (this.at < this.end && count < max) {
      const d = (this.bytes[this.at] as number) - 0x30;
      if (d < 0 || d > 9) break;
      value = value * 10 + d;
      this.at++;
      count++;
    }
    if (count < min) this.fail();
    return value;
  }

  /** Consumes `c` if it is next. */
  accept(c: number): boolean {
    if (this.at < this.end && this.bytes[this.at] === c) {
      this.at++;
      return true;
    }
    return false;
  }

  expect(c: number): void {
    if (!this.accept(c)) this.fail();
  }

  /** The fraction after a '.', as microseconds (up to 6 digits; more is an error). */
  fraction(): number {
    const from = this.at;
    let value = this.digits(1, 6);
    for (let n = this.at - from; n < 6; n++) value *= 10;
    return value;
  }

  /** HH:MM:SS[.ffffff] as microseconds. */
  time(): number {
    const hours = this.digits(2, 2);
    this.expect(0x3a);
    const minutes = this.digits(2, 2);
    this.expect(0x3a);
    const seconds = this.digits(2, 2);
    const micros = this.accept(0x2e) ? this.fraction() : 0;
    if (minutes > 59 || seconds > 60 || hours * 3600 + minutes * 60 + seconds > 86_400) this.fail();
    return (hours * 3600 + minutes * 60 + seconds) * 1e6 + micros;
  }

  /** [+-]HH[:MM[:SS]] as seconds east of UTC. */
  offset(): number {
    const c = this.bytes[this.at];
    if (c !== 0x2b && c !== 0x2d) this.fail();
    this.at++;
    let seconds = this.digits(2, 2) * 3600;
    if (this.accept(0x3a)) {
      seconds += this.digits(2, 2) * 60;
      if (this.accept(0x3a)) seconds += this.digits(2, 2);
    }
    return c === 0x2d ? -seconds : seconds;
  }

  /** ' BC' at the end, or nothing. */
  era(): boolean {
    if (this.at === this.end) return false;
    if (this.end - this.at === 3 && this.bytes[this.at] === 0x20 && this.bytes[this.at + 1] === 0x42 && this.bytes[this.at + 2] === 0x43) {
      this.at = this.end;
      return true;
    }
    return this.fail();
  }
}

/** One cursor for every parse (parsing never re-enters); it lets go of the bytes after each. */
const sharedCursor = new Cursor();
const NO_BYTES = new Uint8Array(0);

/** Is bytes [start, end) exactly `word` (ASCII)? */
function isWord(bytes: Uint8Array, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[start + i] !== word.charCodeAt(i)) return false;
  return true;
}

/** ±Infinity for 'infinity' / '-infinity', else 0. */
function infinityText(bytes: Uint8Array, start: number, end: number): number {
  if (isWord(bytes, start, end, 'infinity')) return Infinity;
  if (isWord(bytes, start, end, '-infinity')) return -Infinity;
  return 0;
}

/** Parses a date (kind 'date'), timestamp or timestamptz text into `parsed`. */
function parseText(name: string, bytes: Uint8Array, start: number, end: number, kind: 'date' | 'timestamp' | 'timestamptz'): void {
  const cursor = sharedCursor.reset(name, bytes, start, end);
  try {
    parseFields(cursor, kind);
  } finally {
    // Let go of the received bytes.
    cursor.reset('', NO_BYTES, 0, 0);
  }
}

function parseFields(cursor: Cursor, kind: 'date' | 'timestamp' | 'timestamptz'): void {
  const year = cursor.digits(4, 9);
  cursor.expect(0x2d);
  const month = cursor.digits(2, 2);
  cursor.expect(0x2d);
  const day = cursor.digits(2, 2);
  let micros = 0;
  let offset = 0;
  if (kind !== 'date') {
    cursor.expect(0x20);
    micros = cursor.time();
    if (kind === 'timestamptz') offset = cursor.offset();
  }
  const bc = cursor.era();
  if (month < 1 || month > 12 || day < 1 || day > 31 || year === 0) cursor.fail();
  parsed.days = daysFromCivil(bc ? 1 - year : year, month, day);
  parsed.micros = micros;
  parsed.offset = offset;
}

// ---- Dates --------------------------------------------------------------------------------

function toDate(name: string, format: 0 | 1, ms: number): Date {
  if (!(Math.abs(ms) <= DATE_LIMIT_MS)) throw new PgDecodeError(name, format, "outside the range of a JavaScript Date (use the dates: 'string' option)");
  return new Date(ms);
}

/** Microseconds since 2000-01-01 of the 8 bytes at `start`: a number, a bigint, or ±Infinity. */
function readTimestamp(bytes: Uint8Array, start: number): number | bigint {
  const high = readInt32(bytes, start);
  const low = readUint32(bytes, start + 4);
  if (high === 0x7fffffff && low === 0xffffffff) return Infinity;
  if (high === -0x80000000 && low === 0) return -Infinity;
  return readInt64Safe(bytes, start) ?? readInt64Big(bytes, start);
}

/** [days since 1970, microseconds of the day] of microseconds since 2000. */
function splitMicros(micros: number | bigint): [number, number] {
  if (typeof micros === 'number') {
    const days = Math.floor(micros / US_PER_DAY);
    return [days + EPOCH_DAYS, micros - days * US_PER_DAY];
  }
  let days = micros / US_PER_DAY_BIG;
  let rest = micros % US_PER_DAY_BIG;
  if (rest < 0n) {
    days -= 1n;
    rest += US_PER_DAY_BIG;
  }
  return [Number(days) + EPOCH_DAYS, Number(rest)];
}

/** Milliseconds since 1970 of microseconds since 2000 (truncated toward the earlier instant). */
function millisOf(micros: number | bigint): number {
  if (typeof micros === 'number') return Math.floor(micros / 1000) + EPOCH_MS;
  const [days, rest] = splitMicros(micros);
  return days * MS_PER_DAY + Math.floor(rest / 1000);
}

/** The server's ISO text of a timestamp (microseconds since 2000); `zone` appends '+00'. */
function formatTimestamp(micros: number | bigint, zone: boolean): string {
  if (micros === Infinity) return 'infinity';
  if (micros === -Infinity) return '-infinity';
  const [days, rest] = splitMicros(micros);
  const [date, bc] = formatDays(days);
  return `${date} ${formatTimeOfDay(rest)}${zone ? '+00' : ''}${bc ? ' BC' : ''}`;
}

type DateValue = Date | number | string;

function timestampCodec(kind: 'timestamp' | 'timestamptz', mode: 'date' | 'string'): PgCodec<DateValue> {
  const zone = kind === 'timestamptz';
  const oid = zone ? PgOid.timestamptz : PgOid.timestamp;
  const arrayOid = zone ? PgOid._timestamptz : PgOid._timestamp;
  const encode = {
    encodeText: (value: DateValue) => timestampParamText(kind, value),
    encodeBinary: (value: DateValue) => timestampParamBinary(kind, value),
  };
  if (mode === 'string') {
    return {
      name: kind,
      oid,
      arrayOid,
      preferBinary: false,
      decodeText: asciiText,
      decodeBinary(bytes, start, end) {
        expectLength(kind, start, end, 8);
        return formatTimestamp(readTimestamp(bytes, start), zone);
      },
      ...encode,
    };
  }
  return {
    name: kind,
    oid,
    arrayOid,
    preferBinary: true,
    decodeText(bytes, start, end) {
      const infinity = infinityText(bytes, start, end);
      if (infinity !== 0) return infinity;
      parseText(kind, bytes, start, end, kind);
      return toDate(kind, 0, parsed.days * MS_PER_DAY + Math.floor(parsed.micros / 1000) - parsed.offset * 1000);
    },
    decodeBinary(bytes, start, end) {
      expectLength(kind, start, end, 8);
      const micros = readTimestamp(bytes, start);
      if (typeof micros === 'number' && !Number.isFinite(micros)) return micros;
      return toDate(kind, 1, millisOf(micros));
    },
    ...encode,
  };
}

/** Milliseconds of a Date parameter, or ±Infinity; anything else is an encode error. */
function dateParamMillis(name: string, value: unknown): number {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new PgEncodeError(name, 'an invalid Date');
    return ms;
  }
  if (value === Infinity || value === -Infinity) return value;
  throw new PgEncodeError(name, 'not a Date, a string or ±Infinity');
}

function timestampParamText(kind: 'timestamp' | 'timestamptz', value: unknown): string {
  if (typeof value === 'string') return value;
  const ms = dateParamMillis(kind, value);
  if (ms === Infinity) return 'infinity';
  if (ms === -Infinity) return '-infinity';
  const micros = (ms - EPOCH_MS) * 1000;
  return formatTimestamp(Number.isSafeInteger(micros) ? micros : BigInt(ms - EPOCH_MS) * 1000n, kind === 'timestamptz');
}

function timestampParamBinary(kind: 'timestamp' | 'timestamptz', value: unknown): Uint8Array {
  if (typeof value === 'string') throw new PgEncodeError(kind, 'a string is sent as text');
  const ms = dateParamMillis(kind, value);
  const { bytes, view } = binaryOut(8);
  if (ms === Infinity) view.setBigInt64(0, 2n ** 63n - 1n);
  else if (ms === -Infinity) view.setBigInt64(0, -(2n ** 63n));
  else view.setBigInt64(0, BigInt(ms - EPOCH_MS) * 1000n);
  return bytes;
}

// ---- date ---------------------------------------------------------------------------------

function formatDate(days: number): string {
  const [date, bc] = formatDays(days);
  return bc ? date + ' BC' : date;
}

function dateCodec(mode: 'date' | 'string'): PgCodec<DateValue> {
  const readDays = (bytes: Uint8Array, start: number, end: number): number => {
    expectLength('date', start, end, 4);
    const days = readInt32(bytes, start);
    if (days === 0x7fffffff) return Infinity;
    if (days === -0x80000000) return -Infinity;
    return days + EPOCH_DAYS;
  };
  const encode = {
    encodeText(value: DateValue): string {
      if (typeof value === 'string') return value;
      const ms = dateParamMillis('date', value);
      if (!Number.isFinite(ms)) return ms > 0 ? 'infinity' : '-infinity';
      return formatDate(Math.floor(ms / MS_PER_DAY));
    },
    encodeBinary(value: DateValue): Uint8Array {
      if (typeof value === 'string') throw new PgEncodeError('date', 'a string is sent as text');
      const ms = dateParamMillis('date', value);
      const days = ms === Infinity ? 0x7fffffff : ms === -Infinity ? -0x80000000 : Math.floor(ms / MS_PER_DAY) - EPOCH_DAYS;
      return new Uint8Array([(days >>> 24) & 0xff, (days >> 16) & 0xff, (days >> 8) & 0xff, days & 0xff]);
    },
  };
  const base = { name: 'date', oid: PgOid.date, arrayOid: PgOid._date, ...encode };
  if (mode === 'string') {
    return {
      ...base,
      decodeText: asciiText,
      decodeBinary(bytes, start, end) {
        const days = readDays(bytes, start, end);
        if (!Number.isFinite(days)) return days > 0 ? 'infinity' : '-infinity';
        return formatDate(days);
      },
    };
  }
  return {
    ...base,
    preferBinary: true,
    decodeText(bytes, start, end) {
      const infinity = infinityText(bytes, start, end);
      if (infinity !== 0) return infinity;
      parseText('date', bytes, start, end, 'date');
      return toDate('date', 0, parsed.days * MS_PER_DAY);
    },
    decodeBinary(bytes, start, end) {
      const days = readDays(bytes, start, end);
      if (!Number.isFinite(days)) return days;
      return toDate('date', 1, days * MS_PER_DAY);
    },
  };
}

// ---- time, timetz -------------------------------------------------------------------------

function timeParam(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new PgEncodeError(name, 'not a string');
  return value;
}

/** Microseconds of a binary time, checked to lie within a day. */
function readTime(name: string, bytes: Uint8Array, start: number): number {
  const micros = readInt64Safe(bytes, start);
  if (micros === null || micros < 0 || micros > US_PER_DAY) throw new PgDecodeError(name, 1, 'not a time of day');
  return micros;
}

export const timeCodec: PgCodec<string> = {
  name: 'time',
  oid: PgOid.time,
  arrayOid: PgOid._time,
  decodeText: asciiText,
  decodeBinary(bytes, start, end) {
    expectLength('time', start, end, 8);
    return formatTimeOfDay(readTime('time', bytes, start));
  },
  encodeText: (value) => timeParam('time', value),
};

export const timetzCodec: PgCodec<string> = {
  name: 'timetz',
  oid: PgOid.timetz,
  arrayOid: PgOid._timetz,
  decodeText: asciiText,
  decodeBinary(bytes, start, end) {
    expectLength('timetz', start, end, 12);
    const micros = readTime('timetz', bytes, start);
    // The zone is stored in seconds west of UTC.
    const west = readInt32(bytes, start + 8);
    if (west < -86_400 || west > 86_400) throw new PgDecodeError('timetz', 1, 'zone offset out of range');
    return formatTimeOfDay(micros) + formatOffset(-west);
  },
  encodeText: (value) => timeParam('timetz', value),
};

// ---- interval -----------------------------------------------------------------------------

/** The server's text of an interval (IntervalStyle postgres). */
export function formatInterval(interval: PgInterval): string {
  const parts: string[] = [];
  let negativeBefore = false;
  const add = (value: number, unit: string): void => {
    if (value === 0) return;
    parts.push(`${negativeBefore && value > 0 ? '+' : ''}${value} ${unit}${value !== 1 ? 's' : ''}`);
    negativeBefore = value < 0;
  };
  add(Math.trunc(interval.months / 12), 'year');
  add(interval.months % 12, 'mon');
  add(interval.days, 'day');
  const micros = interval.microseconds;
  if (parts.length === 0 || micros !== 0) {
    const abs = Math.abs(micros);
    const seconds = Math.floor(abs / 1e6);
    const fraction = abs - seconds * 1e6;
    let time = `${micros < 0 ? '-' : negativeBefore ? '+' : ''}${pad2(Math.floor(seconds / 3600))}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}`;
    if (fraction > 0) time += '.' + String(fraction).padStart(6, '0').replace(/0+$/, '');
    parts.push(time);
  }
  return parts.join(' ');
}

const INTERVAL_UNITS: Record<string, [number, number]> = {
  year: [12, 0],
  years: [12, 0],
  mon: [1, 0],
  mons: [1, 0],
  day: [0, 1],
  days: [0, 1],
};

/** An interval's text (IntervalStyle postgres) as months, days and microseconds. */
function parseInterval(bytes: Uint8Array, start: number, end: number): PgInterval {
  if (end - start > 256) throw new PgDecodeError('interval', 0, 'too long');
  const fail = (): never => {
    throw new PgDecodeError('interval', 0, 'not in the postgres IntervalStyle');
  };
  const words = asciiText(bytes, start, end).split(' ');
  let months = 0;
  let days = 0;
  let microseconds = 0;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word.includes(':')) {
      const match = /^([+-]?)(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(word);
      if (match === null || i !== words.length - 1) return fail();
      const magnitude = ((Number(match[2]) * 60 + Number(match[3])) * 60 + Number(match[4])) * 1e6 + Number((match[5] ?? '').padEnd(6, '0'));
      microseconds = match[1] === '-' ? -magnitude : magnitude;
      continue;
    }
    const unit = INTERVAL_UNITS[words[i + 1] ?? ''];
    if (!/^[+-]?\d+$/.test(word) || unit === undefined) return fail();
    const value = Number(word);
    months += value * unit[0];
    days += value * unit[1];
    i++;
  }
  if (!Number.isSafeInteger(microseconds)) throw new PgDecodeError('interval', 0, "microseconds beyond 2^53 (use the intervals: 'string' option)");
  return { months, days, microseconds };
}

function intervalParam(value: unknown): PgInterval {
  if (typeof value === 'object' && value !== null) {
    const { months, days, microseconds } = value as Partial<PgInterval>;
    if (Number.isInteger(months) && Number.isInteger(days) && Number.isSafeInteger(microseconds)) return value as PgInterval;
  }
  throw new PgEncodeError('interval', 'not a string nor { months, days, microseconds } integers');
}

function intervalCodec(mode: 'object' | 'string'): PgCodec<PgInterval | string> {
  const readBinary = (bytes: Uint8Array, start: number, end: number): [number | bigint, number, number] => {
    expectLength('interval', start, end, 16);
    return [readInt64Safe(bytes, start) ?? readInt64Big(bytes, start), readInt32(bytes, start + 8), readInt32(bytes, start + 12)];
  };
  return {
    name: 'interval',
    oid: PgOid.interval,
    arrayOid: PgOid._interval,
    preferBinary: mode === 'object',
    decodeText: mode === 'string' ? asciiText : parseInterval,
    decodeBinary(bytes, start, end) {
      const [micros, days, months] = readBinary(bytes, start, end);
      if (typeof micros === 'bigint') {
        if (mode === 'object') throw new PgDecodeError('interval', 1, "microseconds beyond 2^53 (use the intervals: 'string' option)");
        return formatBigInterval(micros, days, months);
      }
      const interval = { months, days, microseconds: micros };
      return mode === 'string' ? formatInterval(interval) : interval;
    },
    encodeText: (value) => (typeof value === 'string' ? value : formatInterval(intervalParam(value))),
    encodeBinary(value) {
      const interval = intervalParam(value);
      const { bytes, view } = binaryOut(16);
      view.setBigInt64(0, BigInt(interval.microseconds));
      view.setInt32(8, interval.days);
      view.setInt32(12, interval.months);
      return bytes;
    },
  };
}

/** The text of an interval whose microseconds need a bigint (hours beyond 2^53 / 3.6e9). */
function formatBigInterval(micros: bigint, days: number, months: number): string {
  const abs = micros < 0n ? -micros : micros;
  const hours = abs / 3_600_000_000n;
  const rest = Number(abs % 3_600_000_000n);
  const head = formatInterval({ months, days, microseconds: 0 });
  const prefix = months === 0 && days === 0 ? '' : head + ' ';
  const negativeBefore = /(^|\s)-\d+ \w+$/.test(head) && prefix !== '';
  const time = formatTimeOfDay(rest).slice(2);
  return `${prefix}${micros < 0n ? '-' : negativeBefore ? '+' : ''}${hours}${time}`;
}

/** The date, timestamp, timestamptz and interval codecs for the given options. */
export function dateTimeCodecs(dates: 'date' | 'string', intervals: 'object' | 'string'): PgCodec[] {
  return [dateCodec(dates), timestampCodec('timestamp', dates), timestampCodec('timestamptz', dates), intervalCodec(intervals), timeCodec, timetzCodec] as PgCodec[];
}
