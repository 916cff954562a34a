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
// The worker side blocks in Atomics.wait; the main thread never blocks: it tries, and waits with
// Atomics.waitAsync (see transport.ts). Neither side spins: measured on the shared, busy 2-core
// machine, a worker spinning 20-100 µs for the next request and/or the main thread polling
// with setImmediate for the answer took the core the other thread needed (0.14x-1.06x the
// former MessagePort worker's rate, against 1.20x-1.29x without spinning).

export const REQUEST_CAPACITY = 256 * 1024;
export const REPLY_CAPACITY = 4 * 1024 * 1024;
export const HEADER = 8;
const COUNTERS = 64;

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

  /** Worker side: the next record, blocking until one comes. */
  readRecord() {
    for (;;) {
      // The counter is read before trying, so a record published in between ends the wait at once.
      const seen = Atomics.load(this.counters, this.incoming.writeCell);
      const record = this.incoming.tryRead();
      if (record !== null) return record;
      this.block(this.incoming.writeCell, seen);
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
