// options.ts
//
// How the registry maps values that JavaScript cannot hold exactly. Chosen per client.

/**
 * Options of a {@link TypeRegistry}: how values without an exact JavaScript equivalent map.
 *
 * - `int8`: 'bigint' (default, exact), 'string' (exact, the server's text), or 'number'
 *   (exact or a PgDecodeError when outside ±2^53-1: never silently rounded).
 * - `dates`: 'date' (default) maps date, timestamp and timestamptz to a JavaScript Date
 *   (milliseconds: microseconds are truncated toward the earlier instant; a date is UTC
 *   midnight; a timestamp without time zone is read as UTC wall-clock time; 'infinity' and
 *   '-infinity' become the numbers Infinity and -Infinity; BC years are years <= 0 (1 BC is year
 *   0); values outside a Date's range, ±273 790 years around 1970, are a PgDecodeError).
 *   'string' gives the server's ISO text exactly (binary values are printed as the server would
 *   with DateStyle ISO and TimeZone UTC). time and timetz are always strings.
 * - `intervals`: 'object' (default) gives a {@link PgInterval} (months, days, microseconds);
 *   'string' the server's text (IntervalStyle postgres).
 *
 * Text decoding of dates, times and intervals expects the server's defaults DateStyle 'ISO, MDY'
 * and IntervalStyle 'postgres'; the client sets them at startup.
 */
export interface TypeOptions {
  readonly int8?: 'bigint' | 'string' | 'number';
  readonly dates?: 'date' | 'string';
  readonly intervals?: 'object' | 'string';
}

/** An interval as PostgreSQL stores it: months, days and microseconds, each with its own sign. */
export interface PgInterval {
  /** Months (years are 12 months). */
  readonly months: number;
  /** Days. */
  readonly days: number;
  /** Microseconds (hours, minutes, seconds and fractions); a safe integer. */
  readonly microseconds: number;
}
