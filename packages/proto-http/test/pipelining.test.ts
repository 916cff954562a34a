// Pipelining in the client role: requests sent before the earlier responses came, the
// responses parsed in order, each knowing the method it answers.

import { describe, expect, it } from 'vitest';
import { EndOfMessage, HttpConnection, LocalProtocolError, NEED_DATA, PAUSED, RemoteProtocolError, Request, nextState } from '../src/index.js';
import type { HttpEvent } from '../src/index.js';

const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'latin1'));
const str = (data: Uint8Array): string => Buffer.from(data).toString('latin1');
const END = new EndOfMessage();

/** A client that sent `requests` (method, target) pipelined, each without a body. */
function pipelinedClient(requests: readonly (readonly [string, string])[], extra: readonly (readonly [string, string])[] = []): { conn: HttpConnection; out: string } {
  const conn = new HttpConnection('client');
  let out = '';
  for (const [method, target] of requests) {
    out += str(conn.send(new Request(method, target, [['Host', 'a'], ...extra])) as Uint8Array);
    out += str(conn.send(END) as Uint8Array);
  }
  return { conn, out };
}

function summary(event: HttpEvent): string {
  switch (event.type) {
    case 'response':
    case 'informational-response':
      return `${event.status}`;
    case 'data':
      return `data:${str(event.data)}`;
    case 'end-of-message':
      return 'end';
    case 'connection-closed':
      return 'closed';
    case 'request':
      return 'request';
  }
}

/** Feed `input` cut at `cuts`; the events (adjacent data merged) and the unanswered count after each end. */
function clientEvents(conn: HttpConnection, input: string, cuts: number[]): string[] {
  const all = bytes(input);
  const seen: string[] = [];
  let from = 0;
  for (const cut of [...cuts, all.length]) {
    conn.receiveData(all.slice(from, cut));
    from = cut;
    for (;;) {
      const event = conn.nextEvent();
      if (event === NEED_DATA || event === PAUSED) break;
      const text = summary(event);
      const last = seen[seen.length - 1];
      if (text.startsWith('data:') && last !== undefined && last.startsWith('data:')) seen[seen.length - 1] = last + text.slice(5);
      else seen.push(text);
      if (event.type === 'end-of-message') seen.push(`unanswered:${conn.unansweredRequests}`);
    }
  }
  return seen;
}

const FIVE = [
  ['GET', '/a'],
  ['HEAD', '/b'],
  ['GET', '/c'],
  ['GET', '/d'],
  ['GET', '/e'],
] as const;

// A 200 with a body, a HEAD's answer (its Content-Length describes a body that does not come),
// a 204, a 304 with a Content-Length, a chunked 200 with a 100 Continue before it.
const FIVE_RESPONSES =
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\naaaaa' +
  'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' +
  'HTTP/1.1 204 No Content\r\n\r\n' +
  'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n' +
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\neee\r\n2\r\nEE\r\n0\r\n\r\n';

const EXPECTED = ['200', 'data:aaaaa', 'end', 'unanswered:4', '200', 'end', 'unanswered:3', '204', 'end', 'unanswered:2', '304', 'end', 'unanswered:1', '100', '200', 'data:eeeEE', 'end', 'unanswered:0'];

describe('pipelining, client role', () => {
  it('the table: a client DONE may pipeline, the server DONE goes on to the next response', () => {
    expect(nextState('client', 'DONE', 'pipeline-request')).toBe('SEND_BODY');
    expect(nextState('client', 'IDLE', 'pipeline-request')).toBe(null);
    expect(nextState('client', 'MUST_CLOSE', 'pipeline-request')).toBe(null);
    expect(nextState('server', 'DONE', 'next-response')).toBe('SEND_RESPONSE');
    expect(nextState('server', 'MUST_CLOSE', 'next-response')).toBe(null);
  });

  it('sends five requests back to back, and the bytes are the five requests', () => {
    const { conn, out } = pipelinedClient(FIVE);
    expect(out).toBe(FIVE.map(([m, t]) => `${m} ${t} HTTP/1.1\r\nHost: a\r\n\r\n`).join(''));
    expect(conn.unansweredRequests).toBe(5);
    expect(conn.ourState).toBe('DONE');
    expect(conn.theirState).toBe('SEND_RESPONSE');
    conn.destroy();
  });

  it('reads the five responses in order (HEAD, 204, 304 among them), whole', () => {
    const { conn } = pipelinedClient(FIVE);
    expect(clientEvents(conn, FIVE_RESPONSES, [])).toEqual(EXPECTED);
    expect(conn.theirState).toBe('DONE');
    conn.startNextCycle();
    expect(conn.ourState).toBe('IDLE');
    conn.destroy();
  });

  it('the same events for every split of the five responses in two, and byte by byte', () => {
    for (let i = 1; i < FIVE_RESPONSES.length; i++) {
      const { conn } = pipelinedClient(FIVE);
      expect(clientEvents(conn, FIVE_RESPONSES, [i])).toEqual(EXPECTED);
      conn.destroy();
    }
    const { conn } = pipelinedClient(FIVE);
    expect(clientEvents(conn, FIVE_RESPONSES, Array.from({ length: FIVE_RESPONSES.length - 1 }, (_, i) => i + 1))).toEqual(EXPECTED);
    conn.destroy();
  });

  it('for splits in three as well (every 3rd cut point pair)', () => {
    for (let i = 1; i < FIVE_RESPONSES.length; i += 3) {
      for (let j = i + 1; j < FIVE_RESPONSES.length; j += 4) {
        const { conn } = pipelinedClient(FIVE);
        expect(clientEvents(conn, FIVE_RESPONSES, [i, j])).toEqual(EXPECTED);
        conn.destroy();
      }
    }
  });

  it('a request sent while the responses are being read joins the pipeline', () => {
    const { conn } = pipelinedClient([['GET', '/a']]);
    conn.receiveData(bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nx'));
    expect(summary(conn.nextEvent() as HttpEvent)).toBe('200');
    conn.send(new Request('HEAD', '/b', [['Host', 'a']]));
    conn.send(END);
    expect(conn.unansweredRequests).toBe(2);
    expect(clientEvents(conn, 'xHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n', [])).toEqual(['data:xx', 'end', 'unanswered:1', '200', 'end', 'unanswered:0']);
    conn.destroy();
  });

  it('a response with Connection: close ends the pipeline: the requests behind it stay unanswered', () => {
    const { conn } = pipelinedClient([
      ['GET', '/a'],
      ['GET', '/b'],
      ['GET', '/c'],
    ]);
    const input = 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na' + 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nb' + 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc';
    expect(clientEvents(conn, input, [])).toEqual(['200', 'data:a', 'end', 'unanswered:2', '200', 'data:b', 'end', 'unanswered:1']);
    expect(conn.theirState).toBe('MUST_CLOSE');
    expect(conn.ourState).toBe('MUST_CLOSE');
    // The third response is not parsed: the connection is over.
    expect(conn.nextEvent()).toBe(PAUSED);
    expect(() => conn.send(new Request('GET', '/d', [['Host', 'a']]))).toThrow(LocalProtocolError);
    conn.destroy();
  });

  it('a request with Connection: close is the last one pipelined, and its response still comes after the others', () => {
    const conn = new HttpConnection('client');
    conn.send(new Request('GET', '/a', [['Host', 'a']]));
    conn.send(END);
    conn.send(new Request('GET', '/b', [['Host', 'a'], ['Connection', 'close']]));
    conn.send(END);
    expect(conn.ourState).toBe('MUST_CLOSE');
    expect(() => conn.send(new Request('GET', '/c', [['Host', 'a']]))).toThrow(LocalProtocolError);
    const input = 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na' + 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb';
    expect(clientEvents(conn, input, [])).toEqual(['200', 'data:a', 'end', 'unanswered:1', '200', 'data:b', 'end', 'unanswered:0']);
    expect(conn.theirState).toBe('MUST_CLOSE');
    conn.destroy();
  });

  it('refuses to pipeline what cannot be: a switch proposal, a request while ours is unfinished, after a closing response head', () => {
    const { conn } = pipelinedClient([['GET', '/a']]);
    const upgrade = (): unknown => conn.send(new Request('GET', '/ws', [['Host', 'a'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade']]));
    expect(upgrade).toThrow(expect.objectContaining({ code: 'ERR_HTTP_PIPELINE' }));
    // Refused heads change nothing.
    expect(conn.ourState).toBe('DONE');
    expect(conn.unansweredRequests).toBe(1);
    conn.send(new Request('POST', '/b', [['Host', 'a'], ['Content-Length', '1']]));
    expect(() => conn.send(new Request('GET', '/c', [['Host', 'a']]))).toThrow(LocalProtocolError);
    conn.destroy();

    const closing = pipelinedClient([['GET', '/a']]).conn;
    closing.receiveData(bytes('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n'));
    expect(summary(closing.nextEvent() as HttpEvent)).toBe('200');
    expect(() => closing.send(new Request('GET', '/b', [['Host', 'a']]))).toThrow(expect.objectContaining({ code: 'ERR_HTTP_PIPELINE' }));
    closing.destroy();
  });

  it('a request proposing a switch is not followed by pipelined ones', () => {
    const conn = new HttpConnection('client');
    conn.send(new Request('GET', '/ws', [['Host', 'a'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade']]));
    conn.send(END);
    expect(conn.ourState).toBe('MIGHT_SWITCH_PROTOCOL');
    expect(() => conn.send(new Request('GET', '/b', [['Host', 'a']]))).toThrow(LocalProtocolError);
    conn.destroy();
  });

  it('the peer closing in the middle of the third of five responses is a truncation; between two, a close in the wrong state', () => {
    const cut = FIVE_RESPONSES.indexOf('HTTP/1.1 204') + 5;
    const { conn } = pipelinedClient(FIVE);
    expect(clientEvents(conn, FIVE_RESPONSES.slice(0, cut), [])).toEqual(['200', 'data:aaaaa', 'end', 'unanswered:4', '200', 'end', 'unanswered:3']);
    conn.receiveData(new Uint8Array(0));
    expect(() => conn.nextEvent()).toThrow(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
    expect(conn.unansweredRequests).toBe(3);
    conn.destroy();

    const between = pipelinedClient(FIVE).conn;
    clientEvents(between, FIVE_RESPONSES.slice(0, FIVE_RESPONSES.indexOf('HTTP/1.1 204')), []);
    between.receiveData(new Uint8Array(0));
    expect(() => between.nextEvent()).toThrow(RemoteProtocolError);
    between.destroy();
  });

  it('a response to no request is refused (more responses than requests)', () => {
    const { conn } = pipelinedClient([['GET', '/a']]);
    expect(clientEvents(conn, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', [])).toEqual(['200', 'end', 'unanswered:0']);
    expect(conn.nextEvent()).toBe(PAUSED);
    conn.destroy();
  });
});
