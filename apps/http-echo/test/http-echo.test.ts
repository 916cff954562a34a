// http-echo as users run it: a real process on each runtime, real curl, stopped by SIGTERM.

import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { curl, startAppProcess } from '@curio-ts/conformance';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const started: ChildProcess[] = [];

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

async function start(runtime: string): Promise<{ child: ChildProcess; base: string; output: () => string }> {
  const app = await startAppProcess(main, ['--port', '0', '--runtime', runtime], /http-echo listening on (http:\/\/127\.0\.0\.1:\d+) \((node|curio)\)/);
  started.push(app.child);
  return { child: app.child, base: app.ready[1] as string, output: app.output };
}

for (const runtime of ['node', 'curio']) {
  describe(`http-echo --runtime ${runtime}`, () => {
    test('serves its three routes to curl and stops cleanly on SIGTERM', async () => {
      const { child, base, output } = await start(runtime);
      expect(await curl([`${base}/`])).toBe('hello');
      expect(await curl(['-H', 'Content-Type: text/x-mine', '--data-binary', 'echo me', '-D', '-', `${base}/echo`])).toMatch(/content-type: text\/x-mine[\s\S]*\r\n\r\n[\s\S]*echo me/i);
      expect(await curl([`${base}/stream?n=3`])).toBe('chunk 0\nchunk 1\nchunk 2\n');
      expect(await curl(['-o', '/dev/null', '-w', '%{http_code}', `${base}/nope`])).toBe('404');
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
      expect(output()).toContain('http-echo stopping (SIGTERM)');
    });
  });
}
