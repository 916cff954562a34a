// ws-echo: a WebSocket echo server (RFC 6455, framing in frames.ts) on the HTTP server's
// upgrade hand-off, on the node or the curio runtime.
//
//   node dist/main.js [--host 127.0.0.1] [--port 8080] [--runtime node|curio] [--max-message BYTES]
//
// Prints one line `ws-echo listening on ws://HOST:PORT (RUNTIME)` once ready (so `--port 0`
// works), and stops cleanly on SIGTERM / SIGINT: every session gets close 1001, the server
// stops accepting, and the process exits 0.

import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { serveHttp as serveOnNode } from '@curio-ts/backend-node';
import { serveHttp as serveOnCurio } from '@curio-ts/backend-curio';
import { awaitPromise, run } from '@curio-ts/kernel';
import { startWsEcho } from './echo.js';
import type { ServeHttp } from './echo.js';

const USAGE = 'usage: node dist/main.js [--host H] [--port P] [--runtime node|curio] [--max-message BYTES]';

interface Options {
  readonly host: string;
  readonly port: number;
  readonly runtime: 'node' | 'curio';
  readonly maxMessageBytes: number;
}

/** The command line's options; a string saying what is wrong with it otherwise. */
function options(args: string[]): Options | string {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '8080' }, runtime: { type: 'string', default: 'node' }, 'max-message': { type: 'string', default: String(16 * 1024 * 1024) } },
    }));
  } catch (error) {
    return (error as Error).message;
  }
  const port = Number(values.port);
  const maxMessageBytes = Number(values['max-message']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return `invalid port ${values.port}`;
  if (values.runtime !== 'node' && values.runtime !== 'curio') return `--runtime is node or curio, not ${values.runtime}`;
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes <= 0) return `invalid --max-message ${values['max-message']}`;
  return { host: values.host, port, runtime: values.runtime, maxMessageBytes };
}

/** Serve until SIGTERM or SIGINT; `wait` awaits a Promise the way the runtime's code does. */
async function serve(serveHttp: ServeHttp, opts: Options, wait: <T>(p: Promise<T>) => Promise<T>): Promise<void> {
  const echo = await startWsEcho(serveHttp, { maxMessageBytes: opts.maxMessageBytes, http: { listen: { host: opts.host, port: opts.port } } });
  const signal = Promise.race([once(process, 'SIGTERM').then(() => 'SIGTERM'), once(process, 'SIGINT').then(() => 'SIGINT')]);
  const address = echo.http.address;
  console.log(`ws-echo listening on ${'port' in address ? `ws://${address.host}:${address.port}` : address.path} (${opts.runtime})`);
  console.log(`ws-echo stopping (${await wait(signal)})`);
  await echo.close();
}

const parsed = options(process.argv.slice(2));
if (typeof parsed === 'string') {
  console.error(`ws-echo: ${parsed}\n${USAGE}`);
  process.exitCode = 2;
} else if (parsed.runtime === 'node') await serve(serveOnNode, parsed, (p) => p);
// The whole server runs inside the kernel; the signal is awaited through awaitPromise.
else await run(async () => serve(serveOnCurio, parsed, (p) => awaitPromise(p)));
