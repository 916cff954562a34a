// Check that the servers and tools the tests use are there, and say how to get them if not.
import { spawnSync } from 'node:child_process';
import net from 'node:net';

const REQUIRED = [
  {
    name: 'Redis',
    host: '127.0.0.1',
    port: 6379,
    howTo:
      'install redis (apt-get install -y redis-server redis-tools) and start it with ' +
      '`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`',
  },
];

/** Command-line peers the tests run (real clients and servers, not mocks). */
const TOOLS = [
  ['redis-server', 'apt-get install -y redis-server'],
  ['redis-cli', 'apt-get install -y redis-tools'],
  ['redis-benchmark', 'apt-get install -y redis-tools'],
  ['openssl', 'apt-get install -y openssl'],
  ['curl', 'apt-get install -y curl'],
  ['nc', 'apt-get install -y netcat-openbsd'],
  ['socat', 'apt-get install -y socat'],
];

function probe(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function checkServices() {
  const missing = [];
  for (const service of REQUIRED) {
    if (!(await probe(service.host, service.port))) missing.push(service);
  }
  const lines = missing.map((s) => `  - ${s.name} on ${s.host}:${s.port}: ${s.howTo}`);
  for (const [tool, install] of TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) lines.push(`  - the ${tool} command: ${install}`);
  }
  if (lines.length === 0) return { ok: true, message: '' };
  return { ok: false, message: `The tests need these, which are missing:\n${lines.join('\n')}` };
}
