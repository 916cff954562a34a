// HTTP server benchmarks: ours on both runtimes (lean handler and web-standard handler) against
// node:http, Hono on @hono/node-server, and a raw node:net responder (the limit), all in this
// process, loaded in turn by wrk (keep-alive hello, 50 connections; 16 requests pipelined per
// connection), medians of interleaved rounds.

import { spawn as spawnChild, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveHttp as serveNode } from '@curio-ts/backend-node';
import { serveHttp as serveCurio } from '@curio-ts/backend-curio';
import { fetchHandler } from '@curio-ts/client';
import type { HttpHandler, HttpServer } from '@curio-ts/client';
import { awaitPromise, run } from '@curio-ts/kernel';
import { serve as honoServe } from '@hono/node-server';
import { Hono } from 'hono';
import { startPeer, stopPeer } from './child-peers.js';
import type { Peer } from './child-peers.js';
import { table } from './harness.js';
import type { Row } from './harness.js';

export const SECONDS = Number(process.env['HTTP_BENCH_SECONDS'] ?? 3);
export const ROUNDS = Number(process.env['HTTP_BENCH_ROUNDS'] ?? 3);

/** A server under test: started once, loaded by wrk in turn with the others. */
export interface Contender {
  readonly name: string;
  port: number;
  start(): Promise<number>;
  stop(): Promise<void>;
}

const PEERS = fileURLToPath(new URL('./http-peers.js', import.meta.url));
const WEB_OWN = 'curio-ts (node), web-standard handler, own process';
const WEB_FAST = 'curio-ts (node), web-standard handler, our fast Response, own process';

export const hello: HttpHandler = () => ({ headers: [['Content-Type', 'text/plain']], body: 'hello' });
const helloWeb = fetchHandler(() => new Response('hello', { headers: { 'content-type': 'text/plain' } }));

export function ours(name: string, handler: HttpHandler): Contender {
  let server: HttpServer | null = null;
  return {
    name,
    port: 0,
    async start() {
      server = await serveNode(handler, { listen: { host: '127.0.0.1', port: 0 } });
      return (server.address as { port: number }).port;
    },
    async stop() {
      await server?.closeNow();
    },
  };
}

/** Ours on the curio runtime: a kernel that lives for the whole bench, serving from a task. */
export function oursCurio(name: string, handler: HttpHandler): Contender {
  let stop: () => void = () => {};
  let finished: Promise<unknown> = Promise.resolve();
  return {
    name,
    port: 0,
    async start() {
      let ready: (port: number) => void = () => {};
      const port = new Promise<number>((resolve) => (ready = resolve));
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      finished = run(async () => {
        const server = await serveCurio(handler, { listen: { host: '127.0.0.1', port: 0 } });
        ready((server.address as { port: number }).port);
        // awaitPromise, not a raw await: a task parked in a raw foreign await slows every trap.
        await awaitPromise(stopped);
        await server.closeNow();
      });
      return port;
    },
    async stop() {
      stop();
      await finished;
    },
  };
}

/** node:http answering hello; `before` (if given) is awaited first in each request. */
export function nodeHttp(name = 'node:http', before?: () => Promise<unknown>): Contender {
  let server: http.Server | null = null;
  const respond = (res: http.ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
    res.end('hello');
  };
  return {
    name,
    port: 0,
    start() {
      server = http.createServer((_req, res) => {
        if (before === undefined) respond(res);
        else before().then(() => respond(res), () => res.destroy());
      });
      return listenOn(server);
    },
    stop: () => closeServer(server),
  };
}

/** A server of http-peers.ts `kind` in a child process of its own. */
function childServer(name: string, kind: string): Contender {
  let peer: Peer | null = null;
  return {
    name,
    port: 0,
    async start() {
      peer = await startPeer(PEERS, ['serve', kind], ['--expose-gc']);
      return peer.port;
    },
    stop: async () => {
      if (peer !== null) await stopPeer(peer);
    },
  };
}

function honoNodeServer(): Contender {
  let server: http.Server | null = null;
  return {
    name: 'Hono on @hono/node-server',
    port: 0,
    start() {
      const app = new Hono();
      app.get('/', (c) => c.text('hello'));
      return new Promise((resolve) => {
        server = honoServe({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => resolve(info.port)) as http.Server;
      });
    },
    stop: () => closeServer(server),
  };
}

/** The limit: a node:net server answering every request head it sees with a fixed response. */
function rawNet(): Contender {
  let server: net.Server | null = null;
  const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
  return {
    name: 'raw node:net',
    port: 0,
    start() {
      server = net.createServer((socket) => {
        socket.setNoDelay(true);
        let tail = 0; // bytes of "\r\n\r\n" matched so far, across chunks
        socket.on('data', (chunk: Buffer) => {
          let count = 0;
          for (let i = 0; i < chunk.length; i++) {
            const b = chunk[i];
            if (b === (tail % 2 === 0 ? 13 : 10)) tail++;
            else tail = b === 13 ? 1 : 0;
            if (tail === 4) {
              count++;
              tail = 0;
            }
          }
          if (count === 1) socket.write(response);
          else if (count > 1) socket.write(Buffer.concat(Array.from({ length: count }, () => response)));
        });
        socket.on('error', () => {});
      });
      return listenOn(server);
    },
    stop: () => closeServer(server),
  };
}

function listenOn(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function closeServer(server: net.Server | null): Promise<void> {
  return new Promise((resolve) => {
    if (server === null) return resolve();
    (server as http.Server).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/**
 * Pinning, as the issue asks (2 cores: load generator and server each pinned): with taskset
 * and at least 2 CPUs, this process and every thread of it, and the server processes it starts
 * afterwards, run on CPU 0 and wrk on CPU 1, so that neither takes the other's core. Returns
 * whether it pinned; `unpinServers()` gives this process every CPU again.
 */
export function pinServers(): boolean {
  if (os.cpus().length < 2) return false;
  pinned = spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)]).status === 0;
  return pinned;
}

export function unpinServers(): void {
  if (!pinned) return;
  spawnSync('taskset', ['-a', '-p', '-c', `0-${os.cpus().length - 1}`, String(process.pid)]);
  pinned = false;
}

let pinned = false;

/** How the suites' tables say where things ran. */
export function pinningNote(): string {
  return pinned ? 'Servers pinned to CPU 0, wrk to CPU 1 (taskset).' : 'Not pinned (no taskset, or fewer than 2 CPUs).';
}

/** wrk's requests/s against `port` (async: the servers live in this process). */
function wrk(port: number, connections: number, script: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${connections}`, `-d${SECONDS}s`, '--latency'];
    if (script !== null) args.push('-s', script);
    args.push(`http://127.0.0.1:${port}/`);
    const child = pinned ? spawnChild('taskset', ['-c', '1', 'wrk', ...args]) : spawnChild('wrk', args);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const match = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
      if (match === null) reject(new Error(`wrk printed no rate:\n${out}`));
      else if (errors !== null && errors[1] !== undefined) reject(new Error(`wrk saw errors:\n${out}`));
      else resolve(Number(match[1]));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}

/** wrk against each contender in turn: a warm-up, then ROUNDS interleaved rounds; median requests/s by name. */
export async function load(contenders: Contender[], connections: number, script: string | null): Promise<Map<string, number>> {
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (const c of contenders) await wrk(c.port, connections, script); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of contenders) samples.get(c.name)?.push(await wrk(c.port, connections, script));
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]));
}

/** Null when wrk is installed; otherwise the message the suite returns instead of a table. */
export function wrkMissing(suite: string): string | null {
  if (spawnSync('wrk', ['--version']).error === undefined) return null;
  const message = `Not run: this suite needs wrk. Install it (\`apt-get install wrk\` on Debian/Ubuntu, \`brew install wrk\` on macOS) and run \`npm run bench -- ${suite}\`.`;
  console.error(message);
  return message;
}

/** Run the HTTP server suite; returns the markdown table. */
export async function httpSuite(): Promise<string> {
  const missing = wrkMissing('http');
  if (missing !== null) return missing;
  pinServers();
  const dir = mkdtempSync(join(tmpdir(), 'http-bench-'));
  const pipelineScript = join(dir, 'pipeline.lua');
  // 16 requests per write (wrk's own pipelining recipe).
  writeFileSync(pipelineScript, 'init = function(args)\n  local r = {}\n  for i = 1, 16 do r[i] = wrk.format(nil, "/") end\n  req = table.concat(r)\nend\nrequest = function()\n  return req\nend\n');
  const contenders = [
    ours('curio-ts (node)', hello),
    oursCurio('curio-ts (curio)', hello),
    ours('curio-ts (node), web-standard handler', helloWeb),
    childServer(WEB_OWN, 'ours-web-node'),
    childServer(WEB_FAST, 'ours-web-node-fast'),
    nodeHttp(),
    honoNodeServer(),
    rawNet(),
  ];
  try {
    for (const c of contenders) c.port = await c.start();
    const keepAlive = await load(contenders, 50, null);
    const pipelined = await load(contenders, 50, pipelineScript);
    const at = (m: Map<string, number>, name: string): number => m.get(name) ?? 0;
    const row = (m: Map<string, number>, benchmark: string, a: string, b: string, target?: number): Row => ({
      benchmark,
      ours: { name: a, opsPerSec: at(m, a), samples: [] },
      baseline: { name: b, opsPerSec: at(m, b), samples: [] },
      ...(target === undefined ? {} : { target }),
    });
    const rows: Row[] = [
      row(keepAlive, 'keep-alive hello, wrk -c50: node runtime vs node:http', 'curio-ts (node)', 'node:http', 1.7),
      row(keepAlive, 'keep-alive hello, wrk -c50: curio runtime vs node:http', 'curio-ts (curio)', 'node:http', 1.5),
      row(keepAlive, 'keep-alive hello, wrk -c50: web-standard handler (node), our fast Response, own process, vs node:http', WEB_FAST, 'node:http', 1.3),
      row(keepAlive, "keep-alive hello, wrk -c50: web-standard handler (node), the platform's Response, own process, vs node:http", WEB_OWN, 'node:http'),
      row(keepAlive, "keep-alive hello, wrk -c50: web-standard handler (node) with @hono/node-server's Response loaded, vs node:http", 'curio-ts (node), web-standard handler', 'node:http'),
      row(keepAlive, 'keep-alive hello, wrk -c50: web-standard handler (node) vs Hono on @hono/node-server (both with its Response)', 'curio-ts (node), web-standard handler', 'Hono on @hono/node-server', 1.0),
      row(keepAlive, 'keep-alive hello, wrk -c50: node runtime vs raw node:net', 'curio-ts (node)', 'raw node:net'),
      row(pipelined, '16 pipelined, wrk -c50: node runtime vs node:http', 'curio-ts (node)', 'node:http', 8),
      row(pipelined, '16 pipelined, wrk -c50: curio runtime vs node:http', 'curio-ts (curio)', 'node:http'),
      row(pipelined, '16 pipelined, wrk -c50: node runtime vs raw node:net', 'curio-ts (node)', 'raw node:net'),
    ];
    return (
      `wrk -t1, ${SECONDS} s per run, medians of ${ROUNDS} interleaved rounds after a warm-up. ${pinningNote()} Servers in the bench process, except "${WEB_OWN}" and "${WEB_FAST}" (child processes). ` +
      "Importing @hono/node-server replaces globalThis.Response with its lightweight one, which the web-standard handler in the bench process then uses too; " +
      `the two child rows make the platform's Response (informational) and our FastResponse (installFastResponse(), the row with the target).\n\n${table(rows)}`
    );
  } finally {
    for (const c of contenders) await c.stop();
    rmSync(dir, { recursive: true, force: true });
    unpinServers();
  }
}
