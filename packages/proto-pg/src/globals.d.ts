// globals.d.ts
//
// The only host globals proto-pg uses, declared here because the package compiles with no host
// types at all (`types: []`, no DOM or Node lib): the WHATWG Encoding API, which every
// JavaScript runtime has. Declared as far as they are used. The one Node module the package
// imports, node:crypto (SCRAM-SHA-256 and MD5 authentication), is declared in node-crypto.d.ts.

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
