// The engine's ceiling without a socket (suite 'memory'): the three Redis workloads of the
// 'redis' suite (200 000 concurrent GETs with Promise.all, sequential awaited GETs, a pipeline
// of 200 000 SETs) by the client on the in-memory runtime (@curio-ts/backend-memory) against
// proto-redis's server role in the same process (@curio-ts/conformance's startInProcessRedis),
// beside the same workloads by the client on the node runtime against redis-server
// (127.0.0.1:6379). Informational: the two differ in transport and server, so the ratio says
// how much of the node runtime's time is the socket and redis-server, not a target.

import { connectRedis as connectNode } from '@curio-ts/backend-node';
import { createMemoryRuntime } from '@curio-ts/backend-memory';
import { startInProcessRedis } from '@curio-ts/conformance';
import { measure, table } from './harness.js';
import type { Row } from './harness.js';

const KEY = 'bench:key';
const VALUE = 'x'.repeat(16);
const SEQ_N = 20_000;
const CONC_N = 200_000;
const PIPE_N = 200_000;

interface Client {
  get(key: string): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  pipeline(): { set(key: string, value: string): unknown; exec(): Promise<unknown> };
}

const sequential = (client: Client) => async (): Promise<number> => {
  for (let i = 0; i < SEQ_N; i++) await client.get(KEY);
  return SEQ_N;
};

const concurrent = (client: Client) => async (): Promise<number> => {
  const calls = new Array<Promise<unknown>>(CONC_N);
  for (let i = 0; i < CONC_N; i++) calls[i] = client.get(KEY);
  await Promise.all(calls);
  return CONC_N;
};

const pipelined = (client: Client) => async (): Promise<number> => {
  const pipeline = client.pipeline();
  for (let i = 0; i < PIPE_N; i++) pipeline.set(`bench:p${i % 1000}`, VALUE);
  await pipeline.exec();
  return PIPE_N;
};

export async function memorySuite(): Promise<string> {
  // No latency: a chunk is delivered as soon as the receiver runs (the ceiling).
  const memory = createMemoryRuntime({ autoAdvance: true, latency: 0 });
  const server = await startInProcessRedis(memory.runtime, { port: 0 });
  const inMemory = await memory.connectRedis(server.url);
  const node = await connectNode('redis://127.0.0.1:6379');
  try {
    await inMemory.set(KEY, VALUE);
    await node.set(KEY, VALUE);
    const rows: Row[] = [];
    const workloads = [
      [`${CONC_N} concurrent GETs (Promise.all)`, concurrent],
      [`${SEQ_N} sequential awaited GETs`, sequential],
      [`pipeline of ${PIPE_N} SETs`, pipelined],
    ] as const;
    for (const [benchmark, workload] of workloads) {
      const [ours, baseline] = await measure([
        { name: 'memory runtime + in-process server', run: workload(inMemory) },
        { name: 'node runtime + redis-server', run: workload(node) },
      ]);
      rows.push({ benchmark, ours: ours!, baseline: baseline! });
    }
    return (
      `${table(rows)}\n\nThe memory runtime's rates are the engine's ceiling without a socket: client engine, proto-redis ` +
      `encoder/decoder and proto-redis's server role (@curio-ts/conformance startInProcessRedis) in one process, ` +
      `bytes passed in memory (latency 0). Beside them, the node runtime against redis-server on 127.0.0.1:6379. ` +
      `Informational (no target).`
    );
  } finally {
    await inMemory.close();
    await node.close();
    await server.stop();
  }
}
