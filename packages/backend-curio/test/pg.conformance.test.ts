// The shared PostgreSQL conformance suite on the curio runtime: every test body runs in a
// kernel task, against the real server, and must behave exactly as on the node runtime.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConformance, sharedTestPgUrl } from '@curio-ts/conformance';
import type { PgHarness } from '@curio-ts/conformance';
import { TaskTimeout, clock, run, sleep, spawn, timeoutAfter } from '@curio-ts/kernel';
import { connectPg } from '@curio-ts/backend-curio';
import { curioRunner } from './harness.js';

const harness: PgHarness = { ...curioRunner, connect: connectPg };

pgConformance(harness, { describe, it, expect, beforeAll, afterAll });

describe('pg on curio: the kernel cancels queries', () => {
  let url = '';
  beforeAll(async () => {
    url = await sharedTestPgUrl();
  }, 60_000);

  it('timeoutAfter and task cancellation cancel a running query on the server; the connection stays usable', async () => {
    await run(async () => {
      const db = await connectPg(url);
      try {
        const pid = db.processId;
        const started = clock();
        const timedOut = await timeoutAfter(200, () => db.query('select pg_sleep(5)')).catch((error: unknown) => error);
        expect(timedOut).toBeInstanceOf(TaskTimeout);
        expect(clock() - started).toBeLessThan(4000);
        expect((await db.query<{ p: number }>('select pg_backend_pid() as p')).rows).toEqual([{ p: pid }]);
        const task = spawn(() => db.query('select pg_sleep(5)'));
        await sleep(200);
        await task.cancel();
        expect(task.state).toBe('TERMINATED');
        expect(clock() - started).toBeLessThan(8000);
        // The server ran nothing more of it: the connection answers at once, and is the same one.
        expect((await db.query<{ p: number; n: number }>("select pg_backend_pid() as p, count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(5)' and state = 'active'")).rows).toEqual([{ p: pid, n: 0 }]);
      } finally {
        await db.close();
      }
    });
  }, 20_000);
});
