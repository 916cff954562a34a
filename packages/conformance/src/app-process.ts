// conformance/app-process.ts
//
// An app run as users run it: a child process of this Node (TypeScript sources through tsx and
// the source condition), started and waited for until it prints its ready line.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/** A started app. */
export interface AppProcess {
  readonly child: ChildProcess;
  /** The ready line's match. */
  readonly ready: RegExpExecArray;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Its exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

/**
 * Run `main` (a .ts file) with `args` and wait until its output matches `ready`; rejects if it
 * exits first. The caller kills it (see {@link AppProcess.child}).
 */
export function startAppProcess(main: string, args: readonly string[], ready: RegExp): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--conditions=@curio-ts/source', '--import', 'tsx', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const match = ready.exec(text);
      if (match !== null) {
        clearInterval(timer);
        resolve({ child, ready: match, output: () => text, exited });
      } else if (child.exitCode !== null || child.signalCode !== null) {
        clearInterval(timer);
        reject(new Error(`${main} exited before it was ready: ${text}`));
      }
    }, 20);
  });
}
