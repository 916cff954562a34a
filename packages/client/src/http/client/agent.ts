// http/client/agent.ts
//
// HttpAgent: keep-alive connection pools, one per origin (scheme, host, port, and the unix
// socket and TLS options used to reach it), and the sending of one request on a pooled
// connection. Every runtime has a default agent (`defaultAgent`), which `request` uses unless
// given another.
//
// Invariants:
// - At most `maxConnectionsPerOrigin` connections per origin are open or opening; a request
//   beyond waits (through the Runtime: cancellable on curio, and by its signal and timeout) for
//   one to come back or close.
// - A connection goes back to its pool only when its response was read to its end and both
//   sides are DONE; the most recently used idle connection is reused first (the others then
//   reach their idle timeout and close). An idle connection the server closed (or that
//   received anything unasked) is dropped by its reader at once, so it is never reused.
// - A request that failed on a reused connection before any byte of the response arrived
//   (the server closed the idle connection as we sent) is sent once more on a fresh connection
//   when that is safe: an idempotent method and a body that can be sent again.
// - An idle connection closes after `idleTimeout`, or earlier if the server's `Keep-Alive:
//   timeout=N` says it will drop it sooner (one second before that). From IDLE_UNREF_MS after
//   it went idle, it no longer keeps the process alive (a script exits with connections in
//   its pools); a request under way does.
// - Pipelining (`pipelining` > 1): a pipelinable request (an idempotent method, no streamed
//   body, no Upgrade) may be sent on a busy connection whose requests in flight are all
//   pipelinable, up to `pipelining` in flight, before a new connection is opened; an idle
//   connection is still taken first. Responses are read strictly in order (connection.ts). A
//   response closing the connection ends its pipeline, and a connection that breaks or is closed
//   (an abort or timeout of any request on it) fails the requests behind with a
//   ConnectionLostError: each of those whose response had not begun is sent once more on
//   another connection, by the retry rule above.
//
// Discussion: the usual request without an async function. A request on an idle connection
// with its body sent whole (a keep-alive GET) is sent at once, and the caller is handed the
// runtime's wait for the head itself (Exchange.awaitHead): the connection's reader, as bytes
// arrive, reads the head and settles that wait with the response (headArrived), or parks it
// again. An async function in between would cost the caller one Promise job and two Promises
// per request, and on curio the calling task would await a plain Promise instead of a kernel
// operation of its own. A failure there follows the same rules as in `sendLoop` (sentAgain);
// a request sent again settles the caller's wait with sendLoop's Promise. Measured (callgrind,
// instructions per keep-alive GET of a node:http hello, apps/bench profile/count.js): about
// 53 000 before issue 10's work on this path, 29 000 after (the raw net + WireParser floor:
// 26 000).

import { concatBytes } from '../../bytes.js';
import { Data, EndOfMessage, LocalProtocolError, Request as RequestEvent } from '@curio-ts/proto-http';
import type { HttpEvent, HttpLimits } from '@curio-ts/proto-http';
import { ClientClosedError, ConnectionError, ConnectionLostError, InvalidArgumentError, ProtocolViolationError } from '../../errors.js';
import type { Background, ByteStream, ConnectTarget, Runtime, TlsOptions, Wake } from '../../runtime.js';
import { ClientConnection } from './connection.js';
import { Exchange } from './exchange.js';
import { hostOf, parseProxy, portOf, tunnelTls } from './proxy.js';
import type { ProxyTarget } from './proxy.js';
import { ClientResponse, ResponseBody } from './response.js';
import type { HttpResponse } from './response.js';
import { requestOn } from './request.js';
import type { HttpRequestOptions } from './request.js';

/** Options of {@link HttpAgent}. */
export interface HttpAgentOptions extends HttpLimits {
  /** Connections open (or opening) per origin at most; default 64. */
  readonly maxConnectionsPerOrigin?: number;
  /** ms an idle keep-alive connection stays open; default 4 000 (0: connections are not kept). */
  readonly idleTimeout?: number;
  /** ms to connect (and finish the TLS handshake); default 10 000. */
  readonly connectTimeout?: number;
  /** TLS options for https origins, unless a request gives its own. */
  readonly tls?: TlsOptions;
  /** An http:// proxy for every request, unless a request gives its own (see proxy.ts). */
  readonly proxy?: string | URL;
  /**
   * Requests in flight per connection at most (HTTP/1.1 pipelining); default 1: off. Only
   * idempotent requests (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) without a streamed body and
   * without Upgrade are pipelined, and never behind one that is not. A pipelined request's
   * headers timeout starts when the responses before it have been read, and a response whose
   * body is not read holds the requests behind it.
   */
  readonly pipelining?: number;
}

/** A request ready to send (see request.ts). */
export interface RequestSpec {
  readonly url: URL;
  readonly method: string;
  /** Header fields as sent (Host and framing included). */
  readonly headers: readonly (readonly [string, string])[];
  /** Header fields as the caller gave them (what a redirection keeps of them). */
  readonly given: readonly (readonly [string, string])[];
  readonly body: Uint8Array | AsyncIterable<Uint8Array | string> | null;
  readonly socketPath: string | undefined;
  readonly tls: TlsOptions | undefined;
  readonly proxy: ProxyTarget | undefined;
  readonly signal: AbortSignal | undefined;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
}

/** Methods a request may be sent again with (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const encoder = new TextEncoder();
/** Events are immutable: one end-of-message serves every request. */
const END = new EndOfMessage();

/** Raised when a connection chosen for pipelining stopped accepting requests before ours was sent. */
const REACQUIRE = new Error('reacquire');

class OriginPool {
  readonly idle: ClientConnection[] = [];
  /** Connections with requests in flight (candidates for pipelining). */
  readonly busy = new Set<ClientConnection>();
  /** Connections open or opening. */
  open = 0;
  readonly waiters: Wake<void>[] = [];
  constructor(readonly key: string) {}
}

/** Keep-alive connection pools per origin (see the file header). */
export class HttpAgent {
  private readonly pools = new Map<string, OriginPool>();
  private readonly live = new Set<ClientConnection>();
  private closed = false;
  /** Connections released to their pools, to unref if still idle when `unrefTimer` fires. */
  private toUnref: ClientConnection[] = [];
  private unrefTimer: (() => void) | null = null;
  private readonly unrefIdle = (): void => {
    this.unrefTimer = null;
    const connections = this.toUnref;
    this.toUnref = [];
    for (const connection of connections) {
      connection.unrefQueued = false;
      connection.unrefIfIdle();
    }
  };
  private readonly maxPerOrigin: number;
  private readonly idleTimeout: number;
  private readonly connectTimeout: number;
  private readonly proxy: ProxyTarget | undefined;
  private readonly pipelining: number;
  private readonly releaseBody = (connection: ClientConnection): void => this.release(connection);

  constructor(
    /** The runtime the agent's connections run on. */
    readonly runtime: Runtime,
    private readonly options: HttpAgentOptions = {},
  ) {
    this.maxPerOrigin = checkCount('maxConnectionsPerOrigin', options.maxConnectionsPerOrigin ?? 64, 1);
    this.idleTimeout = checkMs('idleTimeout', options.idleTimeout ?? 4_000);
    this.connectTimeout = checkMs('connectTimeout', options.connectTimeout ?? 10_000);
    this.proxy = options.proxy === undefined ? undefined : parseProxy(options.proxy);
    this.pipelining = checkCount('pipelining', options.pipelining ?? 1, 1);
  }

  /** `request(runtime, url, options)` on this agent's pools. */
  request(url: string | URL, options: Omit<HttpRequestOptions, 'agent'> = {}): Promise<HttpResponse> {
    return requestOn(this, url, options);
  }

  /** Connections open now (idle and busy, all origins). */
  get connections(): number {
    return this.live.size;
  }

  /** Idle connections in the pools now. */
  get idleConnections(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.idle.length;
    return n;
  }

  /**
   * Close the agent: idle connections close now, requests waiting for a connection fail with a
   * ClientClosedError, and so do later requests; responses being read finish, and their
   * connections then close. Resolves once the idle connections are closed.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.unrefTimer?.();
    this.unrefTimer = null;
    for (const connection of this.toUnref) connection.unrefQueued = false;
    this.toUnref = [];
    const finished: Promise<void>[] = [];
    for (const pool of this.pools.values()) {
      for (const connection of [...pool.idle]) {
        finished.push(connection.finished);
        connection.destroy();
      }
      for (const wake of pool.waiters.splice(0)) wake.reject(new ClientClosedError('the HTTP agent is closed'));
    }
    await Promise.all(finished);
  }

  /**
   * @internal Send `spec` and read the response's head. The usual case (an idle connection
   * ready, a body sent whole) returns the Promise of the wait for the head itself, settled
   * with the response by the reader of the connection when the head arrives (headArrived):
   * no async function between the head and the caller. Everything else goes through
   * `sendLoop`.
   */
  send(spec: RequestSpec): Promise<ClientResponse> {
    const url = spec.url;
    const exchange = new Exchange(this.runtime, spec.method, url, spec.signal, spec.headersTimeout, spec.bodyTimeout);
    const tls = url.protocol === 'https:' ? (spec.tls ?? this.options.tls ?? {}) : undefined;
    const proxy = spec.proxy ?? this.proxy;
    const key = originKey(url, spec.socketPath, tls, proxy);
    const pipelinable = this.pipelining > 1 && isPipelinable(spec);
    if (this.closed || exchange.failure !== null || isStreamed(spec.body)) return this.sendLoop(spec, exchange, key, tls, proxy, pipelinable, false, false);
    const connection = this.takeIdle(this.poolFor(key));
    if (connection === null) return this.sendLoop(spec, exchange, key, tls, proxy, pipelinable, false, false);
    let event: HttpEvent | null;
    try {
      // Idle: nothing in flight, so the request is not behind another (sendOn answers false).
      this.sendOn(connection, spec, proxy, exchange, pipelinable);
      event = this.headNow(connection, exchange);
      if (event === null) {
        exchange.spec = spec;
        return connection.awaitHead<ClientResponse>(exchange, this.headArrived);
      }
      return Promise.resolve(this.respond(connection, spec, exchange, event));
    } catch (error) {
      if (error === REACQUIRE || this.sentAgain(connection, true, false, exchange, spec, error)) return this.sendLoop(spec, exchange, key, tls, proxy, pipelinable, true, true);
      return Promise.reject(error);
    }
  }

  /** The response head if it is there now (1xx skipped), else null; throws as ClientConnection.nextNow. */
  private headNow(connection: ClientConnection, exchange: Exchange): HttpEvent | null {
    let event = connection.nextNow(exchange);
    while (event !== null && event.type === 'informational-response') event = connection.nextNow(exchange);
    return event;
  }

  /**
   * Bytes arrived for a request waiting for its head in the connection's slot (see `send`):
   * settle the caller's wait with the response, or with its failure, or with the request sent
   * again; or park it again while the head is incomplete.
   */
  private readonly headArrived = (exchange: Exchange, wake: Wake<unknown>): void => {
    const connection = exchange.holding as ClientConnection;
    const spec = exchange.spec as RequestSpec;
    try {
      const event = this.headNow(connection, exchange);
      if (event === null) connection.parkHead(exchange, wake);
      else wake.resolve(this.respond(connection, spec, exchange, event));
    } catch (error) {
      // The exchange's own failure (abort, timeout, cancellation) settles the wait itself.
      if (exchange.failure !== null && error === exchange.failure) return;
      if (this.sentAgain(connection, true, false, exchange, spec, error)) {
        // After the connection's end is seen by its pool (its onEnd runs after this).
        const tls = spec.url.protocol === 'https:' ? (spec.tls ?? this.options.tls ?? {}) : undefined;
        const proxy = spec.proxy ?? this.proxy;
        const key = originKey(spec.url, spec.socketPath, tls, proxy);
        const pipelinable = this.pipelining > 1 && isPipelinable(spec);
        wake.resolve(Promise.resolve().then(() => this.sendLoop(spec, exchange, key, tls, proxy, pipelinable, true, true)));
      } else if (exchange.failure === null) {
        exchange.fail(error);
      } else wake.reject(error);
    }
  };

  /**
   * A request failed on `connection`: close it, and say whether to send the request again on a
   * fresh connection (see the file header); if not, the exchange fails with `error`.
   */
  private sentAgain(connection: ClientConnection, reused: boolean, retried: boolean, exchange: Exchange, spec: RequestSpec, error: unknown): boolean {
    connection.destroy();
    exchange.holding = null;
    // A pipelined request whose turn had not come was not answered at all; one on a
    // connection another request's failure closed did nothing wrong.
    const unanswered = !connection.isAnswering(exchange) || connection.received === 0;
    const innocent = reused || (connection.failedBy !== null && connection.failedBy !== exchange);
    if (innocent && !retried && exchange.failure === null && unanswered && error instanceof ConnectionError && IDEMPOTENT.has(spec.method) && !isStreamed(spec.body)) return true;
    exchange.fail(error);
    return false;
  }

  /** Send `spec`: a connection (waiting for one if need be), the request, the response's head. */
  private async sendLoop(
    spec: RequestSpec,
    exchange: Exchange,
    key: string,
    tls: TlsOptions | undefined,
    proxy: ProxyTarget | undefined,
    pipelinable: boolean,
    fresh: boolean,
    retried: boolean,
  ): Promise<ClientResponse> {
    for (;;) {
      let connection: ClientConnection;
      let reused = true;
      const pool = this.poolFor(key);
      // A connection ready now is taken without a wait (no Promise, no turn of the event loop);
      // a busy one to pipeline on, at once too (no wait between the choice and the send). A
      // retried request (`fresh`) skips idle connections, not busy ones (alive, answering).
      let ready = this.closed || exchange.failure !== null || fresh ? null : this.takeIdle(pool);
      if (ready === null && pipelinable && !this.closed) ready = this.pipelineOnto(pool);
      if (ready !== null) connection = ready;
      else {
        try {
          [connection, reused] = await this.acquire(pool, spec, tls, proxy, exchange, fresh, pipelinable);
        } catch (error) {
          exchange.fail(error);
          throw error;
        }
      }
      try {
        let behind = this.sendOn(connection, spec, proxy, exchange, pipelinable);
        if (typeof behind !== 'boolean') behind = await behind;
        if (behind) {
          await connection.awaitTurn(exchange);
          exchange.awaitHeaders();
        }
        let event: HttpEvent | null;
        while ((event = this.headNow(connection, exchange)) === null) await connection.arrival(exchange);
        return this.respond(connection, spec, exchange, event);
      } catch (error) {
        if (error === REACQUIRE) continue;
        if (!this.sentAgain(connection, reused, retried, exchange, spec, error)) throw error;
        retried = true;
        fresh = true;
      }
    }
  }

  private poolFor(key: string): OriginPool {
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new OriginPool(key);
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** The most recently used idle connection of `pool` still reusable (now busy), or null. */
  private takeIdle(pool: OriginPool): ClientConnection | null {
    while (pool.idle.length > 0) {
      const connection = pool.idle.pop() as ClientConnection;
      connection.deadline.clear();
      connection.idle(false);
      if (connection.reusable) {
        pool.busy.add(connection);
        return connection;
      }
      connection.destroy();
    }
    return null;
  }

  /** A busy connection of `pool` that takes one more pipelined request now, or null. */
  private pipelineOnto(pool: OriginPool): ClientConnection | null {
    for (const connection of pool.busy) if (connection.canPipeline(this.pipelining)) return connection;
    return null;
  }

  /**
   * A connection for the request: an idle one (unless `fresh`), a busy one to pipeline on
   * (`pipelinable`), a new one, or wait for any of them.
   */
  private async acquire(
    pool: OriginPool,
    spec: RequestSpec,
    tls: TlsOptions | undefined,
    proxy: ProxyTarget | undefined,
    exchange: Exchange,
    fresh: boolean,
    pipelinable: boolean,
  ): Promise<[ClientConnection, boolean]> {
    for (;;) {
      if (this.closed) throw new ClientClosedError('the HTTP agent is closed');
      exchange.check();
      const idle = fresh ? null : this.takeIdle(pool);
      if (idle !== null) return [idle, true];
      if (pipelinable) {
        const busy = this.pipelineOnto(pool);
        if (busy !== null) return [busy, true];
      }
      if (pool.open < this.maxPerOrigin) {
        const connection = await this.connect(pool, spec, tls, proxy, exchange);
        pool.busy.add(connection);
        return [connection, false];
      }
      await exchange.wait<void>('HTTP_POOL_WAIT', (wake) => {
        pool.waiters.push(wake);
        return () => {
          const at = pool.waiters.indexOf(wake);
          if (at !== -1) pool.waiters.splice(at, 1);
        };
      });
    }
  }

  private async connect(pool: OriginPool, spec: RequestSpec, tls: TlsOptions | undefined, proxy: ProxyTarget | undefined, exchange: Exchange): Promise<ClientConnection> {
    pool.open++;
    const url = spec.url;
    let target: ConnectTarget;
    if (spec.socketPath !== undefined) target = { path: spec.socketPath };
    else if (proxy !== undefined) target = { host: proxy.host, port: proxy.port };
    else target = tls === undefined ? { host: hostOf(url), port: portOf(url) } : { host: hostOf(url), port: portOf(url), tls };
    const tunnel = proxy !== undefined && tls !== undefined ? proxy : null;
    // Connecting runs as a background activity of its own (a kernel task on curio): the request
    // waiting for it may be one of several flows of a task, resumed outside the kernel's turn.
    let background: Background | null = null;
    const connecting = new Promise<ByteStream>((resolve, reject) => {
      background = this.runtime.spawn(async (signal) => {
        let opened: ByteStream | null = null;
        const close = (): void => opened?.close();
        signal.addEventListener('abort', close, { once: true });
        try {
          opened = await this.runtime.connect(target, { timeout: this.connectTimeout });
          if (signal.aborted) opened.close();
          resolve(tunnel === null ? opened : await tunnelTls(opened, url, tunnel, tls as TlsOptions));
        } catch (error) {
          reject(error);
        } finally {
          signal.removeEventListener('abort', close);
        }
      }, 'http connect');
    });
    let stream;
    try {
      stream = await exchange.settle('HTTP_CONNECT', connecting, (late) => late.close());
    } catch (error) {
      (background as Background | null)?.cancel();
      pool.open--;
      this.wakeOne(pool);
      throw error;
    }
    const connection = new ClientConnection(this.runtime, stream, this.options);
    connection.poolKey = pool.key;
    this.live.add(connection);
    connection.onEnd = () => {
      this.live.delete(connection);
      pool.busy.delete(connection);
      pool.open--;
      const at = pool.idle.indexOf(connection);
      if (at !== -1) {
        // Idle, and the server closed it (or it broke): close our side too (its timer stops).
        pool.idle.splice(at, 1);
        connection.destroy();
      }
      if (pool.open === 0 && pool.waiters.length === 0) this.pools.delete(pool.key);
      this.wakeOne(pool);
    };
    connection.start();
    return connection;
  }

  private wakeOne(pool: OriginPool): void {
    pool.waiters.shift()?.resolve();
  }

  /**
   * Send the request on `connection`: a request sent whole is written without waiting for the
   * stream (its response is what comes next); a streamed body is uploaded first. Returns
   * whether the request is pipelined behind others (then its turn is to be awaited).
   */
  private sendOn(connection: ClientConnection, spec: RequestSpec, proxy: ProxyTarget | undefined, exchange: Exchange, pipelinable: boolean): boolean | Promise<boolean> {
    const behind = connection.inFlightCount > 0;
    // Chosen for pipelining, but it stopped accepting requests meanwhile (a closing response head).
    if (behind && !connection.canPipeline(this.pipelining)) throw REACQUIRE;
    exchange.holding = connection;
    connection.uses++;
    // A pipelined request's headers timeout starts at its turn (the connection's deadline
    // serves the response being read).
    if (!behind) exchange.awaitHeaders();
    const conn = connection.conn;
    const body = spec.body;
    let head: Uint8Array;
    try {
      // Through a proxy, an http:// request is asked of the proxy: absolute form, its credentials.
      const viaProxy = proxy !== undefined && spec.url.protocol === 'http:';
      const target = viaProxy ? `${spec.url.origin}${targetOf(spec.url)}` : targetOf(spec.url);
      const headers = viaProxy && proxy.authorization !== null ? [...spec.headers, ['Proxy-Authorization', proxy.authorization] as const] : spec.headers;
      head = conn.send(requestEvent(spec.method, target, headers)) as Uint8Array;
      // A streamed body follows the head (uploadAll); a body sent whole goes with it.
      if (body instanceof Uint8Array && body.length > 0) {
        head = concatBytes([head, conn.send(new Data(body)) as Uint8Array, conn.send(END) as Uint8Array]);
      } else if (!isStreamed(body)) {
        // No body: its end adds no bytes unless the head said chunked.
        const end = conn.send(END) as Uint8Array;
        if (end.length > 0) head = concatBytes([head, end]);
      }
    } catch (error) {
      if (error instanceof LocalProtocolError) throw new InvalidArgumentError(`${spec.method} ${spec.url.href}: ${error.message}`, 'ERR_BAD_ARGUMENT', { cause: error });
      throw error;
    }
    connection.join(exchange, pipelinable);
    if (pipelinable && connection.canPipeline(this.pipelining)) {
      // A request waiting for a connection may pipeline behind this one (each wakes the next).
      const pool = this.pools.get(connection.poolKey);
      if (pool !== undefined) this.wakeOne(pool);
    }
    if (body === null || body instanceof Uint8Array) {
      connection.post(head);
      return behind;
    }
    return this.uploadAll(connection, head, body, exchange).then(() => behind);
  }

  /** The response's head arrived: the response, its body taking what has arrived already. */
  private respond(connection: ClientConnection, spec: RequestSpec, exchange: Exchange, event: HttpEvent): ClientResponse {
    if (event.type === 'connection-closed') throw new ConnectionLostError('the server closed the connection without a response');
    if (event.type !== 'response') throw new ProtocolViolationError(`unexpected ${event.type} before the response`);
    // The server's `Keep-Alive: timeout=N`: it drops idle connections after N s (one second of margin).
    const keepAlive = connection.conn.keepAliveTimeout;
    if (keepAlive !== null) connection.serverIdleMs = keepAlive * 1000 - 1000;
    const responseBody = new ResponseBody(connection, exchange, this.releaseBody);
    const response = new ClientResponse(event, spec.url.href, responseBody);
    responseBody.prefetch();
    // The body timeout, unless the body is complete already (the exchange then holds nothing).
    exchange.awaitBody();
    return response;
  }

  /** A streamed request: its head, then its body. */
  private async uploadAll(connection: ClientConnection, head: Uint8Array, body: AsyncIterable<Uint8Array | string>, exchange: Exchange): Promise<void> {
    await connection.write(head, exchange);
    await this.upload(connection, body, exchange);
  }

  /** A streamed request body: chunked (or the caller's Content-Length), written as it comes. */
  private async upload(connection: ClientConnection, body: AsyncIterable<Uint8Array | string>, exchange: Exchange): Promise<void> {
    const conn = connection.conn;
    try {
      for await (const part of body) {
        exchange.check();
        const chunk = typeof part === 'string' ? encoder.encode(part) : part;
        if (chunk.length === 0) continue;
        await connection.write(conn.send(new Data(chunk)) as Uint8Array, exchange);
      }
      const end = conn.send(END) as Uint8Array;
      if (end.length > 0) await connection.write(end, exchange);
    } catch (error) {
      if (error instanceof LocalProtocolError) throw new InvalidArgumentError(`the request body does not match its framing: ${error.message}`, 'ERR_BAD_ARGUMENT', { cause: error });
      throw error;
    }
  }

  /**
   * A response was read to its end: the next pipelined request's turn, or the connection back
   * to its pool, or closed.
   */
  private release(connection: ClientConnection): void {
    connection.endTurn();
    const conn = connection.conn;
    const pool = this.pools.get(connection.poolKey);
    if (connection.inFlightCount > 0) {
      // The server goes on to the next response, unless this one closed the connection: then
      // the requests behind fail with a ConnectionLostError and are sent again elsewhere.
      if (conn.theirState !== 'SEND_RESPONSE') {
        connection.destroy();
        return;
      }
      connection.passTurn();
      if (pool !== undefined) this.wakeOne(pool);
      return;
    }
    pool?.busy.delete(connection);
    if (this.closed || conn.ourState !== 'DONE' || conn.theirState !== 'DONE') {
      connection.destroy();
      return;
    }
    conn.startNextCycle();
    if (pool === undefined || !connection.reusable) {
      connection.destroy();
      return;
    }
    const ms = Math.min(this.idleTimeout, connection.serverIdleMs);
    if (ms <= 0) {
      connection.destroy();
      return;
    }
    pool.idle.push(connection);
    connection.idle(true);
    this.unrefLater(connection);
    connection.deadline.set(ms, connection);
    this.wakeOne(pool);
  }

  /**
   * Unref `connection` if it is still idle IDLE_UNREF_MS from now (see ClientConnection.idle):
   * a script whose connections are idle exits that much later, and a loop of requests does not
   * call into Node twice per request. One timer for every connection released meanwhile.
   */
  private unrefLater(connection: ClientConnection): void {
    if (connection.unrefQueued) return;
    connection.unrefQueued = true;
    this.toUnref.push(connection);
    this.unrefTimer ??= this.runtime.timer(IDLE_UNREF_MS, this.unrefIdle, UNREF);
  }
}

/** ms a connection released to its pool keeps the process alive (see HttpAgent.unrefLater). */
const IDLE_UNREF_MS = 100;
const UNREF = { unref: true } as const;

/** A count option: an integer ≥ `min`, or Infinity; else an InvalidArgumentError. */
export function checkCount(name: string, value: number, min: number): number {
  if (value === Infinity || (Number.isInteger(value) && value >= min)) return value;
  throw new InvalidArgumentError(`${name} must be an integer ≥ ${min} (got ${String(value)})`, 'ERR_BAD_ARGUMENT');
}

/** A duration option in ms: a number ≥ 0 (Infinity or 0: none); else an InvalidArgumentError. */
export function checkMs(name: string, value: number): number {
  if (typeof value === 'number' && value >= 0) return value;
  throw new InvalidArgumentError(`${name} must be a duration in ms ≥ 0 (got ${String(value)})`, 'ERR_BAD_ARGUMENT');
}

// The last URL a plain request (no unix socket, TLS options nor proxy) was keyed for, its key
// and its request target (a loop of requests to one URL makes them once).
let keyedUrl: URL | null = null;
let keyedKey = '';
let keyedTarget = '';

// The last request event made, and the fields array it was made of (events are immutable, and
// the arrays request.ts makes are never changed: a loop of equal requests makes it once).
let lastEvent: RequestEvent | null = null;
let lastEventFields: readonly (readonly [string, string])[] | null = null;

/** The request event of `method`, `target` and `fields` (see lastEvent). */
function requestEvent(method: string, target: string, fields: readonly (readonly [string, string])[]): RequestEvent {
  const last = lastEvent;
  if (last !== null && fields === lastEventFields && last.method === method && last.target === target) return last;
  const event = new RequestEvent(method, target, fields);
  lastEvent = event;
  lastEventFields = fields;
  return event;
}

/** The pool key of a request. */
function originKey(url: URL, socketPath: string | undefined, tls: TlsOptions | undefined, proxy: ProxyTarget | undefined): string {
  if (socketPath === undefined && tls === undefined && proxy === undefined) {
    if (url !== keyedUrl) {
      keyedKey = `${url.protocol}//${url.host}`;
      keyedTarget = targetOf(url);
      keyedUrl = url;
    }
    return keyedKey;
  }
  let key = `${url.protocol}//${url.host}`;
  if (proxy !== undefined) key += ` via ${proxy.url.href}`;
  if (socketPath !== undefined) key += ` unix:${socketPath}`;
  if (tls !== undefined) key += ` ${JSON.stringify(tls)}`;
  return key;
}

/** The request target: origin-form. */
function targetOf(url: URL): string {
  if (url === keyedUrl) return keyedTarget;
  return `${url.pathname === '' ? '/' : url.pathname}${url.search}`;
}

function isStreamed(body: RequestSpec['body']): boolean {
  return body !== null && !(body instanceof Uint8Array);
}

/**
 * Whether a request may be pipelined (sent behind others, and others behind it): an idempotent
 * method (RFC 9110 §9.2.2: sending it twice does what sending it once does, so it may be sent
 * again when the connection breaks before its response), a body sent whole, and no protocol
 * switch proposed.
 */
function isPipelinable(spec: RequestSpec): boolean {
  if (!IDEMPOTENT.has(spec.method) || isStreamed(spec.body)) return false;
  for (const [name] of spec.headers) if (name.length === 7 && name.toLowerCase() === 'upgrade') return false;
  return true;
}

