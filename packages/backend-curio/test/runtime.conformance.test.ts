// The Runtime conformance suite on the curio runtime: every body runs in a kernel task of a
// kernel of its own, with a runtime bound to that kernel; the virtual-clock cases run on a
// virtual clock that autojumps while tasks wait on a silent peer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeConformance } from '@curio-ts/conformance';
import type { RuntimeHarness } from '@curio-ts/conformance';
import { currentTask, run } from '@curio-ts/kernel';
import { CurioByteStream, curioRuntime } from '@curio-ts/backend-curio';

const harness: RuntimeHarness = {
  name: 'curio',
  run: (body) => run(() => body(curioRuntime({ kernel: currentTask().kernel }))),
  runVirtual: (body) => run(() => body(curioRuntime({ kernel: currentTask().kernel })), { clock: 'virtual', autojumpThreshold: 50 }),
  buffered: (stream) => (stream as CurioByteStream).bufferedBytes,
  capabilities: { tls: true, unixSockets: true, cancelsAwaits: true },
};

runtimeConformance(harness, { describe, it, expect, beforeAll, afterAll });
