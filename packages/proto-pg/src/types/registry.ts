// registry.ts
//
// The TypeRegistry: which codec reads and writes each type OID, for one client. Built-in
// codecs for every type of the issue (with the client's TypeOptions), their arrays, and user
// codecs registered by OID (which replace a built-in of the same OID).
//
// Results: a client asks `resultFormat(oid)` for each column of a RowDescription (binary where
// it decodes cheaper and exactly), then `decoder(oid, format)` once per column, and calls that
// decoder on each row's bytes. Unknown OIDs decode as UTF-8 text (text format) or as a copy of
// the bytes (binary format).
//
// Parameters: `encodeParam(value, typeOid)` with the OIDs of the statement's
// ParameterDescription (a Describe), or 0 when they are unknown:
// - null and undefined are NULL;
// - a string is sent as text, as it is, whatever the type: the server parses it with its own
//   input function (so '42' for an int4, '{1,2}' for an int4[], JSON text for json);
// - a known type's codec encodes anything else, in binary when the codec can (no parsing on the
//   server), else in text; arrays go to text if an element has no binary form; the text types
//   take any value, as its inferred text (below): 42 for a text parameter is '42';
// - for OID 0 (or unknown, 705, or an OID with no codec) the text is inferred from the value:
//   number → its shortest decimal ('NaN', 'Infinity', '-0' kept), bigint → decimal, boolean →
//   't'/'f', Date → timestamptz text in UTC ('2024-01-02 03:04:05.678+00', BC years kept),
//   Uint8Array → bytea hex ('\x0a0b'), array → array literal of its elements inferred the same
//   way, any other object → JSON.stringify. `inferType(value)` gives the OID to declare in
//   Parse when nothing is known: bytea for a Uint8Array (so it can go in binary), bytea[] for an
//   array of them, 0 (let the server decide) for everything else.
// The returned value says the format: a string is text (format 0), a Uint8Array binary (1).

import { arrayCodec } from './array.js';
import type { PgCodec, PgDecoder } from './codec.js';
import { dateTimeCodecs } from './datetime.js';
import { PgEncodeError } from './errors.js';
import { numericCodec } from './numeric.js';
import { PgOid } from './oids.js';
import type { TypeOptions } from './options.js';
import { inferText } from './infer.js';
import { boolCodec, byteaCodec, float4Codec, float8Codec, int2Codec, int4Codec, int8Codec, jsonbCodec, jsonCodec, oidCodec, textLikeCodec, uuidCodec } from './scalars.js';
import { copyBytes, utf8Text } from './text.js';

/** The built-in codecs for `options` (element types only; arrays are derived). */
function builtinCodecs(options: TypeOptions): PgCodec[] {
  return [
    boolCodec,
    int2Codec,
    int4Codec,
    int8Codec(options.int8 ?? 'bigint'),
    oidCodec,
    float4Codec,
    float8Codec,
    numericCodec,
    textLikeCodec('text', PgOid.text, PgOid._text, inferText),
    textLikeCodec('varchar', PgOid.varchar, PgOid._varchar, inferText),
    textLikeCodec('bpchar', PgOid.bpchar, PgOid._bpchar, inferText),
    textLikeCodec('name', PgOid.name, PgOid._name, inferText),
    textLikeCodec('char', PgOid.char, PgOid._char, inferText),
    textLikeCodec('unknown', PgOid.unknown, 0, inferText),
    byteaCodec,
    jsonCodec,
    jsonbCodec,
    uuidCodec,
    ...dateTimeCodecs(options.dates ?? 'date', options.intervals ?? 'object'),
  ] as PgCodec[];
}

/** Codecs by type OID, for one client. */
export class TypeRegistry {
  /** The options the built-in codecs were made with. */
  readonly options: TypeOptions;
  private readonly codecs = new Map<number, PgCodec>();
  private readonly textDecoders = new Map<number, PgDecoder>();
  private readonly binaryDecoders = new Map<number, PgDecoder>();

  /** A registry with every built-in codec, made with `options`. */
  constructor(options: TypeOptions = {}) {
    this.options = options;
    for (const codec of builtinCodecs(options)) this.register(codec);
  }

  /** The codec of `oid`, if any. */
  get(oid: number): PgCodec | undefined {
    return this.codecs.get(oid);
  }

  /**
   * Adds (or replaces) the codec of `codec.oid`; when `codec.arrayOid` is set, arrays of it are
   * decoded and encoded too (unless a codec of that OID is registered afterwards).
   */
  register<T>(codec: PgCodec<T>): void {
    const erased = codec as PgCodec;
    this.codecs.set(codec.oid, erased);
    this.textDecoders.delete(codec.oid);
    this.binaryDecoders.delete(codec.oid);
    if (codec.arrayOid !== undefined && codec.arrayOid !== 0) {
      this.codecs.set(codec.arrayOid, arrayCodec(erased, codec.arrayOid));
      this.textDecoders.delete(codec.arrayOid);
      this.binaryDecoders.delete(codec.arrayOid);
    }
  }

  /** The format to ask for results of `oid`: 1 (binary) when its codec prefers it, else 0. */
  resultFormat(oid: number): 0 | 1 {
    const codec = this.codecs.get(oid);
    return codec?.preferBinary === true && codec.decodeBinary !== undefined ? 1 : 0;
  }

  /**
   * The decoder of values of `oid` in `format`, to resolve once per result column. Unknown
   * OIDs: UTF-8 text (format 0) or a copy of the bytes (format 1, or a codec without a binary
   * decoder).
   */
  decoder(oid: number, format: 0 | 1): PgDecoder {
    const cache = format === 1 ? this.binaryDecoders : this.textDecoders;
    let decoder = cache.get(oid);
    if (decoder === undefined) {
      const codec = this.codecs.get(oid);
      const decode = codec === undefined ? undefined : format === 1 ? codec.decodeBinary : codec.decodeText;
      decoder = codec === undefined || decode === undefined ? (format === 1 ? copyBytes : utf8Text) : decode.bind(codec);
      cache.set(oid, decoder);
    }
    return decoder;
  }

  /** Decodes one value (bytes [start, end) of `bytes`); a negative `start` is NULL → null. */
  decode(oid: number, format: 0 | 1, bytes: Uint8Array, start: number, end: number): unknown {
    if (start < 0) return null;
    return this.decoder(oid, format)(bytes, start, end);
  }

  /**
   * A parameter value encoded for type `typeOid` (0 when unknown): a string to send in the text
   * format, a Uint8Array in binary, or null for NULL. See the file header for the rules.
   */
  encodeParam(value: unknown, typeOid: number): string | Uint8Array | null {
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    const codec = typeOid === 0 || typeOid === PgOid.unknown ? undefined : this.codecs.get(typeOid);
    if (codec === undefined) return inferText(value);
    if (codec.encodeBinary !== undefined) {
      if (!Array.isArray(value)) return codec.encodeBinary(value);
      try {
        return codec.encodeBinary(value);
      } catch (error) {
        if (!(error instanceof PgEncodeError) || codec.encodeText === undefined) throw error;
      }
    }
    if (codec.encodeText !== undefined) return codec.encodeText(value);
    return inferText(value);
  }

  /**
   * Every parameter of a Bind: `values` encoded for `typeOids` (a ParameterDescription's, or
   * shorter / empty when unknown: missing OIDs count as 0), with the format code of each.
   */
  encodeParams(values: readonly unknown[], typeOids: readonly number[] = []): { params: (string | Uint8Array | null)[]; formats: (0 | 1)[] } {
    const params: (string | Uint8Array | null)[] = [];
    const formats: (0 | 1)[] = [];
    for (let i = 0; i < values.length; i++) {
      const param = this.encodeParam(values[i], typeOids[i] ?? 0);
      params.push(param);
      formats.push(param instanceof Uint8Array ? 1 : 0);
    }
    return { params, formats };
  }

  /** The result format codes for columns of these type OIDs (a Describe's RowDescription). */
  resultFormats(typeOids: readonly number[]): (0 | 1)[] {
    return typeOids.map((oid) => this.resultFormat(oid));
  }

  /** The OID to declare in Parse for `value` when its type is not known (see the file header). */
  inferType(value: unknown): number {
    if (value instanceof Uint8Array) return PgOid.bytea;
    if (Array.isArray(value) && value.length > 0 && value.every((item) => item === null || item instanceof Uint8Array)) return PgOid._bytea;
    return 0;
  }
}
