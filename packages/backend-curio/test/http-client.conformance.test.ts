// The HTTP client conformance suite on the curio runtime: every body runs in a kernel task.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClientConformance } from '@curio-ts/conformance';
import type { RuntimeHarness } from '@curio-ts/conformance';
import { currentTask, run } from '@curio-ts/kernel';
import { CurioByteStream, curioRuntime } from '@curio-ts/backend-curio';

const harness: RuntimeHarness = {
  name: 'curio',
  run: (body) => run(() => body(curioRuntime({ kernel: currentTask().kernel }))),
  buffered: (stream) => (stream as CurioByteStream).bufferedBytes,
  capabilities: { tls: true, unixSockets: true, cancelsAwaits: true },
};

httpClientConformance(harness, { describe, it, expect, beforeAll, afterAll });
