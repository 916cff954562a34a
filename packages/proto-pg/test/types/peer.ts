// The real peer for the codec tests: PostgreSQL at CURIO_TEST_PG_URL, or 127.0.0.1:5432
// database test (trust auth). A `pg` client whose type parsers return what the server sent,
// untouched: a string (text format) or a Buffer (binary format).

import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

export const PG_URL = process.env['CURIO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

const raw = { getTypeParser: () => (value: unknown) => value };

/** A connected client with raw results and the session settings the codecs expect. */
export async function connectRaw(timeZone = 'UTC'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL, types: raw as unknown as pg.CustomTypesConfig });
  await client.connect();
  await client.query(`set TimeZone = '${timeZone}'; set DateStyle = 'ISO, MDY'; set IntervalStyle = 'postgres'; set extra_float_digits = 1; set bytea_output = 'hex'`);
  return client;
}

const sendFunctions = new Map<number, string>();

/**
 * What the server sends for `sql` (one value): its type OID, its text, and its binary bytes.
 * pg's parser reads every DataRow field as UTF-8 text, so the binary bytes are asked of the
 * type's own send function (pg_type.typsend: int4send, numeric_send, array_send...), whose
 * bytea result is exactly what a binary-format result column carries.
 */
export async function serverValue(client: pg.Client, sql: string, params: readonly unknown[]): Promise<{ oid: number; text: string | null; binary: Buffer | null }> {
  const text = await client.query({ text: sql, values: params as unknown[], rowMode: 'array' });
  const field = text.fields[0];
  if (field === undefined) throw new Error('no column');
  const oid = field.dataTypeID;
  let send = sendFunctions.get(oid);
  if (send === undefined) {
    send = (await serverText(client, 'select typsend::regproc::text from pg_type where oid = $1', [oid])) as string;
    sendFunctions.set(oid, send);
  }
  const hex = await serverText(client, `select encode(${send}(v), 'hex') from (${sql}) as q(v)`, params);
  return { oid, text: (text.rows[0] as unknown[])[0] as string | null, binary: hex === null ? null : Buffer.from(hex, 'hex') };
}

/** The server's text of the first column of `sql`. */
export async function serverText(client: pg.Client, sql: string, params: readonly unknown[]): Promise<string | null> {
  const result = await client.query({ text: sql, values: params as unknown[], rowMode: 'array' });
  return (result.rows[0] as unknown[])[0] as string | null;
}

/** A parameter as `pg` sends it: text, or binary for a Buffer (its own rule). */
export function asPgParam(value: string | Uint8Array | null): string | Buffer | null {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value;
}

/** `bytes` placed inside a bigger Buffer at an offset: decoders must honour (start, end). */
export function embedded(bytes: Uint8Array | string): { bytes: Buffer; start: number; end: number } {
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const out = Buffer.alloc(body.length + 10, 0x7b);
  out.set(body, 5);
  return { bytes: out, start: 5, end: 5 + body.length };
}

/** Connects a raw client (TimeZone UTC) before the file's tests and ends it after; returns a getter. */
export function rawClientForFile(): () => pg.Client {
  let client: pg.Client | null = null;
  beforeAll(async () => {
    client = await connectRaw('UTC');
  });
  afterAll(async () => {
    await client?.end();
  });
  return () => {
    if (client === null) throw new Error('not connected yet');
    return client;
  };
}
