// io/udp.ts
//
// Datagram sockets under kernel control: `udpSocket()` gives a bound `UdpSocket` with
// `recvfrom` / `sendto` (Curio's socket methods of the same names).
//
// As with stream sockets, one 'message' handler registered once per socket queues datagrams;
// `recvfrom` returns a queued one at once without a trap and waits (READ_WAIT) only when none
// is queued. Node cannot pause a datagram socket, so the queue is bounded the way the OS
// bounds its receive buffer: a datagram that arrives while `maxQueuedBytes` are queued is
// dropped (and counted in `droppedDatagrams`). `sendto` waits (WRITE_WAIT) until Node reports
// the datagram sent, so its errors (EMSGSIZE...) come back to the caller.
//
// Invariants: one reader and one writer at a time (ReadResourceBusy / WriteResourceBusy); a
// cancelled recvfrom leaves the queue as it was; close wakes blocked tasks with
// SocketClosedError.

import * as dgram from 'node:dgram';
import { waitExternal } from '../cancellation.js';
import { Deque } from '../deque.js';
import { CancelledError, ReadResourceBusy, WriteResourceBusy } from '../errors.js';
import type { ExternalWake } from '../traps.js';
import { checkSize } from './socket.js';
import { Waiter, waitEvent } from './waiter.js';
import { SocketClosedError, toSocketError } from './socket-errors.js';
import type { SocketError } from './socket-errors.js';

/** A received datagram and where it came from. */
export interface Datagram {
  /** The payload (cut to `maxBytes` of the `recvfrom` call). */
  readonly data: Uint8Array;
  /** The sender's IP address. */
  readonly address: string;
  /** The sender's port. */
  readonly port: number;
  /** 'IPv4' or 'IPv6'. */
  readonly family: string;
}

/** Options of {@link udpSocket}. */
export interface UdpSocketOptions {
  /** 'udp4' (default) or 'udp6'. */
  type?: 'udp4' | 'udp6';
  /** Where to bind (default: every interface, a port chosen by the OS). */
  bind?: { host?: string; port?: number };
  /** Queued received bytes beyond which arriving datagrams are dropped (default 4 MiB). */
  maxQueuedBytes?: number;
  /** Let several sockets bind the same address (SO_REUSEADDR). */
  reuseAddr?: boolean;
}

interface Queued {
  readonly data: Buffer;
  readonly info: dgram.RemoteInfo;
}

const OWNER = Symbol('curio.udpSocket');

interface OwnedDgram extends dgram.Socket {
  [OWNER]?: UdpSocket;
}

function onMessage(this: dgram.Socket, data: Buffer, info: dgram.RemoteInfo): void {
  ((this as OwnedDgram)[OWNER] as UdpSocket)._onMessage(data, info);
}

function onError(this: dgram.Socket, error: Error): void {
  ((this as OwnedDgram)[OWNER] as UdpSocket)._onError(error);
}

function onClose(this: dgram.Socket): void {
  ((this as OwnedDgram)[OWNER] as UdpSocket)._onClose();
}

/**
 * Create a datagram socket and bind it (a trap: the bind may have to wait for the OS). Throws a
 * {@link SocketError} (EADDRINUSE...) if binding fails.
 */
export async function udpSocket(options: UdpSocketOptions = {}): Promise<UdpSocket> {
  const raw = dgram.createSocket({ type: options.type ?? 'udp4', reuseAddr: options.reuseAddr ?? false });
  const socket = new UdpSocket(raw, options.maxQueuedBytes ?? 4 * 1024 * 1024);
  try {
    const address = {
      port: options.bind?.port ?? 0,
      ...(options.bind?.host !== undefined ? { address: options.bind.host } : {}),
    };
    await waitEvent(raw, 'listening', 'LISTEN_WAIT', () => raw.bind(address));
  } catch (error) {
    socket.closeNow();
    throw error instanceof CancelledError ? error : toSocketError(error, false);
  }
  return socket;
}

/** A bound datagram socket. Create one with {@link udpSocket}. */
export class UdpSocket {
  private readonly raw: dgram.Socket;
  private readonly maxQueued: number;
  private readonly queue = new Deque<Queued>();
  private queued = 0;
  private dropped = 0;
  private failure: SocketError | null = null;
  private closedHere = false;
  private readonly receiver = new Waiter();
  private writing = false;
  private reading = false;

  /** @internal Use {@link udpSocket}. */
  constructor(raw: dgram.Socket, maxQueuedBytes: number) {
    this.raw = raw;
    this.maxQueued = maxQueuedBytes;
    (raw as OwnedDgram)[OWNER] = this;
    raw.on('message', onMessage);
    raw.on('error', onError);
    raw.on('close', onClose);
  }

  /**
   * Receive one datagram, waiting if none is queued. A datagram longer than `maxBytes`
   * (default 65 536) is cut to `maxBytes`, its rest discarded, as a datagram socket does.
   */
  async recvfrom(maxBytes = 65536): Promise<Datagram> {
    checkSize(maxBytes, 'recvfrom');
    if (this.reading) throw new ReadResourceBusy('another task is already receiving on this socket');
    this.reading = true;
    try {
      for (;;) {
        const item = this.queue.shift();
        if (item !== undefined) {
          this.queued -= item.data.length;
          const data = item.data.length > maxBytes ? item.data.subarray(0, maxBytes) : item.data;
          return { data, address: item.info.address, port: item.info.port, family: item.info.family };
        }
        if (this.closedHere) throw new SocketClosedError();
        if (this.failure !== null) throw this.failure;
        await this.receiver.wait('READ_WAIT');
      }
    } finally {
      this.reading = false;
    }
  }

  /**
   * Send `data` as one datagram to `address`:`port`; resolves with its length once Node has
   * sent it (WRITE_WAIT). Errors such as EMSGSIZE are thrown as a {@link SocketError}.
   */
  async sendto(data: Uint8Array, address: string, port: number): Promise<number> {
    if (this.closedHere) throw new SocketClosedError();
    if (this.writing) throw new WriteResourceBusy('another task is already sending on this socket');
    this.writing = true;
    try {
      await waitExternal('WRITE_WAIT', (wake: ExternalWake) => {
        this.raw.send(data, port, address, (error: Error | null) => {
          if (error !== null) wake.reject(toSocketError(error, false));
          else wake.resolve(undefined);
        });
        return noop;
      });
      return data.length;
    } finally {
      this.writing = false;
    }
  }

  /** The local address and port the socket is bound to. */
  get address(): { address: string; port: number; family: string } {
    const info = this.raw.address();
    return { address: info.address, port: info.port, family: info.family };
  }

  /** Datagrams dropped because `maxQueuedBytes` were already queued. */
  get droppedDatagrams(): number {
    return this.dropped;
  }

  /** Bytes of received datagrams waiting for recvfrom. */
  get bufferedBytes(): number {
    return this.queued;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.closedHere;
  }

  /** The underlying dgram.Socket, for options (multicast, TTL...). Do not receive from it. */
  get rawSocket(): dgram.Socket {
    return this.raw;
  }

  /** Close the socket; blocked tasks wake with {@link SocketClosedError}. Closing twice is harmless. */
  close(): Promise<void> {
    this.closeNow();
    return Promise.resolve();
  }

  /** {@link close}, synchronously. */
  closeNow(): void {
    if (this.closedHere) return;
    this.closedHere = true;
    this.queue.clear();
    this.queued = 0;
    try {
      this.raw.close();
    } catch {
      // Already closed by Node (after an error): nothing left to release.
    }
    this.receiver.wakeUp();
  }

  /** `await using sock = await udpSocket(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  _onMessage(data: Buffer, info: dgram.RemoteInfo): void {
    if (this.closedHere) return;
    if (this.queued + data.length > this.maxQueued && this.queue.length > 0) {
      this.dropped++;
      return;
    }
    this.queue.push({ data, info });
    this.queued += data.length;
    this.receiver.wakeUp();
  }

  /** @internal */
  _onError(error: Error): void {
    if (this.failure === null && !this.closedHere) this.failure = toSocketError(error, false);
    this.receiver.wakeUp();
  }

  /** @internal */
  _onClose(): void {
    if (!this.closedHere && this.failure === null) this.failure = new SocketClosedError('datagram socket was closed');
    this.receiver.wakeUp();
  }

}

function noop(): void {}
