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

/** How the client suites (Redis, PostgreSQL) run test bodies on node: plain async code. */
export const nodeRunner = {
  runtime: 'node',
  run: <T>(body: () => Promise<T>): Promise<T> => body(),
  sleep: (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms)),
  start: <T>(body: () => Promise<T>): { join(): Promise<T> } => {
    const running = body();
    running.catch(() => {});
    return { join: () => running };
  },
};
