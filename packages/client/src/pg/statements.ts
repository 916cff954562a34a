// pg/statements.ts
//
// The prepared-statement cache of one connection: statements named by the client ('q1',
// 'q2'...) and keyed by their SQL text, kept most recently used last (a Map's order), at most
// `limit` of them; the least recently used is closed on the server when one more is needed.
//
// Invariants:
// - A statement is in the cache from the moment its Parse is written: a query with the same
//   text sent in the same burst binds it at once (the server handles messages in order), so
//   concurrent identical queries are parsed once.
// - A statement whose Parse failed is marked `failed` and taken out: the queries pipelined
//   behind it that bound it fail with the Parse's error, not with "prepared statement does not
//   exist".
// - A statement is only closed (Close, by name) when no query in flight uses it.
// - Its result fields, decoders and parameter types are learned from the Describe of its first
//   execution, and used for every later one (binary results where the registry prefers them,
//   parameters encoded for their declared types).
//
// Discussion: why text, not text + types. Parameter types are never declared in Parse except
// where the value says (a Uint8Array is bytea), so two queries of the same text share one
// statement; the server infers the rest and says so in ParameterDescription.

import type { PgField } from './result.js';

/** A decoder of one column's values (bytes [start, end) of a row). */
export type PgDecoder = (bytes: Uint8Array, start: number, end: number) => unknown;

/** A statement prepared on one connection. */
export class PreparedStatement {
  /** Parameter type OIDs from ParameterDescription (null until it came). */
  paramTypes: readonly number[] | null = null;
  /** Result fields from the statement's Describe, all in text (null until it came; empty: no rows). */
  textFields: PgField[] | null = null;
  /** Text decoders per column (for executions bound before the Describe came). */
  textDecoders: PgDecoder[] | null = null;
  /** Result format per column for later executions (binary where the registry prefers it). */
  resultFormats: (0 | 1)[] | null = null;
  /** The fields in those formats, and their decoders. */
  fields: PgField[] | null = null;
  decoders: PgDecoder[] | null = null;
  /** The Parse failed with this error (the statement does not exist on the server). */
  failed: Error | null = null;
  /** Queries in flight that use it. */
  users = 0;

  constructor(
    /** Its name on the server. */
    readonly name: string,
    /** Its SQL text. */
    readonly text: string,
  ) {}
}

/** A connection's statements by text (see the file header). */
export class StatementCache {
  private readonly byText = new Map<string, PreparedStatement>();
  private counter = 0;

  constructor(private readonly limit: number) {}

  /** The statement of `text`, marked most recently used; undefined when none. */
  get(text: string): PreparedStatement | undefined {
    const statement = this.byText.get(text);
    if (statement !== undefined && this.byText.size > 1) {
      this.byText.delete(text);
      this.byText.set(text, statement);
    }
    return statement;
  }

  /**
   * A new statement for `text` (the caller writes its Parse), or null when the cache holds no
   * statements (limit 0). `evict` is called with the statements to close on the server.
   */
  add(text: string, evict: (statement: PreparedStatement) => void): PreparedStatement | null {
    if (this.limit === 0) return null;
    while (this.byText.size >= this.limit) {
      let victim: PreparedStatement | undefined;
      for (const candidate of this.byText.values()) {
        if (candidate.users === 0) {
          victim = candidate;
          break;
        }
      }
      if (victim === undefined) return null; // every statement is in use: run this one unnamed
      this.byText.delete(victim.text);
      evict(victim);
    }
    const statement = new PreparedStatement(`q${++this.counter}`, text);
    this.byText.set(text, statement);
    return statement;
  }

  /** Take `statement` out (its Parse failed, or its plan changed); the caller closes it if needed. */
  remove(statement: PreparedStatement): void {
    if (this.byText.get(statement.text) === statement) this.byText.delete(statement.text);
  }

  /** How many statements are kept. */
  get size(): number {
    return this.byText.size;
  }
}
