// The command-line server as users run it: a real process (the TypeScript source through tsx),
// reached by redis-cli, stopped by SIGTERM.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

/** Run a program to completion (no stdin); its exit code and output. */
function runProgram(file: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function redisCli(port: number, args: readonly string[]): Promise<string> {
  const result = await runProgram('redis-cli', ['-p', String(port), ...args]);
  if (result.code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const nodeArgs = ['--conditions=@curio-ts/source', '--import', 'tsx', main];

it('listens on the loopback interface, serves redis-cli, and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [...nodeArgs, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', () => {
        const match = /mini-redis listening on 127\.0\.0\.1:(\d+)/.exec(output);
        if (match !== null) resolve(Number(match[1]));
      });
      child.once('exit', () => reject(new Error(`exited before listening: ${output}`)));
    });
    expect(await redisCli(port, ['SET', 'cli:k', 'v'])).toBe('OK\n');
    expect(await redisCli(port, ['GET', 'cli:k'])).toBe('v\n');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(output).toContain('mini-redis stopped');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

it('refuses unknown options with its usage and exit code 2', async () => {
  const result = await runProgram(process.execPath, [...nodeArgs, '--nope']);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('usage: main.js [--host HOST] [--port PORT]');
});
