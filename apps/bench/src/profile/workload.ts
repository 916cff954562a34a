// profile/workload.ts
//
// What the per-call profiler (profile.ts) measures: a workload module. Any protocol's client
// plugs in by exporting `workloads` (a record of Workload by name) from a module; the profiler
// loads it by path, so the next protocol (HTTP, Postgres) measures its calls the same way.
//
// Invariants:
// - `run(n)` makes exactly `n` calls (the unit every figure is divided by) and resolves once
//   all of them are settled. It may be called many times between `setup` and `teardown`.
// - Whatever a workload prepares once (connections, kernels, argument arrays) happens in
//   `setup`, never in `run`: allocation is counted over `run` only.

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

/** One measurable workload. */
export interface Workload {
  /** Shown in the report. */
  readonly description: string;
  /** Calls per run when the command line gives none. */
  readonly defaultCalls: number;
  /** Connect, start kernels... */
  setup(): Promise<void>;
  /** Make `n` calls and wait for them all. */
  run(n: number): Promise<void>;
  /** Close what setup opened. */
  teardown(): Promise<void>;
}

/** What a workload module exports. */
export interface WorkloadModule {
  readonly workloads: Readonly<Record<string, Workload>>;
}

/**
 * Run `each` for every workload the command line names, in order: `<workload>[,<workload>...]|all
 * [calls] [--module <path>]`, the module by default ./redis-workloads.js beside this file (a path
 * that exists is a file, as typed; anything else a URL or a package specifier). An unknown name
 * ends the process with the known ones listed.
 */
export async function forSelectedWorkloads(
  argv: readonly string[],
  each: (name: string, workload: Workload, calls: number | undefined) => Promise<void>,
): Promise<void> {
  const args = [...argv];
  const moduleIndex = args.indexOf('--module');
  const spec = moduleIndex === -1 ? new URL('./redis-workloads.js', import.meta.url).href : (args.splice(moduleIndex, 2)[1] as string);
  const [which, callsText] = args;
  const url = !spec.startsWith('file:') && existsSync(spec) ? pathToFileURL(path.resolve(spec)).href : spec;
  const mod = (await import(url)) as WorkloadModule;
  const names = which === undefined || which === 'all' ? Object.keys(mod.workloads) : which.split(',');
  for (const name of names) {
    const workload = mod.workloads[name];
    if (workload === undefined) {
      console.error(`unknown workload '${name}'; known: ${Object.keys(mod.workloads).join(', ')}`);
      process.exit(2);
    }
    await each(name, workload, callsText === undefined ? undefined : Number(callsText));
  }
}
