// io/network.ts
//
// Connecting and serving (Curio's network.py): openConnection / openUnixConnection (TCP, TLS,
// Unix sockets), tcpServerSocket / unixServerSocket (listening sockets for custom accept loops)
// and tcpServer / unixServer / runServer (an accept loop that runs one task per client).
//
// Invariants:
// - Connecting and listening are traps (WRITE_WAIT and LISTEN_WAIT): cancelling or timing them
//   out destroys the half-made socket; nothing is left open.
// - A server runs until its task is cancelled. Clients run as tasks of one TaskGroup that the
//   server task reaps as they finish, so a long-running server does not accumulate finished
//   tasks. A client handler's error is reported (through `onClientError`, or the kernel's
//   error hook) and never stops the server; its socket is closed when the handler returns.
// - When the server task is cancelled it stops listening first (its accept loop is cancelled,
//   so a normal shutdown is no task failure, then the socket is closed), then either cancels its
//   clients ('cancel', the default, as Curio) or lets them finish ('drain', optionally bounded
//   by `drainTimeout`); it ends only when no client task is left.
// - The listen backlog defaults to Node's 511 (the OS caps it: Linux net.core.somaxconn). A
//   burst beyond what the OS queue holds has its SYNs dropped and retried by the clients; with
//   a backlog of 128, over half of a burst of 1 000 connects was left hanging (so it is with
//   Node's own net.Server), with 511 all are served.

import type { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { disableCancellation } from '../cancellation.js';
import { CancelledError } from '../errors.js';
import { TaskGroup } from '../taskgroup.js';
import { currentTask } from '../task.js';
import type { Task } from '../task.js';
import { ignoreAfter } from '../time.js';
import { DEFAULT_BACKLOG, ReadLink, ServerSocket, Socket } from './socket.js';
import type { SocketAddress } from './socket.js';
import { SocketError, TlsError, toSocketError } from './socket-errors.js';
import { waitEvent } from './waiter.js';

/** Options of {@link openConnection} and {@link openUnixConnection}. */
export interface ConnectOptions {
  /**
   * Use TLS: `true` for the defaults (the system's trusted CAs, host name checked), or Node's
   * tls.connect options (`ca`, `cert`, `key`, `rejectUnauthorized`, `ALPNProtocols`...).
   */
  tls?: boolean | tls.ConnectionOptions;
  /** With TLS: the name sent in SNI and checked against the certificate (default: `host`). */
  serverHostname?: string;
  /**
   * Give up connecting (TCP and TLS handshake) after this many milliseconds with a
   * SocketError whose code is 'ETIMEDOUT'. Without it, wrap the call in `timeoutAfter`.
   */
  timeout?: number;
  /** Disable Nagle's algorithm (default true: small writes go out at once). TCP only. */
  noDelay?: boolean;
  /** TCP: the local address to connect from. */
  localAddress?: string;
}

const TIMED_OUT = Symbol('timed out');

/**
 * Open a TCP connection to `host`:`port` (optionally TLS). Resolves when connected (and, with
 * TLS, when the handshake succeeded); throws {@link ConnectionRefusedError},
 * {@link TlsError} (untrusted certificate, wrong host name) or another {@link SocketError}.
 */
export async function openConnection(host: string, port: number, options: ConnectOptions = {}): Promise<Socket> {
  checkServerHostname(options);
  const base: net.TcpNetConnectOpts = {
    host,
    port,
    allowHalfOpen: true,
    noDelay: options.noDelay ?? true,
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
  };
  return connect(base, options, undefined);
}

/** Open a connection to the Unix socket at `path` (optionally TLS). */
export async function openUnixConnection(path: string, options: ConnectOptions = {}): Promise<Socket> {
  checkServerHostname(options);
  return connect({ path, allowHalfOpen: true }, options, path);
}

function checkServerHostname(options: ConnectOptions): void {
  if (options.serverHostname !== undefined && (options.tls === undefined || options.tls === false)) {
    throw new TypeError('serverHostname is only meaningful with tls');
  }
}

async function connect(
  base: net.TcpNetConnectOpts | net.IpcNetConnectOpts,
  options: ConnectOptions,
  path: string | undefined,
): Promise<Socket> {
  const useTls = options.tls !== undefined && options.tls !== false;
  let raw: net.Socket;
  let link: ReadLink | null = null;
  if (useTls) {
    const host = 'host' in base ? base.host : undefined;
    const servername = options.serverHostname ?? (host !== undefined && net.isIP(host) === 0 ? host : undefined);
    raw = tls.connect({
      ...base,
      ...(typeof options.tls === 'object' ? options.tls : {}),
      ...(servername !== undefined ? { servername } : {}),
    });
  } else {
    // Reads into the shared buffer (socket.ts's ReadLink), not through 'data' events.
    link = new ReadLink();
    raw = net.connect({ ...base, onread: link.onread() });
  }
  await established(raw, useTls ? 'secureConnect' : 'connect', options.timeout, useTls, 'connecting');
  const socket = new Socket(raw, { tls: useTls, ...(path !== undefined ? { path } : {}) });
  link?.attach(socket);
  return socket;
}

/**
 * Wait (WRITE_WAIT) for `emitter` (default `raw`) to emit `event` (after `begin()`), at most
 * `timeout` ms; on failure, timeout or cancellation, destroy `raw` and throw a SocketError (or
 * the cancellation).
 */
async function established(
  raw: net.Socket,
  event: string,
  timeout: number | undefined,
  useTls: boolean,
  what: string,
  emitter: EventEmitter = raw,
  begin?: () => void,
): Promise<void> {
  try {
    const waited =
      timeout === undefined
        ? await waitEvent(emitter, event, 'WRITE_WAIT', begin)
        : await ignoreAfter(timeout, () => waitEvent(emitter, event, 'WRITE_WAIT', begin), { timeoutResult: TIMED_OUT });
    if (waited === TIMED_OUT) {
      throw new SocketError(`${what} timed out after ${timeout} ms`, { code: 'ETIMEDOUT', syscall: 'connect' });
    }
  } catch (error) {
    raw.destroy();
    throw error instanceof CancelledError ? error : toSocketError(error, useTls);
  }
}

// ---------------------------------------------------------------------------------------------
// Upgrading a connection to TLS (STARTTLS)

/** Options of {@link startTls}. */
export interface StartTlsOptions {
  /** Be the TLS server of the handshake (default false: the client). */
  serverSide?: boolean;
  /**
   * Node's TLS options. As a client, tls.connect's (`ca`, `cert`, `key`, `rejectUnauthorized`,
   * `ALPNProtocols`...); as a server, at least `key` and `cert`, and `requestCert` /
   * `rejectUnauthorized` / `ca` to ask for and check a client certificate.
   */
  tls?: tls.ConnectionOptions | tls.TlsOptions;
  /**
   * As a client: the name sent in SNI and checked against the certificate. Without it, the
   * certificate is checked against the host name the socket was opened with, and no SNI is sent.
   */
  serverHostname?: string;
  /** Give up the handshake after this many ms (SocketError 'ETIMEDOUT'); the connection is closed. */
  timeout?: number;
  /**
   * Bytes that arrived in the clear and were not read: refuse to upgrade (`'refuse'`, default,
   * SocketError `ERR_TLS_UNREAD_DATA`), or hand them to the TLS layer as the start of the peer's
   * handshake (`'handshake'`). Handing them over is safe (TLS parses them as records; nothing
   * injected in the clear is ever delivered as data) and is what a server needs whose socket
   * may already have read the client's hello, sent right after the negotiation.
   */
  unread?: 'refuse' | 'handshake';
}

/**
 * Upgrade a connected socket to TLS in place, after the protocol has agreed to it in the clear
 * (SMTP's STARTTLS, PostgreSQL's SSLRequest, ...), and return the TLS {@link Socket}. From then
 * on `socket` is closed for use (its calls throw {@link SocketClosedError}); closing it is a
 * no-op, close the returned one.
 *
 * Call it with the socket idle: every byte written is flushed first, and if any byte arrived
 * and was not read, the upgrade is refused with SocketError `ERR_TLS_UNREAD_DATA` (plaintext
 * sent after the upgrade request could be an injection attack), unless `unread: 'handshake'`
 * hands those bytes to the TLS layer. A failed handshake throws a
 * {@link TlsError} (and closes the connection); as a server that asked for a client
 * certificate with `rejectUnauthorized`, an unauthorized one is a TlsError too. The handshake
 * is a WRITE_WAIT trap: cancellable, and bounded by `timeout` if given.
 */
export async function startTls(socket: Socket, options: StartTlsOptions = {}): Promise<Socket> {
  if (options.serverSide === true && options.serverHostname !== undefined) {
    throw new TypeError('startTls: serverHostname is for the client side');
  }
  await socket._quiesceForTls(options.unread === 'handshake');
  const { raw, path } = socket._detachForTls();
  const settings = options.tls ?? {};
  let secure: tls.TLSSocket;
  if (options.serverSide === true) {
    const server = settings as tls.TlsOptions;
    // Handed to a (never listening) tls.Server, Node's documented way to inject a connection:
    // Node then checks a client certificate (`authorized`, and a refused one never reaches
    // 'secureConnection'), which a bare TLSSocket leaves undone.
    const injector = tls.createServer({ ...server, rejectUnauthorized: server.rejectUnauthorized ?? true });
    let accepted: tls.TLSSocket | null = null;
    injector.once('secureConnection', (socket: tls.TLSSocket) => {
      accepted = socket;
    });
    injector.on('tlsClientError', (error: Error) => {
      if (injector.listenerCount('error') > 0) injector.emit('error', error);
    });
    // A half-open TLS socket whose client leaves during the handshake would wait for it forever
    // (Node reports the failure only once the socket closes): half-open again once secure.
    const halfOpen = raw.allowHalfOpen;
    raw.allowHalfOpen = false;
    await established(raw, 'secureConnection', options.timeout, true, 'the TLS handshake', injector, () => injector.emit('connection', raw));
    secure = accepted as unknown as tls.TLSSocket;
    secure.allowHalfOpen = halfOpen;
    if (server.requestCert === true && (server.rejectUnauthorized ?? true) && !secure.authorized) {
      secure.destroy();
      const reason = secure.authorizationError;
      throw new TlsError(`client certificate rejected: ${reason === null ? 'none sent' : String(reason)}`, { code: 'ERR_TLS_CLIENT_CERT' });
    }
  } else {
    const client = settings as tls.ConnectionOptions;
    const servername = options.serverHostname ?? client.servername;
    secure = tls.connect({ ...client, socket: raw, ...(servername !== undefined ? { servername } : {}) });
    await established(secure, 'secureConnect', options.timeout, true, 'the TLS handshake');
  }
  return new Socket(secure, { tls: true, ...(path !== undefined ? { path } : {}) });
}

// ---------------------------------------------------------------------------------------------
// Listening

/** Options of {@link tcpServerSocket} and {@link unixServerSocket}. */
export interface ListenOptions {
  /**
   * The OS listen backlog, and the most connections left waiting for accept() (default 511, as
   * Node's). The OS caps its queue at its own limit (Linux: net.core.somaxconn). A burst of
   * connections beyond the queue is not refused: the OS drops the excess handshakes and the
   * clients retry (after 1 s, 3 s, ...); a backlog much smaller than the burst can leave some
   * clients hanging.
   */
  backlog?: number;
  /**
   * Serve TLS with these options (at least `key` and `cert`); accepted sockets have completed
   * their handshake. A client whose handshake fails never reaches accept().
   */
  tls?: tls.TlsOptions;
  /** TCP: disable Nagle's algorithm on accepted sockets (default true). */
  noDelay?: boolean;
  /** TCP: listen on IPv6 only (for host '::'). */
  ipv6Only?: boolean;
}

/**
 * Listen on `host`:`port` (port 0 picks a free port; see {@link ServerSocket.port}) and return
 * the listening socket, for a custom accept loop. Throws a {@link SocketError} such as
 * EADDRINUSE.
 */
export async function tcpServerSocket(host: string, port: number, options: ListenOptions = {}): Promise<ServerSocket> {
  const server = makeServer(options, options.noDelay ?? true);
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  const socket = new ServerSocket(server, { backlog, tls: options.tls !== undefined });
  await listen(socket, server, {
    host,
    port,
    backlog,
    ...(options.ipv6Only !== undefined ? { ipv6Only: options.ipv6Only } : {}),
  });
  return socket;
}

/** Listen on the Unix socket `path` and return the listening socket. */
export async function unixServerSocket(path: string, options: ListenOptions = {}): Promise<ServerSocket> {
  const server = makeServer(options, false);
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  const socket = new ServerSocket(server, { backlog, tls: options.tls !== undefined, path });
  await listen(socket, server, { path, backlog });
  return socket;
}

function makeServer(options: ListenOptions, noDelay: boolean): net.Server {
  return options.tls !== undefined
    ? tls.createServer({ ...options.tls, allowHalfOpen: true, noDelay })
    : net.createServer({ allowHalfOpen: true, noDelay });
}

async function listen(socket: ServerSocket, server: net.Server, options: net.ListenOptions): Promise<void> {
  try {
    await waitEvent(server, 'listening', 'LISTEN_WAIT', () => server.listen(options));
  } catch (error) {
    await socket.close();
    throw error instanceof CancelledError ? error : toSocketError(error, false);
  }
}

// ---------------------------------------------------------------------------------------------
// Servers

/** What a server runs for each client. The socket is closed when it returns. */
export type ClientHandler = (client: Socket, address: SocketAddress) => unknown;

/** Options of {@link runServer}, {@link tcpServer} and {@link unixServer}. */
export interface ServeOptions {
  /**
   * What happens to running clients when the server task is cancelled: 'cancel' (default, as
   * Curio) cancels them; 'drain' stops accepting and waits for them to finish.
   */
  shutdown?: 'cancel' | 'drain';
  /** With 'drain': cancel the clients still running after this many milliseconds. */
  drainTimeout?: number;
  /**
   * Called with a client handler's error (other than a cancellation). Default: reported
   * through the kernel's error hook (stderr unless `run`'s `onError` says otherwise).
   */
  onClientError?: (error: unknown, address: SocketAddress) => void;
}

/** Options of {@link tcpServer} and {@link unixServer}. */
export interface ServerOptions extends ListenOptions, ServeOptions {
  /** Called once listening, with the listening socket (e.g. to learn the port after port 0). */
  onListening?: (server: ServerSocket) => void;
}

/**
 * Serve TCP clients on `host`:`port`: each accepted client runs `handler(client, address)` in a
 * task of its own. Runs until the calling task is cancelled (see {@link ServeOptions.shutdown}).
 */
export async function tcpServer(host: string, port: number, handler: ClientHandler, options: ServerOptions = {}): Promise<never> {
  const server = await tcpServerSocket(host, port, options);
  options.onListening?.(server);
  return runServer(server, handler, options);
}

/** Serve clients on the Unix socket `path`, like {@link tcpServer}. */
export async function unixServer(path: string, handler: ClientHandler, options: ServerOptions = {}): Promise<never> {
  const server = await unixServerSocket(path, options);
  options.onListening?.(server);
  return runServer(server, handler, options);
}

/**
 * Run the accept loop on a listening socket (Curio's run_server): one task per client, in a
 * task group. Runs until the calling task is cancelled or accepting fails; closes `server` when
 * it ends.
 */
export async function runServer(server: ServerSocket, handler: ClientHandler, options: ServeOptions = {}): Promise<never> {
  const group = new TaskGroup();
  const reportError = options.onClientError ?? reportToKernel(currentTask());
  const acceptor = group.spawn(() => acceptLoop(server, group, handler, reportError), { name: 'server-accept' });
  try {
    for (;;) {
      const done = await group.nextDone();
      // Client tasks catch their own errors; only the accept loop can end the server.
      if (done === acceptor || done === null) throw acceptor.exception;
    }
  } catch (error) {
    // Stop listening: the accept loop is cancelled (rather than left to fail on the closed
    // socket, which would be a crash of its own), then connections not yet accepted are closed.
    await disableCancellation(() => acceptor.cancel());
    await server.close();
    if (options.shutdown === 'drain' && error instanceof CancelledError) {
      try {
        await drainClients(group, options.drainTimeout);
      } catch (again) {
        // Cancelled again while draining: the remaining clients are cancelled below.
        if (!(again instanceof CancelledError)) throw again;
      }
    }
    await disableCancellation(async () => {
      await group.cancelRemaining();
      await group.join();
    });
    throw error;
  }
}

async function acceptLoop(server: ServerSocket, group: TaskGroup, handler: ClientHandler, reportError: (error: unknown, address: SocketAddress) => void): Promise<never> {
  for (;;) {
    const client = await server.accept();
    const address = client.peername ?? server.address;
    group.spawn(() => serveClient(client, address, handler, reportError), { name: 'server-client' });
  }
}

async function serveClient(client: Socket, address: SocketAddress, handler: ClientHandler, reportError: (error: unknown, address: SocketAddress) => void): Promise<void> {
  try {
    await handler(client, address);
  } catch (error) {
    if (error instanceof CancelledError) throw error;
    reportError(error, address);
  } finally {
    client.closeNow();
  }
}

/** Reap client tasks (and the cancelled accept loop) until none is left (or `timeout` ms passed). */
async function drainClients(group: TaskGroup, timeout: number | undefined): Promise<void> {
  const drainAll = async (): Promise<void> => {
    while ((await group.nextDone()) !== null);
  };
  if (timeout === undefined) await drainAll();
  else await ignoreAfter(timeout, drainAll);
}

function reportToKernel(server: Task): (error: unknown, address: SocketAddress) => void {
  return (error, address) => {
    const where = address.family === 'unix' ? address.path : `${address.address}:${address.port}`;
    const what = error instanceof Error ? error.message : String(error);
    server._kernel.report(error, {
      reason: 'unobserved-task-error',
      message: `server task ${server.id} (${server.name}): client handler for ${where} failed: ${what}`,
      task: server,
    });
  };
}
