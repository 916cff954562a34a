// Child processes for benchmarks: a peer (a server, or idle clients) runs in its own node
// process so that it and the bench process each have a CPU, and so that one measurement's
// memory does not pollute another's. A peer prints `port <n>` once it listens.

import { spawn as spawnChild } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** A child process that printed its port. */
export interface Peer {
  readonly child: ChildProcess;
  readonly port: number;
}

/**
 * Start `node [nodeArgs] script args`; resolves with its port once it prints `port <n>`.
 * Its stdin is a pipe (for peers that take commands), its stderr is ours.
 */
export async function startPeer(script: string, args: readonly string[], nodeArgs: readonly string[] = []): Promise<Peer> {
  const { child } = spawnPeer(script, args, nodeArgs);
  // 'data' events, not for-await: leaving such a loop would close the child's stdout.
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /port (\d+)\n/.exec(text);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('exit', () => reject(new Error(`peer ${args.join(' ')} exited before listening`)));
  });
  return { child, port };
}

/** Start `node [nodeArgs] script args` without waiting for a port (port 0). */
export function spawnPeer(script: string, args: readonly string[], nodeArgs: readonly string[] = []): Peer {
  return { child: spawnChild(process.execPath, [...nodeArgs, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }), port: 0 };
}

/** Kill a peer (SIGKILL) and wait until it has exited. */
export async function stopPeer(peer: Peer): Promise<void> {
  if (peer.child.exitCode !== null || peer.child.signalCode !== null) return;
  peer.child.kill('SIGKILL');
  await once(peer.child, 'exit');
}

/** The next line the child prints that starts with `prefix` (the rest of that line). */
export function nextLine(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      for (const line of text.split('\n').slice(0, -1)) {
        if (line.startsWith(prefix)) {
          child.stdout?.off('data', onData);
          child.off('exit', onExit);
          resolve(line.slice(prefix.length).trim());
          return;
        }
      }
    };
    const onExit = (): void => reject(new Error(`child exited before printing '${prefix}'`));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
