// scripts/private-redis.mjs
//
// The private redis-server `npm test` starts for the whole run: a free loopback port, nothing
// on disk, stopped at the end. The tests reach it through CURIO_TEST_REDIS_URL, so they never
// depend on a Redis that happens to listen on 127.0.0.1:6379.
//
// Invariants:
// - The server is stopped by its own PID, whatever way the run ends: normal end, a failed step,
//   SIGINT/SIGTERM/SIGHUP, an exception in this script; and, where util-linux's `setpriv` exists,
//   even when this process is killed with SIGKILL (the server gets SIGTERM when its parent dies).
// - `start` resolves only once the server answers PING, or rejects with the server's own output.
//
// Discussion: the port is found by listening on port 0 and closing; another process may take it
// before redis-server binds it, so a start that fails with "Address already in use" is retried
// on a new port.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Whether a Redis on the port answers PING with PONG. */
function answersPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

const hasSetpriv = spawnSync('sh', ['-c', 'command -v setpriv'], { stdio: 'ignore' }).status === 0;

async function startOnce() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'curio-test-redis-'));
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--dir', dir, '--enable-debug-command', 'local', '--logfile', '',
  ];
  const [file, argv] = hasSetpriv ? ['setpriv', ['--pdeathsig', 'SIGTERM', 'redis-server', ...args]] : ['redis-server', args];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk) => {
    if (log.length < 64 * 1024) log += chunk.toString();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  child.once('error', (error) => keep(`${error.message}\n`));
  let running = true;
  void exited.then(() => (running = false));
  const deadline = Date.now() + 15_000;
  while (running && Date.now() < deadline && !(await answersPing(port))) await new Promise((r) => setTimeout(r, 50));
  if (!running || !(await answersPing(port))) {
    if (running) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    return { started: false, log };
  }
  const stopSync = () => {
    if (running) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stopSync);
  return {
    started: true,
    server: {
      port,
      url: `redis://127.0.0.1:${port}`,
      pid: child.pid,
      /** Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its folder. */
      async stop() {
        process.removeListener('exit', stopSync);
        if (running) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    },
  };
}

/** Start a private redis-server; resolves with `{ port, url, pid, stop() }`. */
export async function startPrivateRedis() {
  let lastLog = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const outcome = await startOnce();
    if (outcome.started) return outcome.server;
    lastLog = outcome.log;
    if (!/address already in use/i.test(lastLog)) break;
  }
  throw new Error(`redis-server did not start:\n${lastLog.trimEnd()}`);
}
