// src/examples.ts
//
// Turns the code blocks of the documentation into programs and runs them the way a reader
// would: a JavaScript block as a plain `.mjs` file with `node` (so syntax Node 20 lacks, such
// as `using`, fails here as it would for the reader), a TypeScript block type-checked with the
// repository's strict settings and compiled with `tsc` to JavaScript that `node` runs, a shell
// block with bash at the repository root. Packages resolve as they do for a user: to their
// built `dist` (see `checkBuilt`), through the repository's node_modules.
//
// Invariants:
// - Each program runs in a temporary folder of its own (its files, a package.json with
//   "type": "module", node_modules linked to the repository's), removed afterwards.
// - Addresses: `127.0.0.1:6379` (or a lone 6379; for PostgreSQL 127.0.0.1:5432 or 5432) in a block, its setup and check means the test
//   Redis and is replaced by its address; a `port <n>` directive replaces <n> with a free port.
// - A block passes when it exits with status 0 by itself within its timeout, or, with a
//   `check`, when the check exits 0 and the block then stops on the signal it is sent.
//
// Discussion: TypeScript blocks are compiled together in one program (type-checking each
// alone would load the packages' sources once per block); only the blocks' own files are
// emitted.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { directive, directivesNamed, ExampleSyntaxError } from './markdown.js';
import type { CodeBlock } from './markdown.js';

/** What kind of program a block is. */
export type BlockKind = 'javascript' | 'typescript' | 'shell' | 'output';

/** The kind of a block from its language. */
export function kindOf(block: CodeBlock): BlockKind {
  switch (block.language) {
    case 'js':
    case 'javascript':
    case 'mjs':
      return 'javascript';
    case 'ts':
    case 'typescript':
      return 'typescript';
    case 'sh':
    case 'bash':
    case 'shell':
      return 'shell';
    case 'text':
      return 'output';
    default:
      throw new ExampleSyntaxError(block.document, block.line, `give the block a language (js, ts, sh, or text for output); '${block.language}' is none of them`);
  }
}

/** The only commands a `skip install-and-test` block may hold. */
const INSTALL_AND_TEST = /^(npm ci|npm install|npm test)(\s*&&\s*(npm ci|npm install|npm test))*$/;

/**
 * Why a block is not run, or null when it is. Only two reasons are accepted: a shell block of
 * nothing but the install/test commands, and a `text` block (output). Anything else must run.
 */
export function skipReason(block: CodeBlock): string | null {
  const skip = directive(block, 'skip');
  const kind = kindOf(block);
  if (skip === undefined) {
    if (kind === 'output') throw new ExampleSyntaxError(block.document, block.line, 'a text block must say `<!-- example: skip output -->`');
    return null;
  }
  if (skip.argument === 'output' && kind === 'output') return 'output, not code';
  if (skip.argument === 'install-and-test' && kind === 'shell') {
    const commands = block.code.split('\n').map((line) => line.replace(/#.*$/, '').trim()).filter((line) => line !== '');
    if (commands.length > 0 && commands.every((command) => INSTALL_AND_TEST.test(command))) return 'the install/test command itself';
    throw new ExampleSyntaxError(block.document, block.line, '`skip install-and-test` is only for blocks made of npm ci / npm test');
  }
  throw new ExampleSyntaxError(block.document, block.line, `'skip ${skip.argument}' is not an accepted reason for a ${kind} block`);
}

/** Where the examples run and what they talk to. */
export interface ExampleEnvironment {
  /** The repository's root folder. */
  readonly root: string;
  /** `host:port` of the test Redis, put in place of 127.0.0.1:6379. */
  readonly redisAddress: string;
  /** The test Redis as a URL (given to examples and checks as CURIO_TEST_REDIS_URL). */
  readonly redisUrl: string;
  /** `host:port` of the test PostgreSQL, put in place of 127.0.0.1:5432 (and any other 5432). */
  readonly pgAddress: string;
  /** The test PostgreSQL as a URL (given to examples and checks as CURIO_TEST_PG_URL). */
  readonly pgUrl: string;
  /** A free loopback port. */
  freePort(): Promise<number>;
}

/** A block made ready to run: its folder, files and how to start it. */
export interface PreparedExample {
  readonly block: CodeBlock;
  readonly kind: 'javascript' | 'typescript' | 'shell';
  readonly folder: string;
  /** The TypeScript files to type-check and compile (absolute paths). */
  readonly typescriptFiles: readonly string[];
  /** The file `node` runs (JavaScript and TypeScript blocks). */
  readonly entry: string;
  /** The block's code as run (after setup, wrapping and substitutions). */
  readonly program: string;
  /** The check's code, if any. */
  readonly check: string | null;
  readonly timeoutMs: number;
}

const WRAP_IMPORT = "import { run as runExampleInKernel } from '@curio-ts/kernel';\n";

/**
 * Split a block into its import declarations and the rest, and put the rest inside
 * `await run(async () => { ... })`. Line breaks are kept so messages still point near the line.
 */
export function wrapInKernel(code: string, typescript: boolean): string {
  const source = ts.createSourceFile(typescript ? 'block.ts' : 'block.mjs', code, ts.ScriptTarget.Latest, true, typescript ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const imports: string[] = [];
  let body = code;
  for (const statement of [...source.statements].reverse()) {
    if (!ts.isImportDeclaration(statement)) continue;
    const start = statement.getStart(source);
    imports.unshift(code.slice(start, statement.end));
    body = `${body.slice(0, start)}${body.slice(start, statement.end).replace(/[^\n]/g, '')}${body.slice(statement.end)}`;
  }
  return `${WRAP_IMPORT}${imports.join('\n')}\nawait runExampleInKernel(async () => {\n${body}});\n`;
}

/**
 * Point the program at the test Redis and PostgreSQL (`127.0.0.1:6379` and `127.0.0.1:5432`,
 * then any other 6379 or 5432: the blocks use those numbers for nothing else) and replace the
 * `port` directives' numbers.
 */
function substitute(text: string, env: ExampleEnvironment, ports: ReadonlyMap<string, number>): string {
  let result = text;
  for (const [address, from] of [[env.redisAddress, '6379'], [env.pgAddress, '5432']] as const) {
    const port = address.slice(address.lastIndexOf(':') + 1);
    result = result.replaceAll(`127.0.0.1:${from}`, address).replace(new RegExp(`\\b${from}\\b`, 'g'), port);
  }
  for (const [from, to] of ports) result = result.replace(new RegExp(`\\b${from}\\b`, 'g'), String(to));
  return result;
}

/**
 * Write a block's program and files into a fresh folder. `modules` are the document's earlier
 * `module` blocks (name and code), written next to it.
 */
export async function prepare(block: CodeBlock, modules: ReadonlyMap<string, string>, env: ExampleEnvironment): Promise<PreparedExample> {
  const kind = kindOf(block);
  if (kind === 'output') throw new ExampleSyntaxError(block.document, block.line, 'output blocks are not run');
  const ports = new Map<string, number>();
  for (const d of directivesNamed(block, 'port')) ports.set(d.argument, await env.freePort());
  const fix = (text: string): string => substitute(text, env, ports);

  const folder = mkdtempSync(join(tmpdir(), 'curio-doc-example-'));
  writeFileSync(join(folder, 'package.json'), '{ "type": "module", "private": true }\n');
  symlinkSync(join(env.root, 'node_modules'), join(folder, 'node_modules'), 'dir');

  const typescript = kind === 'typescript';
  let code = block.code;
  if (directive(block, 'in-kernel') !== undefined) {
    if (kind === 'shell') throw new ExampleSyntaxError(block.document, block.line, 'in-kernel is for JavaScript and TypeScript blocks');
    code = wrapInKernel(code, typescript);
  }
  const program = fix(moduleText({ ...block, code }));
  const typescriptFiles: string[] = [];
  const write = (name: string, text: string): void => {
    const path = join(folder, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    if (/\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts')) typescriptFiles.push(path);
  };
  for (const [name, text] of modules) write(name, fix(text));
  for (const file of directivesNamed(block, 'file')) write(file.argument, fix(file.body));
  const entryName = kind === 'typescript' ? 'main.ts' : kind === 'javascript' ? 'main.mjs' : 'main.sh';
  write(entryName, program);
  const timeout = directive(block, 'timeout');
  return {
    block,
    kind,
    folder,
    typescriptFiles,
    entry: join(folder, kind === 'typescript' ? 'main.js' : entryName),
    program,
    check: directive(block, 'check') !== undefined ? fix(directive(block, 'check')?.body ?? '') : null,
    timeoutMs: timeout !== undefined ? Number(timeout.argument) * 1000 : 60_000,
  };
}

/** A `module` block's file: its setup, code and `after`, as a later block imports it. */
export function moduleText(block: CodeBlock): string {
  return `${directive(block, 'setup')?.body ?? ''}${block.code}${directive(block, 'after')?.body ?? ''}`;
}

/** Compiler options: the repository's strict settings, emitting plain JavaScript beside the sources. */
function compilerOptions(root: string): ts.CompilerOptions {
  const configPath = join(root, 'tsconfig.base.json');
  const read = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.convertCompilerOptionsFromJson((read.config as { compilerOptions: unknown }).compilerOptions, root, configPath);
  if (parsed.errors.length > 0) throw new Error(ts.formatDiagnostics(parsed.errors, formatHost(root)));
  return { ...parsed.options, noEmit: false, declaration: false, declarationMap: false, sourceMap: false, skipLibCheck: true };
}

function formatHost(root: string): ts.FormatDiagnosticsHost {
  return { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
}

/**
 * Type-check every TypeScript example together and compile each to JavaScript beside it.
 * Returns each file's diagnostics, formatted (an empty string when there are none).
 */
export function compileTypeScript(root: string, examples: readonly PreparedExample[]): Map<PreparedExample, string> {
  const files = examples.flatMap((example) => example.typescriptFiles);
  const result = new Map<PreparedExample, string>();
  if (files.length === 0) return result;
  const program = ts.createProgram(files, compilerOptions(root));
  const global = program.getGlobalDiagnostics();
  for (const example of examples) {
    const diagnostics: ts.Diagnostic[] = [...global];
    for (const file of example.typescriptFiles) {
      const source = program.getSourceFile(file);
      if (source === undefined) continue;
      diagnostics.push(...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source));
      program.emit(source);
    }
    result.set(example, diagnostics.length === 0 ? '' : ts.formatDiagnostics(diagnostics, formatHost(example.folder)));
  }
  return result;
}

/** What running a program gave. */
export interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
  readonly timedOut: boolean;
}

interface Running {
  readonly output: () => string;
  readonly finished: Promise<Outcome>;
  kill(signal: NodeJS.Signals): void;
}

function start(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Running {
  // A process group of its own, signalled as a whole as a terminal's Ctrl-C would: a shell
  // block's `node` child must get the signal too, and nothing may outlive the example.
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  let output = '';
  const keep = (chunk: Buffer): void => {
    if (output.length < 1 << 20) output += chunk.toString();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup('SIGKILL');
  }, timeoutMs);
  const finished = new Promise<Outcome>((resolve) => {
    child.once('error', (error) => keep(Buffer.from(`${error.message}\n`)));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, timedOut });
    });
  });
  return {
    output: () => output,
    finished,
    kill: signalGroup,
  };
}

/** The environment examples run in: the test Redis, and none of the test runner's settings. */
function exampleEnv(env: ExampleEnvironment): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...process.env, CURIO_TEST_REDIS_URL: env.redisUrl, CURIO_TEST_PG_URL: env.pgUrl };
  // Not the runner's: FORCE_COLOR would colour numbers in console.log; NX_SKIP_NX_CACHE would
  // make `npm start` rebuild everything instead of reusing what `npm test` just built.
  const runnerOnly = ['REDIS_URL', 'NODE_OPTIONS', 'FORCE_COLOR', 'NX_SKIP_NX_CACHE', 'VITEST', 'VITEST_MODE', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'TEST', 'NODE_ENV'];
  for (const name of runnerOnly) delete result[name];
  return result;
}

function describeOutcome(what: string, outcome: Outcome): string {
  const how = outcome.timedOut ? 'did not finish in time' : outcome.signal !== null ? `was killed by ${outcome.signal}` : `exited with status ${outcome.code}`;
  return `${what} ${how}. Its output:\n${outcome.output.trimEnd() || '(none)'}`;
}

/**
 * `check-helpers.mjs`, written next to every check. `talk(port, text, { expect, halfClose })`
 * connects to 127.0.0.1:port (retrying while nothing listens, up to 60 s), sends `text`
 * (then half-closes with `halfClose`), and collects what comes back until it contains `expect`
 * or the server closes: `{ received, closedByServer }`.
 */
const CHECK_HELPERS = `import * as net from 'node:net';

function connectOnce(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

export async function connect(port) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await connectOnce(port);
    } catch (error) {
      if (error.code !== 'ECONNREFUSED' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export async function talk(port, text, { expect, halfClose = false } = {}) {
  const socket = await connect(port);
  return new Promise((resolve, reject) => {
    let received = '';
    let closedByServer = false;
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (expect !== undefined && received.includes(expect)) socket.destroy();
    });
    socket.on('end', () => {
      closedByServer = true;
      socket.end();
    });
    socket.on('close', () => resolve({ received, closedByServer }));
    socket.on('error', reject);
    socket.write(text);
    if (halfClose) socket.end();
  });
}
`;

/** Wait until `running`'s output matches `pattern` (or it ends, or `timeoutMs` pass). */
async function waitForOutput(running: Running, pattern: RegExp, timeoutMs: number): Promise<boolean> {
  let ended = false;
  void running.finished.then(() => (ended = true));
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(running.output())) {
    if (ended || Date.now() > deadline) return pattern.test(running.output());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * Run a prepared example. Resolves with its output when it passed; throws an Error that says
 * what went wrong (with the program's output) when it did not.
 */
export async function runExample(example: PreparedExample, env: ExampleEnvironment): Promise<string> {
  const { block } = example;
  const processEnv = exampleEnv(env);
  const running =
    example.kind === 'shell'
      ? start('bash', ['-euo', 'pipefail', example.entry], env.root, processEnv, example.timeoutMs)
      : start(process.execPath, [example.entry], example.folder, processEnv, example.timeoutMs);
  const waitFor = directive(block, 'wait-for');
  const stop = directive(block, 'stop');
  if (example.check === null) {
    if (waitFor !== undefined || stop !== undefined) throw new ExampleSyntaxError(block.document, block.line, 'wait-for and stop go with a check');
    const outcome = await running.finished;
    running.kill('SIGKILL'); // whatever it started and left behind
    if (outcome.code !== 0) throw new Error(describeOutcome('The example', outcome));
    checkPrints(block, outcome.output);
    return outcome.output;
  }
  try {
    if (waitFor !== undefined && !(await waitForOutput(running, new RegExp(waitFor.argument), example.timeoutMs))) {
      running.kill('SIGKILL');
      throw new Error(describeOutcome(`The example never printed ${waitFor.argument}: it`, await running.finished));
    }
    writeFileSync(join(example.folder, 'check-helpers.mjs'), CHECK_HELPERS);
    writeFileSync(join(example.folder, 'check.mjs'), example.check);
    const check = await start(process.execPath, ['check.mjs'], example.folder, processEnv, example.timeoutMs).finished;
    if (check.code !== 0) {
      running.kill('SIGKILL');
      const blockOutcome = await running.finished;
      throw new Error(`${describeOutcome('The check', check)}\n\nThe example's output:\n${blockOutcome.output.trimEnd() || '(none)'}`);
    }
    const [signalName = 'SIGTERM', exits] = (stop?.argument ?? '').split(/\s+/).filter((word) => word !== '');
    running.kill(signalName as NodeJS.Signals);
    const outcome = await running.finished;
    const stoppedAsExpected = outcome.code === 0 || (exits !== 'exits-0' && outcome.signal === signalName);
    if (!stoppedAsExpected) throw new Error(describeOutcome(`After its check and ${signalName}, the example`, outcome));
    checkPrints(block, outcome.output);
    return outcome.output;
  } finally {
    running.kill('SIGKILL');
    await running.finished;
  }
}

/** The `prints` directive: each non-empty line appears in the output, in order. */
function checkPrints(block: CodeBlock, coloured: string): void {
  const prints = directive(block, 'prints');
  if (prints === undefined) return;
  const output = coloured.replace(/\x1b\[[0-9;]*m/g, '');
  let from = 0;
  for (const line of prints.body.split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
    const at = output.indexOf(line, from);
    if (at < 0) throw new Error(`The example's output lacks "${line}" (in order). Its output:\n${output.trimEnd()}`);
    from = at + line.length;
  }
}

/** Remove an example's folder. */
export function cleanUp(example: PreparedExample): void {
  rmSync(example.folder, { recursive: true, force: true });
}

function newestMtime(path: string, accept: (name: string) => boolean): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return accept(path) ? stat.mtimeMs : 0;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name), accept));
  return newest;
}

/**
 * Examples import the packages as users do, from their built `dist`. Returns the projects
 * whose `dist` is missing or older than their sources (empty when every one is built).
 */
export function checkBuilt(root: string, projects: readonly string[]): string[] {
  const stale: string[] = [];
  for (const project of projects) {
    const dir = join(root, project);
    const sources = newestMtime(join(dir, 'src'), (name) => /\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts'));
    const built = newestMtime(join(dir, 'dist'), (name) => name.endsWith('.js'));
    if (built === 0 || built < sources) stale.push(relative(root, dir));
  }
  return stale;
}
