// PostgreSQL faults and volume against real private servers (node runtime): a server restarted
// while queries run, a server killed in the middle of a COPY, a million rows read through a
// cursor with bounded memory, and psql as a second client checking what we wrote.

import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, isPgError } from '@curio-ts/client';
import type { PgClient } from '@curio-ts/client';
import { sharedTestPgUrl, startPrivatePostgres } from '@curio-ts/conformance';
import type { PrivatePostgres } from '@curio-ts/conformance';
import { connectPg } from '../src/index.js';

/** What a failed query may fail with while its server goes away: typed, never anything else. */
function typedLoss(error: unknown): boolean {
  return error instanceof ConnectionError || isPgError(error) || (error instanceof Error && /Error$/.test(error.name) && 'code' in error);
}

describe('PostgreSQL faults and volume (node runtime)', () => {
  let server: PrivatePostgres;
  beforeAll(async () => {
    server = await startPrivatePostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('a server restarted while queries run: the failed ones fail typed, none hangs, none gets another query\'s answer, and the client goes on', async () => {
    const db = await connectPg({ url: server.url, reconnect: { initialDelay: 20, maxDelay: 200 } });
    try {
      let restarted = false;
      let okAfterRestart = 0;
      const outcomes: ('ok' | 'typed' | 'wrong' | 'other')[] = [];
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; i < 5000 && okAfterRestart < 200; i++) {
          const n = w * 100_000 + i;
          try {
            const { rows } = await db.query('select $1::int as n', [n], { timeout: 10_000 });
            outcomes.push(rows[0]?.['n'] === n ? 'ok' : 'wrong');
            if (restarted) okAfterRestart++;
          } catch (error) {
            outcomes.push(typedLoss(error) ? 'typed' : 'other');
            if (!typedLoss(error)) console.error(error);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
      };
      const load = Promise.all([0, 1, 2, 3].map(worker));
      // Let queries flow first, then restart the server under them.
      while (outcomes.length < 100) await new Promise((resolve) => setTimeout(resolve, 10));
      await server.restart();
      restarted = true;
      await load;
      expect(outcomes).not.toContain('wrong');
      expect(outcomes).not.toContain('other');
      expect(okAfterRestart).toBeGreaterThanOrEqual(200);
      expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(200);
      const after = await db.query('select 7 as seven', [], { timeout: 10_000 });
      expect(after.rows).toEqual([{ seven: 7 }]);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('a server killed in the middle of a COPY FROM STDIN: the copy fails typed, nothing hangs, and after a restart the table holds no partial copy', async () => {
    const db = await connectPg({ url: server.url, reconnect: { initialDelay: 20, maxDelay: 200 } });
    try {
      await db.query('drop table if exists copy_kill');
      await db.query('create table copy_kill (id int, name text)');
      let sent = 0;
      async function* rows(): AsyncGenerator<string> {
        for (let i = 0; i < 1_000_000; i++) {
          if (i === 20_000) void server.kill();
          sent++;
          yield `${i}\tname ${i}\n`;
          if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const outcome = await db.copyFrom('copy copy_kill from stdin', rows()).then(
        (count) => count,
        (error: unknown) => error,
      );
      // The connection was lost under the copy: a ConnectionError, or the server's own
      // termination error (57P01 / 57P02 / 57P03) if it sent one first. Not a syntax error.
      expect(typedLoss(outcome)).toBe(true);
      if (isPgError(outcome)) expect(['57P01', '57P02', '57P03']).toContain((outcome as { code: string }).code);
      expect(sent).toBeGreaterThan(20_000);
      expect(sent).toBeLessThan(1_000_000);
      await server.restart();
      const { rows: count } = await db.query('select count(*)::int as n from copy_kill', [], { timeout: 20_000 });
      expect(count).toEqual([{ n: 0 }]);
    } finally {
      await db.close();
    }
  }, 90_000);
});

describe('PostgreSQL volume, and psql as a second client (node runtime)', () => {
  let db: PgClient;
  let url: string;
  beforeAll(async () => {
    url = await sharedTestPgUrl();
    db = await connectPg(url);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it('a million rows through a cursor hold at most a batch: memory stays bounded', async () => {
    let count = 0;
    let sum = 0;
    let peak = 0;
    const base = process.memoryUsage().heapUsed;
    for await (const row of db.cursor('select g, md5(g::text) as h from generate_series(1, 1000000) g', [], { batch: 5000 })) {
      count++;
      sum += row['g'] as number;
      if (count % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - base);
    }
    expect(count).toBe(1_000_000);
    expect(sum).toBe(500000500000);
    // A million rows of ~50 bytes held at once would be well over 100 MB of heap.
    expect(peak).toBeLessThan(64 * 1024 * 1024);
  }, 120_000);

  it('psql reads back exactly what we wrote (Unicode, NULLs, bytea, numeric, arrays)', async () => {
    const psql = spawnSync('psql', ['--version'], { encoding: 'utf8' });
    expect(psql.status, 'psql is needed (Debian package postgresql-client; npm test installs it when root)').toBe(0);
    await db.query('drop table if exists psql_check');
    await db.query('create table psql_check (id int, t text, b bytea, n numeric, a int[], j jsonb)');
    await db.query('insert into psql_check values ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)', [
      1, 'héllo ✓ 日本', new Uint8Array([0, 255, 16]), '12345678901234567890.5', [1, null, 3], { k: ['v', 2] },
      2, null, null, null, null, null,
    ]);
    const out = spawnSync('psql', [url, '-X', '-A', '-t', '-F', '|', '-c', "select id, coalesce(t, 'NULL'), coalesce(encode(b, 'hex'), 'NULL'), coalesce(n::text, 'NULL'), coalesce(a::text, 'NULL'), coalesce(j::text, 'NULL') from psql_check order by id"], { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
    expect(out.stderr).toBe('');
    expect(out.stdout.trim().split('\n')).toEqual(['1|héllo ✓ 日本|00ff10|12345678901234567890.5|{1,NULL,3}|{"k": ["v", 2]}', '2|NULL|NULL|NULL|NULL|NULL']);
  });
});

describe('a peer that sends garbage (node runtime)', () => {
  /** A loopback server that answers the startup with `onStartup` bytes and any later bytes with `onQuery`. */
  async function garbageServer(onStartup: Uint8Array, onQuery: Uint8Array): Promise<{ url: string; close(): void }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      let started = false;
      socket.on('data', () => {
        socket.write(started ? onQuery : onStartup);
        started = true;
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/test?sslmode=disable`,
      close: () => {
        for (const socket of sockets) socket.destroy();
        server.close();
      },
    };
  }
  const AUTH_OK_READY = new Uint8Array([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]);

  it('an HTTP server where PostgreSQL was expected: connecting fails with a typed error, at once', async () => {
    const peer = await garbageServer(new TextEncoder().encode('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), new Uint8Array());
    try {
      const started = Date.now();
      const error = await connectPg({ url: peer.url, connectTimeout: 5000, reconnect: false }).then(
        (client) => client.close().then(() => null),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: unknown }).code).toEqual(expect.any(String));
      expect(Date.now() - started).toBeLessThan(4000); // not the connect timeout
    } finally {
      peer.close();
    }
  });

  it('garbage after a good startup (a negative message length, then random bytes): the query fails typed, no hang', async () => {
    const bad = new Uint8Array([0x54, 0xff, 0xff, 0xff, 0xf0, ...Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)]);
    const peer = await garbageServer(AUTH_OK_READY, bad);
    try {
      const db = await connectPg({ url: peer.url, connectTimeout: 5000, reconnect: false });
      try {
        const error = await db.query('select 1', [], { timeout: 5000 }).then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(Error);
        expect((error as Error).name).not.toBe('TimeoutError');
        expect((error as { code?: unknown }).code).toEqual(expect.any(String));
      } finally {
        await db.close();
      }
    } finally {
      peer.close();
    }
  });
});
