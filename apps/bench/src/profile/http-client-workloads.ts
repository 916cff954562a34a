// profile/http-client-workloads.ts
//
// The HTTP client's workloads for the per-call profiler (profile.ts, count.ts): one call is one
// keep-alive GET, awaited with its body read, against a node:http hello server in a child
// process (http-peers.ts; its instructions are not counted: another process). The clients are
// the http-client suite's (http-client-bench.ts CLIENTS): ours on each runtime and our fetch,
// undici's request, Node's global fetch, node:http and the raw node:net + WireParser floor.
//
//   node --expose-gc apps/bench/dist/profile/profile.js all 5000 --module apps/bench/dist/profile/http-client-workloads.js

import { startPeer, stopPeer } from '../child-peers.js';
import type { Peer } from '../child-peers.js';
import { BURST, CLIENTS, FLOOR, GLOBAL_FETCH, OURS_CURIO, OURS_FETCH, OURS_NODE, OURS_PIPELINED, PEERS, pipelinedContenders, UNDICI, UNDICI_PIPELINED } from '../http-client-bench.js';
import type { Opened } from '../http-client-bench.js';
import type { Workload } from './workload.js';

/** The suite's client named `name`, as a workload of sequential GETs. */
function workload(name: string): Workload {
  const client = CLIENTS.find((c) => c.name === name);
  if (client === undefined) throw new Error(`no client ${name}`);
  let server: Peer | null = null;
  let opened: Opened | null = null;
  return {
    description: `sequential keep-alive GETs of a node:http hello (child process): ${name}`,
    defaultCalls: 5_000,
    async setup() {
      server = await startPeer(PEERS, ['serve', 'node-http'], ['--expose-gc']);
      opened = await client.open(`http://127.0.0.1:${server.port}/`);
      await opened.sequential(200); // connect and warm up outside the counted runs
    },
    run: (n) => (opened as Opened).sequential(n),
    async teardown() {
      await opened?.close();
      if (server !== null) await stopPeer(server);
    },
  };
}

/** The suite's pipelined contender named `name`: bursts of BURST GETs at once (`n` rounded to bursts). */
function pipelined(name: string): Workload {
  let server: Peer | null = null;
  const opened: { close: () => Promise<void> }[] = [];
  let runBurst: (() => Promise<number>) | null = null;
  return {
    description: `bursts of ${BURST} GETs at once, 10 connections pipelining 10, node:http hello (child process): ${name}`,
    defaultCalls: 5_000,
    async setup() {
      server = await startPeer(PEERS, ['serve', 'node-http'], ['--expose-gc']);
      const contenders = await pipelinedContenders(`http://127.0.0.1:${server.port}/`, opened, 1);
      runBurst = (contenders.find((c) => c.name === name) as { run: () => Promise<number> }).run;
      await runBurst();
    },
    async run(n) {
      for (let done = 0; done < n; ) done += await (runBurst as () => Promise<number>)();
    },
    async teardown() {
      for (const { close } of opened) await close();
      if (server !== null) await stopPeer(server);
    },
  };
}

export const workloads: Record<string, Workload> = {
  'client-node': workload(OURS_NODE),
  'client-curio': workload(OURS_CURIO),
  'client-fetch': workload(OURS_FETCH),
  'client-undici': workload(UNDICI),
  'client-global-fetch': workload(GLOBAL_FETCH),
  'client-nodehttp': workload('node:http, keep-alive Agent'),
  'client-raw': workload(FLOOR),
  'client-pipelined': pipelined(OURS_PIPELINED),
  'client-undici-pool': pipelined(UNDICI_PIPELINED),
};
