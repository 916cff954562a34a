// threads/queue-owner.ts
//
// The owner's side of a UniversalQueue: the items, the FIFO lines of waiting getters and
// putters (kernel tasks, Promises, and requests of remote copies, served in one order), and the
// connections of remote copies. See universal.ts for the design.
//
// Invariants: getters wait only while the queue is empty, putters only while it is full; an
// item goes to the longest-waiting live getter; a dead (cancelled, aborted, disconnected)
// waiter is skipped and never served; every remote request is answered exactly once.

import { receiveMessageOnPort } from 'node:worker_threads';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { KernelUsageError } from '../errors.js';
import { Deque } from '../deque.js';
import { errorToData } from './errors.js';
import {
  OP_ATTACH,
  OP_CANCEL,
  OP_GET,
  OP_JOIN,
  OP_PUT,
  OP_ZERO,
  R_ADMITTED,
  R_ERROR,
  R_ITEM,
  R_WITHDRAWN,
  addUnfinished,
  cloneFailure,
  counterEpoch,
  finishOne,
  unfinishedCount,
} from './universal-common.js';
import type { ToOwner, ToRemote } from './universal-common.js';

/** At most this many messages of one remote copy are handled per event-loop callback. */
const DRAIN_LIMIT = 256;

/** Someone waiting for an item. */
export interface Getter<T> {
  dead: boolean;
  /** Give the item; returns false if it could not be delivered (it stays with the queue). */
  deliver(item: T): boolean;
}

/** Someone waiting for room in a bounded queue. */
export interface Putter<T> {
  dead: boolean;
  readonly item: T;
  admit(): void;
}

/** Someone waiting in `join` until the unfinished count comes down to zero. */
export interface Joiner {
  dead: boolean;
  /** The counter's epoch when the join began: a later epoch releases it. */
  readonly epoch: number;
  release(): void;
}

/** One remote copy's connection. */
export class Peer {
  readonly pending = new Map<number, { dead: boolean; sync: boolean }>();
  constructor(
    readonly port: MessagePort,
    readonly flag: Int32Array,
  ) {}

  reply(message: ToRemote, sync: boolean): boolean {
    try {
      this.port.postMessage(message);
    } catch (error) {
      if (message[1] !== R_ITEM) throw error;
      this.port.postMessage([message[0], R_ERROR, errorToData(cloneFailure(error))]);
      if (sync) this.notify();
      return false;
    }
    if (sync) this.notify();
    return true;
  }

  notify(): void {
    Atomics.add(this.flag, 0, 1);
    Atomics.notify(this.flag, 0);
  }
}

/** A kernel task or plain Promise code of the owner's thread waiting in `get()`. */
export class LocalGetter<T> implements Getter<T> {
  dead = false;
  constructor(private readonly settle: (item: T) => void) {}
  deliver(item: T): boolean {
    this.settle(item);
    return true;
  }
}

/** A remote copy's get request. */
export class RemoteGetter<T> implements Getter<T> {
  dead = false;
  constructor(
    private readonly peer: Peer,
    private readonly id: number,
    readonly sync: boolean,
  ) {}
  deliver(item: T): boolean {
    this.peer.pending.delete(this.id);
    return this.peer.reply([this.id, R_ITEM, item], this.sync);
  }
}

/** A kernel task or Promise of the owner's thread waiting in `put()`. */
export class LocalPutter<T> implements Putter<T> {
  dead = false;
  constructor(
    readonly item: T,
    private readonly onAdmit: () => void,
  ) {}
  admit(): void {
    this.onAdmit();
  }
}

/** A remote copy's put request, waiting for room. */
export class RemotePutter<T> implements Putter<T> {
  dead = false;
  constructor(
    readonly item: T,
    private readonly peer: Peer,
    private readonly id: number,
    readonly sync: boolean,
  ) {}
  admit(): void {
    this.peer.pending.delete(this.id);
    this.peer.reply([this.id, R_ADMITTED], this.sync);
  }
}

/** A join of the owner's thread (a kernel task or plain Promise code). */
export class LocalJoiner implements Joiner {
  dead = false;
  constructor(
    readonly epoch: number,
    readonly release: () => void,
  ) {}
}

/** A remote copy's join request. */
export class RemoteJoiner implements Joiner {
  dead = false;
  constructor(
    readonly epoch: number,
    private readonly peer: Peer,
    private readonly id: number,
    readonly sync: boolean,
  ) {}
  release(): void {
    this.peer.pending.delete(this.id);
    this.peer.reply([this.id, R_ADMITTED], this.sync);
  }
}

/** Drop dead entries once they are the majority, so cancelled waits cannot pile up. */
function compact<W extends { dead: boolean }>(list: Deque<W>): void {
  let live = 0;
  for (const w of list) if (!w.dead) live++;
  if (live * 2 > list.length) return;
  const keep: W[] = [];
  for (const w of list) if (!w.dead) keep.push(w);
  list.clear();
  for (const w of keep) list.push(w);
}

/** The queue itself, in its owner's thread. */
export class OwnerSide<T> {
  private readonly items = new Deque<T>();
  private readonly getters = new Deque<Getter<T>>();
  private readonly putters = new Deque<Putter<T>>();
  private readonly joiners = new Deque<Joiner>();
  private deadWaiters = 0;
  private readonly peers = new Set<Peer>();

  constructor(
    private readonly maxsize: number,
    private readonly sizeView: Int32Array,
    private readonly counter: BigUint64Array,
  ) {}

  size(): number {
    return this.items.length;
  }

  get connections(): number {
    return this.peers.size;
  }

  private sizeChanged(): void {
    Atomics.store(this.sizeView, 0, this.items.length);
  }

  private noteDead(): void {
    if (++this.deadWaiters > 64) {
      this.deadWaiters = 0;
      compact(this.getters);
      compact(this.putters);
      compact(this.joiners);
    }
  }

  /** Place an item now if possible: to the longest waiting getter, or into the buffer. */
  tryPut(item: T): boolean {
    // Counted before it is handed over: a worker thread may get it and call taskDone at once.
    addUnfinished(this.counter);
    for (;;) {
      const getter = this.getters.shift();
      if (getter === undefined) break;
      if (getter.dead) continue;
      if (getter.deliver(item)) return true;
    }
    if (this.maxsize > 0 && this.items.length >= this.maxsize) {
      // Not accepted after all. (No joiner can have begun meanwhile: they begin in this thread.)
      if (finishOne(this.counter)) this.releaseJoiners();
      return false;
    }
    this.items.push(item);
    this.sizeChanged();
    return true;
  }

  /** Put back an item that a getter could not take, ahead of the others. */
  private unget(item: T): void {
    for (;;) {
      const getter = this.getters.shift();
      if (getter === undefined) break;
      if (getter.dead) continue;
      if (getter.deliver(item)) return;
    }
    this.items.unshift(item);
    this.sizeChanged();
  }

  /** Take an item now if there is one, letting the longest waiting putter in. */
  tryTake(): { item: T } | null {
    if (this.items.length === 0) return null;
    const item = this.items.shift() as T;
    for (;;) {
      const putter = this.putters.shift();
      if (putter === undefined) break;
      if (putter.dead) continue;
      addUnfinished(this.counter);
      this.items.push(putter.item);
      putter.admit();
      break;
    }
    this.sizeChanged();
    return { item };
  }

  addGetter(getter: Getter<T>): void {
    this.getters.push(getter);
  }

  addPutter(putter: Putter<T>): void {
    this.putters.push(putter);
  }

  /** Whether a join would wait (some item put is not marked done). */
  joinMustWait(): boolean {
    return unfinishedCount(this.counter) > 0;
  }

  /** The counter's epoch, which a new joiner records. */
  epoch(): number {
    return counterEpoch(this.counter);
  }

  addJoiner(joiner: Joiner): void {
    this.joiners.push(joiner);
  }

  /** The count came down to zero (here or in a remote thread): release the joins it ends. */
  releaseJoiners(): void {
    const epoch = counterEpoch(this.counter);
    const waiting: Joiner[] = [];
    for (;;) {
      const joiner = this.joiners.shift();
      if (joiner === undefined) break;
      if (joiner.dead) continue;
      if (joiner.epoch === epoch) waiting.push(joiner);
      else joiner.release();
    }
    for (const joiner of waiting) this.joiners.push(joiner);
  }

  kill(waiter: { dead: boolean }): void {
    if (waiter.dead) return;
    waiter.dead = true;
    this.noteDead();
  }

  // ----- remote copies

  attach(port: MessagePort, flag: SharedArrayBuffer): void {
    const peer = new Peer(port, new Int32Array(flag));
    this.peers.add(peer);
    port.on('message', (message: ToOwner) => {
      this.onPeerMessage(peer, message);
      // Take what else has arrived in the same turn: a burst of puts then wakes a waiting task
      // once, and the rest waits in the buffer, where gets take it without blocking.
      for (let i = 0; i < DRAIN_LIMIT; i++) {
        const next = receiveMessageOnPort(port) as { message: ToOwner } | undefined;
        if (next === undefined) break;
        this.onPeerMessage(peer, next.message);
      }
    });
    port.on('close', () => this.detach(peer));
    port.unref();
  }

  private detach(peer: Peer): void {
    if (!this.peers.delete(peer)) return;
    // The remote thread is gone: its waits can never be answered. Withdraw them.
    for (const waiter of peer.pending.values()) this.kill(waiter);
    peer.pending.clear();
  }

  private onPeerMessage(peer: Peer, message: ToOwner): void {
    switch (message[0]) {
      case OP_GET: {
        const id = message[1];
        const sync = message[2] === 1;
        const taken = this.tryTake();
        if (taken !== null) {
          if (!peer.reply([id, R_ITEM, taken.item], sync)) this.unget(taken.item);
          return;
        }
        const getter = new RemoteGetter<T>(peer, id, sync);
        peer.pending.set(id, getter);
        this.addGetter(getter);
        return;
      }
      case OP_PUT: {
        const id = message[1];
        const item = message[2] as T;
        const sync = message[3] === 1;
        if (this.tryPut(item)) {
          if (id !== 0) peer.reply([id, R_ADMITTED], sync);
          return;
        }
        const putter = new RemotePutter<T>(item, peer, id, sync);
        peer.pending.set(id, putter);
        this.addPutter(putter);
        return;
      }
      case OP_CANCEL: {
        const id = message[1];
        const waiter = peer.pending.get(id);
        // Unknown: already answered; the remote side takes that answer.
        if (waiter === undefined) return;
        peer.pending.delete(id);
        this.kill(waiter);
        peer.reply([id, R_WITHDRAWN], waiter.sync);
        return;
      }
      case OP_ATTACH:
        this.attach(message[1], message[2]);
        return;
      case OP_JOIN: {
        const id = message[1];
        const sync = message[2] === 1;
        if (!this.joinMustWait()) {
          peer.reply([id, R_ADMITTED], sync);
          return;
        }
        const joiner = new RemoteJoiner(this.epoch(), peer, id, sync);
        peer.pending.set(id, joiner);
        this.addJoiner(joiner);
        return;
      }
      case OP_ZERO:
        this.releaseJoiners();
        return;
      default: {
        const unknown: never = message;
        throw new KernelUsageError(`UniversalQueue: unknown message ${String(unknown)}`);
      }
    }
  }

  newHandlePort(): { port: MessagePort; flag: SharedArrayBuffer } {
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    this.attach(port1, flag);
    return { port: port2, flag };
  }
}
