// The hybrid from the Curio talk: 10 000 connected client tasks talking to a pool of async
// threads through UniversalQueues.
//
//   node dist/main.js [--clients 10000] [--threads 8] [--rounds 20] [--wait-ms 0.5]
//
// The server (this process) runs a kernel TCP server on 127.0.0.1 and a pool of async threads
// doing blocking work (SHA-256 rounds, then a blocking sleep standing in for a database call).
// The clients run in a child process (its own kernel, its own file descriptors: one process
// could not hold both ends of 10 000 connections under a 20 000 descriptor limit): every client
// connects first, then all send one request at once and check the answer. The server prints
// the connection and request throughput and proves every client got its correct answer; it
// exits with status 1 if any did not.

import { fileURLToPath } from 'node:url';
import { run, subprocess } from '@curio-ts/kernel';
import { HybridServer, runClients } from './hybrid.js';
import type { ClientReport } from './hybrid.js';
import type { Work } from './server-thread.js';

interface Options {
  role: 'server' | 'clients';
  clients: number;
  threads: number;
  rounds: number;
  waitMs: number;
  port: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = { role: 'server', clients: 10_000, threads: 8, rounds: 20, waitMs: 0.5, port: 0 };
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i];
    const value = args[i + 1];
    if (value === undefined) throw new Error(`missing value after ${String(name)}`);
    const number = Number(value);
    switch (name) {
      case '--role':
        if (value !== 'server' && value !== 'clients') throw new Error(`--role must be server or clients`);
        options.role = value;
        break;
      case '--clients':
        options.clients = number;
        break;
      case '--threads':
        options.threads = number;
        break;
      case '--rounds':
        options.rounds = number;
        break;
      case '--wait-ms':
        options.waitMs = number;
        break;
      case '--port':
        options.port = number;
        break;
      default:
        throw new Error(`unknown option ${String(name)}`);
    }
  }
  for (const key of ['clients', 'threads', 'rounds'] as const) {
    if (!Number.isInteger(options[key]) || options[key] < 1) throw new Error(`--${key} must be a positive integer`);
  }
  if (!(options.waitMs >= 0)) throw new Error('--wait-ms must be >= 0');
  return options;
}

async function serverMain(options: Options): Promise<boolean> {
  const work: Work = { rounds: options.rounds, waitMs: options.waitMs };
  const server = await HybridServer.start({ threads: options.threads, work });
  console.log(`server: 127.0.0.1:${server.port}, ${options.threads} async threads (${work.rounds} SHA-256 rounds + ${work.waitMs} ms blocking wait per request)`);
  const output = await subprocess.checkOutput(
    [
      process.execPath,
      fileURLToPath(import.meta.url),
      '--role', 'clients',
      '--port', String(server.port),
      '--clients', String(options.clients),
      '--rounds', String(options.rounds),
      '--wait-ms', String(options.waitMs),
    ],
    { encoding: 'utf8' },
  );
  const report = JSON.parse(output) as ClientReport;
  const served = await server.stop();
  const totalServed = served.reduce((a, b) => a + b, 0);
  const seconds = report.requestMs / 1000;
  console.log(`clients: ${report.connected} connections held at once (connected in ${report.connectMs.toFixed(0)} ms; server accepted ${server.accepted})`);
  console.log(
    `requests: ${report.answered} answered in ${report.requestMs.toFixed(0)} ms: ` +
      `${(report.answered / seconds).toFixed(0)} requests/s through the async threads`,
  );
  console.log(`threads served: ${served.join(' + ')} = ${totalServed}`);
  const ok =
    report.connected === options.clients &&
    report.answered === options.clients &&
    report.correct === options.clients &&
    totalServed === options.clients;
  console.log(
    ok
      ? `all ${options.clients} clients got their own correct answer`
      : `FAILED: ${report.correct} correct answers of ${options.clients} (answered ${report.answered}, served ${totalServed})`,
  );
  return ok;
}

const options = parseOptions(process.argv.slice(2));
if (options.role === 'clients') {
  const report = await run(() => runClients(options.port, options.clients, { rounds: options.rounds, waitMs: options.waitMs }));
  console.log(JSON.stringify(report));
} else {
  const started = performance.now();
  const ok = await run(() => serverMain(options));
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (!ok) process.exitCode = 1;
}
