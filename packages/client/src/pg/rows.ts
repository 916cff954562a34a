// pg/rows.ts
//
// A DataRow into the row the caller gets: each column's decoder (resolved once per result, see
// statements.ts) reads the column's bytes in place in the received chunk; nothing is copied or
// sliced per column. Objects are keyed by field name (a later column of the same name wins, as
// in pg); arrays are in column order.

import type { PgDataRow } from '@curio-ts/proto-pg';
import { ClientError } from '../errors.js';
import type { PgField, PgRowMode } from './result.js';
import type { PgDecoder } from './statements.js';

/** The row `data` describes, decoded. Throws (a PgDecodeError) for a value its codec refuses. */
export function buildRow(data: PgDataRow, fields: readonly PgField[], decoders: readonly PgDecoder[], rowMode: PgRowMode): unknown {
  const count = data.columnCount;
  if (count !== decoders.length) throw new ClientError(`a DataRow of ${count} columns for a result of ${decoders.length}`, 'ERR_PG_PROTOCOL');
  const bytes = data.bytes;
  const offsets = data.offsets;
  if (rowMode === 'array') {
    const row = new Array<unknown>(count);
    for (let i = 0; i < count; i++) {
      const start = offsets[2 * i] as number;
      row[i] = start === -1 ? null : (decoders[i] as PgDecoder)(bytes, start, offsets[2 * i + 1] as number);
    }
    return row;
  }
  const row: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    const start = offsets[2 * i] as number;
    row[(fields[i] as PgField).name] = start === -1 ? null : (decoders[i] as PgDecoder)(bytes, start, offsets[2 * i + 1] as number);
  }
  return row;
}
