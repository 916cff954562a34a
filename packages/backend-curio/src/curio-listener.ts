// curio-listener.ts
//
// CurioListener: the Runtime's server side over a kernel ServerSocket (TCP, Unix sockets, TLS
// from the first byte).
//
// Invariants:
// - `accept()` is the kernel's accept trap: a task blocked in it is cancelled and timed out by
//   the kernel; a cancelled accept loses no connection (the next accept gets it).
// - At most `backlog` (default 511, as Node's) connections wait for accept(); more are closed
//   (the kernel ServerSocket's rule). Waiting connections are not read by anyone.
// - Once the listener is closed, `accept()` (a pending one too) resolves with null.

import { ConnectionError } from '@curio-ts/client';
import type { ByteStream, ListenTarget, Listener, StreamAddress } from '@curio-ts/client';
import { ReadResourceBusy, SocketClosedError, tcpServerSocket, unixServerSocket } from '@curio-ts/kernel';
import type { ServerSocket } from '@curio-ts/kernel';
import { CurioByteStream, toConnectionError } from './curio-stream.js';
import { serverTls } from './curio-tls.js';

/** A kernel ServerSocket as a Listener. */
export class CurioListener implements Listener {
  /** Use {@link listenCurio}. */
  constructor(
    private readonly server: ServerSocket,
    readonly address: StreamAddress,
  ) {}

  async accept(): Promise<ByteStream | null> {
    let socket;
    try {
      socket = await this.server.accept();
    } catch (error) {
      if (error instanceof SocketClosedError) return null;
      if (error instanceof ReadResourceBusy) throw new ConnectionError(error.message, 'ERR_LISTENER_BUSY', { cause: error });
      throw toConnectionError(error);
    }
    return new CurioByteStream(socket);
  }

  close(): void {
    void this.server.close();
  }

  /** Connections accepted by the OS and waiting for `accept()`. */
  get pendingConnections(): number {
    return this.server.pendingConnections;
  }

  /** Connections closed because `backlog` were already waiting. */
  get droppedConnections(): number {
    return this.server.droppedConnections;
  }

  /** The kernel's listening socket. */
  get kernelSocket(): ServerSocket {
    return this.server;
  }
}

/** Listen on `target` (see Runtime.listen): a kernel trap, call it from a task. */
export async function listenCurio(target: ListenTarget, backlog?: number): Promise<CurioListener> {
  if (backlog !== undefined && (!Number.isInteger(backlog) || backlog < 1)) {
    throw new ConnectionError(`listen: backlog must be a positive integer, got ${String(backlog)}`, 'ERR_INVALID_ARG');
  }
  const options = backlog === undefined ? {} : { backlog };
  let server: ServerSocket;
  try {
    if ('path' in target) server = await unixServerSocket(target.path, options);
    else {
      const tls = target.tls === undefined ? {} : { tls: serverTls(target.tls) };
      server = await tcpServerSocket(target.host ?? '127.0.0.1', target.port, { ...options, ...tls });
    }
  } catch (error) {
    throw toConnectionError(error);
  }
  const bound = server.address;
  const address: StreamAddress = bound.family === 'unix' ? { path: bound.path } : { host: bound.address, port: bound.port };
  return new CurioListener(server, address);
}
