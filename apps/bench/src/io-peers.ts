// Child-process entry points for the io benchmarks (io-bench.ts starts them with node):
//
//   node io-peers.js raw-echo          a plain node:net echo server; prints its port
//   node io-peers.js kernel-echo       the same echo on kernel sockets (tcpServer); prints its port
//   node io-peers.js hold              a node:net server that accepts and holds connections
//   node --expose-gc io-peers.js idle-raw <port> <n>
//   node --expose-gc io-peers.js idle-kernel <port> <n>
//   node --expose-gc io-peers.js idle-forawait <port> <n>
//       open <n> connections to <port> and hold them idle (node:net sockets with a 'data'
//       listener, kernel sockets each with a task blocked in recv, or node:net sockets each read
//       by an async function in `for await`); print one JSON line with the RSS and heap growth
//       after GC, then exit.
//
// Each server runs in its own process so that the load generator in the bench process and the
// server under test each have a CPU, and so that both servers are measured the same way.

import * as net from 'node:net';
import { once } from 'node:events';
import { openConnection, run, spawn, tcpServer } from '@curio-ts/kernel';
import type { Socket } from '@curio-ts/kernel';

function announce(port: number): void {
  process.stdout.write(`port ${port}\n`);
}

function rawEcho(): void {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (data) => socket.write(data));
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, '127.0.0.1', () => announce((server.address() as net.AddressInfo).port));
}

async function kernelEcho(): Promise<void> {
  await run(() =>
    tcpServer(
      '127.0.0.1',
      0,
      async (client: Socket) => {
        for (;;) {
          const data = await client.recv(65536);
          if (data.length === 0) return;
          await client.sendall(data);
        }
      },
      { onListening: (server) => announce(server.port), onClientError: () => {} },
    ),
  );
}

function hold(): void {
  const held: net.Socket[] = [];
  const server = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => socket.destroy());
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => announce((server.address() as net.AddressInfo).port));
}

interface Usage {
  rss: number;
  heap: number;
}

function settle(): Usage {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

function report(before: Usage, after: Usage, n: number): void {
  process.stdout.write(`${JSON.stringify({ rssPerConn: (after.rss - before.rss) / n, heapPerConn: (after.heap - before.heap) / n })}\n`);
}

const BATCH = 100;

/** Idiomatic async Node: an async function per socket, blocked in `for await (const chunk of socket)`. */
async function readAll(socket: net.Socket): Promise<number> {
  let received = 0;
  for await (const chunk of socket) received += (chunk as Buffer).length;
  return received;
}

async function idleRaw(port: number, n: number, forAwait: boolean): Promise<void> {
  const sockets: net.Socket[] = [];
  let received = 0;
  const onData = (data: Buffer): void => {
    received += data.length;
  };
  // Warm up the code paths once, so their compilation is not counted per connection.
  const warm = net.connect({ port, host: '127.0.0.1' });
  await once(warm, 'connect');
  const warmRead = readAll(warm).catch(() => 0);
  warm.destroy();
  await warmRead;
  const before = settle();
  for (let i = 0; i < n; i += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) {
      const socket = net.connect({ port, host: '127.0.0.1' });
      if (forAwait) readAll(socket).catch(() => socket.destroy());
      else {
        socket.on('data', onData);
        socket.on('error', () => socket.destroy());
      }
      sockets.push(socket);
      batch.push(once(socket, 'connect'));
    }
    await Promise.all(batch);
  }
  const after = settle();
  report(before, after, n);
  if (received < 0) console.log(sockets.length);
  process.exit(0);
}

async function idleKernel(port: number, n: number): Promise<void> {
  await run(async () => {
    const warm = await openConnection('127.0.0.1', port);
    const warmTask = spawn(() => warm.recv(100));
    await warm.close();
    await warmTask.wait();
    void warmTask.exception; // the SocketClosedError of the close, expected
    const before = settle();
    for (let i = 0; i < n; i++) {
      const socket = await openConnection('127.0.0.1', port);
      spawn(() => socket.recv(100));
    }
    const after = settle();
    report(before, after, n);
    process.exit(0);
  });
}

const [mode, ...args] = process.argv.slice(2);
switch (mode) {
  case 'raw-echo':
    rawEcho();
    break;
  case 'kernel-echo':
    await kernelEcho();
    break;
  case 'hold':
    hold();
    break;
  case 'idle-raw':
    await idleRaw(Number(args[0]), Number(args[1]), false);
    break;
  case 'idle-forawait':
    await idleRaw(Number(args[0]), Number(args[1]), true);
    break;
  case 'idle-kernel':
    await idleKernel(Number(args[0]), Number(args[1]));
    break;
  default:
    console.error(`unknown mode ${String(mode)}`);
    process.exit(2);
}
