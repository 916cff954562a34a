// Socket benchmarks (suite 'io'), each side by side with plain node:net in one run:
//
// 1. Echo throughput, 1 and 50 concurrent clients, 64 B and 4 KiB messages: the kernel echo
//    server (tcpServer + recv/sendall) against a raw node:net echo server
//    (`socket.on('data', d => socket.write(d))`), each in its own child process, both driven by
//    the same raw node:net load generator in this process. Target >= 0.8x.
// 2. The kernel's own client (openConnection + sendall/recv, one task per connection) against
//    a raw node:net client, both against the raw echo server. Informational.
// 3. 10 000 idle connections: RSS and heap growth per connection after GC, kernel sockets (each
//    with a task blocked in recv) against node:net sockets with a 'data' listener, each side in a
//    fresh child process with --expose-gc, connected to a holding server in another process.
//    Lower is better; the ratio is ours/theirs; target <= 1.5x.

import { spawn as spawnChild } from 'node:child_process';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { openConnection, run, spawn } from '@curio-ts/kernel';
import { startPeer as startChild, stopPeer } from './child-peers.js';
import type { Peer } from './child-peers.js';
import { measure, table } from './harness.js';
import type { Row } from './harness.js';

const PEERS = fileURLToPath(new URL('./io-peers.js', import.meta.url));
const HOST = '127.0.0.1';
const IDLE_CONNECTIONS = 10_000;
const IDLE_ROUNDS = 3;

const startPeer = (mode: string): Promise<Peer> => startChild(PEERS, [mode]);

/** `clients` raw node:net connections, each doing `roundTrips` echo round trips of `size` bytes. */
async function rawLoad(port: number, clients: number, roundTrips: number, size: number): Promise<number> {
  const message = Buffer.alloc(size, 0x61);
  const one = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect({ port, host: HOST, noDelay: true });
      let left = roundTrips;
      let pending = size;
      socket.on('connect', () => socket.write(message));
      socket.on('data', (data: Buffer) => {
        pending -= data.length;
        if (pending > 0) return;
        if (--left === 0) {
          socket.destroy();
          resolve();
        } else {
          pending = size;
          socket.write(message);
        }
      });
      socket.on('error', reject);
    });
  const all: Promise<void>[] = [];
  for (let i = 0; i < clients; i++) all.push(one());
  await Promise.all(all);
  return clients * roundTrips;
}

/** The same load from kernel sockets: one task per connection, sendall then recv until echoed. */
async function kernelLoad(port: number, clients: number, roundTrips: number, size: number): Promise<number> {
  const message = Buffer.alloc(size, 0x61);
  return run(async () => {
    const tasks = [];
    for (let i = 0; i < clients; i++) {
      tasks.push(
        spawn(async () => {
          const socket = await openConnection(HOST, port);
          for (let r = 0; r < roundTrips; r++) {
            await socket.sendall(message);
            let got = 0;
            while (got < size) got += (await socket.recv(65536)).length;
          }
          await socket.close();
        }),
      );
    }
    for (const task of tasks) await task.join();
    return clients * roundTrips;
  });
}

/** Round trips per client so that each run is a fraction of a second. */
function roundTripsFor(clients: number, size: number): number {
  const total = size > 1024 ? 40_000 : 60_000;
  return Math.max(100, Math.floor(total / clients));
}

interface IdleUsage {
  rssPerConn: number;
  heapPerConn: number;
}

async function idleOnce(mode: 'idle-raw' | 'idle-kernel' | 'idle-forawait'): Promise<IdleUsage> {
  const holder = await startPeer('hold');
  try {
    const child = spawnChild(process.execPath, ['--expose-gc', PEERS, mode, String(holder.port), String(IDLE_CONNECTIONS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    for await (const chunk of child.stdout as NodeJS.ReadableStream) text += String(chunk);
    const line = text.trim().split('\n').at(-1) ?? '';
    return JSON.parse(line) as IdleUsage;
  } finally {
    // The holding server closes first, so the client side of each connection does not linger
    // in TIME_WAIT and exhaust the ephemeral ports over several rounds.
    await stopPeer(holder);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}

const bytes = (n: number): string => (n >= 1024 ? `${(n / 1024).toFixed(2)} KiB` : `${n.toFixed(0)} B`);

async function idleTable(): Promise<string> {
  const ours: IdleUsage[] = [];
  const theirs: IdleUsage[] = [];
  const asyncReaders: IdleUsage[] = [];
  for (let round = 0; round < IDLE_ROUNDS; round++) {
    ours.push(await idleOnce('idle-kernel'));
    theirs.push(await idleOnce('idle-raw'));
    asyncReaders.push(await idleOnce('idle-forawait'));
  }
  const lines = [
    `| ${IDLE_CONNECTIONS} idle connections, per connection after GC | ours (kernel socket + task in recv) | node:net socket + 'data' listener | ratio (lower is better) | target | |`,
    '|---|---|---|---|---|---|',
  ];
  const keys = [
    ['RSS growth', 'rssPerConn'],
    ['heap growth', 'heapPerConn'],
  ] as const;
  const vsAsync = ', vs idiomatic async Node (an async function per socket in `for await (const chunk of socket)`)';
  for (const [baseline, suffix, target] of [
    [theirs, '', 1.5],
    [asyncReaders, vsAsync, null],
  ] as const) {
    for (const [label, key] of keys) {
      const a = median(ours.map((u) => u[key]));
      const b = median(baseline.map((u) => u[key]));
      const ratio = a / b;
      const verdict = target === null ? 'info | ' : `<= ${target}x | ${ratio <= target ? 'met' : 'MISSED'}`;
      lines.push(`| ${label}${suffix} | ${bytes(a)} | ${bytes(b)} | ${ratio.toFixed(2)}x | ${verdict} |`);
    }
  }
  return lines.join('\n');
}

/** Run the io suite; returns the markdown tables. */
export async function ioSuite(): Promise<string> {
  const rows: Row[] = [];
  const raw = await startPeer('raw-echo');
  const kernel = await startPeer('kernel-echo');
  try {
    for (const clients of [1, 50]) {
      for (const size of [64, 4096]) {
        const trips = roundTripsFor(clients, size);
        const [ours, baseline] = await measure([
          { name: 'kernel server', run: () => rawLoad(kernel.port, clients, trips, size) },
          { name: 'node:net server', run: () => rawLoad(raw.port, clients, trips, size) },
        ]);
        rows.push({ benchmark: `echo server, ${clients} client${clients > 1 ? 's' : ''}, ${size} B round trips`, ours: ours!, baseline: baseline!, target: 0.8 });
      }
    }
    for (const clients of [1, 50]) {
      const size = 64;
      const trips = roundTripsFor(clients, size);
      const [ours, baseline] = await measure([
        { name: 'kernel client', run: () => kernelLoad(raw.port, clients, trips, size) },
        { name: 'node:net client', run: () => rawLoad(raw.port, clients, trips, size) },
      ]);
      rows.push({ benchmark: `echo client, ${clients} connection${clients > 1 ? 's' : ''}, ${size} B round trips`, ours: ours!, baseline: baseline! });
    }
  } finally {
    await stopPeer(raw);
    await stopPeer(kernel);
  }
  const idle = await idleTable();
  return `${table(rows)}\n\n${idle}\n\nServers and idle clients run in child processes (io-peers.ts); the echo load generator is a raw node:net client in the bench process. Both echo servers set TCP_NODELAY.`;
}
