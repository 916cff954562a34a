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

  it('reports an unobserved task error when the task is collected, once', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', fixture('gc-report.mjs')], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(out).toContain('before shutdown: ["unobserved-task-error: forgotten failure"]');
    expect(out).toContain('after shutdown: ["unobserved-task-error: forgotten failure"]');
  });
});
