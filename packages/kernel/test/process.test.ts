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

  it('two joins in one Promise.all (not supported: one wait at a time) end run() with a DeadlockError that says why, not a silent exit', () => {
    const out = execFileSync(process.execPath, [fixture('deadlock-foreign.mjs'), 'two-joins'], { encoding: 'utf8', timeout: 10_000 });
    expect(out).toContain('two-joins: DeadlockError ERR_DEADLOCK');
    expect(out).toContain('One wait at a time per task');
    expect(out.trim().split('\n').at(-1)).toBe('end');
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
