// Frontend messages: the bytes FrontendWriter writes, checked against pg-protocol's serializer
// (an independent implementation) message by message, and through PgConnection's calls.

import { serialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { FrontendWriter, LocalProtocolError, PgConnection, encodeCancelRequest } from '../src/index.js';

function written(write: (w: FrontendWriter) => void): Uint8Array {
  const writer = new FrontendWriter();
  write(writer);
  return writer.take() ?? new Uint8Array(0);
}

const bytes = (buffer: Uint8Array): number[] => [...buffer];

describe('frontend messages equal pg-protocol serialize', () => {
  it('startup, SSLRequest, password, SASL', () => {
    expect(bytes(written((w) => w.startup([['user', 'alice'], ['database', 'db'], ['application_name', 'é'], ['client_encoding', 'UTF8']])))).toEqual(
      bytes(serialize.startup({ user: 'alice', database: 'db', application_name: 'é' })),
    );
    expect(bytes(written((w) => w.sslRequest()))).toEqual(bytes(serialize.requestSsl()));
    expect(bytes(written((w) => w.password('secret')))).toEqual(bytes(serialize.password('secret')));
    expect(bytes(written((w) => w.saslInitialResponse('SCRAM-SHA-256', new TextEncoder().encode('n,,n=,r=abc'))))).toEqual(
      bytes(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=abc')),
    );
    expect(bytes(written((w) => w.saslResponse(new TextEncoder().encode('c=biws,r=abc,p=xyz'))))).toEqual(bytes(serialize.sendSCRAMClientFinalMessage('c=biws,r=abc,p=xyz')));
  });

  it('query, parse, bind, describe, execute, close, sync, flush, terminate', () => {
    expect(bytes(written((w) => w.query('select ünïcode')))).toEqual(bytes(serialize.query('select ünïcode')));
    expect(bytes(written((w) => w.parse('s1', 'select $1, $2', [23, 0])))).toEqual(bytes(serialize.parse({ name: 's1', text: 'select $1, $2', types: [23, 0] })));
    expect(bytes(written((w) => w.parse('', 'select 1', undefined)))).toEqual(bytes(serialize.parse({ text: 'select 1' })));
    const blob = new Uint8Array([1, 2, 3]);
    expect(bytes(written((w) => w.bind('p', 's', ['a', null, blob, 'x'.repeat(100) + 'é'], [0, 0, 1, 0], [1])))).toEqual(
      bytes(serialize.bind({ portal: 'p', statement: 's', values: ['a', null, Buffer.from(blob), 'x'.repeat(100) + 'é'], binary: true })),
    );
    expect(bytes(written((w) => w.describe('S', 'name')))).toEqual(bytes(serialize.describe({ type: 'S', name: 'name' })));
    expect(bytes(written((w) => w.describe('P', '')))).toEqual(bytes(serialize.describe({ type: 'P' })));
    expect(bytes(written((w) => w.execute('p', 10)))).toEqual(bytes(serialize.execute({ portal: 'p', rows: 10 })));
    expect(bytes(written((w) => w.close('S', 's1')))).toEqual(bytes(serialize.close({ type: 'S', name: 's1' })));
    expect(bytes(written((w) => w.sync()))).toEqual(bytes(serialize.sync()));
    expect(bytes(written((w) => w.flush()))).toEqual(bytes(serialize.flush()));
    expect(bytes(written((w) => w.terminate()))).toEqual(bytes(serialize.end()));
  });

  it('COPY messages and CancelRequest', () => {
    const chunk = new Uint8Array([9, 8, 7]);
    expect(bytes(written((w) => w.copyData(chunk)))).toEqual(bytes(serialize.copyData(Buffer.from(chunk))));
    expect(bytes(written((w) => w.copyDone()))).toEqual(bytes(serialize.copyDone()));
    expect(bytes(written((w) => w.copyFail('why')))).toEqual(bytes(serialize.copyFail('why')));
    expect(bytes(encodeCancelRequest(1234, -5))).toEqual(bytes(serialize.cancel(1234, -5)));
  });

  it('bind without formats: text parameters need no format codes; a binary one makes them per parameter', () => {
    const text = written((w) => w.bind('', '', ['1', null], undefined, undefined));
    // B, length, '' '', 0 formats, 2 params: len 1 '1', -1; 0 result formats
    expect(bytes(text)).toEqual([0x42, 0, 0, 0, 21, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0x31, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    const mixed = written((w) => w.bind('', '', ['1', new Uint8Array([5])], undefined, undefined));
    expect(bytes(mixed.subarray(7, 13))).toEqual([0, 2, 0, 0, 0, 1]);
  });

  it('many messages in one burst, growing the buffer, come out in order in one view', () => {
    const writer = new FrontendWriter();
    for (let i = 0; i < 2000; i++) {
      writer.bind('', 'stmt', [String(i), 'x'.repeat(i % 50)], undefined, undefined);
      writer.execute('', 0);
      writer.sync();
    }
    const all = writer.take();
    expect(all).not.toBeNull();
    // Walk the messages: types B E S repeating, lengths consistent.
    let p = 0;
    let count = 0;
    const view = all as Uint8Array;
    while (p < view.length) {
      const length = ((view[p + 1] as number) << 24) | ((view[p + 2] as number) << 16) | ((view[p + 3] as number) << 8) | (view[p + 4] as number);
      expect(view[p]).toBe([0x42, 0x45, 0x53][count % 3]);
      p += 1 + length;
      count++;
    }
    expect(p).toBe(view.length);
    expect(count).toBe(6000);
    expect(writer.take()).toBeNull();
  });

  it('a view handed out is never written over', () => {
    const writer = new FrontendWriter();
    writer.query('select 1');
    const first = writer.take() as Uint8Array;
    const copy = bytes(first);
    for (let i = 0; i < 100; i++) writer.query('select ' + 'y'.repeat(i));
    writer.take();
    expect(bytes(first)).toEqual(copy);
  });

  it('a NUL inside a string is refused and the message is taken back whole', () => {
    const writer = new FrontendWriter();
    writer.sync();
    expect(() => writer.query('select \0')).toThrow(LocalProtocolError);
    expect(() => writer.parse('a\0', 'x', [])).toThrow(/NUL/);
    expect(() => writer.bind('', 'x\0', [], undefined, undefined)).toThrow(/NUL/);
    expect(bytes(writer.take() as Uint8Array)).toEqual(bytes(serialize.sync()));
  });
});

describe('sends through PgConnection', () => {
  it('refuses calls the state does not allow', () => {
    const conn = new PgConnection({ user: 'u' });
    expect(() => conn.copyData(new Uint8Array(1))).toThrow(LocalProtocolError);
    conn.requestSsl();
    expect(() => conn.startup()).toThrow(/not allowed/);
    expect(() => conn.query('select 1')).toThrow(/not allowed/);
    expect(() => conn.cancelRequest()).toThrow(/BackendKeyData/);
    expect(() => new PgConnection({ user: '' })).toThrow(LocalProtocolError);
  });

  it('startup carries user, database, client_encoding UTF8 and the extra parameters', () => {
    const conn = new PgConnection({ user: 'u', database: 'd', parameters: { application_name: 'app' } });
    conn.startup();
    expect(bytes(conn.dataToSend() as Uint8Array)).toEqual(bytes(serialize.startup({ user: 'u', database: 'd', application_name: 'app' })));
    expect(conn.hasDataToSend).toBe(false);
  });

  it('query messages before AuthenticationOk are held back, then sent behind the authentication answer', () => {
    const conn = new PgConnection({ user: 'u', password: 'pw' });
    conn.startup();
    conn.dataToSend();
    conn.query('select 1');
    expect(conn.hasDataToSend).toBe(false);
    conn.receiveData(new Uint8Array([0x52, 0, 0, 0, 8, 0, 0, 0, 3])); // cleartext password
    conn.receiveData(new Uint8Array([0x52, 0, 0, 0, 8, 0, 0, 0, 0])); // ok
    expect(conn.nextEvent()).toEqual({ type: 'authenticated', method: 'cleartext' });
    expect(bytes(conn.dataToSend() as Uint8Array)).toEqual([...bytes(serialize.password('pw')), ...bytes(serialize.query('select 1'))]);
  });
});
