// Real clients (undici, autocannon) against the HTTP server on the curio runtime: every body runs in a kernel task.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpPeersConformance } from '@curio-ts/conformance';
import { curioHarness } from './harness.js';

httpPeersConformance(curioHarness, { describe, it, expect, beforeAll, afterAll });
