// node-runtime.ts
//
// The node runtime: the Runtime interface over node:net / node:tls (NodeByteStream,
// NodeListener), Promises, AbortSignals and Node's timers.
//
// Invariants:
// - `wait` is a plain Promise: nothing outside the call itself (its own timeout or signal,
//   handled by the engine) can abandon it, so a waiter's `cancel` is never called here, and a
//   "not yet" answer never arises.
// - `spawn` runs `fn` at once as a plain async call; `cancel()` aborts its signal (none with
//   `signal: false`), and that is all it can do: a loop stops because it watches the signal (or because what it awaits ends:
//   the engine closes its stream on abort, and a pending read of a closed stream ends with
//   null). `done` settles once `fn` has returned or thrown.
// - Timers and `now()` are Node's (`setTimeout`, `performance.now()`); there is no virtual clock.

import { nextTick } from 'node:process';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import { ConnectTimeoutError, NEVER_ABORTED } from '@curio-ts/client';
import type { Background, ConnectTarget, Runtime, SpawnOptions, Wake, Waiter } from '@curio-ts/client';
import { listenNode } from './node-listener.js';
import { NodeByteStream, clientTlsOptions, sharedRead, toConnectionError } from './node-stream.js';

/**
 * Open a socket to `target`. A plain (TCP or Unix) socket reads into the shared buffer of
 * node-stream.ts (sharedRead: no 'data' event, no Buffer made by Node per read); TLS uses
 * Node's 'data' events.
 */
export function connectNode(target: ConnectTarget, timeout: number | undefined): Promise<NodeByteStream> {
  return new Promise<NodeByteStream>((resolve, reject) => {
    let socket: net.Socket;
    let event = 'connect';
    const link: { stream: NodeByteStream | null } = { stream: null };
    if ('path' in target || target.tls === undefined) {
      const onread = sharedRead(link);
      socket = net.connect('path' in target ? { path: target.path, onread } : { host: target.host, port: target.port, onread });
    } else {
      socket = tls.connect({ host: target.host, port: target.port, ...clientTlsOptions(target.tls, target.host) });
      event = 'secureConnect';
    }
    const timer =
      timeout === undefined
        ? null
        : setTimeout(() => {
            socket.destroy();
            reject(new ConnectTimeoutError(`connect timed out after ${timeout} ms`));
          }, timeout);
    const fail = (error: Error): void => {
      if (timer !== null) clearTimeout(timer);
      reject(toConnectionError(error));
    };
    socket.once('error', fail);
    socket.once(event, () => {
      if (timer !== null) clearTimeout(timer);
      socket.off('error', fail);
      const stream = new NodeByteStream(socket, 'path' in target ? { path: target.path } : { host: target.host });
      link.stream = stream;
      resolve(stream);
    });
  });
}

// One shared Promise executor (no closure per call).
let capturedResolve: (value: never) => void = () => {};
let capturedReject: (error: unknown) => void = () => {};
function captureResolvers(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

class NodeWake<T> implements Wake<T> {
  constructor(
    readonly resolve: (value: T) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

const ignore = (): void => {};

/** An error that escaped a spawned function: reported as Node reports any other. */
function reportEscaped(error: unknown): void {
  void Promise.reject(error);
}

/**
 * A background activity of the node runtime (see the file header): an object rather than
 * closures, and an AbortController only for a function that uses its signal (Node makes the
 * signal itself lazily too, but `fn` is given it at once).
 */
class NodeActivity implements Background {
  readonly done: Promise<void>;
  private readonly controller: AbortController | null;

  constructor(fn: (signal: AbortSignal) => Promise<void>, withSignal: boolean) {
    const controller = withSignal ? new AbortController() : null;
    this.controller = controller;
    let running: Promise<void>;
    try {
      running = fn(controller === null ? NEVER_ABORTED : controller.signal);
    } catch (error) {
      running = Promise.reject(error);
    }
    this.done = running.then(
      ignore,
      controller === null
        ? reportEscaped
        : (error: unknown) => {
            const signal = controller.signal;
            if (signal.aborted && (error === signal.reason || (error as { name?: unknown } | null)?.name === 'AbortError')) return;
            // fn must handle its own errors: one that escapes is reported as Node reports any other.
            reportEscaped(error);
          },
    );
  }

  cancel(): void {
    this.controller?.abort();
  }
}

/**
 * Run `fn` in the background with a signal of its own (none with `signal: false`: see
 * SpawnOptions). An error that escapes `fn` becomes an unhandled rejection, unless it is the
 * abort of its own signal.
 */
export function spawnNode(fn: (signal: AbortSignal) => Promise<void>, options?: SpawnOptions): Background {
  return new NodeActivity(fn, options?.signal ?? true);
}

/** The Runtime of plain Node: Promises, node:net / node:tls, timers. */
export const nodeRuntime: Runtime = {
  name: 'node',
  sinkRunsActivity: true,
  connect: (target, options) => connectNode(target, options?.timeout),
  listen: (target, options) => listenNode(target, options?.backlog),
  wait<T>(_state: string, waiter: Waiter<T>): Promise<T> {
    const promise = new Promise<T>(captureResolvers);
    if (waiter.startWith !== undefined) waiter.startWith(capturedResolve as (value: T) => void, capturedReject);
    else waiter.start(new NodeWake<T>(capturedResolve as (value: T) => void, capturedReject));
    return promise;
  },
  spawn: (fn, _name, options) => spawnNode(fn, options),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  defer: (fn) => nextTick(fn),
  now: () => performance.now(),
  timer(ms, fn, options) {
    const handle = setTimeout(fn, ms);
    if (options?.unref === true) handle.unref();
    // A bound method, not a closure: no context object held with each armed timer.
    return handle.close.bind(handle) as () => void;
  },
};
