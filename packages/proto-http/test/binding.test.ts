import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { HEAD_CONTINUE, HEAD_NO_BODY, HPE, LLHTTP_SHA256, REQUEST, RESPONSE, WireParser, methodName } from '../src/index.js';
import type { WireFields, WireHead, WireSink } from '../src/index.js';

const require = createRequire(import.meta.url);
const limits = { maxHeadBytes: 16384, maxTargetBytes: 8192, maxFields: 100 };
const text = (b: Uint8Array, s: number, e: number): string => (s < 0 ? '' : Buffer.from(b.subarray(s, e)).toString('latin1'));

interface Seen {
  heads: { method: string; target: string; status: number; version: string; fields: [string, string][]; upgrade: boolean; keepAlive: boolean }[];
  bodies: string[];
  trailers: ([string, string][] | null)[];
}

function fields(bytes: Uint8Array, spans: readonly number[], from: number, count: number): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const o = from + i * 4;
    out.push([text(bytes, spans[o]!, spans[o + 1]!), text(bytes, spans[o + 2]!, spans[o + 3]!)]);
  }
  return out;
}

function recorder(noBody = false): { sink: WireSink; seen: Seen } {
  const seen: Seen = { heads: [], bodies: [], trailers: [] };
  let body = '';
  const sink: WireSink = {
    onHead(head: WireHead) {
      seen.heads.push({
        method: head.method >= 0 ? methodName(head.method) : '',
        target: text(head.bytes, head.spans[0]!, head.spans[1]!),
        status: head.status,
        version: `${head.versionMajor}.${head.versionMinor}`,
        fields: fields(head.bytes, head.spans, 2, head.fieldCount),
        upgrade: head.upgrade,
        keepAlive: head.keepAlive,
      });
      body = '';
      return noBody ? HEAD_NO_BODY : HEAD_CONTINUE;
    },
    onBody(chunk, start, end) {
      body += text(chunk, start, end);
      return false;
    },
    onMessageComplete(trailers: WireFields | null) {
      seen.bodies.push(body);
      seen.trailers.push(trailers === null ? null : fields(trailers.bytes, trailers.spans, 2, trailers.fieldCount));
      return false;
    },
  };
  return { sink, seen };
}

function parseSplit(type: 1 | 2, input: string, cuts: number[]): Seen {
  const { sink, seen } = recorder();
  const parser = new WireParser(type, sink, limits);
  const bytes = Buffer.from(input, 'latin1');
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // Each piece in a fresh buffer, so nothing can refer to the previous piece's memory.
    const piece = Uint8Array.from(bytes.subarray(from, cut));
    expect(parser.execute(piece)).toBe(HPE.OK);
    piece.fill(0x7e); // the caller reuses its buffer: what was delivered must not change
    from = cut;
  }
  parser.destroy();
  return seen;
}

const pipelined =
  'GET /a?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Long-Header-Name: some value here\r\nAccept: */*\r\n\r\n' +
  'POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world' +
  'PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n3\r\nfgh\r\n0\r\nX-Trailer: t1\r\nY: \r\n\r\n';

describe('llhttp binding', () => {
  it('embeds the llhttp build of the pinned undici, byte for byte', () => {
    const bytes = require('undici/lib/llhttp/llhttp-wasm.js') as Uint8Array;
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(LLHTTP_SHA256);
  });

  it('parses pipelined requests: heads, bodies, chunked framing and trailers', () => {
    const seen = parseSplit(REQUEST, pipelined, []);
    expect(seen.heads.map((h) => [h.method, h.target, h.version])).toEqual([
      ['GET', '/a?x=1', '1.1'],
      ['POST', '/upload', '1.1'],
      ['PUT', '/c', '1.1'],
    ]);
    expect(seen.heads[0]!.fields).toEqual([
      ['Host', 'example.com'],
      ['X-Long-Header-Name', 'some value here'],
      ['Accept', '*/*'],
    ]);
    expect(seen.bodies).toEqual(['', 'hello world', 'abcdefgh']);
    expect(seen.trailers).toEqual([null, null, [['X-Trailer', 't1'], ['Y', '']]]);
  });

  it('gives the same result for every split of the input into two and three pieces', () => {
    const whole = parseSplit(REQUEST, pipelined, []);
    for (let i = 1; i < pipelined.length; i++) {
      expect(parseSplit(REQUEST, pipelined, [i])).toEqual(whole);
    }
    for (let i = 1; i < pipelined.length; i += 7) {
      for (let j = i + 1; j < pipelined.length; j += 5) expect(parseSplit(REQUEST, pipelined, [i, j])).toEqual(whole);
    }
  });

  it('parses right after the wasm memory grew (a chunk larger than any before, then small ones again)', () => {
    const whole = parseSplit(REQUEST, pipelined, []);
    // A body of 8 MiB in one chunk: the shared input region is made larger, which grows the
    // memory (its old buffer is detached); parsing before and after must not notice.
    const big = 8 * 1024 * 1024;
    const { sink, seen } = recorder();
    const parser = new WireParser(REQUEST, sink, limits);
    const head = Buffer.from(`POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: ${big}\r\n\r\n`, 'latin1');
    const chunk = new Uint8Array(head.length + big).fill(0x61);
    chunk.set(head, 0);
    expect(parser.execute(Uint8Array.from(Buffer.from(pipelined, 'latin1')))).toBe(HPE.OK);
    expect(parser.execute(chunk)).toBe(HPE.OK);
    expect(parser.execute(Uint8Array.from(Buffer.from(pipelined, 'latin1')))).toBe(HPE.OK);
    parser.destroy();
    expect(seen.heads.map((h) => h.target)).toEqual([...whole.heads.map((h) => h.target), '/big', ...whole.heads.map((h) => h.target)]);
    expect(seen.bodies[3]).toBe('a'.repeat(big));
    expect(seen.bodies.slice(4)).toEqual(whole.bodies);
    expect(parseSplit(REQUEST, pipelined, [7, 50])).toEqual(whole);
  });

  it('gives the same result fed one byte at a time', () => {
    const whole = parseSplit(REQUEST, pipelined, []);
    const cuts = Array.from({ length: pipelined.length - 1 }, (_, i) => i + 1);
    expect(parseSplit(REQUEST, pipelined, cuts)).toEqual(whole);
  });

  it('parses responses: status, reason, body by length, and no body when told so', () => {
    const response = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n';
    const seen = parseSplit(RESPONSE, response, []);
    expect(seen.heads.map((h) => [h.status, h.target])).toEqual([
      [200, 'OK'],
      [404, 'Not Found'],
    ]);
    expect(seen.bodies).toEqual(['hello', '']);
    const head = recorder(true);
    const parser = new WireParser(RESPONSE, head.sink, limits);
    expect(parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'))).toBe(HPE.OK);
    expect(head.seen.heads.map((h) => h.status)).toEqual([200, 204]);
    parser.destroy();
  });

  it('stops at the limits, having copied no more than the limit', () => {
    const { sink } = recorder();
    const parser = new WireParser(REQUEST, sink, { maxHeadBytes: 1024, maxTargetBytes: 100, maxFields: 3 });
    expect(parser.execute(Buffer.from(`GET /${'a'.repeat(200)} HTTP/1.1\r\n`))).toBe(HPE.USER);
    expect(parser.limit).toBe('target');
    parser.reset();
    const big = Buffer.from(`GET / HTTP/1.1\r\nX: ${'v'.repeat(100)}`);
    let result: number = HPE.OK;
    for (let i = 0; i < 20 && result === HPE.OK; i++) result = parser.execute(i === 0 ? big : Buffer.from('v'.repeat(100)));
    expect(result).toBe(HPE.USER);
    expect(parser.limit).toBe('head');
    parser.reset();
    expect(parser.execute(Buffer.from('GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n'))).toBe(HPE.USER);
    expect(parser.limit).toBe('fields');
    parser.destroy();
  });

  it('reports llhttp errors with a reason and a position', () => {
    const { sink } = recorder();
    const parser = new WireParser(REQUEST, sink, limits);
    const input = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
    const result = parser.execute(input);
    expect(result).not.toBe(HPE.OK);
    expect(parser.reason()).toMatch(/content-length/i);
    expect(parser.stoppedAt).toBeGreaterThan(0);
    expect(parser.stoppedAt).toBeLessThanOrEqual(input.length);
    parser.destroy();
  });

  it('refuses to run inside its own callback', () => {
    let inner: unknown = null;
    const parser: WireParser = new WireParser(
      REQUEST,
      {
        onHead() {
          try {
            parser.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
          } catch (error) {
            inner = error;
          }
          return 0;
        },
        onBody: () => false,
        onMessageComplete: () => false,
      },
      limits,
    );
    expect(parser.execute(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'))).toBe(HPE.OK);
    expect(String(inner)).toMatch(/re-entrant/);
    parser.destroy();
  });
});
