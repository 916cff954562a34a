// backend-bytes.ts
//
// Builders of backend messages as bytes, for golden and hostile tests (test code only).

const encoder = new TextEncoder();

export function int32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

export function int16(value: number): number[] {
  return [(value >>> 8) & 0xff, value & 0xff];
}

export function cstr(text: string): number[] {
  return [...encoder.encode(text), 0];
}

/** A framed message: type letter, length, body. */
export function msg(type: string, body: number[] = []): number[] {
  return [type.charCodeAt(0), ...int32(body.length + 4)].concat(body);
}

export const authOk = (): number[] => msg('R', int32(0));
export const ready = (status: 'I' | 'T' | 'E' = 'I'): number[] => msg('Z', [status.charCodeAt(0)]);
export const paramStatus = (name: string, value: string): number[] => msg('S', [...cstr(name), ...cstr(value)]);
export const keyData = (pid: number, secret: number): number[] => msg('K', [...int32(pid), ...int32(secret)]);
export const commandComplete = (tag: string): number[] => msg('C', cstr(tag));

/** RowDescription of text columns with the given names and type OIDs. */
export function rowDescription(columns: [string, number][]): number[] {
  const body = [...int16(columns.length)];
  for (const [name, oid] of columns) body.push(...cstr(name), ...int32(0), ...int16(0), ...int32(oid), ...int16(-1), ...int32(-1), ...int16(0));
  return msg('T', body);
}

/** DataRow of text values (null: NULL). */
export function dataRow(values: (string | null)[]): number[] {
  const body = [...int16(values.length)];
  for (const value of values) {
    if (value === null) body.push(...int32(-1));
    else {
      const bytes = encoder.encode(value);
      body.push(...int32(bytes.length));
      for (const byte of bytes) body.push(byte);
    }
  }
  return msg('D', body);
}

/** ErrorResponse / NoticeResponse with the given fields (code letter → value). */
export function fieldsMessage(type: 'E' | 'N', fields: Record<string, string>): number[] {
  const body: number[] = [];
  for (const [code, value] of Object.entries(fields)) body.push(code.charCodeAt(0), ...cstr(value));
  body.push(0);
  return msg(type, body);
}

export const errorResponse = (code: string, message: string, severity = 'ERROR'): number[] => fieldsMessage('E', { S: severity, V: severity, C: code, M: message });

export function concat(...parts: number[][]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) for (const byte of part) out.push(byte);
  return new Uint8Array(out);
}
