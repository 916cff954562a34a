// http-echo: the HTTP server anyone can try, on the node or the curio runtime.
//
//   node dist/main.js [--host 127.0.0.1] [--port 8080] [--runtime node|curio]
//
//   GET  /            → hello
//   POST /echo        → the request body streamed back (same Content-Type)
//   GET  /stream?n=N  → N chunks of a chunked response
//
// Prints one line `http-echo listening on http://HOST:PORT (RUNTIME)` once ready (so `--port 0`
// works), and stops cleanly on SIGTERM / SIGINT: it stops accepting, lets requests in flight
// end, and exits 0.

import { serveHttp as serveOnNode } from '@curio-ts/backend-node';
import { serveHttp as serveOnCurio } from '@curio-ts/backend-curio';
import type { HttpHandler, HttpServer, HttpServerOptions } from '@curio-ts/client';
import { awaitPromise, run } from '@curio-ts/kernel';

/** The routes. */
export const handler: HttpHandler = (request) => {
  if (request.path === '/' && request.method === 'GET') return { headers: [['Content-Type', 'text/plain']], body: 'hello' };
  if (request.path === '/echo' && request.method === 'POST') {
    return { headers: [['Content-Type', request.headers.get('content-type') ?? 'application/octet-stream']], body: request.body };
  }
  if (request.path === '/stream' && request.method === 'GET') {
    const n = Math.min(Number(new URLSearchParams(request.query).get('n') ?? '10') || 0, 1_000_000);
    return {
      headers: [['Content-Type', 'text/plain']],
      body: (async function* () {
        for (let i = 0; i < n; i++) yield `chunk ${i}\n`;
      })(),
    };
  }
  return { status: 404, headers: [['Content-Type', 'text/plain']], body: 'not found\n' };
};

interface Options {
  host: string;
  port: number;
  runtime: 'node' | 'curio';
}

class UsageError extends Error {}

function parseOptions(args: string[]): Options {
  const options: Options = { host: '127.0.0.1', port: 8080, runtime: 'node' };
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

async function serve(server: HttpServer, options: Options, wait: (p: Promise<string>) => Promise<string>): Promise<void> {
  const address = server.address;
  const where = 'port' in address ? `http://${address.host}:${address.port}` : address.path;
  const stopped = stopSignal();
  console.log(`http-echo listening on ${where} (${options.runtime})`);
  const signal = await wait(stopped);
  console.log(`http-echo stopping (${signal})`);
  await server.close();
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`http-echo: ${error.message}\nusage: node dist/main.js [--host H] [--port P] [--runtime node|curio]`);
    process.exitCode = 2;
    return;
  }
  const serverOptions: HttpServerOptions = { listen: { host: options.host, port: options.port } };
  if (options.runtime === 'node') {
    await serve(await serveOnNode(handler, serverOptions), options, (p) => p);
  } else {
    // The whole server runs inside the kernel; the signal is awaited through awaitPromise.
    await run(async () => serve(await serveOnCurio(handler, serverOptions), options, (p) => awaitPromise(p)));
  }
}

await main();
