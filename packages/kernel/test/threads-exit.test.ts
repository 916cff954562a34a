// Whole-process behaviour of threads and processes, against the built package (dist/) as users
// run it: plain JavaScript worker modules load without any TypeScript loader, TypeScript ones
// through tsx; pools left open do not keep the process alive; and without tsx installed, a
// TypeScript module fails with TypeScriptLoaderMissing instead of a hang or a crash.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

function lines(out: string): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (const line of out.trim().split('\n')) {
    const parsed = JSON.parse(line) as { name: string; value?: unknown; error?: unknown; result?: unknown };
    map.set(parsed.name, parsed.value ?? parsed.error ?? parsed.result);
  }
  return map;
}

describe('threads in a whole process (built package)', () => {
  it('loads .mjs workers without a loader, .ts through tsx, and exits with pools left open', () => {
    const out = execFileSync(process.execPath, [fixture('threads-dist.mjs')], { encoding: 'utf8', timeout: 20_000 });
    const seen = lines(out);
    expect(seen.get('thread-mjs')).toEqual({ tsx: false, execArgv: [], isMainThread: false });
    expect(seen.get('thread-ts')).toBe('number');
    expect(seen.get('process-mjs')).toEqual({ tsx: false, samePid: false });
    expect(seen.get('async-thread')).toBe(42);
    expect(seen.get('async-thread-join')).toBe(1);
    expect(seen.get('open-pools')).toEqual([3, 7]);
    // The process ended on its own, with its pools' workers still there but idle.
    expect(seen.get('exit')).toBe(2);
  });

  it('reports TypeScriptLoaderMissing when tsx is not installed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'curio-no-tsx-'));
    try {
      const kernel = join(dir, 'node_modules', '@curio-ts', 'kernel');
      mkdirSync(kernel, { recursive: true });
      cpSync(join(packageRoot, 'dist'), join(kernel, 'dist'), { recursive: true });
      cpSync(join(packageRoot, 'package.json'), join(kernel, 'package.json'));
      const work = join(dir, 'work.ts');
      writeFileSync(work, 'export function whoAmI(): number { return 1; }\n');
      const out = execFileSync(
        process.execPath,
        [fixture('threads-no-tsx.mjs'), pathToFileURL(join(kernel, 'dist', 'index.js')).href, work],
        { encoding: 'utf8', timeout: 20_000, cwd: dir },
      );
      const seen = lines(out);
      for (const name of ['thread', 'process', 'async-thread']) {
        const error = seen.get(name) as { name: string; code: string; message: string };
        expect(error.name).toBe('TypeScriptLoaderMissing');
        expect(error.code).toBe('ERR_TS_LOADER_MISSING');
        expect(error.message).toContain('npm install --save-dev tsx');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
