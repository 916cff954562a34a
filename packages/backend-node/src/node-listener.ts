// node-listener.ts
//
// NodeListener: the Runtime's server side over a net.Server / tls.Server: TCP, Unix sockets,
// and TLS from the first byte.
//
// Invariants:
// - At most `backlog` connections (default 511, Node's listen backlog) wait for `accept()`;
//   one more is closed at once and counted in `droppedConnections`. A waiting plain connection
//   is not read (pauseOnConnect), so a client that writes before it is accepted is pushed back
//   by TCP; a waiting TLS connection holds at most Node's readable buffer.
// - A connection that broke while waiting is still handed out: its stream reports the error
//   (or end of stream) at its first read. Nothing is lost, nothing is an unhandled 'error'.
// - `accept()` gives one connection per call, in arrival order; once the listener is closed it
//   resolves with null (a pending accept too), and waiting connections are closed.
// - A TLS client whose handshake fails never reaches `accept()`; with `requestCert` and
//   `rejectUnauthorized` (the default then), neither does one without a trusted certificate.
//
// Discussion: why not stop accepting. Node has no way to stop taking connections from the OS
// queue while a server listens (libuv accepts as long as the handle is open), so the bound is
// kept here, as the kernel's ServerSocket does: beyond `backlog` waiting connections new ones
// are closed, and the OS queue (also `backlog`, capped by net.core.somaxconn) holds the rest.

import * as net from 'node:net';
import * as tls from 'node:tls';
import { ConnectionError } from '@curio-ts/client';
import type { ByteStream, ListenTarget, Listener, StreamAddress, TlsServerOptions, Wake } from '@curio-ts/client';
import type { NodeStreamOrigin } from './node-stream.js';
import { NodeByteStream, checkClient, serverTlsOptions, toConnectionError } from './node-stream.js';

/** Node's default listen backlog. */
export const DEFAULT_BACKLOG = 511;

const PENDING_ERROR = Symbol('curio.pendingError');
/** The origin of an accepted TCP connection (nothing to say): one object for all. */
const NO_ORIGIN: NodeStreamOrigin = Object.freeze({});

interface WaitingSocket extends net.Socket {
  [PENDING_ERROR]?: Error;
}

// One handler shared by every waiting connection (no closure per connection).
function onPendingError(this: WaitingSocket, error: Error): void {
  this[PENDING_ERROR] = error;
}

/** A listening net.Server / tls.Server as a Listener. */
export class NodeListener implements Listener {
  private pending: net.Socket[] = [];
  private head = 0;
  private acceptor: Wake<ByteStream | null> | null = null;
  private closedHere = false;
  private failure: ConnectionError | null = null;
  private dropped = 0;

  /** Use {@link listenNode}. */
  constructor(
    private readonly server: net.Server,
    readonly address: StreamAddress,
    private readonly backlog: number,
    private readonly tlsOptions: TlsServerOptions | undefined,
  ) {
    server.on(tlsOptions === undefined ? 'connection' : 'secureConnection', (socket: net.Socket) => this.arrived(socket));
    server.on('error', (error: Error) => this.broke(error));
    // A TLS client that fails its handshake never reaches accept(); tls.Server closes it.
    if (tlsOptions !== undefined) server.on('tlsClientError', () => {});
  }

  accept(): Promise<ByteStream | null> {
    const socket = this.take();
    if (socket !== undefined) return Promise.resolve(this.stream(socket));
    if (this.closedHere) return Promise.resolve(null);
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.acceptor !== null) return Promise.reject(new ConnectionError('another accept is already pending on this listener', 'ERR_LISTENER_BUSY'));
    return new Promise<ByteStream | null>((resolve, reject) => {
      this.acceptor = { resolve, reject };
    });
  }

  close(): void {
    if (this.closedHere) return;
    this.closedHere = true;
    this.server.close();
    for (let socket = this.take(); socket !== undefined; socket = this.take()) socket.destroy();
    const acceptor = this.acceptor;
    this.acceptor = null;
    acceptor?.resolve(null);
  }

  /** Connections accepted by the OS and waiting for `accept()`. */
  get pendingConnections(): number {
    return this.pending.length - this.head;
  }

  /** Connections closed because `backlog` were already waiting. */
  get droppedConnections(): number {
    return this.dropped;
  }

  private take(): net.Socket | undefined {
    if (this.head === this.pending.length) return undefined;
    const socket = this.pending[this.head] as net.Socket;
    this.pending[this.head++] = undefined as unknown as net.Socket;
    if (this.head === this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
    }
    return socket;
  }

  private stream(socket: net.Socket): NodeByteStream {
    socket.off('error', onPendingError);
    const pendingError = (socket as WaitingSocket)[PENDING_ERROR];
    const path = 'path' in this.address ? this.address.path : undefined;
    // The usual TCP connection shares one origin object (it is held as long as the stream lives).
    if (path === undefined && pendingError === undefined) return new NodeByteStream(socket, NO_ORIGIN);
    return new NodeByteStream(socket, {
      ...(path !== undefined ? { path } : {}),
      ...(pendingError !== undefined ? { pendingError } : {}),
    });
  }

  private arrived(socket: net.Socket): void {
    if (this.tlsOptions !== undefined) {
      const refused = checkClient(socket as tls.TLSSocket, this.tlsOptions);
      if (refused !== null) {
        socket.destroy();
        return;
      }
    }
    if (this.closedHere || this.pendingConnections >= this.backlog) {
      if (!this.closedHere) this.dropped++;
      socket.destroy();
      return;
    }
    const acceptor = this.acceptor;
    if (acceptor !== null) {
      this.acceptor = null;
      acceptor.resolve(this.stream(socket));
      return;
    }
    // Until accept() takes it, a reset must not become an unhandled 'error' event.
    socket.on('error', onPendingError);
    this.pending.push(socket);
  }

  private broke(error: Error): void {
    if (this.failure === null) this.failure = toConnectionError(error);
    const acceptor = this.acceptor;
    this.acceptor = null;
    acceptor?.reject(this.failure);
  }
}

/** Listen on `target` (see Runtime.listen). */
export function listenNode(target: ListenTarget, backlog = DEFAULT_BACKLOG): Promise<NodeListener> {
  if (!Number.isInteger(backlog) || backlog < 1) {
    return Promise.reject(new ConnectionError(`listen: backlog must be a positive integer, got ${String(backlog)}`, 'ERR_INVALID_ARG'));
  }
  const tlsOptions = 'path' in target ? undefined : target.tls;
  const server =
    tlsOptions === undefined
      ? net.createServer({ pauseOnConnect: true, noDelay: true })
      : tls.createServer({ ...serverTlsOptions(tlsOptions), noDelay: true });
  return new Promise<NodeListener>((resolve, reject) => {
    const failed = (error: Error): void => {
      server.close();
      reject(toConnectionError(error));
    };
    server.once('error', failed);
    const listening = (): void => {
      server.off('error', failed);
      let address: StreamAddress;
      if ('path' in target) address = { path: target.path };
      else {
        const bound = server.address() as net.AddressInfo;
        address = { host: bound.address, port: bound.port };
      }
      resolve(new NodeListener(server, address, backlog, tlsOptions));
    };
    if ('path' in target) server.listen({ path: target.path, backlog }, listening);
    else server.listen({ host: target.host ?? '127.0.0.1', port: target.port, backlog }, listening);
  });
}
