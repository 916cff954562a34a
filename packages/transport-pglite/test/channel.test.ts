// The shared-memory channel's rings (worker/channel.mjs) on their own, both ends in this thread
// over one SharedArrayBuffer: records of random sizes (empty, tiny, up to a whole ring) written
// and read in random interleavings come out whole, in order and intact, across many wraps of
// the rings' ends; a record that can never fit is refused with a RangeError.
import { describe, expect, it } from 'vitest';
import { Channel, HEADER, KIND, REPLY_CAPACITY, REQUEST_CAPACITY, sharedBuffer } from '../worker/channel.mjs';

/** A small deterministic generator (xorshift32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

function payload(next: () => number, size: number, tag: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (tag * 31 + i * 7 + Math.floor(next() * 3)) & 0xff;
  return bytes;
}

describe('the PGlite channel rings', () => {
  for (const direction of ['request', 'reply'] as const) {
    it(`carry random records whole and in order through the ${direction} ring, wrapping many times`, () => {
      const shared = sharedBuffer();
      const main = new Channel(shared, 'main');
      const worker = new Channel(shared, 'worker');
      const [writer, reader] = direction === 'request' ? [main, worker] : [worker, main];
      const capacity = direction === 'request' ? REQUEST_CAPACITY : REPLY_CAPACITY;
      const next = random(direction === 'request' ? 7 : 11);
      const sent: { kind: number; flags: number; bytes: Uint8Array }[] = [];
      let received = 0;
      let total = 0;
      for (let step = 0; step < 4000; step++) {
        if (next() < 0.55) {
          const roll = next();
          const size = roll < 0.2 ? 0 : roll < 0.7 ? Math.floor(next() * 64) : roll < 0.97 ? Math.floor(next() * capacity / 4) : capacity - HEADER;
          const record = { kind: 1 + Math.floor(next() * 7), flags: Math.floor(next() * 256), bytes: payload(next, size, step) };
          if (writer.tryWriteRecord(record.kind, record.flags, record.bytes)) {
            sent.push(record);
            total += HEADER + size;
          } else {
            // Refused only when it does not fit beside what is unread.
            expect(sent.length - received).toBeGreaterThan(0);
          }
        } else {
          const record = reader.tryReadRecord();
          if (record === null) {
            expect(received).toBe(sent.length);
            continue;
          }
          const expected = sent[received++];
          expect(record.kind).toBe(expected?.kind);
          expect(record.flags).toBe(expected?.flags);
          expect(Buffer.compare(record.payload, expected?.bytes ?? new Uint8Array())).toBe(0);
        }
      }
      for (let record = reader.tryReadRecord(); record !== null; record = reader.tryReadRecord()) {
        expect(Buffer.compare(record.payload, sent[received++]?.bytes ?? new Uint8Array())).toBe(0);
      }
      expect(received).toBe(sent.length);
      expect(total).toBeGreaterThan(capacity * 20);
    });
  }

  it('refuse a record larger than the ring, and the ring goes on', () => {
    const shared = sharedBuffer();
    const main = new Channel(shared, 'main');
    const worker = new Channel(shared, 'worker');
    expect(() => main.tryWriteRecord(KIND.EXEC, 0, new Uint8Array(REQUEST_CAPACITY - HEADER + 1))).toThrow(RangeError);
    expect(main.maxPayload).toBe(REQUEST_CAPACITY - HEADER);
    expect(main.tryWriteRecord(KIND.EXEC, 1, new Uint8Array([1, 2, 3]))).toBe(true);
    expect(worker.readRecord()).toEqual({ kind: KIND.EXEC, flags: 1, payload: new Uint8Array([1, 2, 3]) });
  });
});
