// subprocess on real children (node, sh, cat, yes | head, sleep): captured output, input, exit
// codes and signals, CalledProcessError, typed spawn errors, Popen streams under kernel control
// (a child writing 50 MiB to a slow reader stays bounded and every byte arrives), and what
// cancelling or timing out each blocking call does (the child killed and reaped: no zombie,
// checked with process.kill(pid, 0) throwing ESRCH; or left running when asked).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  LineTooLongError,
  OSError,
  TaskCancelled,
  TaskTimeout,
  sleep,
  spawn,
  subprocess,
  timeoutAfter,
} from '@curio-ts/kernel';
import { HIGH_WATER } from '@curio-ts/kernel/lowlevel';
import { blockedIn, failure, payload, runReal, sha256, until } from './socket-helpers.js';

const node = process.execPath;
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString());

/** Whether process `pid` is gone: not running and not a zombie waiting to be reaped. */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ESRCH';
  }
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'curio-subprocess-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A shell command that writes its pid to a fresh file, then becomes `command`. */
function withPidFile(command: string): { args: string[]; pid: () => number | null } {
  const file = join(dir, `pid-${Math.random().toString(36).slice(2)}`);
  return {
    args: ['sh', '-c', `echo $$ > ${file}.tmp && mv ${file}.tmp ${file} && exec ${command}`],
    pid: () => {
      try {
        return Number(readFileSync(file, 'utf8'));
      } catch {
        return null;
      }
    },
  };
}

describe('run and checkOutput', () => {
  test('captures stdout and stderr, as bytes or text, with the exit status', async () => {
    const script = "process.stdout.write('out'); process.stderr.write('err'); process.exit(3)";
    const got = await runReal(async () => {
      const bytes = await subprocess.run([node, '-e', script], { capture: true });
      const textual = await subprocess.run([node, '-e', script], { capture: true, encoding: 'utf8' });
      const uncaptured = await subprocess.run([node, '-e', script], { stdout: 'ignore', stderr: 'ignore' });
      return { bytes, textual, uncaptured };
    });
    expect(got.bytes.returncode).toBe(3);
    expect(got.bytes.signal).toBeNull();
    expect(got.bytes.stdout).toBeInstanceOf(Uint8Array);
    expect([text(got.bytes.stdout), text(got.bytes.stderr)]).toEqual(['out', 'err']);
    expect([got.textual.stdout, got.textual.stderr]).toEqual(['out', 'err']);
    expect(got.textual.args).toEqual([node, '-e', script]);
    expect([got.uncaptured.returncode, got.uncaptured.stdout, got.uncaptured.stderr]).toEqual([3, null, null]);
  });

  test('input goes to stdin; 6 MiB through cat comes back whole while stderr is read too', async () => {
    const data = payload(6 * 1024 * 1024, 11);
    const script = 'process.stdin.pipe(process.stdout); process.stderr.write(Buffer.alloc(3 << 20, 97))';
    const got = await runReal(async () => {
      const small = await subprocess.run(['cat'], { input: 'hello\n', capture: true, encoding: 'utf8' });
      const big = await subprocess.run([node, '-e', script], { input: data, capture: true });
      const counted = await subprocess.checkOutput(['wc', '-c'], { input: data, encoding: 'utf8' });
      return { small: small.stdout, big, counted };
    });
    expect(got.small).toBe('hello\n');
    expect(got.big.returncode).toBe(0);
    expect(sha256(got.big.stdout as Uint8Array)).toBe(sha256(data));
    expect(got.big.stderr?.length).toBe(3 << 20);
    expect(got.counted.trim()).toBe(String(data.length));
  });

  test('a child that exits without reading its input is not an error', async () => {
    const got = await runReal(() => subprocess.run(['true'], { input: payload(8 * 1024 * 1024) }));
    expect(got.returncode).toBe(0);
  });

  test('check and checkOutput throw CalledProcessError carrying the status and the output', async () => {
    const got = await runReal(async () => {
      const output = await subprocess.checkOutput(['sh', '-c', 'echo fine'], { encoding: 'utf8' });
      const failed = await failure(subprocess.checkOutput(['sh', '-c', 'echo partial; echo oops >&2; exit 7'], { stderr: 'pipe' }));
      const checked = await failure(subprocess.run(['sh', '-c', 'exit 1'], { check: true }));
      const completed = await subprocess.run(['false']);
      return { output, failed, checked, completed: failure(Promise.resolve().then(() => completed.checkReturncode())) };
    });
    expect(got.output).toBe('fine\n');
    const failed = got.failed as subprocess.CalledProcessError;
    expect(failed).toBeInstanceOf(subprocess.CalledProcessError);
    expect(failed.code).toBe('ERR_CALLED_PROCESS');
    expect(failed.returncode).toBe(7);
    expect(failed.signal).toBeNull();
    expect([text(failed.stdout as Uint8Array), text(failed.stderr as Uint8Array)]).toEqual(['partial\n', 'oops\n']);
    expect(failed.message).toContain('non-zero exit status 7');
    expect((got.checked as subprocess.CalledProcessError).returncode).toBe(1);
    expect(await got.completed).toBeInstanceOf(subprocess.CalledProcessError);
  });

  test('a child killed by a signal reports minus the signal number', async () => {
    const got = await runReal(async () => {
      const result = await subprocess.run(['sh', '-c', 'kill -TERM $$']);
      const error = await failure(subprocess.run(['sh', '-c', 'kill -KILL $$'], { check: true }));
      return { result, error: error as subprocess.CalledProcessError };
    });
    expect([got.result.returncode, got.result.signal]).toEqual([-15, 'SIGTERM']);
    expect([got.error.returncode, got.error.signal]).toEqual([-9, 'SIGKILL']);
    expect(got.error.message).toContain('died with SIGKILL');
  });

  test('shell, cwd and env', async () => {
    const got = await runReal(async () => {
      const shell = await subprocess.checkOutput('echo $((40 + 2))', { shell: true, encoding: 'utf8' });
      const env = await subprocess.checkOutput(['sh', '-c', 'echo "$GREETING"; pwd'], {
        env: { GREETING: 'hi there', PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
        cwd: dir,
        encoding: 'utf8',
      });
      return { shell, env };
    });
    expect(got.shell).toBe('42\n');
    expect(got.env).toBe(`hi there\n${dir}\n`);
  });

  test('typed errors: a missing program or directory is an OSError, a malformed command a TypeError', async () => {
    const got = await runReal(async () => ({
      missing: await failure(subprocess.run(['/nonexistent/program'])),
      badCwd: await failure(subprocess.run(['true'], { cwd: join(dir, 'no-such-dir') })),
      stringNoShell: await failure(subprocess.run('ls -l')),
      arrayWithShell: await failure(subprocess.run(['ls', '-l'], { shell: true })),
      empty: await failure(subprocess.run([])),
      badSignal: await failure(subprocess.run(['true'], { killSignal: 'SIGNOPE' as NodeJS.Signals })),
      inputNoPipe: await failure(
        subprocess.spawnProcess(['true'], { stdin: 'ignore' }).then(async (child) => {
          try {
            return await child.communicate('x');
          } finally {
            await child.wait();
          }
        }),
      ),
    }));
    expect(got.missing).toBeInstanceOf(OSError);
    expect((got.missing as OSError).code).toBe('ENOENT');
    expect((got.missing as OSError).path).toBe('/nonexistent/program');
    expect(got.badCwd).toBeInstanceOf(OSError);
    expect((got.badCwd as OSError).code).toBe('ENOENT');
    for (const error of [got.stringNoShell, got.arrayWithShell, got.empty, got.badSignal, got.inputNoPipe]) expect(error).toBeInstanceOf(TypeError);
  });
});

describe('Popen streams', () => {
  test('talk to cat line by line, then close stdin: EOF, exit 0', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(['cat'], { stdin: 'pipe', stdout: 'pipe' });
      const stdin = child.stdin as NonNullable<typeof child.stdin>;
      const stdout = child.stdout as NonNullable<typeof child.stdout>;
      const echoed: string[] = [];
      for (const word of ['one', 'two', 'three']) {
        await stdin.write(Buffer.from(`${word}\n`));
        echoed.push(text(await stdout.readline()) as string);
      }
      const running = child.poll();
      await stdin.close();
      const rest = await stdout.readAll();
      const status = await child.wait();
      return { echoed, running, rest: rest.length, status, pid: child.pid };
    });
    expect(got.echoed).toEqual(['one\n', 'two\n', 'three\n']);
    expect(got.running).toBeNull();
    expect(got.rest).toBe(0);
    expect(got.status).toBe(0);
    expect(gone(got.pid)).toBe(true);
  });

  test('for await over the lines of `yes | head -n 1000`', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess('yes | head -n 1000', { shell: true, stdout: 'pipe' });
      const lines: string[] = [];
      for await (const line of child.stdout as NonNullable<typeof child.stdout>) lines.push(text(line) as string);
      return { lines, status: await child.wait() };
    });
    expect(got.lines.length).toBe(1000);
    expect(new Set(got.lines)).toEqual(new Set(['y\n']));
    expect(got.status).toBe(0);
  });

  test('a line longer than the line limit: LineTooLongError by default, read whole with a larger lineLimit', async () => {
    const got = await runReal(async () => {
      const command = 'head -c 100000 /dev/zero | tr "\\0" a; echo';
      const strict = await subprocess.spawnProcess(command, { shell: true, stdout: 'pipe' });
      const error = await failure((strict.stdout as NonNullable<typeof strict.stdout>).readline());
      const rest = await (strict.stdout as NonNullable<typeof strict.stdout>).readAll(); // nothing was lost
      await strict.wait();
      const roomy = await subprocess.spawnProcess(command, { shell: true, stdout: 'pipe', lineLimit: 200_000 });
      const line = await (roomy.stdout as NonNullable<typeof roomy.stdout>).readline();
      await roomy.wait();
      return { tooLong: error instanceof LineTooLongError, rest: rest.length, line: line.length };
    });
    expect(got).toEqual({ tooLong: true, rest: 100_001, line: 100_001 });
  });

  test('a child writing 50 MiB to a slow reader: memory stays bounded and every byte arrives', async () => {
    const total = 50 * 1024 * 1024;
    const pattern = Buffer.from('abcdefghij\n');
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(`yes abcdefghij | head -c ${total}`, { shell: true, stdout: 'pipe' });
      const stdout = child.stdout as NonNullable<typeof child.stdout>;
      let received = 0;
      let mismatches = 0;
      let maxQueued = 0;
      let maxNodeBuffered = 0;
      for (let reads = 0; ; reads++) {
        maxQueued = Math.max(maxQueued, stdout.socket.bufferedBytes);
        maxNodeBuffered = Math.max(maxNodeBuffered, stdout.socket.rawSocket.readableLength);
        const chunk = await stdout.read(65536);
        if (chunk.length === 0) break;
        for (let i = 0; i < chunk.length; i += 4099) {
          if (chunk[i] !== pattern[(received + i) % pattern.length]) mismatches++;
        }
        received += chunk.length;
        if (reads % 16 === 0) await sleep(2); // slow reader
      }
      return { received, mismatches, maxQueued, maxNodeBuffered, status: await child.wait() };
    });
    expect(got.received).toBe(total);
    expect(got.mismatches).toBe(0);
    expect(got.status).toBe(0);
    expect(got.maxQueued).toBeLessThanOrEqual(HIGH_WATER + 65536);
    expect(got.maxNodeBuffered).toBeLessThanOrEqual(1024 * 1024);
  });

  test('output of a grandchild that outlives the child stays bounded too', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(['sh', '-c', 'yes grandchild & echo $! >&2'], { stdout: 'pipe', stderr: 'pipe' });
      const stdout = child.stdout as NonNullable<typeof child.stdout>;
      const grandchild = Number(text(await (child.stderr as NonNullable<typeof child.stderr>).readline()));
      const status = await child.wait();
      let maxQueued = 0;
      let received = 0;
      try {
        for (let reads = 0; reads < 200; reads++) {
          maxQueued = Math.max(maxQueued, stdout.socket.bufferedBytes);
          received += (await stdout.read(65536)).length;
          await sleep(1);
        }
      } finally {
        process.kill(grandchild, 'SIGKILL');
      }
      await stdout.close();
      return { status, maxQueued, received };
    });
    expect(got.status).toBe(0);
    expect(got.received).toBeGreaterThan(0);
    expect(got.maxQueued).toBeLessThanOrEqual(HIGH_WATER + 65536);
  });

  test('a cancelled read and a timed-out readline lose nothing', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(['cat'], { stdin: 'pipe', stdout: 'pipe' });
      const stdin = child.stdin as NonNullable<typeof child.stdin>;
      const stdout = child.stdout as NonNullable<typeof child.stdout>;
      const reader = spawn(() => stdout.read(), { name: 'reader' });
      await blockedIn(reader, 'READ_WAIT');
      await reader.cancel();
      await stdin.write(Buffer.from('par'));
      await until(() => stdout.socket.bufferedBytes === 3, 'cat echoed the partial line');
      const timedOut = await failure(timeoutAfter(20, () => stdout.readline()));
      await stdin.write(Buffer.from('tial\n'));
      const line = text(await stdout.readline());
      await stdin.close();
      return { cancelled: reader.exception, timedOut, line, status: await child.wait() };
    });
    expect(got.cancelled).toBeInstanceOf(TaskCancelled);
    expect(got.timedOut).toBeInstanceOf(TaskTimeout);
    expect(got.line).toBe('partial\n');
    expect(got.status).toBe(0);
  });

  test('a write to a child that does not read blocks, and times out; disposal kills the child', async () => {
    const got = await runReal(async () => {
      let pid = 0;
      let error: unknown;
      {
        await using child = await subprocess.spawnProcess(['sleep', '30'], { stdin: 'pipe' });
        pid = child.pid;
        error = await failure(timeoutAfter(50, () => (child.stdin as NonNullable<typeof child.stdin>).write(payload(16 * 1024 * 1024))));
      }
      return { error, pid };
    });
    expect(got.error).toBeInstanceOf(TaskTimeout);
    expect((got.error as { bytesWritten?: number }).bytesWritten).toBeLessThan(16 * 1024 * 1024);
    expect(gone(got.pid)).toBe(true);
  });

  test('kill, terminate, poll and returncode', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(['sleep', '30']);
      const before = [child.poll(), child.returncode];
      expect(child.terminate()).toBe(true);
      const status = await child.wait();
      return { before, status, signal: child.signalCode, again: child.kill(), pid: child.pid };
    });
    expect(got.before).toEqual([null, null]);
    expect([got.status, got.signal, got.again]).toEqual([-15, 'SIGTERM', false]);
    expect(gone(got.pid)).toBe(true);
  });
});

describe('cancellation and timeouts', () => {
  test('cancelling a task blocked in wait() kills and reaps the child', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(['sleep', '30']);
      const waiter = spawn(() => child.wait(), { name: 'waiter' });
      await blockedIn(waiter, 'PROCESS_WAIT');
      await waiter.cancel();
      return { error: waiter.exception, gone: gone(child.pid), returncode: child.returncode, signal: child.signalCode };
    });
    expect(got.error).toBeInstanceOf(TaskCancelled);
    expect(got.gone).toBe(true);
    expect([got.returncode, got.signal]).toEqual([-9, 'SIGKILL']);
  });

  test("a timed-out wait with onCancel 'leave' leaves the child running; killSignal SIGTERM is used when killing", async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(['sleep', '30'], { killSignal: 'SIGTERM' });
      const left = await failure(timeoutAfter(20, () => child.wait({ onCancel: 'leave' })));
      const stillRunning = !gone(child.pid) && child.poll() === null;
      const killed = await failure(timeoutAfter(20, () => child.wait()));
      return { left, stillRunning, killed, gone: gone(child.pid), signal: child.signalCode };
    });
    expect(got.left).toBeInstanceOf(TaskTimeout);
    expect(got.stillRunning).toBe(true);
    expect(got.killed).toBeInstanceOf(TaskTimeout);
    expect([got.gone, got.signal]).toEqual([true, 'SIGTERM']);
  });

  test('a child that ignores killSignal gets SIGKILL after killTimeout', async () => {
    const got = await runReal(async () => {
      const child = await subprocess.spawnProcess(['sh', '-c', 'trap "" TERM; echo ready; exec sleep 30'], {
        stdout: 'pipe',
        killSignal: 'SIGTERM',
        killTimeout: 100,
      });
      await (child.stdout as NonNullable<typeof child.stdout>).readline();
      const error = await failure(timeoutAfter(20, () => child.wait()));
      return { error, gone: gone(child.pid), signal: child.signalCode };
    });
    expect(got.error).toBeInstanceOf(TaskTimeout);
    expect([got.gone, got.signal]).toEqual([true, 'SIGKILL']);
  });

  test('run() cancelled: the child is killed and reaped before the cancellation propagates', async () => {
    const sleeper = withPidFile('sleep 30');
    const got = await runReal(async () => {
      const runner = spawn(() => subprocess.run(sleeper.args, { capture: true }), { name: 'runner' });
      await until(() => sleeper.pid() !== null, 'the child wrote its pid');
      await runner.cancel();
      return { error: runner.exception, gone: gone(sleeper.pid() as number) };
    });
    expect(got.error).toBeInstanceOf(TaskCancelled);
    expect(got.gone).toBe(true);
  });

  test('run() inside timeoutAfter: TaskTimeout, the child reaped', async () => {
    const sleeper = withPidFile('sleep 30');
    const got = await runReal(async () => {
      const error = await failure(timeoutAfter(1000, () => subprocess.run(sleeper.args)));
      return { error, pid: sleeper.pid() };
    });
    expect(got.error).toBeInstanceOf(TaskTimeout);
    expect(got.pid).not.toBeNull();
    expect(gone(got.pid as number)).toBe(true);
  });

  test("run()'s own timeout: TimeoutExpired with the output read so far, the child reaped", async () => {
    const sleeper = withPidFile("sh -c 'echo started; exec sleep 30'");
    const got = await runReal(async () => {
      const error = await failure(subprocess.run(sleeper.args, { capture: true, timeout: 3000, encoding: 'utf8' }));
      return { error: error as subprocess.TimeoutExpired, gone: gone(sleeper.pid() as number) };
    });
    expect(got.error).toBeInstanceOf(subprocess.TimeoutExpired);
    expect(got.error.code).toBe('ERR_PROCESS_TIMEOUT');
    expect(got.error.timeout).toBe(3000);
    expect(got.error.stdout).toBe('started\n');
    expect(got.error.stderr).toBe('');
    expect(got.error.cause).toBeInstanceOf(TaskTimeout);
    expect(got.gone).toBe(true);
  });
});
