// The node runtime's conformance harness, shared by the suites run here: every capability but
// cancelsAwaits (a plain Promise cannot be interrupted: spawned work stops by watching its signal).
import type { RuntimeHarness } from '@curio-ts/conformance';
import { NodeByteStream, nodeRuntime } from '@curio-ts/backend-node';

export const nodeHarness: RuntimeHarness = {
  name: 'node',
  run: (body) => body(nodeRuntime),
  buffered: (stream) => (stream as NodeByteStream).bufferedBytes,
  capabilities: { tls: true, unixSockets: true, cancelsAwaits: false },
};
