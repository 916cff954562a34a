// globals.d.ts
//
// The only host globals proto-http uses, declared here because the package compiles with no
// host types at all (`types: []`, no DOM or Node lib): WebAssembly (to run llhttp), `atob` (to
// decode the embedded wasm bytes) and the WHATWG Encoding API; every JavaScript runtime has
// them (Node, Deno, Bun, browsers, workers). Declared as far as they are used.

declare global {
  namespace WebAssembly {
    interface Memory {
      readonly buffer: ArrayBuffer;
    }
    type ExportValue = ((...args: number[]) => number) | Memory;
    interface Instance {
      readonly exports: Record<string, ExportValue>;
    }
    interface Module {
      readonly __brand?: 'WebAssembly.Module';
    }
    type ImportValue = (...args: number[]) => number;
    type Imports = Record<string, Record<string, ImportValue>>;
  }
  var WebAssembly: {
    Module: new (bytes: Uint8Array) => WebAssembly.Module;
    Instance: new (module: WebAssembly.Module, imports: WebAssembly.Imports) => WebAssembly.Instance;
  };

  function atob(data: string): string;

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
