// codec.ts
//
// What a codec is, and the byte-level readers and writers the built-in codecs share.
//
// Invariants:
// - Decoders read bytes [start, end) of the array they are given and never keep a reference to
//   it: a value that holds bytes (bytea) is a copy, so decoded values outlive the received chunk.
// - Every read is bounds-checked against `end` first; a length that does not fit is a
//   PgDecodeError, never an out-of-range read of `undefined`.

import { PgDecodeError } from './errors.js';

/**
 * How values of one PostgreSQL type are read and written. Decoders take the value's bytes as a
 * range of a larger array (a received DataRow), so no subarray is needed per column: bytes
 * [start, end) of `bytes`, valid only during the call (copy what you keep).
 *
 * A codec without `decodeBinary` is only ever asked for the text format; without
 * `encodeBinary`, parameters of its type are sent as text.
 */
export interface PgCodec<T = unknown> {
  /** The type's name ('int4', 'numeric', or a user type's). */
  readonly name: string;
  /** The type's OID. */
  readonly oid: number;
  /** The OID of its array type, when it has one: the registry then decodes and encodes arrays of it too. */
  readonly arrayOid?: number;
  /** Decode the text format of a value. */
  decodeText(bytes: Uint8Array, start: number, end: number): T;
  /** Decode the binary format of a value. */
  decodeBinary?(bytes: Uint8Array, start: number, end: number): T;
  /** Encode a parameter value in the text format. */
  encodeText?(value: T): string;
  /** Encode a parameter value in the binary format. */
  encodeBinary?(value: T): Uint8Array;
  /**
   * Whether results of this type are best asked for in binary (cheaper to decode, exact).
   * Defaults to false: the registry's `resultFormat` reports it.
   */
  readonly preferBinary?: boolean;
}

/** A decoder bound to one type and format: what a client resolves once per result column. */
export type PgDecoder = (bytes: Uint8Array, start: number, end: number) => unknown;

/** Throws unless the value spans exactly `size` bytes. */
export function expectLength(name: string, start: number, end: number, size: number): void {
  if (end - start !== size) throw new PgDecodeError(name, 1, `expected ${size} bytes, got ${end - start}`);
}

/** Big-endian signed 16-bit integer at `at`. */
export function readInt16(bytes: Uint8Array, at: number): number {
  return ((((bytes[at] as number) << 8) | (bytes[at + 1] as number)) << 16) >> 16;
}

/** Big-endian unsigned 16-bit integer at `at`. */
export function readUint16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
}

/** Big-endian signed 32-bit integer at `at`. */
export function readInt32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) << 24) | ((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
}

/** Big-endian unsigned 32-bit integer at `at`. */
export function readUint32(bytes: Uint8Array, at: number): number {
  return readInt32(bytes, at) >>> 0;
}

/** Big-endian signed 64-bit integer at `at` as a number when it is a safe integer, else null. */
export function readInt64Safe(bytes: Uint8Array, at: number): number | null {
  const high = readInt32(bytes, at);
  if (high >= -0x200000 && high < 0x200000) {
    const value = high * 0x100000000 + readUint32(bytes, at + 4);
    if (Number.isSafeInteger(value)) return value;
  }
  return null;
}

/** Big-endian signed 64-bit integer at `at` as a bigint. */
export function readInt64Big(bytes: Uint8Array, at: number): bigint {
  const safe = readInt64Safe(bytes, at);
  if (safe !== null) return BigInt(safe);
  return (BigInt(readInt32(bytes, at)) << 32n) | BigInt(readUint32(bytes, at + 4));
}

const scratch = new DataView(new ArrayBuffer(8));

/** Big-endian IEEE 754 single at `at`. */
export function readFloat32(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 4; i++) scratch.setUint8(i, bytes[at + i] as number);
  return scratch.getFloat32(0);
}

/** Big-endian IEEE 754 double at `at`. */
export function readFloat64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) scratch.setUint8(i, bytes[at + i] as number);
  return scratch.getFloat64(0);
}

/** A fresh array of `size` bytes and a DataView over it, for the binary encoders. */
export function binaryOut(size: number): { readonly bytes: Uint8Array; readonly view: DataView } {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer) };
}
