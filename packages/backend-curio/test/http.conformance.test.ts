// The HTTP server conformance suite on the curio runtime: every body runs in a kernel task.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpHandlerConformance, httpServerConformance } from '@curio-ts/conformance';
import { curioHarness } from './harness.js';

httpServerConformance(curioHarness, { describe, it, expect, beforeAll, afterAll });
httpHandlerConformance(curioHarness, { describe, it, expect, beforeAll, afterAll });
