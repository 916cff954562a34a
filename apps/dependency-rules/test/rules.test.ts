// The repository keeps dependency-rules.json; and the checker finds every kind of violation
// when one is planted in a copy of the repository (its package.json files and sources only).

import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkRepository, loadRules, matches } from '../src/rules.js';
import type { Violation } from '../src/rules.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', '.test-results', '.nx', '.git', 'coverage']);

describe('the repository', () => {
  it('keeps every rule of dependency-rules.json', () => {
    expect(checkRepository(root)).toEqual([]);
  });

  it('places every workspace in a layer, and names only real layers', () => {
    const rules = loadRules(root);
    const names = new Set(rules.layers.map((layer) => layer.name));
    for (const layer of rules.layers) for (const other of layer.mayDependOn) expect(other === '*' || names.has(other), `${layer.name} → ${other}`).toBe(true);
    expect(matches('packages/proto-*', 'packages/proto-redis')).toBe(true);
    expect(matches('packages/proto-*', 'packages/proto-redis/src')).toBe(false);
  });
});

describe('planted violations are found', () => {
  let copy: string;

  beforeEach(() => {
    copy = mkdtempSync(join(tmpdir(), 'dependency-rules-'));
    cpSync(root, copy, { recursive: true, filter: (source) => !SKIP.has(source.split('/').pop() as string) });
  });
  afterEach(() => {
    rmSync(copy, { recursive: true, force: true });
  });

  /** Write `text` to `file` of the copy (its folders made as needed). */
  function plant(file: string, text: string): void {
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    writeFileSync(join(copy, file), text);
  }

  /** Change a workspace's package.json in the copy. */
  function editManifest(folder: string, edit: (manifest: Record<string, Record<string, string>>) => void): void {
    const path = join(copy, folder, 'package.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, string>>;
    edit(manifest);
    writeFileSync(path, JSON.stringify(manifest, null, 2));
  }

  const found = (): Pick<Violation, 'file' | 'rule'>[] => checkRepository(copy).map(({ file, rule }) => ({ file, rule }));

  it('the unchanged copy is clean (so each case below finds only what it planted)', () => {
    expect(checkRepository(copy)).toEqual([]);
  });

  it('a proto package importing IO, a clock, a timer or a Promise', () => {
    plant('packages/proto-redis/src/bad-io.ts', "import * as net from 'node:net';\nexport const s = net.connect(1);\n");
    plant('packages/proto-redis/src/bad-fs.ts', "import { readFileSync } from 'fs';\nexport const f = readFileSync;\n");
    plant('packages/proto-redis/src/bad-clock.ts', 'export const now = (): number => Date.now();\nexport const later = (f: () => void): unknown => setTimeout(f, 1);\n');
    plant('packages/proto-redis/src/bad-async.ts', 'export async function wait(): Promise<void> {\n  await 0;\n}\n');
    plant('packages/proto-redis/src/bad-node.ts', 'export const b = Buffer.from([1]);\nexport const argv = process.argv;\n');
    const got = found();
    expect(got).toEqual(
      expect.arrayContaining([
        { file: 'packages/proto-redis/src/bad-io.ts', rule: 'node-builtin' },
        { file: 'packages/proto-redis/src/bad-fs.ts', rule: 'node-builtin' },
        { file: 'packages/proto-redis/src/bad-clock.ts', rule: 'global' },
        { file: 'packages/proto-redis/src/bad-async.ts', rule: 'async' },
        { file: 'packages/proto-redis/src/bad-async.ts', rule: 'global' },
        { file: 'packages/proto-redis/src/bad-node.ts', rule: 'global' },
      ]),
    );
    const messages = checkRepository(copy).map((v) => v.message).join('\n');
    for (const what of ['Date.now', 'setTimeout', 'Buffer', 'process', 'await', 'async']) expect(messages).toContain(what);
  });

  it('names in comments and strings are not uses; the named exceptions hold for their package only', () => {
    plant('packages/proto-redis/src/fine.ts', "// setTimeout(process.exit) and import 'node:net' in a comment\nexport const text = 'Date.now() and Buffer, in a string';\nexport const utf8 = (b: Uint8Array & { utf8Slice?: unknown }): unknown => b.utf8Slice;\n");
    expect(found()).toEqual([]);
    plant('packages/proto-pg/package.json', JSON.stringify({ name: '@curio-ts/proto-pg', version: '0.1.0', type: 'module', exports: { '.': './src/index.ts' }, dependencies: { 'pg-protocol': '1.0.0' } }));
    plant('packages/proto-pg/tsconfig.json', JSON.stringify({ extends: '../../tsconfig.proto.json', include: ['src'] }));
    plant('packages/proto-pg/src/index.ts', "import { createHmac } from 'node:crypto';\nimport { serialize } from 'pg-protocol';\nexport const b = Buffer.alloc(1);\nexport { createHmac, serialize };\n");
    expect(found()).toEqual([]);
    // The same imports are no one else's exception.
    plant('packages/proto-redis/src/scram.ts', "import { createHmac } from 'node:crypto';\nexport { createHmac };\nexport const b = Buffer.alloc(1);\n");
    expect(found()).toEqual([
      { file: 'packages/proto-redis/src/scram.ts', rule: 'node-builtin' },
      { file: 'packages/proto-redis/src/scram.ts', rule: 'global' },
    ]);
  });

  it('the client importing the kernel, an IO module, or an npm package; pure built-ins are fine', () => {
    plant('packages/client/src/bad.ts', "import { run } from '@curio-ts/kernel';\nimport * as tls from 'node:tls';\nimport Redis from 'ioredis';\nimport { EventEmitter } from 'node:events';\nexport { run, tls, Redis, EventEmitter };\n");
    expect(found()).toEqual([
      { file: 'packages/client/src/bad.ts', rule: 'layer-dependency' },
      { file: 'packages/client/src/bad.ts', rule: 'node-builtin' },
      { file: 'packages/client/src/bad.ts', rule: 'external' },
    ]);
  });

  it('a backend depending on a proto package directly, or on an app', () => {
    editManifest('packages/backend-node', (m) => {
      m.dependencies = { ...m.dependencies, '@curio-ts/proto-redis': '0.1.0' };
      m.devDependencies = { ...m.devDependencies, '@curio-ts/bench': '0.1.0' };
    });
    expect(found()).toEqual([
      { file: 'packages/backend-node/package.json', rule: 'layer-dependency' },
      { file: 'packages/backend-node/package.json', rule: 'depends-on-app' },
    ]);
  });

  it('a package importing an app (in src/ or in a test), a deep path, an undeclared package, or outside itself', () => {
    plant('packages/mini-redis/src/bad.ts', "import '@curio-ts/demo';\nimport { x } from '@curio-ts/kernel/src/sched.js';\nimport { y } from '../../client/src/index.js';\nexport { x, y };\n");
    plant('packages/mini-redis/test/bad.test.ts', "import '../../../apps/bench/src/main.js';\n");
    plant('packages/backend-curio/src/undeclared.ts', "import { NEED_DATA } from '@curio-ts/proto-redis';\nexport { NEED_DATA };\n");
    expect(found()).toEqual(
      expect.arrayContaining([
        { file: 'packages/mini-redis/src/bad.ts', rule: 'depends-on-app' },
        { file: 'packages/mini-redis/src/bad.ts', rule: 'deep-import' },
        { file: 'packages/mini-redis/src/bad.ts', rule: 'relative-escape' },
        { file: 'packages/mini-redis/test/bad.test.ts', rule: 'depends-on-app' },
        { file: 'packages/backend-curio/src/undeclared.ts', rule: 'layer-dependency' },
      ]),
    );
    plant('packages/backend-curio/src/undeclared.ts', "import { sleep } from '@curio-ts/kernel/package.json';\nimport { Runtime } from '@curio-ts/conformance';\nexport { sleep, Runtime };\n");
    expect(found().filter((v) => v.file === 'packages/backend-curio/src/undeclared.ts')).toEqual([
      { file: 'packages/backend-curio/src/undeclared.ts', rule: 'layer-dependency' },
    ]);
  });

  it('a proto package whose tsconfig does not extend tsconfig.proto.json (and so may see Node types)', () => {
    plant('packages/proto-redis/tsconfig.build.json', JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src'] }));
    expect(found()).toEqual([{ file: 'packages/proto-redis/tsconfig.build.json', rule: 'tsconfig' }]);
  });

  it('a workspace in no layer', () => {
    plant('packages/stray/package.json', JSON.stringify({ name: '@curio-ts/stray', version: '0.1.0' }));
    expect(found()).toEqual([{ file: 'packages/stray/package.json', rule: 'unclassified' }]);
  });

  it('apps may import anything', () => {
    plant('apps/demo/src/anything.ts', "import * as net from 'node:net';\nimport '@curio-ts/bench';\nimport { x } from '@curio-ts/proto-redis';\nexport { net, x };\nexport const t = setTimeout;\n");
    expect(found()).toEqual([]);
  });
});
