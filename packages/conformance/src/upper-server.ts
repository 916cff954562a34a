// conformance/upper-server.ts
//
// A small server written once on the Runtime's server side, run unchanged by every runtime:
// each line a client sends comes back upper-cased, `QUIT` is answered `BYE` and ends that
// connection. It uses only listen / accept / spawn / read / write / close, and stops
// gracefully: the listener closes, every connection's handler is cancelled (its signal closes
// its stream, so a handler blocked in `read()` wakes with end of stream), and `stop()` resolves
// once every background activity of the server has ended. And the client side's helper,
// LineReader, which turns a ByteStream into lines.
//
// Invariants:
// - `stop()` leaves nothing running: the accept loop and every handler have settled their
//   `done` when it resolves.
// - A handler's stream is closed whenever the handler ends, however it ends.

import { ConnectionError } from '@curio-ts/client';
import type { Background, ByteStream, ConnectTarget, ListenTarget, Runtime, StreamAddress } from '@curio-ts/client';

/** A running line server. */
export interface UpperServer {
  /** Where it listens. */
  readonly address: StreamAddress;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Handlers still running. */
  readonly open: number;
  /** Stop accepting, cancel the open connections, and wait until all of it has ended. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();

/** `text` as bytes (UTF-8). */
export function bytesOf(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A ConnectTarget for a bound address. */
export function targetOf(address: StreamAddress): ConnectTarget {
  return 'path' in address ? { path: address.path } : { host: address.host, port: address.port };
}

/** Start the line server on `runtime` (default target: a free port on 127.0.0.1). */
export async function startUpperServer(runtime: Runtime, target: ListenTarget = { port: 0 }): Promise<UpperServer> {
  const listener = await runtime.listen(target);
  const handlers = new Set<Background>();
  let accepted = 0;
  const acceptLoop = runtime.spawn(async (signal) => {
    const stopAccepting = (): void => listener.close();
    signal.addEventListener('abort', stopAccepting, { once: true });
    try {
      for (;;) {
        const stream = await listener.accept();
        if (stream === null) return;
        accepted++;
        const handler = runtime.spawn((handlerSignal) => serveLines(stream, handlerSignal), `upper-client-${accepted}`);
        handlers.add(handler);
        void handler.done.then(() => handlers.delete(handler));
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      signal.removeEventListener('abort', stopAccepting);
      listener.close();
    }
  }, 'upper-accept');
  return {
    address: listener.address,
    get accepted() {
      return accepted;
    },
    get open() {
      return handlers.size;
    },
    async stop() {
      listener.close();
      acceptLoop.cancel();
      await acceptLoop.done;
      const running = [...handlers];
      for (const handler of running) handler.cancel();
      await Promise.all(running.map((handler) => handler.done));
    },
  };
}

/** One connection: upper-case every line, until QUIT, end of stream or cancellation. */
async function serveLines(stream: ByteStream, signal: AbortSignal): Promise<void> {
  const close = (): void => stream.close();
  signal.addEventListener('abort', close, { once: true });
  const lines = new LineReader(stream);
  try {
    for (;;) {
      const line = await lines.next();
      if (line === null) return;
      if (line === 'QUIT') {
        await stream.write(bytesOf('BYE\n'));
        return;
      }
      await stream.write(bytesOf(`${line.toUpperCase()}\n`));
    }
  } catch (error) {
    // A peer that vanished, or our own stop: the connection is over either way.
    if (signal.aborted || error instanceof ConnectionError) return;
    throw error;
  } finally {
    signal.removeEventListener('abort', close);
    stream.close();
  }
}

/** Lines (without their '\n') read from a ByteStream. */
export class LineReader {
  private pending = '';
  private readonly decoder = new TextDecoder();

  constructor(private readonly stream: ByteStream) {}

  /** The next line; null at end of stream (a last unterminated piece is dropped). */
  async next(): Promise<string | null> {
    for (;;) {
      const end = this.pending.indexOf('\n');
      if (end !== -1) {
        const line = this.pending.slice(0, end);
        this.pending = this.pending.slice(end + 1);
        return line;
      }
      const chunk = await this.stream.read();
      if (chunk === null || chunk.length === 0) return null;
      this.pending += this.decoder.decode(chunk, { stream: true });
    }
  }
}
