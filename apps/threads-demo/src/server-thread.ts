// An async thread of the demo's pool: synchronous code that takes requests from a
// UniversalQueue with AWAIT (blocking this thread, not the kernel), calls the blocking library,
// and AWAITs the put of its answer. It returns how many requests it served when it receives
// `null`.

import { AWAIT, op } from '@curio-ts/kernel';
import type { UniversalQueue } from '@curio-ts/kernel';
import { query } from './blocking-library.js';

/** A request from a client connection. */
export interface Request {
  readonly id: number;
  readonly payload: string;
}

/** The answer to a request. */
export interface Answer {
  readonly id: number;
  readonly digest: string;
}

/** Settings of the blocking work. */
export interface Work {
  readonly rounds: number;
  readonly waitMs: number;
}

export function serveRequests(requests: UniversalQueue<Request | null>, answers: UniversalQueue<Answer>, work: Work): number {
  let served = 0;
  for (;;) {
    const request = AWAIT(op.get(requests));
    if (request === null) return served;
    const digest = query(request.payload, work.rounds, work.waitMs);
    AWAIT(op.put(answers, { id: request.id, digest }));
    served++;
  }
}
