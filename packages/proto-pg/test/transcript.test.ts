// Every backend message type, in a transcript the connection is driven through, fed whole,
// split at every offset, byte by byte and in random chunks: the same events every time.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NEED_DATA, PgConnection, PgError } from '../src/index.js';
import type { PgEvent } from '../src/index.js';
import { snapshot } from './driver.js';
import type { Seen } from './driver.js';
import { authOk, commandComplete, concat, cstr, dataRow, errorResponse, fieldsMessage, int16, int32, keyData, msg, paramStatus, ready, rowDescription } from './backend-bytes.js';

/** The calls of the scenario, made before any byte arrives (everything pipelined). */
function scenario(): PgConnection {
  const conn = new PgConnection({ user: 'u', database: 'd' });
  conn.startup();
  conn.query('select 1 as a, null as b; select 2'); // held until AuthenticationOk
  conn.parse('s1', 'select $1::int');
  conn.describe('S', 's1');
  conn.bind('p1', 's1', ['5']);
  conn.describe('P', 'p1');
  conn.execute('p1', 2);
  conn.execute('p1', 0);
  conn.close('P', 'p1');
  conn.sync();
  conn.query('copy t to stdout');
  conn.query('');
  conn.parse('', 'selec');
  conn.bind('', '', []);
  conn.execute('');
  conn.sync();
  conn.query('begin; select 1/0');
  return conn;
}

const TRANSCRIPT = concat(
  msg('v', [...int32(196608), ...int32(1), ...cstr('_pq_.x')]),
  fieldsMessage('N', { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'before auth' }),
  authOk(),
  paramStatus('server_version', '15.0'),
  paramStatus('client_encoding', 'UTF8'),
  keyData(4242, -99),
  ready('I'),
  // query 1: two result sets
  rowDescription([['a', 23], ['b', 25]]),
  dataRow(['1', null]),
  commandComplete('SELECT 1'),
  rowDescription([['?column?', 23]]),
  dataRow(['2']),
  commandComplete('SELECT 1'),
  ready('I'),
  // extended
  msg('1'),
  msg('t', [...int16(1), ...int32(23)]),
  rowDescription([['int4', 23]]),
  msg('2'),
  rowDescription([['int4', 23]]),
  dataRow(['5']),
  dataRow(['6']),
  msg('s'),
  msg('A', [...int32(77), ...cstr('chan'), ...cstr('payload é')]),
  dataRow(['7']),
  commandComplete('SELECT 3'),
  msg('3'),
  ready('I'),
  // copy out
  msg('H', [0, ...int16(2), ...int16(0), ...int16(0)]),
  msg('d', [...new TextEncoder().encode('1\tx\n')]),
  msg('d', [...new TextEncoder().encode('2\ty\n')]),
  msg('c'),
  commandComplete('COPY 2'),
  ready('I'),
  // empty query
  msg('I'),
  ready('I'),
  // extended error: bind and execute skipped
  errorResponse('42601', 'syntax error at or near "selec"'),
  ready('I'),
  // simple query error in a transaction
  commandComplete('BEGIN'),
  errorResponse('22012', 'division by zero'),
  ready('E'),
  paramStatus('application_name', 'x'),
);

const EXPECTED_TYPES = [
  'negotiate-protocol-version', 'notice', 'authenticated', 'parameter-status', 'parameter-status', 'backend-key-data', 'ready',
  'row-description', 'data-row', 'command-complete', 'row-description', 'data-row', 'command-complete', 'ready',
  'parse-complete', 'parameter-description', 'row-description', 'bind-complete', 'row-description', 'data-row', 'data-row', 'portal-suspended',
  'notification', 'data-row', 'command-complete', 'close-complete', 'ready',
  'copy-out-response', 'copy-data', 'copy-data', 'copy-done', 'command-complete', 'ready',
  'empty-query', 'ready',
  'error', 'skipped', 'skipped', 'ready',
  'command-complete', 'error', 'ready',
  'parameter-status', 'closed',
];

/** Feed `chunks` (then EOF) and collect every event, copied. */
function run(chunks: Uint8Array[]): Seen[] {
  const conn = scenario();
  const seen: Seen[] = [];
  const drain = (): void => {
    for (;;) {
      const event = conn.nextEvent();
      if (event === NEED_DATA) return;
      seen.push(normalize(event));
      if (event.type === 'closed') return;
    }
  };
  for (const chunk of chunks) {
    conn.receiveData(chunk);
    drain();
  }
  conn.receiveData(new Uint8Array(0));
  drain();
  return seen;
}

/** Events made comparable: rows copied, copy data as arrays, errors as their fields. */
function normalize(event: PgEvent): Seen {
  if (event.type === 'copy-data') return { type: 'copy-data', data: new Uint8Array(event.data) };
  if (event.type === 'error') return { ...event, error: { ...event.error, message: event.error.message } as PgError };
  return snapshot(event);
}

function splitAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const offset of offsets) {
    chunks.push(bytes.subarray(last, offset));
    last = offset;
  }
  chunks.push(bytes.subarray(last));
  return chunks.filter((c) => c.length > 0);
}

describe('a transcript of every backend message type', () => {
  const whole = run([TRANSCRIPT]);

  it('gives the expected events', () => {
    expect(whole.map((e) => e.type)).toEqual(EXPECTED_TYPES);
    const at = (type: string, n = 0): Seen => whole.filter((e) => e.type === type)[n] as Seen;
    expect(at('negotiate-protocol-version')).toEqual({ type: 'negotiate-protocol-version', protocolVersion: 196608, minorVersion: 0, unrecognized: ['_pq_.x'] });
    expect(at('authenticated')).toEqual({ type: 'authenticated', method: 'trust' });
    expect(at('backend-key-data')).toEqual({ type: 'backend-key-data', processId: 4242, secretKey: -99 });
    expect(at('data-row')).toEqual({ type: 'data-row', values: ['1', null] });
    expect(at('row-description')).toMatchObject({ fields: [{ name: 'a', typeOid: 23, typeSize: -1, typeModifier: -1, format: 0 }, { name: 'b', typeOid: 25 }] });
    expect(at('parameter-description')).toEqual({ type: 'parameter-description', typeOids: [23] });
    expect(at('command-complete', 2)).toEqual({ type: 'command-complete', tag: 'SELECT 3', command: 'SELECT', rowCount: 3 });
    expect(at('notification')).toEqual({ type: 'notification', processId: 77, channel: 'chan', payload: 'payload é' });
    expect(at('copy-out-response')).toEqual({ type: 'copy-out-response', format: 0, columnFormats: [0, 0] });
    expect(at('copy-data')).toEqual({ type: 'copy-data', data: new TextEncoder().encode('1\tx\n') });
    expect(at('command-complete', 3)).toMatchObject({ command: 'COPY', rowCount: 2 });
    expect(at('error')).toMatchObject({ during: 'parse', error: { code: '42601' } });
    expect(whole.filter((e) => e.type === 'skipped')).toEqual([
      { type: 'skipped', message: 'bind', name: '' },
      { type: 'skipped', message: 'execute', name: '' },
    ]);
    expect(at('error', 1)).toMatchObject({ during: 'query', error: { code: '22012', message: 'division by zero' } });
    expect(at('ready', 6)).toEqual({ type: 'ready', status: 'E' });
    expect(at('closed')).toEqual({ type: 'closed', unanswered: [] });
  });

  it('gives the same events split at every offset', () => {
    for (let offset = 1; offset < TRANSCRIPT.length; offset++) {
      expect(run(splitAt(TRANSCRIPT, [offset]))).toEqual(whole);
    }
  });

  it('gives the same events byte by byte', () => {
    expect(run(splitAt(TRANSCRIPT, Array.from({ length: TRANSCRIPT.length - 1 }, (_, i) => i + 1)))).toEqual(whole);
  });

  it('gives the same events in random chunks', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: TRANSCRIPT.length - 1 }), { maxLength: 60 }), (cuts) => {
        expect(run(splitAt(TRANSCRIPT, [...cuts].sort((a, b) => a - b)))).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('state, transaction status, parameters and key after the transcript', () => {
    const conn = scenario();
    conn.receiveData(TRANSCRIPT);
    while (conn.nextEvent() !== NEED_DATA);
    expect(conn.state).toBe('ready');
    expect(conn.transactionStatus).toBe('E');
    expect(conn.parameters.get('application_name')).toBe('x');
    expect(conn.backendKey).toEqual({ processId: 4242, secretKey: -99 });
    expect(conn.pendingCount).toBe(0);
    expect([...conn.cancelRequest()]).toEqual([...int32(16), ...int32(80877102), ...int32(4242), ...int32(-99)]);
  });
});

/** A connection after startup, idle. */
function idle(): PgConnection {
  const conn = new PgConnection({ user: 'u' });
  conn.startup();
  conn.receiveData(concat(authOk(), ready()));
  while (conn.nextEvent() !== NEED_DATA);
  return conn;
}

describe('data rows in place', () => {
  it('columns are offsets into the received chunk; NULL is -1; the row object is reused', () => {
    const conn = idle();
    conn.query('select');
    const chunk = concat(dataRow(['ab', null, '', 'é']), dataRow(['x']));
    conn.receiveData(chunk);
    const first = conn.nextEvent();
    if (first === NEED_DATA || first.type !== 'data-row') throw new Error('expected a row');
    expect(first.bytes).toBe(chunk);
    expect(first.columnCount).toBe(4);
    expect([first.start(0), first.end(0)]).toEqual([11, 13]);
    expect(first.isNull(1)).toBe(true);
    expect(first.start(1)).toBe(-1);
    expect(first.text(2)).toBe('');
    expect(first.text(3)).toBe('é');
    expect(first.value(0)).toEqual(new Uint8Array([0x61, 0x62]));
    const second = conn.nextEvent();
    expect(second).toBe(first);
    expect(first.columnCount).toBe(1);
    expect(first.text(0)).toBe('x');
  });

  it('a row cut across chunks is assembled once, in a buffer of its size', () => {
    const conn = idle();
    conn.query('select');
    const big = 'z'.repeat(300_000);
    const bytes = concat(dataRow([big, 'tail']));
    for (let i = 0; i < bytes.length; i += 1000) {
      conn.receiveData(bytes.subarray(i, i + 1000));
      const event = conn.nextEvent();
      if (i + 1000 < bytes.length) expect(event).toBe(NEED_DATA);
      else {
        if (event === NEED_DATA || event.type !== 'data-row') throw new Error('expected a row');
        expect(event.bytes.length).toBe(bytes.length - 5);
        expect(event.text(0)).toBe(big);
        expect(event.text(1)).toBe('tail');
      }
    }
  });
});

describe('linear work', () => {
  it('a 256 KiB row fed one byte at a time is assembled once (a quadratic re-buffering would not finish)', () => {
    const conn = idle();
    conn.query('select');
    const bytes = concat(dataRow(['q'.repeat(256 * 1024)]));
    let row: PgEvent | typeof NEED_DATA = NEED_DATA;
    for (let i = 0; i < bytes.length; i++) {
      conn.receiveData(bytes.subarray(i, i + 1));
      row = conn.nextEvent();
    }
    expect(row !== NEED_DATA && row.type === 'data-row' ? row.end(0) - row.start(0) : -1).toBe(256 * 1024);
  });
});

describe('COPY BOTH', () => {
  it('copy data both ways, then the ends', () => {
    const conn = idle();
    conn.query('START_REPLICATION');
    conn.dataToSend();
    conn.receiveData(concat(msg('W', [0, ...int16(0)]), msg('d', [1, 2])));
    expect(conn.nextEvent()).toEqual({ type: 'copy-both-response', format: 0, columnFormats: [] });
    expect(conn.state).toBe('copy-both');
    expect(conn.nextEvent()).toMatchObject({ type: 'copy-data', data: new Uint8Array([1, 2]) });
    conn.copyData(new Uint8Array([3]));
    conn.copyDone();
    expect(conn.state).toBe('copy-out');
    expect([...(conn.dataToSend() as Uint8Array)]).toEqual([0x64, 0, 0, 0, 5, 3, 0x63, 0, 0, 0, 4]);
    conn.receiveData(concat(msg('c'), commandComplete('START_REPLICATION'), ready()));
    expect(conn.nextEvent()).toEqual({ type: 'copy-done' });
    expect(conn.nextEvent()).toMatchObject({ type: 'command-complete' });
    expect(conn.nextEvent()).toEqual({ type: 'ready', status: 'I' });
    expect(conn.state).toBe('ready');
  });
});

describe('rows assembled across chunks', () => {
  it('keep the class of the chunks received (Node Buffers stay Buffers)', () => {
    const conn = idle();
    conn.query('select');
    const bytes = Buffer.from(concat(dataRow(['abcdef'])));
    conn.receiveData(bytes.subarray(0, 8));
    expect(conn.nextEvent()).toBe(NEED_DATA);
    conn.receiveData(bytes.subarray(8));
    const row = conn.nextEvent();
    expect(row !== NEED_DATA && row.type === 'data-row' && Buffer.isBuffer(row.bytes)).toBe(true);
  });
});

describe('a long pipeline skipped after an error', () => {
  it('reports every skipped message with its name, in order, past the queue growing', () => {
    const conn = idle();
    const groups = 100; // 500 messages: the queue of sent messages grows from 64 slots
    for (let i = 0; i < groups; i++) {
      conn.parse(i % 3 === 0 ? '' : `s${i}`, 'select 1');
      conn.bind(i % 2 === 0 ? '' : `p${i}`, i % 3 === 0 ? '' : `s${i}`, []);
      conn.describe('P', i % 2 === 0 ? '' : `p${i}`);
      conn.execute(i % 2 === 0 ? '' : `p${i}`);
      conn.close('S', i % 3 === 0 ? '' : `s${i}`);
    }
    conn.sync();
    conn.receiveData(concat(errorResponse('42601', 'syntax error'), ready('E')));
    const events: PgEvent[] = [];
    for (let event = conn.nextEvent(); event !== NEED_DATA; event = conn.nextEvent()) events.push(event);
    const expected: { type: 'skipped'; message: string; name: string }[] = [];
    for (let i = 0; i < groups; i++) {
      const statement = i % 3 === 0 ? '' : `s${i}`;
      const portal = i % 2 === 0 ? '' : `p${i}`;
      if (i > 0) expected.push({ type: 'skipped', message: 'parse', name: statement });
      expected.push(
        { type: 'skipped', message: 'bind', name: portal },
        { type: 'skipped', message: 'describe-portal', name: portal },
        { type: 'skipped', message: 'execute', name: portal },
        { type: 'skipped', message: 'close', name: statement },
      );
    }
    expect(events[0]).toMatchObject({ type: 'error', during: 'parse' });
    expect(events.slice(1, -1)).toEqual(expected);
    expect(events.at(-1)).toEqual({ type: 'ready', status: 'E' });
  });
});
