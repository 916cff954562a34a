// FastResponse: every member behaves as the platform's Response; fetchHandler sends it from its
// record; a Hono app on our server with it installed answers real clients as with the platform's.
import { afterEach, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { stream as honoStream } from 'hono/streaming';
import { serveHttp } from '@curio-ts/backend-node';
import { FastResponse, fetchHandler, installFastResponse } from '@curio-ts/client';
import type { FetchHandler } from '@curio-ts/client';

const Platform = globalThis.Response;
type Body = ConstructorParameters<typeof Response>[0];
type Make = (body?: Body, init?: ResponseInit) => Response;
const makePlatform: Make = (body, init) => new Platform(body, init);
const makeFast: Make = (body, init) => new FastResponse(body, init) as unknown as Response;

/** What a script can observe of a fresh response, body read as text. */
async function observe(response: Response): Promise<unknown> {
  const head = { status: response.status, statusText: response.statusText, ok: response.ok, type: response.type, redirected: response.redirected, url: response.url, bodyUsed: response.bodyUsed };
  const headers = [...response.headers];
  const cookies = response.headers.getSetCookie();
  const hasBody = response.body !== null;
  const text = await response.text();
  return { head, headers, cookies, hasBody, text, usedAfter: response.bodyUsed };
}

function form(): FormData {
  const data = new FormData();
  data.append('a', '1');
  data.append('f', new Blob(['xyz'], { type: 'text/plain' }), 'f.txt');
  return data;
}

const bodies: [string, () => Body][] = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['string', () => 'hello'],
  ['empty string', () => ''],
  ['unicode string', () => 'h\u00e9llo \u{1f600}'],
  ['Uint8Array', () => new Uint8Array([104, 105])],
  ['Buffer', () => Buffer.from('buf')],
  ['Uint8Array view', () => new Uint8Array([0, 104, 105, 0]).subarray(1, 3)],
  ['ArrayBuffer', () => new Uint8Array([97, 98]).buffer],
  ['DataView', () => new DataView(new Uint8Array([99]).buffer)],
  ['Blob', () => new Blob(['blob'], { type: 'application/x-b' })],
  ['URLSearchParams', () => new URLSearchParams({ q: 'a b', r: '1' })],
  ['ReadableStream', () => new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode('st')); c.enqueue(new TextEncoder().encode('ream')); c.close(); } })],
];

const inits: [string, ResponseInit | undefined][] = [
  ['no init', undefined],
  ['empty init', {}],
  ['status 201 + text', { status: 201, statusText: 'Made' }],
  ['status 404', { status: 404 }],
  ['status 599', { status: 599 }],
  ['record headers', { headers: { 'Content-Type': 'application/json', 'X-A': 'b' } }],
  ['array headers with cookies', { headers: [['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['X-Dup', '1'], ['x-dup', '2']] }],
  ['Headers object', { headers: new Headers([['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['X-K', 'v']]) }],
  ['value to normalize', { headers: { 'x-space': '  padded\t' } }],
  ['empty value', { headers: { 'x-empty': '' } }],
  ['latin-1 value', { headers: { 'x-l': 'caf\u00e9' } }],
];

describe('FastResponse: parity with the platform Response', () => {
  it.each(bodies.flatMap(([b, body]) => inits.map(([i, init]) => [b, i, body, init] as const)))('body %s, %s', async (_b, _i, body, init) => {
    expect(await observe(makeFast(body(), init))).toEqual(await observe(makePlatform(body(), init)));
  });

  const bad: [string, Body, unknown][] = [
    ['status 199', 'x', { status: 199 }],
    ['status 600', 'x', { status: 600 }],
    ['status 0', null, { status: 0 }],
    ['status NaN', null, { status: Number.NaN }],
    ['status 204 with body', 'x', { status: 204 }],
    ['status 304 with empty body', '', { status: 304 }],
    ['statusText with CR', null, { statusText: 'a\rb' }],
    ['statusText beyond latin-1', null, { statusText: '\u0100' }],
    ['header name with space', null, { headers: { 'a b': '1' } }],
    ['header value with LF', null, { headers: { a: '1\n2' } }],
    ['header value with NUL', null, { headers: [['a', '\u0000']] }],
    ['header pair of 3', null, { headers: [['a', 'b', 'c']] }],
    ['headers a number', null, { headers: 5 }],
    ['init a string', null, 'nope'],
  ];
  it.each(bad)('%s: the same error', (_name, body, init) => {
    const thrown = (make: Make): unknown => {
      try {
        make(body, init as ResponseInit);
      } catch (error) {
        return error;
      }
      return 'nothing thrown';
    };
    const expected = thrown(makePlatform);
    const actual = thrown(makeFast);
    expect(expected).toBeInstanceOf(Error);
    expect((actual as Error).constructor).toBe((expected as Error).constructor);
    expect((actual as Error).message).toBe((expected as Error).message);
  });

  it('accepted oddities: status 204 without body, a coerced status string, values numbers', async () => {
    for (const [body, init] of [[null, { status: 204 }], [null, { status: '202' }], ['x', { headers: { n: 5 } }], ['x', { headers: [['n', 7]] }]] as [Body, ResponseInit][]) {
      expect(await observe(makeFast(body, init))).toEqual(await observe(makePlatform(body, init)));
    }
  });

  it('bytes are copied at construction', async () => {
    const bytes = new Uint8Array([65, 66]);
    const buffer = new Uint8Array([67, 68]).buffer;
    const fast = [makeFast(bytes), makeFast(buffer)];
    const platform = [makePlatform(bytes), makePlatform(buffer)];
    bytes[0] = 90;
    new Uint8Array(buffer)[0] = 90;
    expect(await Promise.all(fast.map((r) => r.text()))).toEqual(await Promise.all(platform.map((r) => r.text())));
    expect(await fast[0]?.text().catch((e: unknown) => (e as Error).constructor.name)).toBe('TypeError');
  });

  it('json, arrayBuffer, blob, formData, bytes read as the platform does', async () => {
    const both = async (read: (r: Response) => Promise<unknown>, body: () => Body, init?: ResponseInit): Promise<void> => {
      expect(await read(makeFast(body(), init))).toEqual(await read(makePlatform(body(), init)));
    };
    await both((r) => r.json(), () => '{"a":[1,2]}');
    await both((r) => r.json().catch((e: unknown) => (e as Error).name), () => 'not json');
    await both(async (r) => new Uint8Array(await r.arrayBuffer()), () => new Uint8Array([1, 2, 3]));
    await both(async (r) => { const b = await r.blob(); return [b.type, await b.text()]; }, () => 'txt');
    await both(async (r) => { const b = await r.blob(); return [b.type, await b.text()]; }, () => 'txt', { headers: { 'content-type': 'a/b' } });
    await both(async (r) => [...(await r.formData())].map(([k, v]) => [k, typeof v === 'string' ? v : v.name]), form);
    await both(async (r) => [...(await r.formData())], () => 'a=1&b=2', { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  });

  it('bodyUsed, a second read and clone behave the same', async () => {
    for (const make of [makeFast, makePlatform]) {
      const response = make('once', { headers: { 'x-a': '1' } });
      const copy = response.clone();
      expect(copy).toBeInstanceOf(Platform);
      expect(response.bodyUsed).toBe(false);
      expect(await response.text()).toBe('once');
      expect(response.bodyUsed).toBe(true);
      await expect(response.text()).rejects.toThrow(TypeError);
      expect(() => response.clone()).toThrow(TypeError);
      expect(copy.headers.get('x-a')).toBe('1');
      expect(await copy.text()).toBe('once');
    }
  });

  it('headers are the real Response headers: set before reading counts for blob type', async () => {
    const response = makeFast('x');
    response.headers.set('content-type', 'q/r');
    expect(response.headers).toBe(response.headers);
    expect((await response.blob()).type).toBe('q/r');
  });

  it('instanceof holds both ways; statics are the platform ones', async () => {
    expect(makeFast('x')).toBeInstanceOf(Platform);
    expect(makePlatform('x')).toBeInstanceOf(FastResponse);
    expect(makeFast('x')).toBeInstanceOf(FastResponse);
    expect({}).not.toBeInstanceOf(FastResponse);
    expect(Object.prototype.toString.call(makeFast('x'))).toBe('[object Response]');
    expect(await observe(FastResponse.json({ a: 1 }, { status: 202, headers: { 'x-j': '1' } }))).toEqual(await observe(Platform.json({ a: 1 }, { status: 202, headers: { 'x-j': '1' } })));
    expect(await observe(FastResponse.redirect('http://example.com/x', 307))).toEqual(await observe(Platform.redirect('http://example.com/x', 307)));
    type Redirect = (url: string, status?: number) => Response;
    const fastRedirect = FastResponse.redirect as Redirect;
    const platformRedirect = Platform.redirect as Redirect;
    expect(await observe(fastRedirect('http://example.com/x'))).toEqual(await observe(platformRedirect('http://example.com/x')));
    expect(() => fastRedirect('http://example.com/x', 200)).toThrow(RangeError);
    const error = FastResponse.error();
    expect([error.type, error.status, error.body]).toEqual(['error', 0, null]);
    expect(() => error.headers.set('a', 'b')).toThrow(TypeError);
  });
});

describe('FastResponse: a field accepted before', () => {
  it('the same field again is recorded the same; the same name with a bad value still fails as the platform does', async () => {
    for (let i = 0; i < 3; i++) expect(await observe(makeFast('x', { headers: { 'X-Same': 'v' } }))).toEqual(await observe(makePlatform('x', { headers: { 'X-Same': 'v' } })));
    for (const bad of ['v\n2', ' v', '\u0100']) {
      let expected: unknown = null;
      let actual: unknown = null;
      try {
        makePlatform('x', { headers: { 'X-Same': bad } });
      } catch (error) {
        expected = error;
      }
      try {
        const made = makeFast('x', { headers: { 'X-Same': bad } });
        actual = [...made.headers];
        if (expected === null) expect(actual).toEqual([...makePlatform('x', { headers: { 'X-Same': bad } }).headers]);
      } catch (error) {
        actual = error;
      }
      if (expected !== null) expect((actual as Error).message).toBe((expected as Error).message);
    }
  });
});

describe('fetchHandler with a FastResponse', () => {
  const request = { method: 'GET', target: '/', headers: { get: () => 'h', length: 0 }, signal: new AbortController().signal } as unknown as Parameters<ReturnType<typeof fetchHandler>>[0];

  it('sends the record as it is, without making the real Response', () => {
    const answer = fetchHandler(() => makeFast('hi', { status: 201, headers: [['X-Dup', '1'], ['x-dup', '2']] }))(request);
    expect(answer).toEqual({ status: 201, headers: [['x-dup', '1'], ['x-dup', '2'], ['content-type', 'text/plain;charset=UTF-8']], body: 'hi' });
  });

  it('once the real Response is made, sends it (the app may have changed its headers)', () => {
    const answer = fetchHandler(() => {
      const response = makeFast(new Uint8Array([1]), { headers: [['X-Dup', '1'], ['x-dup', '2']] });
      response.headers.set('x-later', 'yes');
      return response;
    })(request);
    expect(answer).toEqual({ status: 200, headers: [['x-dup', '1, 2'], ['x-later', 'yes']], body: new Uint8Array([1]) });
  });
});

describe('installFastResponse', () => {
  let uninstall: (() => void) | null = null;
  afterEach(() => {
    uninstall?.();
    uninstall = null;
  });

  it('replaces globalThis.Response and puts it back', () => {
    uninstall = installFastResponse();
    expect(globalThis.Response).toBe(FastResponse);
    expect(new Response('x')).toBeInstanceOf(FastResponse);
    uninstall();
    uninstall = null;
    expect(globalThis.Response).toBe(Platform);
  });

  it('uninstalling leaves a Response installed after it in place', () => {
    uninstall = installFastResponse();
    class Other extends Platform {}
    globalThis.Response = Other;
    uninstall();
    uninstall = null;
    expect(globalThis.Response).toBe(Other);
    globalThis.Response = Platform;
  });

  /** A Hono app answering on our server, fetched by the global fetch (undici). */
  function app(): FetchHandler {
    const hono = new Hono();
    hono.use('*', async (c, next) => {
      await next();
      if (c.req.path === '/mw') c.header('X-Middleware', 'yes');
    });
    hono.get('/text', (c) => c.text('hello'));
    hono.get('/json', (c) => c.json({ a: [1, 'b'] }, 201));
    hono.get('/mw', (c) => c.text('mw'));
    hono.get('/cookies', (c) => {
      c.header('Set-Cookie', 'a=1; Path=/', { append: true });
      c.header('Set-Cookie', 'b=2; Path=/', { append: true });
      return c.body('c');
    });
    hono.get('/stream', (c) =>
      honoStream(c, async (s) => {
        for (let i = 0; i < 3; i++) await s.write(`part ${i};`);
      }),
    );
    hono.get('/bytes', () => new Response(new Uint8Array([0, 1, 2, 255]), { status: 203, statusText: 'Info', headers: [['x-b', '1'], ['X-B', '2']] }));
    hono.get('/none', () => new Response(null, { status: 204 }));
    hono.get('/plain', () => new Response('plain'));
    hono.get('/redirect', () => Response.redirect('http://127.0.0.1/elsewhere', 302));
    hono.get('/blob', () => new Response(new Blob(['blob!'], { type: 'x/y' })));
    return (request) => hono.fetch(request);
  }

  async function answers(): Promise<unknown[]> {
    const server = await serveHttp(fetchHandler(app()), { listen: { host: '127.0.0.1', port: 0 } });
    try {
      const base = `http://127.0.0.1:${(server.address as { port: number }).port}`;
      const seen: unknown[] = [];
      for (const path of ['/text', '/json', '/mw', '/cookies', '/stream', '/bytes', '/none', '/plain', '/redirect', '/blob', '/missing']) {
        const response = await fetch(base + path, { redirect: 'manual' });
        const headers = [...response.headers].filter(([name]) => name !== 'date' && name !== 'keep-alive' && name !== 'connection');
        seen.push({ path, status: response.status, statusText: response.statusText, headers, cookies: response.headers.getSetCookie(), body: [...new Uint8Array(await response.arrayBuffer())] });
      }
      return seen;
    } finally {
      await server.close();
    }
  }

  it('a Hono app answers real clients exactly as with the platform Response', async () => {
    const platform = await answers();
    uninstall = installFastResponse();
    const fast = await answers();
    expect(fast).toEqual(platform);
    expect(JSON.stringify(platform)).toContain('"cookies":["a=1; Path=/","b=2; Path=/"]');
    const streamed = platform.find((entry) => (entry as { path: string }).path === '/stream') as { body: number[] };
    expect(Buffer.from(streamed.body).toString()).toBe('part 0;part 1;part 2;');
  });
});
