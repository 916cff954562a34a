// monitor/format.ts
//
// The text the monitor shows: the task table (`ps`), a task's await stack (`where`), its chain
// of parents (`parents`) and the outcome of a cancel. Pure functions of a snapshot of kernel
// state, read synchronously; nothing here blocks or changes a task.
//
// Invariants:
// - Reading a task here never marks its outcome as observed: a failed task the monitor looked
//   at is still reported through the kernel's onError hook if nobody else looks.
// - Await stacks are the trap sites the kernel records with the monitor (or `debug`) on: a stack
//   captured when the task last entered a blocking trap, with the kernel's own frames removed.

import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { CancelledError } from '../errors.js';
import type { Task } from '../task.js';

/** One ancestor of a task, as recorded when its child was spawned. */
export interface TaskLink {
  /** The ancestor's id. */
  readonly id: number;
  /** Its name when the child was spawned. */
  readonly name: string;
}

// The kernel's own code: frames under its src/ or dist/ directory are not the user's. Both,
// because a stack may be source-mapped from dist/ back to src/ (vitest, --enable-source-maps).
const packageRoot = new URL('../..', import.meta.url);
const kernelDirs = ['src/', 'dist/'].flatMap((dir) => {
  const url = new URL(dir, packageRoot);
  return [url.href, fileURLToPath(url)];
});

/** A stack frame line of V8: `at name (file:line:col)`, `at async name (...)` or `at file:line:col`. */
const FRAME = /^\s*at (?:async )?(?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/;

/** Whether a stack line belongs to the kernel or to Node itself. */
function isKernelFrame(line: string): boolean {
  return kernelDirs.some((dir) => line.includes(dir)) || /[( ]node:|\(native\)/.test(line);
}

/** The frames of a task's last trap site that are user code, most recent first. */
export function userFrames(task: Task): string[] {
  const site = task._trapSite;
  if (site === null) return [];
  const lines = (site.stack ?? '').split('\n').slice(1);
  const frames: string[] = [];
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed.startsWith('at ') && !isKernelFrame(trimmed)) frames.push(trimmed);
  }
  return frames;
}

/**
 * `file.mjs:12 (fn)` for the first user frame (named after the nearest named function, as an
 * await inside an arrow function shows), or '-' when none was recorded.
 */
export function shortSite(task: Task): string {
  const frames = userFrames(task);
  const parsed = frames.map((frame) => FRAME.exec(frame));
  const first = parsed[0];
  if (first === undefined) return '-';
  if (first === null) return (frames[0] ?? '-').replace(/^at /, '');
  const file = first[2] ?? '';
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  const named = parsed.find((match) => match?.[1] !== undefined && match[1] !== '');
  return named?.[1] !== undefined ? `${base}:${first[3]} (${named[1]})` : `${base}:${first[3]}`;
}

/** A duration for humans: `250ms`, `3.2s`, `expired`. */
function remaining(at: number | null, now: number): string {
  if (at === null || at === Infinity) return '-';
  const ms = at - now;
  if (ms < 0) return 'expired';
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** Lay out rows as left-aligned columns under a header and a rule. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n') + '\n';
}

/** Most rows `ps` prints; a kernel with more tasks gets a count of the rest. */
const MAX_PS_ROWS = 10_000;
const MAX_NAME = 32;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The task table: id, name, state, cycles, time left before the task's timeout, where. */
export function formatPs(tasks: readonly Task[], now: number): string {
  const shown = tasks.slice(0, MAX_PS_ROWS);
  const rows = shown.map((task) => [
    String(task.id),
    clip(task.name, MAX_NAME),
    task._cancelPending !== null ? `${task.state}*` : task.state,
    String(task.cycles),
    remaining(task._timeoutAt, now),
    shortSite(task),
  ]);
  let text = table(['ID', 'NAME', 'STATE', 'CYCLES', 'TIMEOUT', 'WHERE'], rows);
  if (tasks.length > shown.length) text += `... and ${tasks.length - shown.length} more tasks\n`;
  if (shown.some((task) => task._cancelPending !== null)) text += '* cancellation requested, not yet delivered\n';
  return text;
}

/** A task's state, deadlines and await stack. */
export function formatWhere(task: Task, now: number): string {
  const facts: string[] = [task.state];
  if (task._sleepAt !== null) facts.push(`sleeping, ${remaining(task._sleepAt, now)} left`);
  if (task._timeoutAt !== null) facts.push(`timeout in ${remaining(task._timeoutAt, now)}`);
  if (task._cancelPending !== null) facts.push(`${task._cancelPending.name} pending`);
  else if (task.cancelled) facts.push('was cancelled');
  let text = `Task ${task.id} (${task.name}): ${facts.join(', ')}\n`;
  if (task.state === 'FOREIGN_WAIT') {
    text += 'It awaits a Promise that is not a kernel trap; its location is not recorded.\n';
  }
  const frames = userFrames(task);
  if (frames.length === 0) {
    text += task._trapSite === null ? 'No await recorded yet (the task has not blocked in the kernel).\n' : 'No user frames in the recorded await.\n';
    return text;
  }
  const label = task.state === 'READY' || task.state === 'RUNNING' || task.state === 'FOREIGN_WAIT' ? 'Last kernel await' : 'Awaiting';
  text += `${label}, most recent call first:\n`;
  for (const frame of frames) text += `  ${frame}\n`;
  return text;
}

/**
 * The chain from a task up to its top-level ancestor. `live` finds ancestors still running;
 * ended ones are shown with the name recorded when their child was spawned.
 */
export function formatParents(
  task: Task,
  ancestors: readonly TaskLink[],
  truncated: boolean,
  live: (id: number) => Task | undefined,
): string {
  const rows = [[String(task.id), task.state, task.name]];
  for (const link of ancestors) {
    const ancestor = live(link.id);
    rows.push(
      ancestor !== undefined
        ? [String(ancestor.id), ancestor.state, ancestor.name]
        : [String(link.id), 'TERMINATED', link.name],
    );
  }
  let text = table(['ID', 'STATE', 'NAME'], rows);
  if (truncated) text += `... (only the nearest ${ancestors.length} ancestors are recorded)\n`;
  return text;
}

/** What became of a task the monitor cancelled (it has ended). */
export function formatCancelOutcome(task: Task): string {
  const label = `Task ${task.id} (${task.name})`;
  if (!task._failed) return `${label} caught the cancellation and returned ${inspect(task._outcome, { depth: 1, breakLength: Infinity })}.\n`;
  const error = task._outcome;
  if (error instanceof CancelledError) return `${label} cancelled: ${error.name}.\n`;
  const description = error instanceof Error ? `${error.name}: ${error.message}` : inspect(error, { depth: 1 });
  return `${label} ended with an error while being cancelled: ${description}\n`;
}
