// The curio runtime's conformance harness, shared by the suites run here: every body runs in a
// kernel task of a kernel of its own, with a runtime bound to that kernel; the virtual-clock
// cases run on a virtual clock that autojumps while tasks wait on a silent peer.
import type { RuntimeHarness } from '@curio-ts/conformance';
import { currentTask, run } from '@curio-ts/kernel';
import { CurioByteStream, curioRuntime } from '@curio-ts/backend-curio';

export const curioHarness: RuntimeHarness = {
  name: 'curio',
  run: (body) => run(() => body(curioRuntime({ kernel: currentTask().kernel }))),
  runVirtual: (body) => run(() => body(curioRuntime({ kernel: currentTask().kernel })), { clock: 'virtual', autojumpThreshold: 50 }),
  buffered: (stream) => (stream as CurioByteStream).bufferedBytes,
  capabilities: { tls: true, unixSockets: true, cancelsAwaits: true },
};
