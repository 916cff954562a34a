// globals.d.ts
//
// The host globals proto-http uses, declared here because the package compiles with no host
// types at all (`types: []`, no DOM or Node lib): the WHATWG Encoding API. WebAssembly (to run
// llhttp) and `atob` (to decode the embedded wasm bytes) are reached through globalThis with
// local types (llhttp/binding.ts), so that no declaration clashes with a host's. Every
// JavaScript runtime has them (Node, Deno, Bun, browsers, workers).

declare global {
  interface TextEncoder {
    encode(input?: string): Uint8Array;
    encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
  }
  var TextEncoder: {
    prototype: TextEncoder;
    new (): TextEncoder;
  };

  interface TextDecoder {
    decode(input?: Uint8Array, options?: { stream?: boolean }): string;
  }
  var TextDecoder: {
    prototype: TextDecoder;
    new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }): TextDecoder;
  };
}

export {};
