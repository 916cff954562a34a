#!/usr/bin/env node
// scripts/check-dts.mjs: the published type declarations (dist/**/*.d.ts) of every project,
// checked after the build (`npm test` runs it; alone: `npm run build && node scripts/check-dts.mjs`).
//
// Every build strips the declarations tagged @internal (`stripInternal`, tsconfig.base.json), so
// users never meet a kernel's trap handlers or a task's bookkeeping fields. Three checks:
// 1. Stripped: no declaration tagged @internal in a project's src/ appears in the matching
//    dist/ .d.ts (found by container and name, e.g. `Task._cancelPending`). A few internal
//    members of the kernel are named below and must be found tagged in src and absent from
//    dist, so the check cannot pass by checking nothing.
// 2. Usable: a file importing every `exports` entry of every package type-checks against dist
//    with skipLibCheck off, as a strict user's project would (a stripped member that a
//    published declaration still names fails here).
// 3. Enough: every project's src/ type-checks against the other packages' published types
//    (no `@curio-ts/source` condition), so no package or app relies on a member users cannot
//    see.
//
// Invariants: prints one line per problem and a last line "check-dts: ok (...)" or
// "check-dts: N problems (...)"; exits 1 exactly when there is a problem.
//
// The rule the second check enforces, for whoever marks members @internal: a class must not
// `implements` an interface whose members it marks @internal (its .d.ts would claim members it
// leaves out). Drop the `implements` (the class is still checked where it is passed as that
// interface), or publish the members.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** Internal members that must exist tagged in src and be missing from dist: `project: keys`. */
const SENTINELS = {
  'packages/kernel': ['Task._cancelPending', 'Task._kernel', 'Kernel.dispatch', 'Kernel.requestCancel', 'OwnedOperation._deliver', 'Socket._raw', 'callerTask'],
};

const problems = [];
const problem = (text) => problems.push(text);

function projects() {
  return ['packages', 'apps']
    .flatMap((dir) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((name) => `${dir}/${name}`) : []))
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .sort();
}

function filesUnder(dir, suffix) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name));
}

// --- 1. stripped ----------------------------------------------------------------------------

/** The name a declaration gives its container, or undefined for nodes that declare nothing. */
function declaredName(node) {
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const name = node.name;
  if (name === undefined) return undefined;
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return undefined; // #private names and computed names ([Symbol.asyncDispose]) are never tagged
}

/** What TypeScript's stripInternal looks at: a leading comment containing `@internal`. */
function taggedInternal(node, text) {
  return (ts.getLeadingCommentRanges(text, node.pos) ?? []).some((range) => text.slice(range.pos, range.end).includes('@internal'));
}

/** Every declaration of a file (top level, and members of classes, interfaces, enums) by key. */
function declarations(file) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found = new Map(); // key -> tagged internal
  const add = (key, internal) => found.set(key, (found.get(key) ?? false) || internal);
  const members = (node, container) => {
    for (const member of node.members) {
      const name = declaredName(member);
      if (name !== undefined) add(`${container}.${name}`, taggedInternal(member, text));
      if (ts.isConstructorDeclaration(member)) {
        for (const parameter of member.parameters) {
          if (ts.getModifiers(parameter)?.length && ts.isIdentifier(parameter.name)) {
            add(`${container}.${parameter.name.text}`, taggedInternal(parameter, text));
          }
        }
      }
    }
  };
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement)) {
      const internal = taggedInternal(statement, text);
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) add(declaration.name.text, internal);
      }
      continue;
    }
    const name = declaredName(statement);
    if (name === undefined) continue;
    add(name, taggedInternal(statement, text));
    if (ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) || ts.isEnumDeclaration(statement)) {
      members(statement, name);
    }
  }
  return found;
}

let internalChecked = 0;

function checkStripped(project) {
  const src = join(root, project, 'src');
  const dist = join(root, project, 'dist');
  const sentinels = new Set(SENTINELS[project] ?? []);
  for (const file of filesUnder(src, '.ts')) {
    if (file.endsWith('.d.ts')) continue;
    const internal = [...declarations(file)].filter(([, tagged]) => tagged).map(([key]) => key);
    if (internal.length === 0) continue;
    const dts = join(dist, relative(src, file)).replace(/\.ts$/, '.d.ts');
    if (!existsSync(dts)) continue; // not emitted (an app without declarations, or unexported)
    const published = declarations(dts);
    for (const key of internal) {
      internalChecked++;
      sentinels.delete(key);
      if (published.has(key)) problem(`${relative(root, dts)}: ${key} is tagged @internal in ${relative(root, file)} but is published`);
    }
  }
  for (const key of sentinels) problem(`${project}: ${key} is expected to be tagged @internal in src/ and was not found (update SENTINELS in scripts/check-dts.mjs)`);
}

// --- 2 and 3: type checks against dist ------------------------------------------------------

// Parsed files shared by every program below (node's types are parsed once, not per project).
const parsed = new Map();
function makeHost(options, virtual) {
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.fileExists = (name) => (virtual !== undefined && name === virtual.name) || fileExists(name);
  host.readFile = (name) => (virtual !== undefined && name === virtual.name ? virtual.text : readFile(name));
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    if (virtual !== undefined && name === virtual.name) return ts.createSourceFile(name, virtual.text, languageVersion, true);
    const key = `${name}\0${JSON.stringify(languageVersion)}`;
    let file = parsed.get(key);
    if (file === undefined) {
      file = getSourceFile(name, languageVersion, onError, shouldCreate);
      if (file !== undefined) parsed.set(key, file);
    }
    return file;
  };
  return host;
}

/** Diagnostics of `program` in this repository's own files (not node_modules). */
function ownDiagnostics(program) {
  return ts.getPreEmitDiagnostics(program).filter((d) => d.file === undefined || !d.file.fileName.split(/[\\/]/).includes('node_modules'));
}

function report(diagnostics, label) {
  for (const diagnostic of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (diagnostic.file === undefined) {
      problem(`${label}: ${message}`);
      continue;
    }
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    problem(`${label}: ${relative(root, diagnostic.file.fileName)}(${line + 1},${character + 1}): ${message}`);
  }
}

function baseOptions() {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.base.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  return config.options;
}

let entries = 0;

function checkUsable(packages) {
  const lines = [];
  for (const project of packages) {
    const pkg = JSON.parse(readFileSync(join(root, project, 'package.json'), 'utf8'));
    for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
      if (typeof target !== 'object' || target === null || target.types === undefined) continue;
      if (!existsSync(join(root, project, target.types))) {
        problem(`${project}: ${target.types} (exports "${subpath}") is missing: build first`);
        continue;
      }
      entries++;
      lines.push(`export * as entry${entries} from '${pkg.name}${subpath === '.' ? '' : subpath.slice(1)}';`);
    }
  }
  const options = { ...baseOptions(), customConditions: [], noEmit: true, skipLibCheck: false, declaration: false, declarationMap: false, sourceMap: false };
  // A file in the repository root resolves the packages through node_modules, as a user's would.
  const virtual = { name: join(root, '.check-dts', 'user.ts'), text: `${lines.join('\n')}\n` };
  const program = ts.createProgram([virtual.name], options, makeHost(options, virtual));
  report(ownDiagnostics(program), 'a user importing every entry');
}

function checkProject(project) {
  const build = join(root, project, 'tsconfig.build.json');
  const config = existsSync(build) ? build : join(root, project, 'tsconfig.json');
  if (!existsSync(config)) return;
  const overrides = { customConditions: [], noEmit: true, declaration: false, declarationMap: false, sourceMap: false };
  const parsedConfig = ts.getParsedCommandLineOfConfigFile(config, overrides, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => report([d], project) });
  if (parsedConfig === undefined) return;
  const src = join(root, project, 'src') + sep;
  const rootNames = parsedConfig.fileNames.filter((name) => name.startsWith(src));
  if (rootNames.length === 0) return;
  const program = ts.createProgram(rootNames, parsedConfig.options, makeHost(parsedConfig.options));
  report(ownDiagnostics(program), `${project} against published types`);
}

const all = projects();
for (const project of all) checkStripped(project);
checkUsable(all.filter((project) => project.startsWith('packages/')));
for (const project of all) checkProject(project);

for (const text of problems) console.error(text);
const counts = `${internalChecked} internal declarations, ${entries} package entries, ${all.length} projects checked`;
console.log(problems.length === 0 ? `check-dts: ok (${counts})` : `check-dts: ${problems.length} problem${problems.length === 1 ? '' : 's'} (${counts})`);
process.exit(problems.length === 0 ? 0 : 1);
