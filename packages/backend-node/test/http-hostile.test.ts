// Hostile clients against the HTTP server on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpHostileConformance } from '@curio-ts/conformance';
import { nodeHarness } from './harness.js';

httpHostileConformance(nodeHarness, { describe, it, expect, beforeAll, afterAll });
