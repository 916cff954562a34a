// events.ts
//
// The events of an HTTP/1.1 connection, as plain data: what `nextEvent()` returns for what the
// peer sent, and what `send()` takes for what we send. A received message's head arrives at
// once (Request / Response), its body as Data events, its end as EndOfMessage (with the
// trailers); ConnectionClosed is the peer's (or our) end of the byte stream.

import { FieldList } from './fields.js';
import type { FieldsInit } from './fields.js';

/** HTTP versions spoken here. */
export type HttpVersion = '1.0' | '1.1';

/** A request head. */
export class Request {
  readonly type = 'request';
  readonly headers: FieldList;
  constructor(
    readonly method: string,
    /** The request target as sent ("/path?query", "host:port" for CONNECT, "*", or an absolute URL). */
    readonly target: string,
    headers?: FieldsInit,
    readonly httpVersion: HttpVersion = '1.1',
  ) {
    this.headers = FieldList.from(headers);
  }
}

/** What a response head holds, informational or final. */
abstract class ResponseHead {
  readonly headers: FieldList;
  constructor(
    readonly status: number,
    headers?: FieldsInit,
    readonly reason = '',
    readonly httpVersion: HttpVersion = '1.1',
  ) {
    this.headers = FieldList.from(headers);
  }
}

/** A 1xx response head (100 Continue, 103 Early Hints; 101 Switching Protocols ends HTTP: a Response). */
export class InformationalResponse extends ResponseHead {
  readonly type = 'informational-response';
}

/** A final response head (status 101, or 200-999). */
export class Response extends ResponseHead {
  readonly type = 'response';
}

/** Body bytes (received: a view of the bytes given to receiveData, framing removed). */
export class Data {
  readonly type = 'data';
  constructor(readonly data: Uint8Array) {}
}

/** The end of a message's body, with its trailer fields (chunked messages only). */
export class EndOfMessage {
  readonly type = 'end-of-message';
  readonly trailers: FieldList;
  constructor(trailers?: FieldsInit) {
    this.trailers = FieldList.from(trailers);
  }
}

/** The end of the byte stream in one direction. */
export class ConnectionClosed {
  readonly type = 'connection-closed';
}

/** Any event. */
export type HttpEvent = Request | InformationalResponse | Response | Data | EndOfMessage | ConnectionClosed;

/** What nextEvent() returns when it needs more bytes. */
export const NEED_DATA: unique symbol = Symbol('NEED_DATA');
/** What nextEvent() returns when nothing more comes until the next cycle starts (or after a protocol switch). */
export const PAUSED: unique symbol = Symbol('PAUSED');
export type NeedData = typeof NEED_DATA;
export type Paused = typeof PAUSED;
