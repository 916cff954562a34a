// threads/queue-remote.ts
//
// A remote copy's side of a UniversalQueue: requests to the owner in three flavours (a kernel
// task's cancellable trap, a Promise abortable by a signal, a blocking call for worker
// threads) and their answers. See universal.ts for the protocol, and why a request that raced
// with its own cancellation completes or takes nothing, never half.

import { receiveMessageOnPort } from 'node:worker_threads';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { CancelledError } from '../errors.js';
import { disableCancellation, setCancellation, waitExternal } from '../cancellation.js';
import type { ExternalWake } from '../traps.js';
import { UniversalTimeout, errorFromData, errorToData } from './errors.js';
import type { ErrorData } from './errors.js';
import {
  OP_ATTACH,
  OP_CANCEL,
  OP_PUT,
  OP_ZERO,
  R_ERROR,
  R_WITHDRAWN,
  abortReason,
  addUnfinished,
  cloneFailure,
  counterView,
  finishOne,
  ownerGone,
  ticketsView,
} from './universal-common.js';
import type { ToOwner, ToRemote } from './universal-common.js';

/**
 * A remote copy nobody in its thread can reach any more closes its connection, so the owner
 * forgets it (a pool worker handed a thousand queues keeps none of them). A copy with requests
 * in flight is kept reachable by its RemoteSide until they are answered.
 */
const disconnect = new FinalizationRegistry<RemoteSide>((remote) => remote.close());

/** Close `remote`'s connection once `queue` (its copy) has been collected. */
export function disconnectWhenCollected(queue: object, remote: RemoteSide): void {
  disconnect.register(queue, remote);
}

/** The owner's answer to a request. */
interface Answer {
  readonly kind: number;
  readonly value: unknown;
}

/** One request in flight to the owner. */
interface Pending {
  cancelling: boolean;
  /** Called once with the owner's answer. */
  settle(kind: number, value: unknown): void;
}

/** A remote copy's connection to the owner: requests and their answers. */
export class RemoteSide {
  private lastId = 0;
  private readonly pending = new Map<number, Pending>();
  private listening = false;
  private refs = 0;
  private readonly flag: Int32Array;
  private readonly tickets: Int32Array;
  private readonly counter: BigUint64Array;

  private gone = false;

  /** `shared` is the queue's shared buffer (tickets and the unfinished count). */
  constructor(
    private readonly port: MessagePort,
    flag: SharedArrayBuffer,
    shared: SharedArrayBuffer,
  ) {
    this.flag = new Int32Array(flag);
    this.tickets = ticketsView(shared);
    this.counter = counterView(shared);
    // The owner's thread ended: nothing will answer. Fail what waits, refuse what comes.
    port.once('close', () => {
      this.gone = true;
      const failure = errorToData(ownerGone());
      for (const [id, entry] of this.pending) {
        this.pending.delete(id);
        entry.settle(R_ERROR, failure);
      }
    });
  }

  private dispatch = (message: ToRemote): void => {
    const entry = this.pending.get(message[0]);
    if (entry === undefined) return;
    this.pending.delete(message[0]);
    entry.settle(message[1], message[2]);
  };

  private listen(): void {
    if (!this.listening) {
      this.listening = true;
      this.port.on('message', this.dispatch);
      this.port.unref();
    }
  }

  /** The queue object, kept reachable while async requests are in flight (else weakly held). */
  private anchored: object | null = null;

  private hold(anchor: object): void {
    if (this.refs++ === 0) {
      this.port.ref();
      this.anchored = anchor;
    }
  }

  private release(): void {
    if (--this.refs === 0) {
      this.port.unref();
      this.anchored = null;
    }
  }

  /** Close the connection to the owner (the copy was collected). */
  close(): void {
    this.port.close();
  }

  /**
   * Send `message` to the owner with the next ticket. If it cannot be copied, `undo` runs, the
   * ticket is sent alone (the owner's count of messages stays exact; it also releases joiners
   * that `undo` may have made due) and the failure is thrown.
   */
  private send(message: ToOwner, transfer?: MessagePort[], undo?: () => void): void {
    if (this.gone) throw ownerGone();
    const ticket = Atomics.add(this.tickets, 0, 1);
    message[1] = ticket;
    try {
      this.port.postMessage(message, transfer);
    } catch (error) {
      undo?.();
      this.port.postMessage([OP_ZERO, ticket]);
      throw cloneFailure(error);
    }
  }

  /** Post without waiting for any answer. */
  post(message: ToOwner): void {
    this.send(message);
  }

  /**
   * An unbounded queue's put: counted as unfinished here and sent before this returns, so that
   * every thread's join waits for it and the owner takes it in before it serves anything that
   * comes later (see universal.ts). Never answered.
   */
  putCounted(item: unknown): void {
    if (this.gone) throw ownerGone();
    addUnfinished(this.counter);
    this.send([OP_PUT, 0, 0, item, 0], undefined, () => {
      try {
        finishOne(this.counter);
      } catch {
        // Taken meanwhile by a taskDone too many, which then succeeded in its stead.
      }
    });
  }

  /** Start a request; `settle` receives the owner's answer. Throws if the message cannot be sent. */
  private start(message: ToOwner, id: number, settle: (kind: number, value: unknown) => void): Pending {
    const entry: Pending = { cancelling: false, settle };
    this.pending.set(id, entry);
    try {
      this.send(message);
    } catch (error) {
      this.pending.delete(id);
      throw error;
    }
    return entry;
  }

  private cancel(id: number, entry: Pending): void {
    entry.cancelling = true;
    // Gone: the close handler has failed every request in flight.
    if (!this.gone) this.send([OP_CANCEL, 0, id]);
  }

  /** A request from a kernel task: cancellable, never losing the outcome (see the header). */
  async kernelRequest(anchor: object, make: (id: number) => ToOwner, state: string): Promise<unknown> {
    this.listen();
    const id = ++this.lastId;
    const race: { entry: Pending | null; answer: Answer | null; late: ExternalWake | null } = {
      entry: null,
      answer: null,
      late: null,
    };
    try {
      return await waitExternal<unknown>(state, (wake) => {
        const entry = this.start(make(id), id, (kind, value) => {
          this.release();
          if (race.late !== null) race.late.resolve({ kind, value });
          else if (entry.cancelling) race.answer = { kind, value };
          else settleWake(wake, kind, value);
        });
        this.hold(anchor);
        race.entry = entry;
        return () => this.cancel(id, entry);
      });
    } catch (error) {
      if (!(error instanceof CancelledError) || race.entry === null || !race.entry.cancelling) throw error;
      // Wait (shielded) for the owner's answer to the cancel: did the request complete first?
      const outcome =
        race.answer ??
        (await disableCancellation(() =>
          waitExternal<Answer>(`${state}_CANCEL`, (wake) => {
            race.late = wake;
            return () => {};
          }),
        ));
      // Withdrawn, or failed: the request did not happen, and the cancellation stands.
      if (outcome.kind === R_WITHDRAWN || outcome.kind === R_ERROR) throw error;
      // It completed: return its result; the cancellation is delivered at the next blocking call.
      setCancellation(error);
      return outcome.value;
    }
  }

  /** A request from plain Promise code, optionally abortable. */
  promiseRequest(anchor: object, make: (id: number) => ToOwner, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    this.listen();
    const id = ++this.lastId;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => this.cancel(id, entry);
      const entry = this.start(make(id), id, (kind, value) => {
        this.release();
        signal?.removeEventListener('abort', onAbort);
        if (kind === R_WITHDRAWN) reject(abortReason(signal as AbortSignal));
        else if (kind === R_ERROR) reject(errorFromData(value as ErrorData));
        else resolve(value);
      });
      this.hold(anchor);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A blocking request (worker threads only). */
  syncRequest(make: (id: number) => ToOwner, timeout: number, what: string): unknown {
    const id = ++this.lastId;
    const got: { answer: Answer | null } = { answer: null };
    const entry = this.start(make(id), id, (kind, value) => {
      got.answer = { kind, value };
    });
    const deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
    for (;;) {
      const seen = Atomics.load(this.flag, 0);
      this.drain();
      if (got.answer !== null) break;
      if (entry.cancelling) {
        Atomics.wait(this.flag, 0, seen);
        continue;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        this.cancel(id, entry);
        continue;
      }
      Atomics.wait(this.flag, 0, seen, left === Infinity ? undefined : left);
    }
    const answer = got.answer as Answer;
    if (answer.kind === R_WITHDRAWN) throw new UniversalTimeout(`${what} timed out after ${timeout} ms`);
    if (answer.kind === R_ERROR) throw errorFromData(answer.value as ErrorData);
    return answer.value;
  }

  /** Take every answer already sent, in order. */
  private drain(): void {
    for (;;) {
      const received = receiveMessageOnPort(this.port) as { message: ToRemote } | undefined;
      if (received === undefined) return;
      this.dispatch(received.message);
    }
  }

  newHandlePort(): { port: MessagePort; flag: SharedArrayBuffer } {
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    this.send([OP_ATTACH, 0, port1, flag], [port1]);
    return { port: port2, flag };
  }
}

function settleWake(wake: ExternalWake, kind: number, value: unknown): void {
  if (kind === R_ERROR) wake.reject(errorFromData(value as ErrorData));
  else wake.resolve(value);
}
