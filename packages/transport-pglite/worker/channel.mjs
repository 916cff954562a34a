// transport-pglite/worker/channel.mjs: the shared-memory channel between the main thread and the
// PGlite worker (both import it: plain JavaScript, so the worker runs it unbuilt).
//
// One SharedArrayBuffer: 64 bytes of counters, then a request ring (main thread -> worker) and
// a reply ring (worker -> main thread). Each ring is a single-producer single-consumer byte
// ring of whole records: an 8-byte header (kind, flags, two zero bytes, payload length as a
// little-endian uint32) and the payload, possibly wrapping at the ring's end. The producer
// writes a record only when all of it fits, then publishes it with one Atomics.store of its
// write counter and an Atomics.notify; the consumer copies the record out, then publishes its
// read counter the same way. So a consumer never sees part of a record, and a record must be
// at most the ring's capacity (the writers split longer data into several records).
//
// Counters are byte totals modulo 2^32 (int32 cells): used = (write - read) >>> 0, position =
// counter & (capacity - 1) with a power-of-two capacity.
//
// The worker side spins adaptively for the next request, then blocks in Atomics.wait (see
// awaitRequest); the main thread never blocks: it tries, and waits with Atomics.waitAsync (see
// transport.ts), never spinning (that would stall its event loop, the point of the worker).
// Measured (2 vCPU VM, our client, sequential `select $1::int`, against PGlite's own query in
// the main thread): quiet machine, no spin 0.74x (two idle vCPU entries per query), a fixed
// 200 µs worker spin 1.83x, the adaptive spin 0.90x-2.4x; busy machine (load 5-10), a fixed
// spin of 20-100 µs lost (0.14x-1.06x the former MessagePort worker, against 1.20x-1.29x
// without spin: the spinner took the core the main thread needed), the adaptive one, which
// stops spinning when it sees itself preempted, 1.00x-1.23x (noisy).

export const REQUEST_CAPACITY = 256 * 1024;
export const REPLY_CAPACITY = 4 * 1024 * 1024;
export const HEADER = 8;
const COUNTERS = 64;
/** Adaptive spin of the worker for the next request (milliseconds, requests): see awaitRequest. */
const SPIN_MIN_MS = 0.01;
const SPIN_MAX_MS = 0.2;
const SPIN_PREEMPTED_MS = 0.5;
const SPIN_COOLDOWN = 1000;

/** Counter cells (int32 indices). */
export const CELL = { REQ_WRITE: 0, REQ_READ: 1, REP_WRITE: 2, REP_READ: 3 };

/** Record kinds. */
export const KIND = { EXEC_PART: 1, EXEC: 2, CLOSE: 3, DATA: 4, DONE: 5, FAILED: 6, CLOSED: 7 };

/** A SharedArrayBuffer for a channel. */
export function sharedBuffer() {
  return new SharedArrayBuffer(COUNTERS + REQUEST_CAPACITY + REPLY_CAPACITY);
}

class Ring {
  constructor(counters, bytes, writeCell, readCell) {
    this.counters = counters;
    this.bytes = bytes;
    this.capacity = bytes.length;
    this.mask = bytes.length - 1;
    this.writeCell = writeCell;
    this.readCell = readCell;
  }

  /** Bytes a producer may write now. */
  free() {
    const used = (Atomics.load(this.counters, this.writeCell) - Atomics.load(this.counters, this.readCell)) >>> 0;
    return this.capacity - used;
  }

  /** Write one record if it fits whole; false when the ring has no room for it now. */
  tryWrite(kind, flags, payload) {
    return this.tryWriteParts(kind, flags, [payload], payload.length);
  }

  /** tryWrite for a payload given as parts (`length` bytes in all), copied straight in. */
  tryWriteParts(kind, flags, parts, length) {
    if (HEADER + length > this.capacity) throw new RangeError(`record of ${length} bytes exceeds the ring (${this.capacity})`);
    if (this.free() < HEADER + length) return false;
    const write = Atomics.load(this.counters, this.writeCell);
    const header = new Uint8Array(HEADER);
    header[0] = kind;
    header[1] = flags;
    header[4] = length & 0xff;
    header[5] = (length >>> 8) & 0xff;
    header[6] = (length >>> 16) & 0xff;
    header[7] = length >>> 24;
    this.put(write, header);
    let at = write + HEADER;
    for (const part of parts) {
      this.put(at, part);
      at += part.length;
    }
    Atomics.store(this.counters, this.writeCell, (write + HEADER + length) | 0);
    Atomics.notify(this.counters, this.writeCell);
    return true;
  }

  /** The next whole record, copied out (the ring's room is given back), or null when there is none. */
  tryRead() {
    const read = Atomics.load(this.counters, this.readCell);
    const used = (Atomics.load(this.counters, this.writeCell) - read) >>> 0;
    if (used < HEADER) return null;
    const header = this.take(read, HEADER);
    const length = (header[4] | (header[5] << 8) | (header[6] << 16) | (header[7] << 24)) >>> 0;
    const payload = this.take(read + HEADER, length);
    Atomics.store(this.counters, this.readCell, (read + HEADER + length) | 0);
    Atomics.notify(this.counters, this.readCell);
    return { kind: header[0], flags: header[1], payload };
  }

  put(counter, source) {
    const at = counter & this.mask;
    const first = Math.min(source.length, this.capacity - at);
    this.bytes.set(first === source.length ? source : source.subarray(0, first), at);
    if (first < source.length) this.bytes.set(source.subarray(first), 0);
  }

  take(counter, length) {
    const out = new Uint8Array(length);
    const at = counter & this.mask;
    const first = Math.min(length, this.capacity - at);
    out.set(this.bytes.subarray(at, at + first));
    if (first < length) out.set(this.bytes.subarray(0, length - first), first);
    return out;
  }
}

/** One side of the channel: 'main' writes requests and reads replies, 'worker' the other way round. */
export class Channel {
  constructor(shared, side) {
    this.counters = new Int32Array(shared, 0, COUNTERS / 4);
    const request = new Ring(this.counters, new Uint8Array(shared, COUNTERS, REQUEST_CAPACITY), CELL.REQ_WRITE, CELL.REQ_READ);
    const reply = new Ring(this.counters, new Uint8Array(shared, COUNTERS + REQUEST_CAPACITY, REPLY_CAPACITY), CELL.REP_WRITE, CELL.REP_READ);
    /** Spin budget (ms) and requests left without spinning (awaitRequest). */
    this.budget = SPIN_MIN_MS;
    this.cooldown = 0;
    this.outgoing = side === 'main' ? request : reply;
    this.incoming = side === 'main' ? reply : request;
  }

  /** Largest payload of one outgoing record. */
  get maxPayload() {
    return this.outgoing.capacity - HEADER;
  }

  tryWriteRecord(kind, flags, payload) {
    return this.outgoing.tryWrite(kind, flags, payload);
  }

  tryReadRecord() {
    return this.incoming.tryRead();
  }

  /** The cell and value to wait on until a record may have arrived (for Atomics.waitAsync). */
  incomingCell() {
    return this.incoming.writeCell;
  }

  /** The cell to wait on until the peer took records (room to write). */
  outgoingReadCell() {
    return this.outgoing.readCell;
  }

  /** Worker side: block until `cell` is no longer `value`. */
  block(cell, value) {
    while (Atomics.load(this.counters, cell) === value) Atomics.wait(this.counters, cell, value);
  }

  /**
   * Worker side, waiting for the next request: spin first (adaptively), then block. A thread
   * that sleeps in Atomics.wait leaves its vCPU idle, and on a quiet virtual machine waking it
   * goes through the hypervisor: measured, two idle entries per query and 11-12k queries/s,
   * against 29k/s when the worker spins for the next request. The spin adapts as the kernel's
   * haltpoll does: a request that came soon after the spin gave up doubles the budget (up to
   * SPIN_MAX_MS), one that came late halves it (an idle application costs little); and a spin
   * that was preempted (a gap of over 0.5 ms between two looks at the clock: the CPU is
   * contended, and spinning would take it from the thread that sends the next request) stops
   * spinning for the next SPIN_COOLDOWN requests. (A threshold of 0.05 ms fired on a quiet VM's
   * own jitter: 14-20k queries/s against 18-22k/s at 0.5 ms, measured one after the other.)
   */
  awaitRequest(cell, value) {
    if (this.cooldown > 0) this.cooldown--;
    else if (this.budget > 0) {
      let last = performance.now();
      const until = last + this.budget;
      while (Atomics.load(this.counters, cell) === value) {
        const now = performance.now();
        if (now - last > SPIN_PREEMPTED_MS) {
          this.cooldown = SPIN_COOLDOWN;
          break;
        }
        if (now >= until) break;
        last = now;
      }
      if (Atomics.load(this.counters, cell) !== value) return;
    }
    const began = performance.now();
    this.block(cell, value);
    const blocked = performance.now() - began;
    this.budget = blocked < SPIN_MAX_MS ? Math.min(SPIN_MAX_MS, Math.max(this.budget * 2, SPIN_MIN_MS)) : this.budget / 2 < SPIN_MIN_MS ? 0 : this.budget / 2;
  }

  /** Worker side: the next record, blocking until one comes. */
  readRecord() {
    for (;;) {
      // The counter is read before trying, so a record published in between ends the wait at once.
      const seen = Atomics.load(this.counters, this.incoming.writeCell);
      const record = this.incoming.tryRead();
      if (record !== null) return record;
      this.awaitRequest(this.incoming.writeCell, seen);
    }
  }

  /** Worker side: write a record, blocking while the ring has no room for it. */
  writeRecord(kind, flags, payload) {
    this.writeRecordParts(kind, flags, [payload], payload.length);
  }

  /** writeRecord for a payload given as parts (`length` bytes in all). */
  writeRecordParts(kind, flags, parts, length) {
    for (;;) {
      const seen = Atomics.load(this.counters, this.outgoing.readCell);
      if (this.outgoing.tryWriteParts(kind, flags, parts, length)) return;
      this.block(this.outgoing.readCell, seen);
    }
  }
}
