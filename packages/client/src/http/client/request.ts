// http/client/request.ts
//
// `request(runtime, url, options)`: the HTTP/1.1 client's one call, written once on the Runtime
// interface. It makes the request's head and framing, sends it through an HttpAgent (the
// runtime's default one unless given), and follows redirections when asked.
//
// Invariants:
// - Framing: a string or bytes body is sent with a Content-Length; an async iterable is sent
//   chunked unless the caller gave a Content-Length; no body: `Content-Length: 0` for POST, PUT
//   and PATCH, nothing otherwise.
// - Redirections are followed only with `maxRedirections` > 0, as fetch does: 303 turns any
//   method but HEAD into GET, 301 and 302 turn POST into GET (dropping the body and its
//   Content-* fields); Authorization, Cookie and Proxy-Authorization are dropped when the
//   redirection leaves the origin; a streamed body cannot be sent twice (RedirectError).
// - Unix sockets: `socketPath` (the URL still says what the Host header and the path are).

import { FieldList } from '@curio-ts/proto-http';
import type { FieldsInit } from '@curio-ts/proto-http';
import { InvalidArgumentError, RedirectError } from '../../errors.js';
import type { Runtime, TlsOptions } from '../../runtime.js';
import { checkCount, checkMs, HttpAgent } from './agent.js';
import type { RequestSpec } from './agent.js';
import { parseProxy } from './proxy.js';
import type { HttpResponse } from './response.js';

/** A request body. */
export type HttpRequestBody = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/** Options of {@link request}. */
export interface HttpRequestOptions {
  /** Default 'GET'. */
  readonly method?: string;
  readonly headers?: FieldsInit;
  /** See the framing rules in the file header. */
  readonly body?: HttpRequestBody | null;
  /** Aborts the request (and the reading of its body): AbortedError, the connection closed. */
  readonly signal?: AbortSignal;
  /** Sets both `headersTimeout` and `bodyTimeout` (ms). */
  readonly timeout?: number;
  /** ms from sending the request until the response's head has arrived; default 300 000 (0 or Infinity: none). */
  readonly headersTimeout?: number;
  /** ms the response's body may stall between two chunks; default 300 000 (0 or Infinity: none). */
  readonly bodyTimeout?: number;
  /** TLS options for https URLs (default: the agent's, else the runtime's defaults). */
  readonly tls?: TlsOptions;
  /** Connect to this unix socket instead of the URL's host and port. */
  readonly socketPath?: string;
  /**
   * An http:// proxy (`http://user:password@host:port`): http:// URLs are asked of it in
   * absolute form, https:// ones go through a CONNECT tunnel (default: the agent's).
   */
  readonly proxy?: string | URL;
  /** Redirections to follow at most (default 0: a 3xx is returned as it is). */
  readonly maxRedirections?: number;
  /** The pools to use (default: the runtime's default agent, see {@link defaultAgent}). */
  readonly agent?: HttpAgent;
}

const defaults = new WeakMap<Runtime, HttpAgent>();

/** The runtime's default agent (made on first use): the pools `request` uses unless given an agent. */
export function defaultAgent(runtime: Runtime): HttpAgent {
  let agent = defaults.get(runtime);
  if (agent === undefined) {
    agent = new HttpAgent(runtime);
    defaults.set(runtime, agent);
  }
  return agent;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const encoder = new TextEncoder();
const NO_FIELDS: readonly (readonly [string, string])[] = [];

/**
 * Send an HTTP/1.1 request on `runtime` and return the response once its head has arrived;
 * read its body (or `cancel()` it) to give the connection back to its pool. Rejects with a
 * ConnectionError (connecting failed; ConnectionLostError when the connection broke before the
 * response was complete), ProtocolViolationError, HeadersTimeoutError, AbortedError,
 * RedirectError or InvalidArgumentError (a bad URL, method or header).
 */
export function request(runtime: Runtime, url: string | URL, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  return requestOn(options.agent ?? defaultAgent(runtime), url, options);
}

/** `request` on `agent` (whatever `options.agent` says). */
export function requestOn(agent: HttpAgent, url: string | URL, options: Omit<HttpRequestOptions, 'agent'>): Promise<HttpResponse> {
  let spec: RequestSpec;
  let maxRedirections: number;
  try {
    const method = options.method === undefined ? 'GET' : options.method.toUpperCase();
    const headers: readonly (readonly [string, string])[] = options.headers === undefined ? NO_FIELDS : FieldList.from(options.headers).entries();
    maxRedirections = checkCount('maxRedirections', options.maxRedirections ?? 0, 0);
    spec = makeSpec(parseUrl(url), method, headers, toBody(options.body ?? null), options);
  } catch (error) {
    return Promise.reject(error);
  }
  // Without redirections to follow, the agent's Promise is the caller's (no hop of our own).
  if (maxRedirections <= 0) return agent.send(spec);
  return follow(agent, spec, maxRedirections, options);
}

/** Send `spec`, following up to `maxRedirections` redirections. */
async function follow(agent: HttpAgent, first: RequestSpec, maxRedirections: number, options: Omit<HttpRequestOptions, 'agent'>): Promise<HttpResponse> {
  let spec = first;
  for (let hop = 0; ; hop++) {
    const response = await agent.send(spec);
    if (hop > 0) response.redirected = true;
    if (!REDIRECTS.has(response.status)) return response;
    const location = response.headers.get('location');
    if (location === null) return response;
    if (hop >= maxRedirections) {
      response.body.cancel();
      throw new RedirectError(`${spec.method} ${spec.url.href}: more than ${maxRedirections} redirections`);
    }
    const next = redirection(spec.url, location, response.status, spec.method, spec.given, spec.body);
    await response.body.dump();
    spec = makeSpec(next.url, next.method, next.headers, next.body, options);
  }
}

/** What a redirection makes of the request (see the file header). */
export function redirection(
  from: URL,
  location: string,
  status: number,
  method: string,
  headers: readonly (readonly [string, string])[],
  body: RequestSpec['body'],
): { url: URL; method: string; headers: (readonly [string, string])[]; body: RequestSpec['body'] } {
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new RedirectError(`bad Location ${JSON.stringify(location)}`);
  }
  if (to.protocol !== 'http:' && to.protocol !== 'https:') throw new RedirectError(`cannot follow a redirection to ${to.protocol}`);
  to.hash = '';
  let nextMethod = method;
  let nextBody = body;
  let kept = headers.filter(([name]) => name.toLowerCase() !== 'host');
  if ((status === 303 && method !== 'GET' && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
    nextMethod = 'GET';
    nextBody = null;
    kept = kept.filter(([name]) => !/^(?:content-|transfer-encoding$)/i.test(name));
  } else if (body !== null && !(body instanceof Uint8Array)) {
    throw new RedirectError(`cannot follow a ${status} redirection with a streamed body (it cannot be sent twice)`);
  }
  if (to.origin !== from.origin) kept = kept.filter(([name]) => !/^(?:authorization|cookie|proxy-authorization)$/i.test(name));
  return { url: to, method: nextMethod, headers: kept, body: nextBody };
}

// The last URL string parsed, and its URL (a loop of requests to one URL parses it once; the
// URL object is never handed out or changed).
let lastUrlText = '';
let lastUrl: URL | null = null;

function parseUrl(url: string | URL): URL {
  if (typeof url === 'string' && url === lastUrlText && lastUrl !== null) return lastUrl;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`bad URL ${JSON.stringify(String(url))}`, 'ERR_BAD_ARGUMENT');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InvalidArgumentError(`unsupported URL scheme ${parsed.protocol}`, 'ERR_BAD_ARGUMENT');
  if (typeof url === 'string') {
    lastUrlText = url;
    lastUrl = parsed;
  }
  return parsed;
}

function toBody(body: HttpRequestBody | null): RequestSpec['body'] {
  if (body === null) return null;
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'object' && Symbol.asyncIterator in body) return body;
  throw new InvalidArgumentError('a request body is a string, a Uint8Array or an async iterable of them', 'ERR_BAD_ARGUMENT');
}

// The Host field of the last URL a request without header fields was made to, alone (a loop
// of such requests to one URL makes it once; never changed once made).
let hostOnlyUrl: URL | null = null;
let hostOnly: readonly (readonly [string, string])[] = NO_FIELDS;

function makeSpec(url: URL, method: string, headers: readonly (readonly [string, string])[], body: RequestSpec['body'], options: Omit<HttpRequestOptions, 'agent'>): RequestSpec {
  const timeout = checkMs('timeout', options.timeout ?? 300_000);
  return {
    url,
    method,
    headers: headers.length === 0 && body === null && !WITH_BODY.has(method) ? hostField(url) : framed(url, method, headers, body),
    given: headers,
    body,
    socketPath: options.socketPath,
    tls: options.tls,
    proxy: options.proxy === undefined ? undefined : parseProxy(options.proxy),
    signal: options.signal,
    headersTimeout: options.headersTimeout === undefined ? timeout : checkMs('headersTimeout', options.headersTimeout),
    bodyTimeout: options.bodyTimeout === undefined ? timeout : checkMs('bodyTimeout', options.bodyTimeout),
  };
}

/** `[['Host', url.host]]` (see hostOnly). */
function hostField(url: URL): readonly (readonly [string, string])[] {
  if (url !== hostOnlyUrl) {
    hostOnly = [['Host', url.host]];
    hostOnlyUrl = url;
  }
  return hostOnly;
}

/** The fields sent: the caller's, Host unless given, and the body's framing (see the file header). */
function framed(url: URL, method: string, headers: readonly (readonly [string, string])[], body: RequestSpec['body']): (readonly [string, string])[] {
  const fields: (readonly [string, string])[] = [];
  let host = false;
  let length = false;
  let chunked = false;
  for (const field of headers) {
    const name = field[0].toLowerCase();
    if (name === 'host') host = true;
    else if (name === 'content-length') length = true;
    else if (name === 'transfer-encoding') chunked = true;
    fields.push(field);
  }
  if (!host) fields.unshift(['Host', url.host]);
  if (body instanceof Uint8Array) {
    if (!length && !chunked) fields.push(['Content-Length', String(body.length)]);
  } else if (body !== null) {
    if (!length && !chunked) fields.push(['Transfer-Encoding', 'chunked']);
  } else if (!length && !chunked && WITH_BODY.has(method)) fields.push(['Content-Length', '0']);
  return fields;
}

