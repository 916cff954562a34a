// text.ts
//
// Bytes to strings and back for the codecs, decoding in place from (bytes, start, end).
//
// Invariants:
// - No host types: TextDecoder and TextEncoder are taken from globalThis with local types (no
//   global declarations, so nothing here can clash with another file's globals.d.ts).
// - Node Buffers are feature-tested, never required: when the bytes are a Buffer (what a
//   socket hands out), its utf8Slice decodes (about twice as fast as TextDecoder), and text of
//   ASCII_FROM bytes or more is first copied with latin1Slice (no UTF-8 scan) and kept when
//   the UTF-8 length of the result (`Buffer.byteLength`, one SIMD pass) proves it ASCII, as in
//   proto-redis's decoder. Short text (up to SHORT_TEXT bytes) is built a character at a time:
//   cheaper than any call into the runtime for the 1-8 byte values most columns hold.
// - Invalid UTF-8 becomes U+FFFD (the server only sends valid UTF-8 with client_encoding UTF8).

interface Utf8Decoder {
  decode(input: Uint8Array): string;
}
interface Utf8Encoder {
  encode(input: string): Uint8Array;
}
interface EncodingGlobals {
  TextDecoder: new (label: string) => Utf8Decoder;
  TextEncoder: new () => Utf8Encoder;
}

const encodingGlobals = globalThis as unknown as EncodingGlobals;
const utf8Decoder = new encodingGlobals.TextDecoder('utf-8');
const utf8Encoder = new encodingGlobals.TextEncoder();

/** A Node Buffer's decoders, feature-tested on the bytes given. */
interface NodeBufferText {
  utf8Slice?: (start: number, end: number) => string;
  latin1Slice?: (start: number, end: number) => string;
  constructor?: { byteLength?: (text: string) => number };
}

/** Text this long or longer tries the Latin-1 copy first (see the header). */
const ASCII_FROM = 256;
/** Text this short is built a character at a time. */
const SHORT_TEXT = 8;

/** Bytes [start, end) of `bytes` as UTF-8 text. */
export function utf8Text(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT_TEXT) {
    let text = '';
    for (let i = start; i < end; i++) {
      const c = bytes[i] as number;
      if (c >= 0x80) return longText(bytes, start, end);
      text += String.fromCharCode(c);
    }
    return text;
  }
  return longText(bytes, start, end);
}

function longText(bytes: Uint8Array, start: number, end: number): string {
  const node = bytes as Uint8Array & NodeBufferText;
  if (typeof node.utf8Slice === 'function') {
    if (end - start >= ASCII_FROM && typeof node.latin1Slice === 'function') {
      const byteLength = node.constructor?.byteLength;
      if (typeof byteLength === 'function') {
        const text = node.latin1Slice(start, end);
        if (byteLength(text) === text.length) return text;
      }
    }
    return node.utf8Slice(start, end);
  }
  return utf8Decoder.decode(bytes.subarray(start, end));
}

/** Bytes [start, end) as text of single-byte characters (for values known to be ASCII). */
export function asciiText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > SHORT_TEXT) {
    const node = bytes as Uint8Array & NodeBufferText;
    if (typeof node.latin1Slice === 'function') return node.latin1Slice(start, end);
  }
  let text = '';
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i] as number);
  return text;
}

/** `text` as UTF-8 bytes. */
export function utf8Bytes(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** A copy of bytes [start, end) in a fresh Uint8Array (not a view of `bytes`). */
export function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  if (end - start > 64) out.set(bytes.subarray(start, end));
  else for (let i = start, o = 0; i < end; i++, o++) out[o] = bytes[i] as number;
  return out;
}

const HEX = '0123456789abcdef';
/** The two lowercase hex digits of each byte value. */
export const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, b) => (HEX[b >> 4] as string) + (HEX[b & 15] as string));

/** The value of an ASCII hex digit, or -1. */
export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
