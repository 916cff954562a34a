// pg/sql.ts
//
// The `sql` tagged template: `sql\`select * from t where id = ${id}\`` is a query whose every
// interpolated value is a parameter ($1, $2...), never text spliced into the SQL. What is not
// a value goes through explicit helpers: `sql.id('name')` or `sql.id('schema', 'table')` (a
// quoted identifier), `sql.in([1, 2, 3])` (a parenthesised list of parameters), `sql.join(parts,
// separator)`, and fragments made with `sql` compose (their parameters are numbered again).
//
// Invariants:
// - The SQL text of a query is made only of the template's literal parts, quoted identifiers,
//   parameter placeholders, and the literal parts of nested fragments: a value can never become
//   SQL text, whatever it is (a string that looks like a fragment, an object with a `text`).
// - Fragments are recognised by a private brand (a class with a private field), not by shape;
//   the literal parts must be a real template's (frozen, with `raw`), so `sql(['drop table x'])`
//   called by hand is refused.

import { InvalidArgumentError } from '../errors.js';

/** A piece of a query, before its parameters are numbered: literal SQL, a value, or an identifier. */
type Part = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'value'; readonly value: unknown };

const BRAND: unique symbol = Symbol('sql');

/** The parts of a fragment (the brand check: throws for anything that is not a real fragment). */
let partsOf: (fragment: SqlFragment) => readonly Part[];

/** A composable piece of SQL with its parameters. Make it with `sql`; run it with `client.query`. */
export class SqlFragment {
  /** The parts in order (brand-checked in {@link isSqlFragment}). */
  readonly #parts: readonly Part[];

  /** @internal Use `sql` and its helpers. */
  constructor(parts: readonly Part[], brand: typeof BRAND) {
    if (brand !== BRAND) throw new InvalidArgumentError('SqlFragment is made with the sql tag', 'ERR_BAD_ARGUMENT');
    this.#parts = parts;
  }

  static {
    partsOf = (fragment) => fragment.#parts;
  }

  /** The query text with $n placeholders, and its parameters in order. */
  toQuery(): { readonly text: string; readonly values: unknown[] } {
    let text = '';
    const values: unknown[] = [];
    for (const part of this.#parts) {
      if (part.kind === 'text') text += part.text;
      else {
        values.push(part.value);
        text += `$${values.length}`;
      }
    }
    return { text, values };
  }
}


/** Whether `value` is a fragment made by `sql` (not something shaped like one). */
export function isSqlFragment(value: unknown): value is SqlFragment {
  if (!(value instanceof SqlFragment)) return false;
  try {
    partsOf(value);
    return true;
  } catch {
    return false;
  }
}

function textPart(text: string): Part {
  return { kind: 'text', text };
}

/** Append `value` (a fragment's parts, or a parameter) to `parts`. */
function appendValue(parts: Part[], value: unknown): void {
  if (isSqlFragment(value)) {
    for (const part of partsOf(value)) parts.push(part);
    return;
  }
  parts.push({ kind: 'value', value });
}

/** Quote one identifier: doubled double quotes, no NUL, not empty. */
function quoteIdentifier(name: unknown): string {
  if (typeof name !== 'string' || name === '' || name.includes('\0')) {
    throw new InvalidArgumentError(`an identifier must be a non-empty string without NUL, not ${typeof name === 'string' ? JSON.stringify(name) : typeof name}`, 'ERR_BAD_ARGUMENT');
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** The tag: a fragment whose interpolated values are parameters (see the file header). */
function tag(strings: TemplateStringsArray, ...values: unknown[]): SqlFragment {
  if (!Array.isArray(strings) || !Array.isArray((strings as { raw?: unknown }).raw) || !Object.isFrozen(strings) || strings.length !== values.length + 1) {
    throw new InvalidArgumentError('sql is a template tag: sql`select ${value}`', 'ERR_BAD_ARGUMENT');
  }
  const parts: Part[] = [];
  for (let i = 0; i < values.length; i++) {
    const literal = strings[i] as string;
    if (literal !== '') parts.push(textPart(literal));
    appendValue(parts, values[i]);
  }
  const last = strings[values.length] as string;
  if (last !== '') parts.push(textPart(last));
  return new SqlFragment(parts, BRAND);
}

/** The `sql` tag and its helpers. */
export interface SqlTag {
  /** A query or fragment: every interpolated value is a parameter; interpolated fragments compose. */
  (strings: TemplateStringsArray, ...values: unknown[]): SqlFragment;
  /** A quoted identifier: `sql.id('t')` is `"t"`, `sql.id('s', 't')` is `"s"."t"`. */
  id(...names: string[]): SqlFragment;
  /** A parenthesised list of parameters for IN: `sql.in([1, 2])` is `($1, $2)`. Refuses an empty list (IN () is not SQL). */
  in(values: readonly unknown[]): SqlFragment;
  /** Fragments (or values, as parameters) joined by `separator` (a fragment, default `, `). */
  join(items: readonly unknown[], separator?: SqlFragment): SqlFragment;
  /** The empty fragment (for conditional parts: `${cond ? sql\`and x = ${x}\` : sql.empty}`). */
  readonly empty: SqlFragment;
}

const COMMA = new SqlFragment([textPart(', ')], BRAND);

/** The `sql` tagged template (see the file header). */
export const sql: SqlTag = Object.assign(tag, {
  id(...names: string[]): SqlFragment {
    if (names.length === 0) throw new InvalidArgumentError('sql.id needs a name', 'ERR_BAD_ARGUMENT');
    return new SqlFragment([textPart(names.map(quoteIdentifier).join('.'))], BRAND);
  },
  in(values: readonly unknown[]): SqlFragment {
    if (!Array.isArray(values) || values.length === 0) throw new InvalidArgumentError('sql.in needs a non-empty array (IN () is not SQL; use = any($1) with an array for lists that may be empty)', 'ERR_BAD_ARGUMENT');
    const parts: Part[] = [textPart('(')];
    values.forEach((value, i) => {
      if (i > 0) parts.push(textPart(', '));
      appendValue(parts, value);
    });
    parts.push(textPart(')'));
    return new SqlFragment(parts, BRAND);
  },
  join(items: readonly unknown[], separator: SqlFragment = COMMA): SqlFragment {
    if (!isSqlFragment(separator)) throw new InvalidArgumentError('the separator of sql.join must be a fragment made with sql', 'ERR_BAD_ARGUMENT');
    const parts: Part[] = [];
    items.forEach((item, i) => {
      if (i > 0) appendValue(parts, separator);
      appendValue(parts, item);
    });
    return new SqlFragment(parts, BRAND);
  },
  empty: new SqlFragment([], BRAND),
});
