// A child process for the kernel suite's last row: plain async/await code (no kernel), timed in a
// process where a promise hook was once enabled (`hook`) or never was (`plain`). Enabling any
// promise hook makes V8 drop its PromiseHook protector for the rest of the process, which is why
// the kernel follows tasks from the stack first (handoff.ts, STACK_READS_BEFORE_HOOKS). Each
// process state can only be had in a process of its own, so the suite alternates child processes.
// Prints one line: the ops/s of the timed run.

import { promiseHooks } from 'node:v8';

const CALLS = Number(process.env['PROTECTOR_CALLS'] ?? 1_000_000);

if (process.argv[2] === 'hook') {
  // On for one Promise, then off: what a short foreign wait followed with hooks does.
  const stop = promiseHooks.createHook({ init: () => {} }) as () => void;
  await Promise.resolve();
  stop();
}

async function leaf(i: number): Promise<number> {
  return i;
}

async function middle(i: number): Promise<number> {
  const value = await leaf(i);
  return new Promise<number>((resolve) => resolve(value + 1));
}

/** `n` calls awaited one after another, the common shape of async code. */
async function work(n: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await middle(i);
  return sum;
}

for (let i = 0; i < 3; i++) await work(CALLS); // warm up: optimized code, as in a long-lived process
const started = performance.now();
await work(CALLS);
console.log(String(CALLS / ((performance.now() - started) / 1000)));
