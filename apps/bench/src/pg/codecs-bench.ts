// PostgreSQL value decoding throughput (suite 'pg-codecs'): proto-pg's TypeRegistry decoders
// vs pg-types 2.2.0 (what pg 8 uses), on 100 000 values of one column laid out as in DataRows
// (each value behind a 4-byte length, in one Buffer), per type and format:
//
// - ours: `registry.decoder(oid, format)` resolved once, then called on (bytes, start, end) for
//   each value: no string or subarray made before the codec runs;
// - pg-types, text: what pg does per field: the Buffer's UTF-8 slice (pg-protocol's parser
//   makes it) and the type's text parser on that string;
// - pg-types, binary: its binary parser on a subarray of the value (pg hands it a Buffer).
//
// The values: int4 uniform over its range; text 32-character md5-like hex (as
// `md5(g::text)`); numeric with two decimals below 10^7 ('1234567.89'); timestamptz around
// now with microseconds ('2026-12-06 01:02:03.456789+00'). All in this process, interleaved
// rounds (harness.measure), values/s.

import { createRequire } from 'node:module';
import { PgOid, TypeRegistry } from '@curio-ts/proto-pg';
import { measure, table } from '../harness.js';
import type { Contender, Row } from '../harness.js';

const require = createRequire(import.meta.url);
const pgTypes = require('pg-types') as { getTypeParser(oid: number, format?: 'text' | 'binary'): (value: unknown) => unknown };

const COUNT = Number(process.env['PG_CODECS_N'] ?? 100_000);

/** Keeps results alive so the work making them is not optimized away. */
let sinkhole = 0;
function keep(value: unknown): void {
  if (value !== null && value !== undefined) sinkhole++;
}

/** Values laid out as DataRow columns: [length][bytes] each; returns the buffer and offsets. */
function column(values: readonly Uint8Array[]): { bytes: Buffer; starts: Int32Array; ends: Int32Array } {
  const size = values.reduce((sum, v) => sum + 4 + v.length, 0);
  const bytes = Buffer.alloc(size);
  const starts = new Int32Array(values.length);
  const ends = new Int32Array(values.length);
  let at = 0;
  values.forEach((value, i) => {
    bytes.writeInt32BE(value.length, at);
    at += 4;
    bytes.set(value, at);
    starts[i] = at;
    at += value.length;
    ends[i] = at;
  });
  return { bytes, starts, ends };
}

/** A tiny deterministic generator (the same data every run). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Workload {
  readonly name: string;
  readonly oid: number;
  readonly text: readonly string[];
}

function workloads(): Workload[] {
  const next = random(42);
  const hex = '0123456789abcdef';
  const ints: string[] = [];
  const texts: string[] = [];
  const numerics: string[] = [];
  const stamps: string[] = [];
  const now = Date.UTC(2026, 11, 6);
  for (let i = 0; i < COUNT; i++) {
    ints.push(String(Math.floor(next() * 2 ** 32) - 2 ** 31));
    let md5 = '';
    for (let k = 0; k < 32; k++) md5 += hex[Math.floor(next() * 16)];
    texts.push(md5);
    numerics.push((Math.floor(next() * 1e9) / 100).toFixed(2));
    const ms = now - Math.floor(next() * 1e10);
    const micros = String(Math.floor(next() * 1000)).padStart(3, '0');
    stamps.push(new Date(ms).toISOString().replace('T', ' ').replace('Z', micros + '+00'));
  }
  return [
    { name: 'int4', oid: PgOid.int4, text: ints },
    { name: 'text', oid: PgOid.text, text: texts },
    { name: 'numeric', oid: PgOid.numeric, text: numerics },
    { name: 'timestamptz', oid: PgOid.timestamptz, text: stamps },
  ];
}

export async function pgCodecsSuite(): Promise<string> {
  const registry = new TypeRegistry();
  const rows: Row[] = [];
  for (const workload of workloads()) {
    const codec = registry.get(workload.oid);
    if (codec?.encodeBinary === undefined) throw new Error(`no binary encoder for ${workload.name}`);
    const encodeBinary = codec.encodeBinary.bind(codec);
    const textColumn = column(workload.text.map((t) => Buffer.from(t)));
    // Binary values as the server sends them: our encoders write what the send functions do
    // (checked against the server in proto-pg's tests).
    const decodedText = registry.decoder(workload.oid, 0);
    const binaryColumn = column(workload.text.map((_, i) => encodeBinary(decodedText(textColumn.bytes, textColumn.starts[i] as number, textColumn.ends[i] as number))));
    const run = (name: string, work: () => void): Contender => ({
      name,
      run: async () => {
        work();
        return COUNT;
      },
    });
    const ours = (format: 0 | 1): (() => void) => {
      const { bytes, starts, ends } = format === 0 ? textColumn : binaryColumn;
      const decode = registry.decoder(workload.oid, format);
      return () => {
        for (let i = 0; i < COUNT; i++) keep(decode(bytes, starts[i] as number, ends[i] as number));
      };
    };
    const theirsText = (): void => {
      const { bytes, starts, ends } = textColumn;
      const parse = pgTypes.getTypeParser(workload.oid, 'text');
      for (let i = 0; i < COUNT; i++) keep(parse(bytes.toString('utf8', starts[i], ends[i])));
    };
    const theirsBinary = (): void => {
      const { bytes, starts, ends } = binaryColumn;
      const parse = pgTypes.getTypeParser(workload.oid, 'binary');
      for (let i = 0; i < COUNT; i++) keep(parse(bytes.subarray(starts[i], ends[i])));
    };
    const contenders = [run('ours text', ours(0)), run('ours binary', ours(1)), run('pg-types text', theirsText), run('pg-types binary', theirsBinary)];
    const results = await measure(contenders);
    const by = (name: string) => results.find((m) => m.name === name) as (typeof results)[number];
    rows.push({ benchmark: `${workload.name}, text: decode ${COUNT} values`, ours: by('ours text'), baseline: by('pg-types text') });
    rows.push({ benchmark: `${workload.name}, binary: decode ${COUNT} values`, ours: by('ours binary'), baseline: by('pg-types binary') });
    rows.push({ benchmark: `${workload.name}: ours in the format resultFormat picks (${registry.resultFormat(workload.oid) === 1 ? 'binary' : 'text'}) vs pg's path (text)`, ours: by(registry.resultFormat(workload.oid) === 1 ? 'ours binary' : 'ours text'), baseline: by('pg-types text'), target: 1 });
  }
  if (sinkhole < 0) console.log(sinkhole);
  return (
    `${table(rows)}\n\nValues/s decoded, median of 5 interleaved rounds in one process (harness.measure). ` +
    "pg-types text includes the UTF-8 slice pg's parser makes for each field; its binary parsers get a subarray per value (pg-types' binary numeric and timestamptz parsers " +
    'are its own: numeric to a JavaScript number, not exact). Ours decodes in place from (bytes, start, end). Target: the format proto-pg asks for is at least as fast as pg\'s path.'
  );
}
