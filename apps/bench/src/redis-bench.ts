// Redis client benchmarks: ours on both runtimes vs ioredis vs node-redis vs a hand-written raw
// node:net client, against the same redis-server (127.0.0.1:6379) in the same process run; and
// RESP decoding vs redis-parser.

import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { connectRedis as connectNode } from '@curio-ts/backend-node';
import { connectRedis as connectCurio } from '@curio-ts/backend-curio';
import { awaitPromise, spawn } from '@curio-ts/kernel';
import { NEED_DATA, RespDecoder } from '@curio-ts/proto-redis';
import { Redis as IORedis } from 'ioredis';
import { createClient } from 'redis';
import { measure, table } from './harness.js';
import { KernelHost } from './kernel-host.js';
import type { Contender, Row } from './harness.js';

const HOST = '127.0.0.1';
const PORT = 6379;
const KEY = 'bench:key';
const VALUE = 'x'.repeat(16);
const SEQ_N = 20_000;
const CONC_N = 200_000;
const PIPE_N = 200_000;

// ---------------------------------------------------------------------------------------------
// A raw client: the round-trip limit. Writes RESP by hand and counts complete replies.

/** A connected node:net socket to the bench's Redis, Nagle off. */
function openSocket(): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port: PORT, noDelay: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

export class RawClient {
  private socket!: net.Socket;
  private expected = 0;
  private got = 0;
  private done: (() => void) | null = null;
  private decoder = new RespDecoder();

  async connect(): Promise<void> {
    this.socket = await openSocket();
    this.socket.on('data', (chunk: Buffer) => {
      this.decoder.feed(chunk);
      while (this.decoder.next() !== NEED_DATA) this.got++;
      if (this.got >= this.expected && this.done !== null) {
        const done = this.done;
        this.done = null;
        done();
      }
    });
  }

  /** Send `payload` (holding `replies` commands) and wait for all replies. */
  roundTrip(payload: Uint8Array, replies: number): Promise<void> {
    this.expected += replies;
    return new Promise<void>((resolve) => {
      this.done = resolve;
      this.socket.write(payload);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Prepared command bytes gathered into one buffer, written once per tick (the floor clients' writer). */
class TickWriter {
  private out = Buffer.allocUnsafe(1 << 16);
  private length = 0;
  private scheduled = false;
  private readonly flush = (): void => {
    this.scheduled = false;
    this.socket.write(this.out.subarray(0, this.length));
    this.out = Buffer.allocUnsafe(Math.max(1 << 16, this.length));
    this.length = 0;
    this.flushed();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly flushed: () => void = () => {},
  ) {}

  /** Add one command's bytes to this tick's write. */
  put(bytes: Buffer): void {
    if (this.length + bytes.length > this.out.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.length + bytes.length));
      this.out.copy(grown, 0, 0, this.length);
      this.out = grown;
    }
    bytes.copy(this.out, this.length);
    this.length += bytes.length;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }
}

let capturedResolve: (value: unknown) => void = () => {};
/** One executor for every floor Promise: no closure per call. */
function captureResolve(resolve: (value: unknown) => void): void {
  capturedResolve = resolve;
}

/**
 * The floor of any client whose calls return Promises: a Promise per call (resolved in reply
 * order, made with one shared executor: no closure per call), the command's bytes prepared in
 * advance and copied into one buffer, one write per tick, replies decoded by the same
 * RespDecoder. No options, no errors, no reconnection, no cancellation: what is left is the
 * price of one Promise per call and of Promise.all, which no Promise API can avoid. The raw
 * batch over this is the room that Promises themselves take.
 */
export class FloorClient {
  private socket!: net.Socket;
  private writer!: TickWriter;
  private readonly decoder = new RespDecoder();
  private resolvers: ((value: unknown) => void)[] = [];
  private head = 0;

  async connect(): Promise<void> {
    this.socket = await openSocket();
    this.writer = new TickWriter(this.socket);
    this.socket.on('data', (chunk: Buffer) => {
      const decoder = this.decoder;
      decoder.feed(chunk);
      let value: unknown;
      while ((value = decoder.next()) !== NEED_DATA) {
        const resolve = this.resolvers[this.head] as (value: unknown) => void;
        this.resolvers[this.head++] = undefined as never;
        resolve(value);
      }
      if (this.head === this.resolvers.length) {
        this.resolvers = [];
        this.head = 0;
      }
    });
  }

  /** Send the prepared bytes of one command; its reply. */
  call(bytes: Buffer): Promise<unknown> {
    this.writer.put(bytes);
    const promise = new Promise<unknown>(captureResolve);
    this.resolvers.push(capturedResolve);
    return promise;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The replies of one group of calls (GroupFloorClient), taken in call order. */
class ReplyGroup {
  readonly promise: Promise<unknown>;
  readonly resolve: (group: ReplyGroup) => void;
  readonly replies: unknown[] = [];
  members = 0;
  open = true;
  private cursor = 0;

  constructor() {
    this.promise = new Promise<unknown>(captureResolve);
    this.resolve = capturedResolve;
  }

  take(): unknown {
    const reply = this.replies[this.cursor];
    this.replies[this.cursor++] = undefined;
    return reply;
  }
}

function takeReply(group: unknown): unknown {
  return (group as ReplyGroup).take();
}

/**
 * The design that would beat FloorClient (issue 9, measured and not adopted): calls settled in
 * groups of GROUP calls through one Promise per group, each call's Promise `group.then(take)`
 * (a derived Promise and a reaction: no resolving functions), replies taken in call order. Fewer
 * bytes per call, one more Promise job per call, and a call's Promise settles only when the
 * last call of its group has: the price our client does not pay (see RESULTS.md, redis).
 */
export class GroupFloorClient {
  private socket!: net.Socket;
  private writer!: TickWriter;
  private readonly decoder = new RespDecoder();
  private groups: ReplyGroup[] = [];
  private head = 0;
  private group: ReplyGroup | null = null;

  constructor(private readonly size = 16) {}

  async connect(): Promise<void> {
    this.socket = await openSocket();
    this.writer = new TickWriter(this.socket, () => this.closeGroup());
    this.socket.on('data', (chunk: Buffer) => {
      const decoder = this.decoder;
      decoder.feed(chunk);
      let value: unknown;
      while ((value = decoder.next()) !== NEED_DATA) {
        const group = this.groups[this.head] as ReplyGroup;
        group.replies.push(value);
        if (group.replies.length === group.members && !group.open) {
          this.groups[this.head++] = undefined as never;
          group.resolve(group);
        }
      }
      if (this.head === this.groups.length) {
        this.groups = [];
        this.head = 0;
      }
    });
  }

  private closeGroup(): void {
    const group = this.group;
    if (group === null) return;
    this.group = null;
    group.open = false;
  }

  /** Send the prepared bytes of one command; its reply. */
  call(bytes: Buffer): Promise<unknown> {
    this.writer.put(bytes);
    let group = this.group;
    if (group === null || group.members === this.size) {
      if (group !== null) group.open = false;
      group = this.group = new ReplyGroup();
      this.groups.push(group);
    }
    group.members++;
    return group.promise.then(takeReply);
  }

  close(): void {
    this.socket.destroy();
  }
}

export function command(...args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
}

// ---------------------------------------------------------------------------------------------
// The contenders. Each does its work once and returns the number of operations.

interface RedisLike {
  get(key: string): Promise<unknown>;
}

function sequential(getClient: () => RedisLike): () => Promise<number> {
  return async () => {
    const client = getClient();
    for (let i = 0; i < SEQ_N; i++) await client.get(KEY);
    return SEQ_N;
  };
}

function concurrent(getClient: () => RedisLike): () => Promise<number> {
  return async () => {
    const client = getClient();
    const calls = new Array<Promise<unknown>>(CONC_N);
    for (let i = 0; i < CONC_N; i++) calls[i] = client.get(KEY);
    await Promise.all(calls);
    return CONC_N;
  };
}

/**
 * Sequential GETs on the curio runtime while another task loops over a raw
 * `await fs.promises.stat(...)` (a task in a foreign await all along: issue 9's cliff).
 */
function sequentialBesideStat(getClient: () => RedisLike, raw = true): () => Promise<number> {
  const body = sequential(getClient);
  return async () => {
    let stop = false;
    const statter = spawn(async () => {
      while (!stop) {
        if (raw) await fsp.stat('.');
        else await awaitPromise(fsp.stat('.'));
      }
    });
    try {
      return await body();
    } finally {
      stop = true;
      await statter.join();
    }
  };
}

/** The curio way to be concurrent: many tasks, each awaiting its own calls (each a kernel trap). */
function concurrentTasks(getClient: () => RedisLike): () => Promise<number> {
  return async () => {
    const client = getClient();
    const tasks = [];
    const perTask = CONC_N / 1000;
    for (let t = 0; t < 1000; t++) {
      tasks.push(
        spawn(async () => {
          for (let i = 0; i < perTask; i++) await client.get(KEY);
        }),
      );
    }
    for (const task of tasks) await task.join();
    return CONC_N;
  };
}

/** The Redis client on the curio runtime inside one long-lived kernel (kernel-host.ts). */
export class CurioHost extends KernelHost<Awaited<ReturnType<typeof connectCurio>>> {
  constructor() {
    super(() => connectCurio({ host: HOST, port: PORT }));
  }
}

/** Run the Redis client suite; returns the markdown table. */
export async function redisSuite(): Promise<string> {
  const ours = await connectNode({ host: HOST, port: PORT });
  const curio = new CurioHost();
  await curio.start();
  const ioredis = new IORedis({ host: HOST, port: PORT, enableAutoPipelining: true, lazyConnect: false });
  await ioredis.ping();
  // No per-command timeout (timeout 0), like ours. node-redis defaults to 5 s with an
  // AbortSignal.timeout per command: 200 000 live timers slow down everything else in this
  // process for seconds after its own run, and its burst failed outright on a slow machine.
  const nodeRedis = createClient({ url: `redis://${HOST}:${PORT}`, commandOptions: { timeout: 0 } });
  await nodeRedis.connect();
  const raw = new RawClient();
  await raw.connect();
  const floor = new FloorClient();
  await floor.connect();
  const groupFloor = new GroupFloorClient();
  await groupFloor.connect();
  await ours.set(KEY, VALUE);
  const getCommand = command('GET', KEY);

  const rows: Row[] = [];
  const rawSeq: Contender = {
    name: 'raw net',
    run: async () => {
      for (let i = 0; i < SEQ_N; i++) await raw.roundTrip(getCommand, 1);
      return SEQ_N;
    },
  };
  const [seqOurs, seqCurio, seqRaw, seqIo, seqNr] = await measure([
    { name: 'curio-ts (node)', run: sequential(() => ours) },
    { name: 'curio-ts (curio)', run: () => curio.submit(sequential(() => curio.client)) },
    rawSeq,
    { name: 'ioredis', run: sequential(() => ioredis) },
    { name: 'node-redis', run: sequential(() => nodeRedis) },
  ]);
  rows.push({ benchmark: `sequential awaited GET x${SEQ_N}, node runtime vs raw net`, ours: seqOurs!, baseline: seqRaw!, target: 0.95 });
  rows.push({ benchmark: 'sequential awaited GET, curio runtime vs raw net', ours: seqCurio!, baseline: seqRaw!, target: 0.95 });
  rows.push({ benchmark: 'sequential awaited GET, node runtime vs ioredis', ours: seqOurs!, baseline: seqIo! });
  rows.push({ benchmark: 'sequential awaited GET, node runtime vs node-redis', ours: seqOurs!, baseline: seqNr! });

  const rawBatch = Buffer.concat(Array.from({ length: CONC_N }, () => getCommand));
  const floorConcurrent = async (): Promise<number> => {
    const calls = new Array<Promise<unknown>>(CONC_N);
    for (let i = 0; i < CONC_N; i++) calls[i] = floor.call(getCommand);
    await Promise.all(calls);
    return CONC_N;
  };
  const groupFloorConcurrent = async (): Promise<number> => {
    const calls = new Array<Promise<unknown>>(CONC_N);
    for (let i = 0; i < CONC_N; i++) calls[i] = groupFloor.call(getCommand);
    await Promise.all(calls);
    return CONC_N;
  };
  const [concOurs, concCurio, concCurioTasks, concRaw, concIo, concNr, concFloor, concGroupFloor] = await measure([
    { name: 'curio-ts (node)', run: concurrent(() => ours) },
    { name: 'curio-ts (curio, Promise.all in one task)', run: () => curio.submit(concurrent(() => curio.client)) },
    { name: 'curio-ts (curio, 1000 tasks)', run: () => curio.submit(concurrentTasks(() => curio.client)) },
    { name: 'raw net batch', run: async () => (await raw.roundTrip(rawBatch, CONC_N), CONC_N) },
    { name: 'ioredis (auto-pipelining)', run: concurrent(() => ioredis) },
    { name: 'node-redis', run: concurrent(() => nodeRedis) },
    { name: 'the floor of a Promise per call', run: floorConcurrent },
    { name: 'a Promise per 16 calls, a derived Promise per call', run: groupFloorConcurrent },
  ], 5, true);
  rows.push({ benchmark: `${CONC_N} concurrent GETs, node runtime vs ioredis`, ours: concOurs!, baseline: concIo!, target: 5 });
  rows.push({ benchmark: `${CONC_N} concurrent GETs, curio runtime vs ioredis`, ours: concCurio!, baseline: concIo!, target: 5 });
  rows.push({ benchmark: `${CONC_N} GETs from 1000 kernel tasks (each awaits its own), curio runtime vs ioredis`, ours: concCurioTasks!, baseline: concIo!, target: 5 });
  rows.push({ benchmark: `${CONC_N} concurrent GETs, node runtime vs node-redis`, ours: concOurs!, baseline: concNr! });
  rows.push({ benchmark: `${CONC_N} concurrent GETs, node runtime vs raw net batch`, ours: concOurs!, baseline: concRaw!, target: 0.3 });
  rows.push({ benchmark: `${CONC_N} concurrent GETs, the floor of a Promise per call (FloorClient) vs raw net batch`, ours: concFloor!, baseline: concRaw! });
  rows.push({ benchmark: `${CONC_N} concurrent GETs, node runtime vs the floor of a Promise per call`, ours: concOurs!, baseline: concFloor! });
  rows.push({ benchmark: `${CONC_N} concurrent GETs, calls settled in groups of 16 (GroupFloorClient, not adopted: see the note below) vs raw net batch`, ours: concGroupFloor!, baseline: concRaw! });
  rows.push({ benchmark: `${CONC_N} concurrent GETs, calls settled in groups of 16 (GroupFloorClient) vs the floor of a Promise per call`, ours: concGroupFloor!, baseline: concFloor! });

  const rawSets = Buffer.concat(Array.from({ length: PIPE_N }, (_, i) => command('SET', `bench:p${i % 1000}`, VALUE)));
  const oursPipeline = (client: typeof ours) => async (): Promise<number> => {
    const pipeline = client.pipeline();
    for (let i = 0; i < PIPE_N; i++) pipeline.set(`bench:p${i % 1000}`, VALUE);
    await pipeline.exec();
    return PIPE_N;
  };
  const [pipeOurs, pipeCurio, pipeRaw, pipeIo, pipeNr] = await measure([
    { name: 'curio-ts (node)', run: oursPipeline(ours) },
    { name: 'curio-ts (curio)', run: () => curio.submit(oursPipeline(curio.client)) },
    { name: 'raw net', run: async () => (await raw.roundTrip(rawSets, PIPE_N), PIPE_N) },
    {
      name: 'ioredis pipeline',
      run: async () => {
        const pipeline = ioredis.pipeline();
        for (let i = 0; i < PIPE_N; i++) pipeline.set(`bench:p${i % 1000}`, VALUE);
        await pipeline.exec();
        return PIPE_N;
      },
    },
    {
      name: 'node-redis execAsPipeline',
      run: async () => {
        const multi = nodeRedis.multi();
        for (let i = 0; i < PIPE_N; i++) multi.set(`bench:p${i % 1000}`, VALUE);
        await multi.execAsPipeline();
        return PIPE_N;
      },
    },
  ]);
  rows.push({ benchmark: `pipeline of ${PIPE_N} SETs, node runtime vs node-redis`, ours: pipeOurs!, baseline: pipeNr!, target: 1.5 });
  rows.push({ benchmark: `pipeline of ${PIPE_N} SETs, curio runtime vs node-redis`, ours: pipeCurio!, baseline: pipeNr!, target: 1.5 });
  rows.push({ benchmark: `pipeline of ${PIPE_N} SETs, node runtime vs ioredis`, ours: pipeOurs!, baseline: pipeIo! });
  rows.push({ benchmark: `pipeline of ${PIPE_N} SETs, node runtime vs raw net`, ours: pipeOurs!, baseline: pipeRaw! });

  // Last: the rows with a task in a raw foreign await. A program that keeps awaiting foreign
  // Promises in tasks makes the kernel follow its tasks with V8's promise hooks (after the first
  // 1 000 callers found from the stack), and enabling promise hooks drops V8's PromiseHook
  // protector for the rest of the process (handoff.ts, "Following tasks while a foreign wait
  // exists"; the kernel suite measures what that costs). The rows above measure a program
  // without such awaits.
  const [seqStat, seqCurio2, seqStatTrap] = await measure([
    { name: 'curio-ts (curio) beside a stat loop', run: () => curio.submit(sequentialBesideStat(() => curio.client)) },
    { name: 'curio-ts (curio)', run: () => curio.submit(sequential(() => curio.client)) },
    {
      name: 'curio-ts (curio) beside a stat loop through awaitPromise',
      run: () => curio.submit(sequentialBesideStat(() => curio.client, false)),
    },
  ]);
  rows.push({
    benchmark: 'sequential awaited GET, curio runtime, beside a task looping over a raw await fs.promises.stat (vs without)',
    ours: seqStat!,
    baseline: seqCurio2!,
    target: 0.5,
  });
  rows.push({
    benchmark: 'the same, the stat loop awaiting raw vs through awaitPromise (the cost of the raw await alone; the loops compete for the event loop too)',
    ours: seqStat!,
    baseline: seqStatTrap!,
  });

  raw.close();
  floor.close();
  groupFloor.close();
  await ours.close();
  await curio.stop();
  ioredis.disconnect();
  await nodeRedis.quit();

  rows.push(...(await decodeRows()));
  return `${table(rows)}\n\nThe ${CONC_N} concurrent GET rows collect the heap before each run (harness.ts, measure): each contender starts from the same heap, not from the garbage of the one before (a burst of ioredis leaves about a gigabyte scavenged). GroupFloorClient settles the calls of a burst in groups of 16 through one Promise per group, each call's Promise derived from it with then(): the one design found that allocates less per call than a Promise of its own (issue 9). Built into the engine and measured (the concurrent-node profile, then the two builds alternated in one process): 411 -> 322 bytes per call and a garbage-collector share of 45% -> 30-37%, but one more Promise job per call, so the rate moved by -4% to +20% (about +5% in the median), while a call's Promise would settle only when the last call of its group has. Not adopted. The rows with a raw foreign await run last: they make the kernel follow tasks with promise hooks, after which V8 runs Promise code in the process slower for good (the kernel suite's last row).\n`;
}

// ---------------------------------------------------------------------------------------------
// Decoding: 100 000 blob-string replies fed in 64 KiB chunks.

const require = createRequire(import.meta.url);
const RedisParser = require('redis-parser') as new (options: { returnReply: (r: unknown) => void; returnError: (e: unknown) => void }) => {
  execute(b: Buffer): void;
};

/** The decode rows alone (`main.js redis-decode`): no server needed, quick to repeat. */
export async function redisDecodeSuite(): Promise<string> {
  return table(await decodeRows());
}

async function decodeRows(): Promise<Row[]> {
  const rows: Row[] = [];
  const n = 100_000;
  const blob = (size: number): string => `$${size}\r\n${'x'.repeat(size)}\r\n`;
  // One reply of each kind, repeated: blob strings of three sizes, and arrays of blob strings
  // (MGET of small values, LRANGE of large ones), counted by the values they hold.
  const cases = [
    ...[3, 100, 1000].map((size) => ({ label: `${n} replies of ${size} B`, reply: blob(size), replies: n, values: n, info: false })),
    { label: `${n / 10} arrays of 10 values of 16 B`, reply: `*10\r\n${blob(16).repeat(10)}`, replies: n / 10, values: n, info: false },
    // Information only: both decoders are at the floor of Node's utf8Slice there (0.97-1.04x).
    { label: `${n / 100} arrays of 100 values of 1000 B`, reply: `*100\r\n${blob(1000).repeat(100)}`, replies: n / 100, values: n, info: true },
  ];
  for (const { label, reply, replies, values, info } of cases) {
    const one = Buffer.from(reply);
    const all = Buffer.concat(Array.from({ length: replies }, () => one));
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 65536) chunks.push(all.subarray(i, i + 65536));
    const [ours, theirs] = await measure([
      {
        name: 'proto-redis',
        run: async () => {
          const decoder = new RespDecoder();
          let count = 0;
          for (const chunk of chunks) {
            decoder.feed(chunk);
            while (decoder.next() !== NEED_DATA) count++;
          }
          if (count !== replies) throw new Error('decode count');
          return values;
        },
      },
      {
        name: 'redis-parser',
        run: async () => {
          let count = 0;
          const parser = new RedisParser({ returnReply: () => count++, returnError: () => {} });
          for (const chunk of chunks) parser.execute(chunk);
          if (count !== replies) throw new Error('parse count');
          return values;
        },
      },
    ], 7);
    rows.push({ benchmark: `decode ${label}`, ours: ours!, baseline: theirs!, ...(info ? {} : { target: 1 }) });
  }
  return rows;
}
