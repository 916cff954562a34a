// Functions the threads benchmarks run in worker threads (loaded by URL from dist/).

import type { UniversalQueue } from '@curio-ts/kernel';

/** The trivial job of the round-trip benchmark. */
export function add(a: number, b: number): number {
  return a + b;
}

/** The same job in piscina's shape (one argument). */
export function addPair(pair: { a: number; b: number }): number {
  return pair.a + pair.b;
}

/** Put 0..n-1 on a universal queue with blocking puts. */
export function produceSync(queue: UniversalQueue<number>, n: number): number {
  for (let i = 0; i < n; i++) queue.putSync(i);
  return n;
}

/** Take n items from a universal queue with blocking gets. */
export function consumeSync(queue: UniversalQueue<number>, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += queue.getSync();
  return sum;
}
