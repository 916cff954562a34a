// private-pg.ts
//
// A private PostgreSQL instance for proto-pg's authentication tests (test code only; the
// shared harness for every package is pg-infra's): initdb into a temporary folder, a free
// loopback port, pg_hba.conf lines per user and method (scram-sha-256, md5, password), a
// self-signed certificate for TLS (so SCRAM-SHA-256-PLUS can be tried), roles with passwords.
// PostgreSQL refuses to run as root: when the tests run as root, initdb and postgres run as
// the unprivileged user `pgtest` (runuser). Stopped by the PID in postmaster.pid.
//
// Binaries: $PG_BIN, or /usr/lib/postgresql/15/bin (Debian's place). When initdb is missing,
// `startPrivatePg` throws an Error saying what to install.

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgDriver } from './driver.js';
import type { PgTarget } from './driver.js';

/** The users the instance has, with their passwords and the method pg_hba.conf asks of them. */
export const PRIVATE_USERS = {
  scram: { user: 'scram_user', password: 'scrām-pw', method: 'scram-sha-256' },
  md5: { user: 'md5_user', password: 'md5-pw', method: 'md5' },
  cleartext: { user: 'clear_user', password: 'clear-pw', method: 'password' },
} as const;

/** A running private instance. */
export interface PrivatePg {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** The server certificate (PEM), for TLS tests. */
  readonly certificate: string;
  /** A target for a user of this instance. */
  target(user: string): PgTarget;
  stop(): Promise<void>;
}

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const RUN_AS = 'pgtest';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The command line to run a PostgreSQL binary as a user it accepts. */
function asServerUser(binary: string, args: string[]): [string, string[]] {
  const isRoot = process.getuid?.() === 0;
  return isRoot ? ['runuser', ['-u', RUN_AS, '--', join(BIN, binary), ...args]] : [join(BIN, binary), args];
}

/** Start an instance (takes a few seconds). */
export async function startPrivatePg(): Promise<PrivatePg> {
  if (!existsSync(join(BIN, 'initdb'))) {
    throw new Error(`initdb not found in ${BIN}: install PostgreSQL 15 (apt-get install -y postgresql) or set PG_BIN to the folder holding initdb and postgres`);
  }
  const isRoot = process.getuid?.() === 0;
  let uid = -1;
  let gid = -1;
  if (isRoot) {
    try {
      uid = Number(execFileSync('id', ['-u', RUN_AS]).toString().trim());
      gid = Number(execFileSync('id', ['-g', RUN_AS]).toString().trim());
    } catch {
      throw new Error(`PostgreSQL refuses to run as root and there is no user '${RUN_AS}': create one (useradd -m ${RUN_AS})`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'proto-pg-'));
  const data = join(dir, 'data');
  if (isRoot) chownSync(dir, uid, gid);
  const [initdb, initArgs] = asServerUser('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  execFileSync(initdb, initArgs, { stdio: 'pipe' });

  // A self-signed certificate for TLS.
  execFileSync('openssl', ['req', '-new', '-x509', '-days', '2', '-nodes', '-subj', '/CN=localhost', '-keyout', join(data, 'server.key'), '-out', join(data, 'server.crt')], { stdio: 'pipe' });
  if (isRoot) {
    chownSync(join(data, 'server.key'), uid, gid);
    chownSync(join(data, 'server.crt'), uid, gid);
  }
  chmodSync(join(data, 'server.key'), 0o600);

  const port = await freePort();
  writeFileSync(
    join(data, 'pg_hba.conf'),
    [
      'local all all trust',
      ...Object.values(PRIVATE_USERS).map((u) => `host all ${u.user} 127.0.0.1/32 ${u.method}`),
      'host all all 127.0.0.1/32 trust',
      '',
    ].join('\n'),
  );
  appendFileSync(join(data, 'postgresql.conf'), `\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n`);

  const [postgres, args] = asServerUser('postgres', ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1']);
  const child = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));

  const host = '127.0.0.1';
  const target = (user: string): PgTarget => ({ host, port, user, database: 'postgres' });
  // Wait until it answers a trust startup as postgres.
  let admin: PgDriver | null = null;
  for (let attempt = 0; attempt < 200 && admin === null; attempt++) {
    try {
      admin = await PgDriver.ready({}, target('postgres'));
    } catch {
      if (child.exitCode !== null) throw new Error(`the private PostgreSQL exited: ${log}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (admin === null) throw new Error(`the private PostgreSQL did not start: ${log}`);
  const { scram, md5, cleartext } = PRIVATE_USERS;
  admin.conn.query(
    `set password_encryption = 'scram-sha-256'; create role ${scram.user} login password '${scram.password}'; create role ${cleartext.user} login password '${cleartext.password}';` +
      `set password_encryption = 'md5'; create role ${md5.user} login password '${md5.password}'`,
  );
  admin.flush();
  const created = await admin.readies(1);
  admin.close();
  if (created.some((e) => e.type === 'error')) throw new Error(`creating the roles failed: ${JSON.stringify(created)}`);

  const certificate = readFileSync(join(data, 'server.crt'), 'utf8');
  return {
    host,
    port,
    dir,
    certificate,
    target,
    async stop() {
      const pidFile = join(data, 'postmaster.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : child.pid;
      if (pid !== undefined && pid > 0) {
        try {
          process.kill(pid, 'SIGINT'); // fast shutdown
        } catch {
          // already gone
        }
        for (let i = 0; i < 100; i++) {
          try {
            process.kill(pid, 0);
          } catch {
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
