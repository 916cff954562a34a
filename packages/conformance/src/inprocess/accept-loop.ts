// inprocess/accept-loop.ts
//
// The listening half the scripted peers share (scripted.ts for Redis, pg-scripted.ts for
// PostgreSQL): a listener on a free port of any Runtime, an accept loop that numbers the
// connections and serves each in a task of its own, and the handles a test drops them with.
//
// Invariants: connection n is the n-th accepted (from 1); a stream is in `streams` from its
// accept until the peer's `serve` (or `dropAll`) removes and closes it.

import type { ByteStream, Listener, Runtime } from '@curio-ts/client';

/** A scripted peer's listener and the handles every scripted peer has. */
export interface ScriptedListener {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Close every open connection (the listener stays). */
  dropAll(): void;
  /** Close the listener and every connection. */
  stop(): Promise<void>;
}

class Listening implements ScriptedListener {
  accepted = 0;
  constructor(
    readonly port: number,
    private readonly listener: Listener,
    private readonly streams: Set<ByteStream>,
  ) {}

  get open(): number {
    return this.streams.size;
  }

  readonly dropAll = (): void => {
    for (const stream of [...this.streams]) {
      this.streams.delete(stream);
      stream.close();
    }
  };

  readonly stop = async (): Promise<void> => {
    this.listener.close();
    this.dropAll();
  };
}

/**
 * Listen on a free port of `runtime` and call `serve` for every accepted stream, numbered from 1.
 * `streams` is the peer's set of open streams: added here, removed by the peer as they end.
 * Returns the listener's handles with the peer's own (`extra`: its records) on the same object.
 */
export async function acceptScripted<T extends object>(runtime: Runtime, name: string, streams: Set<ByteStream>, serve: (stream: ByteStream, connection: number) => Promise<void>, extra: T): Promise<ScriptedListener & T> {
  const listener = await runtime.listen({ host: '127.0.0.1', port: 0 });
  const address = listener.address;
  const listening = new Listening('port' in address ? address.port : 0, listener, streams);
  runtime.spawn(async () => {
    for (let stream = await listener.accept(); stream !== null; stream = await listener.accept()) {
      streams.add(stream);
      const connection = ++listening.accepted;
      runtime.spawn(() => serve(stream, connection), `${name} connection ${connection}`);
    }
  }, `${name} ${listening.port}`);
  return Object.assign(listening, extra);
}
