#!/usr/bin/env node
// scripts/test.mjs: what `npm test` runs.
//
// 1. Make the command-line peers the tests use available (scripts/peers.mjs: installs them
//    with apt-get as root, else prints what to run and stops).
// 2. Start a private redis-server on a free loopback port (scripts/private-redis.mjs) and give
//    its address to every test as CURIO_TEST_REDIS_URL (unless that is already set: then the
//    tests use the Redis it names, which must allow FLUSHDB and DEBUG).
// 3. Build every project, then start a private PostgreSQL server (initdb into a temporary
//    folder, a free loopback port: the test kit's startPrivatePostgres, from
//    packages/conformance/dist, so it needs the build) and give its URL to every test as
//    CURIO_TEST_PG_URL (unless that is already set: then the tests use the server it names).
// 4. Check the published type declarations (scripts/check-dts.mjs: no @internal member ships,
//    every entry is usable), type-check, and run every project's tests through nx.
// 5. Stop the servers, also on a failed step and on SIGINT/SIGTERM/SIGHUP, and print one line:
//    "N passed, N failed", summed over all projects from their vitest JSON reports.
//
// Invariants: the last line on stdout is always "N passed, N failed", and the exit status is 0
// exactly when N failed is 0.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePeers } from './peers.mjs';
import { startPrivateRedis } from './private-redis.mjs';

const root = new URL('..', import.meta.url).pathname;
const projectDirs = ['packages', 'apps']
  .flatMap((dir) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((name) => join(root, dir, name)) : []))
  .filter((dir) => existsSync(join(dir, 'package.json')));

/** Sum the vitest reports; a project with a test script and no report counts as one failure. */
function summary() {
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
  return { passed, failed };
}

function finish(passed, failed) {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

for (const dir of projectDirs) rmSync(join(dir, '.test-results'), { recursive: true, force: true });

const peers = ensurePeers();
if (!peers.ok) {
  console.error(peers.message);
  finish(0, 1);
}

let redis = null;
let postgres = null;
let running = null; // the nx child of the current step
let stopping = false;

async function interrupted(signal, number) {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal}: stopping the tests`);
  if (running !== null && running.exitCode === null) running.kill(signal);
  await redis?.stop();
  await postgres?.stop();
  console.log('0 passed, 1 failed');
  process.exit(128 + number);
}
process.on('SIGINT', () => void interrupted('SIGINT', 2));
process.on('SIGTERM', () => void interrupted('SIGTERM', 15));
process.on('SIGHUP', () => void interrupted('SIGHUP', 1));

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_SKIP_NX_CACHE: 'true' };
if (env.CURIO_TEST_REDIS_URL === undefined || env.CURIO_TEST_REDIS_URL === '') {
  try {
    redis = await startPrivateRedis();
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    finish(0, 1);
  }
  env.CURIO_TEST_REDIS_URL = redis.url;
  console.error(`private redis-server for the tests: ${redis.url} (pid ${redis.pid})`);
} else {
  console.error(`tests use the Redis in CURIO_TEST_REDIS_URL: ${env.CURIO_TEST_REDIS_URL}`);
}

function step(command, args) {
  return new Promise((resolve) => {
    running = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
    running.once('error', (error) => {
      console.error(`cannot run ${command}: ${error.message}`);
      resolve(1);
    });
    running.once('close', (code, signal) => resolve(code ?? (signal !== null ? 1 : 0)));
  });
}

/** Start the private PostgreSQL server (after the build: the harness is the test kit's); false when it cannot. */
async function startPostgres() {
  if (env.CURIO_TEST_PG_URL !== undefined && env.CURIO_TEST_PG_URL !== '') {
    console.error(`tests use the PostgreSQL in CURIO_TEST_PG_URL: ${env.CURIO_TEST_PG_URL}`);
    return true;
  }
  try {
    const kit = await import(join(root, 'packages', 'conformance', 'dist', 'postgres-server.js'));
    const began = performance.now();
    postgres = await kit.startPrivatePostgres();
    env.CURIO_TEST_PG_URL = postgres.url;
    const ms = Math.round(performance.now() - began);
    console.error(`private postgres for the tests: ${postgres.url} (pid ${postgres.pid}, started in ${ms} ms)`);
    return true;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return false;
  }
}

const nxBin = join(root, 'node_modules', '.bin', 'nx');
const steps = [
  [nxBin, ['run-many', '-t', 'build', '--outputStyle=static']],
  [process.execPath, [join(root, 'scripts', 'check-dts.mjs')]],
  [nxBin, ['run-many', '-t', 'typecheck', '--outputStyle=static']],
  [nxBin, ['run-many', '-t', 'test', '--outputStyle=static', '--parallel=1']],
];
let stepFailed = false;
for (const [command, args] of steps) {
  const status = await step(command, args);
  if (stopping) await new Promise(() => {}); // the signal handler ends the process
  if (status !== 0) {
    stepFailed = true;
    console.error(`step failed: ${command === nxBin ? 'nx' : 'node'} ${args.join(' ')} (exit ${status})`);
    if (command === nxBin && args[2] !== 'test') break; // nothing to test without a build
  }
  if (args[2] === 'build' && !(await startPostgres())) {
    stepFailed = true;
    break;
  }
}
running = null;
await redis?.stop();
await postgres?.stop();

const { passed, failed } = summary();
finish(passed, stepFailed && failed === 0 ? 1 : failed);
