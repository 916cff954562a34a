// pg-decode: proto-pg's own framing, DataRow decoding and frontend encoding against
// pg-protocol's Parser and serializer (the path node-postgres takes), on the same bytes, in
// one process, as ratios. No server: the backend bytes are built here, as PostgreSQL sends
// them, and fed in 64 KiB chunks (what a socket read gives).
//
// Rows:
// - 100k rows of `select g, md5(g::text) from generate_series(1, 100000) g`, (a) framed only
//   (a raw client's floor: type and length read, body skipped), (b) proto-pg events (rows in
//   place, no string), (c) proto-pg events plus a string per column (the work pg-protocol
//   does), (d) pg-protocol's Parser.
// - 20k answers to pipelined extended queries (BindComplete, DataRow, CommandComplete,
//   ReadyForQuery each): proto-pg (each matched against its sent Bind/Execute/Sync) vs the Parser,
//   the answers alone (informational: the Parser matches nothing to what was sent), and the
//   whole round, the 20k Bind/Execute/Sync encoded too, against pg-protocol's serialize then its
//   Parser (what node-postgres does for the same round).
// - 20k Bind/Execute/Sync encoded: FrontendWriter (one buffer, one view per burst of 100) vs
//   pg-protocol's serialize (a Buffer per message).

import { createRequire } from 'node:module';
import { NEED_DATA, PgConnection, FrontendWriter } from '@curio-ts/proto-pg';
import { measure, table } from '../harness.js';
import type { Row } from '../harness.js';

const require = createRequire(import.meta.url);
// pg-protocol is a dependency of @curio-ts/proto-pg (and of pg); its parser is not exported by
// its main entry, hence the subpath.
const { Parser } = require('pg-protocol/dist/parser') as { Parser: new () => { parse(buffer: Buffer, callback: (message: unknown) => void): void } };
const { serialize } = require('pg-protocol') as {
  serialize: {
    bind(options: { statement?: string; portal?: string; values?: unknown[] }): Buffer;
    execute(options?: { portal?: string; rows?: number }): Buffer;
    sync(): Buffer;
  };
};

const CHUNK = 64 * 1024;

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function cstring(text: string): Buffer {
  return Buffer.from(text + '\0');
}

function dataRow(values: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([values.length >> 8, values.length & 0xff])];
  for (const value of values) {
    const bytes = Buffer.from(value);
    const length = Buffer.alloc(4);
    length.writeInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return message('D', Buffer.concat(parts));
}

function rowDescription(names: [string, number][]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, names.length])];
  for (const [name, oid] of names) {
    const field = Buffer.alloc(18);
    field.writeInt32BE(oid, 6);
    field.writeInt16BE(-1, 10);
    field.writeInt32BE(-1, 12);
    parts.push(cstring(name), field);
  }
  return message('T', Buffer.concat(parts));
}

function chunks(all: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += CHUNK) out.push(all.subarray(i, i + CHUNK));
  return out;
}

const STARTUP = Buffer.concat([message('R', Buffer.from([0, 0, 0, 0])), message('Z', Buffer.from('I'))]);

/** A connection after startup, with `send` applied. */
function connection(send: (conn: PgConnection) => void): PgConnection {
  const conn = new PgConnection({ user: 'bench' });
  conn.startup();
  conn.receiveData(STARTUP);
  while (conn.nextEvent() !== NEED_DATA);
  send(conn);
  conn.dataToSend();
  return conn;
}

/** `conn` fed `input`: the number of its events of type `type` (which must be `n`). */
function receiveCounting(conn: PgConnection, input: readonly Buffer[], type: string, n: number): number {
  let seen = 0;
  for (const chunk of input) {
    conn.receiveData(chunk);
    for (let event = conn.nextEvent(); event !== NEED_DATA; event = conn.nextEvent()) if (event.type === type) seen++;
  }
  if (seen !== n) throw new Error(`${type} count`);
  return n;
}

/** pg-protocol's Parser over `input`: the number of messages named `name` (which must be `n`). */
function parseCounting(input: readonly Buffer[], name: string, n: number): number {
  const parser = new Parser();
  let seen = 0;
  const onMessage = (m: unknown): void => {
    if ((m as { name: string }).name === name) seen++;
  };
  for (const chunk of input) parser.parse(chunk, onMessage);
  if (seen !== n) throw new Error('parse count');
  return n;
}

/** A raw client's framing: read each message's type and length, skip its body. Returns DataRows seen. */
function frameOnly(input: Buffer[]): number {
  let rows = 0;
  let skip = 0; // body bytes still to skip from the previous chunk
  const header = Buffer.alloc(5);
  let headerFilled = 0;
  for (const chunk of input) {
    let p = 0;
    if (skip > 0) {
      const n = Math.min(skip, chunk.length);
      p = n;
      skip -= n;
    }
    while (p < chunk.length) {
      if (headerFilled > 0 || chunk.length - p < 5) {
        while (headerFilled < 5 && p < chunk.length) header[headerFilled++] = chunk[p++] as number;
        if (headerFilled < 5) break;
        headerFilled = 0;
        if (header[0] === 0x44) rows++;
        skip = header.readInt32BE(1) - 4;
      } else {
        if (chunk[p] === 0x44) rows++;
        skip = chunk.readInt32BE(p + 1) - 4;
        p += 5;
      }
      const n = Math.min(skip, chunk.length - p);
      p += n;
      skip -= n;
    }
  }
  return rows;
}

async function rowRows(): Promise<Row[]> {
  const n = 100_000;
  const parts: Buffer[] = [rowDescription([['g', 23], ['md5', 25]])];
  const { createHash } = await import('node:crypto');
  for (let g = 1; g <= n; g++) parts.push(dataRow([String(g), createHash('md5').update(String(g)).digest('hex')]));
  parts.push(message('C', cstring(`SELECT ${n}`)), message('Z', Buffer.from('I')));
  const input = chunks(Buffer.concat(parts));
  const utf8Slice = Buffer.prototype.utf8Slice as (this: Uint8Array, start: number, end: number) => string;

  const results = await measure(
    [
      {
        name: 'framing only',
        run: async () => {
          if (frameOnly(input) !== n) throw new Error('frame count');
          return n;
        },
      },
      {
        name: 'proto-pg rows',
        run: async () => {
          const conn = connection((c) => c.query('select'));
          let rows = 0;
          let columns = 0;
          for (const chunk of input) {
            conn.receiveData(chunk);
            for (let event = conn.nextEvent(); event !== NEED_DATA; event = conn.nextEvent()) {
              if (event.type === 'data-row') {
                rows++;
                columns += event.columnCount;
              }
            }
          }
          if (rows !== n || columns !== 2 * n) throw new Error('row count');
          return n;
        },
      },
      {
        name: 'proto-pg rows + strings',
        run: async () => {
          const conn = connection((c) => c.query('select'));
          let rows = 0;
          let length = 0;
          for (const chunk of input) {
            conn.receiveData(chunk);
            for (let event = conn.nextEvent(); event !== NEED_DATA; event = conn.nextEvent()) {
              if (event.type === 'data-row') {
                rows++;
                for (let i = 0; i < event.columnCount; i++) length += utf8Slice.call(event.bytes, event.start(i), event.end(i)).length;
              }
            }
          }
          if (rows !== n || length === 0) throw new Error('row count');
          return n;
        },
      },
      {
        name: 'pg-protocol Parser',
        run: async () => {
          return parseCounting(input, 'dataRow', n);
        },
      },
    ],
    7,
  );
  const [frame, ours, oursStrings, theirs] = results as [typeof results[0], typeof results[0], typeof results[0], typeof results[0]];
  return [
    // Informational: an in-memory framing loop is not the server's row rate (the 0.95x target of
    // issue 11 is against a socket client reading the server's rows; see the pg suite).
    { benchmark: `${n} rows (g, md5): events vs framing only (in memory)`, ours, baseline: frame },
    { benchmark: `${n} rows: events vs pg-protocol Parser`, ours, baseline: theirs, target: 1 },
    { benchmark: `${n} rows: events + a string per column vs pg-protocol Parser (strings)`, ours: oursStrings, baseline: theirs, target: 1 },
  ];
}

async function answerRows(): Promise<Row[]> {
  const n = 20_000;
  const one = Buffer.concat([message('2', Buffer.alloc(0)), dataRow(['42']), message('C', cstring('SELECT 1')), message('Z', Buffer.from('I'))]);
  const input = chunks(Buffer.concat(Array.from({ length: n }, () => one)));
  const sendAll = (c: PgConnection): void => {
    for (let i = 0; i < n; i++) {
      c.bind('', 's', ['1']);
      c.execute('');
      c.sync();
    }
  };
  const receiveAll = (conn: PgConnection): number => receiveCounting(conn, input, 'ready', n);
  const parseAll = (): number => parseCounting(input, 'readyForQuery', n);
  // The decode-only contender gets connections that have sent already (one per run: a warm-up
  // and 7 rounds), so that only the answers are timed.
  const sent = Array.from({ length: 8 }, () => connection(sendAll));
  const [decodeOurs, decodeTheirs, roundOurs, roundTheirs] = await measure(
    [
      { name: 'proto-pg (answers only)', run: async () => receiveAll(sent.pop() ?? connection(sendAll)) },
      { name: 'pg-protocol Parser', run: async () => parseAll() },
      { name: 'proto-pg PgConnection', run: async () => receiveAll(connection(sendAll)) },
      {
        name: 'pg-protocol serialize + Parser',
        run: async () => {
          // What node-postgres does for the same round: a Buffer per message, then the Parser.
          let bytes = 0;
          for (let i = 0; i < n; i++) {
            bytes += serialize.bind({ statement: 's', values: ['1'] }).length + serialize.execute({ portal: '', rows: 0 }).length + serialize.sync().length;
          }
          if (bytes === 0) throw new Error('nothing written');
          return parseAll();
        },
      },
    ],
    7,
  );
  return [
    { benchmark: `${n} pipelined answers (2 D C Z) decoded, each matched to the Bind/Execute/Sync sent (sent beforehand)`, ours: decodeOurs!, baseline: decodeTheirs! },
    { benchmark: `${n} Bind/Execute/Sync sent and their answers decoded: PgConnection vs pg-protocol serialize + Parser`, ours: roundOurs!, baseline: roundTheirs!, target: 1 },
  ];
}

/** Simple-query answers with a result head and an error: RowDescription, DataRow, CommandComplete, ErrorResponse, ReadyForQuery. */
async function headRows(): Promise<Row[]> {
  const n = 20_000;
  const error = message(
    'E',
    Buffer.concat([...['SERROR', 'VERROR', 'C22012', 'Mdivision by zero', 'Fint.c', 'L821', 'Rint4div'].map(cstring), Buffer.from([0])]),
  );
  const one = Buffer.concat([
    rowDescription([['id', 23], ['name', 25], ['created_at', 1184], ['payload', 3802]]),
    dataRow(['1', 'x', '2024-01-01 00:00:00+00', '{}']),
    message('C', cstring('SELECT 1')),
    error,
    message('Z', Buffer.from('I')),
  ]);
  const input = chunks(Buffer.concat(Array.from({ length: n }, () => one)));
  const [ours, theirs] = await measure(
    [
      {
        name: 'proto-pg',
        run: async () => {
          const conn = connection((c) => {
            for (let i = 0; i < n; i++) c.query('select');
          });
          return receiveCounting(conn, input, 'error', n);
        },
      },
      {
        name: 'pg-protocol Parser',
        run: async () => {
          return parseCounting(input, 'error', n);
        },
      },
    ],
    7,
  );
  return [{ benchmark: `${n} simple-query answers (T of 4 fields, D, C, E of 7 fields, Z)`, ours: ours!, baseline: theirs!, target: 1 }];
}

async function encodeRows(): Promise<Row[]> {
  const n = 20_000;
  const [ours, theirs] = await measure(
    [
      {
        name: 'FrontendWriter',
        run: async () => {
          const writer = new FrontendWriter();
          let bytes = 0;
          for (let i = 0; i < n; i++) {
            writer.bind('', 'stmt', [String(i)], undefined, undefined);
            writer.execute('', 0);
            writer.sync();
            if (i % 100 === 99) bytes += writer.take()?.length ?? 0;
          }
          if (bytes === 0) throw new Error('nothing written');
          return n;
        },
      },
      {
        name: 'pg-protocol serialize',
        run: async () => {
          const out: Buffer[] = [];
          let bytes = 0;
          for (let i = 0; i < n; i++) {
            out.push(serialize.bind({ statement: 'stmt', values: [String(i)] }), serialize.execute({ portal: '', rows: 0 }), serialize.sync());
            if (i % 100 === 99) {
              for (const b of out) bytes += b.length;
              out.length = 0;
            }
          }
          if (bytes === 0) throw new Error('nothing written');
          return n;
        },
      },
    ],
    7,
  );
  return [{ benchmark: `${n} Bind/Execute/Sync encoded`, ours: ours!, baseline: theirs!, target: 1 }];
}

/** The pg-decode suite. */
export async function pgDecodeSuite(): Promise<string> {
  const rows = [...(await rowRows()), ...(await answerRows()), ...(await headRows()), ...(await encodeRows())];
  return (
    table(rows) +
    '\n\nNo server: the backend bytes are built in the bench, as PostgreSQL sends them, and fed in 64 KiB chunks. ' +
    '"framing only" reads each message\'s type and length and skips its body (a raw client\'s floor). ' +
    '"events" are PgConnection.nextEvent() results: a DataRow is the reused PgDataRow (column offsets into the received chunk), no string made; ' +
    '"+ a string per column" adds a utf8Slice per column (pg-protocol\'s Parser makes those strings itself).'
  );
}
