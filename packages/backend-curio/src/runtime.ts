// runtime.ts
//
// The curio runtime: the Runtime interface over the kernel. Connections are kernel sockets;
// every client call is a kernel TaskOperation: the caller gets a plain Promise (faithful in
// every use), owned by the task that made the call, so a task awaiting a Redis reply is
// resumed in its own scheduler turn and is interrupted at once by task.cancel() or
// timeoutAfter(), exactly like a task blocked on a kernel Queue (see the kernel's
// operation.ts). Background loops (the reader of each connection, reconnection) are daemon
// kernel tasks, visible in the monitor.
//
// Writes: the client flushes a burst of calls from outside any task (at the end of the burst);
// CurioByteStream queues the bytes and wakes a writer task of its own, which sends them with
// sendall (a trap when the socket pushes back). Reads happen in the reader task with recv.

import { performance } from 'node:perf_hooks';
import { ConnectionError } from '@curio-ts/client';
import type { Background, ByteStream, ConnectTarget, Runtime, Waiter } from '@curio-ts/client';
import {
  Event,
  KernelUsageError,
  SocketError,
  currentTask,
  openConnection,
  openUnixConnection,
  sleep,
  spawn,
} from '@curio-ts/kernel';
import type { Kernel, Socket } from '@curio-ts/kernel';
import { TaskOperation, atBurstEnd } from '@curio-ts/kernel/lowlevel';

const HIGH_WATER = 4 * 1024 * 1024;
const RESOLVED: Promise<void> = Promise.resolve();

/** A kernel socket as a ByteStream. */
export class CurioByteStream implements ByteStream {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private readonly wakeup = new Event();
  private failure: unknown = null;
  private closed = false;
  private drainWaiters: (() => void)[] = [];
  private writing = false;

  constructor(private readonly socket: Socket) {
    spawn(() => this.writer(), { name: 'stream-writer', daemon: true });
  }

  read(): Promise<Uint8Array | null> {
    if (this.failure !== null) return Promise.reject(this.failure);
    // The kernel's own trap, handed straight through: an empty chunk is end of stream, and a
    // SocketError keeps its errno code.
    return this.socket.recv(256 * 1024);
  }

  write(data: Uint8Array): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ConnectionError('write after close', 'EPIPE'));
    const raw = this.socket.rawSocket;
    if (this.queue.length === 0 && !this.writing && raw.writableLength === 0 && !raw.destroyed) {
      // Nothing queued and the socket is not pushing back: hand the bytes to the socket now,
      // without waking the writer task (the common case: one flush per burst of calls).
      raw.write(data);
      return RESOLVED;
    }
    this.queue.push(data);
    this.queuedBytes += data.length;
    this.wakeup.set();
    if (this.queuedBytes < HIGH_WATER) return RESOLVED;
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.closeNow();
    this.wakeup.set();
    this.releaseWriters();
  }

  private async writer(): Promise<void> {
    try {
      for (;;) {
        if (this.queue.length === 0) {
          if (this.closed) return;
          this.wakeup.clear();
          await this.wakeup.wait();
          continue;
        }
        const parts = this.queue;
        this.queue = [];
        this.queuedBytes = 0;
        this.releaseWriters();
        if (this.closed) return;
        this.writing = true;
        try {
          await this.socket.sendall(parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts));
        } finally {
          this.writing = false;
        }
      }
    } catch (error) {
      this.failure = toConnectionError(error);
      this.releaseWriters();
    }
  }

  private releaseWriters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}


function toConnectionError(error: unknown): unknown {
  if (error instanceof SocketError) return new ConnectionError(error.message, error.code, { cause: error });
  return error;
}

function isOutsideKernel(error: unknown): boolean {
  return error instanceof KernelUsageError && error.code === 'ERR_OUTSIDE_KERNEL';
}

async function connect(target: ConnectTarget, timeout: number | undefined): Promise<CurioByteStream> {
  try {
    const options = timeout === undefined ? {} : { timeout };
    let socket: Socket;
    if ('path' in target) socket = await openUnixConnection(target.path, options);
    else if (target.tls !== undefined) {
      const t = target.tls;
      socket = await openConnection(target.host, target.port, {
        ...options,
        tls: {
          ...(t.ca !== undefined ? { ca: typeof t.ca === 'string' ? t.ca : [...t.ca] } : {}),
          ...(t.cert !== undefined ? { cert: t.cert } : {}),
          ...(t.key !== undefined ? { key: t.key } : {}),
          rejectUnauthorized: t.rejectUnauthorized ?? true,
        },
        ...(t.serverName !== undefined ? { serverHostname: t.serverName } : {}),
      });
    } else socket = await openConnection(target.host, target.port, options);
    return new CurioByteStream(socket);
  } catch (error) {
    throw toConnectionError(error);
  }
}

/**
 * Make a curio Runtime. The kernel is found from the calling task when the first connection is
 * made; background work started from outside any task (rare: a write failure noticed at a
 * flush) runs as a new top-level task of that kernel.
 */
export function curioRuntime(): Runtime {
  let kernel: Kernel | null = null;
  const remember = (): void => {
    if (kernel === null) kernel = currentTask().kernel;
  };
  return {
    name: 'curio',
    connect(target, options) {
      remember();
      return connect(target, options?.timeout);
    },
    wait<T>(state: string, waiter: Waiter<T>): Promise<T> {
      const operation = new TaskOperation<T>(state, waiter);
      waiter.start(operation);
      return operation.promise;
    },
    spawn(fn: () => Promise<void>, name: string): Background {
      try {
        const task = spawn(fn, { name, daemon: true });
        return { cancel: () => void task.cancel({ blocking: false }) };
      } catch (error) {
        if (!isOutsideKernel(error) || kernel === null) throw error;
        const owner = kernel;
        let started: { cancel(): void } | null = null;
        void owner.runTask(async () => {
          const task = spawn(fn, { name, daemon: true });
          started = { cancel: () => void task.cancel({ blocking: false }) };
          await task.wait();
        });
        return { cancel: () => (started as { cancel(): void } | null)?.cancel() };
      }
    },
    sleep: (ms) => sleep(ms).then(() => undefined),
    defer: (fn) => atBurstEnd(fn),
    now: () => performance.now(),
    timer(ms, fn) {
      const handle = setTimeout(fn, ms);
      return () => clearTimeout(handle);
    },
  };
}
