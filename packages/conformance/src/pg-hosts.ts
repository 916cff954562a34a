// conformance/pg-hosts.ts
//
// Several PostgreSQL hosts in one client (libpq's multi-host connection strings), run
// unchanged by every socket runtime against real private servers: a primary, a server whose
// sessions are read-only by default (default_transaction_read_only=on: read-only for
// target_session_attrs, but not a standby), and a real hot standby of the primary made with
// `pg_basebackup -R` (in_hot_standby=on). Around them: a dead port (refused), a port that
// accepts and never answers (connect_timeout per host), a TLS server, a unix socket. A backend
// calls `pgHostsConformance` from its own test file with the harness of `pgConformance`; PGlite
// has no hosts, so it never runs this file (and pgConformance's one multi-host case is in
// PGLITE_EXCLUSIONS).
//
// A second group checks TLS per host and hostaddr on three more TLS servers: two whose
// certificates one test CA signed (one for db-a.test only, one for db-b.test, localhost and
// 127.0.0.1) and one signed by a CA nobody trusts; verify-full, verify-ca, require and prefer
// with the CA given as `tls.ca` or as an sslrootcert file; hostaddr with names under `.invalid`
// (which cannot resolve: only the address reaches the server) that are still what verify-full
// checks.
//
// Which server a connection reached is read from the server itself (inet_server_port(), null
// over a unix socket), never from the client's own account.

import * as net from 'node:net';
import { join } from 'node:path';
import { AllHostsFailedError, CommandTimeoutError, ConnectTimeoutError, ConnectionError, isPgError } from '@curio-ts/client';
import type { PgClient, PgOptions } from '@curio-ts/client';
import { makeTestCa } from './certs.js';
import type { TestCa } from './certs.js';
import { startPrivatePostgres } from './postgres-server.js';
import type { PrivatePostgres } from './postgres-server.js';
import { freePort } from './servers.js';
import { rejection } from './pg.js';
import type { PgHarness } from './pg.js';
import type { TestApi } from './redis.js';

/** A loopback port that accepts connections and never sends a byte. */
async function silentServer(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** The port of the server a client's main connection reached (null: a unix socket). */
async function serverPort(db: PgClient): Promise<number | null> {
  const { rows } = await db.query<{ port: number | null }>('select inet_server_port() as port');
  return rows[0]?.port ?? null;
}

/** Run a function with a client of these options (in the harness's run), closed after. */
function clientRunner(h: PgHarness): <T>(options: string | PgOptions, body: (db: PgClient) => Promise<T>) => Promise<T> {
  return (options, body) =>
    h.run(async () => {
      const db = await h.connect(options);
      try {
        return await body(db);
      } finally {
        await db.close();
      }
    });
}

/** Register the suite. */
export function pgHostsConformance(h: PgHarness, t: TestApi): void {
  const { describe, it, expect, beforeAll, afterAll } = t;

  describe(`PostgreSQL several hosts (${h.runtime} runtime)`, () => {
    let primary: PrivatePostgres;
    let readOnly: PrivatePostgres;
    let standby: PrivatePostgres;
    const others: PrivatePostgres[] = [];
    const closers: (() => void)[] = [];
    /** host:port of a server. */
    const at = (server: PrivatePostgres): string => `127.0.0.1:${server.port}`;
    /** A URL listing these host:port entries. */
    const urlOf = (hosts: readonly string[], query = ''): string => `postgres://postgres@${hosts.join(',')}/test?sslmode=disable${query}`;
    const withClient = clientRunner(h);
    /** The port the first connection of a client with these options reaches. */
    const reached = (options: string | PgOptions): Promise<number | null> => withClient(options, serverPort);

    beforeAll(async () => {
      [primary, readOnly] = await Promise.all([startPrivatePostgres(), startPrivatePostgres()]);
      // Read-only sessions by default from now on (set at start, it would refuse the setup's CREATE DATABASE).
      await readOnly.admin('alter system set default_transaction_read_only = on', 'postgres');
      await readOnly.admin('select pg_reload_conf()', 'postgres');
      standby = await startPrivatePostgres({ standbyOf: primary });
    }, 60_000);
    afterAll(async () => {
      for (const close of closers) close();
      for (const server of [standby, readOnly, primary, ...others]) await server?.stop();
    });

    it('the servers are what the cases assume: in_hot_standby and default_transaction_read_only as reported at startup', async () => {
      const reported = async (server: PrivatePostgres): Promise<[string | undefined, string | undefined]> =>
        withClient(urlOf([at(server)]), async (db) => [db.serverParameters.get('in_hot_standby'), db.serverParameters.get('default_transaction_read_only')]);
      expect(await reported(primary)).toEqual(['off', 'off']);
      expect(await reported(readOnly)).toEqual(['off', 'on']);
      expect(await reported(standby)).toEqual(['on', 'off']);
    });

    it('a dead port first: the client and its pool connections go to the next host', async () => {
      const dead = await freePort();
      await withClient(urlOf([`127.0.0.1:${dead}`, at(primary)]), async (db) => {
        expect(await serverPort(db)).toBe(primary.port);
        // A pool connection goes through the list as well.
        const inTransaction = await db.transaction(async (tx) => serverPort(tx));
        expect(inTransaction).toBe(primary.port);
      });
    });

    it('every host dead: one AllHostsFailedError naming each host:port with its own error', async () => {
      const [dead1, dead2] = [await freePort(), await freePort()];
      const error = await h.run(() => rejection(h.connect(urlOf([`127.0.0.1:${dead1}`, `127.0.0.1:${dead2}`]))));
      expect(error).toBeInstanceOf(AllHostsFailedError);
      const all = error as AllHostsFailedError;
      expect(all.code).toBe('ERR_ALL_HOSTS_FAILED');
      expect(all.failures.map((failure) => failure.host)).toEqual([`127.0.0.1:${dead1}`, `127.0.0.1:${dead2}`]);
      for (const failure of all.failures) expect(failure.error).toBeInstanceOf(ConnectionError);
      expect(all.errors).toHaveLength(2);
      expect(all.message).toContain(`127.0.0.1:${dead1}`);
      expect(all.message).toContain(`127.0.0.1:${dead2}`);
    });

    it('connect_timeout applies to each host: a silent host times out, the next one is tried', async () => {
      const [silent1, silent2] = [await silentServer(), await silentServer()];
      closers.push(silent1.close, silent2.close);
      expect(await reached(urlOf([`127.0.0.1:${silent1.port}`, at(primary)], '&connect_timeout=1'))).toBe(primary.port);
      const error = await h.run(() => rejection(h.connect({ url: urlOf([`127.0.0.1:${silent1.port}`, `127.0.0.1:${silent2.port}`]), connectTimeout: 300 })));
      expect(error).toBeInstanceOf(AllHostsFailedError);
      const failures = (error as AllHostsFailedError).failures;
      expect(failures.map((failure) => failure.host)).toEqual([`127.0.0.1:${silent1.port}`, `127.0.0.1:${silent2.port}`]);
      for (const failure of failures) expect(failure.error).toBeInstanceOf(ConnectTimeoutError);
    });

    it('target_session_attrs: read-write, read-only, primary, standby, prefer-standby and any pick the matching host', async () => {
      const all = [at(readOnly), at(standby), at(primary)];
      const attrs = (hosts: readonly string[], wanted: string): Promise<number | null> => reached(urlOf(hosts, `&target_session_attrs=${wanted}`));
      expect(await attrs(all, 'read-write')).toBe(primary.port);
      expect(await attrs(all, 'read-only')).toBe(readOnly.port);
      expect(await attrs([at(primary), at(standby)], 'read-only')).toBe(standby.port);
      expect(await attrs(all, 'standby')).toBe(standby.port);
      // default_transaction_read_only does not make a standby: primary takes the first server not in recovery.
      expect(await attrs([at(standby), at(readOnly), at(primary)], 'primary')).toBe(readOnly.port);
      expect(await attrs([at(primary), at(standby)], 'prefer-standby')).toBe(standby.port);
      // No standby: prefer-standby's second pass takes the first host that accepts.
      expect(await attrs([at(readOnly), at(primary)], 'prefer-standby')).toBe(readOnly.port);
      expect(await attrs(all, 'any')).toBe(readOnly.port);
      // The option and the environment's name say the same.
      expect(await reached({ url: urlOf(all), targetSessionAttrs: 'read-write' })).toBe(primary.port);
    });

    it('target_session_attrs with no matching host: AllHostsFailedError says what each host is', async () => {
      const error = await h.run(() => rejection(h.connect(urlOf([at(readOnly), at(standby)], '&target_session_attrs=read-write'))));
      expect(error).toBeInstanceOf(AllHostsFailedError);
      const failures = (error as AllHostsFailedError).failures;
      expect(failures.map((failure) => [failure.host, (failure.error as ConnectionError).code])).toEqual([
        [at(readOnly), 'ERR_PG_TARGET_SESSION_ATTRS'],
        [at(standby), 'ERR_PG_TARGET_SESSION_ATTRS'],
      ]);
      expect((failures[0]?.error as Error).message).toMatch(/read-only/);
      // One host that does not match: its own error.
      const single = await h.run(() => rejection(h.connect(urlOf([at(standby)], '&target_session_attrs=primary'))));
      expect((single as ConnectionError).code).toBe('ERR_PG_TARGET_SESSION_ATTRS');
      expect((single as Error).message).toMatch(/hot standby/);
    });

    it('a host that does not match is closed at once: no session is left on it (the Terminate itself: backend-memory pg-hosts.test.ts)', async () => {
      await withClient(urlOf([at(primary)]), async (admin) => {
        const before = await admin.query<{ n: bigint }>("select count(*) as n from pg_stat_activity where application_name = 'curio-terminate'");
        expect(before.rows[0]?.n).toBe(0n);
      });
      // Twenty refused sessions on the primary, each closed before the client moves on.
      for (let i = 0; i < 20; i++) {
        expect(await reached({ url: urlOf([at(primary), at(standby)], '&target_session_attrs=standby'), applicationName: 'curio-terminate' })).toBe(standby.port);
      }
      await withClient(urlOf([at(primary)]), async (admin) => {
        const left = await admin.query<{ n: bigint }>("select count(*) as n from pg_stat_activity where application_name = 'curio-terminate'");
        expect(left.rows[0]?.n).toBe(0n);
      });
    });

    it('load_balance_hosts=random spreads new connections over the hosts; disable keeps the order', async () => {
      const seen = new Map<number | null, number>();
      for (let i = 0; i < 24; i++) {
        const port = await reached(urlOf([at(primary), at(readOnly)], '&load_balance_hosts=random'));
        seen.set(port, (seen.get(port) ?? 0) + 1);
      }
      expect([...seen.keys()].sort()).toEqual([primary.port, readOnly.port].sort());
      // The pool shuffles for each new connection too: transactions held at once (each in a
      // task of its own on curio) reach both hosts.
      await withClient({ url: urlOf([at(primary), at(readOnly)]), loadBalanceHosts: 'random', poolSize: 24 }, async (db) => {
        const transactions = Array.from({ length: 24 }, () =>
          h.start(() =>
            db.transaction(async (tx) => {
              const port = await serverPort(tx);
              await tx.query('select pg_sleep(0.05)');
              return port;
            }),
          ),
        );
        const ports: (number | null)[] = [];
        for (const transaction of transactions) ports.push(await transaction.join());
        expect(new Set(ports)).toEqual(new Set([primary.port, readOnly.port]));
      });
      for (let i = 0; i < 4; i++) expect(await reached(urlOf([at(readOnly), at(primary)], '&load_balance_hosts=disable'))).toBe(readOnly.port);
    });

    it('a unix socket in the list, and sslmode applied to each host (TLS where a host has it)', async () => {
      const dead = await freePort();
      expect(await reached(urlOf([`127.0.0.1:${dead}`, `${encodeURIComponent(primary.socketDir)}:${primary.port}`], '&sslmode=require'))).toBeNull();
      const secure = await startPrivatePostgres({ tls: true });
      others.push(secure);
      // require: the primary (no TLS) refuses the SSLRequest and is skipped; the TLS server takes
      // the connection (and every pool connection).
      const tls = `postgres://postgres@${at(primary)},${at(secure)}/test?sslmode=require`;
      await withClient(tls, async (db) => {
        expect(await serverPort(db)).toBe(secure.port);
        expect((await db.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows).toEqual([{ ssl: true }]);
        expect(await db.transaction(async (tx) => (await tx.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows)).toEqual([{ ssl: true }]);
      });
      const refused = await h.run(() => rejection(h.connect(`postgres://postgres@${at(primary)}/test?sslmode=require`)));
      expect((refused as ConnectionError).code).toBe('ERR_PG_TLS_REFUSED');
    });

    it('a primary killed while the pool is in use: after the standby is promoted, new queries and pool connections land on it', async () => {
      const first = await startPrivatePostgres();
      others.push(first);
      const second = await startPrivatePostgres({ standbyOf: first });
      others.push(second);
      await h.run(async () => {
        const db = await h.connect({ url: urlOf([at(first), at(second)], '&target_session_attrs=read-write'), reconnect: { initialDelay: 20, maxDelay: 100 }, connectTimeout: 2000 });
        try {
          await db.query('create table if not exists hosts_failover (n int)');
          expect(await serverPort(db)).toBe(first.port);
          // The standby replays the table before its primary dies.
          const watcher = await h.connect(urlOf([at(second)]));
          try {
            for (let tries = 0; ; tries++) {
              const { rows } = await watcher.query<{ replayed: boolean }>("select to_regclass('hosts_failover') is not null as replayed");
              if (rows[0]?.replayed === true) break;
              if (tries > 200) throw new Error('the standby never replayed hosts_failover');
              await h.sleep(20);
            }
          } finally {
            await watcher.close();
          }
          // The pool holds connections to the primary; one is in a transaction (a task of its own) when it dies.
          const held = h.start(() =>
            db
              .transaction(async (tx) => {
                await tx.query('insert into hosts_failover values (1)');
                await tx.query('select pg_sleep(30)');
              })
              .then(
                () => 'committed',
                (error: unknown) => error,
              ),
          );
          await h.sleep(100);
          await first.kill();
          const lost = await held.join();
          expect(lost instanceof ConnectionError || isPgError(lost)).toBe(true);
          // The main connection saw its end too: from now on, until the promotion, no host is
          // read-write, and queries wait in the offline queue.
          while (db.status === 'ready') await h.sleep(10);
          const waiting = h.start(() => serverPort(db));
          await second.promote();
          expect(await waiting.join()).toBe(second.port);
          await db.query('insert into hosts_failover values (2)');
          const inTransaction = await db.transaction(async (tx) => {
            await tx.query('insert into hosts_failover values (3)');
            return serverPort(tx);
          });
          expect(inTransaction).toBe(second.port);
          expect((await db.query<{ n: number }>('select n from hosts_failover order by n')).rows.map((row) => row.n)).toEqual([2, 3]);
        } finally {
          await db.close();
        }
      });
    });
  });

  describe(`PostgreSQL hostaddr and verify-full over several hosts (${h.runtime} runtime)`, () => {
    // Three TLS servers: two with certificates of one test CA (`ca`), for db-a.test alone and
    // for db-b.test, localhost and 127.0.0.1; one with a certificate of a CA nobody trusts.
    let ca: TestCa;
    let otherCa: TestCa;
    let serverA: PrivatePostgres;
    let serverB: PrivatePostgres;
    let untrusted: PrivatePostgres;
    /** The client's TLS options: the test CA trusted (libpq's sslrootcert). */
    const trust = (): { ca: string } => ({ ca: ca.ca });
    const withClient = clientRunner(h);
    /** The port the client reached, and whether its session is TLS. */
    const reached = (options: string | PgOptions): Promise<[number | null, unknown]> =>
      withClient(options, async (db) => [await serverPort(db), (await db.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0]?.ssl]);
    const failure = (options: string | PgOptions): Promise<unknown> => h.run(() => rejection(h.connect({ reconnect: false, ...(typeof options === 'string' ? { url: options } : options) })));
    const tcp = (server: PrivatePostgres): string => `127.0.0.1:${server.port}`;

    beforeAll(async () => {
      ca = makeTestCa('curio-ts hosts CA');
      otherCa = makeTestCa('curio-ts untrusted CA');
      [serverA, serverB, untrusted] = await Promise.all([
        startPrivatePostgres({ tls: { ca, names: ['db-a.test'] } }),
        startPrivatePostgres({ tls: { ca, names: ['db-b.test', 'localhost', '127.0.0.1'] } }),
        startPrivatePostgres({ tls: { ca: otherCa, names: ['localhost', '127.0.0.1'] } }),
      ]);
    }, 60_000);
    afterAll(async () => {
      for (const server of [serverA, serverB, untrusted]) await server?.stop();
      ca?.remove();
      otherCa?.remove();
    });

    it('the helper exposes the CA that signed each server certificate', () => {
      expect(serverA.ca).toBe(ca.ca);
      expect(serverB.ca).toBe(ca.ca);
      expect(untrusted.ca).toBe(otherCa.ca);
      expect(untrusted.ca).not.toBe(ca.ca);
    });

    it('verify-full: the first host, whose certificate does not name it, is skipped for the second; require and verify-ca take the first', async () => {
      const url = (mode: string): string => `postgres://postgres@${tcp(serverA)},${tcp(serverB)}/test?sslmode=${mode}`;
      expect(await reached({ url: url('verify-full'), tls: trust() })).toEqual([serverB.port, true]);
      expect(await reached({ url: url('require'), tls: trust() })).toEqual([serverA.port, true]);
      // verify-ca checks the chain only: serverA's certificate is the test CA's, whatever it names.
      expect(await reached({ url: url('verify-ca'), tls: trust() })).toEqual([serverA.port, true]);
      // Pool connections go through the same checks.
      await withClient({ url: url('verify-full'), tls: trust() }, async (db) => {
        expect(await db.transaction(async (tx) => serverPort(tx))).toBe(serverB.port);
      });
      // Only the mismatched host: its own error, naming the host, with the TLS layer's code.
      const single = await failure({ url: `postgres://postgres@${tcp(serverA)}/test?sslmode=verify-full`, tls: trust() });
      expect(single).toBeInstanceOf(ConnectionError);
      expect((single as ConnectionError).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect((single as Error).message).toContain(tcp(serverA));
      expect((single as Error).message).toContain('verify-full');
    });

    it('the test CA as the ca TLS option (sslrootcert as PEM) is what makes the chain trusted', async () => {
      // Without it, the system's CAs do not know the test CA: every host fails, each with its reason.
      const error = await failure(`postgres://postgres@${tcp(serverA)},${tcp(serverB)}/test?sslmode=verify-full`);
      expect(error).toBeInstanceOf(AllHostsFailedError);
      const failures = (error as AllHostsFailedError).failures;
      expect(failures.map((f) => [f.host, (f.error as ConnectionError).code])).toEqual([
        [tcp(serverA), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
        [tcp(serverB), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
      ]);
      // verify-ca needs the CA as well.
      expect(((await failure(`postgres://postgres@${tcp(serverB)}/test?sslmode=verify-ca`)) as ConnectionError).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(await reached({ url: `postgres://postgres@${tcp(serverB)}/test?sslmode=verify-ca`, tls: trust() })).toEqual([serverB.port, true]);
    });

    it('sslrootcert names the CA file (read by the backend): verify-full over the list; with it require checks the chain (verify-ca, libpq), and so does prefer', async () => {
      const rootcert = encodeURIComponent(join(ca.dir, 'ca.crt'));
      expect(await reached(`postgres://postgres@${tcp(serverA)},${tcp(serverB)}/test?sslmode=verify-full&sslrootcert=${rootcert}`)).toEqual([serverB.port, true]);
      expect(await reached(`postgres://postgres@${tcp(serverA)},${tcp(serverB)}/test?sslmode=require&sslrootcert=${rootcert}`)).toEqual([serverA.port, true]);
      for (const mode of ['require', 'prefer']) {
        const error = await failure(`postgres://postgres@${tcp(untrusted)}/test?sslmode=${mode}&sslrootcert=${rootcert}`);
        expect((error as ConnectionError).code, mode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
        expect((error as Error).message, mode).toContain(tcp(untrusted));
      }
      const missing = await failure(`postgres://postgres@${tcp(serverB)}/test?sslmode=verify-full&sslrootcert=${encodeURIComponent(join(ca.dir, 'nope.crt'))}`);
      expect((missing as ConnectionError).code).toBe('ERR_BAD_OPTION');
      expect((missing as Error).message).toMatch(/could not read the root certificate file/);
      // 'system': the runtime's default CAs, which do not know the test CA.
      expect(((await failure(`postgres://postgres@${tcp(serverB)}/test?sslrootcert=system`)) as ConnectionError).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('an untrusted CA is refused with a typed error that names the host, also by verify-ca; the next host is tried', async () => {
      for (const mode of ['verify-full', 'verify-ca']) {
        const error = await failure({ url: `postgres://postgres@${tcp(untrusted)}/test?sslmode=${mode}`, tls: trust() });
        expect(error, mode).toBeInstanceOf(ConnectionError);
        expect((error as ConnectionError).code, mode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
        expect((error as Error).message, mode).toContain(tcp(untrusted));
      }
      expect(await reached({ url: `postgres://postgres@${tcp(untrusted)},${tcp(serverB)}/test?sslmode=verify-full`, tls: trust() })).toEqual([serverB.port, true]);
      // require does not look at the chain (libpq without a root certificate).
      expect(await reached({ url: `postgres://postgres@${tcp(untrusted)}/test?sslmode=require`, tls: trust() })).toEqual([untrusted.port, true]);
    });

    it('hostaddr: the connection goes to the address, never looking the name up (.invalid names), and the name is what verify-full checks', async () => {
      // Names that cannot resolve: only hostaddr can reach the servers.
      const named = (names: readonly string[], servers: readonly PrivatePostgres[], mode: string): string =>
        `postgres://postgres@${names.map((name, i) => `${name}:${servers[i]?.port}`).join(',')}/test?hostaddr=${names.map(() => '127.0.0.1').join(',')}&sslmode=${mode}`;
      expect(await reached(named(['db-a.invalid'], [serverA], 'disable'))).toEqual([serverA.port, false]);
      // db-a.test is the name of serverA's certificate: verify-full accepts it over 127.0.0.1.
      expect(await reached({ url: named(['db-a.test', 'db-b.test'], [serverA, serverB], 'verify-full'), tls: trust() })).toEqual([serverA.port, true]);
      // The names swapped: neither certificate names the host it is asked for.
      const swapped = await failure({ url: named(['db-b.test', 'db-a.test'], [serverA, serverB], 'verify-full'), tls: trust() });
      expect(swapped).toBeInstanceOf(AllHostsFailedError);
      expect((swapped as AllHostsFailedError).failures.map((f) => [f.host, (f.error as ConnectionError).code])).toEqual([
        [`db-b.test at 127.0.0.1:${serverA.port}`, 'ERR_TLS_CERT_ALTNAME_INVALID'],
        [`db-a.test at 127.0.0.1:${serverB.port}`, 'ERR_TLS_CERT_ALTNAME_INVALID'],
      ]);
      expect((swapped as Error).message).toContain(`db-b.test at 127.0.0.1:${serverA.port}`);
      // The same as options: hosts entries with their own hostaddr; and PGHOSTADDR's keyword, `hostaddr`.
      expect(await reached({ hosts: [{ host: 'db-x.invalid', hostaddr: '127.0.0.1', port: serverA.port }, { host: 'db-b.test', hostaddr: '127.0.0.1', port: serverB.port }], user: 'postgres', database: 'test', sslmode: 'verify-full', tls: trust() })).toEqual([serverB.port, true]);
      expect(await reached({ host: 'db-b.test', hostaddr: '127.0.0.1', port: serverB.port, user: 'postgres', database: 'test', sslmode: 'verify-full', tls: trust() })).toEqual([serverB.port, true]);
    });

    it('hostaddr without a host: require and verify-ca connect; verify-full has no name to check and fails that host (libpq)', async () => {
      const addressOnly = (server: PrivatePostgres, mode: string): string => `postgres://postgres@/test?hostaddr=127.0.0.1&port=${server.port}&sslmode=${mode}`;
      expect(await reached({ url: addressOnly(serverA, 'require'), tls: trust() })).toEqual([serverA.port, true]);
      expect(await reached({ url: addressOnly(serverA, 'verify-ca'), tls: trust() })).toEqual([serverA.port, true]);
      const error = await failure({ url: addressOnly(serverB, 'verify-full'), tls: trust() });
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as ConnectionError).code).toBe('ERR_PG_TLS_NO_HOST_NAME');
      expect((error as Error).message).toContain(`127.0.0.1:${serverB.port}`);
      // In a list, the nameless host is skipped for the next one.
      const list = { hosts: [{ hostaddr: '127.0.0.1', port: serverA.port }, { host: 'db-b.test', hostaddr: '127.0.0.1', port: serverB.port }], user: 'postgres', database: 'test', sslmode: 'verify-full', tls: trust() } satisfies PgOptions;
      expect(await reached(list)).toEqual([serverB.port, true]);
      // Ports paired with the addresses of a URL without hosts: both nameless, both fail.
      const both = await failure({ url: `postgres://postgres@/test?hostaddr=127.0.0.1,127.0.0.1&port=${serverA.port},${serverB.port}&sslmode=verify-full`, tls: trust() });
      expect((both as AllHostsFailedError).failures.map((f) => [f.host, (f.error as ConnectionError).code])).toEqual([
        [`127.0.0.1:${serverA.port}`, 'ERR_PG_TLS_NO_HOST_NAME'],
        [`127.0.0.1:${serverB.port}`, 'ERR_PG_TLS_NO_HOST_NAME'],
      ]);
      // tls.serverName names every host: the nameless host is checked against it.
      expect(await reached({ url: addressOnly(serverB, 'verify-full'), tls: { ...trust(), serverName: 'db-b.test' } })).toEqual([serverB.port, true]);
    });

    it('a query that times out on a host given by name and hostaddr is cancelled through the address: a CancelRequest never looks the name up', async () => {
      await withClient(`postgres://postgres@db-c.invalid:${serverB.port}/test?hostaddr=127.0.0.1&sslmode=disable`, async (db) => {
        const pid = db.processId;
        const started = Date.now();
        expect(await rejection(db.query('select pg_sleep(10)', [], { timeout: 300 }))).toBeInstanceOf(CommandTimeoutError);
        // Cancelled on the server (not left to run its 10 s), on the same connection.
        expect((await db.query<{ p: number }>('select pg_backend_pid() as p')).rows[0]?.p).toBe(pid);
        expect(Date.now() - started).toBeLessThan(5000);
      });
    });

    it('every host dead, given by name and hostaddr: AllHostsFailedError shows both', async () => {
      const [dead1, dead2] = [await freePort(), await freePort()];
      const error = await failure(`postgres://postgres@db-a.invalid:${dead1},db-b.invalid:${dead2}/test?hostaddr=127.0.0.1,127.0.0.1&sslmode=disable`);
      expect(error).toBeInstanceOf(AllHostsFailedError);
      const failures = (error as AllHostsFailedError).failures;
      expect(failures.map((f) => f.host)).toEqual([`db-a.invalid at 127.0.0.1:${dead1}`, `db-b.invalid at 127.0.0.1:${dead2}`]);
      // Refused by the address, not a failed name look-up.
      for (const f of failures) expect((f.error as ConnectionError).code).toBe('ECONNREFUSED');
    });
  });
}
