// @curio-ts/transport-pglite: PGlite (PostgreSQL in WebAssembly) as a transport. A ByteStream
// whose far end is PGlite in a worker thread (or, with thread: 'main', in the calling thread),
// so the same protocol object and client that talk to a server over a socket run in-process.

export { pgliteConnect, startPglite, closePglite } from './transport.js';
export type { PgliteTransportOptions, PgliteInstanceInfo, PgliteThread } from './transport.js';
export { isCopyFromStdin, COPY_FROM_STDIN_REFUSAL } from './frontend.js';
export { isPgliteUrl, pgliteOptions, pgliteRoute } from './url.js';
