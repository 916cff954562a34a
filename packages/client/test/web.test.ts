// fetchHandler: the Request view the web handler gets, and how its Response is read.
import { describe, expect, it } from 'vitest';
import { FieldList } from '@curio-ts/proto-http';
import { fetchHandler } from '@curio-ts/client';
import type { ServerRequest, ServerResponse } from '@curio-ts/client';

/** A request as server.ts hands it over (plain data: the adapter's input). */
function request(method: string, target: string, headers: [string, string][], body: string[] = []): ServerRequest {
  const controller = new AbortController();
  const chunks = body.map((part) => new TextEncoder().encode(part));
  const iterable = {
    async *[Symbol.asyncIterator]() {
      for (const chunk of chunks) yield chunk;
    },
  };
  return {
    method,
    target,
    path: target,
    query: '',
    headers: FieldList.from(headers),
    httpVersion: '1.1',
    remoteAddress: null,
    signal: controller.signal,
    body: { ...iterable, bytes: async () => new Uint8Array(0), text: async () => '', json: async () => null },
  };
}

async function answer(handler: ReturnType<typeof fetchHandler>, req: ServerRequest): Promise<ServerResponse> {
  return await handler(req);
}

describe('fetchHandler: the request', () => {
  const hosts = ['h', 'Example.COM', 'example.com:80', 'example.com:8080', 'example.com:0080', '127.0.0.1:3000', '127.1', '0x7f.0.0.1', 'xn--nxasmq6b.com', 'b\u00fccher.de', 'a..b', '[::1]:8080', 'h:99999', 'h:', 'a b', 'u:p@h', 'h#x'];
  const targets = ['/', '/a/b?c=d&e', '/a/../b', '/a/./b', '/%2e%2E/x', '/x y', "/q?it's", '/~user/!$&()*+,;=:@', '/p|q', '/\u00e9', 'rel', '*', 'http://other.example/x?y', 'https://Other.Example:443/x'];
  it.each(hosts.flatMap((host) => targets.map((target) => [host, target])))('Host %j, target %j: the URL a real Request would have', async (host, target) => {
    const seen: string[] = [];
    const handler = fetchHandler((req) => {
      seen.push(req.url);
      return new Response(null);
    });
    const response = await answer(handler, request('GET', target, [['Host', host]]));
    const raw = target.startsWith('http://') || target.startsWith('https://') ? target : `http://${host}${target.startsWith('/') ? target : `/${target}`}`;
    let expected: string | null;
    try {
      expected = new Request(raw).url;
    } catch {
      expected = null;
    }
    if (expected === null) expect(response.status).toBe(400);
    else expect(seen).toEqual([expected]);
  });

  it('is a Request: method, headers, signal, and the rest from a real Request made once', async () => {
    let checked = false;
    const source = request('POST', '/submit', [['Host', 'h'], ['X-One', 'a'], ['X-One', 'b'], ['Content-Type', 'text/plain']], ['hel', 'lo']);
    const handler = fetchHandler(async (req) => {
      expect(req).toBeInstanceOf(Request);
      expect(req.method).toBe('POST');
      expect(req.headers.get('x-one')).toBe('a, b');
      expect(req.signal).toBe(source.signal);
      expect(req.referrer).toBe('about:client');
      expect(req.bodyUsed).toBe(false);
      expect(await req.text()).toBe('hello');
      expect(req.bodyUsed).toBe(true);
      expect(Object.prototype.toString.call(req)).toBe('[object Request]');
      checked = true;
      return new Response('ok');
    });
    expect((await answer(handler, source)).body).toBe('ok');
    expect(checked).toBe(true);
  });

  it.each(['CONNECT', 'TRACE', 'TRACK'])('%s: 400, as new Request refuses it', async (method) => {
    const handler = fetchHandler(() => new Response('never'));
    const response = await answer(handler, request(method, '/', [['Host', 'h']]));
    expect(response.status).toBe(400);
  });
});

describe('fetchHandler: the response', () => {
  it('answers synchronously with the body as given when the handler does', () => {
    const handler = fetchHandler(() => new Response('hello', { status: 201, headers: { 'X-A': '1' } }));
    const response = handler(request('GET', '/', [['Host', 'h']])) as ServerResponse;
    expect(response).not.toBeInstanceOf(Promise);
    expect(response).toEqual({ status: 201, headers: [['content-type', 'text/plain;charset=UTF-8'], ['x-a', '1']], body: 'hello' });
    const bytes = new Uint8Array([1, 2, 3]);
    expect((fetchHandler(() => new Response(bytes))(request('GET', '/', [['Host', 'h']])) as ServerResponse).body).toEqual(bytes);
    expect((fetchHandler(() => new Response(null, { status: 204 }))(request('GET', '/', [['Host', 'h']])) as ServerResponse).body).toBeNull();
  });

  it('keeps Set-Cookie fields apart', () => {
    const headers = new Headers([['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x', 'y']]);
    const response = fetchHandler(() => new Response('', { headers }))(request('GET', '/', [['Host', 'h']])) as ServerResponse;
    expect(response.headers).toEqual([['content-type', 'text/plain;charset=UTF-8'], ['x', 'y'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
  });

  it('streams a stream body, and a body already read from or locked', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('a'));
        controller.enqueue(new TextEncoder().encode('b'));
        controller.close();
      },
    });
    for (const make of [() => new Response(stream), () => {
      const locked = new Response('locked');
      locked.body?.getReader();
      return locked;
    }]) {
      const response = await answer(fetchHandler(make), request('GET', '/', [['Host', 'h']]));
      expect(typeof response.body).toBe('object');
      expect(response.body).not.toBeInstanceOf(Uint8Array);
    }
    const streamed = await answer(fetchHandler(() => new Response(new Blob(['blob']))), request('GET', '/', [['Host', 'h']]));
    const parts: string[] = [];
    for await (const part of streamed.body as AsyncIterable<Uint8Array>) parts.push(new TextDecoder().decode(part));
    expect(parts.join('')).toBe('blob');
  });

  it('an async handler: a Promise of the same', async () => {
    const result = fetchHandler(async () => new Response('later'))(request('GET', '/', [['Host', 'h']]));
    expect(result).toBeInstanceOf(Promise);
    expect((await result).body).toBe('later');
  });
});
