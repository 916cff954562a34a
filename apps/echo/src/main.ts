// Beazley's echo server (the Curio talk) on the curio-ts kernel, with a UDP twin and a client.
//
//   node dist/main.js tcp-server [--host 127.0.0.1] [--port 25000]
//   node dist/main.js udp-server [--host 127.0.0.1] [--port 25000]
//   node dist/main.js client [--host 127.0.0.1] [--port 25000] [--udp] [message ...]
//
// Servers listen on the loopback interface unless told otherwise, print one line
// `echo server listening on HOST:PORT (tcp|udp)` once ready (so `--port 0` can be used), log
// each connection, and stop cleanly on SIGINT / SIGTERM: the server task is cancelled, which
// cancels every client task and closes every socket. The client sends each message (or each
// line of stdin) and prints what comes back.

import { createInterface } from 'node:readline';
import {
  TaskTimeout,
  awaitPromise,
  openConnection,
  run,
  spawn,
  tcpServer,
  timeoutAfter,
  udpSocket,
} from '@curio-ts/kernel';
import type { Socket, SocketAddress, Task } from '@curio-ts/kernel';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 25000;
/** How long the UDP client waits for each reply (UDP may lose datagrams). */
const UDP_REPLY_MS = 2000;

interface Options {
  host: string;
  port: number;
  udp: boolean;
  messages: string[];
}

function parseOptions(args: string[]): Options {
  const options: Options = { host: DEFAULT_HOST, port: DEFAULT_PORT, udp: false, messages: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--host') options.host = requireValue(args, ++i, arg);
    else if (arg === '--port') options.port = parsePort(requireValue(args, ++i, arg));
    else if (arg === '--udp') options.udp = true;
    else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    else options.messages.push(arg);
  }
  return options;
}

function requireValue(args: string[], index: number, name: string): string {
  const value = args[index];
  if (value === undefined) throw new UsageError(`${name} needs a value`);
  return value;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port ${text}`);
  return port;
}

class UsageError extends Error {}

function show(address: SocketAddress): string {
  return address.family === 'unix' ? address.path : `${address.address}:${address.port}`;
}

/** One client of the TCP server: echo until it closes (Beazley's echo_client). */
async function echoClient(client: Socket, address: SocketAddress): Promise<void> {
  console.log(`connection from ${show(address)}`);
  try {
    for (;;) {
      const data = await client.recv(100_000);
      if (data.length === 0) break;
      await client.sendall(data);
    }
  } finally {
    console.log(`connection closed ${show(address)}`);
  }
}

async function tcpEchoServer(options: Options): Promise<never> {
  return tcpServer(options.host, options.port, echoClient, {
    onListening: (server) => console.log(`echo server listening on ${show(server.address)} (tcp)`),
    onClientError: (error, address) => console.error(`client ${show(address)} failed:`, error),
  });
}

async function udpEchoServer(options: Options): Promise<never> {
  const sock = await udpSocket({ bind: { host: options.host, port: options.port } });
  try {
    console.log(`echo server listening on ${sock.address.address}:${sock.address.port} (udp)`);
    for (;;) {
      const { data, address, port } = await sock.recvfrom(65536);
      await sock.sendto(data, address, port);
    }
  } finally {
    await sock.close();
  }
}

/** Messages from the command line, or else the lines of stdin as they come. */
async function* messages(options: Options): AsyncGenerator<string> {
  if (options.messages.length > 0) {
    yield* options.messages;
    return;
  }
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  for (;;) {
    const next = await awaitPromise(lines.next());
    if (next.done === true) return;
    yield next.value;
  }
}

async function tcpClient(options: Options): Promise<void> {
  const sock = await openConnection(options.host, options.port);
  try {
    for await (const message of messages(options)) {
      const bytes = Buffer.from(message);
      await sock.sendall(bytes);
      const parts: Uint8Array[] = [];
      let received = 0;
      while (received < bytes.length) {
        const data = await sock.recv(65536);
        if (data.length === 0) throw new Error('the server closed the connection');
        parts.push(data);
        received += data.length;
      }
      console.log(Buffer.concat(parts).toString());
    }
  } finally {
    await sock.close();
  }
}

async function udpClient(options: Options): Promise<void> {
  // Loopback servers get a loopback client socket; others one bound to every interface.
  const sock = await udpSocket(options.host === DEFAULT_HOST ? { bind: { host: DEFAULT_HOST } } : {});
  try {
    for await (const message of messages(options)) {
      await sock.sendto(Buffer.from(message), options.host, options.port);
      try {
        const reply = await timeoutAfter(UDP_REPLY_MS, () => sock.recvfrom(65536));
        console.log(Buffer.from(reply.data).toString());
      } catch (error) {
        if (!(error instanceof TaskTimeout)) throw error;
        console.log(`(no reply within ${UDP_REPLY_MS} ms)`);
      }
    }
  } finally {
    await sock.close();
  }
}

/** Run a server until SIGINT or SIGTERM cancels it. */
async function serveUntilSignalled(server: () => Promise<never>): Promise<void> {
  const task: Task = spawn(server, { name: 'echo-server' });
  const stop = (): void => {
    void task.cancel({ blocking: false });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await task.wait();
    if (!task.cancelled) void task.result; // a failure (address in use...) propagates
    console.log('echo server stopped');
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

const usage = `usage: main.js tcp-server|udp-server [--host HOST] [--port PORT]
       main.js client [--host HOST] [--port PORT] [--udp] [message ...]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let options: Options;
  try {
    options = parseOptions(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${usage}`);
    return 2;
  }
  switch (command) {
    case 'tcp-server':
      await run(() => serveUntilSignalled(() => tcpEchoServer(options)));
      return 0;
    case 'udp-server':
      await run(() => serveUntilSignalled(() => udpEchoServer(options)));
      return 0;
    case 'client':
      await run(() => (options.udp ? udpClient(options) : tcpClient(options)));
      return 0;
    default:
      console.error(usage);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? `error: ${error.message}` : error);
  process.exitCode = 1;
}
