// The conventions a documentation writer relies on: no code block is silently left out, and a
// hidden directive that is misplaced or unknown is an error that names its line.

import { describe, expect, it } from 'vitest';
import { skipReason, wrapInKernel } from '../src/examples.js';
import { codeBlocks, ExampleSyntaxError } from '../src/markdown.js';

const fence = '```';

describe('reading code blocks and their directives', () => {
  it('returns every fenced block, with the directives right above it', () => {
    const text = [
      'Intro', '', `${fence}js`, 'one()', fence, '', '<!-- example: in-kernel -->', '<!-- example: setup', 'const x = 1;', '-->', '',
      `~~~ts title`, 'two()', '~~~', `${fence}sh`, 'echo three', fence,
    ].join('\n');
    const blocks = codeBlocks('doc.md', text);
    expect(blocks.map((b) => [b.line, b.language, b.code, b.directives.map((d) => [d.name, d.body])])).toEqual([
      [3, 'js', 'one()\n', []],
      [12, 'ts', 'two()\n', [['in-kernel', ''], ['setup', 'const x = 1;\n']]],
      [15, 'sh', 'echo three\n', []],
    ]);
  });

  it('refuses a directive that does not stand above a block, an unknown one, an unclosed block', () => {
    expect(() => codeBlocks('doc.md', '<!-- example: in-kernel -->\nSome prose.\n')).toThrow(/doc\.md:1: .*right above a code block/);
    expect(() => codeBlocks('doc.md', '<!-- example: run-twice -->\n```js\nx\n```\n')).toThrow(/doc\.md:1: unknown example directive 'run-twice'/);
    expect(() => codeBlocks('doc.md', 'text\n\n```js\nx\n')).toThrow(ExampleSyntaxError);
  });

  it('leaves out only install/test command blocks and output, each said so explicitly', () => {
    const [install, mixed, output, unmarked, unlabelled] = codeBlocks('doc.md', [
      '<!-- example: skip install-and-test -->', `${fence}sh`, 'npm ci && npm test   # all', fence,
      '<!-- example: skip install-and-test -->', `${fence}sh`, 'npm ci && npm start', fence,
      '<!-- example: skip output -->', `${fence}text`, 'curio > ps', fence,
      `${fence}text`, 'output', fence,
      fence, 'what is this', fence,
    ].join('\n'));
    expect(skipReason(install!)).toBe('the install/test command itself');
    expect(() => skipReason(mixed!)).toThrow(/only for blocks made of npm ci \/ npm test/);
    expect(skipReason(output!)).toBe('output, not code');
    expect(() => skipReason(unmarked!)).toThrow(/skip output/);
    expect(() => skipReason(unlabelled!)).toThrow(/give the block a language/);
  });

  it('in-kernel keeps the imports at the top and runs the rest inside run()', () => {
    const wrapped = wrapInKernel("import { Lock } from '@curio-ts/kernel';\nconst lock = new Lock();\n", false);
    expect(wrapped.indexOf("import { Lock } from '@curio-ts/kernel';")).toBeLessThan(wrapped.indexOf('await runExampleInKernel(async () => {'));
    expect(wrapped.indexOf('const lock = new Lock();')).toBeGreaterThan(wrapped.indexOf('await runExampleInKernel(async () => {'));
  });
});
