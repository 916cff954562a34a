// Shared vitest settings for every package and app: run TypeScript sources through the
// '@curio-ts/source' export condition (no build needed), and write a JSON report that
// scripts/test.mjs sums into the one-line total.
import { defineConfig } from 'vitest/config';
import type { ViteUserConfig } from 'vitest/config';

export function sharedConfig(overrides: { testTimeout?: number } = {}): ViteUserConfig {
  return defineConfig({
    // Vitest runs tests in Vite's server-side environment, whose resolve conditions are set
    // apart from the client ones: set both, or packages resolve to their (possibly stale) dist.
    resolve: { conditions: ['@curio-ts/source', 'module', 'node', 'development|production'] },
    ssr: { resolve: { conditions: ['@curio-ts/source', 'module', 'node', 'development|production'], externalConditions: ['@curio-ts/source'] } },
    test: {
      include: ['test/**/*.test.ts'],
      testTimeout: overrides.testTimeout ?? 20_000,
      hookTimeout: 30_000,
      reporters: ['default', 'json'],
      outputFile: { json: '.test-results/vitest.json' },
    },
  });
}
