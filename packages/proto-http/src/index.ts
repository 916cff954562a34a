// @curio-ts/proto-http: HTTP/1.1 as sans-IO protocol objects, parsing with llhttp (WebAssembly).
// Bytes in, events out; requests and responses in, bytes out. No sockets, no timers, no promises.

export { WireParser, methodName, HPE, REQUEST, RESPONSE, HEAD_CONTINUE, HEAD_NO_BODY, HEAD_UPGRADE } from './llhttp/binding.js';
export type { WireFields, WireHead, WireLimit, WireLimits, WireSink } from './llhttp/binding.js';
export { LLHTTP_SHA256, LLHTTP_SOURCE } from './llhttp/wasm.generated.js';
