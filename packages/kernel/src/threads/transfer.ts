// threads/transfer.ts
//
// What happens to arguments and results on their way to another thread. Most values are
// simply structured-cloned by postMessage. Three kinds are not copied but *linked*:
//
// - a UniversalQueue becomes a handle (a new MessagePort to its owner, transferred); a thread
//   that already holds the queue keeps its copy and closes the new port;
// - a UniversalEvent becomes a handle (its SharedArrayBuffer);
// - a kernel object (Lock, Event, Queue, Semaphore, Result, ...) becomes a `KernelRef`, an id
//   in a table the receiving async thread's helper task keeps. Only async threads can use one
//   (through AWAIT); given to runInThread it is an error, not a silent useless copy.
//
// The walk looks into arrays and plain objects (8 levels deep) and copies only what it changes,
// so ordinary arguments cost one type check each.

import type { TransferListItem } from 'node:worker_threads';
import { Event, Lock, RLock, Semaphore, Condition, Result } from '../sync.js';
import { Queue, LifoQueue, PriorityQueue } from '../queue.js';
import { WorkerError } from './errors.js';
import { UniversalQueue } from './universal.js';
import { UniversalEvent } from './universal-event.js';
import type { UniversalEventHandle, UniversalQueueHandle } from './universal-common.js';

declare const refTarget: unique symbol;

/**
 * A kernel object (Lock, Event, Queue, Semaphore, ...) as an async thread sees it: an opaque
 * reference. Use it with `AWAIT(op.acquire(lock))`, `AWAIT(op.call(ref, 'method', ...args))`.
 */
export interface KernelRef<T = unknown> {
  readonly __curio: 'ref';
  readonly id: number;
  /** The class name of the kernel object, for messages. */
  readonly kind: string;
  /** Type-level only. */
  readonly [refTarget]?: T;
}

const KERNEL_CLASSES: readonly (abstract new (...args: never[]) => object)[] = [
  Lock,
  RLock,
  Semaphore,
  Condition,
  Event,
  Result,
  Queue,
  LifoQueue,
  PriorityQueue,
];

/** Whether `value` is a kernel object that must stay in its kernel. */
export function isKernelObject(value: object): boolean {
  for (const cls of KERNEL_CLASSES) if (value instanceof cls) return true;
  return false;
}

/** How the sending side links special values. */
export interface EncodeContext {
  /** Ports to transfer with the message. */
  readonly transfer: TransferListItem[];
  /** Universal objects linked by this message (a sender may keep them alive). */
  readonly linked: object[];
  /** Turn a kernel object into a reference, or null when the receiver cannot use one. */
  readonly ref: ((object: object) => KernelRef) | null;
  /** The receiver is another process: nothing can be linked. */
  readonly crossProcess: boolean;
  /** What is being sent, for error messages (computed only when one is needed). */
  readonly what: string | (() => string);
}

const MAX_DEPTH = 8;

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Replace linked values for sending; returns `value` itself when nothing changed. */
export function encodeValue(value: unknown, context: EncodeContext, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof UniversalQueue) return encodeQueue(value as UniversalQueue<unknown>, context);
  if (value instanceof UniversalEvent) {
    if (context.crossProcess) throw notLinkable('UniversalEvent', context);
    context.linked.push(value);
    return value.handle();
  }
  if (depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let out: unknown[] = value;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const encoded = encodeValue(item, context, depth + 1);
      if (encoded !== item) {
        if (out === value) out = value.slice();
        out[i] = encoded;
      }
    }
    return out;
  }
  if (isPlainObject(value)) {
    let out: Record<string, unknown> = value;
    for (const key of Object.keys(value)) {
      const item = value[key];
      const encoded = encodeValue(item, context, depth + 1);
      if (encoded !== item) {
        if (out === value) out = { ...value };
        out[key] = encoded;
      }
    }
    return out;
  }
  if (isKernelObject(value)) {
    if (context.ref === null || context.crossProcess) {
      throw new WorkerError(
        `${describe(context)}: a kernel ${value.constructor.name} cannot be used in another thread; ` +
          'pass it to spawnThread() (async threads reach it through AWAIT) or use a UniversalQueue/UniversalEvent',
        { code: 'ERR_WORKER_DATA_CLONE' },
      );
    }
    return context.ref(value);
  }
  return value;
}

function encodeQueue(queue: UniversalQueue<unknown>, context: EncodeContext): UniversalQueueHandle {
  if (context.crossProcess) throw notLinkable('UniversalQueue', context);
  const handle = queue.handle();
  context.transfer.push(handle.port as TransferListItem);
  context.linked.push(queue);
  return handle;
}

function describe(context: EncodeContext): string {
  return typeof context.what === 'string' ? context.what : context.what();
}

function notLinkable(kind: string, context: EncodeContext): WorkerError {
  return new WorkerError(
    `${describe(context)}: a ${kind} cannot be sent to another process (it links threads of one process only)`,
    { code: 'ERR_WORKER_DATA_CLONE' },
  );
}

/** Make an {@link EncodeContext}. */
export function encodeContext(
  what: string | (() => string),
  options: { ref?: (object: object) => KernelRef; crossProcess?: boolean } = {},
): EncodeContext {
  return {
    transfer: [],
    linked: [],
    ref: options.ref ?? null,
    crossProcess: options.crossProcess ?? false,
    what,
  };
}

/** A message could not be sent: close the ports it would have carried (their owners drop them). */
export function abandonTransfer(context: EncodeContext): void {
  for (const item of context.transfer) {
    if (typeof (item as { close?: unknown }).close === 'function') (item as { close(): void }).close();
  }
}

/** Turn received handles back into objects; returns `value` itself when nothing changed. */
export function decodeValue(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let out: unknown[] = value;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const decoded = decodeValue(item, depth + 1);
      if (decoded !== item) {
        if (out === value) out = value.slice();
        out[i] = decoded;
      }
    }
    return out;
  }
  if (!isPlainObject(value)) return value;
  switch (value.__curio) {
    case 'uq':
      return UniversalQueue.fromHandle(value as unknown as UniversalQueueHandle);
    case 'ue':
      return UniversalEvent.fromHandle(value as unknown as UniversalEventHandle);
    case 'ref':
      return Object.freeze(value);
    default:
      break;
  }
  let out: Record<string, unknown> = value;
  for (const key of Object.keys(value)) {
    const item = value[key];
    const decoded = decodeValue(item, depth + 1);
    if (decoded !== item) {
      if (out === value) out = { ...value };
      out[key] = decoded;
    }
  }
  return out;
}

/** Whether a value is a {@link KernelRef}. */
export function isKernelRef(value: unknown): value is KernelRef {
  return typeof value === 'object' && value !== null && (value as { __curio?: unknown }).__curio === 'ref';
}
