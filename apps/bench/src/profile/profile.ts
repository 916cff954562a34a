// profile/profile.ts
//
// What one call costs: rate, allocation and garbage-collector share of a workload (issue 9).
//
//   node --expose-gc apps/bench/dist/profile/profile.js <workload> [calls] [--module <path>]
//   node --expose-gc apps/bench/dist/profile/profile.js all      # every Redis workload
//
// <workload> is a name exported by the workload module (default: ./redis-workloads.js; another
// protocol passes --module path/to/its-workloads.js exporting `workloads`, see workload.ts).
//
// Method (load-independent where it can be):
// - calls/s: warm-up runs, then the median of RUNS timed runs of `calls` calls (wall clock:
//   noisy on a shared machine; the ratios of the bench suite are the reference).
// - objects and bytes per call: V8's sampling heap profiler (HeapProfiler.startSampling) with a
//   sampling interval of 1 byte, so that every allocation of the JS heap is a sample, and
//   includeObjectsCollectedByMinorGC/MajorGC, so that objects already collected are kept.
//   Objects = samples / calls, bytes = sum of sample sizes / calls, over one run of `calls`
//   calls after warm-up (allocation only: what the whole process allocated during the run,
//   the server-side socket buffers of Node included; external memory, such as Buffer bodies,
//   is not on the JS heap and is not counted). The top allocating frames are listed.
// - GC share: a CPU profile (Profiler.start, 100 µs sampling) of RUNS runs; the share of
//   samples whose frame is "(garbage collector)" in all samples, and in the samples that are
//   not "(idle)" (time spent waiting for the server). The frames with the most self time are
//   listed (where the instructions go; use callgrind for exact counts).

import { Session } from 'node:inspector/promises';
import { forSelectedWorkloads } from './workload.js';
import type { Workload } from './workload.js';

const RUNS = 5;

interface HeapNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly id: number;
  readonly children: HeapNode[];
}
interface HeapProfile {
  readonly head: HeapNode;
  readonly samples: { readonly size: number; readonly nodeId: number }[];
}
interface CpuProfile {
  readonly nodes: { readonly id: number; readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number } }[];
  readonly samples: number[];
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc');
  collect();
}

async function rate(workload: Workload, calls: number): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    gc();
    const start = performance.now();
    await workload.run(calls);
    rates.push(calls / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] as number;
}

function frameName(node: HeapNode): string {
  const f = node.callFrame;
  const file = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(packages|apps|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
  return `${f.functionName || '(anonymous)'}${file}`;
}

async function allocation(session: Session, workload: Workload, calls: number): Promise<{ objects: number; bytes: number; top: string[] }> {
  gc();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 1, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await workload.run(calls);
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: HeapProfile };
  await session.post('HeapProfiler.disable');
  const nodes = new Map<number, HeapNode>();
  // PROFILE_DEPTH=n names an allocation by its n innermost frames (default 1).
  const depth = Number(process.env['PROFILE_DEPTH'] ?? 1);
  const names = new Map<number, string>();
  const walk = (node: HeapNode, outer: string[]): void => {
    nodes.set(node.id, node);
    const here = [frameName(node), ...outer].slice(0, depth);
    names.set(node.id, here.join(' < '));
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, []);
  let bytes = 0;
  const byFrame = new Map<string, { count: number; bytes: number }>();
  for (const sample of profile.samples) {
    bytes += sample.size;
    const name = names.get(sample.nodeId) ?? '?';
    const entry = byFrame.get(name) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += sample.size;
    byFrame.set(name, entry);
  }
  const top = [...byFrame.entries()]
    .sort((a, b) => b[1].count - a[1].count)
    .slice(0, 12)
    .map(([name, e]) => `${(e.count / calls).toFixed(3).padStart(8)} obj ${(e.bytes / calls).toFixed(1).padStart(8)} B  ${name}`);
  return { objects: profile.samples.length / calls, bytes: bytes / calls, top };
}

async function gcShare(session: Session, workload: Workload, calls: number): Promise<{ all: number; busy: number; top: string[] }> {
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  for (let i = 0; i < RUNS; i++) await workload.run(calls);
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  await session.post('Profiler.disable');
  const names = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
  const frames = new Map(profile.nodes.map((n) => [n.id, frameName(n as unknown as HeapNode)]));
  let gcSamples = 0;
  let idle = 0;
  const self = new Map<string, number>();
  for (const id of profile.samples) {
    const name = names.get(id);
    if (name === '(garbage collector)') gcSamples++;
    else if (name === '(idle)') idle++;
    const frame = frames.get(id) ?? '?';
    self.set(frame, (self.get(frame) ?? 0) + 1);
  }
  const total = profile.samples.length;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(process.env.TOP ?? 15))
    .map(([frame, n]) => `${((n / total) * 100).toFixed(1).padStart(5)}%  ${frame}`);
  return { all: gcSamples / total, busy: gcSamples / Math.max(1, total - idle), top };
}

async function profileOne(name: string, workload: Workload, callsArg: number | undefined): Promise<void> {
  const calls = callsArg ?? workload.defaultCalls;
  await workload.setup();
  try {
    for (let i = 0; i < 3; i++) await workload.run(calls);
    const perSecond = await rate(workload, calls);
    const session = new Session();
    session.connect();
    // Allocation counting samples every allocation: slow, so over fewer calls (≥ 20 000).
    const alloc = await allocation(session, workload, Math.min(calls, Math.max(20_000, Math.floor(calls / 4))));
    const share = await gcShare(session, workload, calls);
    session.disconnect();
    console.log(`\n## ${name}: ${workload.description}, ${calls} calls per run`);
    console.log(`calls/s (median of ${RUNS}, wall clock): ${Math.round(perSecond)}`);
    console.log(`allocated per call: ${alloc.objects.toFixed(2)} objects, ${alloc.bytes.toFixed(0)} bytes`);
    console.log(`GC share: ${(share.all * 100).toFixed(1)}% of all samples, ${(share.busy * 100).toFixed(1)}% of non-idle samples`);
    console.log('top allocating frames (per call):');
    for (const line of alloc.top) console.log(`  ${line}`);
    console.log('top self-time frames (share of all CPU samples):');
    for (const line of share.top) console.log(`  ${line}`);
  } finally {
    await workload.teardown();
  }
}

await forSelectedWorkloads(process.argv.slice(2), (name, workload, calls) => profileOne(name, workload, calls));
