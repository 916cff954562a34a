// The HTTP server conformance suite on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpHandlerConformance, httpServerConformance } from '@curio-ts/conformance';
import { nodeHarness } from './harness.js';

httpServerConformance(nodeHarness, { describe, it, expect, beforeAll, afterAll });
httpHandlerConformance(nodeHarness, { describe, it, expect, beforeAll, afterAll });
