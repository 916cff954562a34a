// HTTP client benchmarks (suite 'http-client'): N sequential keep-alive GETs (default 5 000,
// HTTP_CLIENT_N; the figure is 20 000), each awaited with its body read, against one
// node:http hello server in a child process (http-peers.ts), by:
//
// - undici's `request` (its global Agent: keep-alive);
// - node:http with a keep-alive Agent (one socket);
// - Node's global fetch (the undici bundled with Node);
// - the floor: a raw node:net socket writing a fixed GET and parsing the response with
//   proto-http's WireParser.
//
// Pipelined: bursts of 100 GETs at once (Promise.all, each body read), on 10 connections with up
// to 10 requests in flight on each: ours (HttpAgent { pipelining: 10, maxConnectionsPerOrigin:
// 10 }) against undici's Pool ({ pipelining: 10, connections: 10 }).
//
// Interleaved rounds in this process (harness.measure). Adding a client is one entry of
// CLIENTS; entries marked `ours` get rows against undici (target >= 1.5x) and the floor; our
// fetch gets a row against Node's global fetch (target >= 2x).

import * as http from 'node:http';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pool, request as undiciRequest } from 'undici';
import { HEAD_CONTINUE, RESPONSE, WireParser } from '@curio-ts/proto-http';
import { HttpAgent, makeFetch } from '@curio-ts/client';
import { nodeRuntime } from '@curio-ts/backend-node';
import { curioRuntime } from '@curio-ts/backend-curio';
import { run } from '@curio-ts/kernel';
import { startPeer, stopPeer } from './child-peers.js';
import { byName, measure, table } from './harness.js';
import type { Measurement, Row } from './harness.js';

export const PEERS = fileURLToPath(new URL('./http-peers.js', import.meta.url));
const N = Number(process.env['HTTP_CLIENT_N'] ?? 5_000);

/** An opened client: `sequential(n)` does n GETs one after the other, each awaited with its body. */
export interface Opened {
  readonly sequential: (n: number) => Promise<void>;
  readonly close: () => Promise<void>;
}

/** One client under test. */
export interface Client {
  readonly name: string;
  /** Ours (rows against undici with the target, and against the floor). */
  readonly ours?: boolean;
  readonly open: (url: string) => Promise<Opened>;
}

/** `sequential` from one GET (for clients used from plain async code). */
const loop =
  (get: () => Promise<void>) =>
  async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await get();
  };

export const UNDICI = 'undici request 7.30.1';
export const OURS_NODE = 'curio-ts request (node runtime)';
export const OURS_CURIO = 'curio-ts request (curio runtime, the loop in one kernel task)';
export const OURS_FETCH = 'curio-ts fetch (node runtime)';
export const GLOBAL_FETCH = 'global fetch';
export const FLOOR = 'raw node:net + WireParser (floor)';

export const CLIENTS: Client[] = [
  {
    name: OURS_NODE,
    ours: true,
    open: async (url) => {
      const agent = new HttpAgent(nodeRuntime);
      return { sequential: loop(async () => void (await (await agent.request(url)).body.text())), close: () => agent.close() };
    },
  },
  {
    name: OURS_CURIO,
    ours: true,
    open: async (url) => ({
      sequential: (n) =>
        run(async () => {
          const agent = new HttpAgent(curioRuntime());
          try {
            for (let i = 0; i < n; i++) await (await agent.request(url)).body.text();
          } finally {
            await agent.close();
          }
        }),
      close: async () => {},
    }),
  },
  {
    name: OURS_FETCH,
    open: async (url) => {
      const agent = new HttpAgent(nodeRuntime);
      const ourFetch = makeFetch(nodeRuntime, { agent });
      return { sequential: loop(async () => void (await (await ourFetch(url)).text())), close: () => agent.close() };
    },
  },
  {
    name: UNDICI,
    open: async (url) => ({
      sequential: loop(async () => {
        const response = await undiciRequest(url);
        await response.body.text();
      }),
      close: async () => {},
    }),
  },
  {
    name: 'node:http, keep-alive Agent',
    open: async (url) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      return {
        sequential: loop(
          () =>
            new Promise<void>((resolve, reject) => {
              http
                .get(url, { agent }, (response) => {
                  response.on('data', () => {});
                  response.on('end', resolve);
                  response.on('error', reject);
                })
                .on('error', reject);
            }),
        ),
        close: async () => agent.destroy(),
      };
    },
  },
  {
    name: GLOBAL_FETCH,
    open: async (url) => ({
      sequential: loop(async () => {
        await (await fetch(url)).text();
      }),
      close: async () => {},
    }),
  },
  { name: FLOOR, open: rawClient },
];

/** The floor: one socket, a fixed GET written per call, the response parsed by WireParser. */
async function rawClient(url: string): Promise<Opened> {
  const { hostname, port, pathname } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const request = Buffer.from(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`, 'latin1');
  let done: (() => void) | null = null;
  let failed: ((error: Error) => void) | null = null;
  const parser = new WireParser(
    RESPONSE,
    {
      onHead: () => HEAD_CONTINUE,
      onBody: () => false,
      onMessageComplete: () => {
        const resolve = done;
        done = failed = null;
        resolve?.();
        return false;
      },
    },
    { maxHeadBytes: 16 * 1024, maxTargetBytes: 8 * 1024, maxFields: 100 },
  );
  socket.on('data', (chunk: Buffer) => {
    const result = parser.execute(chunk);
    if (result !== 0) failed?.(new Error(`response parse error: ${parser.reason()}`));
  });
  socket.on('error', (error) => failed?.(error));
  return {
    sequential: loop(
      () =>
        new Promise<void>((resolve, reject) => {
          done = resolve;
          failed = reject;
          socket.write(request);
        }),
    ),
    close: async () => {
      socket.destroy();
      parser.destroy();
    },
  };
}

export const BURST = 100;
const DEPTH = 10;
export const OURS_PIPELINED = `curio-ts request, pipelining ${DEPTH} (node runtime)`;
export const UNDICI_PIPELINED = `undici Pool, pipelining ${DEPTH}`;

/** `bursts` bursts of BURST GETs at once, each awaited with its body. */
const bursts =
  (get: () => Promise<void>) =>
  async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) await Promise.all(Array.from({ length: BURST }, get));
  };

/** The pipelined contenders: ours and undici's Pool, DEPTH connections of DEPTH requests in flight. */
export async function pipelinedContenders(url: string, opened: Pick<Opened, 'close'>[], rounds = Math.max(1, Math.round(N / BURST))): Promise<{ name: string; run: () => Promise<number> }[]> {
  const agent = new HttpAgent(nodeRuntime, { pipelining: DEPTH, maxConnectionsPerOrigin: DEPTH });
  const pool = new Pool(new URL(url).origin, { pipelining: DEPTH, connections: DEPTH });
  opened.push({ close: () => agent.close() }, { close: () => pool.close() });
  const path = new URL(url).pathname;
  const ours = bursts(async () => void (await (await agent.request(url)).body.text()));
  const theirs = bursts(async () => {
    const response = await pool.request({ method: 'GET', path });
    await response.body.text();
  });
  return [
    { name: OURS_PIPELINED, run: async () => (await ours(rounds), rounds * BURST) },
    { name: UNDICI_PIPELINED, run: async () => (await theirs(rounds), rounds * BURST) },
  ];
}

/** Run the client suite; returns the markdown table. */
export async function httpClientSuite(): Promise<string> {
  const server = await startPeer(PEERS, ['serve', 'node-http'], ['--expose-gc']);
  const url = `http://127.0.0.1:${server.port}/`;
  const opened: Pick<Opened, 'close'>[] = [];
  try {
    const contenders = [];
    for (const client of CLIENTS) {
      const { sequential, close } = await client.open(url);
      opened.push({ close });
      contenders.push({
        name: client.name,
        run: async () => {
          await sequential(N);
          return N;
        },
      });
    }
    const results = await measure(contenders);
    const by = (name: string): Measurement => byName(results, name);
    const label = `${N} sequential keep-alive GETs of a node:http hello`;
    const rows: Row[] = [];
    for (const client of CLIENTS.filter((c) => c.ours === true)) {
      rows.push({ benchmark: `${label}: ${client.name} vs undici`, ours: by(client.name), baseline: by(UNDICI), target: 1.5 });
      rows.push({ benchmark: `${label}: ${client.name} vs the floor`, ours: by(client.name), baseline: by(FLOOR) });
    }
    rows.push({ benchmark: `${label}: ${OURS_FETCH} vs Node's global fetch`, ours: by(OURS_FETCH), baseline: by(GLOBAL_FETCH), target: 2 });
    for (const client of CLIENTS.filter((c) => c.ours !== true && c.name !== UNDICI && c.name !== FLOOR)) {
      rows.push({ benchmark: `${label}: ${client.name} vs undici`, ours: by(client.name), baseline: by(UNDICI) });
    }
    rows.push({ benchmark: `${label}: undici vs the floor`, ours: by(UNDICI), baseline: by(FLOOR) });
    const piped = await measure(await pipelinedContenders(url, opened));
    rows.push({
      benchmark: `${Math.max(1, Math.round(N / BURST))} bursts of ${BURST} GETs at once, ${DEPTH} connections pipelining ${DEPTH}: ours vs undici Pool`,
      ours: byName(piped, OURS_PIPELINED),
      baseline: byName(piped, UNDICI_PIPELINED),
    });
    return (
      `${table(rows)}\n\nnode:http server in a child process; clients in the bench process, median of 5 interleaved rounds after a warm-up (harness.measure). ` +
      `Node's fetch finds undici's global dispatcher (installed undici and Node's bundled one share its global symbol), so here it runs over undici ${'7.30.1'}'s Agent. Each of ours uses an HttpAgent of its own (one pooled connection here).`
    );
  } finally {
    for (const { close } of opened) await close();
    await stopPeer(server);
  }
}
