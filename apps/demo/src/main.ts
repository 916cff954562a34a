// The curio-ts tour. Run with `npm start` from the repository root.
//
// 1. Beazley's countdown: two tasks taking turns at their awaits.
// 2. The kid and the parent (Curio's tutorial): a task group, a timeout, a cancellation
//    that the child handles to clean up.
// 3. A task group racing several "downloads" under one deadline: what finished, what was cancelled.
// 4. Redis from kernel tasks: auto-pipelining, pub/sub, and a blocking call cancelled by a
//    timeout. It talks to $REDIS_URL if set, else to a mini-redis embedded in this process.
// 5. PostgreSQL from kernel tasks: the same client on $DATABASE_URL if set, else on PGlite
//    (`connectPg('pglite:')`: PostgreSQL in WebAssembly in a worker thread; it takes a few
//    seconds and a few hundred MB to start, once per process).

import {
  TaskCancelled,
  TaskGroup,
  TaskTimeout,
  clock,
  ignoreAfter,
  run,
  sleep,
  spawn,
  timeoutAfter,
  Event,
} from '@curio-ts/kernel';
import { connectPg, connectRedis } from '@curio-ts/backend-curio';
import { sql } from '@curio-ts/client';
import { startMiniRedis } from '@curio-ts/mini-redis';

const TICK = 150; // ms: one "second" of the demo
let start = 0;

function say(text: string): void {
  console.log(`${(clock() - start).toFixed(0).padStart(6)} ms  ${text}`);
}

async function countdown(n: number): Promise<void> {
  while (n > 0) {
    say(`T-minus ${n}`);
    await sleep(TICK);
    n--;
  }
}

async function countup(stop: number): Promise<void> {
  for (let x = 0; x < stop; x++) {
    say(`Up we go ${x}`);
    await sleep(TICK);
  }
}

async function kid(startPlaying: Event): Promise<string> {
  say('kid: building a Minecraft castle');
  startPlaying.set();
  try {
    await sleep(100 * TICK);
    return 'castle';
  } catch (error) {
    if (error instanceof TaskCancelled) {
      say('kid: fine. saving my work.');
      await sleep(TICK); // cleanup may still block: the cancellation was already delivered
      say('kid: saved.');
    }
    throw error;
  }
}

async function parent(): Promise<void> {
  const playing = new Event();
  const child = spawn(() => kid(playing), { name: 'kid' });
  await playing.wait();
  say('parent: you have 3 ticks to finish, then we go');
  const result = await ignoreAfter(3 * TICK, () => child.join(), { timeoutResult: 'not done' });
  say(`parent: waited, got: ${String(result)}`);
  await child.cancel();
  say(`parent: kid state ${child.state}, cancelled=${String(child.cancelled)}`);
}

async function download(name: string, ms: number): Promise<string> {
  say(`  ${name}: start (${ms} ms)`);
  try {
    await sleep(ms);
    say(`  ${name}: done`);
    return `${name}:${ms}`;
  } catch (error) {
    say(`  ${name}: cancelled (${(error as Error).name})`);
    throw error;
  }
}

async function racingDownloads(): Promise<void> {
  const sizes: [string, number][] = [
    ['alpha', 1 * TICK],
    ['beta', 2 * TICK],
    ['gamma', 6 * TICK],
    ['delta', 9 * TICK],
  ];
  const finished: string[] = [];
  try {
    await timeoutAfter(4 * TICK, () =>
      TaskGroup.scope(async (group) => {
        for (const [name, ms] of sizes) group.spawn(() => download(name, ms), { name });
        for await (const task of group) finished.push(String(task.result));
      }),
    );
  } catch (error) {
    if (!(error instanceof TaskTimeout)) throw error;
    say(`deadline hit: finished ${JSON.stringify(finished)}, the rest were cancelled`);
  }

  const first = await TaskGroup.scope(
    async (group) => {
      for (const [name, ms] of sizes) group.spawn(() => download(`mirror-${name}`, ms), { name });
      return group;
    },
    { wait: 'any' },
  );
  say(`fastest mirror: ${String(first.result)} (the others were cancelled when it won)`);
}

async function redisTour(): Promise<void> {
  let url = process.env['REDIS_URL'];
  let embedded: Awaited<ReturnType<typeof startMiniRedis>> | null = null;
  if (url === undefined || url === '') {
    embedded = await startMiniRedis({ port: 0 });
    url = `redis://127.0.0.1:${embedded.port}`;
    say(`no REDIS_URL: started an embedded mini-redis on port ${embedded.port}`);
  } else say(`using ${url}`);
  const redis = await connectRedis(url);
  try {
    await redis.set('demo:greeting', 'hello from a kernel task');
    say(`GET demo:greeting -> ${String(await redis.get('demo:greeting'))}`);

    // 1 000 tasks, each with its own INCR: they go out in a handful of writes.
    await TaskGroup.scope(async (group) => {
      for (let i = 0; i < 1000; i++) group.spawn(() => redis.incr('demo:counter'));
    });
    say(`1000 tasks incremented demo:counter -> ${String(await redis.get('demo:counter'))}`);

    const subscription = await redis.subscribe('demo:news');
    const reader = spawn(async () => {
      for await (const message of subscription) {
        say(`  subscriber got ${JSON.stringify(message.message)} on ${message.channel}`);
        if (message.message === 'last') return;
      }
    });
    for (const news of ['first', 'second', 'last']) await redis.publish('demo:news', news);
    await reader.join();
    await subscription.close();

    const popped = await ignoreAfter(3 * TICK, () => redis.blPop('demo:empty-list', 0), { timeoutResult: 'timed out' });
    say(`BLPOP on an empty list under a ${3 * TICK} ms deadline -> ${JSON.stringify(popped)} (the call was cancelled)`);
    say(`the connection is still fine: PING -> ${await redis.ping()}`);
    await redis.del(['demo:greeting', 'demo:counter']);
  } finally {
    await redis.close();
    await embedded?.stop();
  }
}

async function postgresTour(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  const target = url === undefined || url === '' ? 'pglite:' : url;
  say(target === 'pglite:' ? "no DATABASE_URL: connectPg('pglite:'), PostgreSQL in WebAssembly in a worker thread" : `using ${target}`);
  const db = await connectPg(target);
  try {
    say(`connected: ${String((await db.query('select version() as v')).rows[0]?.['v']).split(' (')[0]}`);
    await db.query('create temporary table demo_people (id int primary key, name text, born date)');
    const people: [number, string, string][] = [[1, 'Ada', '1815-12-10'], [2, 'Grace', '1906-12-09'], [3, 'Edsger', '1930-05-11']];
    // Each insert from its own task: the queries are pipelined on the one connection.
    await TaskGroup.scope(async (group) => {
      for (const [id, name, born] of people) group.spawn(() => db.query(sql`insert into demo_people values (${id}, ${name}, ${born})`));
    });
    const before = '1900-01-01';
    const old = await db.query(sql`select name, born from demo_people where born < ${before}::date order by born`);
    say(`born before ${before}: ${old.rows.map((r) => `${String(r['name'])} (${(r['born'] as Date).toISOString().slice(0, 10)})`).join(', ')}`);
    const failed = await db.query('select 1/0').then(
      () => 'no error',
      (error: unknown) => (error instanceof Error ? `${error.name} ${(error as { code?: string }).code ?? ''}: ${error.message}` : String(error)),
    );
    say(`select 1/0 -> ${failed}; the connection goes on: ${String((await db.query('select count(*)::int as n from demo_people')).rows[0]?.['n'])} rows`);
    // A transaction: a connection of its own on a server; on PGlite (one session) it takes the
    // client's one connection while it runs, and other queries wait for it.
    const sum = await db.transaction(async (tx) => {
      await tx.query('create temporary table demo_tx (n int) on commit drop');
      await tx.query('insert into demo_tx select generate_series(1, 10)');
      return (await tx.query<{ s: number }>('select sum(n)::int as s from demo_tx')).rows[0]?.s;
    });
    say(`a transaction committed: sum(1..10) -> ${String(sum)}`);
  } finally {
    await db.close();
  }
}

async function main(): Promise<void> {
  start = clock();
  console.log('== 1. countdown and countup take turns at their awaits');
  const t1 = spawn(() => countdown(5), { name: 'countdown' });
  const t2 = spawn(() => countup(3), { name: 'countup' });
  await t1.join();
  await t2.join();

  console.log('\n== 2. the kid and the parent: timeouts and cancellation');
  await parent();

  console.log('\n== 3. a task group under a deadline');
  await racingDownloads();
  console.log('\n== 4. Redis from kernel tasks');
  await redisTour();
  console.log('\n== 5. PostgreSQL from kernel tasks');
  await postgresTour();
  console.log('\nall tasks ended; the kernel shut down cleanly.');
}

await run(main);
