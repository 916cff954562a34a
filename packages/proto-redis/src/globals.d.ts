// globals.d.ts
//
// The only host globals proto-redis uses, declared here because the package compiles with no
// host types at all (`types: []`, no DOM or Node lib): the WHATWG Encoding API, which every
// JavaScript runtime has (Node, Deno, Bun, browsers, workers). Declared as far as they are used.
// Anything else a runtime may offer (a Node Buffer's utf8Slice or latin1Write) is feature-tested
// on the objects at run time, never declared; dependency-rules.json at the repository root names
// those exceptions.

declare global {
  interface TextEncoderEncodeIntoResult {
    read: number;
    written: number;
  }

  interface TextEncoder {
    encode(input?: string): Uint8Array;
    encodeInto(source: string, destination: Uint8Array): TextEncoderEncodeIntoResult;
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
