// engine/connection.ts
//
// One pipelined connection: a byte stream, a protocol session, a reader. Calls in, responses
// out, in order. It knows nothing of reconnects, pools or timeouts (engine.ts does).
//
// Invariants:
// - A call is encoded only when the burst it was issued in ends (`flush`, via runtime.defer):
//   every call issued in one burst leaves in one write (auto-pipelining), and a call abandoned
//   before that is never sent at all.
// - A call abandoned after it was written is settled at once when its session can discard the
//   response (or closes the connection), so no response ever reaches the wrong caller; when the
//   session resynchronises instead, the call stays until the session settles it.
// - When the connection ends, every call that was written and is unanswered, and every call
//   still queued, is handed back to the owner (`onLost`), which decides between retrying and
//   failing it. A protocol violation ends it with ProtocolViolationError.
//
// Discussion: queues. Nothing is allocated per call here. Submitted calls go to `queued`, one
// of a pair of arrays that swap at each flush and keep their capacity (setting an array's
// length to 0 would let V8 trim its backing store, and a fresh `[]` per flush regrows it by
// copying, a burst of 200 000 calls at a time); written calls wait in a ring that doubles when
// full and never shrinks. Slots are cleared as they are consumed, so no settled call is kept.
//
// Discussion: reading. The reader is a loop awaiting `stream.read()`, given a sink
// (runtime.ts's ReadSink): a stream that can (node's) hands each chunk to the sink from its
// data event, and the session decodes it and settles its calls there and then, with no Promise
// made or settled per chunk and no turn between the bytes and the caller. The loop's read then
// stays pending and settles only at the end of the stream, on an error, or when the sink ends
// it: after a chunk that paused reading (the loop must park with no read pending: startTls
// needs that), the chunk already handled (`handledByPush`). A stream that ignores the sink
// settles the read with each chunk, handled by the loop the same way.

import { ConnectionError, ProtocolViolationError } from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { ByteStream, Runtime, StartTlsOptions, Wake } from '../runtime.js';
import type { AbandonResult, ProtocolSession, SessionSink } from './adapter.js';
import type { EngineCall } from './call.js';
import type { ConnectFunction } from './options.js';

/** What a connection tells its owner. */
export interface ConnectionOwner<C extends EngineCall, Ev> {
  /** The connection ended; `unanswered` were written and got no response; `queued` were not sent. */
  onLost(connection: EngineConnection<C, Ev>, error: ConnectionError, unanswered: C[], queued: C[]): void;
  /** The peer sent something that answers no call. */
  onEvent(connection: EngineConnection<C, Ev>, event: Ev): void;
  /**
   * Send bytes on a short connection of their own (SessionSink.sendAside), opened with
   * `connect` (the connection's own route: the same server); `done` once it is over.
   */
  sendAside(bytes: Uint8Array, done?: () => void, connect?: ConnectFunction): void;
}

/** One connection: a stream, a protocol session, a reader. */
export class EngineConnection<C extends EngineCall, Ev, S extends ProtocolSession<C, Ev> = ProtocolSession<C, Ev>> implements SessionSink<C, Ev> {
  /** Calls submitted since the last flush: `queued[0 .. queuedCount)` (see "Discussion: queues"). */
  private queued: (C | undefined)[] = [];
  private queuedCount = 0;
  /** The other array of the pair `queued` swaps with at each flush. */
  private spare: (C | undefined)[] = [];
  /** Written calls awaiting their responses, oldest first: a ring of `written.length` (a power of two) slots. */
  private written: (C | undefined)[] = new Array<C | undefined>(16).fill(undefined);
  private writtenHead = 0;
  private writtenCount = 0;
  private flushScheduled = false;
  /** Queued calls at which a burst's first part is written before its flush (see writeEarly). */
  private earlyAt = EARLY_WRITE_FROM;
  private closed = false;
  private responses = 0;
  private readyWake: Wake<void> | null = null;
  private readyOutcome: Error | true | null = null;
  private lostError: ConnectionError | null = null;
  private pausedBy = 0;
  private resumeWake: Wake<void> | null = null;
  private stream: ByteStream;
  private readonly flushNow = (): void => this.flush();
  /** When it was opened (the runtime's clock): a pool's maxLifetime counts from it. */
  readonly openedAt: number;
  /** When it last went idle in a pool (the runtime's clock; set by the engine). */
  idleSince = 0;
  /** Set by `onChunk` when it handled a chunk and then ended the read with it (see readLoop). */
  private handledByPush = false;
  /** The reader's ReadSink: each chunk handled as it arrives (see "Discussion: reading"). */
  private readonly onChunk = (chunk: Uint8Array): boolean => {
    if (this.closed) return false;
    let handled: boolean;
    try {
      handled = this.handle(chunk);
    } catch (error) {
      // Called from the stream's own event: nothing may escape (the read loop's catch, here).
      this.stream.close();
      this.lost(asConnectionError(error, 'read failed'));
      return false;
    }
    if (handled && this.pausedBy === 0) return true;
    // Paused by the session (or closed): end the read, so that the loop parks with no read
    // pending (startTls needs that); it must not handle that chunk again.
    this.handledByPush = true;
    return false;
  };

  constructor(
    private readonly runtime: Runtime,
    stream: ByteStream,
    /** The protocol session. */
    readonly session: S,
    private readonly owner: ConnectionOwner<C, Ev>,
    /** For task names and messages. */
    readonly label: string,
    /** How this connection was opened (its route): a CancelRequest goes to the same server. */
    private readonly reopen?: ConnectFunction,
  ) {
    this.stream = stream;
    this.openedAt = runtime.now();
    runtime.spawn(() => this.readLoop(), `reader ${label}`, { signal: false }); // the loop ends when the stream closes: no AbortSignal held per connection
  }

  /** Calls written and not yet answered, plus calls waiting to be written. */
  get inFlight(): number {
    return this.writtenCount + this.queuedCount;
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Responses delivered to calls so far (the owner tells a working connection by it). */
  get responsesDelivered(): number {
    return this.responses;
  }

  /** The TLS session, once upgraded or when connected with TLS. */
  get tls(): ByteStream['tls'] {
    return this.stream.tls ?? null;
  }

  /** Queue a call for the next flush. */
  submit(call: C): void {
    if (this.closed) {
      this.owner.onLost(this, this.lostError ?? new ConnectionError('connection closed'), [], [call]);
      return;
    }
    call.connection = this;
    const queued = this.queued;
    if (this.queuedCount < queued.length) queued[this.queuedCount] = call;
    else queued.push(call);
    if (++this.queuedCount >= this.earlyAt) this.writeEarly();
    else this.scheduleFlush();
  }

  /**
   * A call is abandoned. A queued call is skipped at flush time (the caller marks it done); a
   * written one is handed to the session, whose answer is returned (on 'close', the caller
   * settles the call, then closes the connection).
   */
  abandon(call: C): AbandonResult {
    if (call.state !== 'written') return 'discard';
    const result = this.session.abandon(call, this);
    if (result === 'pending') {
      call.state = 'abandoning';
      // What the session wrote to resynchronise (a cancel request) goes out now.
      if (this.session.hasDataToSend) this.scheduleFlush();
    }
    return result;
  }

  /**
   * Send a call of the connection's own (handshake steps) and wait for its result. Cancelling
   * the wait closes the connection.
   */
  request<T>(call: C): Promise<T> {
    return this.runtime.wait<T>(
      'HANDSHAKE',
      new FnWaiter<T>(
        (wake) => {
          call.onSettled = null;
          call.start(wake as Wake<unknown>);
          this.submit(call);
        },
        () => this.close(),
      ),
    );
  }

  /** Wait until the session reports the end of a handshake it drives. */
  untilReady(): Promise<void> {
    const outcome = this.readyOutcome;
    if (outcome === true) return Promise.resolve();
    if (outcome !== null) return Promise.reject(outcome);
    return this.runtime.wait<void>(
      'HANDSHAKE',
      new FnWaiter<void>(
        (wake) => {
          this.readyWake = wake;
        },
        () => {
          this.readyWake = null;
          this.close();
        },
      ),
    );
  }

  /** Write what the session encoded by itself. */
  flushSoon(): void {
    this.scheduleFlush();
  }

  /** Whether the stream can be upgraded to TLS. */
  get canStartTls(): boolean {
    return this.stream.startTls !== undefined;
  }

  /** Upgrade to TLS: only while nothing is in flight. */
  async startTls(options: StartTlsOptions): Promise<NonNullable<ByteStream['tls']>> {
    const upgrade = this.stream.startTls;
    if (upgrade === undefined) throw new ConnectionError('this transport cannot start TLS', 'ERR_NO_TLS');
    // The reader must be parked (the session pauses reading at the byte that announces the
    // upgrade, Postgres's 'S'), so that no read of the plain stream is under way: it resumes on
    // the TLS stream once the upgrade is done.
    if (this.inFlight > 0 || this.pausedBy === 0) throw new ConnectionError('startTls needs a connection with nothing in flight whose session paused reading', 'ERR_TLS_BUSY');
    const resume = this.pauseReading();
    try {
      this.stream = await upgrade.call(this.stream, options);
    } catch (error) {
      this.fail(asConnectionError(error, 'TLS upgrade failed'));
      throw error;
    } finally {
      resume();
    }
    return this.stream.tls ?? { peerCertificate: null, protocol: null, alpnProtocol: null, authorized: false };
  }

  /** Close the connection; calls in flight are handed back through onLost. */
  close(): void {
    this.fail(new ConnectionError('connection closed by the client', 'ERR_CONNECTION_CLOSED'));
  }

  /** Close the connection for `error` (a timeout...): the handshake and calls end with it. */
  fail(error: ConnectionError): void {
    if (this.closed) return;
    this.stream.close();
    this.lost(error);
  }

  // -------------------------------------------------------------------------------------------
  // SessionSink

  /** SessionSink: the written call with this id, dropping abandoned calls before it. */
  take(id: number): C | null {
    const written = this.written;
    const mask = written.length - 1;
    while (this.writtenCount > 0) {
      const head = this.writtenHead;
      const call = written[head] as C;
      written[head] = undefined;
      this.writtenHead = (head + 1) & mask;
      this.writtenCount--;
      if (call.id === id) {
        if (call.state !== 'written' && call.state !== 'abandoning') return null;
        this.responses++;
        call.responded();
        return call;
      }
    }
    return null;
  }

  /** SessionSink (see adapter.ts). */
  event(event: Ev): void {
    if (!this.closed) this.owner.onEvent(this, event);
  }

  /** SessionSink (see adapter.ts). */
  sendAside(bytes: Uint8Array, done?: () => void): void {
    if (done === undefined) {
      this.owner.sendAside(bytes, undefined, this.reopen);
      return;
    }
    this.owner.sendAside(
      bytes,
      () => {
        done();
        // The session may have held bytes back until now.
        if (!this.closed && this.session.hasDataToSend) this.scheduleFlush();
      },
      this.reopen,
    );
  }

  /** SessionSink (see adapter.ts). */
  resubmit(call: C): void {
    if (call.done) return;
    call.state = 'queued';
    call.id = 0;
    this.submit(call);
  }

  /** SessionSink (see adapter.ts). */
  ready(): void {
    const wake = this.readyWake;
    this.readyWake = null;
    if (wake !== null) wake.resolve();
    else this.readyOutcome = true;
  }

  /** SessionSink (see adapter.ts). */
  handshakeFailed(error: Error): void {
    const wake = this.readyWake;
    this.readyWake = null;
    if (wake !== null) wake.reject(error);
    else this.readyOutcome = error;
    this.close();
  }

  /** SessionSink (see adapter.ts). */
  pauseReading(): () => void {
    this.pausedBy++;
    let resumed = false;
    return () => {
      if (resumed) return;
      resumed = true;
      if (--this.pausedBy > 0) return;
      const wake = this.resumeWake;
      this.resumeWake = null;
      wake?.resolve();
    };
  }

  // -------------------------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.runtime.defer(this.flushNow);
  }

  /**
   * A long burst of calls (a pipeline, a Promise.all, many tasks each awaiting its own call):
   * write what it has made so far now, so that the server works on that part while the rest is
   * made, instead of the two sides taking turns on whole bursts. Each part is twice the one
   * before (256, 512, 1024... calls), so a burst of n calls costs about log2(n / 256) writes
   * more; the count starts again at the burst's own flush. Measured (issue 9, 200 000 GETs,
   * interleaved in one process): from 1 000 curio tasks +21-30%, Promise.all +7-17% on node and
   * +37% on curio, a pipeline +35-57%; parts of a fixed 256 calls cost node's Promise.all 3-14%.
   */
  private writeEarly(): void {
    this.earlyAt *= 2;
    this.encodeAndWrite();
    this.scheduleFlush();
  }

  /**
   * Write what the session encoded by itself now (a COPY's data), and resolve once the stream
   * accepted it: at once below its high-water mark, else when it drained (so a producer that
   * awaits this holds bounded memory). Rejects with the connection's error once it is closed.
   */
  writeNow(): Promise<void> {
    if (this.closed) return Promise.reject(this.lostError ?? new ConnectionError('connection closed'));
    this.flush();
    return this.lastWrite;
  }

  /** The last write's Promise (see writeNow). */
  private lastWrite: Promise<void> = Promise.resolve();

  /** Encode every queued call still wanted and write them in one go: the end of a burst. */
  private flush(): void {
    this.flushScheduled = false;
    this.earlyAt = EARLY_WRITE_FROM;
    this.encodeAndWrite();
  }

  private encodeAndWrite(): void {
    if (this.closed) return;
    // Swap the pair first: a call submitted while this one is encoded goes to the next flush.
    const queued = this.queued;
    const count = this.queuedCount;
    this.queued = this.spare;
    this.queuedCount = 0;
    const session = this.session;
    if (count >= EXPECT_FROM && session.expect !== undefined) session.expect(count, queued[0] as C);
    for (let i = 0; i < count; i++) {
      const call = queued[i] as C;
      queued[i] = undefined;
      if (call.state !== 'queued') continue;
      try {
        call.id = session.send(call);
      } catch (error) {
        // Arguments are checked when a call is made; should one still fail to encode, that
        // call fails alone and nothing of it is sent.
        call.fail(error);
        continue;
      }
      call.state = 'written';
      this.pushWritten(call);
    }
    this.spare = queued;
    const data = session.dataToSend();
    if (data === null) return;
    const written = this.stream.write(data);
    this.lastWrite = written;
    // A stream hands back the same fulfilled Promise whenever it takes the bytes at once (the
    // usual case): once that Promise is known fulfilled, it cannot fail, and no handler (a
    // derived Promise and a microtask per flush) is attached to it again.
    if (written === this.fulfilledWrite) return;
    written.then(() => {
      this.fulfilledWrite = written;
    }, this.onWriteError);
  }

  /** The last Promise of `stream.write` seen fulfilled (see flush). */
  private fulfilledWrite: Promise<void> | null = null;

  private readonly onWriteError = (error: unknown): void => {
    this.stream.close();
    this.lost(asConnectionError(error, 'write failed'));
  };

  /** Append to the ring of written calls, doubling it when full. */
  private pushWritten(call: C): void {
    let written = this.written;
    if (this.writtenCount === written.length) {
      const size = written.length;
      const grown = new Array<C | undefined>(size * 2).fill(undefined);
      for (let i = 0; i < size; i++) grown[i] = written[(this.writtenHead + i) & (size - 1)];
      this.written = written = grown;
      this.writtenHead = 0;
    }
    written[(this.writtenHead + this.writtenCount) & (written.length - 1)] = call;
    this.writtenCount++;
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.pausedBy > 0) await this.waitResumed();
        if (this.closed) return;
        const chunk = (await this.stream.read(this.onChunk)) ?? EMPTY;
        if (this.closed) return;
        if (this.handledByPush) {
          this.handledByPush = false;
          continue;
        }
        if (!this.handle(chunk)) return;
        if (chunk.length === 0) break;
      }
      this.lost(new ConnectionError('connection closed by the server', 'ERR_CONNECTION_CLOSED'));
    } catch (error) {
      this.stream.close();
      this.lost(asConnectionError(error, 'read failed'));
    }
  }

  /**
   * Hand a chunk (an empty one: the end of the stream) to the session; false when that ended
   * the connection (a protocol violation, a stream cut inside a message, or a close meanwhile).
   */
  private handle(chunk: Uint8Array): boolean {
    const session = this.session;
    try {
      session.receive(chunk, this);
    } catch (error) {
      this.stream.close();
      if (chunk.length === 0) {
        // The stream ended inside a message (a server killed mid-reply): the connection was
        // lost, the peer did not break the protocol, so retryable calls may go again.
        this.lost(new ConnectionError('connection closed by the server in the middle of a response', 'ERR_CONNECTION_CLOSED', { cause: error }));
      } else {
        this.lost(error instanceof ProtocolViolationError ? error : new ProtocolViolationError(error instanceof Error ? error.message : String(error), { cause: error }));
      }
      return false;
    }
    if (this.closed) return false;
    if (!this.flushScheduled && session.hasDataToSend) this.scheduleFlush();
    return true;
  }

  private waitResumed(): Promise<void> {
    return this.runtime.wait<void>(
      'READ_PAUSED',
      new FnWaiter<void>((wake) => {
        if (this.pausedBy === 0) wake.resolve();
        else this.resumeWake = wake;
      }),
    );
  }

  private lost(error: ConnectionError): void {
    if (this.closed) return;
    this.closed = true;
    this.lostError = error;
    const wake = this.readyWake;
    this.readyWake = null;
    wake?.reject(error);
    const resume = this.resumeWake;
    this.resumeWake = null;
    resume?.resolve();
    const unanswered: C[] = [];
    const written = this.written;
    for (let i = 0; i < this.writtenCount; i++) {
      const slot = (this.writtenHead + i) & (written.length - 1);
      const call = written[slot] as C;
      written[slot] = undefined;
      if (call.state === 'written' || call.state === 'abandoning') unanswered.push(call);
    }
    this.writtenHead = 0;
    this.writtenCount = 0;
    const queued: C[] = [];
    for (let i = 0; i < this.queuedCount; i++) {
      const call = this.queued[i] as C;
      this.queued[i] = undefined;
      if (call.state === 'queued') queued.push(call);
    }
    this.queuedCount = 0;
    this.owner.onLost(this, error, unanswered, queued);
  }
}

const EMPTY = new Uint8Array(0);

/** Bursts of at least this many calls are announced to the session (ProtocolSession.expect). */
const EXPECT_FROM = 64;

/** Calls queued in one burst before its first part is written early (Connection.writeEarly). */
const EARLY_WRITE_FROM = 256;

/** Any error of a stream, as a ConnectionError (kept if it is one). */
export function asConnectionError(error: unknown, what: string): ConnectionError {
  if (error instanceof ConnectionError) return error;
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'ERR_CONNECTION';
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionError(`${what}: ${message}`, code, { cause: error });
}
