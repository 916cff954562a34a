// The frame reader alone: golden frames, random message streams fed whole, split at every
// offset and byte by byte, and hostile bytes (each violation with its close code).

import { describe, expect, test } from 'vitest';
import { FrameReader, NEED_DATA, Opcode, Utf8Validator, WebSocketError, closePayload, encodeClose, encodeFrame, isValidCloseCode } from '../src/frames.js';
import type { FrameReaderOptions, WebSocketEvent } from '../src/frames.js';
import { acceptKey } from '../src/handshake.js';
import { seededRandom } from '@curio-ts/backend-memory';

const MASK = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
const enc = new TextEncoder();

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function client(opcode: Opcode, payload: Uint8Array | string, fin = true): Uint8Array {
  return encodeFrame(opcode, typeof payload === 'string' ? enc.encode(payload) : payload, { fin, mask: MASK });
}

/** Feed `pieces` one after another; every event until NEED_DATA after the last. */
function drain(pieces: readonly Uint8Array[], options?: FrameReaderOptions): WebSocketEvent[] {
  const reader = new FrameReader(options);
  const events: WebSocketEvent[] = [];
  for (const piece of pieces) {
    reader.receiveData(piece);
    for (let e = reader.nextEvent(); e !== NEED_DATA; e = reader.nextEvent()) events.push(e);
  }
  return events;
}

/** The WebSocketError reading `bytes` throws (fed whole). */
function failure(bytes: Uint8Array, options?: FrameReaderOptions): WebSocketError {
  try {
    drain([bytes], options);
  } catch (error) {
    if (error instanceof WebSocketError) return error;
    throw error;
  }
  throw new Error('no failure');
}

describe('frame encoding', () => {
  test('golden bytes: RFC 6455 §5.7 examples', () => {
    // A single-frame unmasked text message "Hello".
    expect([...encodeFrame(Opcode.text, enc.encode('Hello'))]).toEqual([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    // A single-frame masked text message "Hello".
    expect([...encodeFrame(Opcode.text, enc.encode('Hello'), { mask: Uint8Array.of(0x37, 0xfa, 0x21, 0x3d) })]).toEqual([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    // A fragmented unmasked text message.
    expect([...encodeFrame(Opcode.text, enc.encode('Hel'), { fin: false })]).toEqual([0x01, 0x03, 0x48, 0x65, 0x6c]);
    expect([...encodeFrame(Opcode.continuation, enc.encode('lo'))]).toEqual([0x80, 0x02, 0x6c, 0x6f]);
    // 256 bytes binary: a 16-bit length; 64 KiB: a 64-bit length.
    expect([...encodeFrame(Opcode.binary, new Uint8Array(256)).subarray(0, 4)]).toEqual([0x82, 0x7e, 0x01, 0x00]);
    expect([...encodeFrame(Opcode.binary, new Uint8Array(65536)).subarray(0, 10)]).toEqual([0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect([...encodeClose(1000, 'bye')]).toEqual([0x88, 0x05, 0x03, 0xe8, 0x62, 0x79, 0x65]);
    expect([...encodeClose(null)]).toEqual([0x88, 0x00]);
  });

  test('Sec-WebSocket-Accept: the RFC 6455 §1.3 example', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  test('a close reason is cut to fit a control frame, never inside a code point', () => {
    const payload = closePayload(1000, 'é'.repeat(100));
    expect(payload.length).toBeLessThanOrEqual(125);
    expect(new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(2))).toBe('é'.repeat(61));
  });

  test('close codes that may be sent', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) expect(isValidCloseCode(code)).toBe(true);
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) expect(isValidCloseCode(code)).toBe(false);
  });
});

describe('frame reader: well-formed streams', () => {
  test('the RFC examples: a masked text, a fragmented text with a ping between, a close', () => {
    const events = drain([client(Opcode.text, 'Hello'), client(Opcode.text, 'Hel', false), client(Opcode.ping, 'p'), client(Opcode.continuation, 'lo'), encodeFrame(Opcode.close, closePayload(1000, 'done'), { mask: MASK })]);
    expect(events).toEqual([
      { type: 'message', binary: false, data: enc.encode('Hello') },
      { type: 'ping', data: enc.encode('p') },
      { type: 'message', binary: false, data: enc.encode('Hello') },
      { type: 'close', code: 1000, reason: 'done' },
    ]);
  });

  test('an empty close, empty messages, and nothing after the close frame', () => {
    const reader = new FrameReader();
    reader.receiveData(concat([client(Opcode.binary, new Uint8Array(0)), client(Opcode.text, ''), encodeFrame(Opcode.close, new Uint8Array(0), { mask: MASK }), client(Opcode.text, 'after')]));
    expect(reader.nextEvent()).toEqual({ type: 'message', binary: true, data: new Uint8Array(0) });
    expect(reader.nextEvent()).toEqual({ type: 'message', binary: false, data: new Uint8Array(0) });
    expect(reader.nextEvent()).toEqual({ type: 'close', code: null, reason: '' });
    expect(reader.state).toBe('CLOSED');
    expect(reader.nextEvent()).toBe(NEED_DATA);
    reader.receiveData(client(Opcode.text, 'later'));
    expect(reader.nextEvent()).toBe(NEED_DATA);
    expect(reader.pendingBytes).toBe(0);
  });

  test('lengths at the 7/16/64-bit boundaries', () => {
    for (const n of [0, 125, 126, 127, 65535, 65536, 70000]) {
      const payload = new Uint8Array(n).map((_, i) => i * 7);
      expect(drain([client(Opcode.binary, payload)])).toEqual([{ type: 'message', binary: true, data: payload }]);
    }
  });

  test('random message streams: the same events fed whole, split at every offset, and byte by byte', () => {
    const random = seededRandom(6455);
    const texts = ['', 'a', 'héllo wörld', '日本語のテキスト', '🎉 emoji 🎉', 'x'.repeat(130)];
    for (let round = 0; round < 6; round++) {
      const frames: Uint8Array[] = [];
      const expected: WebSocketEvent[] = [];
      const count = 1 + Math.floor(random() * 5);
      for (let m = 0; m < count; m++) {
        const binary = random() < 0.5;
        const data = binary ? new Uint8Array(Math.floor(random() * 300)).map(() => Math.floor(random() * 256)) : enc.encode(texts[Math.floor(random() * texts.length)] as string);
        // Cut into 1-3 fragments anywhere (a text's code points may be split), with pings between.
        const cuts = [0, ...Array.from({ length: Math.floor(random() * 3) }, () => Math.floor(random() * (data.length + 1))).sort((a, b) => a - b), data.length];
        for (let f = 0; f + 1 < cuts.length; f++) {
          const opcode = f === 0 ? (binary ? Opcode.binary : Opcode.text) : Opcode.continuation;
          const fin = f + 2 === cuts.length;
          frames.push(encodeFrame(opcode, data.subarray(cuts[f], cuts[f + 1]), { fin, mask: Uint8Array.of(random() * 256, random() * 256, random() * 256, random() * 256) }));
          if (fin) expected.push({ type: 'message', binary, data });
          if (random() < 0.3) {
            const ping = new Uint8Array(Math.floor(random() * 126)).map(() => Math.floor(random() * 256));
            frames.push(encodeFrame(Opcode.ping, ping, { mask: MASK }));
            expected.push({ type: 'ping', data: ping });
          }
        }
      }
      frames.push(encodeFrame(Opcode.close, closePayload(4000, 'é'), { mask: MASK }));
      expected.push({ type: 'close', code: 4000, reason: 'é' });
      const bytes = concat(frames);
      expect(drain([bytes])).toEqual(expected);
      for (let at = 0; at <= bytes.length; at++) expect(drain([bytes.subarray(0, at), bytes.subarray(at)])).toEqual(expected);
      expect(drain(Array.from(bytes, (b) => Uint8Array.of(b)))).toEqual(expected);
    }
  });

  test('a 128 KiB message fed in 1 byte pieces stays linear (the queue drops consumed pieces in batches)', () => {
    const payload = new Uint8Array(1 << 17).map((_, i) => i & 0xff);
    const bytes = client(Opcode.binary, payload);
    const reader = new FrameReader();
    let event: WebSocketEvent | typeof NEED_DATA = NEED_DATA;
    for (let i = 0; i < bytes.length; i++) {
      reader.receiveData(bytes.subarray(i, i + 1));
      event = reader.nextEvent();
    }
    expect(event).toEqual({ type: 'message', binary: true, data: payload });
  });
});

describe('frame reader: hostile bytes', () => {
  const cases: [string, Uint8Array, number][] = [
    ['an unmasked client frame', encodeFrame(Opcode.text, enc.encode('hi')), 1002],
    ['RSV1 set', encodeFrame(Opcode.text, enc.encode('hi'), { mask: MASK, rsv: 4 }), 1002],
    ['RSV3 set', encodeFrame(Opcode.binary, enc.encode('hi'), { mask: MASK, rsv: 1 }), 1002],
    ['reserved data opcode 3', encodeFrame(3 as Opcode, enc.encode('hi'), { mask: MASK }), 1002],
    ['reserved control opcode 0xB', encodeFrame(0xb as Opcode, enc.encode('hi'), { mask: MASK }), 1002],
    ['a fragmented ping', encodeFrame(Opcode.ping, enc.encode('hi'), { fin: false, mask: MASK }), 1002],
    ['a ping of 126 bytes', client(Opcode.ping, new Uint8Array(126)), 1002],
    ['a continuation with nothing to continue', client(Opcode.continuation, 'x'), 1002],
    ['a new message inside a fragmented one', concat([client(Opcode.text, 'a', false), client(Opcode.text, 'b')]), 1002],
    ['a 16-bit length that fits in 7 bits', Uint8Array.of(0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0, 0, 0), 1002],
    ['a 64-bit length that fits in 16 bits', Uint8Array.of(0x82, 0xff, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4), 1002],
    ['a 64-bit length with its top bit set', Uint8Array.of(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0), 1002],
    ['a 64-bit length of 2^63-1 (oversized)', Uint8Array.of(0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 1009],
    ['a close frame with a 1-byte payload', encodeFrame(Opcode.close, Uint8Array.of(3), { mask: MASK }), 1002],
    ['a close with status 1005', encodeFrame(Opcode.close, closePayload(1005), { mask: MASK }), 1002],
    ['a close with status 999', encodeFrame(Opcode.close, closePayload(999), { mask: MASK }), 1002],
    ['a close with status 5000', encodeFrame(Opcode.close, closePayload(5000), { mask: MASK }), 1002],
    ['a close reason that is not UTF-8', encodeFrame(Opcode.close, Uint8Array.of(0x03, 0xe8, 0xff), { mask: MASK }), 1007],
    ['text that is not UTF-8', client(Opcode.text, Uint8Array.of(0x68, 0xc0, 0x80)), 1007],
    ['text with a surrogate', client(Opcode.text, Uint8Array.of(0xed, 0xa0, 0x80)), 1007],
    ['text above U+10FFFF', client(Opcode.text, Uint8Array.of(0xf4, 0x90, 0x80, 0x80)), 1007],
    ['text ending inside a code point', client(Opcode.text, Uint8Array.of(0x61, 0xe2, 0x82)), 1007],
    ['bad UTF-8 in the first fragment fails before the message ends', client(Opcode.text, Uint8Array.of(0xff), false), 1007],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name} → ${code}`, () => {
      expect(failure(bytes).closeCode).toBe(code);
    });
  }

  test('binary is not checked for UTF-8; a code point split across fragments is valid text', () => {
    expect(drain([client(Opcode.binary, Uint8Array.of(0xff, 0xfe))])).toHaveLength(1);
    const euro = enc.encode('€');
    expect(drain([concat([client(Opcode.text, euro.subarray(0, 1), false), client(Opcode.continuation, euro.subarray(1, 2), false), client(Opcode.continuation, euro.subarray(2))])])).toEqual([{ type: 'message', binary: false, data: euro }]);
  });

  test('too big: refused from the header alone, one frame or fragments together → 1009', () => {
    const reader = new FrameReader({ maxMessageBytes: 1000 });
    reader.receiveData(client(Opcode.binary, new Uint8Array(1001)).subarray(0, 4)); // header only, no payload
    expect(() => reader.nextEvent()).toThrow(expect.objectContaining({ code: 'WS_TOO_BIG', closeCode: 1009 }));
    expect(() => reader.nextEvent()).toThrow(expect.objectContaining({ code: 'WS_READER_FAILED' }));
    expect(reader.state).toBe('FAILED');
    expect(failure(concat([client(Opcode.binary, new Uint8Array(600), false), client(Opcode.continuation, new Uint8Array(401))]), { maxMessageBytes: 1000 }).closeCode).toBe(1009);
    expect(drain([concat([client(Opcode.binary, new Uint8Array(600), false), client(Opcode.continuation, new Uint8Array(400))])], { maxMessageBytes: 1000 })).toHaveLength(1);
  });

  test('random garbage: only events or a WebSocketError, never another exception, and every byte at most once', () => {
    const random = seededRandom(1009);
    let failures = 0;
    for (let round = 0; round < 2000; round++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * 64)).map(() => Math.floor(random() * 256));
      // Half the rounds look like masked client frames, to get past the first checks.
      if (round % 2 === 0) {
        bytes[0] = ((bytes[0] as number) & 0x8f) | 0;
        if (bytes.length > 1) bytes[1] = (bytes[1] as number) | 0x80;
      }
      try {
        drain([bytes], { maxMessageBytes: 4096 });
      } catch (error) {
        expect(error).toBeInstanceOf(WebSocketError);
        expect([1002, 1007, 1009]).toContain((error as WebSocketError).closeCode);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(100);
  });

  test('the UTF-8 validator agrees with a fatal TextDecoder on random bytes', () => {
    const random = seededRandom(3629);
    const fatal = new TextDecoder('utf-8', { fatal: true });
    for (let round = 0; round < 5000; round++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * 8)).map(() => (random() < 0.5 ? 0x80 + Math.floor(random() * 0x80) : Math.floor(random() * 256)));
      let valid = true;
      try {
        fatal.decode(bytes);
      } catch {
        valid = false;
      }
      const validator = new Utf8Validator();
      expect(validator.push(bytes) && validator.complete).toBe(valid);
    }
  });
});
