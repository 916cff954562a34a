// Errors nobody looked at: what counts as looking at a failed task's error, and when an error
// nobody looked at reaches the kernel's error hook (see "Errors nobody looked at" in the
// README and the Discussion of kernel.ts).
//
// - Looking at an error: `join()`, `result`, `exception` (also after `wait()` or `cancel()`),
//   and a TaskGroup's getters and `nextResult()`. Such an error is never reported, not even
//   after the task is garbage-collected.
// - Not looking: `wait()` alone, `cancel()` (of a task that already failed), a group's `join()`
//   alone, `nextDone()` without reading the task. Such an error is reported exactly once: when
//   the task is collected, when its scoped group ends, or at shutdown at the latest.
// - With `debug`, every crash is also reported at once ('task-crash'), as Curio logs it.
//
// The garbage-collection tests expose V8's `gc()` in this worker and use a control task whose
// error nobody looks at: its report proves the collection happened.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  Event,
  SocketError,
  TaskError,
  TaskGroup,
  openConnection,
  run,
  sleep,
  spawn,
  tcpServer,
  tcpServerSocket,
} from '@curio-ts/kernel';
import type { KernelErrorInfo, Task } from '@curio-ts/kernel';
import { rejected, runV, thrown } from './helpers.js';
import type { Report } from './helpers.js';
import { serve } from './socket-helpers.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

class ValueError extends Error {
  override name = 'ValueError';
}

/** Spawn a task that fails at once with a ValueError carrying `message`. */
function failing(message: string): Task {
  return spawn(
    async () => {
      throw new ValueError(message);
    },
    { name: message },
  );
}

/** What reached the hook, as `<reason> <task name>` (the task name is the error's message). */
function summary(reports: Report[]): string[] {
  return reports.map((r) => `${r.reason} ${(r.error as Error).message}`);
}

// ---------------------------------------------------------------------------------------------
// What counts as looking at an error

/** Ways of looking at the error of the failed task `t`; each records what it saw. */
const looks: { what: string; look: (t: Task, trace: string[]) => Promise<void> }[] = [
  {
    what: 'join()',
    look: async (t, trace) => {
      const error = await rejected(t.join());
      trace.push(`join threw ${(error as TaskError).name} of ${((error as TaskError).cause as Error).name}`);
    },
  },
  {
    what: 'wait() then exception',
    look: async (t, trace) => {
      await t.wait();
      trace.push(`exception ${(t.exception as Error).name}`);
    },
  },
  {
    what: 'wait() then result',
    look: async (t, trace) => {
      await t.wait();
      trace.push(`result threw ${(thrown(() => t.result) as Error).name}`);
    },
  },
  {
    what: 'cancel() then exception',
    look: async (t, trace) => {
      await t.wait();
      await t.cancel();
      trace.push(`exception ${(t.exception as Error).name}`);
    },
  },
  {
    what: "a manually joined group's exceptions",
    look: async (t, trace) => {
      const g = new TaskGroup({ tasks: [t] });
      await g.join();
      trace.push(`exceptions ${g.exceptions.map((e) => (e as Error).name).join(',')}`);
    },
  },
  {
    what: "a group's nextResult()",
    look: async (t, trace) => {
      const g = new TaskGroup({ tasks: [t] });
      trace.push(`nextResult threw ${(await rejected(g.nextResult()) as Error).name}`);
    },
  },
];

/**
 * Ways of handling the failed task `t` that do not look at its error, and the reason its report
 * gives (a group error while the task is still in its group).
 */
const notLooks: { what: string; reason: string; handle: (t: Task) => Promise<void> }[] = [
  { what: 'wait()', reason: 'unobserved-task-error', handle: (t) => t.wait() },
  {
    what: 'cancel() after it failed',
    reason: 'unobserved-task-error',
    handle: async (t) => {
      await t.wait();
      await t.cancel();
    },
  },
  {
    what: "a manually joined group's join()",
    reason: 'unobserved-group-error',
    handle: async (t) => {
      await new TaskGroup({ tasks: [t] }).join();
    },
  },
  {
    what: "a group's nextDone()",
    reason: 'unobserved-task-error',
    handle: async (t) => {
      const g = new TaskGroup({ tasks: [t] });
      await g.nextDone();
    },
  },
];

describe('looking at a failed task', () => {
  it.each(looks.map(({ what, look }) => [what, look] as const))(
    'an error looked at through %s is not reported',
    async (_what, look) => {
      const trace: string[] = [];
      const reports: Report[] = [];
      await runV(async () => {
        await look(failing('seen'), trace);
      }, reports);
      expect(trace).toHaveLength(1);
      expect(trace[0]).toContain('ValueError');
      expect(summary(reports)).toEqual([]);
    },
  );

  it.each(notLooks.map(({ what, reason, handle }) => [what, reason, handle] as const))(
    'an error only handled through %s is reported once, at shutdown (%s)',
    async (_what, reason, handle) => {
      const trace: string[] = [];
      const reports: Report[] = [];
      await runV(
        async () => {
          const t = failing('unseen');
          await handle(t);
          await sleep(10);
          trace.push('main done');
          return t; // still reachable: only the shutdown proves nobody will look
        },
        reports,
        trace,
      );
      expect(trace).toEqual(['main done', `reported ${reason} unseen`]);
      expect(summary(reports)).toEqual([`${reason} unseen`]);
    },
  );

  it('a failure of the main task rejects run() and is not reported', async () => {
    const reports: Report[] = [];
    const error = await rejected(
      runV(async () => {
        throw new ValueError('main failed');
      }, reports),
    );
    expect((error as Error).message).toBe('main failed');
    expect(summary(reports)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Garbage collection

/**
 * Run `body` in a kernel (real clock), then collect garbage and let the kernel run until
 * something was reported (at most 100 rounds): `body` leaves a control task whose error nobody
 * looks at, and its report shows that the tasks `body` made were collected. `body` runs in a
 * function of its own, so that nothing of it keeps its tasks alive. Returns the trace (with
 * 'collected' once collection ended) and what was reported.
 */
async function runThenCollect(body: (trace: string[]) => Promise<void>): Promise<{ trace: string[]; reports: string[] }> {
  const reports: Report[] = [];
  const trace: string[] = [];
  await runV(
    async () => {
      await body(trace);
      for (let round = 0; round < 100 && reports.length === 0; round++) {
        collectGarbage();
        await sleep(10);
      }
      trace.push('collected');
    },
    reports,
    trace,
    { clock: 'real' },
  );
  return { trace, reports: summary(reports) };
}

/** Serve one client on a tcpServer, then cancel the server; resolves with the server task. */
async function serveOneClientThenCancel(): Promise<Task> {
  const { port, task } = await serve(async (client) => {
    await client.sendall(Buffer.from('hi\n'));
  });
  const client = await openConnection('127.0.0.1', port);
  await client.recv(3);
  await client.close();
  await task.cancel();
  return task;
}

describe('after garbage collection', () => {
  it('an error looked at is not reported when its task is collected; one nobody looked at is, at once', async () => {
    const got = await runThenCollect(async () => {
      const control = failing('control');
      const tasks = [failing('joined'), failing('exception'), failing('result'), failing('grouped')];
      await control.wait();
      await rejected(tasks[0]!.join());
      await tasks[1]!.wait();
      void tasks[1]!.exception;
      await tasks[2]!.wait();
      thrown(() => tasks[2]!.result);
      const g = new TaskGroup({ tasks: [tasks[3]!] });
      await g.join();
      void g.exceptions;
    });
    // The task was collected: the report cannot name it.
    expect(got).toEqual({
      trace: ['reported unobserved-task-error ?', 'collected'],
      reports: ['unobserved-task-error control'],
    });
  });

  it('cancelling a tcpServer reports nothing, before or after its tasks are collected', async () => {
    const got = await runThenCollect(async (trace) => {
      const server = await serveOneClientThenCancel();
      trace.push(`server ended with ${(server.exception as Error).name}`);
      failing('control');
    });
    expect(got).toEqual({
      trace: ['server ended with TaskCancelled', 'reported unobserved-task-error ?', 'collected'],
      reports: ['unobserved-task-error control'],
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A server that failed at once

/**
 * The newcomer's program: spawn a tcpServer on a port in use (it fails at once with
 * EADDRINUSE), later "stop the server" by cancelling it.
 */
async function serverOnBusyPortThenCancel(trace: string[]): Promise<void> {
  const busy = await tcpServerSocket('127.0.0.1', 0);
  const server = spawn(() => tcpServer('127.0.0.1', busy.port, async () => {}), { name: 'chat-server' });
  await sleep(50);
  await server.cancel();
  trace.push(`cancelled: terminated ${server.terminated}`);
  await busy.close();
  trace.push('main done');
}

describe('a server task that failed at once', () => {
  it('a tcpServer on a port in use, spawned and then cancelled, reports EADDRINUSE', async () => {
    const reports: Report[] = [];
    const trace: string[] = [];
    await runV(() => serverOnBusyPortThenCancel(trace), reports, trace, { clock: 'real' });
    expect(trace).toEqual(['cancelled: terminated true', 'main done', 'reported unobserved-task-error chat-server']);
    expect(reports).toHaveLength(1);
    expect(reports[0]?.error).toBeInstanceOf(SocketError);
    expect((reports[0]?.error as SocketError).code).toBe('EADDRINUSE');
    expect(reports[0]?.message).toBe(`task ${reports[0]?.task?.id} (chat-server) failed and its error was never looked at`);
  });

  it('the default error hook prints the EADDRINUSE error on stderr', async () => {
    const printed: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]): void => void printed.push(args);
    try {
      await run(() => serverOnBusyPortThenCancel([]));
    } finally {
      console.error = original;
    }
    expect(printed).toHaveLength(1);
    expect(printed[0]?.[0]).toMatch(/^curio: task \d+ \(chat-server\) failed and its error was never looked at$/);
    expect((printed[0]?.[1] as SocketError).code).toBe('EADDRINUSE');
  });
});

// ---------------------------------------------------------------------------------------------
// debug: crashes reported at once

describe('with debug', () => {
  it('every crash is reported when it happens, as Curio logs it; cancellations are not', async () => {
    const trace: string[] = [];
    const infos: KernelErrorInfo[] = [];
    await run(
      async () => {
        const t = failing('crashes');
        const blocked = spawn(() => new Event().wait());
        await t.wait();
        trace.push('after the crash');
        await rejected(t.join());
        await blocked.cancel();
        trace.push('main done');
      },
      {
        debug: true,
        clock: 'virtual',
        onError: (error, info) => {
          infos.push(info);
          trace.push(`${info.reason} ${info.task?.name}: ${(error as Error).message}`);
        },
      },
    );
    expect(trace).toEqual(['task-crash crashes: crashes', 'after the crash', 'main done']);
    expect(infos[0]?.message).toMatch(/^task \d+ \(crashes\) crashed$/);
  });

  it('cancelling a tcpServer is no crash', async () => {
    const reports: string[] = [];
    await run(serveOneClientThenCancel, {
      debug: true,
      onError: (_error, info) => reports.push(`${info.reason}: ${info.message}`),
    });
    expect(reports).toEqual([]);
  });
});
