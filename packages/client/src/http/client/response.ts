// http/client/response.ts
//
// The response the HTTP client hands out, and its body: an async iterable of chunks pulled from
// the connection as the caller reads (backpressure: nothing is read ahead beyond the
// connection's high-water mark), or taken whole.
//
// Invariants:
// - The connection goes back to its pool exactly when the body has been read to its end and
//   both sides of the connection are DONE (keep-alive); a body cancelled, abandoned mid-way or
//   failed closes the connection instead.
// - What has already arrived is taken at once when the head arrives (up to the high-water
//   mark): a response complete in the first chunks (a small GET, HEAD, 204, 304) gives its
//   connection back before the caller even reads the body.

import type { FieldList, HttpEvent, Response as ResponseEvent } from '@curio-ts/proto-http';
import { concatBytes } from '../../bytes.js';
import { ClientClosedError, ProtocolViolationError } from '../../errors.js';
import { READ_HIGH_WATER } from './connection.js';
import type { ClientConnection } from './connection.js';
import type { Exchange } from './exchange.js';

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

/** A response body: an async iterable of chunks, read once. */
export interface HttpResponseBody extends AsyncIterable<Uint8Array> {
  /** The whole body. */
  bytes(): Promise<Uint8Array>;
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
  /** The whole body parsed as JSON. */
  json(): Promise<unknown>;
  /**
   * The next chunk, or null at the end. A chunk stays valid for good (it is the caller's).
   * Rejects with the request's error (timeout, abort, connection lost...). One read at a time.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Stop reading: the connection is closed (not returned to its pool) unless the body had
   * been read to its end. Idempotent.
   */
  cancel(): void;
  /**
   * Read and drop the rest of the body, up to `limit` bytes (default 64 KiB), so that the
   * connection can be reused; beyond `limit`, cancel instead.
   */
  dump(limit?: number): Promise<void>;
  /** Whether reading has begun. */
  readonly bodyUsed: boolean;
  /** The trailer fields, once the body has been read to its end (null before). */
  readonly trailers: FieldList | null;
}

/** What a request gives back. */
export interface HttpResponse {
  readonly status: number;
  /** The reason phrase the server sent ('' when none). */
  readonly statusText: string;
  readonly headers: FieldList;
  readonly httpVersion: '1.0' | '1.1';
  /** The URL of this response (the last one when redirections were followed). */
  readonly url: string;
  /** Whether redirections were followed to get here. */
  readonly redirected: boolean;
  readonly body: HttpResponseBody;
}

/** What the body tells its owner when the response has been read to its end. */
export type ReleaseConnection = (connection: ClientConnection) => void;

const decode = (bytes: Uint8Array): string => decoder.decode(bytes);

export class ClientResponse implements HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: FieldList;
  readonly httpVersion: '1.0' | '1.1';
  redirected = false;

  constructor(
    head: ResponseEvent,
    readonly url: string,
    readonly body: ResponseBody,
  ) {
    this.status = head.status;
    this.statusText = head.reason;
    this.headers = head.headers;
    this.httpVersion = head.httpVersion;
  }
}

export class ResponseBody implements HttpResponseBody {
  trailers: FieldList | null = null;
  private chunks: Uint8Array[] = [];
  private chunkHead = 0;
  private chunkBytes = 0;
  private complete = false;
  private failure: unknown = null;
  private used = false;
  private iterated = false;
  /** A read waits for the connection (one at a time). */
  private reading = false;

  constructor(
    private connection: ClientConnection | null,
    private readonly exchange: Exchange,
    private readonly release: ReleaseConnection,
  ) {}

  get bodyUsed(): boolean {
    return this.used;
  }

  /** Take the events that have arrived already (see the file header). */
  prefetch(): void {
    const connection = this.connection;
    if (connection === null) return;
    try {
      while (!this.complete && this.chunkBytes < READ_HIGH_WATER) {
        const event = connection.poll();
        if (event === null) return;
        this.accept(event);
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private accept(event: HttpEvent): void {
    switch (event.type) {
      case 'data':
        if (event.data.length === 0) return;
        this.chunks.push(event.data);
        this.chunkBytes += event.data.length;
        return;
      case 'end-of-message': {
        this.complete = true;
        this.trailers = event.trailers;
        const connection = this.connection as ClientConnection;
        this.connection = null;
        this.exchange.done();
        this.exchange.holding = null;
        this.release(connection);
        return;
      }
      default:
        throw new ProtocolViolationError(`unexpected ${event.type} in a response body`);
    }
  }

  private fail(error: unknown): void {
    this.exchange.fail(error);
    this.failure = this.exchange.failure;
    this.connection = null;
  }

  async read(): Promise<Uint8Array | null> {
    this.used = true;
    for (;;) {
      if (this.chunkHead < this.chunks.length) {
        const chunk = this.chunks[this.chunkHead] as Uint8Array;
        this.chunks[this.chunkHead++] = EMPTY;
        this.chunkBytes -= chunk.length;
        if (this.chunkHead === this.chunks.length) {
          this.chunks = [];
          this.chunkHead = 0;
        }
        return chunk;
      }
      if (this.complete) return null;
      if (this.failure !== null) throw this.failure;
      if (this.reading) throw new TypeError('a read of this response body is pending already');
      const connection = this.connection as ClientConnection;
      this.reading = true;
      try {
        const event = await connection.next(this.exchange);
        this.exchange.awaitBody();
        this.accept(event);
      } catch (error) {
        // This read rejects with what stopped it (on curio, the task's cancellation); later
        // reads with the request's failure.
        this.fail(error);
        throw error;
      } finally {
        this.reading = false;
      }
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new TypeError('the response body is being iterated already');
    this.iterated = true;
    return {
      next: async (): Promise<IteratorResult<Uint8Array>> => {
        const chunk = await this.read();
        return chunk === null ? { done: true, value: undefined } : { done: false, value: chunk };
      },
      return: async (): Promise<IteratorResult<Uint8Array>> => {
        this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  bytes(): Promise<Uint8Array> {
    // All of it arrived with the head (a small response): no read to wait for, no hop of our own.
    if (this.arrivedWhole()) return Promise.resolve(this.takeWhole());
    return this.readAll();
  }

  /** @internal The whole body if it has all arrived and none of it was read (then it is read), else null. */
  takeIfComplete(): Uint8Array | null {
    return this.arrivedWhole() ? this.takeWhole() : null;
  }

  /** Whether the whole body has arrived and none of it was read. */
  private arrivedWhole(): boolean {
    return this.complete && this.chunkHead === 0;
  }

  /** The chunks held, joined (the body is complete and none was read). */
  private takeWhole(): Uint8Array {
    this.used = true;
    const parts = this.chunks;
    this.chunks = [];
    this.chunkBytes = 0;
    return concatBytes(parts);
  }

  private async readAll(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (let part = await this.read(); part !== null; part = await this.read()) parts.push(part);
    return concatBytes(parts);
  }

  text(): Promise<string> {
    if (this.arrivedWhole()) return Promise.resolve(decode(this.takeWhole()));
    return this.readAll().then(decode);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  cancel(): void {
    if (this.complete || this.failure !== null) return;
    this.chunks = [];
    this.chunkHead = 0;
    this.chunkBytes = 0;
    this.fail(new ClientClosedError('the response body was cancelled'));
  }

  async dump(limit = 64 * 1024): Promise<void> {
    let left = limit;
    while (!this.complete && this.failure === null) {
      const chunk = await this.read();
      if (chunk === null) return;
      left -= chunk.length;
      if (left < 0) {
        this.cancel();
        return;
      }
    }
  }
}
