// sendWholeResponse / writeWholeResponse: the same bytes and states as send(Response),
// send(Data), send(EndOfMessage) with the Content-Length the caller would add.
import fc from 'fast-check';
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

  it('a head written again (remembered) is the same bytes and states as the first time, whatever comes between', () => {
    // Plain responses' heads are remembered (status, fields, length): random sequences mixing
    // them with responses that must not reuse a head (HEAD, HTTP/1.0, Connection: close, an
    // upgrade, framing fields, other lengths, 204/304) give what the three-event route gives.
    const requests = [
      'GET / HTTP/1.1\r\nHost: h\r\n\r\n',
      'HEAD / HTTP/1.1\r\nHost: h\r\n\r\n',
      'GET / HTTP/1.0\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab',
    ];
    const headerSets: [string, string][][] = [
      [],
      [['Content-Type', 'text/plain']],
      [['content-type', 'text/plain']],
      [['Content-Type', 'text/html']],
      [['Content-Type', 'text/plain'], ['X-A', ' v ']],
      [['Content-Length', '5']],
      [['Connection', 'close']],
      [['Transfer-Encoding', 'chunked']],
      [['Bad Name', 'v']],
    ];
    const bodies = [null, '', 'hello', 'h\xe9llo', 'x'.repeat(300)];
    const statuses = [200, 201, 204, 304, 404, 999];
    const step = fc.record({ request: fc.nat(requests.length - 1), headers: fc.nat(headerSets.length - 1), body: fc.nat(bodies.length - 1), status: fc.nat(statuses.length - 1), asBytes: fc.boolean(), close: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        for (const one of steps) {
          const request = requests[one.request] as string;
          const headers = headerSets[one.headers] as [string, string][];
          const text = bodies[one.body] as string | null;
          const status = statuses[one.status] as number;
          const body = text === null ? null : one.asBytes ? new TextEncoder().encode(text) : text;
          // `close` as the three-event route says it: a request that closes the connection.
          const asked = one.close ? request.replace('\r\n', '\r\nConnection: close\r\n') : request;
          let expected: { text: string; state: string } | Error;
          try {
            expected = threeEvents(asked, status, headers, text === null ? null : new TextEncoder().encode(text));
          } catch (error) {
            expected = error as Error;
          }
          const conn = serverAfter(request);
          const out = new OutputBuffer(0);
          out.append(bytes('before'));
          let got: { text: string; state: string } | Error;
          try {
            conn.writeWholeResponse(out, status, FieldList.from(headers), body, one.close);
            got = { text: str(out.take()).slice('before'.length), state: conn.ourState };
          } catch (error) {
            got = error as Error;
            expect(str(out.take())).toBe('before');
          }
          if (expected instanceof Error) {
            expect(got).toBeInstanceOf(LocalProtocolError);
            continue;
          }
          expect(got).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });
});
