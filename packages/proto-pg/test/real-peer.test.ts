// The connection object driven over a raw node:net socket against a real PostgreSQL
// (CURIO_TEST_PG_URL, or 127.0.0.1:5432 with trust auth): every part of the protocol the
// server speaks, as the server speaks it.

import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { PgDriver, testTarget, withPg } from './driver.js';
import type { Seen } from './driver.js';
import { PgError } from '../src/index.js';

const types = (events: Seen[]): string[] => events.map((e) => e.type);
const rows = (events: Seen[]): (string | null)[][] => events.flatMap((e) => (e.type === 'data-row' && 'values' in e ? [e.values] : []));
function only<T extends Seen['type']>(events: Seen[], type: T): Extract<Seen, { type: T }>[] {
  return events.filter((e) => e.type === type) as Extract<Seen, { type: T }>[];
}

describe('startup', () => {
  it('trust: authenticated, parameters, backend key, ready idle', async () => {
    const pg = await PgDriver.open({ parameters: { application_name: 'proto-pg-test' } });
    try {
      pg.conn.startup();
      expect(pg.conn.state).toBe('authenticating');
      pg.flush();
      const events = await pg.until((e) => e.type === 'ready');
      expect(events[0]).toEqual({ type: 'authenticated', method: 'trust' });
      expect(only(events, 'backend-key-data')).toHaveLength(1);
      expect(events.at(-1)).toEqual({ type: 'ready', status: 'I' });
      expect(pg.conn.state).toBe('ready');
      expect(pg.conn.parameters.get('client_encoding')).toBe('UTF8');
      expect(pg.conn.parameters.get('application_name')).toBe('proto-pg-test');
      expect(pg.conn.parameters.get('server_version')).toMatch(/^\d+/);
      expect(pg.conn.backendKey?.processId).toBeGreaterThan(0);
    } finally {
      pg.close();
    }
  });

  it('SSLRequest is answered with one byte; without TLS the startup follows on the same stream', async () => {
    const pg = await PgDriver.open();
    try {
      pg.conn.requestSsl();
      pg.flush();
      const [answer] = await pg.until((e) => e.type === 'ssl-response');
      expect(answer?.type).toBe('ssl-response');
      if (answer?.type === 'ssl-response' && !answer.accepted) {
        expect(pg.conn.state).toBe('ssl-answered');
        pg.conn.startup();
        pg.flush();
        await pg.until((e) => e.type === 'ready');
        expect(pg.conn.state).toBe('ready');
      }
    } finally {
      pg.close();
    }
  });

  it('a query queued before authentication ends is sent after it', async () => {
    const pg = await PgDriver.open();
    try {
      pg.conn.startup();
      pg.conn.query('select 7');
      pg.flush();
      const events = await pg.readies(2);
      expect(rows(events)).toEqual([['7']]);
    } finally {
      pg.close();
    }
  });

  it('unknown _pq_ options: NegotiateProtocolVersion', async () => {
    const pg = await PgDriver.open({ parameters: { '_pq_.curio_test': 'on' } });
    try {
      pg.conn.startup();
      pg.flush();
      const events = await pg.until((e) => e.type === 'ready');
      expect(only(events, 'negotiate-protocol-version')).toEqual([{ type: 'negotiate-protocol-version', protocolVersion: 196608, minorVersion: 0, unrecognized: ['_pq_.curio_test'] }]);
    } finally {
      pg.close();
    }
  });

  it('a database that does not exist: a FATAL error during startup, then the end', async () => {
    const pg = await PgDriver.open({ database: 'curio_no_such_database' });
    try {
      pg.conn.startup();
      pg.flush();
      const events = await pg.closed();
      const [error] = only(events, 'error');
      expect(error?.error).toBeInstanceOf(PgError);
      expect(error?.error.code).toBe('3D000');
      expect(error?.during).toBe('startup');
      expect(pg.conn.state).toBe('closed');
    } finally {
      pg.close();
    }
  });
});

describe('simple query', () => {
  it('several statements, several result sets, command tags and row counts', async () => {
    await withPg(async (pg) => {
      pg.conn.query("select 1 as a; select 'x' as b, null as c union all select 'y', 'z'; create temp table t1(id int); insert into t1 values (1), (2)");
      pg.flush();
      const events = await pg.readies(1);
      expect(types(events)).toEqual([
        'row-description', 'data-row', 'command-complete',
        'row-description', 'data-row', 'data-row', 'command-complete',
        'command-complete', 'command-complete', 'ready',
      ]);
      expect(rows(events)).toEqual([['1'], ['x', null], ['y', 'z']]);
      const tags = only(events, 'command-complete');
      expect(tags.map((t) => [t.command, t.rowCount])).toEqual([['SELECT', 1], ['SELECT', 2], ['CREATE', null], ['INSERT', 2]]);
      const [description] = only(events, 'row-description');
      expect(description?.fields[0]).toMatchObject({ name: 'a', typeOid: 23, typeSize: 4, format: 0 });
    });
  });

  it('an empty query', async () => {
    await withPg(async (pg) => {
      pg.conn.query('');
      pg.flush();
      expect(types(await pg.readies(1))).toEqual(['empty-query', 'ready']);
    });
  });

  it('an error ends the query string; the next query runs', async () => {
    await withPg(async (pg) => {
      pg.conn.query('select 1; select 1/0; select 2');
      pg.conn.query('select 3');
      pg.flush();
      const events = await pg.readies(2);
      expect(types(events)).toEqual(['row-description', 'data-row', 'command-complete', 'error', 'ready', 'row-description', 'data-row', 'command-complete', 'ready']);
      const [error] = only(events, 'error');
      expect(error?.error.code).toBe('22012');
      expect(error?.during).toBe('query');
      expect(error?.error.severity).toBe('ERROR');
      expect(error?.error.routine).toBeTruthy();
    });
  });

  it('every ErrorResponse field: a unique violation names schema, table, constraint, detail', async () => {
    await withPg(async (pg) => {
      pg.conn.query('create temp table u1(id int primary key); insert into u1 values (1); insert into u1 values (1)');
      pg.flush();
      const [error] = only(await pg.readies(1), 'error');
      expect(error?.error).toMatchObject({ code: '23505', table: 'u1', constraint: 'u1_pkey', severityName: 'ERROR' });
      expect(error?.error.detail).toContain('already exists');
      expect(error?.error.schema).toMatch(/^pg_temp/);
    });
  });

  it('transaction status follows ReadyForQuery', async () => {
    await withPg(async (pg) => {
      pg.conn.query('begin');
      pg.conn.query('select 1/0');
      pg.conn.query('rollback');
      pg.flush();
      const readies = only(await pg.readies(3), 'ready');
      expect(readies.map((r) => r.status)).toEqual(['T', 'E', 'I']);
      expect(pg.conn.transactionStatus).toBe('I');
    });
  });

  it('a row of a million bytes arrives whole across many reads', async () => {
    await withPg(async (pg) => {
      pg.conn.query("select repeat('x', 1000000) as big, 'after' as tail");
      pg.flush();
      const [row] = rows(await pg.readies(1));
      expect(row?.[0]?.length).toBe(1_000_000);
      expect(row?.[1]).toBe('after');
    });
  });

  it('a parameter change is reported', async () => {
    await withPg(async (pg) => {
      pg.conn.query("set application_name = 'renamed'");
      pg.flush();
      const events = await pg.readies(1);
      expect(only(events, 'parameter-status')).toContainEqual({ type: 'parameter-status', name: 'application_name', value: 'renamed' });
      expect(pg.conn.parameters.get('application_name')).toBe('renamed');
    });
  });
});

describe('extended query', () => {
  it('a named statement: parse, describe, then bind and execute twice', async () => {
    await withPg(async (pg) => {
      pg.conn.parse('s1', 'select $1::int + 1 as n, $2::text as t');
      pg.conn.describe('S', 's1');
      pg.conn.sync();
      pg.flush();
      const described = await pg.readies(1);
      expect(types(described)).toEqual(['parse-complete', 'parameter-description', 'row-description', 'ready']);
      expect(only(described, 'parameter-description')[0]?.typeOids).toEqual([23, 25]);
      for (const value of ['41', '99']) {
        pg.conn.bind('', 's1', [value, null]);
        pg.conn.execute('');
        pg.conn.sync();
      }
      pg.flush();
      const events = await pg.readies(2);
      expect(types(events)).toEqual(['bind-complete', 'data-row', 'command-complete', 'ready', 'bind-complete', 'data-row', 'command-complete', 'ready']);
      expect(rows(events)).toEqual([['42', null], ['100', null]]);
      pg.conn.close('S', 's1');
      pg.conn.sync();
      pg.flush();
      expect(types(await pg.readies(1))).toEqual(['close-complete', 'ready']);
    });
  });

  it('binary parameters and binary results', async () => {
    await withPg(async (pg) => {
      pg.conn.parse('', 'select $1::int4 as n, $2::bytea as b', [23, 17]);
      pg.conn.bind('', '', [new Uint8Array([0, 0, 1, 0]), new Uint8Array([0xde, 0xad])], undefined, [1]);
      pg.conn.describe('P', '');
      pg.conn.execute('');
      pg.conn.sync();
      pg.flush();
      const events: Uint8Array[][] = [];
      const done = pg.readies(1);
      // Copy the binary columns as they come: the driver's snapshot decodes text.
      const seen = await done;
      expect(types(seen)).toEqual(['parse-complete', 'bind-complete', 'row-description', 'data-row', 'command-complete', 'ready']);
      expect(only(seen, 'row-description')[0]?.fields.map((f) => f.format)).toEqual([1, 1]);
      const [row] = rows(seen);
      // Binary int4 256 is 00 00 01 00; bytea comes raw.
      expect(row?.[0]).toBe('\u0000\u0000\u0001\u0000');
      expect(row?.[1]).toBe(new TextDecoder().decode(new Uint8Array([0xde, 0xad])));
      expect(events).toEqual([]);
    });
  });

  it('a portal with a row limit is suspended and resumed', async () => {
    await withPg(async (pg) => {
      pg.conn.parse('', 'select g from generate_series(1, 5) g');
      pg.conn.bind('p1', '', []);
      pg.conn.execute('p1', 2);
      pg.conn.flush();
      pg.flush();
      let events = await pg.until((e) => e.type === 'portal-suspended');
      expect(rows(events)).toEqual([['1'], ['2']]);
      pg.conn.execute('p1', 2);
      pg.conn.execute('p1', 2);
      pg.conn.sync();
      pg.flush();
      events = await pg.readies(1);
      expect(types(events)).toEqual(['data-row', 'data-row', 'portal-suspended', 'data-row', 'command-complete', 'ready']);
      expect(rows(events)).toEqual([['3'], ['4'], ['5']]);
    });
  });

  it('pipelining: 500 queries sent before any result, answered in order', async () => {
    await withPg(async (pg) => {
      pg.conn.parse('inc', 'select $1::int + 1');
      for (let i = 0; i < 500; i++) {
        pg.conn.bind('', 'inc', [String(i)]);
        pg.conn.execute('');
        pg.conn.sync();
      }
      expect(pg.conn.pendingCount).toBe(1501);
      pg.flush();
      const events = await pg.readies(500);
      expect(rows(events).map((r) => Number(r[0]))).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      expect(pg.conn.pendingCount).toBe(0);
      expect(pg.conn.state).toBe('ready');
    });
  });

  it('after an error the server skips to the Sync: each skipped message is reported', async () => {
    await withPg(async (pg) => {
      pg.conn.parse('', 'select $1::int');
      pg.conn.bind('', '', ['not a number']);
      pg.conn.describe('P', '');
      pg.conn.execute('');
      pg.conn.query('select 0'); // skipped too: the server ignores everything up to Sync
      pg.conn.sync();
      pg.conn.parse('', 'select $1::int');
      pg.conn.bind('', '', ['5']);
      pg.conn.execute('');
      pg.conn.sync();
      pg.flush();
      const events = await pg.readies(2);
      expect(types(events)).toEqual([
        'parse-complete', 'error', 'skipped', 'skipped', 'skipped', 'ready',
        'parse-complete', 'bind-complete', 'data-row', 'command-complete', 'ready',
      ]);
      const [error] = only(events, 'error');
      expect(error?.during).toBe('bind');
      expect(error?.error.code).toBe('22P02');
      expect(only(events, 'skipped').map((s) => s.message)).toEqual(['describe-portal', 'execute', 'query']);
      expect(rows(events)).toEqual([['5']]);
    });
  });

  it('an error while the Sync is not yet sent: skipped messages are reported when it comes', async () => {
    await withPg(async (pg) => {
      const mark = pg.mark();
      pg.conn.parse('bad', 'selec 1');
      pg.conn.bind('', 'bad', []);
      pg.conn.flush();
      pg.flush();
      await pg.until((e) => e.type === 'error');
      expect(pg.conn.state).toBe('recovering');
      pg.conn.execute('');
      pg.conn.sync();
      pg.flush();
      const events = await pg.readies(1, mark);
      expect(types(events)).toEqual(['error', 'skipped', 'skipped', 'ready']);
      expect(only(events, 'skipped').map((s) => s.message)).toEqual(['bind', 'execute']);
      expect(pg.conn.state).toBe('ready');
    });
  });
});

describe('COPY', () => {
  it('COPY TO STDOUT: copy-data events, then the tag', async () => {
    await withPg(async (pg) => {
      pg.conn.query('copy (select g, g * 2 from generate_series(1, 3) g) to stdout');
      pg.flush();
      const events = await pg.readies(1);
      expect(types(events)).toEqual(['copy-out-response', 'copy-data', 'copy-data', 'copy-data', 'copy-done', 'command-complete', 'ready']);
      const data = only(events, 'copy-data').map((e) => new TextDecoder().decode(e.data));
      expect(data).toEqual(['1\t2\n', '2\t4\n', '3\t6\n']);
      expect(only(events, 'command-complete')[0]).toMatchObject({ command: 'COPY', rowCount: 3 });
    });
  });

  it('COPY FROM STDIN (simple query): copyData, copyDone; psql-free check of what was written', async () => {
    await withPg(async (pg) => {
      const mark = pg.mark();
      pg.conn.query('create temp table c1(id int, name text)');
      pg.conn.query('copy c1 from stdin');
      pg.flush();
      const started = await pg.until((e) => e.type === 'copy-in-response');
      expect(only(started, 'copy-in-response')[0]).toMatchObject({ format: 0, columnFormats: [0, 0] });
      expect(pg.conn.state).toBe('copy-in');
      const encoder = new TextEncoder();
      pg.conn.copyData(encoder.encode('1\tone\n2\t'));
      pg.conn.copyData(encoder.encode('two\n'));
      pg.conn.copyDone();
      pg.conn.query('select id, name from c1 order by id');
      pg.flush();
      const events = await pg.readies(3, mark);
      expect(only(events, 'command-complete')[1]).toMatchObject({ command: 'COPY', rowCount: 2 });
      expect(rows(events)).toEqual([['1', 'one'], ['2', 'two']]);
    });
  });

  it('COPY FROM STDIN through Execute with a Sync sent behind it: every sync() still gets its ready', async () => {
    await withPg(async (pg) => {
      pg.conn.query('create temp table c2(id int)');
      pg.conn.parse('', 'copy c2 from stdin');
      pg.conn.bind('', '', []);
      pg.conn.execute('');
      pg.conn.sync();
      pg.flush();
      await pg.until((e) => e.type === 'copy-in-response');
      pg.conn.copyData(new TextEncoder().encode('7\n8\n'));
      pg.conn.copyDone();
      pg.conn.query('select sum(id) from c2');
      pg.flush();
      const events = await pg.readies(2);
      expect(rows(events)).toEqual([['15']]);
      expect(pg.conn.pendingCount).toBe(0);
    });
  });

  it('copyFail aborts the copy with an error; the connection goes on', async () => {
    await withPg(async (pg) => {
      pg.conn.query('create temp table c3(id int)');
      pg.conn.query('copy c3 from stdin');
      pg.flush();
      await pg.until((e) => e.type === 'copy-in-response');
      pg.conn.copyFail('changed my mind');
      pg.conn.query('select 1');
      pg.flush();
      const events = await pg.readies(2);
      const [error] = only(events, 'error');
      expect(error?.error.message).toContain('changed my mind');
      expect(rows(events)).toEqual([['1']]);
    });
  });

  it('bad COPY data: the server ends the copy; later copy messages are dropped', async () => {
    await withPg(async (pg) => {
      const mark = pg.mark();
      pg.conn.query('create temp table c4(id int)');
      pg.conn.query('copy c4 from stdin');
      pg.flush();
      await pg.until((e) => e.type === 'copy-in-response');
      pg.conn.copyData(new TextEncoder().encode('not a number\n'));
      pg.flush();
      // Give the server the chance to answer with its error before we end the copy.
      const failed = await pg.until((e) => e.type === 'error');
      expect(only(failed, 'error')[0]?.error.code).toBe('22P02');
      pg.conn.copyData(new TextEncoder().encode('1\n'));
      pg.conn.copyDone();
      pg.conn.query('select count(*) from c4');
      pg.flush();
      const events = await pg.readies(3, mark);
      expect(rows(events)).toEqual([['0']]);
    });
  });
});

describe('asynchronous messages', () => {
  it('LISTEN / NOTIFY: notifications from this and another connection', async () => {
    await withPg(async (pg) => {
      pg.conn.query('listen curio_channel');
      pg.flush();
      await pg.readies(1);
      const mark = pg.mark();
      await withPg(async (other) => {
        other.conn.query("notify curio_channel, 'from the other'");
        other.flush();
        await other.readies(1);
      });
      pg.conn.query("notify curio_channel, 'from me'");
      pg.flush();
      const events = await pg.until((e, all) => only(all, 'notification').length === 2 && all.some((x) => x.type === 'ready'), mark);
      const notifications = only(events, 'notification');
      expect(notifications.map((n) => n.payload).sort()).toEqual(['from me', 'from the other']);
      expect(notifications.find((n) => n.payload === 'from me')?.processId).toBe(pg.conn.backendKey?.processId);
      expect(notifications[0]?.channel).toBe('curio_channel');
    });
  });

  it('NoticeResponse', async () => {
    await withPg(async (pg) => {
      pg.conn.query("do $$ begin raise notice 'hello %', 42; end $$");
      pg.flush();
      const events = await pg.readies(1);
      const [notice] = only(events, 'notice');
      expect(notice?.notice).toMatchObject({ message: 'hello 42', severityName: 'NOTICE', code: '00000' });
    });
  });
});

describe('cancel and terminate', () => {
  it('a CancelRequest on a second connection cancels the running query; the connection stays usable', async () => {
    await withPg(async (pg) => {
      const mark = pg.mark();
      pg.conn.query('select pg_sleep(30)');
      pg.flush();
      // Cancel once the server runs it (pg_stat_activity would tell; a short wait is enough here and is not asserted).
      await new Promise((resolve) => setTimeout(resolve, 100));
      const bytes = pg.conn.cancelRequest();
      expect(bytes.length).toBe(16);
      const target = testTarget();
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect({ host: target.host, port: target.port }, () => socket.end(bytes));
        socket.on('close', () => resolve());
        socket.on('error', reject);
        socket.resume();
      });
      const events = await pg.readies(1, mark);
      expect(only(events, 'error')[0]?.error.code).toBe('57014');
      pg.conn.query('select 1');
      pg.flush();
      expect(rows(await pg.readies(1))).toEqual([['1']]);
    });
  });

  it('Terminate: the server closes, the closed event lists nothing unanswered', async () => {
    const pg = await PgDriver.ready();
    try {
      pg.conn.terminate();
      pg.flush();
      const [closed] = await pg.closed();
      expect(closed).toEqual({ type: 'closed', unanswered: [] });
      expect(pg.conn.state).toBe('closed');
      expect(() => pg.conn.query('select 1')).toThrow(/terminate/);
    } finally {
      pg.close();
    }
  });

  it('the server ends the session (pg_terminate_backend): FATAL, then closed with the unanswered messages', async () => {
    await withPg(async (pg) => {
      const pid = pg.conn.backendKey?.processId;
      const mark = pg.mark();
      await withPg(async (other) => {
        other.conn.query(`select pg_terminate_backend(${pid})`);
        other.flush();
        await other.readies(1);
      });
      const events = await pg.until((e) => e.type === 'closed', mark);
      const [error] = only(events, 'error');
      expect(error?.error.code).toBe('57P01');
      expect(error?.during).toBeNull();
      expect(pg.conn.state).toBe('closed');
      expect(() => pg.conn.query('select 1')).toThrow(/not allowed/);
    });
  });
});
