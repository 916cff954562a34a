// pg/result.ts
//
// What a query gives back: rows (objects keyed by column name, or arrays with rowMode
// 'array'), the fields, the command tag and the row count.

/** How rows are delivered: objects keyed by column name (default) or arrays in column order. */
export type PgRowMode = 'object' | 'array';

import type { PgField } from '@curio-ts/proto-pg';

/** One column of a result: the RowDescription's field (proto-pg's PgField). */
export type { PgField };

/** A row as an object keyed by column name (a later column of the same name wins). */
export type PgRow = Record<string, unknown>;

/** The result of one statement. */
export interface PgResult<R = PgRow> {
  /** The rows (objects, or arrays with rowMode 'array'). */
  readonly rows: R[];
  /** The columns (empty for a statement that returns no rows). */
  readonly fields: readonly PgField[];
  /** The command tag's verb: 'SELECT', 'INSERT', 'UPDATE', 'CREATE TABLE'... ('' for an empty query). */
  readonly command: string;
  /** Rows returned, or affected for INSERT, UPDATE, DELETE, MERGE, COPY (0 when the tag has no count). */
  readonly rowCount: number;
}
