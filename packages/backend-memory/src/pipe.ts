// pipe.ts
//
// One direction of an in-process connection: the bytes one end writes, on their way to the
// other end's reads, with the faults a test asked for applied on the way.
//
//   writer ──write()──► [split by chunkSize and fault positions] ──► wire ──► queue ──read()──► reader
//                                                                  (latency, stalls)
//
// Invariants:
// - Order is kept: every chunk, injected bytes, end of stream and reset leave the wire in the
//   order they entered it. A chunk is delivered as written (the writer's own bytes, no copy),
//   or cut into subarrays by `chunkSize` and at fault positions.
// - Nothing arrives within the writer's burst: without a delay, what is written (or the end of
//   stream) reaches the reader at the end of the burst (the clock's `defer`), as the peer of a
//   socket sees it in a later turn at the earliest. Only the test's own `reset()` acts at once.
// - Paced: `pending` counts the bytes written and not yet read (in the wire and in the queue).
//   A write resolves at once while `pending` is at most the high-water mark after it, else
//   once the reader has brought it back down there; a writer that awaits its writes therefore
//   never holds more than the high-water mark plus one write in the pipe.
// - Fault positions count the writer's own bytes since the connection opened (injected bytes
//   do not count); each fires once, when that many bytes have been written.
// - Nothing here reads wall time: delays are timers on the runtime's VirtualClock.
//
// Discussion: what the peer sees. A close at a position (closeAfter, or the test closing the
// connection) is a server that went away: the reader gets the bytes before it and then end of
// stream, both ends' later writes fail with EPIPE, and each end's reads end after what the
// other had sent. A reset is the same with ECONNRESET in place of the end of stream and of
// EPIPE. A stall holds everything behind it in the wire (end of stream included), as a network
// that stops forwarding would.

import { ConnectionError } from '@curio-ts/client';
import type { VirtualClock } from './clock.js';
import { checkNumber, MemoryRuntimeError } from './errors.js';

/** Faults applied to one direction of a connection. Positions count that direction's bytes. */
export interface PipeFaults {
  /** Split every write into chunks of at most this many bytes, each read on its own. */
  readonly chunkSize?: number;
  /** Every chunk arrives this many virtual ms after it was written (order is kept). */
  readonly latency?: number;
  /** The first chunk arrives this many virtual ms late (a slow handshake, a slow accept). */
  readonly firstDelay?: number;
  /** After this many bytes the connection closes: the reader gets them, then end of stream. */
  readonly closeAfter?: number;
  /** After this many bytes the connection is reset: both ends fail with ECONNRESET. */
  readonly resetAfter?: number;
  /** After this many bytes nothing more is delivered, for `stallFor` ms or until `resume()`. */
  readonly stallAfter?: number;
  /** How long a `stallAfter` stall lasts, in virtual ms (default: until `resume()`). */
  readonly stallFor?: number;
  /** Bytes delivered as if the writer had sent them (a string is one byte per char, latin1). */
  readonly inject?: Uint8Array | string;
  /** Where `inject` goes: after this many of the writer's bytes (default 0, before them). */
  readonly injectAfter?: number;
}

/** What a test can do to one direction of a live connection. */
export interface PipeControl {
  /** Bytes written and not yet read (in flight and queued for the reader). */
  readonly pending: number;
  /** Bytes the writer has written so far (injected bytes not included). */
  readonly writtenBytes: number;
  /** Bytes the reader has read so far (injected bytes included). */
  readonly readBytes: number;
  /** Apply more faults; positions already passed fire at once. */
  configure(faults: PipeFaults): void;
  /** Stop delivering, for `ms` virtual ms or until `resume()`. */
  stall(ms?: number): void;
  /** Deliver again after a stall. */
  resume(): void;
  /** Deliver these bytes now, after what is already on the way (latin1 for a string). */
  inject(bytes: Uint8Array | string): void;
}

/** How a pipe tells its connection that a fault position closes or resets the connection. */
export interface PipeOwner {
  cut(how: 'close' | 'reset'): void;
}

const END = Symbol('end of stream');
type Stall = { readonly stallMs: number };
type WireItem = Uint8Array | typeof END | ConnectionError | Stall;
type Trigger =
  | { readonly at: number; readonly order: 0; readonly bytes: Uint8Array }
  | { readonly at: number; readonly order: 1; readonly stallMs: number }
  | { readonly at: number; readonly order: 2 | 3 };

interface Resolvers<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Bytes of a latin1 string, or the bytes themselves. */
export function latin1(bytes: Uint8Array | string): Uint8Array {
  if (typeof bytes !== 'string') return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i) & 0xff;
  return out;
}

/** One direction of an in-process connection (see the file's header). */
export class Pipe implements PipeControl {
  pending = 0;
  writtenBytes = 0;
  readBytes = 0;
  private chunkSize = Number.POSITIVE_INFINITY;
  private latency = 0;
  private firstDelay = 0;
  private first = true;
  private triggers: Trigger[] = [];
  /** In flight: items and the virtual time each may be delivered at. */
  private wire: WireItem[] = [];
  private wireAt: number[] = [];
  private wireHead = 0;
  private lastAt = Number.NEGATIVE_INFINITY;
  private holdUntil = Number.NEGATIVE_INFINITY;
  private cancelWireTimer: (() => void) | null = null;
  private flushDeferred = false;
  /** Delivered and not yet read. */
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  /** Delivered end: end of stream or the error reads end with, once the queue is read. */
  private end: typeof END | ConnectionError | null = null;
  /** Set once writes are refused (the writer closed, the reader went away, a cut). */
  private refused: ConnectionError | null = null;
  private readerGone = false;
  private reader: Resolvers<Uint8Array | null> | null = null;
  private writers: Resolvers<void>[] = [];

  constructor(
    private readonly clock: VirtualClock,
    private readonly highWater: number,
    private readonly owner: PipeOwner,
  ) {}

  // ------------------------------------------------------------------------------------------
  // The two ends

  /** The writing end's write (see ByteStream.write). */
  write(data: Uint8Array): Promise<void> {
    if (this.refused !== null) return Promise.reject(this.refused);
    if (data.length > 0) this.accept(data);
    if (this.refused !== null || this.pending <= this.highWater) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      this.writers.push({ resolve, reject });
    });
  }

  /** The reading end's read (see ByteStream.read). */
  readChunk(): Promise<Uint8Array | null> {
    if (this.reader !== null) return Promise.reject(new ConnectionError('a read is already pending on this stream (one read at a time)', 'ERR_STREAM_BUSY'));
    if (this.queueHead < this.queue.length) return Promise.resolve(this.take());
    if (this.end === null && !this.readerGone) {
      return new Promise<Uint8Array | null>((resolve, reject) => {
        this.reader = { resolve, reject };
      });
    }
    return this.end instanceof ConnectionError ? Promise.reject(this.end) : Promise.resolve(null);
  }

  /** The writing end closed: what is on the way still arrives, then end of stream. */
  closeWriter(): void {
    if (this.refused !== null) return;
    this.refused = new ConnectionError('write after the stream was closed', 'EPIPE');
    this.send(END);
    this.releaseWriters(null);
  }

  /** The reading end closed: nothing more is read; the writer's writes fail with EPIPE. */
  closeReader(): void {
    if (this.readerGone) return;
    this.readerGone = true;
    this.dropWire();
    this.queue = [];
    this.queueHead = 0;
    this.pending = 0;
    const reader = this.reader;
    this.reader = null;
    reader?.resolve(null);
    if (this.refused === null) this.refused = new ConnectionError('the peer closed the connection', 'EPIPE');
    this.releaseWriters(this.refused);
  }

  /**
   * The connection was closed (`reset` false) or reset by a fault: the writer's writes fail
   * from now on; the reader gets what is on the way, then end of stream or ECONNRESET. With
   * `now`, a reset drops what is on the way and reaches the reader at once.
   */
  cut(reset: boolean, now = false): void {
    const error = reset ? new ConnectionError('the connection was reset by the peer', 'ECONNRESET') : new ConnectionError('the peer closed the connection', 'EPIPE');
    const refusedBefore = this.refused !== null;
    if (!refusedBefore || reset) this.refused = error;
    this.triggers = [];
    if (now) {
      this.dropWire();
      this.holdUntil = Number.NEGATIVE_INFINITY;
    }
    if (!refusedBefore || reset) {
      if (now) this.deliver(reset ? error : END);
      else this.send(reset ? error : END);
    }
    this.releaseWriters(reset ? error : null);
  }

  // ------------------------------------------------------------------------------------------
  // PipeControl

  configure(faults: PipeFaults): void {
    // Everything is checked before anything changes: a plan is applied whole or not at all.
    if (faults.chunkSize !== undefined) checkNumber('chunkSize', faults.chunkSize, 1, true);
    if (faults.latency !== undefined) checkNumber('latency', faults.latency, 0);
    if (faults.firstDelay !== undefined) checkNumber('firstDelay', faults.firstDelay, 0);
    if (faults.stallFor !== undefined) checkNumber('stallFor', faults.stallFor, 0);
    if (faults.inject === undefined && faults.injectAfter !== undefined) throw new MemoryRuntimeError('injectAfter without inject', 'ERR_BAD_OPTION');
    if (faults.stallAfter === undefined && faults.stallFor !== undefined) throw new MemoryRuntimeError('stallFor without stallAfter', 'ERR_BAD_OPTION');
    const added: Trigger[] = [];
    if (faults.inject !== undefined) added.push({ at: faults.injectAfter ?? 0, order: 0, bytes: latin1(faults.inject) });
    if (faults.stallAfter !== undefined) added.push({ at: faults.stallAfter, order: 1, stallMs: faults.stallFor ?? Number.POSITIVE_INFINITY });
    if (faults.closeAfter !== undefined) added.push({ at: faults.closeAfter, order: 2 });
    if (faults.resetAfter !== undefined) added.push({ at: faults.resetAfter, order: 3 });
    for (const trigger of added) checkNumber('a fault position', trigger.at, 0, true);
    if (faults.chunkSize !== undefined) this.chunkSize = faults.chunkSize;
    if (faults.latency !== undefined) this.latency = faults.latency;
    if (faults.firstDelay !== undefined) this.firstDelay = faults.firstDelay;
    this.triggers.push(...added);
    this.triggers.sort((a, b) => a.at - b.at || a.order - b.order);
    if (this.refused === null) this.fireTriggers();
  }

  stall(ms?: number): void {
    if (ms !== undefined) checkNumber('ms', ms, 0);
    this.holdUntil = ms === undefined ? Number.POSITIVE_INFINITY : this.clock.now() + ms;
    this.armWire();
  }

  resume(): void {
    this.holdUntil = Number.NEGATIVE_INFINITY;
    this.flushWire();
  }

  inject(bytes: Uint8Array | string): void {
    const data = latin1(bytes);
    if (data.length > 0 && !this.readerGone) this.send(data);
  }

  // ------------------------------------------------------------------------------------------
  // Inside

  /** Cut a write into chunks at chunkSize and at fault positions, and send them. */
  private accept(data: Uint8Array): void {
    let offset = 0;
    while (offset < data.length && this.refused === null) {
      let size = Math.min(data.length - offset, this.chunkSize);
      const trigger = this.triggers[0];
      if (trigger !== undefined) size = Math.min(size, trigger.at - this.writtenBytes);
      if (size > 0) {
        const piece = offset === 0 && size === data.length ? data : data.subarray(offset, offset + size);
        offset += size;
        this.writtenBytes += size;
        if (!this.readerGone) this.send(piece);
      }
      this.fireTriggers();
    }
  }

  /** Fire the fault positions reached. */
  private fireTriggers(): void {
    while (this.refused === null) {
      const trigger = this.triggers[0];
      if (trigger === undefined || trigger.at > this.writtenBytes) return;
      this.triggers.shift();
      switch (trigger.order) {
        case 0:
          this.inject(trigger.bytes);
          break;
        case 1:
          this.send({ stallMs: trigger.stallMs });
          break;
        case 2:
          this.owner.cut('close');
          break;
        case 3:
          this.owner.cut('reset');
          break;
        default: {
          const never: never = trigger;
          throw new Error(`unknown fault ${String(never)}`);
        }
      }
    }
  }

  /** Put an item on the wire, delivering it at once when nothing delays it. */
  private send(item: WireItem): void {
    const now = this.clock.now();
    let at = now + this.latency;
    if (this.first && item instanceof Uint8Array) {
      this.first = false;
      at += this.firstDelay;
    }
    if (item instanceof Uint8Array) this.pending += item.length;
    if (at < this.lastAt) at = this.lastAt;
    this.lastAt = at;
    this.wire.push(item);
    this.wireAt.push(at);
    this.armWire();
  }

  /** Deliver what may be delivered now, then wait for the next item's time. */
  private readonly flushWire = (): void => {
    this.cancelWireTimer?.();
    this.cancelWireTimer = null;
    this.flushDeferred = false;
    const now = this.clock.now();
    while (this.wireHead < this.wire.length && (this.wireAt[this.wireHead] as number) <= now && this.holdUntil <= now) {
      const item = this.wire[this.wireHead] as WireItem;
      this.wire[this.wireHead++] = END;
      this.deliver(item);
    }
    if (this.wireHead === this.wire.length) {
      this.wire = [];
      this.wireAt = [];
      this.wireHead = 0;
    } else this.armWire();
  };

  private armWire(): void {
    this.cancelWireTimer?.();
    this.cancelWireTimer = null;
    if (this.wireHead === this.wire.length) return;
    const at = Math.max(this.wireAt[this.wireHead] as number, this.holdUntil);
    if (at === Number.POSITIVE_INFINITY) return;
    if (at > this.clock.now()) this.cancelWireTimer = this.clock.timer(at - this.clock.now(), this.flushWire);
    else if (!this.flushDeferred) {
      // Due now: delivered at the end of the writer's burst, as a socket's peer would see it.
      this.flushDeferred = true;
      this.clock.defer(this.flushWire);
    }
  }

  private dropWire(): void {
    this.cancelWireTimer?.();
    this.cancelWireTimer = null;
    for (let i = this.wireHead; i < this.wire.length; i++) {
      const item = this.wire[i];
      if (item instanceof Uint8Array) this.pending -= item.length;
    }
    this.wire = [];
    this.wireAt = [];
    this.wireHead = 0;
  }

  private deliver(item: WireItem): void {
    if (item instanceof Uint8Array) {
      if (this.readerGone) {
        this.pending -= item.length;
        return;
      }
      const reader = this.reader;
      if (reader !== null) {
        this.reader = null;
        this.consumed(item);
        reader.resolve(item);
      } else this.queue.push(item);
      return;
    }
    if (item === END || item instanceof ConnectionError) {
      if (this.end !== null) return;
      this.end = item;
      const reader = this.reader;
      if (reader === null) return;
      this.reader = null;
      if (item === END) reader.resolve(null);
      else reader.reject(item);
      return;
    }
    // A stall reached the head of the wire: hold what follows.
    this.holdUntil = this.clock.now() + item.stallMs;
  }

  private take(): Uint8Array {
    const chunk = this.queue[this.queueHead] as Uint8Array;
    this.queue[this.queueHead++] = EMPTY;
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    this.consumed(chunk);
    return chunk;
  }

  private consumed(chunk: Uint8Array): void {
    this.pending -= chunk.length;
    this.readBytes += chunk.length;
    if (this.writers.length > 0 && this.pending <= this.highWater) this.releaseWriters(null);
  }

  private releaseWriters(error: ConnectionError | null): void {
    const writers = this.writers;
    if (writers.length === 0) return;
    this.writers = [];
    for (const writer of writers) {
      if (error === null) writer.resolve();
      else writer.reject(error);
    }
  }
}

const EMPTY = new Uint8Array(0);
