// profile/redis-workloads.ts
//
// The Redis client's workloads for the per-call profiler (issue 9): concurrent GETs with
// Promise.all (node runtime; curio runtime in one task; curio runtime from 1 000 tasks),
// sequential awaited GETs, a pipeline of SETs. Against redis-server on 127.0.0.1:6379 (or
// REDIS_PORT), as the bench suite.

import { connectRedis as connectNode } from '@curio-ts/backend-node';
import { spawn } from '@curio-ts/kernel';
import { CurioHost, FloorClient, GroupFloorClient, RawClient, command } from '../redis-bench.js';
import type { Workload } from './workload.js';

const HOST = '127.0.0.1';
const PORT = Number(process.env['REDIS_PORT'] ?? 6379);
const KEY = 'bench:key';
const VALUE = 'x'.repeat(16);
const TASKS = 1000;

/** Keys of the pipeline, made once (the workload counts the client's allocations, not ours). */
const PIPE_KEYS = Array.from({ length: 1000 }, (_, i) => `bench:p${i}`);

type RedisClient = Awaited<ReturnType<typeof connectNode>>;

type Body = (client: RedisClient, n: number) => Promise<void>;

async function concurrent(client: RedisClient, n: number): Promise<void> {
  const calls = new Array<Promise<unknown>>(n);
  for (let i = 0; i < n; i++) calls[i] = client.get(KEY);
  await Promise.all(calls);
}

async function sequential(client: RedisClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await client.get(KEY);
}

async function pipeline(client: RedisClient, n: number): Promise<void> {
  const p = client.pipeline();
  for (let i = 0; i < n; i++) p.set(PIPE_KEYS[i % 1000] as string, VALUE);
  await p.exec();
}

async function fromTasks(client: RedisClient, n: number): Promise<void> {
  const perTask = Math.ceil(n / TASKS);
  const tasks = [];
  for (let t = 0; t < TASKS; t++) {
    const count = Math.min(perTask, n - t * perTask);
    if (count <= 0) break;
    tasks.push(
      spawn(async () => {
        for (let i = 0; i < count; i++) await client.get(KEY);
      }),
    );
  }
  for (const task of tasks) await task.join();
}

function onNode(description: string, defaultCalls: number, body: Body): Workload {
  let client: RedisClient | null = null;
  return {
    description,
    defaultCalls,
    async setup() {
      client = await connectNode({ host: HOST, port: PORT });
      await client.set(KEY, VALUE);
    },
    run: (n) => body(client as RedisClient, n),
    async teardown() {
      await client?.close();
    },
  };
}

function onCurio(description: string, defaultCalls: number, body: Body): Workload {
  const host = new CurioHost();
  return {
    description,
    defaultCalls,
    async setup() {
      await host.start();
      await host.submit(async () => (await host.client.set(KEY, VALUE), 0));
    },
    run: async (n) => {
      await host.submit(async () => (await body(host.client as unknown as RedisClient, n), n));
    },
    teardown: () => host.stop(),
  };
}

/**
 * The round-trip limit the sequential workloads are compared with: a hand-written node:net
 * client sending a prepared GET and waiting for its reply, one at a time (the bench suite's
 * "raw net" contender).
 */
function rawSequential(): Workload {
  let raw: RawClient | null = null;
  const get = command('GET', KEY);
  return {
    description: 'sequential awaited GET, raw node:net client (the round-trip limit)',
    defaultCalls: 20_000,
    async setup() {
      raw = new RawClient();
      await raw.connect();
    },
    async run(n) {
      const client = raw as RawClient;
      for (let i = 0; i < n; i++) await client.roundTrip(get, 1);
    },
    async teardown() {
      raw?.close();
    },
  };
}

/** A client of prepared command bytes (FloorClient, GroupFloorClient). */
interface PreparedClient {
  connect(): Promise<void>;
  call(bytes: Buffer): Promise<unknown>;
  close(): void;
}

/**
 * The floor of a Promise-per-call client the concurrent workloads are compared with: the bench
 * suite's FloorClient (prepared command bytes, one write per tick, a resolver per call, the
 * same decoder), 200 000 GETs in one Promise.all; or its GroupFloorClient (calls settled in
 * groups of 16 through one Promise each, the design measured and not adopted).
 */
function floorConcurrent(description: string, make: () => PreparedClient): Workload {
  let floor: PreparedClient | null = null;
  const get = command('GET', KEY);
  return {
    description,
    defaultCalls: 200_000,
    async setup() {
      floor = make();
      await floor.connect();
    },
    async run(n) {
      const client = floor as PreparedClient;
      const calls = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) calls[i] = client.call(get);
      await Promise.all(calls);
    },
    async teardown() {
      floor?.close();
    },
  };
}

/** The workloads of issue 9, by name. */
export const workloads: Record<string, Workload> = {
  'concurrent-node': onNode('concurrent GETs (Promise.all), node runtime', 200_000, concurrent),
  'concurrent-curio': onCurio('concurrent GETs (Promise.all in one task), curio runtime', 200_000, concurrent),
  'tasks-curio': onCurio(`GETs from ${TASKS} kernel tasks, curio runtime`, 200_000, fromTasks),
  'concurrent-floor': floorConcurrent('concurrent GETs (Promise.all), FloorClient (the least a Promise-per-call client does)', () => new FloorClient()),
  'concurrent-group-floor': floorConcurrent('concurrent GETs (Promise.all), GroupFloorClient (a Promise per 16 calls, a derived Promise per call)', () => new GroupFloorClient()),
  'sequential-node': onNode('sequential awaited GET, node runtime', 20_000, sequential),
  'sequential-curio': onCurio('sequential awaited GET, curio runtime', 20_000, sequential),
  'sequential-raw': rawSequential(),
  'pipeline-node': onNode('pipeline of SETs, node runtime', 200_000, pipeline),
  'pipeline-curio': onCurio('pipeline of SETs, curio runtime', 200_000, pipeline),
};
