// The hybrid from the Curio talk, as two pieces that run in kernel tasks:
//
// - `HybridServer`: a kernel TCP server on loopback, one task per connection, and a pool of
//   async threads running a blocking library. A connection task turns each request line into
//   a request on a UniversalQueue and waits on a kernel Result; the async threads AWAIT the
//   requests, do the blocking work, and AWAIT the put of their answers on a second
//   UniversalQueue; a dispatcher task hands each answer to the Result of its request.
// - `runClients`: N kernel tasks, each holding a real TCP connection to the server. All of them
//   connect first (so N connections are held at once), then all send one request at the same
//   moment and check the answer.
//
//   clients (N tasks) ── TCP ──► connection tasks ─► requests (UniversalQueue) ─► async threads
//                                      ▲                                              │
//                                      └── Result ◄── dispatcher ◄── answers (UniversalQueue)

import {
  CancelledError,
  Event,
  Result,
  Semaphore,
  TaskGroup,
  UniversalQueue,
  openConnection,
  runServer,
  spawn,
  spawnThread,
  tcpServerSocket,
  workerFunction,
} from '@curio-ts/kernel';
import type { AsyncThread, ServerSocket, Socket, Task } from '@curio-ts/kernel';
import type * as ServerThread from './server-thread.js';
import type { Answer, Request, Work } from './server-thread.js';
import { digest } from './blocking-library.js';

// The async threads' module: server-thread.ts from src/ (tests), server-thread.js from dist/.
const here = import.meta.url;
const serveRequests = workerFunction<typeof ServerThread.serveRequests>(
  new URL(here.endsWith('.ts') ? './server-thread.ts' : './server-thread.js', here),
  'serveRequests',
);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Settings of the server. */
export interface ServerOptions {
  /** Number of async threads. */
  readonly threads: number;
  /** The blocking work per request. */
  readonly work: Work;
}

/** The server: listener, connection tasks, async threads, dispatcher. */
export class HybridServer {
  private readonly requests = new UniversalQueue<Request | null>();
  private readonly answers = new UniversalQueue<Answer>();
  private readonly pending = new Map<number, Result<string>>();
  private readonly threads: AsyncThread<number>[] = [];
  private lastId = 0;
  private serverTask: Task | null = null;
  private dispatcher: Task | null = null;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(private readonly listener: ServerSocket) {}

  /** Start listening on 127.0.0.1 (a free port) and start the threads. In a kernel task. */
  static async start(options: ServerOptions): Promise<HybridServer> {
    const listener = await tcpServerSocket('127.0.0.1', 0, { backlog: 4096 });
    const server = new HybridServer(listener);
    for (let i = 0; i < options.threads; i++) {
      server.threads.push(spawnThread(serveRequests, server.requests, server.answers, options.work));
    }
    server.dispatcher = spawn(() => server.dispatch(), { name: 'dispatcher', daemon: true });
    server.serverTask = spawn(() => runServer(listener, (client) => server.serve(client)), { name: 'server' });
    return server;
  }

  /** The port the server listens on. */
  get port(): number {
    return this.listener.port;
  }

  private async dispatch(): Promise<never> {
    for (;;) {
      const answer = await this.answers.get();
      const result = this.pending.get(answer.id);
      if (result === undefined) throw new Error(`answer for unknown request ${answer.id}`);
      this.pending.delete(answer.id);
      result.set(answer.digest);
    }
  }

  /** One connection: each request line gets its digest back as a line. */
  private async serve(client: Socket): Promise<void> {
    this.accepted++;
    const stream = client.asStream();
    try {
      for (;;) {
        const line = await stream.readline();
        if (line.length === 0) return;
        const id = ++this.lastId;
        const result = new Result<string>();
        this.pending.set(id, result);
        await this.requests.put({ id, payload: decoder.decode(line).trimEnd() });
        const answer = await result.unwrap();
        await stream.write(encoder.encode(`${answer}\n`));
      }
    } finally {
      await stream.close();
    }
  }

  /** Stop accepting, end the threads, and return how many requests each thread served. */
  async stop(): Promise<number[]> {
    await this.serverTask?.cancel();
    for (let i = 0; i < this.threads.length; i++) await this.requests.put(null);
    const served: number[] = [];
    for (const thread of this.threads) served.push(await thread.join());
    await this.dispatcher?.cancel();
    return served;
  }
}

/** What the clients saw. */
export interface ClientReport {
  readonly clients: number;
  /** Connections held at once before any request was sent. */
  readonly connected: number;
  readonly answered: number;
  /** Answers equal to the digest the client computed itself. */
  readonly correct: number;
  readonly connectMs: number;
  readonly requestMs: number;
}

/**
 * Run `count` client tasks against the server at `port`: connect all, then (all at once) send
 * one request each and read the answer. In a kernel task.
 */
export async function runClients(port: number, count: number, work: Work): Promise<ClientReport> {
  const answers: (string | null)[] = new Array<string | null>(count).fill(null);
  const connectGate = new Semaphore(256);
  const allConnected = new Event();
  const go = new Event();
  let connected = 0;
  const start = performance.now();
  let connectedAt = start;
  const group = new TaskGroup();
  for (let i = 0; i < count; i++) {
    group.spawn(async () => {
      let socket: Socket;
      try {
        socket = await connectGate.scope(() => openConnection('127.0.0.1', port));
      } catch (error) {
        // Do not leave the others waiting for a connection that will never be made.
        allConnected.set();
        go.set();
        throw error;
      }
      const stream = socket.asStream();
      try {
        if (++connected === count) {
          connectedAt = performance.now();
          allConnected.set();
        }
        await go.wait();
        await stream.write(encoder.encode(`client-${i}\n`));
        answers[i] = decoder.decode(await stream.readline()).trimEnd();
      } finally {
        await stream.close();
      }
    });
  }
  await allConnected.wait();
  const heldAtOnce = connected;
  const sent = performance.now();
  go.set();
  await group.join();
  // A failed client task ends the join early (the others are cancelled): report its error.
  for (const error of group.exceptions) {
    if (error !== undefined && !(error instanceof CancelledError)) throw error;
  }
  const done = performance.now();
  let answered = 0;
  let correct = 0;
  for (let i = 0; i < count; i++) {
    const answer = answers[i];
    if (answer === null || answer === undefined) continue;
    answered++;
    if (answer === digest(`client-${i}`, work.rounds)) correct++;
  }
  return {
    clients: count,
    connected: heldAtOnce,
    answered,
    correct,
    connectMs: connectedAt - start,
    requestMs: done - sent,
  };
}
