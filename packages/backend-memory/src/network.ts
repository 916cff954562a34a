// network.ts
//
// The memory runtime's network: listeners addressed by host:port or by path, connects that
// reach them through in-process connections, and the fault rules a test installs for an
// address (refuse the next connects, reset them, delay the accept, break the bytes).
//
// Invariants:
// - Addresses: 'localhost', '127.0.0.1' and '::1' are one host; a listener on '0.0.0.0' or
//   '::' takes connects to any host on its port. Port 0 binds a free port from 49152 up.
//   Binding an address in use fails with EADDRINUSE, as on a socket runtime.
// - A connect to an address nothing listens on fails with ECONNREFUSED, at once. A connect a
//   listener takes completes at once (the listener's backlog holds it until `accept`), unless a
//   rule delays it; a connect beyond the backlog is refused.
// - Fault rules are decided per connect: every rule installed for the address counts the
//   attempt, and the newest that returns a plan decides it. Plans are plain data; a function
//   rule lets a test decide by attempt number (see `forFirst`).
// - Deterministic: the n-th connection gets id n, the n-th free port is always the same, and
//   nothing uses randomness or wall time.

import { ConnectionError, ConnectTimeoutError } from '@curio-ts/client';
import type { ByteStream, ConnectTarget, Listener, ListenTarget, StreamAddress } from '@curio-ts/client';
import type { VirtualClock } from './clock.js';
import { MemoryConnection, refused } from './connection.js';
import type { ConnectionFaults, MemoryByteStream } from './connection.js';
import { checkNumber, MemoryRuntimeError } from './errors.js';

/** What happens to one connect. Every field is optional: an empty plan is a normal connect. */
export interface ConnectionPlan extends ConnectionFaults {
  /** Refuse it (ECONNREFUSED), as if nothing listened. */
  readonly refuse?: boolean;
  /** Complete it, then reset the connection at once: both ends fail with ECONNRESET. */
  readonly reset?: boolean;
  /**
   * Complete it this many virtual ms late (a slow accept, a lost SYN); Infinity: never, only
   * the connect's own timeout ends it.
   */
  readonly acceptDelay?: number;
}

/** One connect, as a function rule sees it. */
export interface ConnectAttempt {
  /** 0 for the first connect this rule saw, 1 for the next... */
  readonly index: number;
  /** Where the connect goes. */
  readonly target: StreamAddress;
}

/** A plan for every connect to an address, or a function deciding each. */
export type FaultRule = ConnectionPlan | ((attempt: ConnectAttempt) => ConnectionPlan | undefined);

/** An installed rule. */
export interface InstalledRule {
  /** Connects this rule has seen. */
  readonly attempts: number;
  /** Uninstall it. Idempotent. */
  remove(): void;
}

/** A rule applying `plan` to the next `count` connects only, e.g. `forFirst(2, { refuse: true })`. */
export function forFirst(count: number, plan: ConnectionPlan): (attempt: ConnectAttempt) => ConnectionPlan | undefined {
  checkNumber('count', count, 0, true);
  return (attempt) => (attempt.index < count ? plan : undefined);
}

/** Options of {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Bytes a direction of a connection holds unread before writes wait (default 64 KiB). */
  readonly highWater?: number;
  /**
   * Virtual ms every chunk takes to cross, each way, on every connection (default 0: at once).
   * With autoAdvance, a request loop that never sleeps then lets time pass.
   */
  readonly latency?: number;
}

interface Rule {
  readonly key: string;
  readonly rule: FaultRule;
  attempts: number;
  removed: boolean;
}

interface Resolvers<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

const FIRST_FREE_PORT = 49152;
const DEFAULT_BACKLOG = 511;

/** A listening endpoint of the memory network. */
class MemoryListener implements Listener {
  private readonly pending: MemoryConnection[] = [];
  private acceptor: Resolvers<ByteStream | null> | null = null;
  private closed = false;

  constructor(
    readonly address: StreamAddress,
    readonly key: string,
    private readonly backlog: number,
    private readonly onClose: (listener: MemoryListener) => void,
  ) {}

  accept(): Promise<ByteStream | null> {
    if (this.acceptor !== null) return Promise.reject(new MemoryRuntimeError('an accept is already pending on this listener', 'ERR_CONCURRENT_ACCEPT'));
    const next = this.pending.shift();
    if (next !== undefined) return Promise.resolve(next.server);
    if (this.closed) return Promise.resolve(null);
    return new Promise<ByteStream | null>((resolve, reject) => {
      this.acceptor = { resolve, reject };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    const acceptor = this.acceptor;
    this.acceptor = null;
    acceptor?.resolve(null);
    // Connections the server never accepted are reset, as the OS does with its backlog.
    for (const connection of this.pending.splice(0)) connection.reset();
  }

  /** Whether it takes another connection now. */
  get full(): boolean {
    return this.closed || this.pending.length >= this.backlog;
  }

  /** Hand a new connection to the server. */
  offer(connection: MemoryConnection): void {
    const acceptor = this.acceptor;
    if (acceptor === null) {
      this.pending.push(connection);
      return;
    }
    this.acceptor = null;
    acceptor.resolve(connection.server);
  }
}

/** Listeners, connections and fault rules of one memory runtime. */
export class MemoryNetwork {
  private readonly listeners = new Map<string, MemoryListener>();
  private readonly portsInUse = new Map<number, number>();
  private readonly open = new Set<MemoryConnection>();
  private readonly rules: Rule[] = [];
  private readonly observers = new Set<(connection: MemoryConnection) => void>();
  private readonly highWater: number;
  private readonly latency: number;
  private nextPort = FIRST_FREE_PORT;
  private nextClientPort = FIRST_FREE_PORT;
  private connectionCount = 0;

  /** @internal */
  constructor(
    private readonly clock: VirtualClock,
    options: MemoryNetworkOptions = {},
  ) {
    this.highWater = options.highWater ?? 64 * 1024;
    checkNumber('highWater', this.highWater, 0, true);
    this.latency = options.latency ?? 0;
    checkNumber('latency', this.latency, 0);
  }

  /** Connections open now, oldest first. */
  get connections(): readonly MemoryConnection[] {
    return [...this.open];
  }

  /** Connections made so far (the next one gets this number plus one as its id). */
  get connectionsMade(): number {
    return this.connectionCount;
  }

  /**
   * Call `observer` with every new connection, before the client's connect resolves and before
   * the server can accept it (the place to configure faults on it). Returns the unsubscribe.
   */
  onConnection(observer: (connection: MemoryConnection) => void): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  /** Install a fault rule for connects to `address` (host defaults to 127.0.0.1). */
  faults(address: { readonly host?: string; readonly port: number } | { readonly path: string }, rule: FaultRule): InstalledRule {
    if (typeof rule !== 'function') checkPlan(rule);
    const entry: Rule = { key: 'path' in address ? pathKey(address.path) : tcpKey(address.host ?? '127.0.0.1', address.port), rule, attempts: 0, removed: false };
    this.rules.push(entry);
    return {
      get attempts() {
        return entry.attempts;
      },
      remove: () => {
        entry.removed = true;
        const at = this.rules.indexOf(entry);
        if (at !== -1) this.rules.splice(at, 1);
      },
    };
  }

  /** Runtime.listen. */
  listen(target: ListenTarget, options?: { readonly backlog?: number }): Promise<Listener> {
    try {
      return Promise.resolve(this.bind(target, options?.backlog ?? DEFAULT_BACKLOG));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Runtime.connect. */
  connect(target: ConnectTarget, options?: { readonly timeout?: number }): Promise<ByteStream> {
    let plan: ConnectionPlan | undefined;
    let address: StreamAddress;
    try {
      address = checkTarget(target);
      plan = this.decide(address);
    } catch (error) {
      return Promise.reject(error);
    }
    if (plan?.refuse === true) return Promise.reject(refused(display(address)));
    const delay = plan?.acceptDelay ?? 0;
    if (delay === 0) {
      try {
        return Promise.resolve(this.establish(address, plan));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const timeout = options?.timeout;
    return new Promise<ByteStream>((resolve, reject) => {
      let cancelTimeout = (): void => {};
      const cancelDelay = this.clock.timer(delay, () => {
        cancelTimeout();
        try {
          resolve(this.establish(address, plan));
        } catch (error) {
          reject(error);
        }
      });
      if (timeout !== undefined) {
        cancelTimeout = this.clock.timer(timeout, () => {
          cancelDelay();
          reject(new ConnectTimeoutError(`connect timed out after ${timeout} ms`));
        });
      }
    });
  }

  private bind(target: ListenTarget, backlog: number): MemoryListener {
    checkNumber('backlog', backlog, 1, true);
    if ('path' in target) {
      const key = pathKey(target.path);
      if (this.listeners.has(key)) throw inUse(target.path);
      return this.register(new MemoryListener({ path: target.path }, key, backlog, this.unbind));
    }
    if (target.tls !== undefined) throw tlsUnavailable();
    const host = target.host ?? '127.0.0.1';
    const name = hostName(host);
    checkPort(target.port);
    let port = target.port;
    if (port === 0) port = this.freePort();
    const key = tcpKey(host, port);
    const taken = name === ANY ? (this.portsInUse.get(port) ?? 0) > 0 : this.listeners.has(key) || this.listeners.has(tcpKey(ANY, port));
    if (taken) throw inUse(`${host}:${port}`);
    this.portsInUse.set(port, (this.portsInUse.get(port) ?? 0) + 1);
    return this.register(new MemoryListener({ host, port }, key, backlog, this.unbind));
  }

  private register(listener: MemoryListener): MemoryListener {
    this.listeners.set(listener.key, listener);
    return listener;
  }

  private readonly unbind = (listener: MemoryListener): void => {
    this.listeners.delete(listener.key);
    const address = listener.address;
    if ('port' in address) {
      const count = (this.portsInUse.get(address.port) ?? 1) - 1;
      if (count === 0) this.portsInUse.delete(address.port);
      else this.portsInUse.set(address.port, count);
    }
  };

  private freePort(): number {
    for (let tries = 0; tries < 65536 - FIRST_FREE_PORT; tries++) {
      const port = this.nextPort;
      this.nextPort = port === 65535 ? FIRST_FREE_PORT : port + 1;
      if (!this.portsInUse.has(port)) return port;
    }
    throw new ConnectionError('no free port left on the memory network', 'EADDRINUSE');
  }

  /** The plan of a connect to `address`: asked of every matching rule, newest first. */
  private decide(address: StreamAddress): ConnectionPlan | undefined {
    let chosen: ConnectionPlan | undefined;
    const key = 'path' in address ? pathKey(address.path) : tcpKey(address.host, address.port);
    const anyHost = 'path' in address ? null : tcpKey(ANY, address.port);
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i] as Rule;
      if (rule.key !== key && rule.key !== anyHost) continue;
      const index = rule.attempts++;
      const plan = typeof rule.rule === 'function' ? rule.rule({ index, target: address }) : rule.rule;
      if (plan !== undefined && typeof rule.rule === 'function') checkPlan(plan);
      if (chosen === undefined) chosen = plan;
    }
    return chosen;
  }

  /** Make the connection to the listener at `address`, or throw ECONNREFUSED. */
  private establish(address: StreamAddress, plan: ConnectionPlan | undefined): MemoryByteStream {
    const listener = 'path' in address ? this.listeners.get(pathKey(address.path)) : (this.listeners.get(tcpKey(address.host, address.port)) ?? this.listeners.get(tcpKey(ANY, address.port)));
    if (listener === undefined || listener.full) throw refused(display(address));
    const clientAddress: StreamAddress = 'path' in address ? { path: '' } : { host: '127.0.0.1', port: this.clientPort() };
    const connection = new MemoryConnection(++this.connectionCount, this.clock, this.highWater, clientAddress, listener.address, (ended) => {
      this.open.delete(ended);
    });
    if (this.latency > 0) connection.configure({ toClient: { latency: this.latency }, toServer: { latency: this.latency } });
    if (plan !== undefined) connection.configure(plan);
    if (connection.open) this.open.add(connection);
    for (const observer of [...this.observers]) observer(connection);
    listener.offer(connection);
    if (plan?.reset === true) connection.reset();
    return connection.client;
  }

  private clientPort(): number {
    const port = this.nextClientPort;
    this.nextClientPort = port === 65535 ? FIRST_FREE_PORT : port + 1;
    return port;
  }
}

const ANY = '*';
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

function hostName(host: string): string {
  const lower = host.toLowerCase();
  if (LOOPBACK.has(lower)) return '127.0.0.1';
  if (WILDCARD.has(lower) || lower === ANY) return ANY;
  return lower;
}

function tcpKey(host: string, port: number): string {
  return `${hostName(host)}:${port}`;
}

function pathKey(path: string): string {
  return `unix:${path}`;
}

function display(address: StreamAddress): string {
  return 'path' in address ? address.path : `${address.host}:${address.port}`;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConnectionError(`port must be an integer from 0 to 65535, not ${String(port)}`, 'ERR_SOCKET_BAD_PORT');
}

function checkTarget(target: ConnectTarget): StreamAddress {
  if ('path' in target) return { path: target.path };
  if (target.tls !== undefined) throw tlsUnavailable();
  checkPort(target.port);
  if (target.port === 0) throw new ConnectionError('cannot connect to port 0', 'ERR_SOCKET_BAD_PORT');
  return { host: target.host, port: target.port };
}

function checkPlan(plan: ConnectionPlan): void {
  if (plan.acceptDelay !== undefined && plan.acceptDelay !== Number.POSITIVE_INFINITY) checkNumber('acceptDelay', plan.acceptDelay, 0);
}

function inUse(address: string): ConnectionError {
  return new ConnectionError(`listen EADDRINUSE: address already in use ${address}`, 'EADDRINUSE');
}

function tlsUnavailable(): ConnectionError {
  return new ConnectionError('the memory runtime has no TLS: use a socket runtime to test TLS', 'ERR_TLS_UNAVAILABLE');
}
