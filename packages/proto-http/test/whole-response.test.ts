// sendWholeResponse / writeWholeResponse: the same bytes and states as send(Response),
// send(Data), send(EndOfMessage) with the Content-Length the caller would add.
import { describe, expect, it } from 'vitest';
import { Data, EndOfMessage, FieldList, HttpConnection, LocalProtocolError, OutputBuffer, Response } from '../src/index.js';

const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'latin1'));
const str = (data: Uint8Array): string => Buffer.from(data).toString('latin1');

/** A server connection that has received `request` (its head and end taken). */
function serverAfter(request: string): HttpConnection {
  const conn = new HttpConnection('server');
  conn.receiveData(bytes(request));
  conn.nextEvent();
  conn.nextEvent();
  return conn;
}

/** What the three-event route sends, with the Content-Length the server would add. */
function threeEvents(request: string, status: number, headers: [string, string][], body: Uint8Array | null): { text: string; state: string } {
  const conn = serverAfter(request);
  const method = request.slice(0, request.indexOf(' '));
  const fields = FieldList.from(headers);
  const framed = fields.has('content-length') || fields.has('transfer-encoding');
  const extra: [string, string][] = [];
  if (!framed && body !== null) extra.push(['Content-Length', String(body.length)]);
  if (!framed && body === null && status !== 204 && status !== 304 && method !== 'HEAD') extra.push(['Content-Length', '0']);
  let text = str(conn.send(new Response(status, [...headers, ...extra])) as Uint8Array);
  if (body !== null && body.length > 0 && method !== 'HEAD') text += str(conn.send(new Data(body)) as Uint8Array);
  text += str(conn.send(new EndOfMessage()) as Uint8Array);
  return { text, state: conn.ourState };
}

describe('sendWholeResponse', () => {
  const GET = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
  const HEAD = 'HEAD / HTTP/1.1\r\nHost: h\r\n\r\n';
  const OLD = 'GET / HTTP/1.0\r\n\r\n';
  it.each([
    [GET, 200, [['Content-Type', 'text/plain']], 'hello'],
    [GET, 200, [], ''],
    [GET, 404, [['X-A', ' padded value ']], null],
    [GET, 204, [], null],
    [GET, 304, [['ETag', '"x"']], null],
    [HEAD, 200, [], 'hello'],
    [OLD, 200, [], 'old'],
    [GET, 200, [['Transfer-Encoding', 'chunked']], 'chunked body'],
    [GET, 200, [['Content-Length', '3']], 'abc'],
    [GET, 299, [['Connection', 'close']], 'closing'],
    [GET, 200, [['X-Latin', 'caf\xe9']], 'h\xe9llo w\u00f6rld \u{1f600}'],
    ...[9, 10, 99, 100, 12345].map((n) => [GET, 200, [], 'x'.repeat(n)]),
  ] as [string, number, [string, string][], string | null][])('%j %i %j %j', (request, status, headers, body) => {
    const encoded = body === null ? null : new TextEncoder().encode(body);
    const expected = threeEvents(request, status, headers, encoded);
    for (const given of [body, encoded]) {
      const conn = serverAfter(request);
      expect(str(conn.sendWholeResponse(status, FieldList.from(headers), given))).toBe(expected.text);
      expect(conn.ourState).toBe(expected.state);
    }
  });

  it('close: Connection: close, and the connection must close after it', () => {
    const conn = serverAfter('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(str(conn.sendWholeResponse(200, FieldList.EMPTY, 'x', true))).toBe('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx');
    expect(conn.ourState).toBe('MUST_CLOSE');
  });

  it('writeWholeResponse appends to a buffer; a response refused leaves it and the state as they were', () => {
    const out = new OutputBuffer(8);
    const first = serverAfter('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    first.writeWholeResponse(out, 200, FieldList.EMPTY, 'one');
    const second = serverAfter('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(() => second.writeWholeResponse(out, 200, FieldList.from([['Bad Name', 'v']]), 'two')).toThrow(LocalProtocolError);
    expect(second.ourState).toBe('SEND_RESPONSE');
    const third = serverAfter('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(() => third.writeWholeResponse(out, 200, FieldList.from([['Content-Length', '9']]), 'short')).toThrow(/shorter than its Content-Length/);
    expect(() => third.writeWholeResponse(out, 200, FieldList.from([['Content-Length', '2']]), 'long')).toThrow(/longer than its Content-Length/);
    // Refused responses changed nothing: the 500 can follow.
    third.writeWholeResponse(out, 500, FieldList.EMPTY, 'ISE');
    expect(third.ourState).toBe('DONE');
    const fourth = serverAfter('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    fourth.writeWholeResponse(out, 201, FieldList.EMPTY, null);
    expect(out.size).toBeGreaterThan(0);
    expect(str(out.take())).toBe('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nISEHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
    expect(out.size).toBe(0);
  });

  it('refuses field values with CR, LF or NUL and names that are not tokens', () => {
    for (const headers of [[['X', 'a\r\nb']], [['X', 'a\0']], [['X:', 'v']], [['', 'v']], [['X', 'caf\u0100']]] as [string, string][][]) {
      const conn = serverAfter('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
      expect(() => conn.sendWholeResponse(200, FieldList.from(headers), 'x')).toThrow(LocalProtocolError);
    }
  });
});
