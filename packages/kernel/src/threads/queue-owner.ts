// threads/queue-owner.ts
//
// The owner's side of a UniversalQueue: the items, the FIFO lines of waiting getters and
// putters (kernel tasks, Promises, and requests of remote copies, served in one order), and the
// connections of remote copies. See universal.ts for the design.
//
// Invariants: getters wait only while the queue is empty, putters only while it is full; an
// item goes to the longest-waiting live getter; a dead (cancelled, aborted, disconnected)
// waiter is skipped and never served; every remote request is answered exactly once (a
// request of a copy whose thread is gone is dropped unanswered: nobody is left to answer).
// Messages of remote copies are handled in ticket order, and one is handled only once every
// message sent before it was taken (see `drain`); the owner's own calls first take in every
// message sent before they began (`catchUp`).

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
  counterView,
  finishOne,
  ticketBefore,
  ticketsView,
} from './universal-common.js';
import type { ToOwner, ToRemote } from './universal-common.js';

/** At most this many messages of one remote copy are taken per event-loop callback. */
const DRAIN_LIMIT = 256;

/** A message of a remote copy, taken from its port, waiting for its turn. */
interface Taken {
  readonly peer: Peer;
  readonly message: ToOwner;
}

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
  /** The remote thread is gone (its port closed). */
  closed = false;
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
  private readonly sizeView: Int32Array;
  private readonly counter: BigUint64Array;
  private readonly tickets: Int32Array;
  /** How many messages have been taken from the peers' ports (wraps like the ticket count). */
  private taken = 0;
  /** Messages taken and not yet handled: their turn (ticket order) has not come. */
  private held: Taken[] = [];
  /** Whether `held` is in ticket order (it is while one port fills it). */
  private heldInOrder = true;
  private draining = false;
  private drainScheduled = false;

  /** `shared` is the queue's shared buffer (size, tickets, unfinished count). */
  constructor(
    private readonly maxsize: number,
    shared: SharedArrayBuffer,
  ) {
    this.sizeView = new Int32Array(shared, 0, 1);
    this.counter = counterView(shared);
    this.tickets = ticketsView(shared);
  }

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

  /**
   * Place an item now if possible: to the longest waiting getter, or into the buffer. `counted`:
   * the put was already counted as unfinished (a remote copy's put to an unbounded queue).
   */
  tryPut(item: T, counted = false): boolean {
    // Counted before it is handed over: a worker thread may get it and call taskDone at once.
    if (!counted) addUnfinished(this.counter);
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

  /**
   * Take an item for a call of the owner's thread. Items held are older than any put still in
   * a port, so only an empty queue must take in what the ports hold first.
   */
  takeNow(): { item: T } | null {
    if (this.items.length === 0) this.catchUp(true);
    return this.tryTake();
  }

  addGetter(getter: Getter<T>): void {
    this.getters.push(getter);
  }

  addPutter(putter: Putter<T>): void {
    this.putters.push(putter);
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
      this.take(peer, message);
      // Take what else has arrived meanwhile: a burst of puts then wakes a waiting task once,
      // and the rest waits in the buffer, where gets take it without blocking.
      this.drain(DRAIN_LIMIT);
    });
    port.on('close', () => this.detach(peer));
    port.unref();
  }

  private detach(peer: Peer): void {
    if (!this.peers.delete(peer)) return;
    peer.closed = true;
    // The remote thread is gone: its waits can never be answered. Withdraw them.
    for (const waiter of peer.pending.values()) this.kill(waiter);
    peer.pending.clear();
  }

  /**
   * Take in every message a remote copy sent before now: the owner's own calls begin with
   * this, so a remote put that has returned is in the queue before they look at it. With
   * `untilItem`, stop as soon as the queue holds an item: what is still in the ports came later.
   * Works in bounded steps, so a backlog passes through the buffer a slice at a time.
   */
  catchUp(untilItem = false): void {
    const start = Atomics.load(this.tickets, 0);
    if (this.held.length === 0 && start === this.taken) return;
    for (;;) {
      const due = this.drain(DRAIN_LIMIT);
      if (!ticketBefore(due, start)) return;
      if (untilItem && this.items.length > 0) return;
    }
  }

  private take(peer: Peer, message: ToOwner): void {
    this.taken = (this.taken + 1) | 0;
    // A new connection is made at once: its messages may be due in this very drain.
    if (message[0] === OP_ATTACH) {
      this.attach(message[2], message[3]);
      return;
    }
    const held = this.held;
    if (held.length > 0 && ticketBefore(message[1], (held[held.length - 1] as Taken).message[1])) this.heldInOrder = false;
    held.push({ peer, message });
  }

  /**
   * Take messages from every port and handle, in ticket order, those whose turn has come.
   *
   * A message is due when every message sent before it has been taken. Let `now` be the ticket
   * count when the drain begins. Each port is read until it is empty or yields a ticket from
   * `now` on (later messages of a port have later tickets). A message X sent before a message Y
   * with a ticket before `now` was posted before Y took its ticket, so before this drain began,
   * and is taken here too: every message with a ticket before `now` is due. A port left unread
   * after `limit` messages lowers the bound to the ticket after the last taken from it. The rest
   * wait in `held` for a later drain (scheduled at once). Returns the bound: every message
   * with a ticket before it has been handled.
   *
   * A ticket taken and never sent (a thread terminated between the two) leaves `taken` behind
   * the ticket count for good: each call of the owner then reads every port once, uselessly
   * but harmlessly. A copy whose message cannot be cloned sends its ticket alone instead.
   */
  private drain(limit: number): number {
    const now = Atomics.load(this.tickets, 0);
    if (this.draining) return now;
    this.draining = true;
    let due = now;
    try {
      if (now !== this.taken) {
        // Peers attached during the loop are visited too (Set iteration).
        for (const peer of this.peers) {
          for (let n = 0; ; n++) {
            const next = receiveMessageOnPort(peer.port) as { message: ToOwner } | undefined;
            if (next === undefined) break;
            const ticket = next.message[1];
            this.take(peer, next.message);
            if (!ticketBefore(ticket, now)) break;
            if (n + 1 >= limit) {
              if (ticketBefore(ticket + 1, due)) due = (ticket + 1) | 0;
              break;
            }
          }
        }
      }
      this.handleDue(due);
    } finally {
      this.draining = false;
    }
    if (this.held.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain(DRAIN_LIMIT);
      });
    }
    return due;
  }

  /** Handle the held messages with tickets before `due`, in ticket order. */
  private handleDue(due: number): void {
    const held = this.held;
    if (held.length === 0) return;
    // Stable, and each port's messages are already in ticket order.
    if (!this.heldInOrder) held.sort((a, b) => (a.message[1] - b.message[1]) | 0);
    this.heldInOrder = true;
    let i = 0;
    for (; i < held.length; i++) {
      const { peer, message } = held[i] as Taken;
      if (!ticketBefore(message[1], due)) break;
      this.handle(peer, message);
    }
    if (i === held.length) held.length = 0;
    else this.held = held.slice(i);
  }

  private handle(peer: Peer, message: ToOwner): void {
    switch (message[0]) {
      case OP_GET: {
        if (peer.closed) return;
        const id = message[2];
        const sync = message[3] === 1;
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
        const id = message[2];
        const item = message[3] as T;
        // An unbounded queue's put, counted in the remote thread: it has happened already.
        if (id === 0) {
          this.tryPut(item, true);
          return;
        }
        if (peer.closed) return;
        const sync = message[4] === 1;
        if (this.tryPut(item)) {
          peer.reply([id, R_ADMITTED], sync);
          return;
        }
        const putter = new RemotePutter<T>(item, peer, id, sync);
        peer.pending.set(id, putter);
        this.addPutter(putter);
        return;
      }
      case OP_CANCEL: {
        const id = message[2];
        const waiter = peer.pending.get(id);
        // Unknown: already answered; the remote side takes that answer.
        if (waiter === undefined) return;
        peer.pending.delete(id);
        this.kill(waiter);
        peer.reply([id, R_WITHDRAWN], waiter.sync);
        return;
      }
      case OP_ATTACH:
        this.attach(message[2], message[3]);
        return;
      case OP_JOIN: {
        if (peer.closed) return;
        const id = message[2];
        const sync = message[3] === 1;
        const epoch = message[4];
        // The count has come down to zero since the join began.
        if (counterEpoch(this.counter) !== epoch) {
          peer.reply([id, R_ADMITTED], sync);
          return;
        }
        const joiner = new RemoteJoiner(epoch, peer, id, sync);
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
