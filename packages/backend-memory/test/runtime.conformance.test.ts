// The Runtime conformance suite on the memory runtime: a fresh runtime (network and virtual
// clock, jumping whenever the program only waits) for every body. No TLS and no cancellation of
// awaits that ignore their signal here: those cases are not registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeConformance } from '@curio-ts/conformance';
import { createMemoryRuntime, MemoryByteStream } from '@curio-ts/backend-memory';

runtimeConformance(
  {
    name: 'memory',
    run: (body) => body(createMemoryRuntime({ autoAdvance: true, latency: 0.5 }).runtime),
    runVirtual: (body) => body(createMemoryRuntime({ autoAdvance: true, latency: 0.5 }).runtime),
    buffered: (stream) => (stream as MemoryByteStream).bufferedBytes,
    capabilities: { tls: false, unixSockets: true, cancelsAwaits: false },
  },
  { describe, it, expect, beforeAll, afterAll },
);
