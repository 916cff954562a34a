// Real clients (undici, autocannon) against the HTTP server on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpPeersConformance } from '@curio-ts/conformance';
import { nodeHarness } from './harness.js';

httpPeersConformance(nodeHarness, { describe, it, expect, beforeAll, afterAll });
