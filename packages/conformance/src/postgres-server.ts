// conformance/postgres-server.ts
//
// Private PostgreSQL servers for the tests: `initdb` into a temporary folder, `postgres` on a
// free loopback port, stopped by its own PID. `npm test` starts one for the whole run
// (CURIO_TEST_PG_URL); a test that needs its own configuration (SCRAM or MD5 users, TLS, a
// restart under load, a kill -9) starts its own with `startPrivatePostgres(options)`.
//
// Invariants:
// - Nothing here uses 127.0.0.1:5432 or any server already running: a fresh machine, or an
//   `unshare -n` namespace with only loopback up, is enough.
// - `postgres` and `initdb` refuse to run as root: as root they run as an unprivileged user
//   (PG_TEST_USER, created once with `useradd` if missing), which owns the temporary folder.
// - `start` resolves only once the server accepts a connection and the database `test`
//   exists; it rejects with the server's own log otherwise.
// - The server is stopped by its PID on `stop()`, on process exit (SIGQUIT, the immediate
//   shutdown), and, where util-linux's `setpriv` exists, when the thread that started it dies
//   (parent-death signal SIGQUIT); its folder is removed.
//
// Discussion: speed. `initdb` takes 1-3 s here (most of it bootstrapping the catalogs), so it runs
// once per machine into a template folder (os.tmpdir()/curio-pg-template-<version>-<owner>,
// made under a temporary name and renamed, so concurrent first starts never see half of it),
// and every instance copies the template (`cp -a`, 24 MB with 1 MB WAL segments) onto tmpfs
// (/dev/shm) where there is one: 65 ms, where ext4 /tmp took 820 ms. The server runs with
// fsync and full_page_writes off: tests never need durability across a machine crash, only
// across a server crash (kill -9), which fsync off does not affect, as the WAL is still written
// to the kernel at each commit. synchronous_commit stays on: off, a kill -9 loses the last
// acknowledged commits (seen here: a table created just before the kill was gone).
//
// Discussion: the administrative connection. Users, passwords and the database `test` are
// created over the server's Unix socket (in the instance folder, trust for `postgres` there
// whatever `auth` says), with a few lines of protocol written here (startup, simple query), so
// the harness needs neither psql nor a client package.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, copyFileSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestCa } from './certs.js';
import type { TestCa } from './certs.js';
import { freePort } from './servers.js';

/** The environment variable holding the URL of the server the tests share (`npm test` sets it). */
export const TEST_PG_ENV = 'CURIO_TEST_PG_URL';

/** The unprivileged user the servers run as when the tests run as root. */
export const PG_TEST_USER = 'pgtest';

/** An authentication method of a pg_hba.conf line. */
export type PgAuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256' | 'reject';

/** A login role created at start. */
export interface PrivatePostgresUser {
  readonly name: string;
  /** Its password (none: a role without a password). */
  readonly password?: string;
  /** How the password is stored (password_encryption when it is set): default 'scram-sha-256'. */
  readonly encryption?: 'md5' | 'scram-sha-256';
  /** The pg_hba method for this user over TCP (default: the server's `auth`). */
  readonly auth?: PgAuthMethod;
  /** Superuser (default false). */
  readonly superuser?: boolean;
}

/** Options of {@link startPrivatePostgres}. */
export interface PrivatePostgresOptions {
  /** The pg_hba method for every TCP connection not named in `users` (default 'trust'). */
  readonly auth?: PgAuthMethod;
  /** Login roles to create, each with its own pg_hba line. */
  readonly users?: readonly PrivatePostgresUser[];
  /**
   * TLS (ssl = on; default false). `true`: a certificate for localhost and 127.0.0.1 signed by
   * a CA made for this server alone (its PEM in `ca`). An object: a certificate for `names`
   * (default localhost and 127.0.0.1) signed by `ca` (a CA the test keeps, to sign several
   * servers' certificates and trust them all; default a CA of this server's own).
   */
  readonly tls?: boolean | PrivatePostgresTls;
  /** With `tls`: only TLS connections over TCP (hostssl lines; default false: both). */
  readonly tlsOnly?: boolean;
  /** More server settings (`-c name=value`), e.g. `{ max_connections: 20 }`. */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /** Milliseconds to wait for the server to accept connections (default 30 000). */
  readonly startTimeout?: number;
  /**
   * Start a hot standby of this running server instead of a new one: its data directory is a
   * `pg_basebackup -R` of it (over its unix socket), so it replicates from it and reports
   * in_hot_standby on until promoted. Users and the database `test` come from the primary
   * (`users` and `auth` apply to pg_hba.conf only); `tls` is not available.
   */
  readonly standbyOf?: PrivatePostgres;
}

/** Whether the options ask for TLS. */
function hasTls(options: PrivatePostgresOptions): boolean {
  return options.tls !== undefined && options.tls !== false;
}

/** TLS of a private server (see {@link PrivatePostgresOptions.tls}). */
export interface PrivatePostgresTls {
  /** The CA that signs the server's certificate (default: one made for this server). */
  readonly ca?: TestCa;
  /** The names the certificate holds (IP addresses as IP:, the rest as DNS:; default localhost, 127.0.0.1). */
  readonly names?: readonly string[];
}

/** A running private server. */
export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/test (the superuser; trust unless `auth` says otherwise). */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The postmaster's PID (changes on restart). */
  readonly pid: number;
  /** The data directory. */
  readonly dataDir: string;
  /** The Unix-socket directory (trust for `postgres`). */
  readonly socketDir: string;
  /** With `tls`: the server's certificate (PEM). */
  readonly certificate: string | null;
  /** With `tls`: the CA certificate that signed it (PEM), what a client trusts (sslrootcert, the `ca` TLS option). */
  readonly ca: string | null;
  /** With `tls`: the certificate's DER bytes (what tls-server-end-point hashes). */
  readonly certificateDer: Uint8Array | null;
  /** Run SQL as `postgres` over the Unix socket (simple query); rejects with the server's error message. */
  admin(sql: string, database?: string): Promise<void>;
  /** The server's log so far (its stderr), for failing tests. */
  log(): string;
  /** Stop the server (fast shutdown, SIGINT; SIGKILL after 10 s) and keep the folder. */
  shutdown(): Promise<void>;
  /** Start it again on the same port and data directory (after shutdown, kill, or while running: then a fast shutdown first). */
  restart(): Promise<void>;
  /** kill -9 the postmaster; its backends notice and exit by themselves. Resolves once it has exited. */
  kill(): Promise<void>;
  /** Stop the server (if running) and remove its folder. Idempotent. */
  stop(): Promise<void>;
  /** A standby (standbyOf): promote it to primary and wait until it accepts writes. */
  promote(): Promise<void>;
}

/** The server programs of one PostgreSQL installation. */
export interface PgBinaries {
  readonly binDir: string;
  readonly version: string;
  readonly initdb: string;
  readonly postgres: string;
  /** For standbys (PrivatePostgresOptions.standbyOf). */
  readonly pgBasebackup: string;
}

function run(file: string, args: readonly string[]): string | null {
  const result = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return result.status === 0 ? result.stdout.trim() : null;
}

function binariesIn(binDir: string): PgBinaries | null {
  const postgres = join(binDir, 'postgres');
  const initdb = join(binDir, 'initdb');
  if (!existsSync(postgres) || !existsSync(initdb)) return null;
  const version = run(postgres, ['--version'])?.match(/(\d+)(?:\.(\d+))?/)?.[0];
  return version === undefined ? null : { binDir, version, postgres, initdb, pgBasebackup: join(binDir, 'pg_basebackup') };
}

/**
 * Find `initdb` and `postgres`: CURIO_PG_BINDIR, then `pg_config --bindir`, then Debian's
 * /usr/lib/postgresql/<version>/bin (newest first, 15 preferred), then PATH. Null when absent.
 */
export function findPostgresBinaries(): PgBinaries | null {
  const candidates: string[] = [];
  const fromEnv = process.env['CURIO_PG_BINDIR'];
  if (fromEnv !== undefined && fromEnv !== '') candidates.push(fromEnv);
  const fromConfig = run('pg_config', ['--bindir']);
  if (fromConfig !== null) candidates.push(fromConfig);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    const preferred: string[] = [...versions.filter((v) => v === '15'), ...versions.filter((v) => v !== '15')];
    candidates.push(...preferred.map((v) => join(debian, v, 'bin')));
  }
  const onPath = run('sh', ['-c', 'command -v postgres']);
  if (onPath !== null) candidates.push(onPath.replace(/\/postgres$/, ''));
  for (const dir of candidates) {
    const found = binariesIn(dir);
    if (found !== null) return found;
  }
  return null;
}

interface Owner {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

/** Who runs the server: this process, or (as root) PG_TEST_USER, created once. */
function serverOwner(): Owner | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const id = (flag: string): number | null => {
    const out = run('id', [flag, PG_TEST_USER]);
    return out === null ? null : Number(out);
  };
  if (id('-u') === null) {
    // Two processes may race here: the loser's useradd fails with "already exists", which is fine.
    spawnSync('useradd', ['--system', '--create-home', '--shell', '/usr/sbin/nologin', PG_TEST_USER], { stdio: 'ignore' });
  }
  const uid = id('-u');
  const gid = id('-g');
  if (uid === null || gid === null) throw new Error(`cannot create the unprivileged user ${PG_TEST_USER} (useradd) the PostgreSQL tests run their server as`);
  return { uid, gid, name: PG_TEST_USER };
}

function spawnAs(owner: Owner | null, file: string, args: readonly string[], cwd: string): ChildProcess {
  return spawn(file, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' },
    ...(owner === null ? {} : { uid: owner.uid, gid: owner.gid }),
  });
}

function runAs(owner: Owner | null, file: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnAs(owner, file, args, cwd);
    let out = '';
    const keep = (chunk: Buffer): void => {
      if (out.length < 64 * 1024) out += chunk.toString();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${file} ${args.join(' ')} failed (exit ${code}):\n${out.trimEnd()}`))));
  });
}

/**
 * Where instances live: CURIO_PG_TMPDIR, else /dev/shm (tmpfs) when writable, else os.tmpdir().
 * Copying the template onto tmpfs takes 65 ms here, onto ext4 /tmp 820 ms.
 */
function instanceParent(): string {
  const fromEnv = process.env['CURIO_PG_TMPDIR'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

function ownedTempDir(prefix: string, owner: Owner | null, parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, prefix));
  if (owner !== null) chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/** initdb once per installation and owner; later calls return the folder at once. */
async function template(bins: PgBinaries, owner: Owner | null): Promise<string> {
  const who = owner?.name ?? String(process.getuid?.() ?? 'user');
  const dir = join(tmpdir(), `curio-pg-template-${bins.version}-${who}-w1`);
  if (existsSync(join(dir, 'PG_VERSION'))) return dir;
  const work = ownedTempDir('curio-pg-initdb-', owner);
  const data = join(work, 'data');
  await runAs(owner, bins.initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C', '--wal-segsize=1'], work);
  try {
    renameSync(data, dir);
  } catch (error) {
    if (!existsSync(join(dir, 'PG_VERSION'))) throw error; // else: a concurrent first start won
  }
  rmSync(work, { recursive: true, force: true });
  return dir;
}

/** Frame one frontend message: type byte (none for startup), length, body. */
function frame(type: string | null, body: Buffer): Buffer {
  const head = Buffer.alloc(type === null ? 4 : 5);
  if (type !== null) head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, type === null ? 0 : 1);
  return Buffer.concat([head, body]);
}

/**
 * Connect as `postgres` over the Unix socket, run each statement as its own simple query (so
 * CREATE DATABASE is not inside a transaction block), close. Resolves null on success or the
 * server's first error message; rejects when no connection could be made.
 */
function simpleQuery(socketPath: string, database: string, sql: string | readonly string[]): Promise<string | null> {
  const statements = typeof sql === 'string' ? [sql] : sql;
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const version = Buffer.alloc(4);
    version.writeInt32BE(196608);
    const params = Buffer.from(`user\0postgres\0database\0${database}\0\0`, 'utf8');
    let buffered = Buffer.alloc(0);
    let error: string | null = null;
    let next = 0;
    let settled = false;
    const done = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      outcome();
    };
    socket.setTimeout(30_000, () => done(() => reject(new Error('no answer from the server'))));
    socket.once('error', (e) => done(() => reject(e)));
    socket.once('close', () => done(() => reject(new Error(error ?? 'the server closed the connection'))));
    socket.once('connect', () => socket.write(frame(null, Buffer.concat([version, params]))));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5) {
        const length = buffered.readInt32BE(1);
        if (buffered.length < 1 + length) break;
        const type = String.fromCharCode(buffered[0] ?? 0);
        const body = buffered.subarray(5, 1 + length);
        buffered = buffered.subarray(1 + length);
        if (type === 'E') {
          const field = body.toString('utf8').split('\0').find((f) => f.startsWith('M'));
          error = field?.slice(1) ?? 'error';
          if (next === 0) return done(() => resolve(error));
        } else if (type === 'R' && body.readInt32BE(0) !== 0) {
          return done(() => reject(new Error('the Unix socket asks for a password')));
        } else if (type === 'Z') {
          if (error !== null || next === statements.length) return done(() => resolve(error));
          socket.write(frame('Q', Buffer.from(`${statements[next++] ?? ''}\0`, 'utf8')));
        }
      }
    });
  });
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function ident(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}

function hbaLines(options: PrivatePostgresOptions): string {
  const host = hasTls(options) && options.tlsOnly === true ? 'hostssl' : 'host';
  // Replication over the socket and loopback (pg_basebackup, a standby's walreceiver).
  const lines = ['local all postgres trust', 'local replication all trust', 'host replication all 127.0.0.1/32 trust'];
  for (const user of options.users ?? []) lines.push(`${host} all ${ident(user.name)} 127.0.0.1/32 ${user.auth ?? options.auth ?? 'trust'}`);
  lines.push(`${host} all all 127.0.0.1/32 ${options.auth ?? 'trust'}`, 'local all all trust');
  return `${lines.join('\n')}\n`;
}

function settingArgs(port: number, socketDir: string, options: PrivatePostgresOptions): string[] {
  const settings: Record<string, string | number | boolean> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    fsync: false,
    full_page_writes: false,
    max_connections: 200,
    shared_buffers: '32MB',
    max_wal_size: '1GB',
    logging_collector: false,
    log_min_messages: 'warning',
    ...(hasTls(options) ? { ssl: true, ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' } : {}),
    ...(options.settings ?? {}),
  };
  const args = ['-p', String(port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value === true ? 'on' : value === false ? 'off' : String(value)}`);
  return args;
}

const hasSetpriv = spawnSync('sh', ['-c', 'command -v setpriv'], { stdio: 'ignore' }).status === 0;

/** The message for a machine without PostgreSQL's server programs. */
export function missingPostgresMessage(): string {
  return [
    'PostgreSQL server programs (initdb, postgres) not found: not in CURIO_PG_BINDIR, `pg_config --bindir`,',
    '/usr/lib/postgresql/<version>/bin, nor PATH. On Debian or Ubuntu run:',
    '',
    '    sudo apt-get update && sudo apt-get install -y postgresql',
    '',
    '(or set CURIO_PG_BINDIR to the folder holding initdb and postgres, or CURIO_TEST_PG_URL to a server to use).',
  ].join('\n');
}

/**
 * Start a private PostgreSQL server on a free loopback port, with database `test`, the
 * superuser `postgres`, and what the options ask for. Stop it with `stop()`.
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bins = findPostgresBinaries();
  if (bins === null) throw new Error(missingPostgresMessage());
  const owner = serverOwner();
  const base = ownedTempDir('curio-pg-', owner, instanceParent());
  const dataDir = join(base, 'data');
  try {
    const primary = options.standbyOf;
    if (primary !== undefined) {
      if (hasTls(options)) throw new Error('a private standby cannot have tls');
      await runAs(owner, bins.pgBasebackup, ['-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync', '-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres'], base);
    } else await runAs(owner, 'cp', ['-a', await template(bins, owner), dataDir], base);
    writeFileSync(join(dataDir, 'pg_hba.conf'), hbaLines(options));
    let certificate: string | null = null;
    let certificateDer: Uint8Array | null = null;
    let caPem: string | null = null;
    if (hasTls(options)) {
      const given = typeof options.tls === 'object' ? options.tls : {};
      const ca = given.ca ?? makeTestCa();
      try {
        const issued = ca.issue(given.names ?? ['localhost', '127.0.0.1']);
        copyFileSync(issued.certFile, join(dataDir, 'server.crt'));
        copyFileSync(issued.keyFile, join(dataDir, 'server.key'));
        certificate = issued.cert;
        certificateDer = issued.der;
        caPem = ca.ca;
      } finally {
        if (given.ca === undefined) ca.remove();
      }
      chmodSync(join(dataDir, 'server.key'), 0o600);
    }
    if (owner !== null) {
      for (const file of ['pg_hba.conf', ...(hasTls(options) ? ['server.crt', 'server.key'] : [])]) chownSync(join(dataDir, file), owner.uid, owner.gid);
    }
    appendFileSync(join(dataDir, 'postgresql.conf'), '\n# curio-ts private test server: settings come on the command line\n');
    return await launch(bins, owner, base, dataDir, options, certificate, certificateDer, caPem);
  } catch (error) {
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
}

async function launch(
  bins: PgBinaries,
  owner: Owner | null,
  base: string,
  dataDir: string,
  options: PrivatePostgresOptions,
  certificate: string | null,
  certificateDer: Uint8Array | null,
  caPem: string | null,
): Promise<PrivatePostgres> {
  const startTimeout = options.startTimeout ?? 30_000;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  let port = 0;
  const socketPath = (): string => join(base, `.s.PGSQL.${port}`);

  const startOn = async (wanted: number): Promise<'started' | 'port-taken'> => {
    port = wanted;
    const args = ['-D', dataDir, ...settingArgs(port, base, options)];
    const [file, argv] = hasSetpriv ? ['setpriv', ['--pdeathsig', 'SIGQUIT', bins.postgres, ...args]] : [bins.postgres, args];
    const started = spawnAs(owner, file, argv, base);
    child = started;
    let running = true;
    exited = new Promise<void>((resolve) => started.once('close', () => {
      running = false;
      resolve();
    }));
    const keep = (chunk: Buffer | string): void => {
      if (log.length < 256 * 1024) log += chunk.toString();
    };
    started.stdout?.on('data', keep);
    started.stderr?.on('data', keep);
    started.once('error', (error) => keep(`${error.message}\n`));
    const deadline = Date.now() + startTimeout;
    while (running && Date.now() < deadline) {
      try {
        const failure = await simpleQuery(socketPath(), 'postgres', 'select 1');
        if (failure === null) return 'started';
        if (!/starting up|recovery|shutting down|not yet accepting/i.test(failure)) throw new Error(failure);
      } catch (error) {
        if (!(error instanceof Error) || !/ENOENT|ECONNREFUSED|starting up|recovery|closed|not yet accepting/.test(error.message)) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (running) started.kill('SIGKILL');
    await exited;
    if (/could not bind|address already in use/i.test(log)) return 'port-taken';
    throw new Error(`postgres did not start (${bins.postgres}, version ${bins.version}):\n${log.trimEnd()}`);
  };

  const start = async (fixedPort: number | null): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      // After a kill -9, the old backends may hold the shared memory for a moment: retry.
      const outcome = await startOn(fixedPort ?? (await freePort()));
      if (outcome === 'started') return;
      if (attempt >= 20) throw new Error(`postgres could not bind a port:\n${log.trimEnd()}`);
      if (fixedPort !== null) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const isRunning = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;
  const onExit = (): void => {
    if (isRunning()) child?.kill('SIGQUIT');
    rmSync(base, { recursive: true, force: true });
  };
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (!isRunning()) return;
    child?.kill(signal);
    const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await start(null);
  // A standby gets its database and users from its primary (and could not create them).
  let failure = options.standbyOf !== undefined ? null : await simpleQuery(socketPath(), 'postgres', setupSql(options));
  // PostgreSQL 15 no longer lets every role create in schema public: the test users may.
  const users = (options.users ?? []).map((user) => `grant all on schema public to ${ident(user.name)}`);
  if (failure === null && users.length > 0 && options.standbyOf === undefined) failure = await simpleQuery(socketPath(), 'test', users);
  if (failure !== null) {
    await shutdown('SIGQUIT');
    throw new Error(`setting up the private server failed: ${failure}`);
  }
  process.once('exit', onExit);
  let stopped = false;

  const server: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    host: '127.0.0.1',
    port,
    get pid() {
      return child?.pid ?? 0;
    },
    dataDir,
    socketDir: base,
    certificate,
    ca: caPem,
    certificateDer,
    async admin(sql, database = 'test') {
      const error = await simpleQuery(socketPath(), database, sql);
      if (error !== null) throw new Error(error);
    },
    log: () => log,
    shutdown: () => shutdown('SIGINT'),
    async restart() {
      await shutdown('SIGINT');
      await start(port);
    },
    async kill() {
      if (!isRunning()) return;
      child?.kill('SIGKILL');
      await exited;
    },
    async promote() {
      // pg_promote waits (up to 60 s) until the promotion is complete.
      await server.admin('select pg_promote()', 'postgres');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await shutdown('SIGQUIT');
      rmSync(base, { recursive: true, force: true });
    },
  };
  return server;
}

function setupSql(options: PrivatePostgresOptions): string[] {
  const statements = ['create database test'];
  for (const user of options.users ?? []) {
    statements.push(`set password_encryption = ${literal(user.encryption ?? 'scram-sha-256')}`);
    const password = user.password === undefined ? '' : ` password ${literal(user.password)}`;
    statements.push(`create role ${ident(user.name)} login${user.superuser === true ? ' superuser' : ''}${password}`);
    statements.push(`grant all on database test to ${ident(user.name)}`);
  }
  return statements;
}

/** Exported for scripts/test.mjs: run `initdb` ahead (the template), so the first start is fast. */
export async function preparePostgresTemplate(): Promise<void> {
  const bins = findPostgresBinaries();
  if (bins === null) throw new Error(missingPostgresMessage());
  await template(bins, serverOwner());
}

/** The URL in CURIO_TEST_PG_URL (`npm test` points it at a private server it starts), if set. */
export function testPgUrl(): string | undefined {
  const url = process.env[TEST_PG_ENV];
  return url === undefined || url === '' ? undefined : url;
}

let shared: Promise<PrivatePostgres> | null = null;

/**
 * The server a test file shares: CURIO_TEST_PG_URL when set, else one private server started on
 * first use for this process (stopped at exit). Never 127.0.0.1:5432 by accident.
 */
export async function sharedTestPgUrl(): Promise<string> {
  const url = testPgUrl();
  if (url !== undefined) return url;
  shared ??= startPrivatePostgres();
  return (await shared).url;
}
