// redis/connection.ts
//
// One Redis connection driven by the sans-IO state machine over a runtime's ByteStream. It
// knows nothing of reconnects or command typing: calls in, replies out, in order.
//
// Invariants:
// - A call is encoded only when the burst it was issued in ends (`flush`, via runtime.defer):
//   every call issued in one burst leaves in one write (auto-pipelining), and a call cancelled
//   before that is never sent at all.
// - A call cancelled after it was written is settled at once; its reply is discarded by the
//   state machine when it arrives, so no reply ever reaches the wrong caller.
// - When the connection ends, every call that was written and is unanswered is handed back to
//   the owner (`onLost`), which decides between retrying and failing it.
// - The handshake is HELLO (with AUTH and SETNAME) through the state machine, then SELECT as a
//   command of the connection's own: each failure names the command that failed.

import { RedisClientProtocol, RemoteProtocolError, RespErrorReply } from '@curio-ts/proto-redis';
import type { HandshakeOptions, RedisArg, RedisClientEvent, RespAttributes, RespPush, RespValue, RespVersion } from '@curio-ts/proto-redis';
import { ClientError, ConnectionError, InvalidArgumentError, ProtocolViolationError, RedisError } from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { ByteStream, Runtime, Wake, Waiter } from '../runtime.js';

/** What starts and ends calls (the client engine). */
export interface CallOwner {
  /** The call's wait began: arrange timers and hand it to a connection. */
  begin(call: Call): void;
  /** End a call early (timeout, abort, runtime cancellation when `error` is null). */
  abandon(call: Call, error: unknown): void;
}

/** One command on its way. It is its own Waiter, so a call costs one object. */
export class Call implements Waiter<RespValue> {
  /** Id given by the state machine once written; 0 before. */
  id = 0;
  /** queued: not written yet; written: waiting for its reply; done: settled. */
  state: 'queued' | 'written' | 'done' = 'queued';
  /** Set by the waiting side; settling goes through it. */
  wake: Wake<RespValue> | null = null;
  /** Cleanup of timers and abort listeners. */
  cleanup: (() => void) | null = null;
  /** The settled value, kept until the waiter is registered (when it settles synchronously). */
  outcome: { readonly ok: boolean; readonly value: unknown } | null = null;
  /** The connection it was handed to. */
  connection: RedisConnection | null = null;
  /** A blocking command, running on a pool connection of its own. */
  blocking = false;
  /** Called once when the call is settled (returns a pool connection). */
  onSettled: (() => void) | null = null;
  /** Told the RESP3 attributes the server sent before the reply, if any (CallOptions.onAttributes). */
  onAttributes: ((attributes: RespAttributes) => void) | null = null;

  constructor(
    readonly args: readonly RedisArg[],
    readonly name: string,
    readonly bytes: boolean,
    /** Safe to send again after a connection loss (read-only, idempotent). */
    readonly retryable: boolean,
    /** Who begins and abandons it (null for calls driven by hand, as in batches). */
    readonly owner: CallOwner | null = null,
    /** Per-call timeout (ms) and signal. */
    readonly timeout: number | undefined = undefined,
    readonly signal: AbortSignal | undefined = undefined,
    /** Turns the raw reply into the caller's type (applied before the caller sees it). */
    readonly transform: ((reply: RespValue) => unknown) | null = null,
  ) {}

  /** @internal Waiter: the wait began. */
  start(wake: Wake<RespValue>): void {
    this.wake = wake;
    this.owner?.begin(this);
  }

  /** @internal Waiter: the wait began (a Promise runtime hands its resolvers directly). */
  startWith(resolve: (value: RespValue) => void, reject: (error: unknown) => void): void {
    this.resolveFn = resolve;
    this.rejectFn = reject;
    this.owner?.begin(this);
  }

  private resolveFn: ((value: RespValue) => void) | null = null;
  private rejectFn: ((error: unknown) => void) | null = null;

  /** @internal Waiter: the runtime cancelled the wait. */
  cancel(): void {
    this.owner?.abandon(this, null);
  }

  /**
   * Settle with the reply value (an error reply becomes a RedisError). `attributes`, the RESP3
   * attribute map sent before the reply, goes to `onAttributes` first; the value never holds it.
   */
  settle(value: RespValue, attributes: RespAttributes | null = null): void {
    if (attributes !== null && this.onAttributes !== null) {
      try {
        this.onAttributes(attributes);
      } catch (error) {
        this.fail(error);
        return;
      }
    }
    if (value instanceof RespErrorReply) {
      this.fail(new RedisError(value.code, value.message, this.name));
      return;
    }
    const transform = this.transform;
    if (transform === null) {
      this.finish(true, value);
      return;
    }
    let result: unknown;
    try {
      result = transform(value);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.finish(true, result);
  }

  /** Settle with an error. */
  fail(error: unknown): void {
    this.finish(false, error);
  }

  /** End the call without telling its waiter (the runtime already ended the wait). */
  drop(): void {
    this.wake = null;
    this.resolveFn = this.rejectFn = null;
    this.finish(false, null);
  }

  private finish(ok: boolean, value: unknown): void {
    if (this.state === 'done') return;
    this.state = 'done';
    const cleanup = this.cleanup;
    if (cleanup !== null) {
      this.cleanup = null;
      cleanup();
    }
    const settled = this.onSettled;
    if (settled !== null) {
      this.onSettled = null;
      settled();
    }
    const wake = this.wake;
    if (wake !== null) {
      this.wake = null;
      if (ok) wake.resolve(value as RespValue);
      else wake.reject(value);
      return;
    }
    const resolve = this.resolveFn;
    if (resolve !== null) {
      const reject = this.rejectFn as (error: unknown) => void;
      this.resolveFn = this.rejectFn = null;
      if (ok) resolve(value as RespValue);
      else reject(value);
      return;
    }
    this.outcome = { ok, value };
  }
}

/** What a connection tells its owner. */
export interface ConnectionOwner {
  /** The connection ended; `unanswered` were written and got no reply; `queued` were not sent. */
  onLost(connection: RedisConnection, error: ConnectionError, unanswered: Call[], queued: Call[]): void;
  /** A push frame (pub/sub message, invalidation, monitor line). */
  onPush(connection: RedisConnection, push: RespPush): void;
}

/** One connection: a stream, a state machine, a reader. */
export class RedisConnection {
  private readonly machine = new RedisClientProtocol();
  private queued: Call[] = [];
  private readonly written: Call[] = [];
  private writtenHead = 0;
  private flushScheduled = false;
  private closed = false;
  private replies = 0;
  private handshakeWake: Wake<RespVersion> | null = null;
  private lostError: ConnectionError | null = null;
  private readonly flushNow = (): void => this.flush();
  private readonly onReply = (id: number, value: RespValue, attributes: RespAttributes | null): void => {
    const call = this.nextWritten(id);
    if (call !== null) call.settle(value, attributes);
  };
  private readonly onEvent = (event: RedisClientEvent): void => {
    if (!this.closed) this.dispatch(event);
  };

  constructor(
    private readonly runtime: Runtime,
    private readonly stream: ByteStream,
    private readonly owner: ConnectionOwner,
    readonly label: string,
  ) {
    runtime.spawn(() => this.readLoop(), `redis-reader ${label}`);
  }

  /** Protocol version negotiated by the handshake. */
  get protocol(): RespVersion {
    return this.machine.protocol;
  }

  /** Calls written and not yet answered, plus calls waiting to be written. */
  get inFlight(): number {
    return this.written.length - this.writtenHead + this.queued.length;
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The state machine's view (subscribed channels, state). */
  get state(): RedisClientProtocol {
    return this.machine;
  }

  /** Replies delivered to calls so far (the owner tells a working connection by it). */
  get repliesDelivered(): number {
    return this.replies;
  }

  /**
   * Run the handshake: HELLO (AUTH, SETNAME), then SELECT as a command of its own, so that a
   * database the server refuses is a RedisError of SELECT. Resolves with the protocol.
   */
  async handshake(options: HandshakeOptions): Promise<RespVersion> {
    const { db, ...hello } = options;
    this.machine.handshake(hello);
    this.scheduleFlush();
    const protocol = await this.runtime.wait<RespVersion>(
      'REDIS_HANDSHAKE',
      new FnWaiter(
        (wake) => {
          this.handshakeWake = wake;
        },
        () => {
          this.handshakeWake = null;
          this.close();
        },
      ),
    );
    if (db !== undefined && db !== 0) await this.request(['SELECT', db]);
    return protocol;
  }

  /**
   * Send a command of the connection's own (SELECT, INFO) and wait for its reply; an error
   * reply rejects with RedisError. Cancelling the wait closes the connection.
   */
  request(args: readonly RedisArg[]): Promise<RespValue> {
    return this.runtime.wait<RespValue>(
      'REDIS_HANDSHAKE',
      new FnWaiter<RespValue>(
        (wake) => {
          const call = new Call(args, String(args[0]).toUpperCase(), false, false);
          call.wake = wake;
          this.submit(call);
        },
        () => this.close(),
      ),
    );
  }

  /** Queue a call for the next flush. */
  submit(call: Call): void {
    if (this.closed) {
      this.owner.onLost(this, this.lostError ?? new ConnectionError('connection closed'), [], [call]);
      return;
    }
    this.queued.push(call);
    this.scheduleFlush();
  }

  /** A call was cancelled: drop it if unwritten, discard its reply if written. */
  cancel(call: Call): void {
    if (call.state === 'written') this.machine.discard(call.id);
    // queued calls are skipped at flush time (state is 'done').
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
    for (const call of queued) {
      if (call.state !== 'queued') continue;
      try {
        call.id = this.machine.send(call.args, call.bytes ? { bytes: true } : undefined);
      } catch (error) {
        // Arguments are checked when a call is made; should one still fail to encode, that
        // call fails alone and nothing of it is sent.
        call.fail(error instanceof ClientError ? error : new InvalidArgumentError((error as Error).message, (error as { code?: string }).code ?? 'ERR_BAD_ARGUMENT', { cause: error }));
        continue;
      }
      call.state = 'written';
      this.written.push(call);
    }
    const data = this.machine.dataToSend();
    if (data === null) return;
    this.stream.write(data).then(undefined, (error: unknown) => {
      this.stream.close();
      this.lost(asConnectionError(error, 'write failed'));
    });
  }

  private async readLoop(): Promise<void> {
    const machine = this.machine;
    try {
      for (;;) {
        const chunk = (await this.stream.read()) ?? EMPTY;
        machine.receiveData(chunk);
        machine.drain(this.onReply, this.onEvent);
        if (this.closed) return;
        if (this.flushScheduled === false && machine.hasDataToSend) this.scheduleFlush();
        if (chunk.length === 0) break;
      }
      this.lost(new ConnectionError('connection closed by the server', 'ERR_CONNECTION_CLOSED'));
    } catch (error) {
      this.stream.close();
      // The protocol object throws the server's protocol violations (and refuses more input).
      this.lost(error instanceof RemoteProtocolError ? new ProtocolViolationError(error.message, { cause: error }) : asConnectionError(error, 'read failed'));
    }
  }

  private dispatch(event: RedisClientEvent): void {
    switch (event.type) {
      case 'reply': {
        const call = this.nextWritten(event.id);
        if (call !== null) call.settle(event.value, event.attributes);
        return;
      }
      case 'push':
        this.owner.onPush(this, event.push);
        return;
      case 'ready': {
        const wake = this.handshakeWake;
        this.handshakeWake = null;
        wake?.resolve(event.protocol);
        return;
      }
      case 'handshake-failed': {
        const wake = this.handshakeWake;
        this.handshakeWake = null;
        wake?.reject(new RedisError(event.error.code, event.error.message, 'HELLO'));
        this.close();
        return;
      }
      case 'closed': {
        this.stream.close();
        this.lost(new ConnectionError('connection closed by the server', 'ERR_CONNECTION_CLOSED'));
        return;
      }
      default: {
        const unknown: never = event;
        throw new Error(`unexpected event ${String(unknown)}`);
      }
    }
  }

  /** The written call with this id, dropping settled (cancelled) calls before it. */
  private nextWritten(id: number): Call | null {
    while (this.writtenHead < this.written.length) {
      const call = this.written[this.writtenHead] as Call;
      this.written[this.writtenHead] = undefined as unknown as Call;
      this.writtenHead++;
      if (this.writtenHead > 4096 && this.writtenHead * 2 > this.written.length) {
        this.written.splice(0, this.writtenHead);
        this.writtenHead = 0;
      }
      if (call.id === id) {
        if (call.state !== 'written') return null;
        this.replies++;
        return call;
      }
    }
    return null;
  }

  private lost(error: ConnectionError): void {
    if (this.closed) return;
    this.closed = true;
    this.lostError = error;
    const wake = this.handshakeWake;
    this.handshakeWake = null;
    wake?.reject(error);
    const unanswered: Call[] = [];
    for (let i = this.writtenHead; i < this.written.length; i++) {
      const call = this.written[i] as Call;
      if (call.state === 'written') unanswered.push(call);
    }
    this.written.length = 0;
    this.writtenHead = 0;
    const queued = this.queued.filter((call) => call.state === 'queued');
    this.queued = [];
    this.owner.onLost(this, error, unanswered, queued);
  }
}

const EMPTY = new Uint8Array(0);

function asConnectionError(error: unknown, what: string): ConnectionError {
  if (error instanceof ConnectionError) return error;
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'ERR_CONNECTION';
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionError(`${what}: ${message}`, code, { cause: error });
}
