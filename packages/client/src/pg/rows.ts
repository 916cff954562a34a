// pg/rows.ts
//
// A DataRow into the row the caller gets: each column's decoder (resolved once per result, see
// statements.ts) reads the column's bytes in place in the received chunk; nothing is copied or
// sliced per column. Objects are keyed by field name (a later column of the same name wins, as
// in pg); arrays are in column order.
//
// Discussion: one builder per result. `rowBuilder` is called once per result (its fields,
// decoders and row mode) and returns the function called per DataRow: nothing is looked up per
// value but the column's offsets. In rowMode 'array', a result of up to four columns keeps its
// decoders in the closure and makes each row with an array literal of its length (one folded
// allocation of a packed array, where a loop filling `new Array(count)` made a holey one in
// two): on the pg suite's rows workload (100 000 rows of an int4 and a 32-character text,
// apps/bench/src/profile/pg-workloads.ts) objects allocated per row went from 4.0 to 3.1, and
// a microbenchmark keeping 100 000 such rows builds them in about 0.8x the time. Wider
// results take a loop. Objects are copies (a spread) of a template with the result's
// properties in order (rowTemplate), then filled: V8 copies the template's shape, with exactly
// as many in-object properties as columns, where an empty literal `{}` has four spare slots
// and grows a property at a time (a 2-column row: 40 bytes instead of 56; built in about 0.6x
// the time in the same microbenchmark). The figures are in apps/bench/README.md. A builder is
// kept per decoders array (a WeakMap): making an object row's template costs about 1-1.5 µs,
// 2-3 % of a sequential query, paid once per prepared statement instead of once per query.

import type { PgDataRow } from '@curio-ts/proto-pg';
import { ClientError } from '../errors.js';
import type { PgField, PgRowMode } from './result.js';
import type { PgDecoder } from './statements.js';

/** Builds one result's row from a DataRow (made by {@link rowBuilder} once per result). */
export type RowBuilder = (data: PgDataRow) => unknown;

/** Column `k`'s value: offsets[2k] is where it starts (-1: NULL), offsets[2k + 1] where it ends. */
function value(decode: PgDecoder, bytes: Uint8Array, offsets: Int32Array, k: number): unknown {
  const start = offsets[k] as number;
  return start === -1 ? null : decode(bytes, start, offsets[k + 1] as number);
}

function checkCount(data: PgDataRow, count: number): void {
  if (data.columnCount !== count) throw new ClientError(`a DataRow of ${data.columnCount} columns for a result of ${count}`, 'ERR_PG_PROTOCOL');
}

/** The builders made for a decoders array (a prepared statement's serves all its executions), with the fields they were made for. */
interface Made {
  readonly fields: readonly PgField[];
  object: RowBuilder | null;
  array: RowBuilder | null;
}
const made = new WeakMap<readonly PgDecoder[], Made>();

/**
 * The builder of rows with these fields and decoders (one per column) in `rowMode`. A row is
 * decoded when built; a value its codec refuses throws (a PgDecodeError), as does a DataRow
 * whose column count is not the result's (ClientError ERR_PG_PROTOCOL). Made once per
 * decoders array and row mode: the executions of a prepared statement share its builders.
 */
export function rowBuilder(fields: readonly PgField[], decoders: readonly PgDecoder[], rowMode: PgRowMode): RowBuilder {
  let entry = made.get(decoders);
  if (entry === undefined || entry.fields !== fields) {
    entry = { fields, object: null, array: null };
    made.set(decoders, entry);
  }
  return (entry[rowMode] ??= makeRowBuilder(fields, decoders, rowMode));
}

function makeRowBuilder(fields: readonly PgField[], decoders: readonly PgDecoder[], rowMode: PgRowMode): RowBuilder {
  const count = decoders.length;
  if (rowMode === 'array') {
    const [d0, d1, d2, d3] = decoders as [PgDecoder, PgDecoder, PgDecoder, PgDecoder];
    switch (count) {
      case 0:
        return (data) => (checkCount(data, 0), []);
      case 1:
        return (data) => (checkCount(data, 1), [value(d0, data.bytes, data.offsets, 0)]);
      case 2:
        return (data) => {
          checkCount(data, 2);
          const { bytes, offsets } = data;
          return [value(d0, bytes, offsets, 0), value(d1, bytes, offsets, 2)];
        };
      case 3:
        return (data) => {
          checkCount(data, 3);
          const { bytes, offsets } = data;
          return [value(d0, bytes, offsets, 0), value(d1, bytes, offsets, 2), value(d2, bytes, offsets, 4)];
        };
      case 4:
        return (data) => {
          checkCount(data, 4);
          const { bytes, offsets } = data;
          return [value(d0, bytes, offsets, 0), value(d1, bytes, offsets, 2), value(d2, bytes, offsets, 4), value(d3, bytes, offsets, 6)];
        };
      default:
        return (data) => {
          checkCount(data, count);
          const { bytes, offsets } = data;
          const row = new Array<unknown>(count);
          for (let i = 0; i < count; i++) row[i] = value(decoders[i] as PgDecoder, bytes, offsets, 2 * i);
          return row;
        };
    }
  }
  const names = fields.slice(0, count).map((field) => field.name);
  const template = rowTemplate(names);
  return (data) => {
    checkCount(data, count);
    const { bytes, offsets } = data;
    const row: Record<string, unknown> = { ...template };
    for (let i = 0; i < count; i++) row[names[i] as string] = value(decoders[i] as PgDecoder, bytes, offsets, 2 * i);
    return row;
  };
}

/**
 * An object with a null property per name, in order (a repeated name once): the shape every
 * row of a result is copied from. JSON.parse makes its properties in-object with no spare
 * slots, and a spread copy keeps that shape: smaller and faster to fill than an empty literal
 * grown a property at a time (see the header). A name such as `__proto__` is an own property.
 */
function rowTemplate(names: readonly string[]): Record<string, unknown> {
  const entries: Record<string, null> = Object.create(null) as Record<string, null>;
  for (const name of names) Object.defineProperty(entries, name, { value: null, enumerable: true, writable: true, configurable: true });
  return JSON.parse(JSON.stringify(entries)) as Record<string, unknown>;
}
