// node-crypto.d.ts
//
// The few functions of node:crypto that authentication uses (scram.ts), declared as far as they
// are used: the package compiles with no Node types (`types: []`). A script file (no import or
// export), so this is an ambient module declaration; where @types/node is present too (the
// tests), these local exports take precedence over its re-exports and match its signatures.

declare module 'node:crypto' {
  interface CurioPgDigest {
    update(data: string | Uint8Array): CurioPgDigest;
    digest(): Uint8Array;
    digest(encoding: 'hex'): string;
  }
  export function createHash(algorithm: string): CurioPgDigest;
  export function createHmac(algorithm: string, key: Uint8Array | string): CurioPgDigest;
  export function pbkdf2Sync(password: Uint8Array | string, salt: Uint8Array, iterations: number, keylen: number, digest: string): Uint8Array;
  export function randomBytes(size: number): Uint8Array;
}
