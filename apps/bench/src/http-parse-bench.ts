// HTTP request parsing throughput (suite 'http-parse'): a typical browser request (a GET that
// Chrome sends for a fetch() by a page: 509 bytes, 12 header fields) parsed again and again on one keep-alive
// parser, one request per buffer and 16 pipelined in one buffer, by:
//
// - our binding of llhttp (proto-http's WireParser): offsets only, and with every string taken
//   (target, each name and value);
// - proto-http's HttpConnection, server role (bytes -> Request and EndOfMessage events), headers
//   left lazy, and with every string taken. The next request is parsed only after our response
//   (one cycle at a time), so each cycle also encodes a minimal response (204, no fields) and
//   calls startNextCycle: the least a server does per request;
// - Node's own llhttp (native), through `HTTPParser` of node:_http_common (what node:http
//   uses; it hands every header as a string);
// - the llhttp-wasm npm package (llhttp in wasm; strings for everything, a malloc per execute).
//
// All in this process, interleaved rounds (harness.measure), requests/s.

import { createRequire } from 'node:module';
import { createParser } from 'llhttp-wasm';
import { EndOfMessage, HEAD_CONTINUE, HttpConnection, NEED_DATA, PAUSED, REQUEST, Response, WireParser, latin1 } from '@curio-ts/proto-http';
import type { WireFields, WireHead, WireSink } from '@curio-ts/proto-http';
import { byName, measure, table } from './harness.js';
import type { Contender, Measurement, Row } from './harness.js';

/** A GET that Chrome 131 sends for a page's fetch() of a JSON resource, as sent (order and spelling kept). */
export const CHROME_GET =
  'GET /api/v2/products?category=shoes&page=2 HTTP/1.1\r\n' +
  'Host: shop.example.com\r\n' +
  'Connection: keep-alive\r\n' +
  'sec-ch-ua-platform: "Linux"\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n' +
  'sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"\r\n' +
  'sec-ch-ua-mobile: ?0\r\n' +
  'Accept: */*\r\n' +
  'Sec-Fetch-Site: same-origin\r\n' +
  'Sec-Fetch-Mode: cors\r\n' +
  'Sec-Fetch-Dest: empty\r\n' +
  'Accept-Encoding: gzip, deflate, br, zstd\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  '\r\n';

const PIPELINED = 16;
const SINGLE_RUNS = Number(process.env['HTTP_PARSE_N'] ?? 20_000);
const PIPELINED_RUNS = Math.max(1, Math.floor(SINGLE_RUNS / PIPELINED));

const one = Buffer.from(CHROME_GET, 'latin1');
const sixteen = Buffer.from(CHROME_GET.repeat(PIPELINED), 'latin1');

/** Keeps a result alive so that the work making it is not optimized away. */
let sinkhole = 0;

/** A parser of one kind: execute one buffer; resolves the number of requests it held. */
type Parse = (buffer: Uint8Array) => number;

// ---- Our binding, WireParser ------------------------------------------------------------

const LIMITS = { maxHeadBytes: 16 * 1024, maxTargetBytes: 8 * 1024, maxFields: 100 };

function wireParser(takeStrings: boolean): Parse {
  let count = 0;
  const sink: WireSink = {
    onHead(head: WireHead): number {
      if (takeStrings) {
        const spans = head.spans;
        let length = latin1(head.bytes, spans[0] as number, spans[1] as number).length;
        for (let i = 0, o = 2; i < head.fieldCount; i++, o += 4) {
          length += latin1(head.bytes, spans[o] as number, spans[o + 1] as number).length;
          length += latin1(head.bytes, spans[o + 2] as number, spans[o + 3] as number).length;
        }
        sinkhole += length;
      } else sinkhole += head.fieldCount;
      return HEAD_CONTINUE;
    },
    onBody: () => false,
    onMessageComplete(_trailers: WireFields | null): boolean {
      count++;
      return false;
    },
  };
  const parser = new WireParser(REQUEST, sink, LIMITS);
  return (buffer) => {
    count = 0;
    const result = parser.execute(buffer);
    if (result !== 0) throw new Error(`WireParser: ${parser.reason()}`);
    return count;
  };
}

// ---- Our connection object, server role ------------------------------------------------

function httpConnection(takeStrings: boolean): Parse {
  const conn = new HttpConnection('server');
  const response = new Response(204);
  const end = new EndOfMessage();
  return (buffer) => {
    let count = 0;
    conn.receiveData(buffer);
    for (;;) {
      const event = conn.nextEvent();
      if (event === NEED_DATA) break;
      if (event === PAUSED) throw new Error('HttpConnection paused with both sides done');
      if (event.type === 'request') {
        if (takeStrings) {
          const headers = event.headers;
          let length = event.target.length + event.method.length;
          for (let i = 0; i < headers.length; i++) length += headers.name(i).length + headers.value(i).length;
          sinkhole += length;
        } else sinkhole += event.target.length;
      } else if (event.type === 'end-of-message') {
        // Answer, and start the next cycle (as a server does): the next request is parsed then.
        count++;
        conn.send(response);
        conn.send(end);
        conn.startNextCycle();
      } else throw new Error(`unexpected event ${event.type}`);
    }
    return count;
  };
}

// ---- Node's llhttp (native), through node:_http_common -----------------------------------

interface NodeHttpParser {
  initialize(type: number, resource: object): void;
  execute(buffer: Buffer): number | Error;
  [callback: number]: unknown;
}
interface NodeHttpCommon {
  HTTPParser: {
    new (): NodeHttpParser;
    readonly REQUEST: number;
    readonly kOnHeadersComplete: number;
    readonly kOnMessageComplete: number;
  };
}

function nodeParser(): Parse {
  // Node's HTTP internals are not importable as ESM; node:http itself uses this parser.
  const { HTTPParser } = createRequire(import.meta.url)('node:_http_common') as NodeHttpCommon;
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {});
  let count = 0;
  parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, headers: string[], _method: number, url: string): number => {
    sinkhole += headers.length + url.length;
    return 0;
  };
  parser[HTTPParser.kOnMessageComplete] = (): void => {
    count++;
  };
  return (buffer) => {
    count = 0;
    const result = parser.execute(buffer as Buffer);
    if (result instanceof Error) throw result;
    return count;
  };
}

// ---- The llhttp-wasm package ---------------------------------------------------------------

function llhttpWasm(): Parse {
  // llhttp-wasm 1.0.3's createParser looks its argument up in TYPE by name (its typing says
  // number, but a number would make a parser of type BOTH).
  const parser = createParser('REQUEST' as unknown as number);
  let count = 0;
  parser.onHeadersComplete = (message) => {
    sinkhole += message.rawHeaders.length + (message.url?.length ?? 0);
    return 0;
  };
  parser.onMessageComplete = () => {
    count++;
    return 0;
  };
  return (buffer) => {
    count = 0;
    const result = parser.execute(buffer);
    if (result !== 0) throw new Error(`llhttp-wasm: ${parser.getErrorReason(result) ?? result}`);
    return count;
  };
}

// ---------------------------------------------------------------------------------------------

const NODE = 'node:http HTTPParser (native llhttp)';
const WASM = 'llhttp-wasm 1.0.3';

const PARSERS: readonly { readonly name: string; readonly make: () => Parse }[] = [
  { name: 'WireParser (lazy)', make: () => wireParser(false) },
  { name: 'WireParser (all strings)', make: () => wireParser(true) },
  { name: 'HttpConnection (lazy)', make: () => httpConnection(false) },
  { name: 'HttpConnection (all strings)', make: () => httpConnection(true) },
  { name: NODE, make: nodeParser },
  { name: WASM, make: llhttpWasm },
];

function contenders(buffer: Uint8Array, perBuffer: number, runs: number): Contender[] {
  return PARSERS.map(({ name, make }) => {
    const parse = make();
    return {
      name,
      run: async () => {
        let parsed = 0;
        for (let i = 0; i < runs; i++) parsed += parse(buffer);
        if (parsed !== runs * perBuffer) throw new Error(`${name} parsed ${parsed} requests, expected ${runs * perBuffer}`);
        return parsed;
      },
    };
  });
}

/** Run the parser suite; returns the markdown table. */
export async function httpParseSuite(): Promise<string> {
  const rows: Row[] = [];
  for (const [label, buffer, perBuffer, runs] of [
    ['1 request per buffer', one, 1, SINGLE_RUNS],
    [`${PIPELINED} pipelined per buffer`, sixteen, PIPELINED, PIPELINED_RUNS],
  ] as const) {
    const results = await measure(contenders(buffer, perBuffer, runs));
    const by = (name: string): Measurement => byName(results, name);
    const vs = (ours: string, baseline: string): void => {
      rows.push({ benchmark: `parse a ${one.length} B Chrome GET, ${label}: ${ours} vs ${baseline}`, ours: by(ours), baseline: by(baseline) });
    };
    for (const ours of ['WireParser (lazy)', 'WireParser (all strings)', 'HttpConnection (lazy)', 'HttpConnection (all strings)']) vs(ours, NODE);
    vs('WireParser (lazy)', WASM);
    vs('WireParser (all strings)', WASM);
  }
  return (
    `${table(rows)}\n\nRequests/s parsed, median of 5 interleaved rounds in one process (harness.measure), ` +
    `${SINGLE_RUNS} requests per round. The request has ${CHROME_GET.split('\r\n').length - 3} header fields. ` +
    'HttpConnection rows include encoding a minimal response (204) per request: its next request is parsed only after the response (one cycle at a time). ' +
    "Node's parser and llhttp-wasm always make every string. Informational (no target)." +
    (sinkhole < 0 ? ' (unreachable: keeps the strings made alive)' : '')
  );
}
