// conformance/pg-faults.ts
//
// PostgreSQL faults and volume, run unchanged by every socket runtime against real servers:
// a private server restarted while queries run, a private server killed in the middle of a
// COPY, a million rows read through a cursor with bounded memory, psql as a second client
// reading back what we wrote, and loopback peers that send garbage where PostgreSQL was
// expected. A backend calls `pgFaultConformance` from its own test file with the same harness
// as `pgConformance`; each test body runs the way the runtime's users run code (a kernel task on
// curio), and waits only through the harness (`h.sleep`), never through raw timers.

import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { CommandTimeoutError, ConnectionError, isPgError } from '@curio-ts/client';
import type { PgClient } from '@curio-ts/client';
import { sharedTestPgUrl, startPrivatePostgres } from './postgres-server.js';
import type { PrivatePostgres } from './postgres-server.js';
import type { PgHarness } from './pg.js';
import type { TestApi } from './redis.js';

/** What a failed query may fail with while its server goes away: typed, never anything else. */
function typedLoss(error: unknown): boolean {
  return error instanceof ConnectionError || isPgError(error) || (error instanceof Error && /Error$/.test(error.name) && 'code' in error);
}

/** The outcome of a promise: its value, or the error it rejected with. */
function settle<T>(promise: Promise<T>): Promise<T | { readonly rejected: unknown }> {
  return promise.then(
    (value) => value,
    (rejected: unknown) => ({ rejected }),
  );
}

/** A loopback server that answers the startup with `onStartup` and any later bytes with `onQuery`. */
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

/** AuthenticationOk then ReadyForQuery (idle): a startup that succeeds. */
const AUTH_OK_READY = new Uint8Array([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]);

/** Register the fault and volume suite. */
export function pgFaultConformance(h: PgHarness, t: TestApi): void {
  const { describe, it, expect, beforeAll, afterAll } = t;
  const table = (name: string): string => `faults_${h.runtime}_${name}`;

  describe(`PostgreSQL faults (${h.runtime} runtime)`, () => {
    let server: PrivatePostgres;
    beforeAll(async () => {
      server = await startPrivatePostgres();
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });

    it("a server restarted while queries run: the failed ones fail typed, none hangs, none gets another query's answer, and the client goes on", async () => {
      await h.run(async () => {
        const db = await h.connect({ url: server.url, reconnect: { initialDelay: 20, maxDelay: 200 } });
        try {
          let restarted = false;
          let okAfterRestart = 0;
          const outcomes: ('ok' | 'typed' | 'wrong' | 'other')[] = [];
          const errors: unknown[] = [];
          const worker = async (w: number): Promise<void> => {
            for (let i = 0; i < 5000 && okAfterRestart < 200; i++) {
              const n = w * 100_000 + i;
              const outcome = await settle(db.query('select $1::int as n', [n], { timeout: 10_000 }));
              if ('rows' in outcome) {
                outcomes.push(outcome.rows[0]?.['n'] === n ? 'ok' : 'wrong');
                if (restarted) okAfterRestart++;
              } else {
                outcomes.push(typedLoss(outcome.rejected) ? 'typed' : 'other');
                if (!typedLoss(outcome.rejected)) errors.push(outcome.rejected);
                await h.sleep(5);
              }
            }
          };
          const workers = [0, 1, 2, 3].map((w) => h.start(() => worker(w)));
          // Let queries flow first, then restart the server under them.
          while (outcomes.length < 100) await h.sleep(10);
          await server.restart();
          restarted = true;
          for (const running of workers) await running.join();
          expect(errors).toEqual([]);
          expect(outcomes).not.toContain('wrong');
          expect(okAfterRestart).toBeGreaterThanOrEqual(200);
          expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(200);
          const after = await db.query('select 7 as seven', [], { timeout: 10_000 });
          expect(after.rows).toEqual([{ seven: 7 }]);
        } finally {
          await db.close();
        }
      });
    }, 60_000);

    it('a server process that stops answering (SIGSTOP) under a query with a timeout: the query ends typed within its timeout and the connect timeout, and the next query runs on a new connection', async () => {
      await h.run(async () => {
        const db = await h.connect({ url: server.url, connectTimeout: 1000, reconnect: { initialDelay: 20, maxDelay: 200 } });
        const pid = db.processId;
        try {
          expect((await db.query<{ p: number }>('select pg_backend_pid() as p')).rows).toEqual([{ p: pid }]);
          // The backend neither answers nor handles the CancelRequest while stopped: a black hole.
          process.kill(pid, 'SIGSTOP');
          const started = Date.now();
          const outcome = await settle(db.query('select 1', [], { timeout: 200 }));
          const elapsed = Date.now() - started;
          expect(outcome).toHaveProperty('rejected');
          expect((outcome as { rejected: unknown }).rejected).toBeInstanceOf(CommandTimeoutError);
          expect(elapsed).toBeGreaterThanOrEqual(1000);
          expect(elapsed).toBeLessThan(5000);
          const again = await db.query<{ p: number }>('select pg_backend_pid() as p', [], { timeout: 10_000 });
          expect(again.rows[0]?.p).not.toBe(pid);
        } finally {
          try {
            process.kill(pid, 'SIGCONT');
          } catch {
            // already gone
          }
          await db.close();
        }
      });
    }, 30_000);

    it('a server killed in the middle of a COPY FROM STDIN: the copy fails typed, nothing hangs, and after a restart the table holds no partial copy', async () => {
      await h.run(async () => {
        const db = await h.connect({ url: server.url, reconnect: { initialDelay: 20, maxDelay: 200 } });
        const name = table('copy_kill');
        try {
          await db.query(`drop table if exists ${name}`);
          await db.query(`create table ${name} (id int, name text)`);
          let sent = 0;
          let killed: Promise<void> | null = null;
          async function* rows(): AsyncGenerator<string> {
            for (let i = 0; i < 1_000_000; i++) {
              if (i === 20_000) killed = server.kill();
              sent++;
              yield `${i}\tname ${i}\n`;
              if (i % 1000 === 0) await h.sleep(0);
            }
          }
          const outcome = await settle(db.copyFrom(`copy ${name} from stdin`, rows()));
          // The connection was lost under the copy: a ConnectionError, or the server's own
          // termination error (57P01 / 57P02 / 57P03) if it sent one first. Not a syntax error.
          expect(typeof outcome).toBe('object');
          const error = (outcome as { rejected: unknown }).rejected;
          expect(typedLoss(error)).toBe(true);
          if (isPgError(error)) expect(['57P01', '57P02', '57P03']).toContain(error.code);
          expect(sent).toBeGreaterThan(20_000);
          expect(sent).toBeLessThan(1_000_000);
          await killed;
          await server.restart();
          const { rows: count } = await db.query(`select count(*)::int as n from ${name}`, [], { timeout: 20_000 });
          expect(count).toEqual([{ n: 0 }]);
        } finally {
          await db.close();
        }
      });
    }, 90_000);
  });

  describe(`PostgreSQL cancel races (${h.runtime} runtime)`, () => {
    let url = '';
    beforeAll(async () => {
      url = await sharedTestPgUrl();
    }, 60_000);

    it('a cancel that arrives after its query ended never hits a query written after it', async () => {
      await h.run(async () => {
        const db = await h.connect(url);
        try {
          const pid = db.processId;
          const strays: unknown[] = [];
          let aborted = 0;
          for (let i = 0; i < 150; i++) {
            // A query that ends about when it is aborted, so that the CancelRequest often
            // arrives after it ended; then a query written at once behind it, which runs long
            // enough (20 ms) for such a request to find it running.
            const controller = new AbortController();
            const ending = settle(db.query(`select pg_sleep(${(i % 5) / 1000}) as s${i % 7}`, [], { signal: controller.signal }));
            await h.sleep(i % 4);
            controller.abort();
            const next = await settle(db.query<{ n: number }>('select $1::int as n, pg_sleep(0.02)::text as z', [i], { rowMode: 'object' }));
            if ('rows' in next) expect(next.rows).toEqual([{ n: i, z: '' }]);
            else strays.push(next.rejected);
            if ('rejected' in (await ending)) aborted++;
          }
          expect(strays).toEqual([]);
          expect(aborted).toBeGreaterThan(0);
          expect((await db.query<{ p: number }>('select pg_backend_pid() as p')).rows).toEqual([{ p: pid }]);
        } finally {
          await db.close();
        }
      });
    }, 60_000);
  });

  describe(`PostgreSQL volume, and psql as a second client (${h.runtime} runtime)`, () => {
    let url = '';
    beforeAll(async () => {
      url = await sharedTestPgUrl();
    }, 60_000);
    const withClient = (body: (db: PgClient) => Promise<void>): Promise<void> =>
      h.run(async () => {
        const db = await h.connect(url);
        try {
          await body(db);
        } finally {
          await db.close();
        }
      });

    it('a million rows through a cursor hold at most a batch: memory stays bounded', async () => {
      await withClient(async (db) => {
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
      });
    }, 120_000);

    it('psql reads back exactly what we wrote (Unicode, NULLs, bytea, numeric, arrays)', async () => {
      const psql = spawnSync('psql', ['--version'], { encoding: 'utf8' });
      expect(psql.status, 'psql is needed (Debian package postgresql-client; npm test installs it when root)').toBe(0);
      const name = table('psql_check');
      await withClient(async (db) => {
        await db.query(`drop table if exists ${name}`);
        await db.query(`create table ${name} (id int, t text, b bytea, n numeric, a int[], j jsonb)`);
        await db.query(`insert into ${name} values ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)`, [
          1, 'héllo ✓ 日本', new Uint8Array([0, 255, 16]), '12345678901234567890.5', [1, null, 3], { k: ['v', 2] },
          2, null, null, null, null, null,
        ]);
      });
      const out = spawnSync('psql', [url, '-X', '-A', '-t', '-F', '|', '-c', `select id, coalesce(t, 'NULL'), coalesce(encode(b, 'hex'), 'NULL'), coalesce(n::text, 'NULL'), coalesce(a::text, 'NULL'), coalesce(j::text, 'NULL') from ${name} order by id`], { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
      expect(out.stderr).toBe('');
      expect(out.stdout.trim().split('\n')).toEqual(['1|héllo ✓ 日本|00ff10|12345678901234567890.5|{1,NULL,3}|{"k": ["v", 2]}', '2|NULL|NULL|NULL|NULL|NULL']);
    });
  });

  describe(`a peer that sends garbage where PostgreSQL was expected (${h.runtime} runtime)`, () => {
    it('an HTTP server where PostgreSQL was expected: connecting fails with a typed error, at once', async () => {
      const peer = await garbageServer(new TextEncoder().encode('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), new Uint8Array());
      try {
        const started = Date.now();
        const outcome = await h.run(() => settle(h.connect({ url: peer.url, connectTimeout: 5000, reconnect: false })));
        if (!('rejected' in outcome)) await h.run(() => outcome.close());
        expect(outcome).toHaveProperty('rejected');
        const error = (outcome as { rejected: unknown }).rejected;
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
        await h.run(async () => {
          const db = await h.connect({ url: peer.url, connectTimeout: 5000, reconnect: false });
          try {
            const outcome = await settle(db.query('select 1', [], { timeout: 5000 }));
            expect(outcome).toHaveProperty('rejected');
            const error = (outcome as { rejected: unknown }).rejected;
            expect(error).toBeInstanceOf(Error);
            expect((error as Error).name).not.toBe('TimeoutError');
            expect((error as { code?: unknown }).code).toEqual(expect.any(String));
          } finally {
            await db.close();
          }
        });
      } finally {
        peer.close();
      }
    });
  });
}
