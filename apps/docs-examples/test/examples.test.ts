// Every code block of the READMEs (root, packages/*, apps/*) and of docs/ runs as shown, on the
// Node the README asks for: JavaScript blocks as plain .mjs files, TypeScript blocks
// type-checked with the repository's strict settings and compiled, shell blocks with bash.
// How a block is run, and the only reasons a block may be left out, are in src/markdown.ts and
// src/examples.ts. Blocks that talk to Redis get the test Redis (CURIO_TEST_REDIS_URL, which
// `npm test` sets; else a private redis-server started here).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, sharedTestPgUrl, startPrivateRedis, testRedisUrl } from '@curio-ts/conformance';
import type { PrivateRedis } from '@curio-ts/conformance';
import { checkBuilt, cleanUp, compileTypeScript, kindOf, moduleText, prepare, runExample, skipReason } from '../src/examples.js';
import type { ExampleEnvironment, PreparedExample } from '../src/examples.js';
import { codeBlocks, describeBlock, directive } from '../src/markdown.js';
import type { CodeBlock } from '../src/markdown.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The documents whose examples must run. */
function documents(): string[] {
  const found = ['README.md'];
  for (const dir of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, dir)).sort()) {
      if (existsSync(join(root, dir, name, 'README.md'))) found.push(join(dir, name, 'README.md'));
    }
  }
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  return found;
}

/** Every runnable block of every document, with the `module` blocks before it in its document. */
const blocks: { block: CodeBlock; modules: Map<string, string> }[] = [];
const skipped: { block: CodeBlock; reason: string }[] = [];
for (const document of documents()) {
  const modules = new Map<string, string>();
  for (const block of codeBlocks(document, readFileSync(join(root, document), 'utf8'))) {
    const reason = skipReason(block);
    const module = directive(block, 'module');
    if (reason !== null) skipped.push({ block, reason });
    else if (module !== undefined) modules.set(module.argument, moduleText(block));
    else blocks.push({ block, modules: new Map(modules) });
  }
}

let redis: PrivateRedis | null = null;
let env: ExampleEnvironment;
const prepared = new Map<CodeBlock, PreparedExample>();
let diagnostics = new Map<PreparedExample, string>();

beforeAll(async () => {
  const stale = checkBuilt(root, ['packages/kernel', 'packages/proto-redis', 'packages/client', 'packages/backend-node', 'packages/backend-curio', 'packages/backend-memory', 'packages/conformance', 'packages/mini-redis', 'apps/mini-redis', 'packages/proto-pg', 'packages/transport-pglite']);
  if (stale.length > 0) {
    throw new Error(`The examples import the built packages, and these are not built or older than their sources: ${stale.join(', ')}. Run \`npm run build\` first (\`npm test\` does).`);
  }
  let url = testRedisUrl();
  if (url === undefined) {
    redis = await startPrivateRedis();
    url = redis.url;
  }
  const parsed = new URL(url);
  const pgUrl = await sharedTestPgUrl(); // CURIO_TEST_PG_URL, else a private server (never 5432 by chance)
  const pg = new URL(pgUrl);
  env = { root, redisAddress: `${parsed.hostname}:${parsed.port || '6379'}`, redisUrl: url, pgAddress: `${pg.hostname}:${pg.port || '5432'}`, pgUrl, freePort };
  for (const { block, modules } of blocks) prepared.set(block, await prepare(block, modules, env));
  diagnostics = compileTypeScript(root, [...prepared.values()].filter((example) => example.kind === 'typescript'));
}, 120_000);

afterAll(async () => {
  for (const example of prepared.values()) cleanUp(example);
  await redis?.stop();
});

describe('documentation examples', () => {
  it('finds the blocks of every document, and leaves out only install/test commands and output', () => {
    expect(blocks.length).toBeGreaterThan(20);
    const firstLine = (block: CodeBlock): string => (block.code.split('\n')[0] ?? '').replace(/#.*$/, '').trim();
    expect(skipped.map(({ block, reason }) => `${block.document} (${block.language}) ${firstLine(block)}: ${reason}`)).toEqual([
      'README.md (sh) npm ci && npm test: the install/test command itself',
      'packages/kernel/README.md (text) curio > ps: output, not code',
    ]);
  });

  for (const { block } of blocks) {
    it(`${describeBlock(block)} runs as shown`, async () => {
      const example = prepared.get(block);
      if (example === undefined) throw new Error('not prepared');
      if (kindOf(block) === 'typescript') {
        const found = diagnostics.get(example) ?? '';
        expect(found === '' ? '' : `type errors:\n${found}\nin the program:\n${numbered(example.program)}`).toBe('');
      }
      try {
        await runExample(example, env);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n\nThe program (${relative(root, example.entry)}):\n${numbered(example.program)}`);
      }
    });
  }
});

function numbered(text: string): string {
  return text.split('\n').map((line, i) => `${String(i + 1).padStart(3)}  ${line}`).join('\n');
}
