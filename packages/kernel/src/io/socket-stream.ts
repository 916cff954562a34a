// io/socket-stream.ts
//
// SocketStream: the file-like view of a kernel Socket (Curio's SocketStream): read, readExactly,
// readline, readAll, write, writelines, and `for await` over lines.
//
// The stream has no buffer of its own: it reads the socket's queue of received chunks directly,
// so bytes are never copied unless a result spans chunks (a line split across two reads is
// joined into one Uint8Array).
//
// Invariants:
// - A multi-step read holds the socket's read side for its whole duration, so no other task can
//   take bytes out from under it (a second reader gets ReadResourceBusy).
// - A cancelled or timed-out readline / readExactly / readAll consumes nothing: the bytes it
//   had gathered go back to the front of the socket's queue, so the next read returns them and
//   the stream stays in step with the peer. The error carries `bytesRead`, the number of bytes
//   it had gathered (and put back). The same holds when the socket fails mid-read.
// - A failed write carries `bytesWritten` (bytes handed to the OS before it stopped).
// - A line is at most `lineLimit` bytes (default 64 KiB, asyncio's): a peer that never sends
//   `\n` gets LineTooLongError, not unbounded memory. The bytes stay in the socket's queue,
//   which pauses the socket when full, so memory stays bounded either way.

import { Buffer } from 'node:buffer';
import { markProgress, checkSize, DEFAULT_READ, WRITE_SLICE } from './socket.js';
import type { Socket } from './socket.js';
import { IncompleteReadError, LineTooLongError } from './socket-errors.js';

const NEWLINE = 0x0a;

/** The default longest line {@link SocketStream.readline} accepts, `\n` included (64 KiB). */
export const DEFAULT_LINE_LIMIT = 65536;

/** Options of {@link SocketStream} (and {@link Socket.asStream}). */
export interface SocketStreamOptions {
  /**
   * The longest line `readline` (and line iteration) accepts, in bytes with the `\n`; a longer
   * one throws {@link LineTooLongError}. Default {@link DEFAULT_LINE_LIMIT} (64 KiB).
   */
  lineLimit?: number;
}

/** Join `parts` into one Uint8Array; no copy when there is only one piece. */
function join(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0) return new Uint8Array(0);
  if (parts.length === 1) return parts[0] as Uint8Array;
  return Buffer.concat(parts);
}

/**
 * A stream interface over a {@link Socket}: `readline`, `readExactly`, `readAll`, `write`,
 * `writelines`, and `for await (const line of stream)`. Lines are Uint8Arrays that end with
 * `\n` (except a last line cut by end of stream), as Curio's are bytes.
 */
export class SocketStream implements AsyncIterable<Uint8Array> {
  /** The socket this stream reads and writes. */
  readonly socket: Socket;
  /** The longest line {@link readline} accepts, `\n` included. */
  readonly lineLimit: number;

  /** Usually obtained with {@link Socket.asStream}. */
  constructor(socket: Socket, options?: SocketStreamOptions) {
    const lineLimit = options?.lineLimit ?? DEFAULT_LINE_LIMIT;
    checkSize(lineLimit, 'lineLimit');
    this.socket = socket;
    this.lineLimit = lineLimit;
  }

  /**
   * Read up to `maxBytes` (default 64 KiB): whatever is available, waiting only if nothing is.
   * Empty at end of stream.
   */
  read(maxBytes = DEFAULT_READ): Promise<Uint8Array> {
    return this.socket.recv(maxBytes);
  }

  /** Read into `buffer`; resolves with the number of bytes written into it (0 at end of stream). */
  readInto(buffer: Uint8Array): Promise<number> {
    return this.socket.recvInto(buffer);
  }

  /**
   * Read exactly `n` bytes. At end of stream before `n` bytes, throws
   * {@link IncompleteReadError} carrying the bytes that did arrive.
   */
  readExactly(n: number): Promise<Uint8Array> {
    if (n === 0) return Promise.resolve(new Uint8Array(0));
    checkSize(n, 'readExactly');
    return this.gather(async (socket, parts) => {
      let gathered = 0;
      while (gathered < n) {
        if (socket.bufferedBytes === 0 && !(await socket._waitData())) {
          const partial = join(parts);
          parts.length = 0; // consumed: they travel in the error
          throw new IncompleteReadError(partial, n);
        }
        const piece = socket._take(n - gathered);
        parts.push(piece);
        gathered += piece.length;
      }
      return join(parts);
    });
  }

  /**
   * Read one line, up to and including `\n`. At end of stream, returns what is left (without
   * `\n`), then empty arrays. A line longer than {@link lineLimit} throws
   * {@link LineTooLongError} and consumes nothing.
   */
  readline(): Promise<Uint8Array> {
    const limit = this.lineLimit;
    return this.gather(async (socket, parts) => {
      let gathered = 0;
      for (;;) {
        while (socket.bufferedBytes > 0) {
          const chunk = socket._peek();
          const room = limit - gathered;
          const end = chunk.indexOf(NEWLINE);
          if (end >= 0 && end < room) {
            parts.push(socket._take(end + 1));
            return join(parts);
          }
          if (end >= 0 || chunk.length > room) throw new LineTooLongError(limit);
          const piece = socket._take(Infinity);
          parts.push(piece);
          gathered += piece.length;
        }
        if (!(await socket._waitData())) return join(parts);
      }
    });
  }

  /** Read until end of stream and return everything. */
  readAll(): Promise<Uint8Array> {
    return this.gather(async (socket, parts) => {
      for (;;) {
        while (socket.bufferedBytes > 0) parts.push(socket._take(Infinity));
        if (!(await socket._waitData())) return join(parts);
      }
    });
  }

  /**
   * Run a multi-step read holding the socket's read side. `read` pushes the pieces it takes
   * onto `parts`; if it fails (cancelled, timed out, the socket failed), they go back to the
   * front of the socket's queue and the error records how many bytes they were.
   */
  private async gather(read: (socket: Socket, parts: Uint8Array[]) => Promise<Uint8Array>): Promise<Uint8Array> {
    const socket = this.socket;
    socket._lockRead();
    const parts: Uint8Array[] = [];
    try {
      return await read(socket, parts);
    } catch (error) {
      let gathered = 0;
      for (const part of parts) gathered += part.length;
      if (parts.length > 0) socket._putBack(parts);
      if (!(error instanceof IncompleteReadError)) markProgress(error, 'bytesRead', gathered);
      throw error;
    } finally {
      socket._unlockRead();
    }
  }

  /** Read every remaining line. */
  async readlines(): Promise<Uint8Array[]> {
    const lines: Uint8Array[] = [];
    for await (const line of this) lines.push(line);
    return lines;
  }

  /**
   * Write all of `data` (the socket's `sendall`). On failure the error carries `bytesWritten`.
   */
  async write(data: Uint8Array): Promise<void> {
    try {
      await this.socket.sendall(data);
    } catch (error) {
      markProgress(error, 'bytesWritten', (error as { bytesSent?: number }).bytesSent ?? 0);
      throw error;
    }
  }

  /**
   * Write each of `lines` in order. Small runs of lines are joined into one write. On failure
   * the error carries `bytesWritten` over all lines.
   */
  async writelines(lines: Iterable<Uint8Array>): Promise<void> {
    let written = 0;
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      const data = batch.length === 1 ? (batch[0] as Uint8Array) : Buffer.concat(batch, batchBytes);
      batch = [];
      batchBytes = 0;
      await this.socket.sendall(data);
      written += data.length;
    };
    try {
      for (const line of lines) {
        if (batchBytes + line.length > WRITE_SLICE && batch.length > 0) await flush();
        batch.push(line);
        batchBytes += line.length;
      }
      if (batch.length > 0) await flush();
    } catch (error) {
      markProgress(error, 'bytesWritten', written + ((error as { bytesSent?: number }).bytesSent ?? 0));
      throw error;
    }
  }

  /** Close the underlying socket. */
  close(): Promise<void> {
    return this.socket.close();
  }

  /** `await using stream = sock.asStream()` closes the socket at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Lines until end of stream. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }
}
