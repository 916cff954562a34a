// Measurement helpers: run each contender several times, interleaved in one process, and
// report medians and ratios. Benchmarks are never assertions; they produce a table.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';

/** One contender: a name and a function that does the work once and returns ops performed. */
export interface Contender {
  readonly name: string;
  readonly run: () => Promise<number>;
}

/** Median ops/s for each contender. */
export interface Measurement {
  readonly name: string;
  readonly opsPerSec: number;
  readonly samples: number[];
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Run every contender `rounds` times, interleaved (A B A B ...), after one warm-up round.
 * `collect`: collect the heap before each run (main.ts turns on `--expose-gc`), so that a run
 * does not pay for the garbage the one before it left. For runs that allocate a lot each (the
 * Redis burst of 200 000 calls: without it, the node client read 0.57-0.90x of the floor client
 * in two runs, with it 1.19-1.35x in three). Not for short runs: the sweeping a collection leaves
 * behind slows the next few milliseconds (RESP decoding of 3 B replies read 5x slower).
 */
export async function measure(contenders: readonly Contender[], rounds = 5, collect = false): Promise<Measurement[]> {
  for (const c of contenders) await c.run();
  const samples = contenders.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[i] as Contender;
      if (collect) (globalThis as { gc?: () => void }).gc?.();
      const t0 = performance.now();
      const ops = await c.run();
      const seconds = (performance.now() - t0) / 1000;
      (samples[i] as number[]).push(ops / seconds);
    }
  }
  return contenders.map((c, i) => ({ name: c.name, opsPerSec: median(samples[i] as number[]), samples: samples[i] as number[] }));
}

/** The measurement of the contender named `name` (an error if there is none). */
export function byName(results: readonly Measurement[], name: string): Measurement {
  const found = results.find((m) => m.name === name);
  if (found === undefined) throw new Error(`no measurement named ${name}`);
  return found;
}

/** Format ops/s for humans: 1.23M/s, 456k/s. */
export function rate(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M/s`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)}k/s`;
  return `${opsPerSec.toFixed(0)}/s`;
}

/** One row of a results table. */
export interface Row {
  readonly benchmark: string;
  readonly ours: Measurement;
  readonly baseline: Measurement;
  /** Minimum ratio ours/baseline; omitted for informational rows. */
  readonly target?: number;
}

/** Render rows as a markdown table with ratios and pass/miss against targets. */
export function table(rows: readonly Row[]): string {
  const lines = [
    '| benchmark | ours | baseline | ratio | target | |',
    '|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const ratio = row.ours.opsPerSec / row.baseline.opsPerSec;
    const target = row.target === undefined ? 'info' : `>= ${row.target}x`;
    const verdict = row.target === undefined ? '' : ratio >= row.target ? 'met' : 'MISSED';
    lines.push(
      `| ${row.benchmark} | ${row.ours.name}: ${rate(row.ours.opsPerSec)} | ${row.baseline.name}: ${rate(row.baseline.opsPerSec)} | ` +
        `${ratio.toFixed(2)}x | ${target} | ${verdict} |`,
    );
  }
  return lines.join('\n');
}

/** Replace (or append) the section headed `## title` in RESULTS.md. */
export function writeSection(file: string, title: string, body: string): void {
  const header = `## ${title}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\nWritten by `npm run bench` (apps/bench). Each figure is the median of 5 interleaved runs in one process, after a warm-up run.\n';
  const start = text.indexOf(header);
  const section = `${header}\n\n${body.trim()}\n`;
  if (start === -1) {
    text = `${text.trimEnd()}\n\n${section}`;
  } else {
    const next = text.indexOf('\n## ', start + header.length);
    text = text.slice(0, start) + section + (next === -1 ? '' : text.slice(next + 1));
  }
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}
