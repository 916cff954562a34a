// backend.ts
//
// Decoding of backend message bodies, each from `bytes[start, end)` as reader.ts framed it:
// DataRow into the reused PgDataRow, the others into plain objects. Every read is bounds-checked
// against the message's own end: a body that is too short, a string without its NUL, a count
// that does not match the bytes, or bytes left over are RemoteProtocolErrors
// (ERR_PG_MALFORMED) at the message's offset.
//
// Discussion: why not pg-protocol's Parser for these. It frames by itself (no length limit, an
// unknown type becomes an ordinary message), copies a message cut across chunks by
// concatenating buffers, and makes a string per DataRow column; the remaining messages are
// small, and decoding them here, from the framing we need anyway, avoids a second pass over the
// bytes and a Buffer dependency. apps/bench/src/pg/decode-bench.ts measures both. Allocation,
// measured by young-generation collections (`node --trace-gc`) while decoding 10 x 100 000
// rows of (int, md5 text) fed in 64 KiB chunks: PgConnection's data-row events add none over
// building the input; pg-protocol's Parser adds 12 (about 190 bytes per row: a message object,
// a fields array and a string per column). Throughput (`npm run bench pg-decode`, same day):
// 100 000 rows 10.7M rows/s as events (5.5M/s with a string per column) vs 2.9M/s for the
// Parser; pipelined extended answers (2 D C Z) 1.55M/s vs 0.91M/s; simple-query answers with a
// RowDescription and an ErrorResponse 142k/s vs 132k/s. Kept: our own code for every message.

import { RemoteProtocolError } from './errors.js';
import type { PgErrorFields } from './errors.js';
import type { PgDataRow, PgField } from './events.js';

const utf8 = new TextDecoder();

/** A bounds-checked cursor over one message body. */
export class BodyCursor {
  bytes: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  /** Stream offset of the message (for errors). */
  offset = 0;
  /** The message's type letter (for errors). */
  type = 0;

  reset(type: number, bytes: Uint8Array, start: number, end: number, offset: number): this {
    this.type = type;
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.offset = offset;
    return this;
  }

  malformed(what: string): RemoteProtocolError {
    return new RemoteProtocolError(`malformed backend message '${String.fromCharCode(this.type)}': ${what}`, 'ERR_PG_MALFORMED', this.offset);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  int32(): number {
    const p = this.pos;
    if (p + 4 > this.end) throw this.malformed('too short');
    const b = this.bytes;
    this.pos = p + 4;
    return ((b[p] as number) << 24) | ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number);
  }

  uint32(): number {
    return this.int32() >>> 0;
  }

  int16(): number {
    const p = this.pos;
    if (p + 2 > this.end) throw this.malformed('too short');
    const b = this.bytes;
    this.pos = p + 2;
    const value = ((b[p] as number) << 8) | (b[p + 1] as number);
    return (value << 16) >> 16;
  }

  uint16(): number {
    return this.int16() & 0xffff;
  }

  byte(): number {
    if (this.pos >= this.end) throw this.malformed('too short');
    return this.bytes[this.pos++] as number;
  }

  /** A NUL-terminated string (UTF-8). */
  cstring(): string {
    const b = this.bytes;
    const start = this.pos;
    const end = this.end;
    let i = start;
    let ascii = true;
    for (; i < end; i++) {
      const c = b[i] as number;
      if (c === 0) break;
      if (c >= 0x80) ascii = false;
    }
    if (i === end) throw this.malformed('a string without its terminating NUL');
    this.pos = i + 1;
    if (ascii && i - start < 32) {
      let text = '';
      for (let j = start; j < i; j++) text += String.fromCharCode(b[j] as number);
      return text;
    }
    return utf8.decode(b.subarray(start, i));
  }

  /** The rest of the body. */
  rest(): Uint8Array {
    const view = this.bytes.subarray(this.pos, this.end);
    this.pos = this.end;
    return view;
  }

  /** Nothing may be left. */
  done(): void {
    if (this.pos !== this.end) throw this.malformed(`${this.end - this.pos} bytes left over`);
  }
}

/** Fill `row` from a DataRow body. */
export function decodeDataRow(row: PgDataRow, bytes: Uint8Array, start: number, end: number, cursor: BodyCursor, offset: number): void {
  if (end - start < 2) throw cursor.reset(0x44, bytes, start, end, offset).malformed('too short');
  const count = ((bytes[start] as number) << 8) | (bytes[start + 1] as number);
  let offsets = row.offsets;
  if (offsets.length < 2 * count) offsets = row.offsets = new Int32Array(Math.max(2 * count, offsets.length * 2));
  let p = start + 2;
  for (let i = 0, o = 0; i < count; i++, o += 2) {
    if (p + 4 > end) throw cursor.reset(0x44, bytes, start, end, offset).malformed(`column ${i} of ${count} missing`);
    const length = ((bytes[p] as number) << 24) | ((bytes[p + 1] as number) << 16) | ((bytes[p + 2] as number) << 8) | (bytes[p + 3] as number);
    p += 4;
    if (length === -1) {
      offsets[o] = -1;
      offsets[o + 1] = -1;
    } else {
      if (length < 0 || length > end - p) throw cursor.reset(0x44, bytes, start, end, offset).malformed(`column ${i} has length ${length}`);
      offsets[o] = p;
      p += length;
      offsets[o + 1] = p;
    }
  }
  if (p !== end) throw cursor.reset(0x44, bytes, start, end, offset).malformed(`${end - p} bytes after the last column`);
  row.bytes = bytes;
  row.columnCount = count;
}

/** RowDescription. */
export function decodeRowDescription(c: BodyCursor): PgField[] {
  const count = c.uint16();
  const fields: PgField[] = new Array<PgField>(count);
  for (let i = 0; i < count; i++) {
    const name = c.cstring();
    const tableOid = c.uint32();
    const column = c.int16();
    const typeOid = c.uint32();
    const typeSize = c.int16();
    const typeModifier = c.int32();
    const format = c.int16();
    fields[i] = { name, tableOid, column, typeOid, typeSize, typeModifier, format };
  }
  c.done();
  return fields;
}

/** ParameterDescription. */
export function decodeParameterDescription(c: BodyCursor): number[] {
  const count = c.uint16();
  const oids = new Array<number>(count);
  for (let i = 0; i < count; i++) oids[i] = c.uint32();
  c.done();
  return oids;
}

/** The fields of an ErrorResponse or NoticeResponse. */
export function decodeErrorFields(c: BodyCursor): PgErrorFields {
  const fields: { -readonly [K in keyof PgErrorFields]: PgErrorFields[K] } = {};
  for (;;) {
    const code = c.byte();
    if (code === 0) break;
    const value = c.cstring();
    switch (code) {
      case 0x53: fields.severity = value; break; // S
      case 0x56: fields.severityName = value; break; // V
      case 0x43: fields.code = value; break; // C
      case 0x4d: fields.message = value; break; // M
      case 0x44: fields.detail = value; break; // D
      case 0x48: fields.hint = value; break; // H
      case 0x50: fields.position = value; break; // P
      case 0x70: fields.internalPosition = value; break; // p
      case 0x71: fields.internalQuery = value; break; // q
      case 0x57: fields.where = value; break; // W
      case 0x73: fields.schema = value; break; // s
      case 0x74: fields.table = value; break; // t
      case 0x63: fields.column = value; break; // c
      case 0x64: fields.dataType = value; break; // d
      case 0x6e: fields.constraint = value; break; // n
      case 0x46: fields.file = value; break; // F
      case 0x4c: fields.line = value; break; // L
      case 0x52: fields.routine = value; break; // R
      default: break; // "frontends should silently ignore fields of unrecognized type"
    }
  }
  c.done();
  return fields;
}

/** CommandComplete's tag, its command word and its row count (the last number, for the commands that have one). */
export function decodeCommandComplete(c: BodyCursor): { tag: string; command: string; rowCount: number | null } {
  const tag = c.cstring();
  c.done();
  const space = tag.indexOf(' ');
  const command = space === -1 ? tag : tag.slice(0, space);
  let rowCount: number | null = null;
  if (space !== -1) {
    const last = tag.lastIndexOf(' ');
    const digits = tag.slice(last + 1);
    if (/^\d+$/.test(digits) && COUNTED.has(command)) rowCount = Number(digits);
  }
  return { tag, command, rowCount };
}

const COUNTED = new Set(['INSERT', 'DELETE', 'UPDATE', 'MERGE', 'SELECT', 'MOVE', 'FETCH', 'COPY']);

/** CopyInResponse / CopyOutResponse / CopyBothResponse. */
export function decodeCopyResponse(c: BodyCursor): { format: number; columnFormats: number[] } {
  const format = c.byte();
  const count = c.uint16();
  const columnFormats = new Array<number>(count);
  for (let i = 0; i < count; i++) columnFormats[i] = c.int16();
  c.done();
  if (format > 1) throw c.malformed(`copy format ${format}`);
  return { format, columnFormats };
}
