// threads/universal.ts
//
// UniversalQueue: one queue usable at once from kernel tasks, from plain Promise code, and from
// worker threads, both blocking (`getSync`) and async (`await get()`). The owner's side is in
// queue-owner.ts, a remote copy's in queue-remote.ts, UniversalEvent in universal-event.ts.
//
// Discussion: where the queue lives.
//
// JavaScript threads share no objects, so a queue cannot simply be locked and shared as in
// Curio. A UniversalQueue's storage lives in the thread that created it (its *owner*); every
// other thread holds a *remote* copy made from a transferable handle: a MessagePort entangled
// with a port the owner listens on, plus small SharedArrayBuffers: the queue's (size, ticket
// count, unfinished count; see universal-common.ts) and the connection's flag, which the owner
// bumps and notifies after each reply. Every operation is decided in the owner, in order, so
// the usual queue invariants hold exactly (items handed to the longest waiter, no item given
// twice). Every message to the owner carries a ticket taken from the shared ticket count:
//
//   remote                                   owner
//   get():   post [GET, t, id]  ───────────► item available? reply [id, ITEM, item]
//                                            else remember the getter (FIFO with local ones)
//   getSync: post, then Atomics.wait on the flag, take the reply with receiveMessageOnPort
//   put():   unbounded: count it unfinished, post [PUT, t, 0, item]: done (no reply)
//            bounded: post [PUT, t, id, item] ► buffered or handed over, or the putter waits;
//                                            [id, ADMITTED] once it is in
//   cancel:  post [CANCEL, t, id] ─────────► still waiting? drop it, reply [id, WITHDRAWN]
//   join():  nothing unfinished? done. Else post [JOIN, t, id, epoch] ► the count has been
//            zero since (epoch moved on)? reply [id, ADMITTED]; else remember the joiner
//   taskDone: a compare-and-swap on the shared unfinished count (any thread, no message);
//            the one that brings it to zero posts [ZERO, t] so the owner releases the joiners
//
// A cancelled remote request races with the owner serving it. The owner answers every
// request exactly once: with its outcome, or with WITHDRAWN if the cancel arrived first. The
// remote side waits for that answer: if the item (or the admission of a put) came first, the
// operation completed and returns normally, and a kernel task's cancellation is delivered at
// its next blocking call instead, as the kernel's own queues do. So a cancelled or timed-out
// get never loses an item and a cancelled put never adds one behind the caller's back.
//
// Discussion: a put has taken effect when it returns.
//
// In Curio a put is done when it returns: whoever looks at the queue afterwards, in any thread,
// sees the item, and join() waits for it. An unbounded remote put returns without an answer,
// so its item is still in a MessagePort when, say, the worker's runInThread result (another
// port) reaches the owner, or another worker's join arrives on its own port; MessagePorts keep
// order only within one port. Two ways to make the put take effect before it returns:
//
// 1. The put waits for the owner's acknowledgement. Simple, but it is a round trip between
//    threads per item, and it waits on the owner's event loop: measured on the threads bench
//    (worker putSync -> kernel task get, 2 shared CPUs) at 23k-24k items/s, a tenth or less
//    of the 240k-440k/s of the same runs without (a bounded queue that never fills does
//    exactly this, so the figure is real, not estimated).
// 2. What the owner decides by is complete before the put returns (chosen). The unfinished
//    count is shared memory and the remote put adds to it itself, so join and `unfinished` are
//    exact in every thread at once. The item itself is in the owner's port once postMessage
//    returns (Node queues it on the receiving side synchronously), so the owner can take it
//    in synchronously with receiveMessageOnPort: every operation of the owner's thread first
//    takes in the messages sent before it began (`catchUp`, skipped with one Atomics.load
//    when the ticket count equals the count of messages taken), and messages of different
//    ports are handled in ticket order, so a put that returned before another thread's
//    get/put/join was made is handled before it (see `drain` in queue-owner.ts for why a
//    bounded read of the ports suffices). A get on a non-empty queue needs nothing (what
//    waits in a port is younger than what the buffer holds); on an empty queue it stops at
//    the first item.
//
// Cost of 2, measured with the same two bench rows, the code before and after alternating in
// one process (medians of 7 to 9 runs), on 2 CPUs shared with other jobs: throughput moved
// by noise both ways (worker -> kernel task 262k/s before vs 241k/s after, 652k vs 440k in
// another run; kernel task -> blocking worker get 15.4k vs 19.1k, 29.4k vs 38.1k), while the
// CPU time per item over all threads, the steadier figure there, stayed the same: 1.02 vs
// 1.01 us (worker -> kernel) and 24.8 vs 24.8 us (blocking get). A remote put costs two more
// atomic additions; the owner's calls one Atomics.load when nothing is in flight.
//
// `size()` in a remote thread remains a recent value: only the owner's is exact.
//
// Items are copied (structured clone) when they cross a thread; between users in the owner's
// own thread they are passed by reference, as with the kernel's Queue. The owner's thread never
// blocks: its side is served by MessagePort events, and `getSync`/`putSync` there throw rather
// than freeze the event loop (they work when they need not wait). A remote copy nobody holds
// any more closes its connection; if the owner's thread ends, remote calls fail with
// ERR_QUEUE_OWNER_GONE.

import { isMainThread } from 'node:worker_threads';
import { KernelUsageError } from '../errors.js';
import { waitExternal } from '../cancellation.js';
import { currentTaskOrNull } from '../traps.js';
import { LocalGetter, LocalJoiner, LocalPutter, OwnerSide } from './queue-owner.js';
import type { TaskState } from '../task.js';
import { RemoteSide, disconnectWhenCollected } from './queue-remote.js';
import {
  OP_GET,
  OP_JOIN,
  OP_PUT,
  OP_ZERO,
  QUEUE_SHARED_BYTES,
  RESOLVED,
  checkTimeout,
  counterView,
  finishOne,
  joinEpoch,
  unfinishedCount,
  lookupUniversal,
  newId,
  promiseWait,
  remember,
  wouldBlock,
} from './universal-common.js';
import type { AsyncOptions, SyncOptions, ToOwner, UniversalQueueHandle } from './universal-common.js';

/** Options of {@link UniversalQueue}. */
export interface UniversalQueueOptions {
  /** Maximum number of items held; 0 (default) is unbounded. */
  maxsize?: number;
}

/**
 * A FIFO queue usable at once from kernel tasks (`await q.get()`, cancellable), from plain
 * Promise code (`await q.get({ signal })`), and from worker threads given the queue as an
 * argument (blocking `q.getSync()` / `q.putSync()`, or the same async forms).
 *
 * Items are copied by structured clone when they cross threads. No item is lost or delivered
 * twice, whatever is cancelled or times out. The thread that creates the queue serves it from
 * its event loop and never blocks; see the module notes for the design.
 */
export class UniversalQueue<T> {
  /** Identifies this queue in every thread. */
  readonly id: string;
  /** Maximum number of items held (0: unbounded). */
  readonly maxsize: number;
  private readonly sizeBuffer: SharedArrayBuffer;
  private readonly sizeView: Int32Array;
  private readonly counter: BigUint64Array;
  private readonly owner: OwnerSide<T> | null;
  private readonly remote: RemoteSide | null;

  constructor(options?: UniversalQueueOptions | number) {
    const maxsize = typeof options === 'number' ? options : (options?.maxsize ?? 0);
    if (!Number.isInteger(maxsize) || maxsize < 0) throw new TypeError('UniversalQueue: maxsize must be an integer >= 0');
    this.id = newId();
    this.maxsize = maxsize;
    this.sizeBuffer = new SharedArrayBuffer(QUEUE_SHARED_BYTES);
    this.sizeView = new Int32Array(this.sizeBuffer, 0, 1);
    this.counter = counterView(this.sizeBuffer);
    this.owner = new OwnerSide<T>(maxsize, this.sizeBuffer);
    this.remote = null;
    remember(this.id, this as UniversalQueue<unknown>);
  }

  /**
   * The queue as seen from the thread that receives `handle`: the same queue (one object per
   * thread and id). Worker pools and async threads do this for you when a queue is an argument.
   */
  static fromHandle<T>(handle: UniversalQueueHandle): UniversalQueue<T> {
    const known = lookupUniversal(handle.id);
    if (known instanceof UniversalQueue) {
      // This thread already holds the queue: the new connection is not needed.
      handle.port?.close();
      return known as UniversalQueue<T>;
    }
    if (handle.port === null || handle.flag === null) {
      throw new KernelUsageError(`UniversalQueue ${handle.id} is not known in this thread`, 'ERR_UNKNOWN_HANDLE');
    }
    const queue = Object.create(UniversalQueue.prototype) as UniversalQueue<T>;
    const fields = queue as unknown as {
      id: string;
      maxsize: number;
      sizeBuffer: SharedArrayBuffer;
      sizeView: Int32Array;
      counter: BigUint64Array;
      owner: null;
      remote: RemoteSide;
    };
    fields.id = handle.id;
    fields.maxsize = handle.maxsize;
    fields.sizeBuffer = handle.size;
    fields.sizeView = new Int32Array(handle.size, 0, 1);
    fields.counter = counterView(handle.size);
    fields.owner = null;
    const remote = new RemoteSide(handle.port, handle.flag, handle.size);
    fields.remote = remote;
    remember(handle.id, queue as UniversalQueue<unknown>);
    disconnectWhenCollected(queue, remote);
    return queue;
  }

  /**
   * A transferable handle for another thread: pass it (with `handle.port` in the transfer
   * list) to a Worker and call {@link UniversalQueue.fromHandle} there. Each call makes a new
   * connection; the pools and async threads of this package do it for you.
   */
  handle(): UniversalQueueHandle {
    const link = this.owner !== null ? this.owner.newHandlePort() : (this.remote as RemoteSide).newHandlePort();
    return { __curio: 'uq', id: this.id, maxsize: this.maxsize, port: link.port, flag: link.flag, size: this.sizeBuffer };
  }

  /**
   * The handle for a thread that already holds this queue (no new connection): how AWAIT
   * operations name a queue to the kernel's thread.
   * @internal
   */
  knownHandle(): UniversalQueueHandle {
    return { __curio: 'uq', id: this.id, maxsize: this.maxsize, port: null, flag: null, size: this.sizeBuffer };
  }

  /** In the owner: how many remote copies are connected (0 elsewhere). */
  get connections(): number {
    return this.owner !== null ? this.owner.connections : 0;
  }

  /** Whether this thread is the queue's owner (it serves the other threads). */
  get isOwner(): boolean {
    return this.owner !== null;
  }

  /** Number of items held (exact in the owner; a recent value elsewhere). */
  size(): number {
    const owner = this.owner;
    if (owner === null) return Atomics.load(this.sizeView, 0);
    owner.catchUp();
    return owner.size();
  }

  /** Whether no item is held. */
  empty(): boolean {
    return this.size() === 0;
  }

  /** Whether a bounded queue holds `maxsize` items. */
  full(): boolean {
    return this.maxsize > 0 && this.size() >= this.maxsize;
  }

  /**
   * Take the next item, waiting while the queue is empty. In a kernel task the wait is a
   * cancellable trap (state `UQUEUE_GET`); from plain code, `options.signal` aborts it.
   */
  get(options?: AsyncOptions): Promise<T> {
    const owner = this.owner;
    if (owner === null) return this.ask<T>('UQUEUE_GET', options, (id) => [OP_GET, 0, id, 0]);
    const taken = owner.takeNow();
    if (taken !== null) return Promise.resolve(taken.item);
    return this.waitHere<T>('UQUEUE_GET', options, (settle) => {
      const getter = new LocalGetter<T>(settle);
      owner.addGetter(getter);
      return getter;
    });
  }

  /**
   * Add an item, waiting while a bounded queue is full (state `UQUEUE_PUT` in a kernel task).
   * An unbounded queue never waits. A cancelled put adds nothing.
   */
  put(item: T, options?: AsyncOptions): Promise<void> {
    const owner = this.owner;
    if (owner !== null) {
      owner.catchUp();
      if (owner.tryPut(item)) return RESOLVED;
      return this.waitHere<void>('UQUEUE_PUT', options, (settle) => {
        const putter = new LocalPutter<T>(item, () => settle(undefined));
        owner.addPutter(putter);
        return putter;
      });
    }
    const remote = this.remote as RemoteSide;
    if (this.maxsize === 0) {
      // Unbounded: the owner always has room; no answer needed (see the module notes).
      try {
        remote.putCounted(item);
      } catch (error) {
        return Promise.reject(error);
      }
      return RESOLVED;
    }
    return this.ask<void>('UQUEUE_PUT', options, (id) => [OP_PUT, 0, id, item, 0]);
  }

  /**
   * Take the next item, blocking the calling thread while the queue is empty (worker threads).
   * Throws {@link UniversalTimeout} after `options.timeout` ms. In the owning thread it
   * returns an item if one is there and otherwise throws KernelUsageError `ERR_WOULD_BLOCK`.
   */
  getSync(options?: SyncOptions): T {
    const timeout = checkTimeout(options);
    const owner = this.owner;
    if (owner !== null) {
      const taken = owner.takeNow();
      if (taken !== null) return taken.item;
      throw wouldBlock('UniversalQueue.getSync() in the owning thread');
    }
    if (isMainThread) throw wouldBlock('UniversalQueue.getSync() on the main thread');
    return (this.remote as RemoteSide).syncRequest((id) => [OP_GET, 0, id, 1], timeout, 'UniversalQueue.getSync()') as T;
  }

  /**
   * Add an item, blocking the calling thread while a bounded queue is full (worker threads).
   * Throws {@link UniversalTimeout} after `options.timeout` ms, having added nothing.
   */
  putSync(item: T, options?: SyncOptions): void {
    const timeout = checkTimeout(options);
    const owner = this.owner;
    if (owner !== null) {
      owner.catchUp();
      if (owner.tryPut(item)) return;
      throw wouldBlock('UniversalQueue.putSync() in the owning thread');
    }
    const remote = this.remote as RemoteSide;
    if (this.maxsize === 0) {
      remote.putCounted(item);
      return;
    }
    if (isMainThread) throw wouldBlock('UniversalQueue.putSync() on the main thread');
    remote.syncRequest((id) => [OP_PUT, 0, id, item, 1], timeout, 'UniversalQueue.putSync()');
  }

  // -------------------------------------------------------------------------------------------
  // taskDone / join (Python's and Curio's queue protocol)

  /** Items put and not yet marked done with {@link taskDone} (exact in every thread). */
  get unfinished(): number {
    return unfinishedCount(this.counter);
  }

  /**
   * Mark one item taken with `get` as fully processed, from any thread; never blocks. When
   * every item put has been marked done, the waiting {@link join}s return. Throws
   * KernelUsageError `ERR_TASK_DONE` when called more times than items were put.
   */
  taskDone(): void {
    if (!finishOne(this.counter)) return;
    if (this.owner !== null) this.owner.releaseJoiners();
    else (this.remote as RemoteSide).post([OP_ZERO, 0]);
  }

  /**
   * Wait until every item put has been marked done with {@link taskDone} (state `UQUEUE_JOIN`
   * in a kernel task, cancellable; `options.signal` aborts it in plain code).
   */
  join(options?: AsyncOptions): Promise<void> {
    const epoch = joinEpoch(this.counter);
    if (epoch === null) return RESOLVED;
    const owner = this.owner;
    if (owner === null) return this.ask<void>('UQUEUE_JOIN', options, (id) => [OP_JOIN, 0, id, 0, epoch]);
    return this.waitHere<void>('UQUEUE_JOIN', options, (settle) => {
      const joiner = new LocalJoiner(epoch, () => settle(undefined));
      owner.addJoiner(joiner);
      return joiner;
    });
  }

  /**
   * Block the calling thread until every item put has been marked done (worker threads).
   * Throws {@link UniversalTimeout} after `options.timeout` ms. In the owning thread it
   * returns if nothing is unfinished and otherwise throws KernelUsageError `ERR_WOULD_BLOCK`.
   */
  joinSync(options?: SyncOptions): void {
    const timeout = checkTimeout(options);
    const epoch = joinEpoch(this.counter);
    if (epoch === null) return;
    if (this.owner !== null) throw wouldBlock('UniversalQueue.joinSync() in the owning thread');
    if (isMainThread) throw wouldBlock('UniversalQueue.joinSync() on the main thread');
    (this.remote as RemoteSide).syncRequest((id) => [OP_JOIN, 0, id, 1, epoch], timeout, 'UniversalQueue.joinSync()');
  }

  /**
   * Wait in the owner's thread: `enlist(settle)` registers a waiter that calls `settle` when
   * served and returns it, so a cancelled task or an aborted call can withdraw it.
   */
  private waitHere<V>(state: TaskState, options: AsyncOptions | undefined, enlist: (settle: (value: V) => void) => { dead: boolean }): Promise<V> {
    const owner = this.owner as OwnerSide<T>;
    if (currentTaskOrNull() !== null) {
      return waitExternal<V>(state, (wake) => {
        const waiter = enlist((value) => wake.resolve(value));
        return () => owner.kill(waiter);
      });
    }
    return promiseWait<V>(options?.signal, (resolve, done) => {
      const waiter = enlist((value) => {
        done();
        resolve(value);
      });
      return () => owner.kill(waiter);
    });
  }

  /** Ask the owner from another thread: a cancellable trap in a kernel task, else a Promise. */
  private ask<V>(state: TaskState, options: AsyncOptions | undefined, make: (id: number) => ToOwner): Promise<V> {
    const remote = this.remote as RemoteSide;
    if (currentTaskOrNull() !== null) return remote.kernelRequest(this, make, state) as Promise<V>;
    return remote.promiseRequest(this, make, options?.signal) as Promise<V>;
  }

  /** `for await (const item of queue)` gets items forever. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) yield await this.get();
  }
}
