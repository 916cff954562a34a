// threads/launch.ts
//
// How the kernel starts a worker thread or child process: which files, which flags.
//
// Every worker starts at bootstrap.mjs (plain JavaScript, next to this file in both src/ and
// dist/), which loads the worker runtime: worker-runtime.ts when the kernel itself runs from
// its TypeScript sources (this repository's tests), worker-runtime.js from dist/ (users). In
// the first case the worker also gets `--conditions=@curio-ts/source`, so that a worker module
// importing '@curio-ts/kernel' loads the same source files as the runtime: one copy of the
// kernel per thread.

import type { MessagePort } from 'node:worker_threads';

const HERE = import.meta.url;

/** Whether the kernel runs from its TypeScript sources. */
export const FROM_SOURCE = new URL(HERE).pathname.endsWith('.ts');

/** The first module of every worker thread and child process. */
export const BOOTSTRAP_URL = new URL('./bootstrap.mjs', HERE);

/** The worker runtime's URL (TypeScript from src/, JavaScript from dist/). */
export const RUNTIME_URL = new URL(FROM_SOURCE ? './worker-runtime.ts' : './worker-runtime.js', HERE).href;

/** Node flags for workers and children. */
export function workerExecArgv(): string[] {
  return FROM_SOURCE ? ['--conditions=@curio-ts/source'] : [];
}

/** Start data of a ThreadPool worker. */
export interface ThreadPoolInit {
  readonly kind: 'pool';
  readonly runtime: string;
  /** Jobs arrive and answers leave on this port. */
  readonly jobs: MessagePort;
}

/** Start data of a ProcessPool child (jobs over IPC). */
export interface ProcessInit {
  readonly kind: 'process';
  readonly runtime: string;
}

/** Start data of a pool worker thread or a child process. */
export type PoolInit = ThreadPoolInit | ProcessInit;

/** Start data of an async thread. */
export interface ThreadInit {
  readonly kind: 'thread';
  readonly runtime: string;
  readonly url: string;
  readonly exportName: string;
  readonly args: readonly unknown[];
  /** Whether `args` hold handles to decode. */
  readonly encoded: boolean;
  readonly port: MessagePort;
  readonly flag: SharedArrayBuffer;
}

/** Any worker's start data. */
export type WorkerInit = PoolInit | ThreadInit;
