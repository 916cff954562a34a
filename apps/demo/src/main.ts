// The curio-ts tour. Run with `npm start` from the repository root.
//
// 1. Beazley's countdown: two tasks taking turns at their awaits.
// 2. The kid and the parent (Curio's tutorial): a task group, a timeout, a cancellation
//    that the child handles to clean up.
// 3. A task group racing several "downloads" under one deadline: what finished, what was cancelled.

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
  console.log('\nall tasks ended; the kernel shut down cleanly.');
}

await run(main);
