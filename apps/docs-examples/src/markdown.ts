// src/markdown.ts
//
// Reads the fenced code blocks of a Markdown document, with the hidden directives that say how
// to run each one. A directive is an HTML comment (invisible on GitHub) placed right above its
// block; blank lines may separate them:
//
//     <!-- example: in-kernel -->
//     <!-- example: setup
//     async function fetchAll() { ... }
//     -->
//     ```js
//     ...
//     ```
//
// Directives (one per comment; the first line names it, later lines are its body):
//   skip install-and-test   a shell block made only of the install/test commands (`npm ci`,
//                           `npm test`): running them inside the tests would recurse.
//   skip output             a `text` block that shows output (a transcript), not code.
//   setup <body>            code placed before the block (imports are hoisted anyway; use
//                           function declarations or names the block does not declare).
//   after <body>            code placed after the block (checks, cleanup the reader need not see).
//   in-kernel               the block's statements (not its imports) run inside
//                           `await run(async () => { ... })` of @curio-ts/kernel.
//   file <name> <body>      an extra file written next to the block (e.g. a worker module).
//   module <name>           this block is not run alone: it is saved as <name> next to every
//                           later block of the same document (which imports it).
//   port <n>                <n> is replaced by a free port everywhere (block, setup, check).
//   wait-for <regex>        wait until the block's output matches before the check.
//   check <body>            a JavaScript module (.mjs) run while the block runs (a server): it
//                           must exit 0. Then the block is stopped (see `stop`).
//   stop <SIGNAL> [exits-0] how a block that does not end by itself is stopped after its check
//                           (default SIGTERM); with exits-0 it must then exit with status 0.
//   prints <body>           each non-empty body line must appear in the output, in order.
//   timeout <seconds>       how long the block may run (default 60).
//
// Invariants: every fenced block is returned (none is silently dropped); a directive that does
// not stand right above a block, or that is unknown, is an error naming its line.

/** One directive: its name, the rest of its first line, and its body. */
export interface Directive {
  readonly name: string;
  readonly argument: string;
  readonly body: string;
  readonly line: number;
}

/** A fenced code block and the directives above it. */
export interface CodeBlock {
  /** The document's path (as given). */
  readonly document: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word, lower-cased ('' when there is none). */
  readonly language: string;
  /** The code, with a final newline. */
  readonly code: string;
  readonly directives: readonly Directive[];
}

/** Names a directive may have. */
export const DIRECTIVES: ReadonlySet<string> = new Set([
  'skip', 'setup', 'after', 'in-kernel', 'file', 'module', 'port', 'wait-for', 'check', 'stop', 'prints', 'timeout',
]);

/** A document that breaks the conventions above. */
export class ExampleSyntaxError extends Error {
  constructor(document: string, line: number, problem: string) {
    super(`${document}:${line}: ${problem}`);
    this.name = 'ExampleSyntaxError';
  }
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
const DIRECTIVE_START = /^ {0,3}<!--\s*example:\s*(.*)$/;

/** Every fenced code block of `text`, in order, with its directives. */
export function codeBlocks(document: string, text: string): CodeBlock[] {
  const lines = text.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  let pending: Directive[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const directive = DIRECTIVE_START.exec(line);
    if (directive !== null) {
      const { parsed, next } = readDirective(document, lines, i, directive[1] as string);
      pending.push(parsed);
      i = next;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence !== null) {
      const marker = fence[1] as string;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length; j++) {
        const closing = (lines[j] as string).trim();
        if (closing.startsWith(marker[0] as string) && /^(`{3,}|~{3,})$/.test(closing) && closing.length >= marker.length) break;
        body.push(lines[j] as string);
      }
      if (j === lines.length) throw new ExampleSyntaxError(document, i + 1, 'code block is never closed');
      blocks.push({
        document,
        line: i + 1,
        language: (fence[2] ?? '').toLowerCase(),
        code: `${body.join('\n')}\n`,
        directives: pending,
      });
      pending = [];
      i = j;
      continue;
    }
    if (line.trim() !== '' && pending.length > 0) {
      throw new ExampleSyntaxError(document, (pending[0] as Directive).line, 'an example directive must stand right above a code block');
    }
  }
  if (pending.length > 0) throw new ExampleSyntaxError(document, (pending[0] as Directive).line, 'an example directive must stand right above a code block');
  return blocks;
}

function readDirective(document: string, lines: readonly string[], start: number, firstLine: string): { parsed: Directive; next: number } {
  let head = firstLine;
  const body: string[] = [];
  let end = start;
  const closesOnFirst = head.includes('-->');
  if (closesOnFirst) head = head.slice(0, head.indexOf('-->'));
  else {
    for (end = start + 1; end < lines.length; end++) {
      const line = lines[end] as string;
      if (line.includes('-->')) {
        const before = line.slice(0, line.indexOf('-->'));
        if (before.trim() !== '') body.push(before);
        break;
      }
      body.push(line);
    }
    if (end === lines.length) throw new ExampleSyntaxError(document, start + 1, 'example directive is never closed (-->)');
  }
  const [name = '', ...rest] = head.trim().split(/\s+/);
  if (!DIRECTIVES.has(name)) throw new ExampleSyntaxError(document, start + 1, `unknown example directive '${name}'`);
  return {
    parsed: { name, argument: rest.join(' '), body: body.length === 0 ? '' : `${body.join('\n')}\n`, line: start + 1 },
    next: end,
  };
}

/** The directives of `block` named `name`. */
export function directivesNamed(block: CodeBlock, name: string): Directive[] {
  return block.directives.filter((d) => d.name === name);
}

/** The one directive named `name`, or undefined; two of them is an error. */
export function directive(block: CodeBlock, name: string): Directive | undefined {
  const found = directivesNamed(block, name);
  if (found.length > 1) throw new ExampleSyntaxError(block.document, block.line, `more than one '${name}' directive`);
  return found[0];
}

/** Where a block is, for test names and messages: `README.md:42 (ts)`. */
export function describeBlock(block: CodeBlock): string {
  return `${block.document}:${block.line} (${block.language === '' ? 'no language' : block.language})`;
}
