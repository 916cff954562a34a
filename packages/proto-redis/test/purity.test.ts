// proto-redis is sans-IO: no module here may do IO, read a clock, use timers or Promises.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const srcDir = fileURLToPath(new URL('../src/', import.meta.url));
const sources = readdirSync(srcDir)
  .filter((name) => name.endsWith('.ts'))
  .map((name) => ({ name, text: readFileSync(srcDir + name, 'utf8') }));

const FORBIDDEN: [RegExp, string][] = [
  [/from\s+['"](node:)?(net|tls|dgram|http|https|http2|fs|fs\/promises|child_process|worker_threads|timers|timers\/promises|perf_hooks|dns|cluster)['"]/, 'an IO or timer module'],
  [/\bprocess\./, 'process'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'a timer'],
  [/\bDate\.now\s*\(|\bperformance\.now\s*\(/, 'a clock'],
  [/\bnew Promise\b|\basync\s+function\b|\basync\s*\(|\bawait\b/, 'a Promise'],
];

describe('proto-redis stays pure', () => {
  it('has sources to check', () => {
    expect(sources.length).toBeGreaterThan(5);
  });
  it.each(sources.map((s) => [s.name, s.text]))('%s imports no IO, clock, timer or Promise', (_name, text) => {
    const code = text.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const [pattern, what] of FORBIDDEN) expect(code, `uses ${what}`).not.toMatch(pattern);
  });
});
