// os/bytebuffer.ts
//
// A growable FIFO of bytes: the read-ahead and write-behind buffers of async files and the
// receive buffer of pipe readers.
//
// Invariants:
// - Live bytes are `data[head, tail)`. Everything a caller gets from `take*` is its own (a
//   copy, or the buffer itself handed over and forgotten), so later appends never change it.
// - `reserve(n)` returns a region at the end that the caller fills (an async file reads straight
//   into it) and then `commit`s. Between the two the caller must not change the buffer in any
//   other way: `take`, `discard` and `clear` may release or rewind the storage.
// - Capacity grows by doubling, so appending N bytes in pieces costs O(N) copying; an emptied
//   buffer with a large capacity is released so a one-time big read does not pin memory.

const EMPTY = Buffer.alloc(0);
/** Capacities above this are released when the buffer becomes empty. */
const KEEP_CAPACITY = 1 << 20;

/** A growable FIFO of bytes. */
export class ByteBuffer {
  private data: Buffer = EMPTY;
  private head = 0;
  private tail = 0;

  /** Number of bytes held. */
  get length(): number {
    return this.tail - this.head;
  }

  /**
   * Make room for `n` more bytes at the end and return the buffer to write them into, at
   * offset {@link writeOffset}. Call {@link commit} with the number actually written.
   */
  reserve(n: number): Buffer {
    if (this.tail + n <= this.data.length) return this.data;
    const live = this.tail - this.head;
    if (live + n <= this.data.length && this.head >= live) {
      this.data.copyWithin(0, this.head, this.tail);
    } else {
      const next = Buffer.allocUnsafe(Math.max(this.data.length * 2, live + n, 256));
      this.data.copy(next, 0, this.head, this.tail);
      this.data = next;
    }
    this.head = 0;
    this.tail = live;
    return this.data;
  }

  /** Where the bytes written into the buffer returned by {@link reserve} go. */
  get writeOffset(): number {
    return this.tail;
  }

  /** Count `n` bytes written at {@link writeOffset} as held. */
  commit(n: number): void {
    this.tail += n;
  }

  /** Append a copy of `bytes`. */
  append(bytes: Uint8Array): void {
    this.reserve(bytes.length).set(bytes, this.tail);
    this.tail += bytes.length;
  }

  /** The byte at `index` (0 is the oldest byte held). */
  at(index: number): number {
    return this.data[this.head + index] as number;
  }

  /** Index (from the oldest byte) of the first `byte` at or after `from`, or -1. */
  indexOf(byte: number, from = 0): number {
    if (from >= this.tail - this.head) return -1;
    const found = this.data.indexOf(byte, this.head + from);
    return found < 0 || found >= this.tail ? -1 : found - this.head;
  }

  /** A view of the bytes held; valid until the next call that changes the buffer. */
  view(): Buffer {
    return this.data.subarray(this.head, this.tail);
  }

  /** Remove and return the oldest `n` bytes (at most {@link length}), as a new Buffer. */
  take(n: number): Buffer {
    const count = Math.min(n, this.tail - this.head);
    if (count === this.tail - this.head && this.head === 0 && count > 0 && count >= this.data.length >> 1) {
      // Hand the whole buffer over instead of copying it (a big readAll).
      const whole = this.data.subarray(0, count);
      this.data = EMPTY;
      this.head = this.tail = 0;
      return whole;
    }
    const out = Buffer.from(this.data.subarray(this.head, this.head + count));
    this.discard(count);
    return out;
  }

  /** Remove the oldest `n` bytes and decode them as text. */
  takeString(n: number, encoding: BufferEncoding): string {
    const count = Math.min(n, this.tail - this.head);
    const text = this.data.toString(encoding, this.head, this.head + count);
    this.discard(count);
    return text;
  }

  /** Drop the oldest `n` bytes. */
  discard(n: number): void {
    this.head += Math.min(n, this.tail - this.head);
    if (this.head === this.tail) this.reset();
  }

  /** Drop everything. */
  clear(): void {
    this.reset();
  }

  private reset(): void {
    this.head = this.tail = 0;
    if (this.data.length > KEEP_CAPACITY) this.data = EMPTY;
  }
}
