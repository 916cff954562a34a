// ws-echo: a WebSocket echo server (RFC 6455, framing in frames.ts) on the HTTP server's
// upgrade hand-off, on the node or the curio runtime.
//
//   node dist/main.js [--host 127.0.0.1] [--port 8080] [--runtime node|curio] [--max-message BYTES]
//
// Prints one line `ws-echo listening on ws://HOST:PORT (RUNTIME)` once ready (so `--port 0`
// works), and stops cleanly on SIGTERM / SIGINT: every session gets close 1001, the server
// stops accepting, and the process exits 0.

import { serveHttp as serveOnNode } from '@curio-ts/backend-node';
import { serveHttp as serveOnCurio } from '@curio-ts/backend-curio';
import { awaitPromise, run } from '@curio-ts/kernel';
import { startWsEcho } from './echo.js';
import type { ServeHttp, WsEcho } from './echo.js';

interface Options {
  host: string;
  port: number;
  runtime: 'node' | 'curio';
  maxMessageBytes: number;
}

class UsageError extends Error {}

function parseOptions(args: string[]): Options {
  const options: Options = { host: '127.0.0.1', port: 8080, runtime: 'node', maxMessageBytes: 16 * 1024 * 1024 };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--host') options.host = value();
    else if (arg === '--port') {
      const port = Number(value());
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port ${args[i]}`);
      options.port = port;
    } else if (arg === '--runtime') {
      const runtime = value();
      if (runtime !== 'node' && runtime !== 'curio') throw new UsageError(`--runtime is node or curio, not ${runtime}`);
      options.runtime = runtime;
    } else if (arg === '--max-message') {
      const bytes = Number(value());
      if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`invalid --max-message ${args[i]}`);
      options.maxMessageBytes = bytes;
    } else throw new UsageError(`unknown option ${arg}`);
  }
  return options;
}

/** Resolves at the first SIGTERM or SIGINT. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

async function serve(serveHttp: ServeHttp, options: Options, wait: (p: Promise<string>) => Promise<string>): Promise<void> {
  const echo: WsEcho = await startWsEcho(serveHttp, { maxMessageBytes: options.maxMessageBytes, http: { listen: { host: options.host, port: options.port } } });
  const address = echo.http.address;
  const where = 'port' in address ? `ws://${address.host}:${address.port}` : address.path;
  const stopped = stopSignal();
  console.log(`ws-echo listening on ${where} (${options.runtime})`);
  const signal = await wait(stopped);
  console.log(`ws-echo stopping (${signal})`);
  await echo.close();
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`ws-echo: ${error.message}\nusage: node dist/main.js [--host H] [--port P] [--runtime node|curio] [--max-message BYTES]`);
    process.exitCode = 2;
    return;
  }
  if (options.runtime === 'node') await serve(serveOnNode, options, (p) => p);
  // The whole server runs inside the kernel; the signal is awaited through awaitPromise.
  else await run(async () => serve(serveOnCurio, options, (p) => awaitPromise(p)));
}

await main();
