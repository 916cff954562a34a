// The Runtime conformance suite on the curio runtime (see harness.ts: kernel tasks, and a virtual clock for the virtual-clock cases).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeConformance } from '@curio-ts/conformance';
import { curioHarness } from './harness.js';

runtimeConformance(curioHarness, { describe, it, expect, beforeAll, afterAll });
