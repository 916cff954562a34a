// The curio runtime's conformance harness, shared by the suites run here: every body runs in a
// kernel task of a kernel of its own, with a runtime bound to that kernel; the virtual-clock
// cases run on a virtual clock that autojumps while tasks wait on a silent peer.
import type { RuntimeHarness } from '@curio-ts/conformance';
import { currentTask, run, sleep, spawn } from '@curio-ts/kernel';
import { CurioByteStream, curioRuntime } from '@curio-ts/backend-curio';

export const curioHarness: RuntimeHarness = {
  name: 'curio',
  run: (body) => run(() => body(curioRuntime({ kernel: currentTask().kernel }))),
  runVirtual: (body) => run(() => body(curioRuntime({ kernel: currentTask().kernel })), { clock: 'virtual', autojumpThreshold: 50 }),
  buffered: (stream) => (stream as CurioByteStream).bufferedBytes,
  capabilities: { tls: true, unixSockets: true, cancelsAwaits: true },
};

/** How the client suites run test bodies on curio: each body in a kernel task, concurrent work in tasks of its own. */
export const curioRunner = {
  runtime: 'curio',
  run: <T>(body: () => Promise<T>): Promise<T> => run(body),
  sleep: async (ms: number): Promise<void> => {
    await sleep(ms);
  },
  start: <T>(body: () => Promise<T>): { join(): Promise<T> } => {
    const task = spawn(body);
    return { join: () => task.join() };
  },
};
