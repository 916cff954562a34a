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

import { ConnectionError, ProtocolViolationError } from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { ByteStream, Runtime, StartTlsOptions, Wake } from '../runtime.js';
import type { AbandonResult, ProtocolSession, SessionSink } from './adapter.js';
import type { EngineCall } from './call.js';

/** What a connection tells its owner. */
export interface ConnectionOwner<C extends EngineCall, Ev> {
  /** The connection ended; `unanswered` were written and got no response; `queued` were not sent. */
  onLost(connection: EngineConnection<C, Ev>, error: ConnectionError, unanswered: C[], queued: C[]): void;
  /** The peer sent something that answers no call. */
  onEvent(connection: EngineConnection<C, Ev>, event: Ev): void;
}

/** One connection: a stream, a protocol session, a reader. */
export class EngineConnection<C extends EngineCall, Ev, S extends ProtocolSession<C, Ev> = ProtocolSession<C, Ev>> implements SessionSink<C, Ev> {
  private queued: C[] = [];
  private readonly written: C[] = [];
  private writtenHead = 0;
  private flushScheduled = false;
  private closed = false;
  private responses = 0;
  private readyWake: Wake<void> | null = null;
  private readyOutcome: Error | true | null = null;
  private lostError: ConnectionError | null = null;
  private pausedBy = 0;
  private resumeWake: Wake<void> | null = null;
  private stream: ByteStream;
  private readonly flushNow = (): void => this.flush();

  constructor(
    private readonly runtime: Runtime,
    stream: ByteStream,
    /** The protocol session. */
    readonly session: S,
    private readonly owner: ConnectionOwner<C, Ev>,
    /** For task names and messages. */
    readonly label: string,
  ) {
    this.stream = stream;
    runtime.spawn(() => this.readLoop(), `reader ${label}`);
  }

  /** Calls written and not yet answered, plus calls waiting to be written. */
  get inFlight(): number {
    return this.written.length - this.writtenHead + this.queued.length;
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
    this.queued.push(call);
    this.scheduleFlush();
  }

  /**
   * A call is abandoned. A queued call is skipped at flush time (the caller marks it done); a
   * written one is handed to the session, whose answer is returned (on 'close', the caller
   * settles the call, then closes the connection).
   */
  abandon(call: C): AbandonResult {
    if (call.state !== 'written') return 'discard';
    const result = this.session.abandon(call);
    if (result === 'pending') call.state = 'abandoning';
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
    while (this.writtenHead < this.written.length) {
      const call = this.written[this.writtenHead] as C;
      this.written[this.writtenHead] = undefined as unknown as C;
      this.writtenHead++;
      if (this.writtenHead > 4096 && this.writtenHead * 2 > this.written.length) {
        this.written.splice(0, this.writtenHead);
        this.writtenHead = 0;
      }
      if (call.id === id) {
        if (call.state !== 'written' && call.state !== 'abandoning') return null;
        this.responses++;
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

  /** Encode every queued call still wanted and write them in one go. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const queued = this.queued;
    this.queued = [];
    const session = this.session;
    for (const call of queued) {
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
      this.written.push(call);
    }
    const data = session.dataToSend();
    if (data === null) return;
    this.stream.write(data).then(undefined, (error: unknown) => {
      this.stream.close();
      this.lost(asConnectionError(error, 'write failed'));
    });
  }

  private async readLoop(): Promise<void> {
    const session = this.session;
    try {
      for (;;) {
        if (this.pausedBy > 0) await this.waitResumed();
        if (this.closed) return;
        const chunk = (await this.stream.read()) ?? EMPTY;
        if (this.closed) return;
        try {
          session.receive(chunk, this);
        } catch (error) {
          this.stream.close();
          this.lost(error instanceof ProtocolViolationError ? error : new ProtocolViolationError(error instanceof Error ? error.message : String(error), { cause: error }));
          return;
        }
        if (this.closed) return;
        if (!this.flushScheduled && session.hasDataToSend) this.scheduleFlush();
        if (chunk.length === 0) break;
      }
      this.lost(new ConnectionError('connection closed by the server', 'ERR_CONNECTION_CLOSED'));
    } catch (error) {
      this.stream.close();
      this.lost(asConnectionError(error, 'read failed'));
    }
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
    for (let i = this.writtenHead; i < this.written.length; i++) {
      const call = this.written[i] as C;
      if (call.state === 'written' || call.state === 'abandoning') unanswered.push(call);
    }
    this.written.length = 0;
    this.writtenHead = 0;
    const queued = this.queued.filter((call) => call.state === 'queued');
    this.queued = [];
    this.owner.onLost(this, error, unanswered, queued);
  }
}

const EMPTY = new Uint8Array(0);

/** Any error of a stream, as a ConnectionError (kept if it is one). */
export function asConnectionError(error: unknown, what: string): ConnectionError {
  if (error instanceof ConnectionError) return error;
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'ERR_CONNECTION';
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionError(`${what}: ${message}`, code, { cause: error });
}
