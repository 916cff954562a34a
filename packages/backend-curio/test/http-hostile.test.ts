// Hostile clients against the HTTP server on the curio runtime: every body runs in a kernel task.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpHostileConformance } from '@curio-ts/conformance';
import { curioHarness } from './harness.js';

httpHostileConformance(curioHarness, { describe, it, expect, beforeAll, afterAll });
