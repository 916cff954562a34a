// http/server.ts
//
// The HTTP/1.1 server, written once on the Runtime interface: proto-http's connection object
// does the protocol; this file does the IO, the timeouts and the handler's life. Each backend
// re-exports `serveHttp` bound to itself.
//
// Invariants:
// - One background activity per connection (a kernel task on curio) runs its request/response
//   cycles in order; each request's handler runs as a background activity of its own, so that
//   a client disconnecting aborts the request's signal and, on curio, cancels the handler's
//   task at its await.
// - A client that closes its side (or whose connection breaks) while its request is under way
//   aborts the request's signal and cancels the handler's activity (Go's server does the same;
//   a half-closed client is treated alike, since a read cannot tell the two apart).
// - Reading is paced by the handler: the reader stops while more than READ_HIGH_WATER bytes
//   received are not yet consumed (a body nobody reads, pipelined requests), so memory per
//   connection is bounded; writing awaits the stream (backpressure both ways).
// - A handler that throws (or whose response is malformed) gets one 500 if nothing of its
//   response was sent, and the connection goes on if the request was read to its end;
//   otherwise the connection is closed (a half-sent response cannot be mended).
// - A request the peer got wrong gets the status its RemoteProtocolError suggests (400, 413,
//   414, 431, 501, 505) and `Connection: close`.
// - Timeouts: `headersTimeout` from the first byte of a request (or the connection's start)
//   until its head is complete (408, then close); `idleTimeout` while a kept-alive connection
//   waits for its next request (close); `bodyTimeout` while the server waits for more bytes of
//   a request body it is reading (408 if no response was begun, then close).
// - close() stops accepting, closes idle connections at once and lets requests in flight end
//   (their responses say `Connection: close`); it resolves when every connection has ended.
//   closeNow() also aborts the requests in flight.

import { Data, EndOfMessage, FieldList, HttpConnection, InformationalResponse, NEED_DATA, PAUSED, RemoteProtocolError, Response as ResponseEvent } from '@curio-ts/proto-http';
import type { FieldsInit, HttpEvent, HttpLimits, Request as RequestEvent } from '@curio-ts/proto-http';
import { ConnectionError } from '../errors.js';
import { FnWaiter } from '../runtime.js';
import { checkAnswer } from './answer.js';
import type { Background, ByteStream, Listener, ListenTarget, Runtime, StreamAddress, TlsInfo, Wake } from '../runtime.js';

/** Received and unconsumed bytes above which a connection stops reading. */
const READ_HIGH_WATER = 64 * 1024;
/** Unread request body (after the response) the server drains to keep the connection; beyond, it closes. */
const DRAIN_LIMIT = 256 * 1024;

const EMPTY = new Uint8Array(0);
/** The answer to a handler that failed, or whose answer cannot be sent. */
const INTERNAL_ERROR: ServerResponse = { status: 500, headers: [['Content-Type', 'text/plain']], body: 'Internal Server Error' };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

class Server implements HttpServer {
  readonly live = new Set<ServerConnection>();
  closing = false;
  private acceptor: Background | null = null;
  private readonly ended = new Set<Promise<void>>();

  constructor(
    readonly runtime: Runtime,
    private readonly listener: Listener,
    readonly handler: HttpHandler,
    readonly options: HttpServerOptions,
  ) {}

  get address(): StreamAddress {
    return this.listener.address;
  }

  get connections(): number {
    return this.live.size;
  }

  start(): void {
    this.acceptor = this.runtime.spawn(async () => {
      try {
        await this.acceptLoop();
      } finally {
        // Cancelled from outside (on curio: the kernel shutting down at the end of run(), a
        // task group cancelled): nothing accepts any more, so the port is released too.
        this.listener.close();
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
      this.live.add(connection);
      const background = this.runtime.spawn(() => connection.run(), 'http connection');
      connection.background = background;
      const done = background.done.then(() => {
        this.live.delete(connection);
        this.ended.delete(done);
      });
      this.ended.add(done);
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
    for (const connection of this.live) each(connection);
    await this.acceptor?.done;
    while (this.ended.size > 0) await Promise.all([...this.ended]);
  }
}

/** One connection's cycles. */
class ServerConnection {
  background: Background | null = null;
  private readonly conn: HttpConnection;
  private readonly runtime: Runtime;
  /** The consumer waits for bytes (NEED_DATA). */
  private dataWake: Wake<void> | null = null;
  /** The reader waits for the consumer to drain. */
  private drainWake: Wake<void> | null = null;
  private reader: Background | null = null;
  private readError: unknown = null;
  private eof = false;
  private idle = true;
  private closed = false;
  private current: RequestAbort | null = null;
  /** A handler is running (in this connection's activity). */
  private inHandler = false;
  /** The client went away while its request was under way. */
  private gone = false;
  private timerCancel: (() => void) | null = null;
  /** Bytes received since the connection waits for its current request (0: none of its head yet). */
  private cycleBytes = 0;
  /** The timer armed is the idle timeout (no byte of the next request yet). */
  private waitingIdle = false;
  /** The connection waits for bytes of a request body, under bodyTimeout. */
  private waitingForBody = false;

  constructor(
    private readonly server: Server,
    private readonly stream: ByteStream,
  ) {
    this.runtime = server.runtime;
    this.conn = new HttpConnection('server', server.options);
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
    this.stream.close();
    this.wakeData();
    this.wakeDrain();
  }

  async run(): Promise<void> {
    this.reader = this.runtime.spawn(() => this.readLoop(), 'http reader');
    try {
      await this.cycles();
    } catch {
      // Errors of the stream end the connection; handler errors were answered already.
    } finally {
      this.deadline = Infinity;
      this.timerCancel?.();
      this.timerCancel = null;
      this.shut();
      this.reader.cancel();
      await this.reader.done;
      this.conn.destroy();
    }
  }

  // Reading -----------------------------------------------------------------------------------

  private async readLoop(): Promise<void> {
    try {
      while (!this.closed) {
        const theirs = this.conn.theirState;
        if (theirs === 'SWITCHED_PROTOCOL') return;
        if (this.conn.pendingBytes >= READ_HIGH_WATER || theirs === 'MIGHT_SWITCH_PROTOCOL') {
          await this.runtime.wait<void>('HTTP_READ_PAUSED', new FnWaiter<void>((wake) => (this.drainWake = wake)));
          continue;
        }
        const chunk = await this.stream.read();
        if (this.closed) return;
        if (chunk === null || chunk.length === 0) {
          this.eof = true;
          this.conn.receiveData(EMPTY);
          this.clientGone(new Error('the client closed the connection'));
          return;
        }
        if (this.idle && this.cycleBytes === 0 && this.waitingIdle) {
          // The first byte of the next request: its head now has headersTimeout.
          this.armTimer(this.server.options.headersTimeout ?? 60_000, false);
        }
        this.cycleBytes += chunk.length;
        this.conn.receiveData(chunk);
        this.wakeData();
      }
    } catch (error) {
      this.readError = error;
      this.clientGone(error);
    }
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
    wake?.resolve();
  }

  private wakeDrain(): void {
    const wake = this.drainWake;
    this.drainWake = null;
    wake?.resolve();
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
      await this.runtime.wait<void>('HTTP_READ', new FnWaiter<void>((wake) => (this.dataWake = wake)));
      if (this.waitingForBody) {
        this.waitingForBody = false;
        this.cancelTimer();
      }
    }
  }

  // Cycles ------------------------------------------------------------------------------------

  private async cycles(): Promise<void> {
    const options = this.server.options;
    let first = true;
    while (!this.closed) {
      this.idle = true;
      if (this.server.closing && this.conn.pendingBytes === 0) return;
      this.cycleBytes = this.conn.pendingBytes;
      this.waitingIdle = !first && this.cycleBytes === 0;
      this.armTimer(this.waitingIdle ? (options.idleTimeout ?? 5_000) : (options.headersTimeout ?? 60_000), this.waitingIdle);
      first = false;
      const event = await this.next();
      if (event === null || event === PAUSED || event.type !== 'request') return;
      this.idle = false;
      this.cancelTimer();
      const ok = await this.exchange(event);
      if (!ok || this.closed) return;
      const ours = this.conn.ourState;
      const theirs = this.conn.theirState;
      if (ours === 'DONE' && theirs === 'DONE') {
        this.conn.startNextCycle();
        this.wakeDrain();
      } else return;
    }
  }

  /** One request and its response. False: the connection must end. */
  private async exchange(head: RequestEvent): Promise<boolean> {
    const controller = new RequestAbort();
    this.current = controller;
    const body = new Body(this);
    const request = new IncomingRequest(head, this.stream.remoteAddress ?? null, controller, body);
    let response: ServerResponse | null = null;
    let failed = false;
    let failure: unknown;
    // The handler runs in the connection's own activity (no spawn per request): a client that
    // goes away cancels that activity (clientGone), which on curio interrupts the handler at
    // its await; the connection is over then anyway.
    this.inHandler = true;
    try {
      response = checkAnswer(await this.server.handler(request));
    } catch (error) {
      failed = true;
      failure = error;
    } finally {
      this.inHandler = false;
    }
    this.current = null;
    if (this.closed || this.gone) return false;
    if (failed) {
      this.server.options.onError?.(failure, request);
      return this.respond(head, body, INTERNAL_ERROR, request);
    }
    return this.respond(head, body, response as unknown as ServerResponse, request);
  }

  private async respond(head: RequestEvent, body: Body, response: ServerResponse, request: ServerRequest): Promise<boolean> {
    const conn = this.conn;
    const status = response.status ?? 200;
    let headers = FieldList.from(response.headers);
    const payload = response.body ?? null;
    let bytes: Uint8Array | null = null;
    if (typeof payload === 'string') bytes = encoder.encode(payload);
    else if (payload instanceof Uint8Array) bytes = payload;
    if (bytes !== null && headers.has('content-length') && headers.get('content-length')?.trim() !== String(bytes.length)) {
      this.server.options.onError?.(new TypeError(`the HTTP handler's Content-Length (${headers.get('content-length') ?? ''}) is not its body's length (${bytes.length})`), request);
      return this.respond(head, body, INTERNAL_ERROR, request);
    }
    const extra: [string, string][] = [];
    if (bytes !== null && !headers.has('content-length') && !headers.has('transfer-encoding')) extra.push(['Content-Length', String(bytes.length)]);
    if (payload === null && status !== 101 && status !== 204 && status !== 304 && !headers.has('content-length') && !headers.has('transfer-encoding') && head.method !== 'HEAD') extra.push(['Content-Length', '0']);
    const streamed = payload !== null && bytes === null;
    if (streamed && this.conn.theyAreWaitingFor100Continue && head.method !== 'HEAD' && status >= 200) {
      // A streamed response may read the request's body as it goes (an echo): the client must
      // be told to send it before the final response's head.
      try {
        await this.stream.write(this.conn.send(new InformationalResponse(100)) as Uint8Array);
      } catch {
        return false;
      }
    }
    // The next request can follow only once this one's body is read to its end: a client still
    // waiting for 100-continue may or may not send it, so that connection closes; otherwise what
    // is left is drained after the response (up to DRAIN_LIMIT, else the connection closes).
    // An HTTP/1.0 request with Transfer-Encoding has faulty framing: answer it, then close
    // (RFC 9112 §6.1), or what its sender meant as body could be read as the next request.
    let keep = !this.server.closing && !(this.conn.theyAreWaitingFor100Continue && !body.done) && !(head.httpVersion === '1.0' && head.headers.has('transfer-encoding'));
    if (!keep && !hasClose(headers)) extra.push(['Connection', 'close']);
    if (extra.length > 0) headers = FieldList.from([...headers.entries(), ...extra]);
    let started = false;
    if (status === 101 || (head.method === 'CONNECT' && status >= 200 && status < 300)) {
      // A switch is accepted once the request was read to its end.
      if (!(await body.drain(DRAIN_LIMIT))) return false;
    }
    try {
      const event = status >= 100 && status < 200 && status !== 101 ? new InformationalResponse(status, headers) : new ResponseEvent(status, headers);
      const headBytes = conn.send(event) as Uint8Array;
      started = true;
      if (status === 101) {
        await this.stream.write(headBytes);
        await this.switchTo(response);
        return false;
      }
      if (bytes !== null) {
        await this.write(headBytes, head.method === 'HEAD' || bytes.length === 0 ? null : (conn.send(new Data(bytes)) as Uint8Array), conn.send(new EndOfMessage()) as Uint8Array);
      } else if (payload !== null && head.method !== 'HEAD') {
        await this.stream.write(headBytes);
        for await (const part of payload as AsyncIterable<Uint8Array | string>) {
          if (this.closed) return false;
          const chunk = typeof part === 'string' ? encoder.encode(part) : part;
          if (chunk.length === 0) continue;
          await this.stream.write(conn.send(new Data(chunk)) as Uint8Array);
        }
        const end = conn.send(new EndOfMessage()) as Uint8Array;
        if (end.length > 0) await this.stream.write(end);
      } else {
        await this.write(headBytes, null, conn.send(new EndOfMessage()) as Uint8Array);
      }
    } catch (error) {
      if (this.closed) return false;
      this.server.options.onError?.(error, request);
      if (!started && conn.ourState !== 'ERROR') return this.respond(head, body, INTERNAL_ERROR, request);
      return false;
    }
    if (keep && !body.done) keep = await body.drain(DRAIN_LIMIT);
    return keep && conn.ourState === 'DONE';
  }

  /** Write a head, an optional body and an end in one write. */
  private async write(a: Uint8Array, b: Uint8Array | null, c: Uint8Array): Promise<void> {
    const length = a.length + (b === null ? 0 : b.length) + c.length;
    if (length === a.length) return this.stream.write(a);
    const out = new Uint8Array(length);
    out.set(a, 0);
    if (b !== null) out.set(b, a.length);
    out.set(c, length - c.length);
    return this.stream.write(out);
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
    const reader = this.reader as Background;
    const stream = new HandoverStream(this.stream, reader.done, () => this.conn.trailingData, head.length, trailing?.closed === true);
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
      await this.stream.write(encoder.encode(`HTTP/1.1 ${error.statusHint} ${REASONS[error.statusHint] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${encoder.encode(text).length}\r\n\r\n${text}`));
    } catch {
      // The client is gone.
    }
  }

  /**
   * Arm the connection's deadline `ms` from now. One runtime timer at most is pending per
   * connection: re-arming only moves the deadline, and a timer that fires before it re-arms
   * itself for the rest (a keep-alive connection would otherwise start and stop a timer per
   * request).
   */
  private armTimer(ms: number, idle: boolean): void {
    if (!Number.isFinite(ms) || ms <= 0) {
      this.deadline = Infinity;
      return;
    }
    this.deadline = this.runtime.now() + ms;
    this.deadlineIdle = idle;
    if (this.timerCancel !== null && this.deadline < this.timerAt) {
      // The pending timer would fire too late for this deadline.
      this.timerCancel();
      this.timerCancel = null;
    }
    if (this.timerCancel === null) this.startTimer(ms);
  }

  private deadline = Infinity;
  private deadlineIdle = false;
  /** When the pending timer fires. */
  private timerAt = 0;

  private startTimer(ms: number): void {
    this.timerAt = this.runtime.now() + ms;
    this.timerCancel = this.runtime.timer(ms, () => {
      this.timerCancel = null;
      if (this.closed || this.deadline === Infinity) return;
      const left = this.deadline - this.runtime.now();
      if (left > 1) {
        this.startTimer(left);
        return;
      }
      const idle = this.deadlineIdle;
      if ((!idle && this.cycleBytes > 0 && this.conn.ourState === 'IDLE') || (this.waitingForBody && this.conn.ourState === 'SEND_RESPONSE')) {
        // A head (or a body the handler waits for, its response not begun) that did not arrive in time: 408, then close.
        this.stream.write(encoder.encode('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')).then(
          () => this.shut(),
          () => this.shut(),
        );
        return;
      }
      this.shut();
    });
  }

  /** No deadline while a request is handled (the pending timer, if any, will find none). */
  private cancelTimer(): void {
    this.deadline = Infinity;
  }

  // For the body ------------------------------------------------------------------------------

  /** @internal The next body chunk, or null at its end (the request's EndOfMessage). */
  async nextBodyChunk(): Promise<Uint8Array | null> {
    if (this.conn.theyAreWaitingFor100Continue && this.conn.ourState === 'SEND_RESPONSE') {
      await this.stream.write(this.conn.send(new InformationalResponse(100)) as Uint8Array);
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
    if (parts.length === 1) return parts[0] as Uint8Array;
    const out = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  async text(): Promise<string> {
    return decoder.decode(await this.bytes());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  /**
   * After the handler: read what is left of the body, up to `limit` bytes, so the connection
   * can carry the next request. False when it cannot (too much left, a client still waiting for
   * 100-continue, the stream gone).
   */
  async drain(limit: number): Promise<boolean> {
    if (this.connection.bodyDone) return true;
    let left = limit;
    try {
      for (;;) {
        const chunk = await this.connection.nextBodyChunk();
        if (chunk === null) return true;
        left -= chunk.length;
        if (left < 0) return false;
      }
    } catch {
      return false;
    }
  }

  /** Whether the body has been read to its end. */
  get done(): boolean {
    return this.connection.bodyDone;
  }
}

/** A request's abort: its AbortController is made only if someone looks at the signal. */
class RequestAbort {
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private aborted = false;

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** The request the handler gets (see ServerRequest). */
class IncomingRequest implements ServerRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: FieldList;
  readonly httpVersion: '1.0' | '1.1';

  constructor(
    head: RequestEvent,
    readonly remoteAddress: StreamAddress | null,
    private readonly abort: RequestAbort,
    readonly body: Body,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.headers = head.headers;
    this.httpVersion = head.httpVersion;
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
    return this.abort.signal;
  }
}

function hasClose(headers: FieldList): boolean {
  const value = headers.get('connection');
  return value !== null && value.split(',').some((part) => part.trim().toLowerCase() === 'close');
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
