// threads/workfn.ts
//
// Naming work that runs in another thread or process. Functions and closures cannot cross a
// thread boundary, so work is named by where it lives: a module URL and an export name. A
// `WorkerFunction` is that pair, typed with the function's parameters and result so that
// `runInThread(fib, 30)` is checked at compile time:
//
//     import type * as Work from './work.js';
//     const fib = workerFunction<typeof Work.fib>(new URL('./work.js', import.meta.url), 'fib');
//     const n = await runInThread(fib, 30);      // n: number
//
// Invariants: `url` is an absolute URL (`file:` for local modules, or `data:`), checked when the
// handle is made; `typescript` is true exactly when the URL names a .ts/.mts/.cts file, which
// the worker loads through the `tsx` loader.

import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';

declare const signature: unique symbol;

/**
 * A function exported by a module, to be called in a worker thread or child process. `A` are
 * its parameters and `R` its (awaited) result, both copied between threads by structured clone.
 */
export interface WorkerFunction<A extends readonly unknown[] = readonly unknown[], R = unknown> {
  /** The module's absolute URL. */
  readonly url: string;
  /** The export to call. */
  readonly exportName: string;
  /** Whether the module is TypeScript (loaded through `tsx` in the worker). */
  readonly typescript: boolean;
  /** Type-level only: the function's signature. Never present at run time. */
  readonly [signature]?: (...args: A) => R;
}

/** The parameters of a function type, for {@link workerFunction}. */
export type ParametersOf<F> = F extends (...args: infer A) => unknown ? A : never;
/** The awaited result of a function type, for {@link workerFunction}. */
export type ResultOf<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;

const TS_EXTENSION = /\.(?:ts|mts|cts)$/;

/** Normalise a module location to an absolute URL string; throws TypeError if it is relative. */
export function moduleUrl(module: URL | string): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== 'string' || module === '') throw new TypeError('worker module must be a URL or an absolute path');
  if (isAbsolute(module)) return pathToFileURL(module).href;
  try {
    return new URL(module).href;
  } catch {
    throw new TypeError(
      `worker module '${module}' is relative: pass new URL('${module}', import.meta.url) or an absolute path`,
    );
  }
}

/** Whether a module URL names a TypeScript file. */
export function isTypeScriptUrl(url: string): boolean {
  const path = url.split(/[?#]/, 1)[0] ?? url;
  return TS_EXTENSION.test(path);
}

/**
 * Name a function for {@link runInThread}, {@link runInProcess} or {@link spawnThread}: the
 * module (a URL, or an absolute path) and the export to call (default `'default'`). Give the
 * function's type as the type argument to have calls checked:
 * `workerFunction<typeof Work.fib>(url, 'fib')`. The module is loaded in the worker on first
 * use; a missing module or export is reported then, as a {@link WorkerError} with code
 * `ERR_WORKER_LOAD`.
 */
export function workerFunction<F extends (...args: never[]) => unknown = (...args: unknown[]) => unknown>(
  module: URL | string,
  exportName = 'default',
): WorkerFunction<ParametersOf<F>, ResultOf<F>> {
  if (typeof exportName !== 'string' || exportName === '') throw new TypeError('workerFunction: exportName must be a non-empty string');
  const url = moduleUrl(module);
  return Object.freeze({ url, exportName, typescript: isTypeScriptUrl(url) });
}

/** `'fib' in file:///.../work.js`, for messages. */
export function describeFunction(fn: WorkerFunction): string {
  const file = fn.url.startsWith('data:') ? 'a data: URL' : fn.url.slice(fn.url.lastIndexOf('/') + 1);
  return `'${fn.exportName}' in ${file}`;
}
