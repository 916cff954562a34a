// A script that made HTTP requests exits when it is done, as with undici: connections idle in
// the agent's pool (and their idle timers) do not keep the process alive, while a request
// under way does.
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const backend = fileURLToPath(new URL('../dist/index.js', import.meta.url));
let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((request, response) => {
    if (request.url === '/slow') setTimeout(() => response.end('slow body'), 300);
    else response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Run `code` (an ES module) in a child node; its exit code and stdout. */
function runScript(code: string): Promise<{ code: number | null; out: string; exitedBy: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // The idle timeout below is 60 s: a child still alive after 15 s was held by its pool.
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, out, exitedBy: signal ?? 'exit' });
    });
  });
}

describe('HTTP client and process lifetime (node runtime)', () => {
  it('a script exits with connections idle in its pool (idleTimeout 60 s), and a request under way keeps it alive', async () => {
    const script = `
      import { HttpAgent, makeFetch } from '@curio-ts/client';
      import { nodeRuntime, request } from ${JSON.stringify(backend)};
      const agent = new HttpAgent(nodeRuntime, { idleTimeout: 60_000 });
      const a = await agent.request(${JSON.stringify(base)} + '/');
      const b = await request(${JSON.stringify(base)} + '/');
      const f = await makeFetch(nodeRuntime, { agent })(${JSON.stringify(base)} + '/');
      console.log(await a.body.text(), await b.body.text(), await f.text(), agent.idleConnections);
      // Not awaited: only the request under way keeps the process alive until it ends.
      agent.request(${JSON.stringify(base)} + '/slow').then((r) => r.body.text()).then((t) => console.log(t));
    `;
    const result = await runScript(script);
    expect(result.exitedBy).toBe('exit');
    expect(result.code).toBe(0);
    expect(result.out).toBe('ok ok ok 1\nslow body\n');
  });
});
