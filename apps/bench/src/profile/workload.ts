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
