// The private PostgreSQL servers of the test kit, checked from outside: psql as a second client,
// and raw sockets reading what the server asks for.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startPrivatePostgres } from '../src/postgres-server.js';
import type { PrivatePostgres } from '../src/postgres-server.js';

const started: PrivatePostgres[] = [];
afterAll(async () => {
  for (const server of started) await server.stop();
});

async function start(options?: Parameters<typeof startPrivatePostgres>[0]): Promise<PrivatePostgres> {
  const server = await startPrivatePostgres(options);
  started.push(server);
  return server;
}

/** psql as a second client; returns stdout, or throws with stderr. */
function psql(url: string, sql: string, password?: string): string {
  return execFileSync('psql', ['-X', '-A', '-t', '-w', url, '-c', sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PGPASSWORD: password ?? '', PGCONNECT_TIMEOUT: '10' },
  }).trim();
}

function psqlFails(url: string, sql: string, password?: string): string {
  const result = spawnSync('psql', ['-X', '-A', '-t', '-w', url, '-c', sql], {
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: password ?? '', PGCONNECT_TIMEOUT: '10' },
  });
  expect(result.status).not.toBe(0);
  return result.stderr;
}

function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`, 'utf8');
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

/** Send `bytes` on a fresh connection, resolve with the first `count` bytes the server answers. */
function firstBytes(port: number, bytes: Buffer, count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    socket.once('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= count) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(got));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startPrivatePostgres', () => {
  it('starts a trust server on a loopback port with database test, not on 5432', async () => {
    const server = await start();
    expect(server.port).not.toBe(5432);
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/test`);
    expect(psql(server.url, 'select current_database() || \',\' || current_user || \',\' || current_setting(\'fsync\')')).toBe('test,postgres,off');
    expect(psql(server.url, "select split_part(current_setting('server_version'), '.', 1)::int >= 13")).toBe('t');
    await server.admin('create table t (x int); insert into t values (42)');
    expect(psql(server.url, 'select x from t')).toBe('42');
  });

  it('asks a SCRAM user for a password (AuthenticationSASL), accepts the right one, refuses a wrong one; md5 users get MD5', async () => {
    const server = await start({
      auth: 'scram-sha-256',
      users: [
        { name: 'scram_user', password: 'sésame' },
        { name: 'md5_user', password: 'md5-pass', encryption: 'md5', auth: 'md5' },
      ],
    });
    // Raw socket: after the startup message, 'R' with code 10 (SASL) naming SCRAM-SHA-256.
    const sasl = await firstBytes(server.port, startupMessage('scram_user', 'test'), 9);
    expect(String.fromCharCode(sasl[0] ?? 0)).toBe('R');
    expect(sasl.readInt32BE(5)).toBe(10);
    expect(sasl.subarray(9).toString('latin1')).toContain('SCRAM-SHA-256');
    // MD5: code 5 and a 4-byte salt.
    const md5 = await firstBytes(server.port, startupMessage('md5_user', 'test'), 13);
    expect(md5.readInt32BE(5)).toBe(5);
    const base = `postgres://scram_user@127.0.0.1:${server.port}/test`;
    expect(psql(base, 'select current_user', 'sésame')).toBe('scram_user');
    expect(psqlFails(base, 'select 1', 'wrong')).toMatch(/password authentication failed/);
    expect(psqlFails(base, 'select 1')).toMatch(/password/);
    expect(psql(`postgres://md5_user@127.0.0.1:${server.port}/test`, 'select current_user', 'md5-pass')).toBe('md5_user');
    // Both users may create tables in test (PostgreSQL 15 no longer grants that on public).
    expect(psql(base, 'create table mine (x int)', 'sésame')).toBe('CREATE TABLE');
    // The superuser over TCP needs a password too here; over the Unix socket it is trusted.
    const overSocket = `postgresql://postgres@/test?host=${encodeURIComponent(server.socketDir)}&port=${server.port}`;
    expect(psql(overSocket, "select string_agg(rolname || ':' || left(rolpassword, case when rolpassword like 'md5%' then 3 else 14 end), ',' order by rolname) from pg_authid where rolname like '%_user'"))
      .toBe('md5_user:md5,scram_user:SCRAM-SHA-256$');
    expect(psqlFails(server.url, 'select 1')).toMatch(/password/);
  });

  it('serves TLS with its self-signed certificate (ssl = on), and TLS only when asked', async () => {
    const server = await start({ tls: true, tlsOnly: true });
    expect(server.certificate).toContain('BEGIN CERTIFICATE');
    expect(server.certificateDer?.length).toBeGreaterThan(100);
    // SSLRequest answered 'S'.
    const request = Buffer.alloc(8);
    request.writeInt32BE(8, 0);
    request.writeInt32BE(80877103, 4);
    expect((await firstBytes(server.port, request, 1)).toString('latin1')).toBe('S');
    expect(psql(`${server.url}?sslmode=require`, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()')).toBe('t');
    expect(psqlFails(`${server.url}?sslmode=disable`, 'select 1')).toMatch(/no encryption|pg_hba/);
  });

  it('is killed with kill -9, restarts on the same port with its data, and removes its folder on stop', async () => {
    const server = await startPrivatePostgres({ settings: { max_connections: 20 } });
    const { dataDir, port } = server;
    expect(psql(server.url, 'show max_connections')).toBe('20');
    await server.admin('create table kept (x int); insert into kept values (7)');
    const firstPid = server.pid;
    await server.kill();
    expect(isAlive(firstPid)).toBe(false);
    psqlFails(server.url, 'select 1');
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    expect(server.port).toBe(port);
    expect(psql(server.url, 'select x from kept')).toBe('7');
    await server.restart(); // while running: fast shutdown, then start
    expect(psql(server.url, 'select count(*) from kept')).toBe('1');
    const lastPid = server.pid;
    await server.stop();
    expect(isAlive(lastPid)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('restarts under load: the running clients are cut off, the server comes back with new connections', async () => {
    const server = await start();
    const clients = Array.from({ length: 8 }, () => new Promise<number | null>((resolve) => {
      const child = spawn('psql', ['-X', '-w', server.url, '-c', 'select pg_sleep(5)'], { stdio: 'ignore' });
      child.once('close', (code) => resolve(code));
    }));
    // Wait until all eight are inside pg_sleep, then restart under them.
    for (let i = 0; i < 200 && psql(server.url, "select count(*) from pg_stat_activity where query like 'select pg_sleep(5)%' and state = 'active'") !== '8'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const firstPid = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    const codes = await Promise.all(clients);
    expect(codes.every((code) => code !== 0)).toBe(true);
    expect(psql(server.url, 'select 1')).toBe('1');
  });
});
