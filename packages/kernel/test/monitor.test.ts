// The task monitor, end to end: a child node process runs a kernel with the monitor on a free
// port (test/fixtures/monitor-app.mjs, against the built package) and the real curio-monitor
// CLI, another child process, is fed commands on stdin. Then in-process tests of what needs no
// second process: answering while the kernel is busy, closing at shutdown, port conflicts,
// option checks and the outcomes `cancel` reports.
import { spawn as spawnProcess } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Event, Kernel, KernelClosedError, KernelUsageError, MonitorError, attachMonitor, awaitPromise, disableCancellation, run, sleep, spawn } from '@curio-ts/kernel';
import type { MonitorAddress } from '@curio-ts/kernel';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const cliPath = fileURLToPath(new URL('../bin/curio-monitor.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const PROMPT = 'curio > ';

/** A child process whose stdout lines can be awaited. */
class Child {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private partial = '';
  private waiters: (() => void)[] = [];

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.notify();
    });
    proc.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => proc.on('close', (code) => resolve(code)));
    void this.exited.then(() => this.notify());
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** The first stdout line matching `pattern`; rejects if the process exits without one. */
  async line(pattern: RegExp): Promise<RegExpExecArray> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      for (const line of this.lines) {
        const match = pattern.exec(line);
        if (match !== null) return match;
      }
      if (exited || this.proc.exitCode !== null) {
        throw new Error(`process exited without printing ${pattern}; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

function startNode(args: string[], cwd?: string): Child {
  return new Child(spawnProcess(process.execPath, args, { stdio: 'pipe', ...(cwd !== undefined ? { cwd } : {}) }));
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** replies[0] is the banner; replies[i] the answer to the i-th command. */
  replies: string[];
}

/** Run the CLI against `port`, feed it `commands`, end its input and wait for it to exit. */
async function cli(port: number, commands: string[], via: 'node' | 'npx' = 'node'): Promise<CliResult> {
  const args = ['127.0.0.1', String(port)];
  const proc =
    via === 'node'
      ? spawnProcess(process.execPath, [cliPath, ...args], { stdio: 'pipe' })
      : spawnProcess('npx', ['--no', 'curio-monitor', ...args], { stdio: 'pipe', cwd: repoRoot });
  const child = new Child(proc);
  proc.stdin.end(commands.map((command) => `${command}\n`).join(''));
  const code = await child.exited;
  const stdout = child.lines.join('\n');
  return { code, stdout, stderr: child.stderr, replies: stdout.split(PROMPT) };
}

/** Rows of a ps table: one record per task keyed by column name. */
function psRows(reply: string): Map<string, Record<string, string>> {
  const lines = reply.trimEnd().split('\n');
  const header = (lines[0] ?? '').split(/\s{2,}/);
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines.slice(2)) {
    if (!/^\d/.test(line)) continue;
    const cells = line.split(/\s{2,}/);
    const row = Object.fromEntries(header.map((title, i) => [title, cells[i] ?? '']));
    rows.set(row['NAME'] ?? '', row);
  }
  return rows;
}

describe('task monitor, end to end with the curio-monitor CLI', () => {
  let app: Child;
  let port = 0;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    app = startNode([fixture('monitor-app.mjs')]);
    port = Number((await app.line(/^MONITOR (\d+)$/))[1]);
    await app.line(/^READY$/);
    for (const line of app.lines) {
      const match = /^TASK (\w+) (\d+)$/.exec(line);
      if (match !== null) ids[match[1] as string] = match[2] as string;
    }
  });

  afterAll(async () => {
    if (app.proc.exitCode === null) app.proc.kill();
    await app.exited;
  });

  it('ps lists every task with its state, cycles, timeout and where; quit exits 0', async () => {
    const result = await cli(port, ['ps', 'quit']);
    expect(result.code).toBe(0);
    expect(result.replies[0]).toMatch(/Curio monitor: \d+ tasks running in process \d+/);
    const rows = psRows(result.replies[1] ?? '');
    expect(rows.get('main')).toMatchObject({ ID: '1', STATE: 'STDIN_WAIT' });
    expect(rows.get('inner')).toMatchObject({ ID: ids['inner'], STATE: 'EVENT_WAIT', CYCLES: '1', TIMEOUT: '-' });
    expect(rows.get('inner')?.['WHERE']).toMatch(/^monitor-app\.mjs:\d+ \(inner\)$/);
    expect(rows.get('middle')).toMatchObject({ ID: ids['middle'], STATE: 'TASK_JOIN' });
    // The sleeper waits inside an arrow function: the row names the nearest named function.
    expect(rows.get('sleeper')).toMatchObject({ STATE: 'TIME_SLEEP' });
    expect(rows.get('sleeper')?.['WHERE']).toMatch(/^monitor-app\.mjs:\d+ \(sleeper\)$/);
    expect(rows.get('sleeper')?.['TIMEOUT']).toMatch(/^\d+\.\ds$/);
    expect(rows.has('outer')).toBe(false); // it has ended
    expect(result.replies.at(-1)).toBe('Leaving monitor.');
  });

  it('answers while a task spins through sleep(0): the spinner advances between two ps', async () => {
    const result = await cli(port, ['ps', 'ps', 'quit']);
    const first = psRows(result.replies[1] ?? '').get('spinner');
    const second = psRows(result.replies[2] ?? '').get('spinner');
    expect(['READY', 'RUNNING']).toContain(first?.['STATE']);
    expect(Number(first?.['CYCLES'])).toBeGreaterThan(0);
    expect(Number(second?.['CYCLES'])).toBeGreaterThan(Number(first?.['CYCLES']));
  });

  it('where ID shows the await stack with the source line of the fixture', async () => {
    const result = await cli(port, [`where ${ids['inner']}`, `where ${ids['middle']}`, 'quit']);
    expect(result.replies[1]).toContain(`Task ${ids['inner']} (inner): EVENT_WAIT`);
    expect(result.replies[1]).toMatch(/Awaiting, most recent call first:\n {2}at inner \(file:\/\/\/.*monitor-app\.mjs:\d+:\d+\)/);
    // The line it names is the `await gate.wait()` of the fixture.
    const line = Number(/monitor-app\.mjs:(\d+)/.exec(result.replies[1] ?? '')?.[1]);
    const { readFileSync } = await import('node:fs');
    const source = readFileSync(fixture('monitor-app.mjs'), 'utf8').split('\n');
    expect(source[line - 1]).toContain('await gate.wait()');
    expect(result.replies[2]).toMatch(/Task \d+ \(middle\): TASK_JOIN\nAwaiting.*\n {2}at middle /);
    expect(result.stdout).not.toMatch(/packages\/kernel\/(src|dist)\//); // kernel frames are left out
  });

  it('parents ID shows the chain up to main, naming a parent that has ended', async () => {
    const result = await cli(port, [`parents ${ids['inner']}`, 'quit']);
    const lines = (result.replies[1] ?? '').trimEnd().split('\n').slice(2).map((line) => line.split(/\s{2,}/));
    expect(lines).toEqual([
      [ids['inner'], 'EVENT_WAIT', 'inner'],
      [ids['middle'], 'TASK_JOIN', 'middle'],
      [ids['outer'], 'TERMINATED', 'outer'],
      ['1', 'STDIN_WAIT', 'main'],
    ]);
  });

  it('unknown commands, bad ids and bad signals get a clear message and the session goes on', async () => {
    const result = await cli(port, [
      'frobnicate',
      'where',
      'where abc',
      'where 99999',
      'parents -1',
      'cancel 99999',
      'signal',
      'signal SIGNOPE',
      '',
      'x'.repeat(5000),
      'help',
      'quit',
    ]);
    expect(result.code).toBe(0);
    expect(result.replies.slice(1)).toEqual([
      'Unknown command "frobnicate". Type help for the commands.\n',
      'Usage: where ID (a task id, as shown by ps)\n',
      'Bad task id "abc": expected a number, as shown by ps.\n',
      'No task 99999 (it never existed or has ended). Type ps for the live tasks.\n',
      'Bad task id "-1": expected a number, as shown by ps.\n',
      'No task 99999 (it never existed or has ended). Type ps for the live tasks.\n',
      'Usage: signal NAME (e.g. signal SIGUSR1)\n',
      'Unknown signal "SIGNOPE".\n',
      '',
      'Line too long (more than 1024 characters); ignored.\n',
      expect.stringMatching(/^Commands:\n {2}ps .*\n {2}where ID .*\n {2}parents ID .*\n {2}cancel ID .*\n {2}signal NAME .*\n {2}help .*\n {2}quit .*\n$/),
      'Leaving monitor.',
    ]);
    // The monitored program is unharmed.
    const after = await cli(port, ['ps', 'quit']);
    expect(psRows(after.replies[1] ?? '').get('inner')?.['STATE']).toBe('EVENT_WAIT');
  });

  it('a flood of 500 commands in one write: reading pauses while they queue, and every one is answered in order', async () => {
    const commands = Array.from({ length: 500 }, (_, i) => `where ${100000 + i}`);
    const result = await cli(port, [...commands, 'quit']);
    expect(result.code).toBe(0);
    expect(result.replies.slice(1, -1)).toEqual(commands.map((_, i) => `No task ${100000 + i} (it never existed or has ended). Type ps for the live tasks.\n`));
    expect(result.replies.at(-1)).toBe('Leaving monitor.');
  });

  it('signal SIGUSR1 reaches the handler of the monitored process', async () => {
    const result = await cli(port, ['signal usr1', 'quit']);
    expect(result.replies[1]).toMatch(/^Sent SIGUSR1 to process \d+\.\n$/);
    expect(result.replies[1]).toContain(`process ${app.proc.pid}`);
    await app.line(/^GOT SIGUSR1$/);
  });

  it('cancel ID ends the blocked task and reports it; its parent sees the end (via npx)', async () => {
    const result = await cli(port, [`cancel ${ids['inner']}`, `where ${ids['inner']}`, 'ps', 'quit'], 'npx');
    expect(result.code).toBe(0);
    expect(result.replies[1]).toBe(`Task ${ids['inner']} (inner) cancelled: TaskCancelled.\n`);
    expect(result.replies[2]).toMatch(/^No task \d+ /);
    const rows = psRows(result.replies[3] ?? '');
    expect(rows.has('inner')).toBe(false);
    expect(rows.get('middle')?.['STATE']).toBe('TIME_SLEEP');
    await app.line(/^inner ended by TaskCancelled$/);
    await app.line(/^middle saw TaskError caused by TaskCancelled$/);
    // Cancelling it again: it is gone.
    const again = await cli(port, [`cancel ${ids['inner']}`, 'quit']);
    expect(again.replies[1]).toMatch(/^No task \d+ /);
  });

  it('at shutdown the monitor tells a connected client, closes its port, and the program exits', async () => {
    // A session left open (its stdin never ends) while the program shuts down.
    const open = new Child(spawnProcess(process.execPath, [cliPath, '127.0.0.1', String(port)], { stdio: 'pipe' }));
    await open.line(/^Type help for commands$/);
    app.proc.stdin.end(); // the fixture's main task ends; run's kernel shuts down
    await app.line(/^SHUTDOWN monitorAddress=null$/);
    await app.line(/^PORT ECONNREFUSED$/);
    expect(await app.exited).toBe(0);
    expect(await open.exited).toBe(0);
    expect(open.lines.join('\n')).toContain('The kernel shut down; the monitor is closing.');
    expect(open.stderr).toContain('the monitored program closed the connection');
    // A new client is refused with a clear message and status 1.
    const refused = await cli(port, ['ps']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`cannot connect to 127.0.0.1:${port}: connection refused`);
  });
});

describe('curio-monitor CLI arguments', () => {
  it('bad arguments exit with status 2 and the usage', async () => {
    const child = startNode([cliPath, '127.0.0.1', 'notaport']);
    child.proc.stdin.end();
    expect(await child.exited).toBe(2);
    expect(child.stderr).toContain('bad port "notaport"');
    expect(child.stderr).toContain('usage: curio-monitor [host] [port]');
  });

  it('a program that never shuts its kernel down still exits, with a client connected', async () => {
    const app = startNode([fixture('monitor-exit.mjs')]);
    const port = Number((await app.line(/^MONITOR (\d+)$/))[1]);
    const client = new Child(spawnProcess(process.execPath, [cliPath, String(port)], { stdio: 'pipe' }));
    await client.line(/^Type help for commands$/);
    app.proc.stdin.write('go\n');
    await app.line(/^DONE 0 tasks, monitor still at port \d+$/);
    expect(await app.exited).toBe(0);
    expect(await client.exited).toBe(0);
    client.proc.stdin.end();
  });
});

/** Plain-code client: send one line, collect until `count` prompts have arrived. */
function ask(address: MonitorAddress, lines: string[], count: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(lines.map((line) => `${line}\n`).join('')));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.split(PROMPT).length > count) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

function connectionRefused(address: MonitorAddress): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address.host, port: address.port });
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

describe('task monitor in process', () => {
  it('answers while a task spins: the spinner stops only once the reply has arrived', async () => {
    const kernel = new Kernel();
    const address = await attachMonitor(kernel, { port: 0 }).ready();
    let answered = false;
    let spins = 0;
    const spinning = kernel.runTask(async function spinner() {
      while (!answered && spins < 50_000_000) {
        spins++;
        await sleep(0);
      }
      return answered;
    });
    const reply = await ask(address, ['ps'], 2);
    answered = true;
    expect(await spinning).toBe(true);
    expect(psRows(reply.split(PROMPT)[1] ?? '').get('spinner')?.['STATE']).toMatch(/^(READY|RUNNING)$/);
    await kernel.shutdown();
  });

  it('closes its port at shutdown; its address is null before listening and after', async () => {
    const kernel = new Kernel();
    const monitor = attachMonitor(kernel, { port: 0 });
    expect(monitor.address).toBeNull();
    const address = await monitor.ready();
    expect(address.host).toBe('127.0.0.1');
    expect(monitor.address).toEqual(address);
    expect(await connectionRefused(address)).toBe('connected');
    await kernel.runTask(() => sleep(1));
    await kernel.shutdown();
    expect(monitor.address).toBeNull();
    expect(await connectionRefused(address)).toBe('ECONNREFUSED');
  });

  it('close() stops it before the kernel shuts down; the kernel runs on', async () => {
    const kernel = new Kernel();
    const monitor = attachMonitor(kernel, { port: 0 });
    const address = await monitor.ready();
    monitor.close();
    monitor.close();
    expect(monitor.address).toBeNull();
    expect(await connectionRefused(address)).toBe('ECONNREFUSED');
    expect(await kernel.runTask(async () => (await sleep(1), 'still running'))).toBe('still running');
    await kernel.shutdown();
  });

  it('cannot be attached to a kernel that has shut down; the Kernel itself refuses a monitor option', async () => {
    const kernel = new Kernel();
    await kernel.shutdown();
    expect(() => attachMonitor(kernel, { port: 0 })).toThrow(KernelClosedError);
    const stale = { monitor: { port: 0 } } as unknown as ConstructorParameters<typeof Kernel>[0];
    expect(() => new Kernel(stale)).toThrow(expect.objectContaining({ name: KernelUsageError.name, code: 'ERR_KERNEL_OPTIONS' }));
  });

  it('run(main, { monitor }) starts it before main and closes it after; onListening gives the port', async () => {
    let seen: MonitorAddress | null = null;
    const result = await run(
      async () => {
        expect(seen).not.toBeNull();
        const reply = await ask(seen as MonitorAddress, ['ps'], 2);
        return psRows(reply.split(PROMPT)[1] ?? '').get('main')?.['STATE'];
      },
      { monitor: { port: 0, onListening: (address) => (seen = address) } },
    );
    // main awaited a plain Promise: the monitor saw it in FOREIGN_WAIT.
    expect(result).toBe('FOREIGN_WAIT');
    expect(await connectionRefused(seen as unknown as MonitorAddress)).toBe('ECONNREFUSED');
  });

  it('two kernels cannot bind the same port: a clear MonitorError, and run() does not start main', async () => {
    const first = new Kernel();
    const { port } = await attachMonitor(first, { port: 0 }).ready();
    const second = new Kernel();
    const secondMonitor = attachMonitor(second, { port });
    const error = await secondMonitor.ready().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MonitorError);
    expect(error).toMatchObject({ code: 'ERR_MONITOR_BIND', cause: { code: 'EADDRINUSE' } });
    expect((error as Error).message).toBe(
      `the monitor cannot listen on 127.0.0.1:${port}: address already in use (another monitor? use port 0 for a free one)`,
    );
    expect(secondMonitor.address).toBeNull();
    await second.shutdown();

    let mainRan = false;
    await expect(run(() => (mainRan = true), { monitor: { port } })).rejects.toMatchObject({ code: 'ERR_MONITOR_BIND' });
    expect(mainRan).toBe(false);
    await first.shutdown();
  });

  it('a bind failure nobody awaits is reported through onError', async () => {
    const first = new Kernel();
    const { port } = await attachMonitor(first, { port: 0 }).ready();
    const reports: string[] = [];
    await new Promise<void>((resolve) => {
      const second = new Kernel({
        onError: (error, info) => {
          reports.push(`${info.reason} ${(error as MonitorError).code}`);
          resolve();
        },
      });
      attachMonitor(second, { port });
    });
    expect(reports).toEqual(['monitor-error ERR_MONITOR_BIND']);
    await first.shutdown();
  });

  it('serves 8 sessions at once and tells a 9th to come back later', async () => {
    const kernel = new Kernel();
    const address = await attachMonitor(kernel, { port: 0 }).ready();
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 8; i++) {
      const socket = net.connect({ host: address.host, port: address.port });
      sockets.push(socket);
      await new Promise((resolve) => socket.once('data', resolve)); // its banner: it is served
    }
    expect(await ask(address, ['ps'], 2)).toBe('Too many monitor connections (at most 8); try again later.\n');
    for (const socket of sockets) socket.destroy();
    await kernel.shutdown();
  });

  it('by default it listens on 127.0.0.1:48802, as in Curio', async () => {
    // The port may be taken by another program on this machine; either way it is the one tried.
    const kernel = new Kernel();
    const outcome = await attachMonitor(kernel).ready().then(
      (address) => address,
      (error: unknown) => error,
    );
    if (outcome instanceof MonitorError) {
      expect(outcome.message).toContain('127.0.0.1:48802');
    } else {
      expect(outcome).toEqual({ host: '127.0.0.1', port: 48802 });
    }
    await kernel.shutdown();
  });

  it('refuses a host that is not loopback and a bad port, before starting anything', async () => {
    const kernel = new Kernel();
    expect(() => attachMonitor(kernel, { host: '0.0.0.0', port: 0 })).toThrow(
      expect.objectContaining({ name: 'MonitorError', code: 'ERR_MONITOR_HOST' }),
    );
    expect(() => attachMonitor(kernel, { host: '192.168.1.10' })).toThrow(/not a loopback address/);
    expect(() => attachMonitor(kernel, { port: 70000 })).toThrow(
      expect.objectContaining({ code: 'ERR_MONITOR_OPTIONS' }),
    );
    expect(() => attachMonitor(kernel, { port: 1.5 })).toThrow(MonitorError);
    expect(() => attachMonitor(kernel, null as unknown as { port: number })).toThrow(
      expect.objectContaining({ code: 'ERR_MONITOR_OPTIONS' }),
    );
    await expect(run(() => 'main ran', { monitor: { host: '0.0.0.0' } })).rejects.toMatchObject({ code: 'ERR_MONITOR_HOST' });
    await kernel.shutdown();
  });

  it('cancel reports a task that caught the cancellation, one that is shielded, and one cancelled before', async () => {
    const kernel = new Kernel();
    const address = await attachMonitor(kernel, { port: 0 }).ready();
    // Everything that waits for tasks runs in a kernel task; the monitor is asked through
    // plain sockets with awaitPromise.
    await kernel.runTask(async () => {
      const release = new Event();
      const started = new Event();
      const catcher = spawn(async function catcher() {
        try {
          await sleep(3_600_000);
        } catch {
          return 'caught it';
        }
        return 'slept';
      });
      const shielded = spawn(async function shielded() {
        await disableCancellation(async () => {
          started.set();
          await release.wait();
        });
        await sleep(3_600_000);
      });
      const stubborn = spawn(async function stubborn() {
        try {
          await sleep(3_600_000);
        } catch {
          await release.wait();
        }
      });
      await started.wait();
      const reply = (
        await awaitPromise(ask(address, [`cancel ${catcher.id}`, `cancel ${shielded.id}`, `where ${shielded.id}`], 4))
      ).split(PROMPT);
      expect(reply[1]).toBe(`Task ${catcher.id} (catcher) caught the cancellation and returned 'caught it'.\n`);
      expect(reply[2]).toBe(
        `Task ${shielded.id} (shielded) is still running (EVENT_WAIT) after 1000 ms: the cancellation is ` +
          'pending, delivered at its next blocking await outside a shielded region.\n',
      );
      expect(reply[3]).toMatch(
        /^Task \d+ \(shielded\): EVENT_WAIT, TaskCancelled pending\nAwaiting, most recent call first:\n {2}at .*monitor\.test\.ts:\d+:\d+\)?\n {2}at (async )?shielded /,
      );
      // The stubborn task catches its first cancellation and blocks again: a second cancel is refused.
      await stubborn.cancel({ blocking: false });
      await sleep(0);
      expect(stubborn.state).toBe('EVENT_WAIT');
      const again = (await awaitPromise(ask(address, [`cancel ${stubborn.id}`], 2))).split(PROMPT);
      expect(again[1]).toBe(
        `Task ${stubborn.id} (stubborn) was already cancelled and carried on; a task is cancelled only once.\n`,
      );
      release.set();
      await shielded.wait();
      expect(shielded.exception).toMatchObject({ code: 'ERR_TASK_CANCELLED' });
      await stubborn.wait();
      expect(stubborn.exception).toBeUndefined();
    });
    await kernel.shutdown();
  });
});
