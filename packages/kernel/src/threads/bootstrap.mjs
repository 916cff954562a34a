// threads/bootstrap.mjs
//
// First module of every worker thread and child process the kernel starts. Plain JavaScript on
// purpose: it runs unchanged from src/ (tests, where the kernel itself is TypeScript) and from
// dist/ (users; the build copies it there), before any TypeScript loader exists.
//
// It reads where the kernel's worker runtime lives (`runtime`, a URL: worker-runtime.ts in
// src/, worker-runtime.js in dist/), registers the `tsx` loader first if that URL is
// TypeScript, then hands over to the runtime's `main`. Threads get their start data as
// `workerData`; child processes as a JSON argument after `--curio-worker`.
//
// If tsx is needed but missing, the error says what to install and carries the code
// ERR_TS_LOADER_MISSING, which the parent turns into a TypeScriptLoaderMissing error.

import { isMainThread, workerData } from 'node:worker_threads';

const TS_REGISTERED = Symbol.for('curio-ts.tsxRegistered');
const TSX_API = 'tsx/esm/api';

async function registerTypeScript() {
  if (globalThis[TS_REGISTERED] === true) return;
  let api;
  try {
    api = await import(TSX_API);
  } catch (cause) {
    const error = new Error(
      "the kernel's worker runtime is TypeScript here but the 'tsx' package is not installed: run `npm install --save-dev tsx`",
      { cause },
    );
    error.code = 'ERR_TS_LOADER_MISSING';
    throw error;
  }
  api.register();
  globalThis[TS_REGISTERED] = true;
}

function startData() {
  if (!isMainThread) return workerData;
  const at = process.argv.indexOf('--curio-worker');
  if (at === -1 || process.argv[at + 1] === undefined) throw new Error('bootstrap.mjs: no start data');
  return JSON.parse(process.argv[at + 1]);
}

const init = startData();
if (/\.(?:ts|mts|cts)$/.test(new URL(init.runtime).pathname)) await registerTypeScript();
const runtime = await import(init.runtime);
await runtime.main(init);
