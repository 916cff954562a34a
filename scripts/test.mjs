#!/usr/bin/env node
// Run type-checking and every project's tests through nx, then print one line:
// "N passed, N failed", summed over all packages from their vitest JSON reports.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkServices } from './services.mjs';

const root = new URL('..', import.meta.url).pathname;
const projectDirs = ['packages', 'apps']
  .flatMap((dir) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((name) => join(root, dir, name)) : []))
  .filter((dir) => existsSync(join(dir, 'package.json')));

for (const dir of projectDirs) rmSync(join(dir, '.test-results'), { recursive: true, force: true });

const services = await checkServices();
if (!services.ok) {
  console.error(services.message);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_SKIP_NX_CACHE: 'true' };
const nx = join(root, 'node_modules', '.bin', 'nx');
const steps = [
  ['run-many', '-t', 'build', '--outputStyle=static'],
  ['run-many', '-t', 'typecheck', '--outputStyle=static'],
  ['run-many', '-t', 'test', '--outputStyle=static', '--parallel=1'],
];
let stepFailed = false;
for (const args of steps) {
  const result = spawnSync(nx, args, { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) {
    stepFailed = true;
    console.error(`step failed: nx ${args.join(' ')} (exit ${result.status})`);
    if (args[2] !== 'test') break;
  }
}

let passed = 0;
let failed = 0;
for (const dir of projectDirs) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (!pkg.scripts?.test) continue;
  const report = join(dir, '.test-results', 'vitest.json');
  if (!existsSync(report)) {
    console.error(`no test report from ${pkg.name}`);
    failed++;
    continue;
  }
  const data = JSON.parse(readFileSync(report, 'utf8'));
  passed += data.numPassedTests;
  failed += data.numFailedTests + (data.numPendingTests ?? 0) + (data.numTodoTests ?? 0);
  if (data.numFailedTestSuites > 0 && data.numFailedTests === 0) failed += data.numFailedTestSuites;
}
if (stepFailed && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
