// The "database library" of the demo: ordinary synchronous code that blocks its thread (a chain
// of SHA-256 rounds for CPU work, then a blocking sleep standing in for waiting on a server)
// and knows nothing of the kernel. Async threads call it; the kernel never does.

import { createHash } from 'node:crypto';

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** The answer for `payload`: `rounds` chained SHA-256 digests (hex). Pure, so clients can check it. */
export function digest(payload: string, rounds: number): string {
  let value = payload;
  for (let i = 0; i < rounds; i++) value = createHash('sha256').update(value).digest('hex');
  return value;
}

/** Block the calling thread for `ms` milliseconds (a synchronous call waiting on IO). */
export function blockingSleep(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
}

/** One blocking "query": hash rounds, then a blocking wait. */
export function query(payload: string, rounds: number, waitMs: number): string {
  const answer = digest(payload, rounds);
  blockingSleep(waitMs);
  return answer;
}
