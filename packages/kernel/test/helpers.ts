// helpers.ts
//
// Helpers shared by the kernel's test files: running a test's main task on the virtual clock
// while collecting what reaches the kernel's onError hook, and catching what a call throws so
// that a test can record it in its trace.

import { expect } from 'vitest';
import { KernelUsageError, run } from '@curio-ts/kernel';
import type { RunOptions, Task } from '@curio-ts/kernel';

/** What reached the kernel's onError hook. */
export interface Report {
  error: unknown;
  reason: string;
  message: string;
  task: Task | undefined;
}

/**
 * Run `main` on the virtual clock (unless `options` say otherwise), pushing what reaches the
 * kernel's onError hook onto `reports`. With `trace`, each report also adds a line
 * `reported <reason> <task name>` to it, so the trace shows when the report was made.
 */
export function runV<T>(
  main: () => Promise<T>,
  reports: Report[],
  trace?: string[],
  options: RunOptions = {},
): Promise<T> {
  return run(main, {
    clock: 'virtual',
    onError: (error, info) => {
      reports.push({ error, reason: info.reason, message: info.message, task: info.task });
      trace?.push(`reported ${info.reason} ${info.task?.name ?? '?'}`);
    },
    ...options,
  });
}

/**
 * Run `main` like {@link runV} and check that nothing reached the kernel's onError hook (no
 * error was left that nobody looked at). Resolves with what `main` returned.
 */
export async function runClean<T>(main: () => Promise<T>, options: RunOptions = {}): Promise<T> {
  const reports: Report[] = [];
  const result = await runV(main, reports, undefined, options);
  expect(reports.map((r) => `${r.reason}: ${r.message}`)).toEqual([]);
  return result;
}

/** Call `fn`, which must throw; return what it threw. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error to be thrown');
}

/** Await `promise`, which must reject; return the reason. */
export async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** The `code` of a KernelUsageError, or a description of what was found instead. */
export function usageCode(error: unknown): string {
  if (error instanceof KernelUsageError) return error.code;
  return `not a KernelUsageError: ${String(error)}`;
}
