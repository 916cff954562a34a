// connection.ts
//
// An in-process connection: two pipes (client → server, server → client) and the two
// ByteStreams that are its ends. The test holds the MemoryConnection (from
// `network.onConnection` or `network.connections`) to break it on purpose; the code under test
// holds an end, which behaves as a socket of the other runtimes does.
//
// Invariants:
// - An end reads from one pipe and writes into the other; closing an end closes its reading
//   side (what was not read is dropped, the peer's writes fail with EPIPE) and its writing side
//   (what it wrote still arrives, then end of stream).
// - A connection is open until both ends are closed, or until it is cut (closed or reset by a
//   fault or by the test); then it leaves `network.connections`.

import { ConnectionError } from '@curio-ts/client';
import type { ByteStream, StreamAddress, TlsInfo } from '@curio-ts/client';
import type { VirtualClock } from './clock.js';
import { Pipe } from './pipe.js';
import type { PipeControl, PipeFaults, PipeOwner } from './pipe.js';

/** Faults of both directions of a connection. */
export interface ConnectionFaults {
  /** Faults of the server's bytes on their way to the client. */
  readonly toClient?: PipeFaults;
  /** Faults of the client's bytes on their way to the server. */
  readonly toServer?: PipeFaults;
}

/** One end of an in-process connection: what `connect` and `accept` return. */
export class MemoryByteStream implements ByteStream {
  /** Always null: there is no TLS on the memory runtime. */
  readonly tls: TlsInfo | null = null;
  private closed = false;

  /** @internal */
  /** Bytes received and not yet read (the runtime conformance suite's pacing bound). */
  get bufferedBytes(): number {
    return this.inbound.pending;
  }

  constructor(
    private readonly inbound: Pipe,
    private readonly outbound: Pipe,
    /** The other end's address. */
    readonly remoteAddress: StreamAddress,
    /** This end's address. */
    readonly localAddress: StreamAddress,
    private readonly onClose: () => void,
  ) {}

  read(): Promise<Uint8Array | null> {
    return this.inbound.readChunk();
  }

  write(data: Uint8Array): Promise<void> {
    return this.outbound.write(data);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbound.closeReader();
    this.outbound.closeWriter();
    this.onClose();
  }
}

/** An in-process connection, as the test sees it. */
export class MemoryConnection {
  // Not `implements PipeOwner`: its `cut` is internal, and the published .d.ts would claim an
  // implementation it leaves out. Checked where it is passed as a PipeOwner.
  /** The client's end (what `connect` returned). */
  readonly client: MemoryByteStream;
  /** The server's end (what `accept` returned, or will). */
  readonly server: MemoryByteStream;
  private readonly clientBound: Pipe;
  private readonly serverBound: Pipe;
  private endsOpen = 2;
  private isOpen = true;

  /** @internal */
  constructor(
    /** 1 for the network's first connection, 2 for the next... */
    readonly id: number,
    clock: VirtualClock,
    highWater: number,
    readonly clientAddress: StreamAddress,
    readonly serverAddress: StreamAddress,
    private readonly onEnd: (connection: MemoryConnection) => void,
  ) {
    this.clientBound = new Pipe(clock, highWater, this);
    this.serverBound = new Pipe(clock, highWater, this);
    const endClosed = (): void => {
      if (--this.endsOpen === 0) this.ended();
    };
    this.client = new MemoryByteStream(this.clientBound, this.serverBound, serverAddress, clientAddress, endClosed);
    this.server = new MemoryByteStream(this.serverBound, this.clientBound, clientAddress, serverAddress, endClosed);
  }

  /** The server's bytes on their way to the client. */
  get toClient(): PipeControl {
    return this.clientBound;
  }

  /** The client's bytes on their way to the server. */
  get toServer(): PipeControl {
    return this.serverBound;
  }

  /** Whether neither the ends nor a fault have closed it yet. */
  get open(): boolean {
    return this.isOpen;
  }

  /** Apply faults to either direction; positions already passed fire at once. */
  configure(faults: ConnectionFaults): void {
    if (faults.toClient !== undefined) this.clientBound.configure(faults.toClient);
    if (faults.toServer !== undefined) this.serverBound.configure(faults.toServer);
  }

  /**
   * Close it as a peer that goes away would: each end reads what is on the way to it, then
   * end of stream; writes from either end fail with EPIPE.
   */
  close(): void {
    this.cut('close');
  }

  /** Reset it now: what is on the way is lost; both ends fail with ECONNRESET. */
  reset(): void {
    this.clientBound.cut(true, true);
    this.serverBound.cut(true, true);
    this.ended();
  }

  /** @internal A fault position closes or resets the connection. */
  cut(how: 'close' | 'reset'): void {
    this.clientBound.cut(how === 'reset');
    this.serverBound.cut(how === 'reset');
    this.ended();
  }

  private ended(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.onEnd(this);
  }
}

/** The error of a connect nothing accepts. */
export function refused(address: string): ConnectionError {
  return new ConnectionError(`connect ECONNREFUSED ${address}`, 'ECONNREFUSED');
}
