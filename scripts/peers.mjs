// scripts/peers.mjs
//
// The command-line peers the tests talk to (real servers and clients, never mocks), and their
// installation: on Debian or Ubuntu, as root with apt-get, `npm test` installs what is missing
// itself; anywhere else it stops and prints the exact command to run.
//
// Invariants:
// - Nothing is installed unless something is missing, the user is root and apt-get exists.
// - When a peer is still missing afterwards, the message names every missing command, its
//   Debian package, and one command line that installs them all.
//
// Discussion: `apt-get install` fails on a machine whose package lists were never fetched
// (a fresh container), so a failed install is retried once after `apt-get update`, which needs
// the network. Installing the redis-server package may also start the distribution's own
// service on 6379, and postgresql its cluster on 5432; the tests use neither (they start private
// servers of their own).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Whether PostgreSQL's server programs exist where the test kit's findPostgresBinaries looks
 * (packages/conformance/src/postgres-server.ts): CURIO_PG_BINDIR, `pg_config --bindir`,
 * Debian's /usr/lib/postgresql/<version>/bin (outside PATH), or PATH.
 */
function hasPostgresServer() {
  const dirs = [];
  if (process.env.CURIO_PG_BINDIR) dirs.push(process.env.CURIO_PG_BINDIR);
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (config.status === 0) dirs.push(config.stdout.trim());
  if (existsSync('/usr/lib/postgresql')) dirs.push(...readdirSync('/usr/lib/postgresql').map((v) => join('/usr/lib/postgresql', v, 'bin')));
  return dirs.some((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) || (onPath('initdb') && onPath('postgres'));
}

/**
 * Each peer: the command the tests run, the Debian package that provides it, and how to tell
 * that the command on PATH is the right one.
 */
export const PEERS = [
  { command: 'redis-server', debianPackage: 'redis-server', usedFor: 'the private Redis of the tests' },
  { command: 'redis-cli', debianPackage: 'redis-tools', usedFor: 'mini-redis tests' },
  { command: 'redis-benchmark', debianPackage: 'redis-tools', usedFor: 'mini-redis tests' },
  { command: 'openssl', debianPackage: 'openssl', usedFor: 'TLS tests (certificates, s_client, s_server)' },
  { command: 'curl', debianPackage: 'curl', usedFor: 'HTTP and TLS socket tests' },
  {
    command: 'nc',
    debianPackage: 'netcat-openbsd',
    usedFor: 'socket tests (`nc -N`, OpenBSD netcat)',
    // netcat-traditional and busybox nc have no -N (shut down the socket after EOF on stdin).
    isRightOne: () => /-N\b/.test(output('nc', ['-h'])),
  },
  { command: 'socat', debianPackage: 'socat', usedFor: 'UDP tests' },
  {
    command: 'initdb and postgres',
    debianPackage: 'postgresql',
    usedFor: 'the private PostgreSQL servers of the tests (CURIO_TEST_PG_URL)',
    // Debian keeps them in /usr/lib/postgresql/<version>/bin, outside PATH.
    isPresent: hasPostgresServer,
  },
  { command: 'psql', debianPackage: 'postgresql-client', usedFor: 'PostgreSQL tests (a second client)' },
];

function output(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`;
}

function onPath(command) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

/** The peers that are missing (or, for nc, the wrong variant). */
export function missingPeers() {
  return PEERS.filter((peer) =>
    peer.isPresent !== undefined ? !peer.isPresent() : !onPath(peer.command) || (peer.isRightOne !== undefined && !peer.isRightOne()));
}

function packagesOf(peers) {
  return [...new Set(peers.map((peer) => peer.debianPackage))];
}

function aptGet(args, log) {
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) log(`apt-get ${args.join(' ')} failed (exit ${result.status ?? result.signal}):\n${tail(text, 8)}`);
  return result.status === 0;
}

function tail(text, lines) {
  return text.trimEnd().split('\n').slice(-lines).map((line) => `    ${line}`).join('\n');
}

/**
 * Make every peer available: returns `{ ok: true }`, or `{ ok: false, message }` with what the
 * user must run. `log` receives progress lines.
 */
export function ensurePeers(log = (line) => console.error(line)) {
  let missing = missingPeers();
  if (missing.length === 0) return { ok: true };
  const packages = packagesOf(missing);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasAptGet = onPath('apt-get');
  let reason;
  if (!hasAptGet) reason = 'apt-get is not available here, so npm test cannot install them';
  else if (!isRoot) reason = 'npm test installs them only when run as root';
  else {
    log(`installing the command-line peers the tests use: apt-get install -y ${packages.join(' ')}`);
    const installArgs = ['install', '-y', '-qq', '--no-install-recommends', ...packages];
    if (!aptGet(installArgs, log)) {
      log('fetching the package lists (apt-get update) and trying again');
      if (aptGet(['update', '-qq'], log)) aptGet(installArgs, log);
    }
    missing = missingPeers();
    if (missing.length === 0) return { ok: true };
    reason = 'installing them with apt-get failed (no network, or no such packages here)';
  }
  const stillMissing = packagesOf(missing);
  const sudo = isRoot ? '' : 'sudo ';
  const lines = [
    'The tests need these commands, which are missing:',
    ...missing.map((peer) => `  - ${peer.command} (Debian package ${peer.debianPackage}), for ${peer.usedFor}`),
    `${reason}. Run:`,
    '',
    `    ${sudo}apt-get update && ${sudo}apt-get install -y ${stillMissing.join(' ')}`,
    '',
    hasAptGet
      ? 'then `npm test` again.'
      : 'or, without apt-get, install the same programs with your system\'s package manager, then `npm test` again.',
  ];
  return { ok: false, message: lines.join('\n') };
}
