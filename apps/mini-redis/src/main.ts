// mini-redis from the command line:
//
//   node apps/mini-redis/dist/main.js [--host 127.0.0.1] [--port 6379]
//
// Listens on the loopback interface unless told otherwise, prints one line
// `mini-redis listening on HOST:PORT` once ready (so `--port 0` can be used), and stops
// cleanly on SIGINT / SIGTERM: the server task is cancelled, which closes every connection.

import { run, SignalEvent, TaskGroup } from '@curio-ts/kernel';
import { DEFAULT_HOST, DEFAULT_PORT, serveMiniRedis } from '@curio-ts/mini-redis';

class UsageError extends Error {}

interface Options {
  host: string;
  port: number;
}

const usage = 'usage: main.js [--host HOST] [--port PORT]';

function parseOptions(args: readonly string[]): Options {
  const options: Options = { host: DEFAULT_HOST, port: DEFAULT_PORT };
  for (let i = 0; i < args.length; i++) {
    const name = args[i] as string;
    const value = args[i + 1];
    if (name === '--host' || name === '--bind') {
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      options.host = value;
      i++;
    } else if (name === '--port') {
      const port = Number(value);
      if (value === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port ${String(value)}`);
      options.port = port;
      i++;
    } else if (name === '--help' || name === '-h') {
      throw new UsageError('');
    } else {
      throw new UsageError(`unknown option ${name}`);
    }
  }
  return options;
}

/** Serve until SIGINT or SIGTERM; a server failure (address in use...) is thrown. */
async function serveUntilSignalled(options: Options): Promise<void> {
  const stop = new SignalEvent('SIGINT', 'SIGTERM');
  try {
    // Whichever task ends first ends the other: a signal stops the server, and a server that
    // fails stops waiting for signals.
    const tasks = new TaskGroup({ wait: 'any' });
    tasks.spawn(() => serveMiniRedis({ ...options, onListening: (port) => console.log(`mini-redis listening on ${options.host}:${port}`) }), {
      name: 'mini-redis',
    });
    tasks.spawn(() => stop.wait(), { name: 'mini-redis signals' });
    await tasks.join();
    void tasks.result; // the server's error, if it ended first
    console.log(`mini-redis stopped (${stop.signal ?? 'no signal'})`);
  } finally {
    stop.close();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message === '' ? usage : `${error.message}\n${usage}`);
    return 2;
  }
  await run(() => serveUntilSignalled(options));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? `error: ${error.message}` : error);
    process.exitCode = 1;
  },
);
