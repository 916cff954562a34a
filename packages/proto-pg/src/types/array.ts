// array.ts
//
// Arrays of any codec's type, text and binary, as nested JavaScript arrays (one level per
// dimension; NULL elements are null; an empty array is []). Lower bounds other than 1
// ('[0:2]={1,2,3}') are read and dropped: JavaScript arrays start at 0 whatever the server's
// first index. Parameters are encoded from nested arrays (rectangular, as the server requires).
//
// Invariants:
// - Linear and bounded: the text parser reads each byte once (an explicit stack, depth at most
//   MAX_DIMENSIONS, as the server's MAXDIM); the binary reader checks every element length
//   against the bytes left, and the dimensions' product against the bytes present before
//   building anything, so a header claiming 2^31 elements fails at once.
// - Elements are decoded in place from the row's bytes; only a quoted element with backslash
//   escapes is first unescaped into a scratch array.

import type { PgCodec } from './codec.js';
import { readInt32 } from './codec.js';
import { PgDecodeError, PgEncodeError } from './errors.js';
import { PgOid } from './oids.js';

/**
 * Element types whose values may be JavaScript arrays themselves (a JSON array): arrays of them
 * are one-dimensional when encoded, each inner JavaScript array one element.
 */
function arraysAreValues(element: PgCodec): boolean {
  return element.oid === PgOid.json || element.oid === PgOid.jsonb;
}

/** The server's MAXDIM. */
const MAX_DIMENSIONS = 6;

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

let scratch = new Uint8Array(256);

/** Parses the text format of an array whose elements `element` decodes. */
function parseArrayText(name: string, element: PgCodec, bytes: Uint8Array, start: number, end: number): unknown[] {
  const fail = (why: string): never => {
    throw new PgDecodeError(name, 0, why);
  };
  let at = start;
  // Optional dimension decoration: [lower:upper][...]=
  if (at < end && bytes[at] === 0x5b) {
    while (at < end && bytes[at] !== 0x3d) at++;
    if (at >= end) fail('dimension decoration without =');
    at++;
  }
  if (at >= end || bytes[at] !== OPEN) fail("expected '{'");
  const stack: unknown[][] = [];
  let result: unknown[] | null = null;
  // What may come next: an element or '{' (after '{' or ','), or ',' / '}' (after an element or '}').
  let expectValue = true;
  while (at < end) {
    const c = bytes[at] as number;
    if (isSpace(c)) {
      at++;
      continue;
    }
    if (c === OPEN) {
      if (!expectValue || result !== null) fail("unexpected '{'");
      if (stack.length >= MAX_DIMENSIONS) fail(`more than ${MAX_DIMENSIONS} dimensions`);
      const inner: unknown[] = [];
      (stack[stack.length - 1] as unknown[] | undefined)?.push(inner);
      stack.push(inner);
      at++;
      continue;
    }
    if (c === CLOSE) {
      const closed = stack.pop();
      if (closed === undefined) return fail("unexpected '}'");
      // '{}' is empty; '{1,}' is not allowed (a ',' always follows an element, so an array
      // still empty here saw none).
      if (expectValue && closed.length > 0) fail("unexpected '}'");
      expectValue = false;
      at++;
      if (stack.length === 0) result = closed;
      continue;
    }
    if (c === COMMA) {
      if (expectValue || stack.length === 0) fail("unexpected ','");
      expectValue = true;
      at++;
      continue;
    }
    if (!expectValue || stack.length === 0) fail('unexpected element');
    const current = stack[stack.length - 1] as unknown[];
    if (c === QUOTE) {
      // A quoted element: up to the next unescaped quote.
      const from = at + 1;
      let escaped = false;
      let i = from;
      for (; i < end; i++) {
        const b = bytes[i] as number;
        if (b === BACKSLASH) {
          escaped = true;
          i++;
        } else if (b === QUOTE) break;
      }
      if (i >= end) fail('unterminated quoted element');
      current.push(escaped ? decodeEscaped(element, bytes, from, i) : element.decodeText(bytes, from, i));
      at = i + 1;
    } else {
      // An unquoted element: up to ',', '}' or the end; trailing blanks dropped; NULL is null.
      let i = at;
      let escaped = false;
      let last = at;
      for (; i < end; i++) {
        const b = bytes[i] as number;
        if (b === COMMA || b === CLOSE) break;
        if (b === OPEN || b === QUOTE) fail('unexpected character in an element');
        if (b === BACKSLASH) {
          escaped = true;
          i++;
          last = i + 1;
        } else if (!isSpace(b)) last = i + 1;
      }
      if (i > end) fail('truncated escape');
      if (!escaped && last - at === 4 && isNull(bytes, at)) current.push(null);
      else current.push(escaped ? decodeEscaped(element, bytes, at, last) : element.decodeText(bytes, at, last));
      at = i;
    }
    expectValue = false;
  }
  if (result === null) return fail('unterminated array');
  return result;
}

function isNull(bytes: Uint8Array, at: number): boolean {
  return (
    ((bytes[at] as number) | 0x20) === 0x6e &&
    ((bytes[at + 1] as number) | 0x20) === 0x75 &&
    ((bytes[at + 2] as number) | 0x20) === 0x6c &&
    ((bytes[at + 3] as number) | 0x20) === 0x6c
  );
}

/** Decodes an element after removing its backslash escapes (into a scratch array). */
function decodeEscaped(element: PgCodec, bytes: Uint8Array, from: number, to: number): unknown {
  if (scratch.length < to - from) scratch = new Uint8Array(Math.max(to - from, scratch.length * 2));
  const out = scratch;
  let length = 0;
  for (let i = from; i < to; i++) {
    let b = bytes[i] as number;
    if (b === BACKSLASH) b = bytes[++i] as number;
    out[length++] = b;
  }
  return element.decodeText(out, 0, length);
}

/** Reads the binary format of an array whose elements `element` decodes. */
function parseArrayBinary(name: string, element: PgCodec, bytes: Uint8Array, start: number, end: number): unknown[] {
  const fail = (why: string): never => {
    throw new PgDecodeError(name, 1, why);
  };
  const decodeBinary = element.decodeBinary;
  if (decodeBinary === undefined) return fail(`no binary decoder for ${element.name}`);
  if (end - start < 12) fail('shorter than its header');
  const dimensions = readInt32(bytes, start);
  const flags = readInt32(bytes, start + 4);
  if (dimensions < 0 || dimensions > MAX_DIMENSIONS) fail(`${dimensions} dimensions`);
  if (flags !== 0 && flags !== 1) fail('bad flags');
  if (readInt32(bytes, start + 8) >>> 0 !== element.oid) fail(`element type ${readInt32(bytes, start + 8) >>> 0}, not ${element.oid} (${element.name})`);
  if (dimensions === 0) {
    if (end - start !== 12) fail('bytes after an empty array');
    return [];
  }
  let at = start + 12;
  if (end - at < dimensions * 8) fail('truncated dimensions');
  const sizes: number[] = [];
  let total = 1;
  for (let d = 0; d < dimensions; d++) {
    const size = readInt32(bytes, at);
    if (size < 0) fail('negative dimension');
    sizes.push(size);
    total *= size;
    at += 8; // size, then the lower bound (dropped)
  }
  // Each element takes at least its 4-byte length.
  if (total * 4 > end - at) fail('truncated elements');
  const build = (depth: number): unknown[] => {
    const size = sizes[depth] as number;
    const out = new Array<unknown>(size);
    for (let i = 0; i < size; i++) {
      if (depth + 1 < dimensions) {
        out[i] = build(depth + 1);
        continue;
      }
      if (end - at < 4) fail('truncated element length');
      const length = readInt32(bytes, at);
      at += 4;
      if (length === -1) {
        out[i] = null;
        continue;
      }
      if (length < 0 || length > end - at) fail('element length beyond the value');
      out[i] = decodeBinary.call(element, bytes, at, at + length);
      at += length;
    }
    return out;
  };
  const result = build(0);
  if (at !== end) fail('bytes after the last element');
  return result;
}

// ---- encoding -----------------------------------------------------------------------------

/** Quotes an element's text when the array syntax needs it. */
function quoteElement(text: string): string {
  if (text === '' || /[{}",\\\s]/.test(text) || text.toUpperCase() === 'NULL') return '"' + text.replace(/[\\"]/g, '\\$&') + '"';
  return text;
}

/** The text format of a (nested) array of values the element codec encodes. */
function arrayText(name: string, element: PgCodec, value: unknown, depth: number): string {
  if (!Array.isArray(value)) throw new PgEncodeError(name, 'not an array');
  if (depth > MAX_DIMENSIONS) throw new PgEncodeError(name, `more than ${MAX_DIMENSIONS} dimensions`);
  const encode = element.encodeText;
  let text = '{';
  for (let i = 0; i < value.length; i++) {
    if (i > 0) text += ',';
    const item: unknown = value[i];
    if (item === null || item === undefined) text += 'NULL';
    else if (Array.isArray(item) && !arraysAreValues(element)) text += arrayText(name, element, item, depth + 1);
    else text += quoteElement(typeof item === 'string' || encode === undefined ? String(item) : encode.call(element, item));
  }
  return text + '}';
}

/** The binary format of a (nested, rectangular) array. */
function arrayBinary(name: string, element: PgCodec, value: unknown): Uint8Array {
  const encode = element.encodeBinary;
  if (encode === undefined) throw new PgEncodeError(name, `no binary encoder for ${element.name}`);
  if (!Array.isArray(value)) throw new PgEncodeError(name, 'not an array');
  const sizes: number[] = [];
  if (arraysAreValues(element)) {
    if (value.length > 0) sizes.push(value.length);
  } else for (let level: unknown = value; Array.isArray(level) && level.length > 0; level = level[0]) sizes.push(level.length);
  if (sizes.length > MAX_DIMENSIONS) throw new PgEncodeError(name, `more than ${MAX_DIMENSIONS} dimensions`);
  const parts: (Uint8Array | null)[] = [];
  let hasNull = false;
  const walk = (level: unknown, depth: number): void => {
    if (depth === sizes.length) {
      if (level === null || level === undefined) {
        hasNull = true;
        parts.push(null);
      } else if (Array.isArray(level) && !arraysAreValues(element)) throw new PgEncodeError(name, 'not rectangular');
      else parts.push(encode.call(element, level));
      return;
    }
    if (!Array.isArray(level) || level.length !== sizes[depth]) throw new PgEncodeError(name, 'not rectangular');
    for (const item of level) walk(item, depth + 1);
  };
  if (sizes.length > 0) walk(value, 0);
  let size = 12 + 8 * sizes.length;
  for (const part of parts) size += 4 + (part === null ? 0 : part.length);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, sizes.length);
  view.setInt32(4, hasNull ? 1 : 0);
  view.setUint32(8, element.oid);
  let at = 12;
  for (const s of sizes) {
    view.setInt32(at, s);
    view.setInt32(at + 4, 1);
    at += 8;
  }
  for (const part of parts) {
    view.setInt32(at, part === null ? -1 : part.length);
    at += 4;
    if (part !== null) {
      out.set(part, at);
      at += part.length;
    }
  }
  return out;
}

/** The codec of arrays of `element` (OID `arrayOid`), named '_' + the element's name. */
export function arrayCodec(element: PgCodec, arrayOid: number): PgCodec<unknown[]> {
  const name = '_' + element.name;
  return {
    name,
    oid: arrayOid,
    preferBinary: element.preferBinary === true && element.decodeBinary !== undefined,
    decodeText: (bytes, start, end) => parseArrayText(name, element, bytes, start, end),
    ...(element.decodeBinary === undefined ? {} : { decodeBinary: (bytes: Uint8Array, start: number, end: number) => parseArrayBinary(name, element, bytes, start, end) }),
    encodeText: (value) => arrayText(name, element, value, 1),
    ...(element.encodeBinary === undefined ? {} : { encodeBinary: (value: unknown[]) => arrayBinary(name, element, value) }),
  };
}
