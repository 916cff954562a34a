// connectPg('pglite:') on the curio runtime: the client in kernel tasks, PGlite (PostgreSQL in
// WebAssembly) in a worker thread, and a kernel timeout cancelling a running query there.

import { afterAll, describe, expect, it } from 'vitest';
import { isPgError } from '@curio-ts/client';
import { TaskGroup, TaskTimeout, run, timeoutAfter } from '@curio-ts/kernel';
import { closePglite } from '@curio-ts/transport-pglite';
import { connectPg } from '@curio-ts/backend-curio';

describe("connectPg('pglite:') on the curio runtime", () => {
  afterAll(async () => {
    await closePglite();
  });

  it('queries from kernel tasks, and a kernel timeout ends a long query without breaking the connection', async () => {
    const outcome = await run(async () => {
      const client = await connectPg('pglite:');
      try {
        const answers: number[] = [];
        await TaskGroup.scope(async (group) => {
          for (let i = 0; i < 20; i++) {
            group.spawn(async () => {
              const result = await client.query('select $1::int * 2 as n', [i]);
              answers.push(result.rows[0]?.['n'] as number);
            });
          }
        });
        const bad = await client.query('select 1/0').then(
          () => null,
          (e: unknown) => e,
        );
        const slept = await timeoutAfter(200, () => client.query('select pg_sleep(0.5)')).then(
          () => 'finished',
          (e: unknown) => e,
        );
        const after = await client.query('select 3 as three');
        return { answers: answers.sort((a, b) => a - b), bad, slept, after: after.rows };
      } finally {
        await client.close();
      }
    });
    expect(outcome.answers).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(isPgError(outcome.bad)).toBe(true);
    expect((outcome.bad as { code: string }).code).toBe('22012');
    expect(outcome.slept).toBeInstanceOf(TaskTimeout);
    expect(outcome.after).toEqual([{ three: 3 }]);
  }, 60_000);
});
