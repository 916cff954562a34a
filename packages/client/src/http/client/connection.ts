// http/client/connection.ts
//
// ClientConnection: one HTTP/1.1 connection of the client: proto-http's connection object in
// the client role over a ByteStream, a reader activity that feeds it, and the waits of the
// request using it.
//
// Invariants:
// - One background activity (a daemon kernel task on curio) reads the stream for the whole
//   life of the connection, also while it is idle in its pool: a server closing an idle
//   keep-alive connection (or sending anything unasked) is seen at once, and the connection is
//   dropped before anyone reuses it.
// - Reading is paced by the consumer: the reader stops while more than READ_HIGH_WATER bytes
//   received are not yet taken as events (an unread body), so memory per connection is bounded.
// - Body Data are views of the chunks the stream handed over (a stream never reuses them): no
//   copy between the socket and the user.
// - `received` counts the bytes of the current cycle: a request that failed with none may be
//   sent again on a fresh connection (the server cannot have answered it).
// - Pipelining: `inFlight` holds the exchanges whose requests were sent, in order; the first is
//   the one whose response is being read, and each other waits for its turn (`awaitTurn`), so
//   responses are matched strictly in order. Only pipelinable requests (see agent.ts) join a
//   connection that has one in flight already. When the connection ends, every exchange waiting
//   for its turn wakes and fails with a ConnectionLostError.

import { NEED_DATA, PAUSED, RemoteProtocolError } from '@curio-ts/proto-http';
import { HttpConnection } from '@curio-ts/proto-http';
import type { HttpEvent, HttpLimits } from '@curio-ts/proto-http';
import { ConnectionError, ConnectionLostError, ProtocolViolationError } from '../../errors.js';
import { FnWaiter } from '../../runtime.js';
import type { Background, ByteStream, Runtime, Wake } from '../../runtime.js';
import { Deadline } from '../../deadline.js';
import type { Expirable } from '../../deadline.js';
import type { Exchange, HeadReader, Held, Parking, Watcher } from './exchange.js';

/** Received and unconsumed bytes above which a connection stops reading. */
export const READ_HIGH_WATER = 64 * 1024;

const EMPTY = new Uint8Array(0);

export class ClientConnection implements Held, Expirable {
  readonly conn: HttpConnection;
  /** The request's timeouts while busy, the idle timeout in the pool. */
  readonly deadline: Deadline;
  /** Bytes received in the current cycle. */
  received = 0;
  /** The key of the pool it belongs to. */
  poolKey = '';
  /** Requests sent on this connection. */
  uses = 0;
  /** When the server's Keep-Alive header said it drops idle connections (ms), else Infinity. */
  serverIdleMs = Infinity;
  /** Called once when the connection ends (closed by us, the peer, or an error). */
  onEnd: ((connection: ClientConnection) => void) | null = null;
  /** Exchanges whose requests were sent, oldest first (the first is being answered). */
  private readonly inFlight: Exchange[] = [];
  /** The exchanges waiting for their turn, and how to wake them. */
  private readonly turnWaits = new Map<Exchange, Wake<void>>();
  /** The exchange whose response is being read (its turn came). */
  private answering: Exchange | null = null;
  /** False while a request that must not be pipelined behind is in flight. */
  private pipelineOpen = true;
  private reader: Background | null = null;
  /** The request waits for bytes. */
  private readonly dataArrived = new WakeSlot();
  /** The reader waits for the request to take what it received. */
  private readonly drained = new WakeSlot();
  private readError: unknown = null;
  private eof = false;
  private closed = false;
  private ended = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly stream: ByteStream,
    limits: HttpLimits,
  ) {
    this.conn = new HttpConnection('client', limits);
    this.deadline = new Deadline(runtime);
  }

  /** The idle timeout passed (see HttpAgent's release). */
  expire(): void {
    this.destroy();
  }

  start(): void {
    this.reader = this.runtime.spawn(() => this.readLoop(), 'http client reader', { signal: false }); // ends when the stream closes
  }

  /** Whether a new request may be sent on it now. */
  get reusable(): boolean {
    const conn = this.conn;
    return !this.closed && !this.eof && this.readError === null && conn.ourState === 'IDLE' && conn.theirState === 'IDLE' && conn.pendingBytes === 0;
  }

  /** Requests sent on it whose responses have not been read to their end. */
  get inFlightCount(): number {
    return this.inFlight.length;
  }

  /** Whether a pipelinable request may be sent now behind those in flight (fewer than `depth`). */
  canPipeline(depth: number): boolean {
    const count = this.inFlight.length;
    return count > 0 && count < depth && this.pipelineOpen && !this.isClosed && this.conn.canPipeline;
  }

  /** `exchange` sent its request on this connection (`pipelinable`: others may follow it). */
  join(exchange: Exchange, pipelinable: boolean): void {
    if (this.inFlight.length === 0) {
      this.received = 0;
      this.pipelineOpen = true;
      this.answering = exchange;
    }
    this.inFlight.push(exchange);
    if (!pipelinable) this.pipelineOpen = false;
  }

  /** Wait until the responses before `exchange`'s have been read; a ConnectionLostError if the connection ends first. */
  async awaitTurn(exchange: Exchange): Promise<void> {
    while (this.inFlight[0] !== exchange) {
      // Its own failure first (an abort closes the connection, which wakes every turn).
      exchange.check();
      if (this.closed) throw new ConnectionLostError('the connection ended before the response to a pipelined request');
      await exchange.wait<void>('HTTP_CLIENT_PIPELINE_TURN', (wake) => {
        this.turnWaits.set(exchange, wake);
        return () => this.turnWaits.delete(exchange);
      });
    }
    exchange.check();
    // A peer that closed after answering is seen by `next` (what it sent is read first).
    if (this.closed) throw new ConnectionLostError('the connection ended before the response to a pipelined request');
    // The bytes already received belong to this response (or later ones): see `received`.
    this.received = this.conn.pendingBytes;
    this.answering = exchange;
  }

  /** Whether `exchange`'s response may have begun to arrive (its turn came). */
  isAnswering(exchange: Exchange): boolean {
    return this.answering === exchange;
  }

  /** The response being read is over: the next exchange's turn (woken by `passTurn`). */
  endTurn(): void {
    this.inFlight.shift();
    if (this.inFlight.length === 0) this.pipelineOpen = true;
  }

  /** Wake the exchange whose turn it is now. */
  passTurn(): void {
    const next = this.inFlight[0];
    if (next === undefined) return;
    const wake = this.turnWaits.get(next);
    this.turnWaits.delete(next);
    wake?.resolve();
  }

  /** Whether the connection has ended (closed, or the peer closed it). */
  get isClosed(): boolean {
    return this.closed || this.eof || this.readError !== null;
  }

  /**
   * Idle in the pool (true) or taken out (false). An idle connection stops keeping the process
   * alive only when `unrefIfIdle` is called (HttpAgent does, a little later: a connection taken
   * again at once is neither unref'd nor ref'd, two calls into Node per request less); one taken
   * out keeps it alive again.
   */
  idle(idle: boolean): void {
    this.isIdle = idle;
    if (!idle && !this.referenced) {
      this.referenced = true;
      this.stream.ref?.();
    }
  }

  /** If still idle, the stream no longer keeps the process alive (see `idle`). */
  unrefIfIdle(): void {
    if (this.isIdle && this.referenced && !this.closed) {
      this.referenced = false;
      this.stream.unref?.();
    }
  }

  private isIdle = false;
  /** The stream keeps the process alive (it was not unref'd, or was ref'd again). */
  private referenced = true;
  /** Waiting for the agent's `unrefIfIdle` (see HttpAgent's unrefLater). */
  unrefQueued = false;

  /**
   * The exchange whose failure (abort, timeout, a cancelled body) closed the connection: the
   * requests pipelined with it did nothing wrong, and may be sent again.
   */
  failedBy: Exchange | null = null;

  /** Close the stream and stop the reader (`failed`: the exchange whose failure closes it). Idempotent. */
  destroy(failed?: Exchange): void {
    if (this.closed) return;
    this.closed = true;
    if (failed !== undefined) this.failedBy = failed;
    this.deadline.stop();
    this.stream.close();
    this.reader?.cancel();
    this.dataArrived.fire();
    this.drained.fire();
    this.wakeAllTurns();
    this.end();
    // The parser's memory goes once the reader cannot feed it any more.
    void this.finished.then(() => this.conn.destroy());
  }

  /** Resolves once the reader has stopped. */
  get finished(): Promise<void> {
    return this.reader?.done ?? Promise.resolve();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    const onEnd = this.onEnd;
    this.onEnd = null;
    onEnd?.(this);
  }

  // Reading -----------------------------------------------------------------------------------

  private async readLoop(): Promise<void> {
    try {
      while (!this.closed) {
        if (this.conn.pendingBytes >= READ_HIGH_WATER) {
          await this.runtime.wait<void>('HTTP_CLIENT_READ_PAUSED', new FnWaiter<void>((wake) => this.drained.set(wake)));
          continue;
        }
        // With the sink, the chunks of a keep-alive connection's responses are handled as they
        // arrive, and the read stays pending from one response to the next (node runtime).
        const chunk = await this.stream.read(this.sink);
        if (this.closed) break;
        if (this.readError !== null) throw this.readError;
        if (chunk === null || chunk.length === 0) {
          this.eof = true;
          this.conn.receiveData(EMPTY);
          break;
        }
        if (chunk !== this.sunk) this.receive(chunk);
        this.sunk = null;
      }
    } catch (error) {
      if (!this.closed) this.readError = error;
    }
    this.dataArrived.fire();
    if (this.eof || this.readError !== null) {
      this.wakeAllTurns();
      this.end();
    }
  }

  /** The connection ended: every exchange waiting for its turn wakes (and finds it closed). */
  private wakeAllTurns(): void {
    if (this.turnWaits.size === 0) return;
    const wakes = [...this.turnWaits.values()];
    this.turnWaits.clear();
    for (const wake of wakes) wake.resolve();
  }

  /** The last chunk the sink handled (a read that settles with it must not hand it over again). */
  private sunk: Uint8Array | null = null;

  /** The read's sink: take the chunk now, and keep the read pending below the high-water mark. */
  private readonly sink = (chunk: Uint8Array): boolean => {
    if (this.closed || chunk.length === 0) return false;
    try {
      this.receive(chunk);
    } catch (error) {
      this.readError = error;
      this.sunk = chunk;
      return false;
    }
    if (this.conn.pendingBytes < READ_HIGH_WATER) return true;
    this.sunk = chunk;
    return false;
  };

  private receive(chunk: Uint8Array): void {
    this.received += chunk.length;
    this.conn.receiveData(chunk);
    this.dataArrived.fire();
  }

  /** The next event the received bytes make, or NEED_DATA / PAUSED; errors translated. */
  private take(): HttpEvent | typeof NEED_DATA | typeof PAUSED {
    let event;
    try {
      event = this.conn.nextEvent();
    } catch (error) {
      throw this.translate(error);
    }
    if (this.conn.pendingBytes < READ_HIGH_WATER / 2) this.drained.fire();
    return event;
  }

  /**
   * The next event of the response, waiting (through `exchange`) for bytes as needed. Rejects
   * with the exchange's failure, a ConnectionLostError when the connection ends in the middle
   * of the response, or a ProtocolViolationError when the server's bytes are not HTTP.
   */
  async next(exchange: Exchange): Promise<HttpEvent> {
    for (;;) {
      const event = this.nextNow(exchange);
      if (event !== null) return event;
      await this.arrival(exchange);
    }
  }

  /** The next event of the response if one is ready now, else null (then wait for `arrival`); throws as `next` rejects. */
  nextNow(exchange: Exchange): HttpEvent | null {
    exchange.check();
    if (this.closed) throw new ConnectionLostError('the connection was closed');
    const event = this.take();
    if (event === PAUSED) throw new ProtocolViolationError('the server sent more than one response');
    if (event !== NEED_DATA) return event;
    if (this.readError !== null) throw this.lost(this.readError);
    if (this.closed) throw new ConnectionLostError('the connection was closed');
    return null;
  }

  /** Wait (through `exchange`) until more bytes arrived, or the connection ended. */
  arrival(exchange: Exchange): Promise<void> {
    return exchange.park('HTTP_CLIENT_READ', this.dataArrived);
  }

  /** The caller's wait for the response head, read by `reader` as bytes arrive (Exchange.awaitHead). */
  awaitHead<T>(exchange: Exchange, reader: HeadReader): Promise<T> {
    return exchange.awaitHead<T>('HTTP_CLIENT_READ', this.dataArrived, reader);
  }

  /** Park `exchange`'s head wait again (its head is not complete yet). */
  parkHead(exchange: Exchange, wake: Wake<unknown>): void {
    exchange.parkAgain(this.dataArrived, wake);
  }

  /** The next event if one is ready now (no wait); null otherwise. Errors as `next`. */
  poll(): HttpEvent | null {
    if (this.closed) return null;
    const event = this.take();
    return event === NEED_DATA || event === PAUSED ? null : event;
  }

  /** Write `bytes`; a broken stream is a ConnectionLostError. */
  async write(bytes: Uint8Array, exchange: Exchange): Promise<void> {
    try {
      await this.stream.write(bytes);
    } catch (error) {
      exchange.check();
      throw this.lost(error);
    }
    exchange.check();
  }

  /**
   * Write `bytes` without waiting for the stream to take them (a request sent whole: what
   * follows is reading its response). A write that fails breaks the connection as a read
   * error does: the response's reader then gets a ConnectionLostError (`next`).
   */
  post(bytes: Uint8Array): void {
    const stream = this.stream;
    if (stream.writeNow === undefined) {
      stream.write(bytes).then(undefined, this.writeFailed);
      return;
    }
    // The stream says at once what became of the bytes: no Promise (and no job) per request
    // unless it must drain.
    let outcome: boolean | Promise<void>;
    try {
      outcome = stream.writeNow(bytes);
    } catch (error) {
      this.writeFailed(error);
      return;
    }
    if (typeof outcome !== 'boolean') outcome.then(undefined, this.writeFailed);
  }

  private readonly writeFailed = (error: unknown): void => {
    if (this.closed) return;
    if (this.readError === null) this.readError = error;
    this.dataArrived.fire();
  };

  private lost(cause: unknown): ConnectionLostError {
    const code = cause instanceof ConnectionError ? ` (${cause.code})` : '';
    return new ConnectionLostError(`the connection broke before the response was complete${code}`, { cause });
  }

  private translate(error: unknown): unknown {
    if (error instanceof RemoteProtocolError) {
      // The end of the stream in the middle of a response, or before it (the peer's state
      // forbids a close there).
      if (error.code === 'ERR_TRUNCATED' || (this.eof && error.code === 'ERR_STATE')) return new ConnectionLostError('the server closed the connection in the middle of the response', { cause: error });
      return new ProtocolViolationError(`the server's response is not valid HTTP/1.1: ${error.message}`, { cause: error });
    }
    return error;
  }
}

/** One waiting party at most, woken once. */
class WakeSlot implements Parking {
  private wake: Wake<unknown> | null = null;
  private watcher: Watcher | null = null;

  set(wake: Wake<void>): void {
    this.wake = wake as Wake<unknown>;
    this.watcher = null;
  }

  watch(wake: Wake<unknown>, watcher: Watcher): void {
    this.wake = wake;
    this.watcher = watcher;
  }

  /** Drop `wake` if it is still the one waiting. */
  forget(wake: Wake<void>): void {
    if (this.wake === (wake as Wake<unknown>)) {
      this.wake = null;
      this.watcher = null;
    }
  }

  fire(): void {
    const wake = this.wake;
    if (wake === null) return;
    const watcher = this.watcher;
    this.wake = null;
    this.watcher = null;
    if (watcher !== null) watcher.arrived(wake);
    else wake.resolve(undefined);
  }
}
