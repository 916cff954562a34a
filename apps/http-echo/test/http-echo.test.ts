// http-echo as users run it: a real process on each runtime, real curl, stopped by SIGTERM.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { curl } from '@curio-ts/conformance';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const nodeArgs = ['--conditions=@curio-ts/source', '--import', 'tsx', main];
const started: ChildProcess[] = [];

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

async function start(runtime: string): Promise<{ child: ChildProcess; base: string; output: () => string }> {
  const child = spawn(process.execPath, [...nodeArgs, '--port', '0', '--runtime', runtime], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /http-echo listening on (http:\/\/127\.0\.0\.1:\d+) \((node|curio)\)/.exec(text);
      if (match !== null) {
        clearInterval(timer);
        resolve(match[1] as string);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`http-echo exited: ${text}`));
      }
    }, 20);
  });
  return { child, base, output: () => text };
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
