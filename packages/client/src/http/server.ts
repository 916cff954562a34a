// http/server.ts
//
// The HTTP/1.1 server, written once on the Runtime interface: proto-http's connection object
// does the protocol; this file does the IO, the timeouts and the handler's life. Each backend
// re-exports `serveHttp` bound to itself.
//
// Invariants:
// - One background activity per connection (a kernel task on curio) runs its request/response
//   cycles in order, and the handler runs in it. It reads the stream itself whenever it needs
//   bytes (waiting for a request, reading a body). Only while it is busy with something else
//   that may take long (awaiting a handler's Promise, a streamed response body) must someone
//   else read, to see the client go: a reader activity is spawned then (the first time; it
//   stays for the connection's life), and from then on all reads are its own (one read at a
//   time on a stream).
// - An idle connection (no reader) holds no activity: it waits for its next request in a read
//   with no Promise (ByteStream.readInto), and the read's end starts an activity again
//   (readSettled). Where a read's sink may do the activity's work (sinkRunsActivity: node) it
//   waits so at once, and requests answered synchronously are answered from the sink (no
//   activity started). Where reads hold a task (curio), it waits in its task's read, and the
//   sweep takes it out (park, ByteStream.interruptRead) once it is seen waiting at a tick: a
//   busy connection starts a task at most once per tick, an idle one holds none. A connection
//   with a reader is not parked (its reader and its activity wait as before).
// - A client that closes its side (or whose connection breaks) while its request is under way
//   aborts the request's signal and cancels the handler's activity (Go's server does the same;
//   a half-closed client is treated alike, since a read cannot tell the two apart).
// - Responses go out in order, gathered: the bytes of every response made in one burst of
//   work (all the pipelined requests one read brought, answered at once) are written together:
//   when the connection waits for the peer's next bytes, at the end of the burst
//   (`Runtime.defer`) if it awaits anything else (a handler's Promise, a streamed body), or at
//   once when OUT_HIGH_WATER bytes are waiting; before a 100 Continue, a switch, an error
//   status, and before the stream is closed, what is gathered is written first.
// - A handler that answers synchronously with a whole body (a string, bytes, none) is served
//   without a Promise: no await between the request's head and its response's bytes.
// - Reading is paced by the handler: the connection reads only when it needs bytes, and the
//   reader (when there is one) stops while more than READ_HIGH_WATER bytes received are not yet
//   consumed (a body nobody reads, pipelined requests), so memory per connection is bounded;
//   writing awaits the stream (backpressure both ways).
// - A handler that throws (or whose response is malformed) gets one 500 if nothing of its
//   response was sent, and the connection goes on if the request was read to its end;
//   otherwise the connection is closed (a half-sent response cannot be mended).
// - A request the peer got wrong gets the status its RemoteProtocolError suggests (400, 413,
//   414, 431, 501, 505) and `Connection: close`.
// - An idle connection holds no protocol object: between requests, with nothing of the next
//   one received, its HttpConnection goes back to the server (giveBack: recycled into a few
//   spares, or freed with its wasm parser), and the next byte borrows one (lend). Meanwhile it
//   points to the server's `resting` object, which is never fed.
// - Timeouts (checked by one sweep per server, to 1/16 of the shortest: DeadlineSweep):
//   `headersTimeout` from the first byte of a request (or the connection's start)
//   until its head is complete (408, then close); `idleTimeout` while a kept-alive connection
//   waits for its next request (close); `bodyTimeout` while the server waits for more bytes of
//   a request body it is reading (408 if no response was begun, then close).
// - close() stops accepting, closes idle connections at once and lets requests in flight end
//   (their responses say `Connection: close`); it resolves when every connection has ended.
//   closeNow() also aborts the requests in flight.

import { Data, EndOfMessage, FieldList, HttpConnection, InformationalResponse, NEED_DATA, OutputBuffer, PAUSED, RemoteProtocolError, Response as ResponseEvent } from '@curio-ts/proto-http';
import type { FieldsInit, HttpEvent, HttpLimits, Request as RequestEvent } from '@curio-ts/proto-http';
import { concatBytes } from '../bytes.js';
import { DeadlineSweep } from '../deadline.js';
import type { Sweepable } from '../deadline.js';
import { ConnectionError } from '../errors.js';
import { checkAnswer } from './answer.js';
import type { Background, ByteStream, Listener, ListenTarget, ReadSink, Runtime, StreamAddress, TlsInfo, Wake, Waiter } from '../runtime.js';

/** Received and unconsumed bytes above which a connection stops reading. */
const READ_HIGH_WATER = 64 * 1024;
/** Unread request body (after the response) the server drains to keep the connection; beyond, it closes. */
const DRAIN_LIMIT = 256 * 1024;

/** ServerConnection.parking. */
const PARK_NONE = 0;
const PARK_ASKED = 1;
const PARK_NOW = 2;

/** Protocol objects at rest a server keeps for its connections to borrow (see Server.lend). */
const SPARE_PROTOCOLS = 64;

/** Gathered response bytes above which they are written at once (and the writer waits for the stream). */
const OUT_HIGH_WATER = 64 * 1024;
/** Bytes written as they are rather than copied into the gathered output (after what is gathered). */
const OUT_DIRECT = 16 * 1024;

const EMPTY = new Uint8Array(0);
const RESOLVED: Promise<void> = Promise.resolve();
/** What nextReady() answers when the next event needs waiting for. */
const WAIT: unique symbol = Symbol('WAIT');
/** What skipBody() found. */
const SKIP_DONE = -1;
const SKIP_OVER = -2;
/** What nextReady() answers when the peer broke the protocol. */
const BROKEN: unique symbol = Symbol('BROKEN');
/** The answer to a handler that failed, or whose answer cannot be sent. */
const INTERNAL_ERROR: ServerResponse = { status: 500, headers: [['Content-Type', 'text/plain']], body: 'Internal Server Error' };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The output buffer of every connection that answers a burst and writes it through at once
 * (the usual case): lent to one connection at a time (see ServerConnection.output), its storage
 * kept while the stream takes each write whole (ByteStream.writeNow), so that a keep-alive
 * response allocates no buffer, and an idle connection holds none.
 */
const scratch = new OutputBuffer(0);
let scratchHolder: ServerConnection | null = null;
/** What a connection with nothing gathered points to: never written to. */
const NO_OUTPUT = new OutputBuffer(0);

/** A request as the handler sees it. */
export interface ServerRequest {
  readonly method: string;
  /** The request target as sent ('/path?query'). */
  readonly target: string;
  /** The target's path (before '?'). */
  readonly path: string;
  /** The target's query, without '?' ('' when none). */
  readonly query: string;
  readonly headers: FieldList;
  readonly httpVersion: '1.0' | '1.1';
  readonly remoteAddress: StreamAddress | null;
  /** Aborts when the client disconnects before the response is sent, or the server closes now. */
  readonly signal: AbortSignal;
  /** The body, streamed: iterate it, or take it whole. */
  readonly body: RequestBody;
}

/** A request body: an async iterable of chunks, read once. */
export interface RequestBody extends AsyncIterable<Uint8Array> {
  /** The whole body. */
  bytes(): Promise<Uint8Array>;
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
  /** The whole body parsed as JSON. */
  json(): Promise<unknown>;
}

/** What a handler answers. */
export interface ServerResponse {
  /** Default 200. */
  readonly status?: number;
  readonly headers?: FieldsInit;
  /**
   * A string (UTF-8) or bytes: sent with a Content-Length; an async iterable: streamed (chunked
   * to HTTP/1.1 clients); null or absent: no body.
   */
  readonly body?: string | Uint8Array | AsyncIterable<Uint8Array | string> | null;
  /**
   * With status 101: called with the connection's stream once the response head is written,
   * and the bytes the client sent after its request (the new protocol's first bytes).
   */
  readonly upgrade?: (stream: ByteStream, head: Uint8Array) => Promise<void> | void;
}

/** The handler: a request in, a response out. */
export type HttpHandler = (request: ServerRequest) => ServerResponse | Promise<ServerResponse>;

/** Options of {@link serveHttp}. */
export interface HttpServerOptions extends HttpLimits {
  /** Where to listen (default 127.0.0.1, port 0: a free port). */
  readonly listen?: ListenTarget;
  /** ms from a request's first byte (or the connection's start) until its head is complete; default 60 000. */
  readonly headersTimeout?: number;
  /** ms a kept-alive connection may wait for its next request; default 5 000. */
  readonly idleTimeout?: number;
  /** ms the server waits for the next bytes of a request body it is reading (or draining); default 60 000. */
  readonly bodyTimeout?: number;
  /** Called with errors of handlers (default: none; the client gets a 500 either way). */
  readonly onError?: (error: unknown, request: ServerRequest | null) => void;
}

/** A running server. */
export interface HttpServer {
  /** The address bound. */
  readonly address: StreamAddress;
  /** Connections open now. */
  readonly connections: number;
  /** Stop accepting; let requests in flight end; resolves once every connection has ended. */
  close(): Promise<void>;
  /** Stop now: abort requests in flight and close every connection. */
  closeNow(): Promise<void>;
}

/** Serve HTTP/1.1 with `handler` on `runtime`. */
export async function serveHttp(runtime: Runtime, handler: HttpHandler, options: HttpServerOptions = {}): Promise<HttpServer> {
  const listener = await runtime.listen(options.listen ?? { host: '127.0.0.1', port: 0 });
  const server = new Server(runtime, listener, handler, options);
  server.start();
  return server;
}

class Server implements HttpServer, Sweepable {
  closing = false;
  /** Every connection's timeouts: one timer (see DeadlineSweep). */
  readonly deadlines: DeadlineSweep;
  private acceptor: Background | null = null;
  /** The open connections: a list through their own links (nothing made per connection). */
  private first: ServerConnection | null = null;
  private open = 0;
  /** What stop() awaits while connections are open: settled by the last one to end. */
  private endedAll: Promise<void> | null = null;
  private allEnded: (() => void) | null = null;
  /**
   * What an idle connection points to instead of a protocol object of its own: a connection
   * object at rest (never fed: its owner borrows one before it receives bytes). See lend().
   */
  readonly resting: HttpConnection;
  /** Connection objects at rest, lent to connections as bytes arrive (at most SPARE_PROTOCOLS). */
  private readonly spare: HttpConnection[] = [];

  constructor(
    readonly runtime: Runtime,
    private readonly listener: Listener,
    readonly handler: HttpHandler,
    readonly options: HttpServerOptions,
  ) {
    // Timeouts are kept to a sixteenth of the shortest, each at most two of those late (never early; see DeadlineSweep).
    const shortest = Math.min(...[options.headersTimeout ?? 60_000, options.idleTimeout ?? 5_000, options.bodyTimeout ?? 60_000].filter((ms) => ms > 0));
    // Where reads hold a task (no sinkRunsActivity), the sweep also takes idle connections out of
    // theirs (ServerConnection.park): at least four ticks a second then.
    const longest = runtime.sinkRunsActivity === true ? 1000 : 250;
    this.deadlines = new DeadlineSweep(runtime, Math.min(longest, Math.max(1, Math.floor((Number.isFinite(shortest) ? shortest : 16_000) / 16))), this);
    this.resting = new HttpConnection('server', options);
  }

  /**
   * @internal A protocol object for a connection whose next request's bytes arrive: a spare
   * one, else a new one. An idle connection holds none (its parser, wasm state and arrays are
   * about half of what it would otherwise cost): it gives its own back between requests
   * (giveBack) and borrows one with the next byte.
   */
  lend(): HttpConnection {
    return this.spare.pop() ?? new HttpConnection('server', this.options);
  }

  /** @internal A connection's protocol object, at rest (recycled) or done with (destroyed). */
  giveBack(conn: HttpConnection): void {
    if (conn === this.resting) return;
    if (this.spare.length < SPARE_PROTOCOLS && !this.closing && conn.recycle()) this.spare.push(conn);
    else conn.destroy();
  }

  /** @internal The sweep's tick: connections whose deadline passed expire. True while some have one. */
  sweep(now: number): boolean {
    let armed = false;
    for (let connection = this.first; connection !== null; ) {
      const next = connection.nextLink; // expiring may end it
      const at = connection.deadlineAt;
      if (at <= now) {
        connection.deadlineAt = Infinity;
        connection.expire();
      } else {
        if (at !== Infinity) armed = true;
        connection.park();
      }
      connection = next;
    }
    return armed;
  }

  get address(): StreamAddress {
    return this.listener.address;
  }

  get connections(): number {
    return this.open;
  }

  start(): void {
    this.acceptor = this.runtime.spawn(async () => {
      try {
        await this.acceptLoop();
      } finally {
        // Cancelled from outside (on curio: the kernel shutting down at the end of run(), a
        // task group cancelled): nothing accepts any more, so the port is released too, and
        // the idle connections no task holds (park) close, as those in tasks are cancelled.
        this.listener.close();
        if (!this.closing) {
          for (let connection = this.first; connection !== null; ) {
            const next = connection.nextLink;
            connection.closeIfParked();
            connection = next;
          }
        }
      }
    }, 'http accept');
  }

  private async acceptLoop(): Promise<void> {
    let failures = 0;
    for (;;) {
      let stream: ByteStream | null;
      try {
        stream = await this.listener.accept();
        failures = 0;
      } catch (error) {
        if (this.closing) return;
        // A connection the OS could not hand over (out of file descriptors...): go on after a
        // pause. Anything else (a cancellation of this task above all) ends the loop.
        if (!(error instanceof ConnectionError)) return;
        this.options.onError?.(error, null);
        await this.runtime.sleep(Math.min(1000, 10 * 2 ** failures++));
        continue;
      }
      if (stream === null) return;
      if (this.closing) {
        stream.close();
        continue;
      }
      const connection = new ServerConnection(this, stream);
      const first = this.first;
      connection.nextLink = first;
      if (first !== null) first.previousLink = connection;
      this.first = connection;
      this.open++;
      // No signal: nothing in the connection reads it (a cancellation reaches it through its
      // stream and, on curio, at its await), and an AbortSignal held per idle connection costs
      // about 0.8 KiB. The connection leaves the list itself (release), at the end of its run.
      connection.start();
    }
  }

  /** @internal A connection's run has ended: it leaves the list. */
  release(connection: ServerConnection): void {
    const previous = connection.previousLink;
    const next = connection.nextLink;
    if (previous !== null) previous.nextLink = next;
    else if (this.first === connection) this.first = next;
    else return; // not in the list (released already)
    if (next !== null) next.previousLink = previous;
    connection.previousLink = connection.nextLink = null;
    if (--this.open === 0) {
      this.deadlines.stop();
      if (this.closing) {
        for (const conn of this.spare) conn.destroy();
        this.spare.length = 0;
        this.resting.destroy();
      }
    }
    if (this.open === 0 && this.allEnded !== null) {
      const ended = this.allEnded;
      this.allEnded = null;
      this.endedAll = null;
      ended();
    }
  }

  close(): Promise<void> {
    return this.stop((connection) => connection.closeIfIdle());
  }

  closeNow(): Promise<void> {
    return this.stop((connection) => connection.abort());
  }

  /** Stop accepting, do `each` to every open connection, and wait until all have ended. */
  private async stop(each: (connection: ServerConnection) => void): Promise<void> {
    this.closing = true;
    this.listener.close();
    for (let connection = this.first; connection !== null; ) {
      const next = connection.nextLink; // `each` may end it (and unlink it) at once
      each(connection);
      connection = next;
    }
    await this.acceptor?.done;
    while (this.open > 0) await (this.endedAll ??= new Promise<void>((resolve) => (this.allEnded = resolve)));
  }
}

/** One connection's cycles. */
class ServerConnection {
  background: Background | null = null;
  /** The server's list of open connections (see Server.release). */
  previousLink: ServerConnection | null = null;
  nextLink: ServerConnection | null = null;
  /** The protocol object: the server's resting one while no request is under way (see Server.lend). */
  private conn: HttpConnection;
  private readonly runtime: Runtime;
  /** The consumer waits for bytes (NEED_DATA). */
  private dataWake: Resume | null = null;
  /** The reader waits for the consumer to drain. */
  private drainWake: Resume | null = null;
  private reader: Background | null = null;
  /** A read of the connection's own activity is pending (readHere): the reader waits for it. */
  private readingHere = false;
  private readError: unknown = null;
  private eof = false;
  private idle = true;
  private closed = false;
  private current: IncomingRequest | null = null;
  /** A handler is running (in this connection's activity). */
  private inHandler = false;
  /** The client went away while its request was under way. */
  private gone = false;
  /** When headersTimeout, bodyTimeout or idleTimeout passes (the server's sweep checks it); Infinity: none. */
  deadlineAt = Infinity;
  /** Bytes received since the connection waits for its current request (0: none of its head yet). */
  private cycleBytes = 0;
  /** The timer armed is the idle timeout (no byte of the next request yet). */
  private waitingIdle = false;
  /** The connection waits for bytes of a request body, under bodyTimeout. */
  private waitingForBody = false;
  /**
   * Response bytes gathered, not yet written (see the file header): NO_OUTPUT while none are,
   * else the shared scratch or (when another connection holds it) a buffer of this connection's
   * own, whose storage goes with each write (take()).
   */
  private out: OutputBuffer = NO_OUTPUT;
  private own: OutputBuffer | null = null;
  /** What the read sink's cycles left for run() to await (see sinkCycles). */
  private parked: false | Promise<boolean> | null = null;
  /** run() ended waiting in a read with no Promise (ByteStream.readInto): readSettled goes on. */
  private suspended = false;
  /** Where the sweep's park() is: PARK_NONE, PARK_ASKED (the read was interrupted), PARK_NOW (readInto next). */
  private parking = PARK_NONE;
  /** The cycle under way has begun (its preamble ran) and waits for bytes of its request. */
  private cycleBegun = false;
  /** Its timer is armed. */
  private cycleArmed = false;
  private firstCycle = true;
  /** run() waits for bytes of the next request (the reader's sink may answer it: sinkChunk). */
  private waitingAtCycle = false;
  /** The sink of run()'s own reads, on runtimes where a sink may do the work (sinkRunsActivity), made on first use (readInto needs none). */
  private cycleSink: ReadSink | null = null;
  private flushDeferred = false;
  /** The last write, until the stream has accepted it (backpressure). */
  private writing: Promise<void> | null = null;
  /** The peer's address, once asked (undefined: not yet). */
  private peer: StreamAddress | null | undefined = undefined;
  /** The chunk the read sink handled and declined (the read settles with it: not to be received twice). */
  private sunk: Uint8Array | null = null;
  /** Writes not yet accepted by the stream. */
  private writesPending = 0;
  /** What a pending write settles (made with the first write the stream did not take at once). */
  private onWritten: (() => void) | null = null;
  private onWriteFailed: (() => void) | null = null;
  /** Made on the first deferred flush (a connection that never gathers makes none). */
  private flushLater: (() => void) | null = null;
  /** The reader's sink: made with the reader. */
  private sink: ((chunk: Uint8Array) => boolean) | null = null;
  /** Made on the first wait for bytes while another activity reads (most connections never). */
  private dataWaiter: Waiter<void> | null = null;
  /** Made when reading first pauses (most connections never pause). */
  private drainWaiter: Waiter<void> | null = null;

  constructor(
    private readonly server: Server,
    private readonly stream: ByteStream,
  ) {
    this.runtime = server.runtime;
    this.conn = server.resting;
  }

  /**
   * Run the connection in an activity of its own. run() may end in a read at once (readInto,
   * while the runtime still starts it): the activity is then not kept.
   */
  start(): void {
    const background = this.runtime.spawn(() => this.run(), 'http connection', { signal: false });
    if (!this.suspended) this.background = background;
  }

  /** Close now if no request is under way (graceful close). */
  closeIfIdle(): void {
    if (this.idle && this.conn.pendingBytes === 0) this.shut();
  }

  /** Abort the request in flight and close (closeNow). */
  abort(): void {
    this.current?.abort(new Error('the server is closing'));
    if (this.inHandler) this.background?.cancel();
    this.shut();
  }

  private shut(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.out.size > 0) void this.flush();
    this.stream.close();
    this.wakeData();
    this.wakeDrain();
  }

  /**
   * The connection's life: its request/response cycles, in order, then its end. One async
   * function (not one per cycle loop and one around it): an idle connection holds one frame.
   * The cycles themselves run in cycles(), synchronously as far as they can; where the runtime
   * allows (sinkRunsActivity), bytes that arrive while this function waits for a request are
   * answered from the read's sink, and the read stays pending: a keep-alive request answered
   * synchronously settles no Promise.
   */
  async run(): Promise<void> {
    try {
      for (;;) {
        const step = this.parked ?? this.cycles();
        this.parked = null;
        if (step === WAIT) {
          if (this.out !== NO_OUTPUT) this.flush();
          this.waitingAtCycle = true;
          if (this.reader === null) {
            // Read here: no other activity reads (see the file header). A handler answering
            // from the sink may start the reader: it waits for this read to end (readingHere).
            this.readingHere = true;
            const sinkRuns = this.runtime.sinkRunsActivity === true;
            if ((sinkRuns || this.parking === PARK_NOW) && this.stream.readInto?.(this) === true) {
              // This activity ends here, and the read's end starts another (readSettled): an
              // idle connection holds no suspended function, no Promise, no task.
              this.parking = PARK_NONE;
              this.suspended = true;
              this.background = null;
              return;
            }
            this.parking = PARK_NONE;
            let chunk: Uint8Array | null = null;
            let error: unknown = null;
            try {
              chunk = await this.stream.read(sinkRuns ? (this.cycleSink ??= (bytes) => this.sinkCycles(bytes)) : undefined);
            } catch (failure) {
              error = failure;
            }
            if (this.parking === PARK_ASKED && error === null) {
              // The sweep took this activity out of its read (park): readInto next.
              this.parking = PARK_NOW;
              this.ownReadDone();
            } else this.afterOwnRead(chunk, error);
          } else {
            await this.runtime.wait<void>('HTTP_READ', this.dataWaiterNow());
            this.waitingAtCycle = false;
          }
          continue;
        }
        if (step === false || !(await step)) return;
      }
    } catch {
      // Errors of the stream end the connection; handler errors were answered already.
    } finally {
      if (!this.suspended) await this.end();
    }
  }

  /** The connection's end (run's). */
  private async end(): Promise<void> {
    this.deadlineAt = Infinity;
    this.shut();
    this.dropOutput();
    const reader = this.reader;
    if (reader !== null) {
      reader.cancel();
      await reader.done;
    }
    this.restConn();
    this.server.release(this);
  }

  /** The wait for bytes another activity reads (made on first use). */
  private dataWaiterNow(): Waiter<void> {
    return (this.dataWaiter ??= new WakeSlot((wake) => (this.dataWake = wake)));
  }

  /** The connection's own protocol object, borrowed from the server when it rests (see Server.lend). */
  private lendConn(): void {
    if (this.conn === this.server.resting) this.conn = this.server.lend();
  }

  /** Give the protocol object back to the server and point at its resting one. */
  private restConn(): void {
    this.server.giveBack(this.conn);
    this.conn = this.server.resting;
  }

  /** @internal The pending read of readInto (see run): as the sink of run()'s read. */
  readChunk(chunk: Uint8Array): boolean {
    return this.sinkCycles(chunk);
  }

  /**
   * What follows run()'s own read for the next request (its Promise's or readInto's): the bytes
   * go in (unless its sink took them already: `sunk`), or the error ends the connection.
   */
  private afterOwnRead(chunk: Uint8Array | null, error: unknown): void {
    try {
      if (error !== null) throw error;
      if (chunk !== null && chunk === this.sunk) this.sunk = null;
      else this.took(chunk);
    } catch (failure) {
      if (!this.closed) this.ended(failure, true);
    }
    this.ownReadDone();
  }

  /** run()'s own read for the next request is over. */
  private ownReadDone(): void {
    this.readingHere = false;
    this.wakeDrain();
    this.waitingAtCycle = false;
  }

  /** @internal The read of readInto ended: what run() does after its read, then run() again, in an activity of its own. */
  readSettled(chunk: Uint8Array | null, error: unknown): void {
    this.suspended = false;
    this.afterOwnRead(chunk, error);
    // On, after the current job (as after a read's Promise): the stream may settle the read
    // from inside the sink (a handler that closed the connection), where run() must not begin.
    queueMicrotask(() => {
      // Closed: only the end is left, which needs no activity (the runtime may have none to give: a kernel shutting down).
      if (this.closed) void this.end();
      else this.start();
    });
  }

  /**
   * @internal The sweep's visit: a connection waiting for its next request in a read that holds
   * an activity (curio: a task) is taken out of it (ByteStream.interruptRead), and waits in
   * readInto instead (see run). At most once per sweep tick per connection, so a busy
   * connection's requests do not each start an activity.
   */
  park(): void {
    if (!this.waitingAtCycle || !this.readingHere || this.reader !== null || this.suspended || this.closed || this.parking !== PARK_NONE) return;
    if (this.conn !== this.server.resting || this.stream.interruptRead === undefined || this.stream.readInto === undefined) return;
    this.parking = PARK_ASKED;
    if (!this.stream.interruptRead()) this.parking = PARK_NONE;
  }

  /** @internal The server's acceptor ended (a kernel shutting down): a connection waiting in readInto, which no activity holds, closes. */
  closeIfParked(): void {
    if (this.suspended && this.runtime.sinkRunsActivity !== true) this.shut();
  }

  /**
   * The connection's cycles as far as they need no waiting: WAIT when the next request's bytes
   * are needed (its timer armed), false when the connection ends, or a Promise for an exchange
   * under way (true: the next cycle may begin).
   */
  private cycles(): typeof WAIT | false | Promise<boolean> {
    for (;;) {
      if (this.closed) return false;
      if (!this.cycleBegun) {
        this.idle = true;
        if (this.server.closing && this.conn.pendingBytes === 0) return false;
        this.cycleBytes = this.conn.pendingBytes;
        this.waitingIdle = !this.firstCycle && this.cycleBytes === 0;
        this.firstCycle = false;
        this.cycleBegun = true;
        this.cycleArmed = false;
      }
      const event = this.nextReady();
      if (event === WAIT) {
        if (this.idle && this.conn !== this.server.resting && this.conn.atRest) {
          // Nothing of the next request yet: the protocol object goes back to the server.
          this.restConn();
        }
        if (!this.cycleArmed) {
          // The timer runs only while the connection waits (a request already here needs none).
          this.cycleArmed = true;
          const options = this.server.options;
          this.armTimer(this.waitingIdle ? (options.idleTimeout ?? 5_000) : (options.headersTimeout ?? 60_000), this.waitingIdle);
        }
        return WAIT;
      }
      this.cycleBegun = false;
      if (event === BROKEN) return this.refuseBroken();
      if (event === null || event === PAUSED || event.type !== 'request') return false;
      this.idle = false;
      this.cancelTimer();
      const ok = this.exchange(event);
      if (typeof ok !== 'boolean') return this.finishExchange(ok);
      if (!ok || this.closed) return false;
      // The stream pushes back: wait before the next response.
      if (this.writing !== null) return this.finishExchange(null);
      if (!this.nextCycle()) return false;
    }
  }

  /** Both sides are done: the next cycle (false: the connection ends). */
  private nextCycle(): boolean {
    if (this.conn.ourState !== 'DONE' || this.conn.theirState !== 'DONE') return false;
    this.conn.startNextCycle();
    this.wakeDrain();
    return true;
  }

  /**
   * The rest of a cycle that must wait: for its exchange (`pending`), and for the stream to take
   * what was written (backpressure; null `pending`: only that).
   */
  private async finishExchange(pending: Promise<boolean> | null): Promise<boolean> {
    try {
      if (pending !== null) {
        this.flushSoon();
        if (!(await pending) || this.closed) return false;
      }
      if (this.writing !== null) {
        this.flushSoon();
        await this.writing;
      }
      return this.nextCycle();
    } catch {
      return false;
    }
  }

  /** The peer broke the protocol: its status (next() answers it), and the end. */
  private async refuseBroken(): Promise<boolean> {
    try {
      await this.next();
    } catch {
      // The client is gone.
    }
    return false;
  }

  /**
   * The sink of run()'s own read (sinkRunsActivity runtimes): the bytes go in and the cycles run
   * here; while they end waiting for more bytes, the read stays pending (what they answered is
   * written at once). Otherwise run() takes over what they left (`parked`), the read settling
   * with this chunk (not to be received twice: `sunk`).
   */
  private sinkCycles(chunk: Uint8Array): boolean {
    if (this.closed || chunk.length === 0) return false;
    this.accept(chunk);
    const step = this.cycles();
    if (step === WAIT) {
      if (this.out !== NO_OUTPUT) this.flush();
      if (this.conn.pendingBytes < READ_HIGH_WATER) return true;
    } else {
      this.parked = step;
      this.waitingAtCycle = false;
    }
    this.sunk = chunk;
    return false;
  }

  /**
   * This activity is about to await something other than bytes (a handler's Promise, a
   * streamed body): from now on a reader activity reads for it (see the file header).
   */
  private ensureReader(): void {
    if (this.reader !== null || this.closed) return;
    this.sink = (chunk) => this.sinkChunk(chunk);
    // No signal (as for the connection): the reader ends when the stream closes.
    this.reader = this.runtime.spawn(() => this.readLoop(), 'http reader', { signal: false });
  }

  /**
   * Read once in this activity, no reader running (a body read by the handler). A reader
   * spawned meanwhile (the handler went on to await something) waits for this read to end.
   */
  private async readHere(): Promise<void> {
    this.readingHere = true;
    try {
      this.took(await this.stream.read());
    } catch (error) {
      if (!this.closed) this.ended(error, true);
    } finally {
      this.readingHere = false;
      this.wakeDrain();
    }
  }

  /** A read of this activity's own (no reader runs) brought `chunk` (null: the end of the stream). */
  private took(chunk: Uint8Array | null): void {
    if (this.closed) return;
    if (chunk === null || chunk.length === 0) this.ended(new Error('the client closed the connection'));
    else this.receive(chunk);
  }

  /** The stream ended (or broke: `error`, then readError) under a read. */
  private ended(reason: unknown, error = false): void {
    if (error) this.readError = reason;
    else {
      this.eof = true;
      this.lendConn();
      this.conn.receiveData(EMPTY);
    }
    this.clientGone(reason);
  }

  // Reading -----------------------------------------------------------------------------------

  private async readLoop(): Promise<void> {
    try {
      while (!this.closed) {
        const theirs = this.conn.theirState;
        if (theirs === 'SWITCHED_PROTOCOL') return;
        if (this.conn.pendingBytes >= READ_HIGH_WATER || theirs === 'MIGHT_SWITCH_PROTOCOL' || this.readingHere) {
          await this.runtime.wait<void>('HTTP_READ_PAUSED', (this.drainWaiter ??= new WakeSlot((wake) => (this.drainWake = wake))));
          continue;
        }
        const chunk = await this.stream.read(this.sink ?? undefined);
        if (this.closed) return;
        if (chunk === null || chunk.length === 0) {
          this.ended(new Error('the client closed the connection'));
          return;
        }
        if (chunk === this.sunk) {
          this.sunk = null;
          continue;
        }
        this.receive(chunk);
      }
    } catch (error) {
      this.ended(error, true);
    }
  }

  private receive(chunk: Uint8Array): void {
    this.accept(chunk);
    this.wakeData();
  }

  /** Bytes received go to the connection object (nobody woken). */
  private accept(chunk: Uint8Array): void {
    if (this.idle && this.cycleBytes === 0 && this.waitingIdle) {
      // The first byte of the next request: its head now has headersTimeout.
      this.armTimer(this.server.options.headersTimeout ?? 60_000, false);
    }
    this.cycleBytes += chunk.length;
    this.lendConn();
    this.conn.receiveData(chunk);
  }

  /**
   * The read's sink (runtime.ts's ReadSink): a chunk taken as it arrives, the read staying
   * pending, while nothing asks the reader to stop; otherwise the chunk is left to the loop.
   */
  private sinkChunk(chunk: Uint8Array): boolean {
    if (this.closed || chunk.length === 0) return false;
    const theirs = this.conn.theirState;
    if (theirs === 'SWITCHED_PROTOCOL' || theirs === 'MIGHT_SWITCH_PROTOCOL') return false;
    if (this.waitingAtCycle && this.parked === null && this.runtime.sinkRunsActivity === true && this.dataWake !== null) {
      // run() waits for the next request: answer it here, as its own read's sink does
      // (sinkCycles); run() is woken only for what must be awaited.
      this.accept(chunk);
      const step = this.cycles();
      if (step !== WAIT) {
        this.parked = step;
        this.waitingAtCycle = false;
        this.wakeData();
      } else if (this.out !== NO_OUTPUT) this.flush();
    } else this.receive(chunk);
    if (this.conn.pendingBytes < READ_HIGH_WATER) return true;
    this.sunk = chunk;
    return false;
  }

  /**
   * The client closed its side (or the connection broke) while a request is under way: as Go's
   * server does, its signal aborts and its handler's task is cancelled (on curio, at its await);
   * a half-closed client is treated alike.
   */
  private clientGone(reason: unknown): void {
    const current = this.current;
    if (current !== null) {
      this.gone = true;
      current.abort(reason);
      if (this.inHandler) this.background?.cancel();
    }
    this.wakeData();
  }

  private wakeData(): void {
    const wake = this.dataWake;
    this.dataWake = null;
    if (wake !== null) resume(wake);
  }

  private wakeDrain(): void {
    const wake = this.drainWake;
    this.drainWake = null;
    if (wake !== null) resume(wake);
  }

  /**
   * The next event if it needs no waiting: an event, PAUSED, null (the connection is over),
   * WAIT (bytes are needed) or BROKEN (the peer broke the protocol: next() answers it).
   */
  private nextReady(): HttpEvent | typeof PAUSED | typeof WAIT | typeof BROKEN | null {
    if (this.closed) return null;
    let event;
    try {
      event = this.conn.nextEvent();
    } catch {
      return BROKEN; // next() meets the error again and answers it
    }
    if (this.conn.pendingBytes < READ_HIGH_WATER / 2) this.wakeDrain();
    if (event !== NEED_DATA) return event;
    return this.readError !== null ? null : WAIT;
  }

  /**
   * The next event, waiting for bytes as needed; null when the connection is over. With
   * `bodyTimeout` > 0, a wait for bytes lasts that long at most (a stalled body ends the
   * connection instead of holding it for ever).
   */
  private async next(bodyTimeout = 0): Promise<HttpEvent | typeof PAUSED | null> {
    for (;;) {
      if (this.closed) return null;
      let event;
      try {
        event = this.conn.nextEvent();
      } catch (error) {
        if (error instanceof RemoteProtocolError) await this.refuse(error);
        return null;
      }
      if (this.conn.pendingBytes < READ_HIGH_WATER / 2) this.wakeDrain();
      if (event !== NEED_DATA) return event;
      if (this.readError !== null) return null;
      if (bodyTimeout > 0) this.armTimer(bodyTimeout, false);
      this.waitingForBody = bodyTimeout > 0;
      if (this.reader === null && !this.readingHere) await this.readHere();
      else {
        // A read is under way already (run()'s, whose sink runs this handler: it settles once
        // the sink returns): the reader takes over from it.
        this.ensureReader();
        await this.runtime.wait<void>('HTTP_READ', this.dataWaiterNow());
      }
      if (this.waitingForBody) {
        this.waitingForBody = false;
        this.cancelTimer();
      }
    }
  }

  // Cycles ------------------------------------------------------------------------------------

  /** One request and its response. False: the connection must end. Synchronous when the handler is. */
  private exchange(head: RequestEvent): boolean | Promise<boolean> {
    // One object per request: its body and its signal are made only if the handler asks.
    const request = new IncomingRequest(head, this);
    this.current = request;
    // The handler runs in the connection's own activity (no spawn per request): a client that
    // goes away cancels that activity (clientGone), which on curio interrupts the handler at
    // its await; the connection is over then anyway.
    this.inHandler = true;
    let response: ServerResponse;
    try {
      const answer: unknown = this.server.handler(request);
      if (isThenable(answer)) return this.settle(answer, head, request);
      response = checkAnswer(answer);
    } catch (error) {
      this.inHandler = false;
      this.current = null;
      return this.failed(head, request, error);
    }
    this.inHandler = false;
    this.current = null;
    if (this.closed || this.gone) return false;
    return this.respond(head, response, request);
  }

  /** The rest of an exchange whose handler answered with a Promise. */
  private async settle(pending: PromiseLike<unknown>, head: RequestEvent, request: IncomingRequest): Promise<boolean> {
    this.ensureReader(); // to see the client go while the handler runs
    let response: ServerResponse | null = null;
    let failure: unknown = null;
    let failed = false;
    try {
      response = checkAnswer(await pending);
    } catch (error) {
      failure = error;
      failed = true;
    } finally {
      this.inHandler = false;
    }
    this.current = null;
    if (failed) return this.failed(head, request, failure);
    if (this.closed || this.gone) return false;
    return this.respond(head, response as ServerResponse, request);
  }

  /** The handler threw: a 500 (and onError). */
  private failed(head: RequestEvent, request: IncomingRequest, failure: unknown): boolean | Promise<boolean> {
    if (this.closed || this.gone) return false;
    this.server.options.onError?.(failure, request);
    return this.respond(head, INTERNAL_ERROR, request);
  }

  /**
   * The response: at once when its body is whole (a string, bytes, none) and nothing must be
   * waited for; otherwise respondStreamed.
   */
  private respond(head: RequestEvent, response: ServerResponse, request: IncomingRequest): boolean | Promise<boolean> {
    const status = response.status ?? 200;
    const payload = response.body ?? null;
    const whole = payload === null || typeof payload === 'string' || (payload instanceof Uint8Array && payload.length < OUT_DIRECT);
    if (!whole || status < 200 || status === 101 || (head.method === 'CONNECT' && status < 300)) return this.respondStreamed(head, response, request);
    const conn = this.conn;
    const headers = FieldList.from(response.headers);
    // The next request can follow only once this one's body is read to its end (see respondStreamed).
    const keep = !this.server.closing && !(conn.theyAreWaitingFor100Continue && !this.bodyDone);
    try {
      conn.writeWholeResponse(this.output(), status, headers, payload as string | Uint8Array | null, !keep);
    } catch (error) {
      if (this.closed) return false;
      this.server.options.onError?.(error, request);
      if (conn.ourState !== 'ERROR') return this.respond(head, INTERNAL_ERROR, request);
      return false;
    }
    // Written when the loop waits (cycles), or at OUT_HIGH_WATER.
    if (this.out.size >= OUT_HIGH_WATER) this.flush();
    if (keep && !this.bodyDone) {
      const left = this.skipBody(DRAIN_LIMIT);
      if (left === SKIP_OVER) return false;
      if (left !== SKIP_DONE) return this.drained(left);
    }
    return keep && conn.ourState === 'DONE';
  }

  private async drained(limit: number): Promise<boolean> {
    return (await this.drainBody(limit)) && this.conn.ourState === 'DONE';
  }

  /**
   * After the handler: read what is left of the request's body, up to `limit` bytes, so the
   * connection can carry the next request. False when it cannot (too much left, a client still
   * waiting for 100-continue, the stream gone).
   */
  private async drainBody(limit: number): Promise<boolean> {
    if (this.bodyDone) return true;
    let left = limit;
    try {
      for (;;) {
        const chunk = await this.nextBodyChunk();
        if (chunk === null) return true;
        left -= chunk.length;
        if (left < 0) return false;
      }
    } catch {
      return false;
    }
  }

  /**
   * Skip the rest of the request's body as far as it is here already: SKIP_DONE when its end
   * was reached, SKIP_OVER when more than `limit` bytes were left (or the connection ended);
   * otherwise the rest must be waited for (Body.drain does it), and what is left of `limit` is
   * returned.
   */
  private skipBody(limit: number): number {
    let left = limit;
    for (;;) {
      const event = this.nextReady();
      if (event === WAIT || event === BROKEN) return left;
      if (event === null || event === PAUSED) return SKIP_OVER;
      if (event.type === 'end-of-message') return SKIP_DONE;
      if (event.type !== 'data') return SKIP_OVER;
      left -= event.data.length;
      if (left < 0) return SKIP_OVER;
    }
  }

  private async respondStreamed(head: RequestEvent, response: ServerResponse, request: IncomingRequest): Promise<boolean> {
    const conn = this.conn;
    const status = response.status ?? 200;
    let headers = FieldList.from(response.headers);
    const payload = response.body ?? null;
    let bytes: Uint8Array | null = null;
    if (typeof payload === 'string') bytes = encoder.encode(payload);
    else if (payload instanceof Uint8Array) bytes = payload;
    if (bytes !== null && headers.has('content-length') && headers.get('content-length')?.trim() !== String(bytes.length)) {
      this.server.options.onError?.(new TypeError(`the HTTP handler's Content-Length (${headers.get('content-length') ?? ''}) is not its body's length (${bytes.length})`), request);
      return this.respond(head, INTERNAL_ERROR, request);
    }
    const extra: [string, string][] = [];
    if (bytes !== null && !headers.has('content-length') && !headers.has('transfer-encoding')) extra.push(['Content-Length', String(bytes.length)]);
    if (payload === null && status !== 101 && status !== 204 && status !== 304 && !headers.has('content-length') && !headers.has('transfer-encoding') && head.method !== 'HEAD') extra.push(['Content-Length', '0']);
    const streamed = payload !== null && bytes === null;
    if (streamed && this.conn.theyAreWaitingFor100Continue && head.method !== 'HEAD' && status >= 200) {
      // A streamed response may read the request's body as it goes (an echo): the client must
      // be told to send it before the final response's head.
      try {
        await this.sendNow(this.conn.send(new InformationalResponse(100)) as Uint8Array);
      } catch {
        return false;
      }
    }
    // The next request can follow only once this one's body is read to its end: a client still
    // waiting for 100-continue may or may not send it, so that connection closes; otherwise what
    // is left is drained after the response (up to DRAIN_LIMIT, else the connection closes).
    let keep = !this.server.closing && !(this.conn.theyAreWaitingFor100Continue && !this.bodyDone);
    if (!keep && status !== 101 && !headers.hasToken('connection', 'close')) extra.push(['Connection', 'close']); // a 101 ends HTTP here anyway
    if (extra.length > 0) headers = FieldList.from([...headers.entries(), ...extra]);
    let started = false;
    if (status === 101 || (head.method === 'CONNECT' && status >= 200 && status < 300)) {
      // A switch is accepted once the request was read to its end.
      if (!(await this.drainBody(DRAIN_LIMIT))) return false;
    }
    try {
      const event = status >= 100 && status < 200 && status !== 101 ? new InformationalResponse(status, headers) : new ResponseEvent(status, headers);
      const headBytes = conn.send(event) as Uint8Array;
      started = true;
      if (status === 101) {
        await this.sendNow(headBytes);
        await this.switchTo(response);
        return false;
      }
      if (bytes !== null) {
        this.send(headBytes);
        if (head.method !== 'HEAD' && bytes.length > 0) this.send(conn.send(new Data(bytes)) as Uint8Array);
        await this.send(conn.send(new EndOfMessage()) as Uint8Array);
      } else if (payload !== null && head.method !== 'HEAD') {
        await this.send(headBytes);
        // The body's source is the handler's code still running: until it ends, a client that
        // goes away (or closeNow) aborts the request's signal and cancels this activity, as
        // while the handler ran.
        this.current = request;
        this.inHandler = true;
        this.ensureReader();
        try {
          for await (const part of payload as AsyncIterable<Uint8Array | string>) {
            if (this.closed || this.gone) return false;
            const chunk = typeof part === 'string' ? encoder.encode(part) : part;
            if (chunk.length === 0) continue;
            await this.send(conn.send(new Data(chunk)) as Uint8Array);
          }
        } finally {
          this.inHandler = false;
          this.current = null;
        }
        await this.send(conn.send(new EndOfMessage()) as Uint8Array);
      } else {
        this.send(headBytes);
        await this.send(conn.send(new EndOfMessage()) as Uint8Array);
      }
    } catch (error) {
      if (this.closed || this.gone) return false;
      this.server.options.onError?.(error, request);
      if (!started && conn.ourState !== 'ERROR') return this.respond(head, INTERNAL_ERROR, request);
      return false;
    }
    if (keep && !this.bodyDone) keep = await this.drainBody(DRAIN_LIMIT);
    return keep && conn.ourState === 'DONE';
  }

  // Writing -----------------------------------------------------------------------------------

  /**
   * Gather `bytes` for the end of the burst (see the file header). Returns what to await before
   * sending more (the stream pushes back), or null.
   */
  private send(bytes: Uint8Array): Promise<void> | null {
    if (bytes.length >= OUT_DIRECT) {
      this.flush();
      return this.write(bytes);
    }
    if (bytes.length === 0) return this.writing;
    this.output().append(bytes);
    return this.gathered();
  }

  /** Bytes were gathered: write them at the end of the burst, or now if there are many. */
  private gathered(): Promise<void> | null {
    if (this.out.size >= OUT_HIGH_WATER) return this.flush();
    this.flushSoon();
    return this.writing;
  }

  /** Write what is gathered at the end of the burst. */
  private flushSoon(): void {
    if (!this.flushDeferred && this.out.size > 0) {
      this.flushDeferred = true;
      this.runtime.defer(
        (this.flushLater ??= () => {
          this.flushDeferred = false;
          void this.flush();
        }),
      );
    }
  }

  /** Gather `bytes` and write everything gathered now; resolves once the stream took it. */
  private sendNow(bytes: Uint8Array): Promise<void> {
    this.send(bytes);
    return this.flush();
  }

  /**
   * Write what is gathered, in one write. Resolves once the stream accepted it; rejects if the
   * stream is broken (the connection is then shut: the client is gone).
   */
  private flush(): Promise<void> {
    const out = this.out;
    this.out = NO_OUTPUT;
    if (out === scratch) scratchHolder = null; // lent for a burst only, even one that wrote nothing
    if (out.size === 0) return this.writing ?? RESOLVED;
    const stream = this.stream;
    if (stream.writeNow === undefined) return this.write(out.take());
    let result: boolean | Promise<void>;
    try {
      result = stream.writeNow(out.view());
    } catch (error) {
      out.clear();
      return this.track(Promise.reject(error));
    }
    // Written through: the scratch keeps its storage; otherwise the stream holds it now.
    if (result === true && out === scratch) out.clear();
    else out.take();
    if (typeof result === 'boolean') return this.writing ?? RESOLVED;
    return this.track(result);
  }

  /** Where to gather response bytes: the shared scratch if it is free, else this connection's own buffer. */
  private output(): OutputBuffer {
    if (this.out === NO_OUTPUT) {
      if (scratchHolder === null) {
        scratchHolder = this;
        this.out = scratch;
      } else this.out = this.own ??= new OutputBuffer(0);
    }
    return this.out;
  }

  /** The connection ended: what is gathered is dropped (the shared scratch freed). */
  private dropOutput(): void {
    const out = this.out;
    this.out = NO_OUTPUT;
    if (out === scratch) {
      scratchHolder = null;
      out.clear();
    }
  }

  /** Write `data` (nothing is gathered); see flush. */
  private write(data: Uint8Array): Promise<void> {
    let write: Promise<void>;
    try {
      write = this.stream.write(data);
    } catch (error) {
      write = Promise.reject(error);
    }
    return this.track(write);
  }

  /** A write the stream has not accepted yet: awaited before more is sent (backpressure). */
  private track(write: Promise<void>): Promise<void> {
    this.writing = write;
    this.writesPending++;
    write.then(
      (this.onWritten ??= () => {
        if (--this.writesPending === 0) this.writing = null;
      }),
      (this.onWriteFailed ??= () => {
        if (--this.writesPending === 0) this.writing = null;
        this.shut();
      }),
    );
    return write;
  }

  /** The peer's address (asked of the stream once). */
  remoteAddress(): StreamAddress | null {
    if (this.peer === undefined) this.peer = this.stream.remoteAddress ?? null;
    return this.peer;
  }

  private async switchTo(response: ServerResponse): Promise<void> {
    const upgrade = response.upgrade;
    const trailing = this.conn.trailingData;
    const head = trailing?.data ?? EMPTY;
    if (upgrade === undefined) {
      this.stream.close();
      return;
    }
    this.wakeDrain(); // a reader parked on the switch proposal sees the switch and ends
    // The reader reads no more once HTTP is over, but a read it had begun may still bring the
    // new protocol's first bytes: the handed-over stream delivers those before reading on.
    // Without a reader no read is pending: the trailing bytes are all there is.
    const stream = new HandoverStream(this.stream, this.reader?.done ?? RESOLVED, () => this.conn.trailingData, head.length, trailing?.closed === true);
    try {
      await upgrade(stream, head);
    } catch (error) {
      this.server.options.onError?.(error, null);
      this.stream.close();
    }
  }

  /** A request the peer got wrong: its status, and close. */
  private async refuse(error: RemoteProtocolError): Promise<void> {
    if (this.conn.ourState !== 'IDLE' && this.conn.ourState !== 'SEND_RESPONSE') return;
    const text = `${error.message}\n`;
    try {
      await this.sendNow(encoder.encode(`HTTP/1.1 ${error.statusHint} ${REASONS[error.statusHint] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${encoder.encode(text).length}\r\n\r\n${text}`));
    } catch {
      // The client is gone.
    }
  }

  /**
   * Arm the connection's deadline `ms` from now: a number the server's sweep checks (one timer
   * for every connection; nothing started or cancelled per request, no timer held while idle).
   */
  private armTimer(ms: number, idle: boolean): void {
    this.deadlineIdle = idle;
    this.deadlineAt = this.server.deadlines.deadline(ms);
  }

  private deadlineIdle = false;

  /** @internal The deadline passed (the server's sweep). */
  expire(): void {
    if (this.closed) return;
    if ((!this.deadlineIdle && this.cycleBytes > 0 && this.conn.ourState === 'IDLE') || (this.waitingForBody && this.conn.ourState === 'SEND_RESPONSE')) {
      // A head (or a body the handler waits for, its response not begun) that did not arrive in time: 408, then close.
      this.sendNow(encoder.encode('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')).then(
        () => this.shut(),
        () => this.shut(),
      );
      return;
    }
    this.shut();
  }

  /** No deadline while a request is handled (the pending timer, if any, will find none). */
  private cancelTimer(): void {
    this.deadlineAt = Infinity;
  }

  // For the body ------------------------------------------------------------------------------

  /** @internal The next body chunk, or null at its end (the request's EndOfMessage). */
  async nextBodyChunk(): Promise<Uint8Array | null> {
    if (this.conn.theyAreWaitingFor100Continue && this.conn.ourState === 'SEND_RESPONSE') {
      await this.sendNow(this.conn.send(new InformationalResponse(100)) as Uint8Array);
    }
    const event = await this.next(this.server.options.bodyTimeout ?? 60_000);
    if (event === null || event === PAUSED) throw new Error('the connection ended before the request body was complete');
    if (event.type === 'data') return event.data;
    if (event.type === 'end-of-message') return null;
    throw new Error(`unexpected ${event.type} in a request body`);
  }

  /** @internal Whether the request's body has ended (its EndOfMessage taken). */
  get bodyDone(): boolean {
    const state = this.conn.theirState;
    return state !== 'SEND_BODY';
  }

}

/** The stream handed to an upgrade: bytes a read begun before the switch brought, then the stream's own. */
class HandoverStream implements ByteStream {
  private delivered: number;
  private late = true;

  constructor(
    private readonly inner: ByteStream,
    private readonly readerDone: Promise<void>,
    private readonly trailing: () => { readonly data: Uint8Array; readonly closed: boolean } | null,
    delivered: number,
    private ended: boolean,
  ) {
    this.delivered = delivered;
  }

  get tls(): TlsInfo | null {
    return this.inner.tls ?? null;
  }

  get remoteAddress(): StreamAddress | null {
    return this.inner.remoteAddress ?? null;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.late) {
      await this.readerDone;
      this.late = false;
      const trailing = this.trailing();
      if (trailing !== null) {
        this.ended ||= trailing.closed;
        if (trailing.data.length > this.delivered) {
          const rest = trailing.data.subarray(this.delivered);
          this.delivered = trailing.data.length;
          return rest;
        }
      }
    }
    if (this.ended) return null;
    return this.inner.read();
  }

  write(data: Uint8Array): Promise<void> {
    return this.inner.write(data);
  }

  close(): void {
    this.inner.close();
  }
}

/** A request body read through its connection. */
class Body implements RequestBody {
  private used = false;

  constructor(private readonly connection: ServerConnection) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.used) throw new TypeError('the request body was read already');
    this.used = true;
    for (;;) {
      const chunk = await this.connection.nextBodyChunk();
      if (chunk === null) return;
      yield chunk;
    }
  }

  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let length = 0;
    for await (const part of this) {
      parts.push(part);
      length += part.length;
    }
    return concatBytes(parts);
  }

  async text(): Promise<string> {
    return decoder.decode(await this.bytes());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
}

/**
 * The request the handler gets (see ServerRequest), and its abort: its body and its
 * AbortController are made only if someone asks for them.
 */
class IncomingRequest implements ServerRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: FieldList;
  readonly httpVersion: '1.0' | '1.1';
  private bodyReader: Body | null = null;
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private aborted = false;

  constructor(
    head: RequestEvent,
    private readonly connection: ServerConnection,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.headers = head.headers;
    this.httpVersion = head.httpVersion;
  }

  get body(): RequestBody {
    return (this.bodyReader ??= new Body(this.connection));
  }

  get remoteAddress(): StreamAddress | null {
    return this.connection.remoteAddress();
  }

  get path(): string {
    const q = this.target.indexOf('?');
    return q === -1 ? this.target : this.target.slice(0, q);
  }

  get query(): string {
    const q = this.target.indexOf('?');
    return q === -1 ? '' : this.target.slice(q + 1);
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** @internal The client went away, or the server closes now: the signal aborts. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** What ends a wait: its Wake, or (runtimes that offer it, see Waiter.startWith) its resolve function. */
type Resume = Wake<void> | ((value: void) => void);

function resume(wake: Resume): void {
  if (typeof wake === 'function') wake();
  else wake.resolve();
}

/** A Waiter that hands its wake to a slot (one per connection and wait kind: nothing made per wait). */
class WakeSlot implements Waiter<void> {
  constructor(private readonly keep: (wake: Resume) => void) {}
  start(wake: Wake<void>): void {
    this.keep(wake);
  }
  startWith(resolve: (value: void) => void): void {
    this.keep(resolve);
  }
  cancel(): void {}
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
};
