// monitor/server.ts
//
// The task monitor (Curio's monitor.py): a line-based text server on a loopback TCP port that
// shows and cancels a kernel's tasks while the program runs. `curio-monitor` (bin/) is its
// client; `nc 127.0.0.1 48802` works as well.
//
// As in Curio, the kernel core knows nothing of it: `run(main, { monitor })` (run.ts) or
// `attachMonitor(kernel, options)` attaches it to a kernel as an activation (kernel.ts,
// `KernelActivation`), which tells it of every new task and of the shutdown.
//
// Curio runs its monitor in a thread so that it answers even when the kernel is stuck. Here it
// is a plain node:net server on the main thread, outside the kernel's tasks: the kernel yields
// to Node's event loop at every foreign await and after every ~2 ms slice of task switches, so
// the monitor answers while tasks are blocked, deadlocked on each other, or spinning through
// `sleep(0)`. Only synchronous CPU-bound code (which belongs in a worker thread anyway) keeps it
// from answering.
//
// Invariants:
// - Commands read kernel state synchronously and change nothing but what they are asked to
//   (`cancel` requests a cancellation exactly as `task.cancel()` does).
// - Neither the server nor its connections keep the process alive (all unref'd); the server
//   closes when its kernel shuts down.
// - Only loopback addresses are accepted: the monitor can cancel tasks and signal the process.
// - Each connection runs its commands one at a time in the order received; the next command
//   starts after the previous reply (a cancel waits, boundedly, for the task to end).
// - Nothing a client sends can throw out of a callback: bad input gets a message.
//
// Protocol: the client sends lines; the server answers each with text followed by the prompt
// `curio > `. `quit` (or the client ending its side) ends the session.

import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { constants as osConstants } from 'node:os';
import { CurioError } from '../errors.js';
import type { Kernel, KernelActivation, KernelErrorInfo } from '../kernel.js';
import type { Task } from '../task.js';
import { formatCancelOutcome, formatParents, formatPs, formatWhere } from './format.js';
import type { TaskLink } from './format.js';

/** Curio's monitor port. */
export const DEFAULT_MONITOR_PORT = 48802;
/** Where the monitor listens unless told otherwise. */
export const DEFAULT_MONITOR_HOST = '127.0.0.1';

/** Options of the task monitor ({@link attachMonitor}, or `monitor: { ... }` in {@link RunOptions}). */
export interface MonitorOptions {
  /** A loopback address (default `127.0.0.1`); anything else is refused. */
  host?: string;
  /** TCP port (default 48802, as Curio); 0 picks a free one, see {@link Monitor.address}. */
  port?: number;
  /** Called once the monitor listens (useful with port 0). Must not throw. */
  onListening?: (address: MonitorAddress) => void;
}

/** Where a monitor listens. */
export interface MonitorAddress {
  /** The loopback address. */
  readonly host: string;
  /** The TCP port. */
  readonly port: number;
}

/**
 * The monitor could not start: a bad option (`ERR_MONITOR_OPTIONS`), a host that is not
 * loopback (`ERR_MONITOR_HOST`), the port in use or not bindable (`ERR_MONITOR_BIND`, the
 * system error as `cause`), or the kernel shut down first (`ERR_MONITOR_CLOSED`).
 */
export class MonitorError extends CurioError {
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, { ...options, code });
  }
}

/** A task monitor attached to a kernel ({@link attachMonitor}). */
export interface Monitor {
  /** Where the monitor listens; null before it listens and after it closed. */
  readonly address: MonitorAddress | null;
  /**
   * Resolves with the address once the monitor listens; rejects with a {@link MonitorError} if
   * it cannot (`ERR_MONITOR_BIND`: the port is in use; `ERR_MONITOR_CLOSED`: the kernel shut
   * down first).
   */
  ready(): Promise<MonitorAddress>;
  /** Stop listening and end every session now (the kernel's shutdown does it too). Idempotent. */
  close(): void;
}

/** What the monitor needs from its kernel (the Kernel class provides it). */
interface MonitoredKernel {
  /** Attach the monitor (see KernelActivation). */
  activate(activation: KernelActivation): void;
  /** Live tasks in id order. */
  taskList(): Task[];
  /** The live task with this id. */
  findTask(id: number): Task | undefined;
  /** The kernel clock (ms). */
  clock(): number;
  /** Report an error nobody else will see. */
  report(error: unknown, info: KernelErrorInfo): void;
}

/** How long `cancel` waits for the task to end before saying it is still running. */
const CANCEL_WAIT_MS = 1000;
/** Longest command line accepted. */
const MAX_LINE = 1024;
/** Queued command lines above which the monitor stops reading a client (a pasted flood). */
const MAX_QUEUED_LINES = 64;
/** Connections served at once; more are told to come back later. */
const MAX_SESSIONS = 8;
/** Ancestors recorded per task (a chain of generations could otherwise grow without bound). */
const MAX_ANCESTORS = 64;

const PROMPT = 'curio > ';
const HELP = `Commands:
  ps              show the task table (id, name, state, cycles, timeout, where)
  where ID        show where a task waits (its await stack)
  parents ID      show the chain of tasks that spawned a task
  cancel ID       cancel a task and report how it ended
  signal NAME     send a signal (e.g. SIGUSR1) to this process
  help            show this text
  quit            leave the monitor
`;

/** Whether `host` is a loopback address or name. */
function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

/**
 * Start the task monitor of `kernel` on a loopback TCP port (by default 127.0.0.1:48802, as
 * Curio; `{ port: 0 }` picks a free one) and return it. Connect with
 * `npx curio-monitor [host] [port]`. From now on the kernel records the source location of
 * every blocking await, as with `debug`. The monitor never keeps the process alive and closes
 * when the kernel shuts down. `run(main, { monitor })` does this for you and waits for
 * {@link Monitor.ready} before starting `main`.
 *
 * Throws {@link MonitorError} at once for a bad option (`ERR_MONITOR_OPTIONS`) or a host that
 * is not loopback (`ERR_MONITOR_HOST`), and {@link KernelClosedError} if the kernel has shut
 * down; failing to listen is reported by `ready()` (and, if nobody awaits it, through the
 * kernel's error hook, reason `'monitor-error'`).
 */
export function attachMonitor(kernel: Kernel, options: MonitorOptions = {}): Monitor {
  if (typeof options !== 'object' || options === null) {
    throw new MonitorError('monitor options must be an object ({ host, port, onListening })', 'ERR_MONITOR_OPTIONS');
  }
  return new MonitorServer(kernel, options);
}

/** The monitor server of one kernel. */
class MonitorServer implements Monitor, KernelActivation {
  readonly recordsTrapSites = true;
  private readonly server: net.Server;
  private readonly sessions = new Set<MonitorSession>();
  private readonly lineage = new WeakMap<Task, readonly TaskLink[]>();
  private readonly listening: Promise<MonitorAddress>;
  private bound: MonitorAddress | null = null;
  private closed = false;
  private readyAwaited = false;

  constructor(
    readonly kernel: MonitoredKernel,
    options: MonitorOptions,
  ) {
    const host = options.host ?? DEFAULT_MONITOR_HOST;
    const port = options.port ?? DEFAULT_MONITOR_PORT;
    if (typeof host !== 'string' || !isLoopback(host)) {
      throw new MonitorError(
        `monitor host ${JSON.stringify(host)} is not a loopback address (use 127.0.0.1, ::1 or localhost)`,
        'ERR_MONITOR_HOST',
      );
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new MonitorError(`monitor port ${String(port)} is not an integer in 0..65535`, 'ERR_MONITOR_OPTIONS');
    }
    kernel.activate(this);
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.unref();
    this.listening = new Promise<MonitorAddress>((resolve, reject) => {
      this.server.once('listening', () => {
        const address = this.server.address() as AddressInfo;
        this.bound = { host: address.address, port: address.port };
        if (this.closed) {
          this.server.close();
          reject(new MonitorError('the kernel shut down before its monitor was listening', 'ERR_MONITOR_CLOSED'));
          return;
        }
        try {
          options.onListening?.(this.bound);
        } catch {
          // onListening must not throw; the monitor runs regardless.
        }
        resolve(this.bound);
      });
      this.server.on('error', (cause: NodeJS.ErrnoException) => {
        if (this.bound !== null) {
          this.kernel.report(cause, { reason: 'monitor-error', message: `task monitor: ${cause.message}` });
          return;
        }
        const reason = cause.code === 'EADDRINUSE' ? 'address already in use (another monitor? use port 0 for a free one)' : cause.message;
        const error = new MonitorError(`the monitor cannot listen on ${host}:${port}: ${reason}`, 'ERR_MONITOR_BIND', { cause });
        this.closed = true;
        reject(error);
        if (!this.readyAwaited) this.kernel.report(error, { reason: 'monitor-error', message: error.message });
      });
    });
    this.listening.catch(() => {});
    this.server.listen({ host, port, exclusive: true });
  }

  /** Where the monitor listens; null before it listens and after it closed. */
  get address(): MonitorAddress | null {
    return this.closed ? null : this.bound;
  }

  /** Resolves once listening; rejects with a {@link MonitorError} if it cannot. */
  ready(): Promise<MonitorAddress> {
    this.readyAwaited = true;
    return this.listening;
  }

  /** Record a new task's ancestors (called by the kernel at spawn). */
  taskCreated(task: Task, parent: Task | null): void {
    if (parent === null) return;
    const above = this.lineage.get(parent) ?? [];
    const links: TaskLink[] = [{ id: parent.id, name: parent.name }];
    for (let i = 0; i < above.length && links.length < MAX_ANCESTORS; i++) links.push(above[i] as TaskLink);
    this.lineage.set(task, links);
  }

  /** The kernel shut down: close with it. */
  kernelClosed(): void {
    this.close();
  }

  /** Stop listening and end every session. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.bound !== null) this.server.close();
    for (const session of this.sessions) session.close('\nThe kernel shut down; the monitor is closing.\n');
    this.sessions.clear();
  }

  private accept(socket: net.Socket): void {
    socket.unref();
    socket.on('error', () => socket.destroy());
    if (this.closed || this.sessions.size >= MAX_SESSIONS) {
      socket.end(this.closed ? 'The monitor is closing.\n' : `Too many monitor connections (at most ${MAX_SESSIONS}); try again later.\n`);
      return;
    }
    const session = new MonitorSession(this, socket);
    this.sessions.add(session);
    socket.on('close', () => this.sessions.delete(session));
    session.start();
  }

  // -------------------------------------------------------------------------------------------
  // Commands. Each returns the reply text; only `cancel` waits.

  /** Run one command line. Returns the reply, and whether the session goes on. */
  async execute(line: string): Promise<{ reply: string; more: boolean }> {
    const [command = '', ...args] = line.trim().split(/\s+/);
    switch (command.toLowerCase()) {
      case '':
        return { reply: '', more: true };
      case 'ps':
        return { reply: formatPs(this.kernel.taskList(), this.kernel.clock()), more: true };
      case 'where':
        return { reply: this.withTask('where', args, (task) => formatWhere(task, this.kernel.clock())), more: true };
      case 'parents':
        return { reply: this.withTask('parents', args, (task) => this.parents(task)), more: true };
      case 'cancel': {
        const task = this.taskArgument('cancel', args);
        return { reply: typeof task === 'string' ? task : await this.cancel(task), more: true };
      }
      case 'signal':
        return { reply: this.signal(args), more: true };
      case 'help':
      case '?':
        return { reply: HELP, more: true };
      case 'quit':
      case 'exit':
      case 'q':
        return { reply: 'Leaving monitor.\n', more: false };
      default:
        return { reply: `Unknown command ${JSON.stringify(command)}. Type help for the commands.\n`, more: true };
    }
  }

  /** The task named by the single argument, or the message explaining why there is none. */
  private taskArgument(command: string, args: readonly string[]): Task | string {
    if (args.length !== 1) return `Usage: ${command} ID (a task id, as shown by ps)\n`;
    const text = args[0] as string;
    if (!/^\d{1,15}$/.test(text)) return `Bad task id ${JSON.stringify(text)}: expected a number, as shown by ps.\n`;
    const task = this.kernel.findTask(Number(text));
    return task ?? `No task ${text} (it never existed or has ended). Type ps for the live tasks.\n`;
  }

  private withTask(command: string, args: readonly string[], show: (task: Task) => string): string {
    const task = this.taskArgument(command, args);
    return typeof task === 'string' ? task : show(task);
  }

  private parents(task: Task): string {
    const links = this.lineage.get(task) ?? [];
    const truncated = links.length >= MAX_ANCESTORS;
    return formatParents(task, links, truncated, (id) => this.kernel.findTask(id));
  }

  private async cancel(task: Task): Promise<string> {
    if (task.cancelled && task._cancelPending === null) {
      // The kernel cancels a task once (as Curio does); this one caught it and went on.
      return `Task ${task.id} (${task.name}) was already cancelled and carried on; a task is cancelled only once.\n`;
    }
    await task.cancel({ blocking: false });
    if (!task.terminated) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ended = await Promise.race([
        task._outsideWait().then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(resolve, CANCEL_WAIT_MS, false);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      if (!ended) {
        const label = `Task ${task.id} (${task.name}) is still running (${task.state}) after ${CANCEL_WAIT_MS} ms`;
        return task._cancelPending !== null
          ? `${label}: the cancellation is pending, delivered at its next blocking await outside a shielded region.\n`
          : `${label}: it received the cancellation and carried on.\n`;
      }
    }
    return formatCancelOutcome(task);
  }

  private signal(args: readonly string[]): string {
    if (args.length !== 1) return 'Usage: signal NAME (e.g. signal SIGUSR1)\n';
    const raw = (args[0] as string).toUpperCase();
    const name = raw.startsWith('SIG') ? raw : `SIG${raw}`;
    if (!Object.hasOwn(osConstants.signals, name)) return `Unknown signal ${JSON.stringify(args[0])}.\n`;
    try {
      process.kill(process.pid, name as NodeJS.Signals);
    } catch (error) {
      return `Could not send ${name}: ${error instanceof Error ? error.message : String(error)}\n`;
    }
    return `Sent ${name} to process ${process.pid}.\n`;
  }

  /** The banner a new session starts with. */
  banner(): string {
    const count = this.kernel.taskList().length;
    return `\nCurio monitor: ${count} task${count === 1 ? '' : 's'} running in process ${process.pid}\nType help for commands\n`;
  }
}

/** One client connection: reads lines and runs them in order. */
class MonitorSession {
  private buffer = '';
  /** Lines waiting to run; null stands for a line that was too long. */
  private readonly lines: (string | null)[] = [];
  private discarding = false;
  private running = false;
  private inputEnded = false;
  private done = false;

  constructor(
    private readonly monitor: MonitorServer,
    private readonly socket: net.Socket,
  ) {}

  start(): void {
    this.socket.setEncoding('utf8');
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: string) => this.received(chunk));
    this.socket.on('end', () => {
      this.inputEnded = true;
      this.pump();
    });
    this.write(this.monitor.banner() + PROMPT);
  }

  close(farewell: string): void {
    if (this.done) return;
    this.done = true;
    this.write(farewell);
    this.socket.end();
  }

  private write(text: string): void {
    if (!this.socket.destroyed && this.socket.writable && text !== '') this.socket.write(text);
  }

  private received(chunk: string): void {
    if (this.done) return;
    this.buffer += chunk;
    for (let end = this.buffer.indexOf('\n'); end >= 0; end = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      if (this.discarding) {
        this.discarding = false; // the tail of a line already refused
        continue;
      }
      this.lines.push(line.length > MAX_LINE ? null : line.replace(/\r$/, ''));
    }
    if (this.buffer.length > MAX_LINE) {
      if (!this.discarding) this.lines.push(null);
      this.discarding = true;
      this.buffer = '';
    }
    if (this.lines.length > MAX_QUEUED_LINES && !this.socket.isPaused()) this.socket.pause();
    this.pump();
  }

  /** Run queued lines one at a time, yielding to the event loop between them. */
  private pump(): void {
    if (this.running || this.done) return;
    if (this.lines.length === 0) {
      if (this.inputEnded) this.close('');
      return;
    }
    const line = this.lines.shift() as string | null;
    if (this.lines.length <= MAX_QUEUED_LINES / 2 && this.socket.isPaused()) this.socket.resume();
    this.running = true;
    const reply =
      line === null
        ? Promise.resolve({ reply: `Line too long (more than ${MAX_LINE} characters); ignored.\n`, more: true })
        : this.monitor.execute(line);
    reply
      .catch((error: unknown) => ({
        reply: `Error: ${error instanceof Error ? error.message : String(error)}\n`,
        more: true,
      }))
      .then(({ reply: text, more }) => {
        this.running = false;
        if (this.done) return;
        if (!more) {
          this.close(text);
          return;
        }
        this.write(text + PROMPT);
        setImmediate(() => this.pump());
      });
  }
}
