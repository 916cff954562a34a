// threads/worker-runtime.ts
//
// The worker's side, loaded by bootstrap.mjs in every worker thread and child process the
// kernel starts. Three roles:
//
// - 'pool' (a ThreadPool worker) and 'process' (a ProcessPool child): answer jobs, one message
//   each, with the function named by module URL and export (modules are imported once and
//   kept). A function may be sync or async; its result is sent when it settles.
// - 'thread' (an async thread): call one function, with a link on globalThis through which
//   AWAIT blocks on the kernel (see asyncthread.ts), then report how it ended.
//
// Errors never escape as uncaught exceptions: they are flattened (errors.ts) and sent back,
// so the parent sees the worker's error name, message and stack.

import type { TransferListItem } from 'node:worker_threads';
import { receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { errorFromData, errorToData, TS_LOADER_MISSING_MESSAGE } from './errors.js';
import type { ErrorData } from './errors.js';
import { decodeValue, encodeContext, encodeValue, abandonTransfer } from './transfer.js';
import type { EncodeContext } from './transfer.js';
import {
  ASYNC_THREAD_KEY,
  AWAIT_REQUEST,
  STATUS_ENCODED,
  STATUS_ERROR,
  STATUS_VALUE,
  THREAD_DONE,
} from './protocol.js';
import type { AnswerMessage, AsyncThreadLink, JobMessage, Status } from './protocol.js';
import type { PoolInit, ThreadInit, WorkerInit } from './launch.js';
import { isTypeScriptUrl } from './workfn.js';

type AnyFunction = (...args: unknown[]) => unknown;

const TS_REGISTERED = Symbol.for('curio-ts.tsxRegistered');
const TSX_API = 'tsx/esm/api';

function codedError(message: string, code: string, cause?: unknown): Error {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  (error as Error & { code: string }).code = code;
  return error;
}

/** Register the tsx loader in this thread (once), or fail with ERR_TS_LOADER_MISSING. */
async function registerTypeScript(): Promise<void> {
  const global = globalThis as { [TS_REGISTERED]?: boolean };
  if (global[TS_REGISTERED] === true) return;
  let api: { register(): unknown };
  try {
    api = (await import(TSX_API)) as { register(): unknown };
  } catch (cause) {
    throw codedError(TS_LOADER_MISSING_MESSAGE, 'ERR_TS_LOADER_MISSING', cause);
  }
  api.register();
  global[TS_REGISTERED] = true;
}

/** Import `url` and return its export `name`, which must be a function. */
async function loadFunction(url: string, name: string): Promise<AnyFunction> {
  if (isTypeScriptUrl(url)) await registerTypeScript();
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw codedError(`cannot load worker module ${url}: ${reason}`, 'ERR_WORKER_LOAD', cause);
  }
  const fn = module[name];
  if (typeof fn !== 'function') {
    throw codedError(
      `worker module ${url} has no function export '${name}' (found ${fn === undefined ? 'nothing' : typeof fn})`,
      'ERR_WORKER_LOAD',
    );
  }
  return fn as AnyFunction;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Prepare a value for sending: encoded handles if it holds universal objects. */
function encodeResult(value: unknown, context: EncodeContext): { status: Status; payload: unknown } {
  const encoded = encodeValue(value, context);
  return { status: encoded === value ? STATUS_VALUE : STATUS_ENCODED, payload: encoded };
}

function cloneError(cause: unknown, what: string): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return codedError(`${what} cannot be copied to the calling thread: ${reason}`, 'ERR_WORKER_DATA_CLONE', cause);
}

// ---------------------------------------------------------------------------------------------
// Pools

interface Channel {
  send(message: AnswerMessage, transfer: TransferListItem[]): void;
  onJob(handler: (job: JobMessage) => void): void;
}

function processChannel(): Channel {
  return {
    send: (message) => {
      (process.send as (message: unknown) => boolean)(message);
    },
    onJob: (handler) => {
      process.on('message', (message) => handler(message as JobMessage));
      // The parent went away: nobody will ever read our answers.
      process.on('disconnect', () => process.exit(0));
    },
  };
}

function threadChannel(port: MessagePort): Channel {
  return {
    send: (message, transfer) => port.postMessage(message, transfer),
    onJob: (handler) => port.on('message', handler),
  };
}

const NO_TRANSFER: TransferListItem[] = [];

function servePool(init: PoolInit): void {
  const channel = init.kind === 'process' ? processChannel() : threadChannel(init.jobs);
  const crossProcess = init.kind === 'process';
  const functions: (AnyFunction | undefined)[] = [];
  const loading: (Promise<AnyFunction> | undefined)[] = [];
  const specs: { url: string; name: string }[] = [];

  const answerError = (id: number, error: unknown): void => {
    channel.send([id, STATUS_ERROR, errorToData(error)], NO_TRANSFER);
  };

  const answer = (id: number, value: unknown): void => {
    if (value === null || typeof value !== 'object') {
      // Primitives need no encoding (a function or symbol fails the clone below).
      try {
        channel.send([id, STATUS_VALUE, value], NO_TRANSFER);
      } catch (error) {
        answerError(id, cloneError(error, 'the result'));
      }
      return;
    }
    const context = encodeContext('the result', { crossProcess });
    let prepared: { status: Status; payload: unknown };
    try {
      prepared = encodeResult(value, context);
    } catch (error) {
      answerError(id, error);
      return;
    }
    try {
      channel.send([id, prepared.status, prepared.payload], context.transfer);
    } catch (error) {
      abandonTransfer(context);
      answerError(id, cloneError(error, 'the result'));
    }
  };

  const call = (id: number, fn: AnyFunction, args: readonly unknown[]): void => {
    let result: unknown;
    try {
      result = fn(...args);
    } catch (error) {
      answerError(id, error);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => answer(id, value),
        (error: unknown) => answerError(id, error),
      );
    } else {
      answer(id, result);
    }
  };

  const load = (index: number): Promise<AnyFunction> => {
    let promise = loading[index];
    if (promise === undefined) {
      const spec = specs[index] as { url: string; name: string };
      promise = loadFunction(spec.url, spec.name);
      loading[index] = promise;
      promise.then(
        (fn) => {
          functions[index] = fn;
        },
        () => {
          // Not cached: a later job retries (the module may have been fixed or installed).
          loading[index] = undefined;
        },
      );
    }
    return promise;
  };

  const onJob = (job: JobMessage): void => {
    const [id, index, url, exportName, rawArgs, encoded] = job;
    if (url !== null) specs[index] = { url, name: exportName as string };
    let args = rawArgs;
    if (encoded === 1) {
      try {
        args = decodeValue(rawArgs) as readonly unknown[];
      } catch (error) {
        answerError(id, error);
        return;
      }
    }
    const fn = functions[index];
    if (fn !== undefined) {
      call(id, fn, args);
      return;
    }
    load(index).then(
      (loaded) => call(id, loaded, args),
      (error: unknown) => answerError(id, error),
    );
  };
  channel.onJob(onJob);
}

// ---------------------------------------------------------------------------------------------
// Async threads

/** The thread's end of its link to the helper task. */
class ThreadLink implements AsyncThreadLink {
  private seq = 0;
  private readonly flag: Int32Array;

  constructor(
    private readonly port: MessagePort,
    flag: SharedArrayBuffer,
  ) {
    this.flag = new Int32Array(flag);
  }

  call(operation: unknown, timeout: number | null): unknown {
    const seq = ++this.seq;
    const context = encodeContext('AWAIT operation');
    const encoded = encodeValue(operation, context);
    try {
      this.port.postMessage([AWAIT_REQUEST, seq, encoded, timeout], context.transfer);
    } catch (error) {
      abandonTransfer(context);
      throw cloneError(error, 'the AWAIT operation');
    }
    for (;;) {
      const seen = Atomics.load(this.flag, 0);
      const received = receiveMessageOnPort(this.port) as { message: [number, Status, unknown] } | undefined;
      if (received === undefined) {
        Atomics.wait(this.flag, 0, seen);
        continue;
      }
      const [answerSeq, status, payload] = received.message;
      if (answerSeq !== seq) continue;
      if (status === STATUS_ERROR) throw errorFromData(payload as ErrorData);
      return status === STATUS_ENCODED ? decodeValue(payload) : payload;
    }
  }

  done(status: Status, payload: unknown, transfer: TransferListItem[]): void {
    this.port.postMessage([THREAD_DONE, status, payload], transfer);
  }
}

async function runThread(init: ThreadInit): Promise<void> {
  const link = new ThreadLink(init.port, init.flag);
  (globalThis as { [ASYNC_THREAD_KEY]?: AsyncThreadLink })[ASYNC_THREAD_KEY] = link;
  let result: unknown;
  try {
    const fn = await loadFunction(init.url, init.exportName);
    const args = init.encoded ? (decodeValue(init.args) as unknown[]) : init.args;
    result = fn(...args);
    if (isThenable(result)) result = await result;
  } catch (error) {
    link.done(STATUS_ERROR, errorToData(error), []);
    return;
  }
  const context = encodeContext('the async thread result');
  try {
    const prepared = encodeResult(result, context);
    link.done(prepared.status, prepared.payload, context.transfer);
  } catch (error) {
    abandonTransfer(context);
    link.done(STATUS_ERROR, errorToData(cloneError(error, 'the async thread result')), []);
  }
}

/** Entry point, called by bootstrap.mjs. */
export async function main(init: WorkerInit): Promise<void> {
  switch (init.kind) {
    case 'pool':
    case 'process':
      servePool(init);
      return;
    case 'thread':
      await runThread(init);
      return;
    default: {
      const unknown: never = init;
      throw new Error(`worker runtime: unknown role ${JSON.stringify(unknown)}`);
    }
  }
}
