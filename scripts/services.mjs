// Check that the servers the tests talk to answer, and say how to get them if not.
// Redis and PostgreSQL are needed from the Redis and Postgres issues on; the kernel alone
// needs nothing, so only servers listed in REQUIRED are checked.
import net from 'node:net';

const REQUIRED = [];

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
  if (missing.length === 0) return { ok: true, message: '' };
  const lines = missing.map((s) => `  - ${s.name} on ${s.host}:${s.port}: ${s.howTo}`);
  return { ok: false, message: `The tests need these servers, which do not answer:\n${lines.join('\n')}` };
}
