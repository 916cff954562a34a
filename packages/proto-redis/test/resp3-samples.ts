// Random RESP3 streams for property tests: every type in every wire form (simple and blob
// strings, streamed strings in random parts, streamed and counted aggregates, attributes before
// any value, consecutive ones included, pushes with and without attributes), each with the value
// the decoder must produce. Written independently of the encoder under test.

import fc from 'fast-check';
import { RespAttributed, RespErrorReply, RespPush, RespVerbatim } from '@curio-ts/proto-redis';
import type { RespFrame, RespValue } from '@curio-ts/proto-redis';

/** Bytes on the wire and the value they decode to. */
export interface Sample<V = RespValue> {
  readonly wire: readonly Uint8Array[];
  readonly value: V;
}

const encoder = new TextEncoder();
const ascii = (text: string): Uint8Array => encoder.encode(text);

function sample<V>(value: V, ...wire: (string | Uint8Array)[]): Sample<V> {
  return { value, wire: wire.map((part) => (typeof part === 'string' ? ascii(part) : part)) };
}

function blob(type: string, body: Uint8Array): Uint8Array[] {
  return [ascii(`${type}${body.length}\r\n`), body, ascii('\r\n')];
}

const text = fc.string({ unit: 'grapheme', maxLength: 24 });
const lineText = text.filter((s) => !/[\r\n]/.test(s));

/** A string's UTF-8 bytes cut into parts at random places (zero-length parts are not allowed). */
const streamedString = fc.tuple(text, fc.array(fc.nat(), { maxLength: 4 })).map(([value, cuts]) => {
  const body = ascii(value);
  const points = [...new Set(cuts.map((c) => (body.length === 0 ? 0 : c % body.length)).filter((c) => c > 0))].sort((a, b) => a - b);
  const wire: Uint8Array[] = [ascii('$?\r\n')];
  let from = 0;
  for (const to of [...points, body.length]) {
    if (to > from) wire.push(ascii(`;${to - from}\r\n`), body.subarray(from, to), ascii('\r\n'));
    from = to;
  }
  wire.push(ascii(';0\r\n'));
  return { wire, value } as Sample;
});

const MAX_SAFE = 2n ** 53n - 1n;

const scalar: fc.Arbitrary<Sample> = fc.oneof(
  lineText.map((s) => sample(s, `+${s}\r\n`)),
  text.map((s) => ({ value: s, wire: blob('$', ascii(s)) }) as Sample),
  streamedString,
  fc.integer().map((n) => sample(n, `:${n}\r\n`)),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => sample(n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n, `:${n}\r\n`)),
  fc.double({ noNaN: true }).map((x) => {
    const wire = x === Infinity ? 'inf' : x === -Infinity ? '-inf' : String(x);
    return sample(x === 0 ? 0 : x, `,${wire}\r\n`);
  }),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map((n) => sample(n, `(${n}\r\n`)),
  fc.constantFrom(sample(null, '_\r\n'), sample(null, '$-1\r\n'), sample(null, '*-1\r\n'), sample(true, '#t\r\n'), sample(false, '#f\r\n')),
  fc.tuple(fc.constantFrom('txt', 'mkd'), text).map(([format, s]) => ({ value: new RespVerbatim(format, s), wire: blob('=', ascii(`${format}:${s}`)) }) as Sample),
  text.map((s) => ({ value: new RespErrorReply(s), wire: blob('!', ascii(s)) }) as Sample),
  lineText.map((s) => sample(new RespErrorReply(s), `-${s}\r\n`)),
);

function aggregate(type: string, streamed: boolean, count: number, items: readonly Sample[]): Uint8Array[] {
  const wire: Uint8Array[] = [ascii(streamed ? `${type}?\r\n` : `${type}${count}\r\n`)];
  for (const item of items) wire.push(...item.wire);
  if (streamed) wire.push(ascii('.\r\n'));
  return wire;
}

/** Attribute maps (one or two in a row) and the one map they amount to. */
function attributes(entries: fc.Arbitrary<Sample>): fc.Arbitrary<{ wire: Uint8Array[]; map: Map<RespValue, RespValue> }> {
  const one = fc.array(fc.tuple(entries, entries), { maxLength: 2 });
  return fc.array(one, { minLength: 1, maxLength: 2 }).map((maps) => {
    const map = new Map<RespValue, RespValue>();
    const wire: Uint8Array[] = [];
    for (const pairs of maps) {
      wire.push(ascii(`|${pairs.length}\r\n`));
      for (const [k, v] of pairs) {
        wire.push(...k.wire, ...v.wire);
        map.set(k.value, v.value);
      }
    }
    return { wire, map };
  });
}

const values = fc.letrec<{ value: Sample; plain: Sample; attributed: Sample }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, tie('plain'), tie('plain'), tie('attributed')),
  plain: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    scalar,
    fc.tuple(fc.array(tie('value'), { maxLength: 4 }), fc.boolean()).map(
      ([items, streamed]) => ({ value: items.map((i) => i.value), wire: aggregate('*', streamed, items.length, items) }) as Sample,
    ),
    fc.tuple(fc.array(tie('value'), { maxLength: 4 }), fc.boolean()).map(
      ([items, streamed]) => ({ value: new Set(items.map((i) => i.value)), wire: aggregate('~', streamed, items.length, items) }) as Sample,
    ),
    fc.tuple(fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }), fc.boolean()).map(([pairs, streamed]) => {
      const map = new Map<RespValue, RespValue>();
      for (const [k, v] of pairs) map.set(k.value, v.value);
      return { value: map, wire: aggregate('%', streamed, pairs.length, pairs.flat()) } as Sample;
    }),
  ),
  attributed: fc.tuple(attributes(scalar), tie('plain')).map(
    ([attrs, plain]) => ({ value: new RespAttributed(attrs.map, plain.value), wire: [...attrs.wire, ...plain.wire] }) as Sample,
  ),
}));

/** A push frame (top level only), sometimes with attributes before it. */
const push: fc.Arbitrary<Sample<RespFrame>> = fc
  .tuple(fc.option(attributes(scalar), { nil: null }), fc.constantFrom('message', 'invalidate', 'pmessage'), fc.array(values.value, { maxLength: 3 }))
  .map(([attrs, kind, items]) => ({
    value: new RespPush(kind, [kind, ...items.map((i) => i.value)], attrs?.map ?? null),
    wire: [...(attrs?.wire ?? []), ascii(`>${items.length + 1}\r\n$${kind.length}\r\n${kind}\r\n`), ...items.flatMap((i) => i.wire)],
  }));

/** One to five top-level frames, as one byte stream, with the frames they decode to. */
export const resp3Stream: fc.Arbitrary<{ data: Uint8Array; frames: RespFrame[] }> = fc
  .array(fc.oneof({ weight: 4, arbitrary: values.value as fc.Arbitrary<Sample<RespFrame>> }, { weight: 1, arbitrary: push }), { minLength: 1, maxLength: 5 })
  .map((samples) => {
    const parts = samples.flatMap((s) => s.wire);
    const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      data.set(part, offset);
      offset += part.length;
    }
    return { data, frames: samples.map((s) => s.value) };
  });
