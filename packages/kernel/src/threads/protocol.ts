// threads/protocol.ts
//
// The messages between the kernel's thread and its workers, as small arrays (cheap to clone).
//
// Pools (threads and processes):
//   job    kernel -> worker   [id, fnIndex, url | null, exportName | null, args, encoded]
//          (url and exportName only the first time a worker is given fnIndex)
//   answer worker -> kernel   [id, status, payload]
// Async threads, over their own MessagePort, with a SharedArrayBuffer counter the kernel side
// bumps and notifies after each answer (the thread blocks on it with Atomics.wait):
//   request thread -> kernel  [AWAIT_REQUEST, seq, operation, timeout | null]
//   answer  kernel -> thread  [seq, status, payload]
//   end     thread -> kernel  [THREAD_DONE, status, payload]

/** The payload is the value itself. */
export const STATUS_VALUE = 0;
/** The payload is an ErrorData. */
export const STATUS_ERROR = 1;
/** The payload is a value holding handles (universal objects) to decode. */
export const STATUS_ENCODED = 2;

/** Answer status. */
export type Status = typeof STATUS_VALUE | typeof STATUS_ERROR | typeof STATUS_ENCODED;

/** A job for a pool worker. */
export type JobMessage = [id: number, fnIndex: number, url: string | null, exportName: string | null, args: readonly unknown[], encoded: 0 | 1];
/** A pool worker's answer. */
export type AnswerMessage = [id: number, status: Status, payload: unknown];

/** An async thread asks the kernel to perform an operation. */
export const AWAIT_REQUEST = 0;
/** An async thread's function returned or threw. */
export const THREAD_DONE = 1;

/** What an async thread sends. */
export type ThreadMessage =
  | [kind: typeof AWAIT_REQUEST, seq: number, operation: unknown, timeout: number | null]
  | [kind: typeof THREAD_DONE, status: Status, payload: unknown];

/** Where an async thread finds its link to the kernel (shared by every copy of this package). */
export const ASYNC_THREAD_KEY = Symbol.for('curio-ts.asyncThread');

/** The async thread's side of its link, installed on globalThis by the worker runtime. */
export interface AsyncThreadLink {
  /** Send an operation to the helper task and block until it answers. */
  call(operation: unknown, timeout: number | null): unknown;
}
