// The engine's ceiling without a socket (suite 'memory'): the three Redis workloads of the
// 'redis' suite (200 000 concurrent GETs with Promise.all, sequential awaited GETs, a pipeline
// of 200 000 SETs) by the client on the in-memory runtime (@curio-ts/backend-memory) against
// proto-redis's server role in the same process (@curio-ts/conformance's startInProcessRedis),
// and against a minimal GET/SET server on the same runtime (proto-redis's server role, a Map,
// replies written per chunk read: the least a server can cost, so the client engine's ceiling
// shows), beside the same workloads by the client on the node runtime against redis-server
// (127.0.0.1:6379). Informational: they differ in transport and server, so the ratios say how
// much of the node runtime's time is the socket and redis-server, not a target.

import { connectRedis as connectNode } from '@curio-ts/backend-node';
import { createMemoryRuntime } from '@curio-ts/backend-memory';
import { startInProcessRedis } from '@curio-ts/conformance';
import { NEED_DATA, PAUSED, RedisServerProtocol } from '@curio-ts/proto-redis';
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

type Runtime = ReturnType<typeof createMemoryRuntime>['runtime'];
type Stream = NonNullable<Awaited<ReturnType<Awaited<ReturnType<Runtime['listen']>>['accept']>>>;

const EMPTY = new Uint8Array(0);

/** Serve one connection: GET, SET, PING; every other command is an unknown-command error. */
async function serveMinimal(stream: Stream, store: Map<string, string>): Promise<void> {
  const conn = new RedisServerProtocol<string>({ args: 'binary', writer: { strings: 'binary' } });
  const reply = conn.writer;
  try {
    for (;;) {
      const chunk = await stream.read();
      conn.receiveData(chunk ?? EMPTY);
      for (;;) {
        const event = conn.nextEvent();
        if (event === NEED_DATA || event === PAUSED) break;
        if (event.type === 'closed') return;
        const args = event.args;
        if (event.name === 'GET' && args.length === 2) reply.bulkOrNull(store.get(args[1] as string));
        else if (event.name === 'SET' && args.length === 3) {
          store.set(args[1] as string, args[2] as string);
          reply.ok();
        } else if (event.name === 'PING') reply.status('PONG');
        else reply.error(`ERR unknown command '${event.name}'`);
        conn.answered();
      }
      if (reply.length > 0) await stream.write(reply.take());
      if (chunk === null || chunk.length === 0) return;
    }
  } finally {
    stream.close();
  }
}

/** A minimal GET/SET server on `runtime`; its redis:// URL and how to stop it. */
async function startMinimalServer(runtime: Runtime): Promise<{ url: string; stop: () => void }> {
  const listener = await runtime.listen({ host: '127.0.0.1', port: 0 });
  const store = new Map<string, string>();
  runtime.spawn(async () => {
    for (;;) {
      const stream = await listener.accept();
      if (stream === null) return;
      runtime.spawn(() => serveMinimal(stream, store), 'minimal redis client');
    }
  }, 'minimal redis');
  const address = listener.address;
  return { url: `redis://127.0.0.1:${'port' in address ? address.port : 0}`, stop: () => listener.close() };
}

export async function memorySuite(): Promise<string> {
  // No latency: a chunk is delivered as soon as the receiver runs (the ceiling).
  const memory = createMemoryRuntime({ autoAdvance: true, latency: 0 });
  const server = await startInProcessRedis(memory.runtime, { port: 0 });
  const inMemory = await memory.connectRedis(server.url);
  const minimal = await startMinimalServer(memory.runtime);
  const onMinimal = await memory.connectRedis(minimal.url);
  const node = await connectNode('redis://127.0.0.1:6379');
  try {
    await inMemory.set(KEY, VALUE);
    await onMinimal.set(KEY, VALUE);
    await node.set(KEY, VALUE);
    const rows: Row[] = [];
    const workloads = [
      [`${CONC_N} concurrent GETs (Promise.all)`, concurrent],
      [`${SEQ_N} sequential awaited GETs`, sequential],
      [`pipeline of ${PIPE_N} SETs`, pipelined],
    ] as const;
    for (const [benchmark, workload] of workloads) {
      const [minimalRate, inProcess, baseline] = await measure([
        { name: 'memory runtime + minimal server', run: workload(onMinimal) },
        { name: 'memory runtime + in-process Redis', run: workload(inMemory) },
        { name: 'node runtime + redis-server', run: workload(node) },
      ]);
      rows.push({ benchmark: `${benchmark}, minimal server`, ours: minimalRate!, baseline: baseline! });
      rows.push({ benchmark: `${benchmark}, in-process Redis`, ours: inProcess!, baseline: baseline! });
    }
    return (
      `${table(rows)}\n\nThe memory runtime's rates are the engine's ceiling without a socket: client engine, proto-redis ` +
      `encoder/decoder and a server in the same process, bytes passed in memory (latency 0). 'minimal server': ` +
      `GET/SET on a Map behind proto-redis's server role (apps/bench/src/memory-bench.ts), the ceiling; 'in-process ` +
      `Redis': @curio-ts/conformance's startInProcessRedis (a full keyspace, slower). Beside them, the node runtime ` +
      `against redis-server on 127.0.0.1:6379. Informational (no target).`
    );
  } finally {
    await inMemory.close();
    await onMinimal.close();
    await node.close();
    await server.stop();
    minimal.stop();
  }
}
