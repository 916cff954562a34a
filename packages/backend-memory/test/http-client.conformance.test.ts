// The HTTP client conformance suite on the memory runtime: the cases against serveHttp on the
// same runtime (no sockets; a fresh network and a virtual clock that jumps whenever the program
// only waits). The cases against Node's servers need real sockets and are not registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClientConformance } from '@curio-ts/conformance';
import { createMemoryRuntime, MemoryByteStream } from '@curio-ts/backend-memory';

httpClientConformance(
  {
    name: 'memory',
    run: (body) => body(createMemoryRuntime({ autoAdvance: true, latency: 0.5 }).runtime),
    buffered: (stream) => (stream as MemoryByteStream).bufferedBytes,
    capabilities: { tls: false, unixSockets: true, cancelsAwaits: false },
  },
  { describe, it, expect, beforeAll, afterAll },
  { realSockets: false },
);
