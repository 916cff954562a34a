// The Runtime conformance suite on the node runtime: every capability but cancelsAwaits (a
// plain Promise cannot be interrupted: spawned work stops by watching its signal).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeConformance } from '@curio-ts/conformance';
import type { RuntimeHarness } from '@curio-ts/conformance';
import { NodeByteStream, nodeRuntime } from '@curio-ts/backend-node';

const harness: RuntimeHarness = {
  name: 'node',
  run: (body) => body(nodeRuntime),
  buffered: (stream) => (stream as NodeByteStream).bufferedBytes,
  capabilities: { tls: true, unixSockets: true, cancelsAwaits: false },
};

runtimeConformance(harness, { describe, it, expect, beforeAll, afterAll });
