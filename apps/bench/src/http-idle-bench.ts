// Idle keep-alive connections held by an HTTP server (suite 'http-idle'): a server holds N idle
// connections (default 10 000, HTTP_IDLE_CONNECTIONS), each of which sent one GET and read its
// response; the server's memory per connection after GC, for ours on the node and curio
// runtimes, node:http, and the floor: a node:net server holding its sockets (a 'data' listener
// answering each chunk with a fixed response). Lower is better; target ours <= 1.5x the floor.
//
// Every server runs in a fresh child process with --expose-gc (http-peers.ts), the clients in
// another one: the server is warmed by a few requests on one connection, measured, loaded
// with the idle connections, measured again. Heap is heapUsed + external (Node counts
// arrayBuffers inside external, so it is not added again; wasm memory is an ArrayBuffer too).

import { execSync } from 'node:child_process';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { nextLine, spawnPeer, startPeer, stopPeer } from './child-peers.js';
import type { Peer } from './child-peers.js';
import { median } from './harness.js';

const PEERS = fileURLToPath(new URL('./http-peers.js', import.meta.url));
const HOST = '127.0.0.1';
const REQUESTED = Number(process.env['HTTP_IDLE_CONNECTIONS'] ?? 10_000);
/**
 * Each side needs a descriptor per connection. Node raises its soft limit to the hard limit
 * when it starts, so the hard limit (less room for everything else) is what bounds the count.
 */
const HARD_LIMIT = ((): number => {
  const text = execSync('ulimit -Hn', { shell: '/bin/sh' }).toString().trim();
  return text === 'unlimited' ? Infinity : Number(text);
})();
const CONNECTIONS = Math.min(REQUESTED, HARD_LIMIT - 512);
const ROUNDS = Number(process.env['HTTP_IDLE_ROUNDS'] ?? 1);

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  connections: number;
}

/** Growth per connection. */
interface PerConnection {
  readonly rss: number;
  readonly heap: number;
  readonly arrayBuffers: number;
}

const KINDS = [
  { kind: 'ours-node', name: 'curio-ts (node)' },
  { kind: 'ours-curio', name: 'curio-ts (curio)' },
  { kind: 'node-http', name: 'node:http' },
  { kind: 'net', name: 'node:net holding sockets' },
] as const;

async function measureMemory(server: Peer): Promise<Memory> {
  const reply = nextLine(server.child, 'mem ');
  server.child.stdin?.write('measure\n');
  return JSON.parse(await reply) as Memory;
}

/** A few sequential keep-alive requests on one connection, so that compiling the server's paths is not counted per connection. */
async function warm(port: number): Promise<void> {
  const socket = net.connect({ port, host: HOST });
  for (let i = 0; i < 20; i++) {
    const response = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
    await response;
  }
  socket.destroy();
  await sleep(200);
}

async function idleOnce(kind: string): Promise<PerConnection> {
  const server = await startPeer(PEERS, ['serve', kind], ['--expose-gc']);
  let clients: Peer | null = null;
  try {
    await warm(server.port);
    const before = await measureMemory(server);
    clients = spawnPeer(PEERS, ['idle-clients', String(server.port), String(CONNECTIONS)]);
    const ready = Number(await nextLine(clients.child, 'ready '));
    if (ready !== CONNECTIONS) throw new Error(`only ${ready} of ${CONNECTIONS} idle connections opened`);
    await sleep(300); // let the server settle into idle reads
    const after = await measureMemory(server);
    if (after.connections < CONNECTIONS) throw new Error(`${kind} holds ${after.connections} connections, expected ${CONNECTIONS}`);
    return {
      rss: (after.rss - before.rss) / CONNECTIONS,
      heap: (after.heapUsed + after.external - before.heapUsed - before.external) / CONNECTIONS,
      arrayBuffers: (after.arrayBuffers - before.arrayBuffers) / CONNECTIONS,
    };
  } finally {
    // The server closes first, so the clients' ends do not linger in TIME_WAIT holding
    // ephemeral ports for the next round.
    await stopPeer(server);
    if (clients !== null) await stopPeer(clients);
  }
}

const bytes = (n: number): string => (Math.abs(n) >= 1024 ? `${(n / 1024).toFixed(2)} KiB` : `${n.toFixed(0)} B`);

/** Run the idle-connections suite; returns the markdown table. */
export async function httpIdleSuite(): Promise<string> {
  const samples = new Map<string, PerConnection[]>(KINDS.map((k) => [k.kind, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const { kind } of KINDS) samples.get(kind)?.push(await idleOnce(kind));
  }
  const of = (kind: string, key: keyof PerConnection): number => median((samples.get(kind) ?? []).map((s) => s[key]));
  const lines = [
    `| ${CONNECTIONS} idle keep-alive connections, server memory per connection after GC | ours | baseline | ratio (lower is better) | target | |`,
    '|---|---|---|---|---|---|',
  ];
  const floor = 'net';
  for (const [label, key] of [
    ['heapUsed + external growth', 'heap'],
    ['RSS growth', 'rss'],
  ] as const) {
    for (const [ours, baseline, target] of [
      ['ours-node', floor, 1.5],
      ['ours-curio', floor, 1.5],
      ['node-http', floor, null],
      ['ours-node', 'node-http', null],
    ] as const) {
      const a = of(ours, key);
      const b = of(baseline, key);
      const ratio = a / b;
      const verdict = target === null ? 'info | ' : `<= ${target}x | ${ratio <= target ? 'met' : 'MISSED'}`;
      const name = (kind: string): string => KINDS.find((k) => k.kind === kind)?.name ?? kind;
      lines.push(`| ${label}: ${name(ours)} vs ${name(baseline)} | ${bytes(a)} | ${bytes(b)} | ${ratio.toFixed(2)}x | ${verdict} |`);
    }
  }
  const buffers = KINDS.map(({ kind, name }) => `${name} ${bytes(of(kind, 'arrayBuffers'))}`).join(', ');
  return (
    `${lines.join('\n')}\n\nEach server in a fresh child process (--expose-gc), the clients in another; ` +
    (CONNECTIONS < REQUESTED ? `scaled down from ${REQUESTED} connections to the descriptor limit (ulimit -Hn ${HARD_LIMIT}); ` : '') +
    `median of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}. Heap is heapUsed + external (arrayBuffers, counted inside external, per connection: ${buffers}).`
  );
}
