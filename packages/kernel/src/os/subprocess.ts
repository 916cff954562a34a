// os/subprocess.ts
//
// Child processes under the kernel (Curio's curio.subprocess), exported as the `subprocess`
// namespace: `subprocess.run`, `subprocess.checkOutput`, and `subprocess.spawnProcess`, which
// gives a `Popen` with kernel streams for stdin/stdout/stderr, `wait`, `poll`, `kill`.
//
// The child's pipes are the sockets libuv creates for child stdio, so they are wrapped in the
// kernel's own `Socket` and handed out as `SocketStream`s (io/): reading is under kernel control
// (a child that writes faster than its reader reads is held back by the pipe once the queue
// is full, nothing is lost), and every read and write is a cancellable kernel wait.
//
// Cancellation, exactly:
// - `Popen.wait()` cancelled or timed out: with `onCancel: 'kill'` (the default) the child is
//   sent `killSignal` (SIGKILL by default; another signal is followed by SIGKILL after
//   `killTimeout` ms) and the task waits, shielded from further cancellation, until the child
//   has exited and been reaped; then the CancelledError propagates. With `onCancel: 'leave'`
//   the child keeps running and can be waited for again.
// - `run()` / `checkOutput()` cancelled or timed out, or failing in any other way: the child is
//   always killed and reaped the same way before the error propagates. Its own `timeout`
//   option gives a TimeoutExpired carrying the output read so far.
// - Node reaps every child as soon as it exits (libuv's SIGCHLD handler); the exit event this
//   module waits for comes after that, so a reaped child leaves no zombie.

import { spawn as spawnChild } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import { disableCancellation, waitExternal } from '../cancellation.js';
import { CancelledError, TaskTimeout } from '../errors.js';
import { TaskGroup } from '../taskgroup.js';
import { timeoutAfter } from '../time.js';
import type { ExternalWake } from '../traps.js';
import { Socket } from '../io/socket.js';
import type { SocketStream } from '../io/socket-stream.js';
import { CalledProcessError, OSError, TimeoutExpired } from './errors.js';

export { CalledProcessError, TimeoutExpired } from './errors.js';
export type { ProcessOutput } from './errors.js';

/** What a child's standard stream is connected to. */
export type Stdio = 'pipe' | 'inherit' | 'ignore';
/** A command: program and arguments, or one command line when `shell` is set. */
export type Command = readonly string[] | string;

/** Options of {@link spawnProcess}. */
export interface PopenOptions {
  /** Working directory of the child (default: this process's). */
  cwd?: string | URL;
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Run the command line through a shell: `true` for /bin/sh, or a shell's path. The command must then be one string. */
  shell?: boolean | string;
  /** The child's standard input (default 'inherit'). */
  stdin?: Stdio;
  /** The child's standard output (default 'inherit'). */
  stdout?: Stdio;
  /** The child's standard error (default 'inherit'). */
  stderr?: Stdio;
  /** What cancelling a task blocked in {@link Popen.wait} does to the child (default 'kill'). */
  onCancel?: 'kill' | 'leave';
  /** The signal that kills the child on cancellation, timeout and disposal (default 'SIGKILL'). */
  killSignal?: NodeJS.Signals;
  /** When `killSignal` is not SIGKILL: ms to wait for the child to exit before sending SIGKILL (default 5000). */
  killTimeout?: number;
  /** The longest line `readline` accepts on the stdout / stderr streams (default 64 KiB, as for sockets). */
  lineLimit?: number;
}

/** Options of {@link run} and {@link checkOutput}. */
export interface RunOptions extends PopenOptions {
  /** Bytes or text written to the child's stdin, which is then closed (stdin becomes a pipe). */
  input?: Uint8Array | string;
  /** Capture stdout and stderr (unless `stdout` / `stderr` say otherwise). Default false. */
  capture?: boolean;
  /** Throw {@link CalledProcessError} if the child does not exit with status 0. */
  check?: boolean;
  /** Kill the child and throw {@link TimeoutExpired} if it has not finished after this many ms. */
  timeout?: number;
  /** Decode captured output as text with this encoding (default: bytes). */
  encoding?: BufferEncoding;
}

/** {@link RunOptions} asking for text output. */
export type TextRunOptions = RunOptions & { encoding: BufferEncoding };

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = new Uint8Array(0);
const DEFAULT_KILL_TIMEOUT = 5000;

/** The outcome of {@link run}: Python's CompletedProcess. */
export class CompletedProcess<T extends Uint8Array | string = Uint8Array> {
  /** The command that was run. */
  readonly args: readonly string[];
  /** Exit status, or minus the signal number when a signal ended the child. */
  readonly returncode: number;
  /** The signal that ended the child, or null if it exited. */
  readonly signal: NodeJS.Signals | null;
  /** Captured standard output, or null if it was not captured. */
  readonly stdout: T | null;
  /** Captured standard error, or null if it was not captured. */
  readonly stderr: T | null;

  constructor(args: readonly string[], returncode: number, signal: NodeJS.Signals | null, stdout: T | null, stderr: T | null) {
    this.args = args;
    this.returncode = returncode;
    this.signal = signal;
    this.stdout = stdout;
    this.stderr = stderr;
  }

  /** Throw {@link CalledProcessError} unless the child exited with status 0. */
  checkReturncode(): void {
    if (this.returncode !== 0) {
      throw new CalledProcessError({
        args: this.args,
        returncode: this.returncode,
        signal: this.signal,
        stdout: this.stdout,
        stderr: this.stderr,
      });
    }
  }
}

/** What {@link Popen.communicate} collected (null for a stream that is not a pipe). */
export interface Communicated {
  readonly stdout: Uint8Array | null;
  readonly stderr: Uint8Array | null;
}

/** Options of {@link Popen.wait}. */
export interface WaitOptions {
  /** Overrides the process's {@link PopenOptions.onCancel} for this wait. */
  onCancel?: 'kill' | 'leave';
}

function normalizeCommand(args: Command, shell: PopenOptions['shell']): readonly string[] {
  if (shell !== undefined && shell !== false) {
    if (typeof args !== 'string') throw new TypeError('subprocess: with shell, pass the command line as one string');
    return [args];
  }
  if (typeof args === 'string') {
    throw new TypeError('subprocess: pass the program and its arguments as an array (or use shell: true)');
  }
  if (!Array.isArray(args) || args.length === 0 || !args.every((arg) => typeof arg === 'string')) {
    throw new TypeError('subprocess: the command must be a non-empty array of strings');
  }
  return [...(args as readonly string[])];
}

function asSocket(stream: unknown): Socket | null {
  if (stream === null || stream === undefined) return null;
  if (!(stream instanceof net.Socket)) throw new TypeError('subprocess: unexpected child stdio stream');
  return new Socket(stream);
}

/**
 * Start a child process. Resolves with its {@link Popen} once it runs; fails with an
 * {@link OSError} (`ENOENT`, `EACCES`...) if it cannot be started. No shell is involved unless
 * `shell` is set.
 *
 * ```ts
 * const child = await subprocess.spawnProcess(['ping', '-c', '3', 'localhost'], { stdout: 'pipe' });
 * for await (const line of child.stdout!) process.stdout.write(line);
 * await child.wait();
 * ```
 */
export async function spawnProcess(args: Command, options: PopenOptions = {}): Promise<Popen> {
  const command = normalizeCommand(args, options.shell);
  const killTimeout = options.killTimeout ?? DEFAULT_KILL_TIMEOUT;
  if (typeof killTimeout !== 'number' || !(killTimeout >= 0)) throw new TypeError('subprocess: killTimeout must be a number >= 0');
  if (options.killSignal !== undefined && (osConstants.signals as Record<string, number | undefined>)[options.killSignal] === undefined) {
    throw new TypeError(`subprocess: unknown killSignal ${JSON.stringify(options.killSignal)}`);
  }
  const [file, ...argv] = command as [string, ...string[]];
  const child = spawnChild(file, argv, {
    cwd: options.cwd,
    env: options.env,
    shell: options.shell ?? false,
    stdio: [options.stdin ?? 'inherit', options.stdout ?? 'inherit', options.stderr ?? 'inherit'],
    windowsHide: true,
  });
  let spawnError: unknown = null;
  const onError = (error: unknown): void => {
    spawnError ??= error;
  };
  child.on('error', onError);
  if (child.pid === undefined) {
    // Node reports a failed spawn on the next tick; the error listener above keeps it from
    // crashing the process even if this wait is cancelled.
    await waitExternal('PROCESS_SPAWN', (wake) => {
      if (spawnError !== null) wake.resolve(undefined);
      else child.once('error', () => wake.resolve(undefined));
      return () => {};
    });
    throw OSError.from(spawnError);
  }
  child.removeListener('error', onError);
  return new Popen(child, command, options, killTimeout);
}

/**
 * A running (or finished) child process (Python's Popen). Created by {@link spawnProcess}.
 * `stdin`, `stdout` and `stderr` are kernel streams when they were asked for as `'pipe'`, else
 * null. `await using child = await spawnProcess(...)` closes the pipes at the end of the block
 * and, if the child still runs, kills it (with `killSignal`) and reaps it.
 */
export class Popen implements AsyncDisposable {
  /** The command, as given (one command line when run through a shell). */
  readonly args: readonly string[];
  /** The child's process id. */
  readonly pid: number;
  /** Writes to the child's standard input, if it is a pipe. Close it to send end of file. */
  readonly stdin: SocketStream | null;
  /** Reads the child's standard output, if it is a pipe. */
  readonly stdout: SocketStream | null;
  /** Reads the child's standard error, if it is a pipe. */
  readonly stderr: SocketStream | null;

  private readonly child: ChildProcess;
  private readonly onCancel: 'kill' | 'leave';
  private readonly killSignal: NodeJS.Signals;
  private readonly killTimeout: number;
  private exited = false;
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private readonly exitWaiters = new Set<ExternalWake>();

  /** @internal Use {@link spawnProcess}. */
  constructor(child: ChildProcess, args: readonly string[], options: PopenOptions, killTimeout: number) {
    this.child = child;
    this.args = args;
    this.pid = child.pid as number;
    this.onCancel = options.onCancel ?? 'kill';
    this.killSignal = options.killSignal ?? 'SIGKILL';
    this.killTimeout = killTimeout;
    // Errors after a successful spawn (a failed kill) must not crash the process.
    child.on('error', () => {});
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
      for (const wake of this.exitWaiters) wake.resolve(undefined);
      this.exitWaiters.clear();
    });
    const streamOptions = options.lineLimit !== undefined ? { lineLimit: options.lineLimit } : undefined;
    this.stdin = asSocket(child.stdin)?.asStream() ?? null;
    this.stdout = asSocket(child.stdout)?.asStream(streamOptions) ?? null;
    this.stderr = asSocket(child.stderr)?.asStream(streamOptions) ?? null;
    // When the child exits, Node resumes the output pipes nobody reads with a 'readable'
    // listener ("flushStdio"), which would take reading out of the kernel's hands: a grandchild
    // still holding the pipe could then fill memory. The kernel sockets own them: hide them.
    const stdio = child.stdio as unknown as unknown[];
    if (this.stdout !== null) stdio[1] = null;
    if (this.stderr !== null) stdio[2] = null;
  }

  /**
   * The exit status once the child has ended (minus the signal number if a signal ended it, as
   * Python reports it), else null.
   */
  get returncode(): number | null {
    if (!this.exited) return null;
    if (this.exitCode !== null) return this.exitCode;
    const number = this.exitSignal === null ? undefined : osConstants.signals[this.exitSignal];
    return number === undefined ? -1 : -number;
  }

  /** The signal that ended the child, or null (still running, or it exited). */
  get signalCode(): NodeJS.Signals | null {
    return this.exitSignal;
  }

  /** {@link returncode}, without waiting (Python's poll()). */
  poll(): number | null {
    return this.returncode;
  }

  /**
   * Wait for the child to end; resolves with {@link returncode}. Returns at once if it has.
   * If the waiting task is cancelled or times out, the child is killed and reaped first
   * (`onCancel: 'kill'`, the default) or left running (`'leave'`).
   */
  wait(options?: WaitOptions): Promise<number> {
    if (this.exited) return Promise.resolve(this.returncode as number);
    return this.waitOrKill(options?.onCancel ?? this.onCancel);
  }

  private async waitOrKill(onCancel: 'kill' | 'leave'): Promise<number> {
    try {
      await this.exit('PROCESS_WAIT');
    } catch (error) {
      if (onCancel === 'kill' && error instanceof CancelledError) await this.reap();
      throw error;
    }
    return this.returncode as number;
  }

  /**
   * Send `signal` (default SIGKILL) to the child. Returns false if it has already ended.
   * Python's kill() and send_signal() in one.
   */
  kill(signal: NodeJS.Signals | number = 'SIGKILL'): boolean {
    if (this.exited) return false;
    return this.child.kill(signal);
  }

  /** Send SIGTERM. Returns false if the child has already ended. */
  terminate(): boolean {
    return this.kill('SIGTERM');
  }

  /**
   * Write `input` (if given) to stdin and close it, read stdout and stderr to their ends, and
   * wait for the child to exit. The three streams are served by concurrent tasks, so a child
   * that writes a lot before reading its input does not deadlock. A stdin the child closed
   * early (EPIPE) is ignored. If cancelled, unread output stays in the streams and the wait
   * follows {@link wait}'s `onCancel`.
   */
  async communicate(input?: Uint8Array | string): Promise<Communicated> {
    const { stdin, stdout, stderr } = this;
    if (input !== undefined && stdin === null) throw new TypeError('communicate: input given but stdin is not a pipe');
    let out: Uint8Array | null = null;
    let err: Uint8Array | null = null;
    const group = await TaskGroup.scope((g) => {
      if (stdin !== null) g.spawn(() => feed(stdin, input), { name: `stdin of ${this.pid}` });
      if (stdout !== null) g.spawn(async () => void (out = await stdout.readAll()), { name: `stdout of ${this.pid}` });
      if (stderr !== null) g.spawn(async () => void (err = await stderr.readAll()), { name: `stderr of ${this.pid}` });
      return g;
    });
    throwFirstFailure(group.exceptions);
    await this.wait();
    return { stdout: out, stderr: err };
  }

  /**
   * Kill the child (if it still runs) with `killSignal`, escalating to SIGKILL after
   * `killTimeout`, and wait until it has exited and been reaped. Shielded from cancellation.
   * @internal
   */
  async reap(): Promise<void> {
    if (this.exited) return;
    await disableCancellation(async () => {
      this.kill(this.killSignal);
      const escalate = this.killSignal === 'SIGKILL' ? null : setTimeout(() => this.kill('SIGKILL'), this.killTimeout);
      try {
        await this.exit('PROCESS_REAP');
      } finally {
        if (escalate !== null) clearTimeout(escalate);
      }
    });
  }

  /** Close the pipes; kill and reap the child if it still runs. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const stream of [this.stdin, this.stdout, this.stderr]) if (stream !== null) await stream.close();
    await this.reap();
  }

  private exit(state: string): Promise<void> {
    if (this.exited) return RESOLVED;
    return waitExternal(state, (wake) => {
      this.exitWaiters.add(wake);
      return () => this.exitWaiters.delete(wake);
    });
  }
}

/** Write `input` to the child's stdin, then close it; a child that stopped reading is not an error. */
async function feed(stdin: SocketStream, input: Uint8Array | string | undefined): Promise<void> {
  try {
    if (input !== undefined && input.length > 0) await stdin.write(typeof input === 'string' ? Buffer.from(input) : input);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EPIPE') throw error;
  } finally {
    await stdin.close();
  }
}

/** Throw the first real failure among a group's task errors (cancellations count last). */
function throwFirstFailure(errors: readonly unknown[]): void {
  const failures = errors.filter((error) => error !== undefined);
  const real = failures.find((error) => !(error instanceof CancelledError));
  if (real !== undefined) throw real;
  if (failures.length > 0) throw failures[0];
}

/** Whatever a stream has queued, without waiting. */
async function drain(stream: SocketStream | null): Promise<Uint8Array | null> {
  if (stream === null) return null;
  const parts: Uint8Array[] = [];
  while (!stream.socket.closed && stream.socket.bufferedBytes > 0) parts.push(await stream.read(stream.socket.bufferedBytes));
  return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
}

function decode(bytes: Uint8Array | null, encoding: BufferEncoding | undefined): Uint8Array | string | null {
  if (bytes === null || encoding === undefined) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString(encoding);
}

/**
 * Run a command and wait for it (Python's subprocess.run). Output is captured with
 * `capture: true` (or `stdout: 'pipe'` / `stderr: 'pipe'`), as bytes or, with `encoding`, as
 * text. `input` is written to its stdin. With `check`, a non-zero exit throws
 * {@link CalledProcessError}; with `timeout`, a child still running after that many ms is
 * killed and {@link TimeoutExpired} thrown. If the calling task is cancelled or times out, or
 * anything fails, the child is killed and reaped before the error propagates.
 */
export function run(args: Command, options: TextRunOptions): Promise<CompletedProcess<string>>;
export function run(args: Command, options?: RunOptions): Promise<CompletedProcess<Uint8Array>>;
export async function run(args: Command, options: RunOptions = {}): Promise<CompletedProcess<Uint8Array | string>> {
  const { input, capture = false, check = false, timeout, encoding } = options;
  if (timeout !== undefined && (typeof timeout !== 'number' || Number.isNaN(timeout))) {
    throw new TypeError('subprocess.run: timeout must be a number of milliseconds');
  }
  const child = await spawnProcess(args, {
    ...options,
    stdin: input !== undefined ? 'pipe' : options.stdin ?? 'inherit',
    stdout: options.stdout ?? (capture ? 'pipe' : 'inherit'),
    stderr: options.stderr ?? (capture ? 'pipe' : 'inherit'),
  });
  let output: Communicated;
  try {
    output =
      timeout === undefined
        ? await child.communicate(input)
        : await timeoutAfter(timeout, () => child.communicate(input));
  } catch (error) {
    await child.reap();
    if (timeout !== undefined && error instanceof TaskTimeout) {
      throw new TimeoutExpired({
        args: child.args,
        timeout,
        stdout: decode(await drain(child.stdout), encoding),
        stderr: decode(await drain(child.stderr), encoding),
        cause: error,
      });
    }
    throw error;
  }
  const result = new CompletedProcess(
    child.args,
    child.returncode as number,
    child.signalCode,
    decode(output.stdout, encoding),
    decode(output.stderr, encoding),
  );
  if (check) result.checkReturncode();
  return result;
}

/**
 * Run a command and return its standard output (Python's check_output): `run` with stdout
 * captured and `check: true`, so a non-zero exit throws {@link CalledProcessError} (which
 * carries the output). Text with `encoding`, else bytes.
 */
export function checkOutput(args: Command, options: TextRunOptions): Promise<string>;
export function checkOutput(args: Command, options?: RunOptions): Promise<Uint8Array>;
export async function checkOutput(args: Command, options: RunOptions = {}): Promise<Uint8Array | string> {
  const result = await run(args, { ...options, stdout: 'pipe', check: true });
  return result.stdout ?? EMPTY;
}
