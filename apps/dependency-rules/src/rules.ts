// src/rules.ts
//
// The checker of dependency-rules.json (at the repository root): which workspace may depend on
// which, which Node built-ins and npm packages its src/ may import, and which globals a pure
// layer may not touch. `checkRepository(root)` reads every workspace's package.json and every
// source file, and returns the violations (none when the rules hold).
//
// What is checked, per workspace (packages/* and apps/*, from the root package.json):
// - it belongs to a layer (the first whose pattern matches its folder);
// - its dependencies, peerDependencies and optionalDependencies name workspaces of layers it
//   may depend on, and npm packages its layer (or an exception) allows;
// - no dependency list of a package (devDependencies included) names an app;
// - every import in src/ (import, export ... from, import(), require(), type-only imports
//   too): a relative one stays inside the workspace; a workspace one names a declared
//   dependency, an allowed layer and an exported subpath; a node: built-in is allowed by the
//   layer's `node` policy or an exception; an npm package is declared and allowed;
// - every import in test/ and scripts/: no app (packages never import apps, not even in tests);
// - in a pure layer's src/: none of the forbidden globals (identifiers, or `a.b` accesses such
//   as Date.now, as written in the code, comments and strings aside) and no async/await;
// - for a layer with a `tsconfig`: every tsconfig*.json of the workspace folder extends it (so
//   a proto package compiles with no host types).
//
// Invariants: files are parsed with TypeScript's own parser (no regular expressions over code),
// so an import or a global in a comment or a string is not one; every violation names the
// workspace, the file and what rule it breaks.

import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** One layer of dependency-rules.json. */
export interface Layer {
  readonly name: string;
  /** Folder patterns relative to the root; `*` matches within one path segment. */
  readonly packages: readonly string[];
  readonly why: string;
  /** Layers this one may depend on; "*" is every layer of a folder under packages/. */
  readonly mayDependOn: readonly string[];
  /** Node built-ins src/ may import. */
  readonly node: 'any' | 'pure' | 'none';
  /** npm packages src/ and the production dependency lists may name. */
  readonly externals: 'any' | readonly string[];
  /** No forbidden globals, no async/await. */
  readonly pure?: boolean;
  /** A tsconfig at the root that every tsconfig*.json of the workspace folder extends. */
  readonly tsconfig?: string;
}

/** An allowance for one workspace. */
export interface Exception {
  readonly package: string;
  readonly imports?: readonly string[];
  readonly globals?: readonly string[];
  readonly why: string;
}

/** dependency-rules.json. */
export interface Rules {
  readonly layers: readonly Layer[];
  readonly pureNodeModules: readonly string[];
  readonly forbiddenGlobals: readonly string[];
  readonly exceptions: readonly Exception[];
}

/** A broken rule. */
export interface Violation {
  /** The workspace folder, relative to the root (apps/demo). */
  readonly workspace: string;
  /** The file, relative to the root (package.json or a source file). */
  readonly file: string;
  /** Stable kind of the rule broken. */
  readonly rule:
    | 'unclassified'
    | 'layer-dependency'
    | 'depends-on-app'
    | 'undeclared-import'
    | 'deep-import'
    | 'relative-escape'
    | 'node-builtin'
    | 'external'
    | 'global'
    | 'async'
    | 'tsconfig';
  readonly message: string;
}

/** A workspace as the checker sees it. */
interface Workspace {
  readonly dir: string;
  readonly folder: string;
  readonly name: string;
  readonly manifest: Manifest;
  readonly layer: Layer | null;
  readonly exception: Exception | null;
}

interface Manifest {
  readonly name?: string;
  readonly workspaces?: readonly string[];
  readonly exports?: Record<string, unknown> | string;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
}

const PRODUCTION_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'] as const;
const ALL_FIELDS = [...PRODUCTION_FIELDS, 'devDependencies'] as const;
const SOURCE = /\.(?:[cm]?ts|[cm]?js|tsx|jsx)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', '.test-results', 'coverage']);
const BUILTINS = new Set(builtinModules);

/** Read dependency-rules.json from `root`. */
export function loadRules(root: string): Rules {
  return JSON.parse(readFileSync(join(root, 'dependency-rules.json'), 'utf8')) as Rules;
}

/** Every violation of `rules` in the repository at `root`. */
export function checkRepository(root: string, rules: Rules = loadRules(root)): Violation[] {
  const workspaces = findWorkspaces(root, rules);
  const byName = new Map(workspaces.map((w) => [w.name, w]));
  const violations: Violation[] = [];
  for (const workspace of workspaces) {
    if (workspace.layer === null) {
      violations.push({ workspace: workspace.folder, file: `${workspace.folder}/package.json`, rule: 'unclassified', message: `${workspace.folder} belongs to no layer of dependency-rules.json: place it in one` });
      continue;
    }
    checkManifest(workspace, byName, violations);
    if (workspace.layer.tsconfig !== undefined) checkTsconfigs(root, workspace, workspace.layer.tsconfig, violations);
    for (const file of sourceFiles(join(workspace.dir, 'src'))) checkSource(root, workspace, file, rules, byName, violations);
    for (const dir of ['test', 'scripts']) for (const file of sourceFiles(join(workspace.dir, dir))) checkTestFile(root, workspace, file, byName, violations);
  }
  return violations;
}

/** The workspaces named by the root package.json, each with its layer and exception. */
function findWorkspaces(root: string, rules: Rules): Workspace[] {
  const manifest = readManifest(join(root, 'package.json'));
  const found: Workspace[] = [];
  for (const pattern of manifest.workspaces ?? []) {
    for (const folder of expand(root, pattern)) {
      const dir = join(root, folder);
      if (!existsSync(join(dir, 'package.json'))) continue;
      const own = readManifest(join(dir, 'package.json'));
      found.push({
        dir,
        folder,
        name: own.name ?? folder,
        manifest: own,
        layer: rules.layers.find((layer) => layer.packages.some((p) => matches(p, folder))) ?? null,
        exception: rules.exceptions.find((e) => e.package === folder) ?? null,
      });
    }
  }
  return found;
}

function readManifest(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** Folders matching a workspace pattern such as `packages/*`. */
function expand(root: string, pattern: string): string[] {
  const parts = pattern.split('/');
  let folders = [''];
  for (const part of parts) {
    const next: string[] = [];
    for (const folder of folders) {
      if (!part.includes('*')) {
        next.push(folder === '' ? part : `${folder}/${part}`);
        continue;
      }
      const dir = join(root, folder);
      if (!existsSync(dir)) continue;
      for (const entry of readdirSync(dir).sort()) {
        if (matches(part, entry) && statSync(join(dir, entry)).isDirectory()) next.push(folder === '' ? entry : `${folder}/${entry}`);
      }
    }
    folders = next;
  }
  return folders;
}

/** Whether `path` matches `pattern` (`*` within one segment). */
export function matches(pattern: string, path: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(`^${source}$`).test(path);
}

/** Whether a workspace of layer `from` may depend on `to`. */
function mayDependOn(from: Layer, to: Workspace): boolean {
  if (to.layer === null) return false;
  if (from.mayDependOn.includes(to.layer.name)) return true;
  return from.mayDependOn.includes('*') && to.folder.startsWith('packages/');
}

function isApp(workspace: Workspace): boolean {
  return workspace.folder.startsWith('apps/');
}

function checkManifest(workspace: Workspace, byName: ReadonlyMap<string, Workspace>, violations: Violation[]): void {
  const layer = workspace.layer as Layer;
  const file = `${workspace.folder}/package.json`;
  for (const field of ALL_FIELDS) {
    for (const name of Object.keys(workspace.manifest[field] ?? {})) {
      const target = byName.get(name);
      if (target !== undefined && isApp(target) && !isApp(workspace)) {
        violations.push({ workspace: workspace.folder, file, rule: 'depends-on-app', message: `${field} names the app ${name}: packages never depend on apps` });
        continue;
      }
      if (!(PRODUCTION_FIELDS as readonly string[]).includes(field)) continue;
      if (target !== undefined) {
        if (!mayDependOn(layer, target)) {
          violations.push({ workspace: workspace.folder, file, rule: 'layer-dependency', message: `${field} names ${name} (layer ${target.layer?.name ?? 'none'}); layer ${layer.name} may depend on: ${layer.mayDependOn.join(', ') || 'nothing'}` });
        }
      } else if (!externalAllowed(layer, workspace.exception, name)) {
        violations.push({ workspace: workspace.folder, file, rule: 'external', message: `${field} names the npm package ${name}; layer ${layer.name} may depend on none but its exceptions` });
      }
    }
  }
}

function externalAllowed(layer: Layer, exception: Exception | null, name: string): boolean {
  if (layer.externals === 'any') return true;
  return layer.externals.includes(name) || (exception?.imports ?? []).includes(name);
}

/** The npm package an import specifier names (`@scope/name` or `name`), and its subpath. */
function packageOf(specifier: string): { name: string; subpath: string } {
  const parts = specifier.split('/');
  const count = specifier.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, count).join('/');
  const rest = parts.slice(count).join('/');
  return { name, subpath: rest === '' ? '.' : `./${rest}` };
}

/** Whether `subpath` is in a package's `exports`. */
function exported(manifest: Manifest, subpath: string): boolean {
  const exports = manifest.exports;
  if (exports === undefined) return subpath === '.';
  if (typeof exports === 'string') return subpath === '.';
  return Object.keys(exports).some((key) => key === subpath || (key.includes('*') && matches(key, subpath)));
}

function checkSource(root: string, workspace: Workspace, path: string, rules: Rules, byName: ReadonlyMap<string, Workspace>, violations: Violation[]): void {
  const layer = workspace.layer as Layer;
  const file = relative(root, path).split(sep).join('/');
  const text = readFileSync(path, 'utf8');
  const report = (rule: Violation['rule'], message: string): void => {
    violations.push({ workspace: workspace.folder, file, rule, message });
  };
  const allowedImports = workspace.exception?.imports ?? [];
  for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
    if (specifier.startsWith('.')) {
      const target = resolve(path, '..', specifier);
      if (target !== workspace.dir && !target.startsWith(workspace.dir + sep)) report('relative-escape', `imports '${specifier}', outside ${workspace.folder}: import another package by its name`);
      continue;
    }
    const bare = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
    if (specifier.startsWith('node:') || BUILTINS.has(bare)) {
      const allowed =
        layer.node === 'any' ||
        (layer.node === 'pure' && rules.pureNodeModules.includes(bare.split('/')[0] as string)) ||
        allowedImports.includes(`node:${bare}`);
      if (!allowed) report('node-builtin', `imports ${specifier}; layer ${layer.name} allows ${layer.node === 'pure' ? `only the pure built-ins (${rules.pureNodeModules.join(', ')})` : 'no Node built-in'}`);
      continue;
    }
    const { name, subpath } = packageOf(specifier);
    const declared = PRODUCTION_FIELDS.some((field) => workspace.manifest[field]?.[name] !== undefined);
    const target = byName.get(name);
    if (target !== undefined) {
      if (target === workspace) continue;
      if (isApp(target) && !isApp(workspace)) report('depends-on-app', `imports the app ${name}: packages never import apps`);
      else if (!mayDependOn(layer, target)) report('layer-dependency', `imports ${name} (layer ${target.layer?.name ?? 'none'}); layer ${layer.name} may depend on: ${layer.mayDependOn.join(', ') || 'nothing'}`);
      else if (!declared && !isApp(workspace)) report('undeclared-import', `imports ${name}, which package.json does not list in dependencies or peerDependencies`);
      if (!exported(target.manifest, subpath)) report('deep-import', `imports ${specifier}: ${name} does not export ${subpath}`);
      continue;
    }
    if (!externalAllowed(layer, workspace.exception, name)) report('external', `imports the npm package ${name}; layer ${layer.name} allows none but its exceptions`);
    else if (!declared && !isApp(workspace)) report('undeclared-import', `imports ${name}, which package.json does not list in dependencies or peerDependencies`);
  }
  if (layer.pure === true) checkPurity(text, path, new Set(rules.forbiddenGlobals.filter((g) => !(workspace.exception?.globals ?? []).includes(g))), report);
}

/** Forbidden globals (as identifiers or `a.b` accesses) and async/await in a pure layer. */
function checkPurity(text: string, path: string, forbidden: ReadonlySet<string>, report: (rule: Violation['rule'], message: string) => void): void {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const seen = new Set<string>();
  const flag = (rule: Violation['rule'], what: string, node: ts.Node): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const key = `${rule}:${what}:${line}`;
    if (seen.has(key)) return;
    seen.add(key);
    report(rule, rule === 'async' ? `uses ${what} (line ${line}): a pure layer makes no Promises` : `uses ${what} (line ${line}), which a pure layer may not`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && forbidden.has(node.text)) flag('global', node.text, node);
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const dotted = `${node.expression.text}.${node.name.text}`;
      if (forbidden.has(dotted)) flag('global', dotted, node);
    }
    if (ts.isAwaitExpression(node)) flag('async', 'await', node);
    if (ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) flag('async', 'async', node);
    ts.forEachChild(node, visit);
  };
  visit(source);
}

/** Every tsconfig*.json of the workspace folder extends `required` (a file at the root). */
function checkTsconfigs(root: string, workspace: Workspace, required: string, violations: Violation[]): void {
  const names = readdirSync(workspace.dir).filter((name) => /^tsconfig.*\.json$/.test(name));
  if (names.length === 0) violations.push({ workspace: workspace.folder, file: `${workspace.folder}/tsconfig.json`, rule: 'tsconfig', message: `has no tsconfig.json extending ${required}` });
  for (const name of names) {
    const path = join(workspace.dir, name);
    const { config } = ts.readConfigFile(path, ts.sys.readFile) as { config?: { extends?: unknown } };
    const base = typeof config?.extends === 'string' ? resolve(workspace.dir, config.extends) : null;
    if (base !== join(root, required)) {
      violations.push({ workspace: workspace.folder, file: `${workspace.folder}/${name}`, rule: 'tsconfig', message: `extends ${String(config?.extends)}, not ${required} (a ${workspace.layer?.name ?? ''} package compiles with no host types)` });
    }
  }
}

/** Test files and scripts may import anything, except an app from a package. */
function checkTestFile(root: string, workspace: Workspace, path: string, byName: ReadonlyMap<string, Workspace>, violations: Violation[]): void {
  if (isApp(workspace)) return;
  const file = relative(root, path).split(sep).join('/');
  const appsDir = join(root, 'apps');
  for (const { fileName: specifier } of ts.preProcessFile(readFileSync(path, 'utf8'), true, true).importedFiles) {
    const target = specifier.startsWith('.') ? null : byName.get(packageOf(specifier).name);
    const intoApps = specifier.startsWith('.') && resolve(path, '..', specifier).startsWith(appsDir + sep);
    if ((target !== null && target !== undefined && isApp(target)) || intoApps) {
      violations.push({ workspace: workspace.folder, file, rule: 'depends-on-app', message: `imports ${specifier}: packages never import apps, not even in tests` });
    }
  }
}

/** Every source file under `dir` (none when it does not exist). */
function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (SOURCE.test(entry.name)) out.push(path);
  }
  return out.sort();
}
