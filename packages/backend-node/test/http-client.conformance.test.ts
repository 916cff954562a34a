// The HTTP client conformance suite on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClientConformance } from '@curio-ts/conformance';
import type { RuntimeHarness } from '@curio-ts/conformance';
import { NodeByteStream, nodeRuntime } from '@curio-ts/backend-node';

const harness: RuntimeHarness = {
  name: 'node',
  run: (body) => body(nodeRuntime),
  buffered: (stream) => (stream as NodeByteStream).bufferedBytes,
  capabilities: { tls: true, unixSockets: true, cancelsAwaits: false },
};

httpClientConformance(harness, { describe, it, expect, beforeAll, afterAll });
