// http/answer.ts
//
// A handler's answer, checked before anything of it is sent, so that an answer that cannot be
// sent gets a 500 (and `onError` a TypeError saying what was wrong) instead of a broken
// connection. JavaScript handlers answer in every shape the language allows; what is accepted:
// - the answer: an object (a thenable was resolved by `await` already);
// - `headers`: pairs, a Headers, a Map or a record (values: strings or finite numbers);
// - `status`: an integer, 101 or 200–999 (undefined: 200);
// - `body`: a string, a Uint8Array (a Buffer), an ArrayBuffer, any other ArrayBufferView (a
//   DataView...), a Blob, an async iterable (a ReadableStream is one), a sync iterable of
//   strings and bytes, null or undefined. A bytes body whose own Content-Length disagrees with
//   its length is refused here, while a 500 can still be sent.
// Header names and values are checked by proto-http when the head is made; a head it refuses
// changes nothing there, so the 500 can follow.

import { FieldList } from '@curio-ts/proto-http';
import type { ServerResponse } from './server.js';

/** What {@link checkAnswer} hands on: the body in one of the forms the server writes. */
export type CheckedBody = string | Uint8Array | AsyncIterable<Uint8Array | string> | null;

/** A checked answer: its headers a FieldList, its body in one of the forms the server writes. */
export interface CheckedAnswer extends ServerResponse {
  readonly headers: FieldList;
  readonly body: CheckedBody;
}

/** The answer `value` of a handler, checked; a TypeError says what is wrong with it. */
export function checkAnswer(value: unknown): CheckedAnswer {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`the HTTP handler answered ${describe(value)}, not a response object ({ status, headers, body })`);
  }
  const answer = value as ServerResponse;
  const status: unknown = answer.status;
  if (status !== undefined && (typeof status !== 'number' || !Number.isInteger(status) || !(status === 101 || (status >= 200 && status <= 999)))) {
    throw new TypeError(`the HTTP handler answered status ${describe(status)}: a status is an integer, 101 or 200 to 999`);
  }
  const headers = FieldList.from(answer.headers);
  const body = checkBody(answer.body);
  const checked: { status?: number; headers: FieldList; body: CheckedBody; upgrade?: NonNullable<ServerResponse['upgrade']> } = { headers, body };
  if (status !== undefined) checked.status = status;
  if (answer.upgrade !== undefined) checked.upgrade = answer.upgrade;
  return checked;
}

function checkBody(body: unknown): CheckedBody {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (typeof body !== 'object' && typeof body !== 'function') throw new TypeError(`the HTTP handler's body is ${describe(body)}: give a string, bytes, a Blob or an (async) iterable`);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (typeof Blob !== 'undefined' && body instanceof Blob) return body.stream() as unknown as AsyncIterable<Uint8Array>;
  const async = (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator];
  if (typeof async === 'function') return body as AsyncIterable<Uint8Array | string>;
  const sync = (body as { [Symbol.iterator]?: unknown })[Symbol.iterator];
  if (typeof sync === 'function') return fromSync(body as Iterable<unknown>);
  throw new TypeError(`the HTTP handler's body is ${describe(body)}: give a string, bytes, a Blob or an (async) iterable`);
}

async function* fromSync(parts: Iterable<unknown>): AsyncGenerator<Uint8Array | string> {
  for (const part of parts) {
    if (typeof part === 'string' || part instanceof Uint8Array) yield part;
    else throw new TypeError(`a part of the HTTP handler's body is ${describe(part)}: parts are strings or bytes`);
  }
}

/** A short description of a value, for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `a ${typeof value} (${String(value)})`;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default: {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'a plain object';
    }
  }
}
