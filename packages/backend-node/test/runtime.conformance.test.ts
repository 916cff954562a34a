// The Runtime conformance suite on the node runtime (see harness.ts for its capabilities).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeConformance } from '@curio-ts/conformance';
import { nodeHarness } from './harness.js';

runtimeConformance(nodeHarness, { describe, it, expect, beforeAll, afterAll });
