// http/web.ts
//
// The web-standard handler style: `(request: Request) => Response | Promise<Response>`, as
// Deno.serve, Bun.serve and frameworks such as Hono take it (`app.fetch`), adapted to the lean
// handler of server.ts. An existing Hono app runs on curio-ts's server unchanged.
//
// Invariants:
// - The Request's URL is absolute: `http://` (`https://` over TLS) + the Host header + the
//   target, as the URL parser serializes it; its body is a ReadableStream pulled from the
//   connection as the app reads it (so backpressure holds), absent for GET and HEAD; its signal
//   is the request's (the client disconnecting aborts it).
// - The Response's status, headers (Set-Cookie kept as separate fields) and body are sent as
//   they are; a streamed body is pulled as the connection can take it.
// - A request the Fetch API refuses (a URL it cannot parse, credentials in it, a forbidden
//   method such as CONNECT or TRACE) gets a 400, not a crash. (Field names and values that a
//   Headers object would refuse never get this far: llhttp, strict, refuses them first.)
// - An answer that is not a Response, or is Response.error(), is a TypeError: the client gets
//   a 500 and onError says why.
// - A handler that answers synchronously, with a Response whose body is a string, bytes or
//   none, is answered synchronously (server.ts then needs no Promise for the request).
//
// Discussion: the lazy Request. Making a real Request per request (URL parsing, a Headers
// copy, an AbortSignal that follows ours, a body stream) cost more than the rest of the server
// together (measured: ~5x the instructions of the lean handler's request). The handler gets a
// RequestView instead: an object whose prototype chain includes Request.prototype (so
// `instanceof Request` holds) that answers `method`, `url`, `headers` and `signal` itself,
// each made only when asked, and makes the real Request (once) when anything else is used
// (the body, clone(), the other attributes), handing every other member to it. What makes a
// real Request refuse is checked up front, so the 400 above holds whatever the app touches.
//
// Discussion: reading a Response's body. A ReadableStream read chunk by chunk costs several
// Promises per chunk; a Response made from a string or bytes (nearly all) keeps its source in
// undici's internal state. When that state is found (undici's `Symbol(state)`, looked up once
// by its description) and the body is untouched, its source is sent as it is; otherwise, the
// body is read as a stream. A runtime without that state only loses the shortcut. The same
// holds for the lightweight Response that @hono/node-server installs as globalThis.Response
// (its own instances keep `[status, body, headers]` under a symbol described 'cache' until
// something asks for more): its body is read there while that cache is alive, instead of
// making the real Response and its stream. Our own FastResponse (fast-response.ts, opt-in)
// is read from its record the same way, until something has made its real Response.

import type { FieldList } from '@curio-ts/proto-http';
import { describe } from './answer.js';
import { delegateMembers, fastResponseParts, recordedParts } from './fast-response.js';
import type { HttpHandler, ServerRequest, ServerResponse } from './server.js';

/** A web-standard handler. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Options of {@link fetchHandler}. */
export interface FetchHandlerOptions {
  /** The scheme of the URLs made (default 'http'; 'https' for a TLS server). */
  readonly scheme?: 'http' | 'https';
}

/** A lean handler running the web-standard handler `handler`. */
export function fetchHandler(handler: FetchHandler, options: FetchHandlerOptions = {}): HttpHandler {
  const scheme = options.scheme ?? 'http';
  return (request: ServerRequest): ServerResponse | Promise<ServerResponse> => {
    let webRequest: Request;
    try {
      webRequest = requestView(request, scheme);
    } catch (error) {
      return { status: 400, headers: [['Content-Type', 'text/plain']], body: `bad request: ${error instanceof Error ? error.message : String(error)}\n` };
    }
    const response: unknown = handler(webRequest);
    const parts = recordedParts(response);
    if (parts !== null) return { status: parts.status, headers: parts.fields, body: parts.body };
    return response instanceof Response ? fromWebResponse(response) : Promise.resolve(response).then(fromWebResponse);
  };
}

// The request -------------------------------------------------------------------------------

const kSource = Symbol('source');
const kUrl = Symbol('url');
const kHeaders = Symbol('headers');
const kReal = Symbol('request');

/** Methods a Request cannot have (the Fetch standard's forbidden methods). */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/** See "Discussion: the lazy Request". */
class RequestView {
  readonly [kSource]: ServerRequest;
  readonly [kUrl]: string;
  [kHeaders]: Headers | null = null;
  [kReal]: Request | null = null;

  constructor(source: ServerRequest, url: string) {
    this[kSource] = source;
    this[kUrl] = url;
  }

  get method(): string {
    return this[kSource].method;
  }

  get url(): string {
    return this[kUrl];
  }

  get headers(): Headers {
    return (this[kHeaders] ??= toHeaders(this[kSource].headers));
  }

  get signal(): AbortSignal {
    return this[kSource].signal;
  }
}

delegateMembers(RequestView, Request, new Set<PropertyKey>(['constructor', 'method', 'url', 'headers', 'signal']), realRequest);

/** The real Request of a view, made once. */
function realRequest(view: RequestView): Request {
  let real = view[kReal];
  if (real === null) {
    const source = view[kSource];
    const method = source.method;
    const init: RequestInit & { duplex?: 'half' } = { method, headers: view.headers, signal: source.signal };
    if (method !== 'GET' && method !== 'HEAD') {
      init.body = bodyStream(source.body);
      init.duplex = 'half';
    }
    real = view[kReal] = new Request(view[kUrl], init);
  }
  return real;
}

/** The handler's Request (a view, see the file header); throws what `new Request` would. */
function requestView(request: ServerRequest, scheme: string): Request {
  if (FORBIDDEN_METHODS.has(request.method)) throw new TypeError(`'${request.method}' HTTP method is unsupported.`);
  return new RequestView(request, requestUrl(request, scheme)) as unknown as Request;
}

/** The request's absolute URL, serialized as the URL parser would. */
function requestUrl(request: ServerRequest, scheme: string): string {
  const target = request.target;
  const absolute = target.startsWith('http://') || target.startsWith('https://');
  if (!absolute) {
    const host = request.headers.get('host') ?? 'localhost';
    const path = target.startsWith('/') ? target : `/${target}`;
    if (simpleHost(host, scheme) && simpleTarget(path)) return `${scheme}://${host}${path}`;
    return parsedUrl(`${scheme}://${host}${path}`);
  }
  return parsedUrl(target);
}

function parsedUrl(text: string): string {
  const url = new URL(text);
  if (url.username !== '' || url.password !== '') throw new TypeError(`Request cannot be constructed from a URL that includes credentials: ${text}`);
  return url.href;
}

/** Hosts known to serialize as they are (`host:port` → yes / no), a bounded cache. */
const simpleHosts = new Map<string, boolean>();

/**
 * Whether the URL parser leaves `host` as it is: lowercase DNS labels (no IDNA), or a dotted
 * IPv4 address as it serializes, and a port that is not the scheme's default.
 */
function simpleHost(host: string, scheme: string): boolean {
  const key = scheme === 'http' ? host : `s:${host}`;
  let simple = simpleHosts.get(key);
  if (simple === undefined) {
    simple = checkHost(host, scheme);
    if (simpleHosts.size >= 256) simpleHosts.clear();
    simpleHosts.set(key, simple);
  }
  return simple;
}

function checkHost(host: string, scheme: string): boolean {
  const match = /^([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([1-9][0-9]{0,4}))?$/.exec(host);
  if (match === null) return false;
  const name = match[1] as string;
  const port = match[2];
  if (port !== undefined && (Number(port) > 65535 || port === (scheme === 'http' ? '80' : '443'))) return false;
  if (name.split('.').some((label) => label.startsWith('xn--'))) return false;
  const last = name.slice(name.lastIndexOf('.') + 1);
  if (/^[0-9]/.test(last) || /^0x/i.test(last)) {
    // A number last: an IPv4 address, which must already be in its serialized form.
    return /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/.test(name);
  }
  return true;
}

/**
 * Whether the URL parser leaves `path` (origin-form) as it is: unreserved and sub-delim chars,
 * ':', '@', '/', '?', '%' only, and no dot segment (nor anything that may be one).
 */
function simpleTarget(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c >= 128 || SIMPLE_TARGET_CHARS[c] === 0) return false;
  }
  return !path.includes('/.') && !/%2e/i.test(path);
}

const SIMPLE_TARGET_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@/?%') SIMPLE_TARGET_CHARS[c.charCodeAt(0)] = 1;

function toHeaders(fields: FieldList): Headers {
  const headers = new Headers();
  for (let i = 0; i < fields.length; i++) headers.append(fields.name(i), fields.value(i));
  return headers;
}

/** A ReadableStream pulling the request body chunk by chunk. */
function bodyStream(body: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done === true) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

// The response ------------------------------------------------------------------------------

/** undici's internal state of a Response, if this runtime's Response has one (see the file header). */
const kState: symbol | undefined = Object.getOwnPropertySymbols(new Response('')).find((symbol) => symbol.description === 'state');

/** The lightweight Response's cache symbol, once met (see the file header). */
let kCache: symbol | null = null;

/** A lightweight Response's body source (see the file header), or undefined. */
function cachedSourceOf(response: Response): string | Uint8Array | null | undefined {
  let key = kCache;
  if (key === null || !(key in response)) {
    key = Object.getOwnPropertySymbols(response).find((symbol) => symbol.description === 'cache') ?? null;
    if (key === null) return undefined;
    kCache = key;
  }
  const cache = (response as unknown as Record<symbol, unknown>)[key];
  if (!Array.isArray(cache) || cache.length < 2) return undefined;
  const source: unknown = cache[1];
  return source === null || typeof source === 'string' || source instanceof Uint8Array ? source : undefined;
}

/** The body of `response` as it was given, when it was a string or bytes and is untouched; undefined otherwise. */
function sourceOf(response: Response): string | Uint8Array | null | undefined {
  if (kState === undefined) return cachedSourceOf(response);
  const state = (response as unknown as Record<symbol, { body?: { source?: unknown; stream?: ReadableStream } | null } | undefined>)[kState];
  if (state === undefined) return cachedSourceOf(response);
  if (state === null || typeof state !== 'object') return undefined;
  const body = state.body;
  if (body === null) return null;
  if (body === undefined || response.bodyUsed || body.stream?.locked === true) return undefined;
  const source = body.source;
  return typeof source === 'string' || source instanceof Uint8Array ? source : undefined;
}

/**
 * Whether `response` is Response.error(): read in undici's state when there is one (asking a
 * lightweight Response for `type` would make its real Response).
 */
function isNetworkError(response: Response): boolean {
  const state = kState === undefined ? undefined : (response as unknown as Record<symbol, { type?: unknown } | undefined>)[kState];
  if (state !== undefined && state !== null && typeof state === 'object') return state.type === 'error';
  if (cachedSourceOf(response) !== undefined) return false; // made by its constructor, which makes no network errors
  return response.type === 'error';
}

function fromWebResponse(answer: unknown): ServerResponse {
  if (!(answer instanceof Response)) throw new TypeError(`the fetch handler answered ${describe(answer)}, not a Response`);
  const response = fastResponseParts(answer);
  if (!(response instanceof Response)) return { status: response.status, headers: response.fields, body: response.body };
  if (isNetworkError(response)) throw new TypeError('the fetch handler answered Response.error() (a network error): the client gets a 500');
  const headers: [string, string][] = [];
  let cookies = false;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers.push([name, value]);
    else cookies = true;
  });
  if (cookies) for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
  const source = sourceOf(response);
  if (source !== undefined) return { status: response.status, headers, body: source };
  const body = response.body;
  return { status: response.status, headers, body: body === null ? null : (body as unknown as AsyncIterable<Uint8Array>) };
}
