// Behaviour that needs a whole Node process: deadlock detection when the event loop runs dry,
// and error reports when a crashed task is garbage-collected. The fixtures run against the
// built package (nx builds it before the tests).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('whole-process behaviour', () => {
  it('run() rejects with DeadlockError instead of letting Node exit silently', () => {
    const out = execFileSync(process.execPath, [fixture('deadlock.mjs')], { encoding: 'utf8', timeout: 10_000 });
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('DeadlockError ERR_DEADLOCK');
    expect(out).toMatch(/stuck-main.*EVENT_WAIT/);
    expect(out).toMatch(/stuck-child.*EVENT_WAIT/);
  });

  it('run() rejects with DeadlockError when a task awaits a Promise nothing is left to settle (FOREIGN_WAIT), instead of never settling', () => {
    const out = execFileSync(process.execPath, [fixture('deadlock-foreign.mjs'), 'never-settled'], { encoding: 'utf8', timeout: 10_000 });
    expect(out).toContain('never-settled: DeadlockError ERR_DEADLOCK');
    expect(out).toMatch(/never-settled.*FOREIGN_WAIT/);
    expect(out).toMatch(/stuck-child.*FOREIGN_WAIT/);
    expect(out).toContain('One wait at a time per task');
    expect(out.trim().split('\n').at(-1)).toBe('end');
  });

  it('two joins in one Promise.all work (they once ended the process with code 13 and no message)', () => {
    for (const which of ['two-joins', 'two-sleeping-joins']) {
      const out = execFileSync(process.execPath, [fixture('deadlock-foreign.mjs'), which], { encoding: 'utf8', timeout: 10_000 });
      expect(out).toContain(`${which}: resolved [1,2]`);
      expect(out.trim().split('\n').at(-1)).toBe('end');
    }
  });

  it('a task left behind that cannot end does not keep run() from settling (it used to exit with code 13 and no message)', () => {
    // main succeeded: run() rejects with the shutdown's DeadlockError, which names the task.
    const ok = execFileSync(process.execPath, [fixture('deadlock-foreign.mjs'), 'stuck-after-main'], { encoding: 'utf8', timeout: 10_000 });
    expect(ok).toContain('stuck-after-main: DeadlockError ERR_DEADLOCK');
    expect(ok).toMatch(/left-behind.*FOREIGN_WAIT/);
    expect(ok.trim().split('\n').at(-1)).toBe('end');
    // main failed: run() rejects with main's own error.
    const failed = execFileSync(process.execPath, [fixture('deadlock-foreign.mjs'), 'stuck-after-failed-main'], { encoding: 'utf8', timeout: 10_000 });
    expect(failed).toContain('stuck-after-failed-main: Error main failed');
    expect(failed.trim().split('\n').at(-1)).toBe('end');
  });

  it('reports an unobserved task error when the task is collected, once', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', fixture('gc-report.mjs')], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(out).toContain('before shutdown: ["unobserved-task-error: forgotten failure"]');
    expect(out).toContain('after shutdown: ["unobserved-task-error: forgotten failure"]');
  });
});
