// http/fast-response.ts
//
// An opt-in lightweight Response. In Node 20 `new Response('hello', { headers })` costs more
// than the rest of our server's request together: undici makes a ReadableStream for the body
// and a Headers object at once, whether anything reads them or not. A FastResponse only records
// its body and init; fetchHandler (web.ts) reads status, header fields and body source from that
// record and sends them, so most responses never become platform Responses at all.
//
// Invariants:
// - Behaviour is the platform's: the constructor records only what it has checked the
//   platform would accept, as the platform would store it (a string, or bytes copied; a status
//   200-599 an integer, no body with a null-body status; a statusText, header names and values
//   the platform takes unchanged). Anything else (other body kinds, values the platform would
//   normalize or refuse) makes the real Response at once, which throws what it throws.
// - `status`, `statusText`, `ok`, `type`, `redirected`, `url` and `bodyUsed` (false) are answered
//   from the record. Every other member (headers, body, text(), json(), arrayBuffer(), blob(),
//   formData(), clone()) makes the real Response once, from the record, and is its own.
// - `instanceof Response` holds both ways: FastResponse.prototype inherits the platform's
//   Response.prototype, and `x instanceof FastResponse` holds for every platform Response.
// - Response.json(), Response.redirect() and Response.error() are the platform's.
//
// Discussion: why `headers` makes the real Response. A Headers object made alone would have to
// stay the very object the real Response uses (the app may keep it, set a field, then read the
// body or clone), and a Response takes a copy of its init's headers. Keeping the two in step is
// not worth it: fetchHandler reads the recorded fields, and the app that asks for `headers`
// after building its Response pays what the platform charges.

/** The platform's Response and Headers, as they were when this module loaded. */
const PlatformResponse: typeof Response = globalThis.Response;
const PlatformHeaders: typeof Headers = globalThis.Headers;

const kBody = Symbol('body');
const kStatus = Symbol('status');
const kStatusText = Symbol('statusText');
const kFields = Symbol('fields');
const kReal = Symbol('response');

/** A recorded response's parts, as fetchHandler sends them. */
export interface FastResponseParts {
  readonly status: number;
  /** Header fields, names lowercase, Set-Cookie fields kept apart. */
  readonly fields: readonly (readonly [string, string])[];
  /** The body source: a string, bytes (a private copy), or null. */
  readonly body: string | Uint8Array | null;
}

const NULL_BODY_STATUS = new Set([204, 205, 304]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value the platform keeps as it is: no NUL/CR/LF, no leading or trailing whitespace, bytes only. */
const PLAIN_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The web-standard Response, made lazily (see the file header): a drop-in for
 * `globalThis.Response` that {@link installFastResponse} installs.
 */
export class FastResponse {
  [kBody]: string | Uint8Array | null = null;
  [kStatus] = 200;
  [kStatusText] = '';
  [kFields]: [string, string][] = [];
  [kReal]: Response | null = null;

  constructor(body?: ConstructorParameters<typeof Response>[0], init?: ResponseInit) {
    if (!record(this, body, init)) this[kReal] = new PlatformResponse(body, init);
  }

  /** True for every Response, the platform's and this class's. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(PlatformResponse, value);
  }

  /** The platform's Response.json(). */
  static json(...args: Parameters<typeof Response.json>): Response {
    return PlatformResponse.json(...args);
  }

  /** The platform's Response.redirect(). */
  static redirect(...args: Parameters<typeof Response.redirect>): Response {
    return PlatformResponse.redirect(...args);
  }

  /** The platform's Response.error(). */
  static error(): Response {
    return PlatformResponse.error();
  }

  /** The status (from the record until the real Response exists). */
  get status(): number {
    const real = this[kReal];
    return real === null ? this[kStatus] : real.status;
  }

  /** The status text (from the record until the real Response exists). */
  get statusText(): string {
    const real = this[kReal];
    return real === null ? this[kStatusText] : real.statusText;
  }

  /** Whether the status is 200-299. */
  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  /** 'default' for a constructed Response. */
  get type(): Response['type'] {
    const real = this[kReal];
    return real === null ? 'default' : real.type;
  }

  /** False for a constructed Response. */
  get redirected(): boolean {
    const real = this[kReal];
    return real === null ? false : real.redirected;
  }

  /** '' for a constructed Response. */
  get url(): string {
    const real = this[kReal];
    return real === null ? '' : real.url;
  }

  /** False until the body is read (which makes the real Response). */
  get bodyUsed(): boolean {
    const real = this[kReal];
    return real === null ? false : real.bodyUsed;
  }
}

/**
 * Records `body` and `init` on `response` when the platform would take them as they are;
 * false when the real Response must judge them (see the file header).
 */
function record(response: FastResponse, body: unknown, init: unknown): boolean {
  if (body === undefined) body = null;
  else if (body instanceof ArrayBuffer) body = new Uint8Array(body.slice(0));
  else if (body instanceof Uint8Array) body = new Uint8Array(body);
  else if (body !== null && typeof body !== 'string') return false;
  if (init === undefined || init === null) {
    response[kBody] = body as string | Uint8Array | null;
    if (typeof body === 'string') response[kFields].push(['content-type', 'text/plain;charset=UTF-8']);
    return true;
  }
  if (typeof init !== 'object') return false;
  const { status, statusText, headers } = init as ResponseInit;
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) return false;
  if (body !== null && status !== undefined && NULL_BODY_STATUS.has(status)) return false;
  if (statusText !== undefined && !(typeof statusText === 'string' && REASON_PHRASE.test(statusText))) return false;
  const fields = response[kFields];
  if (headers !== undefined && !recordFields(fields, headers)) {
    fields.length = 0;
    return false;
  }
  if (typeof body === 'string' && !hasContentType(fields)) fields.push(['content-type', 'text/plain;charset=UTF-8']);
  response[kBody] = body as string | Uint8Array | null;
  response[kStatus] = status ?? 200;
  response[kStatusText] = statusText ?? '';
  return true;
}

function hasContentType(fields: readonly (readonly [string, string])[]): boolean {
  for (let i = 0; i < fields.length; i++) if ((fields[i] as readonly [string, string])[0] === 'content-type') return true;
  return false;
}

/** Appends `headers`' fields to `fields`, lowercased; false when the platform must judge them. */
function recordFields(fields: [string, string][], headers: unknown): boolean {
  if (headers instanceof PlatformHeaders) {
    for (const [name, value] of headers) fields.push([name, value]); // already checked; Set-Cookie fields apart
    return true;
  }
  if (Array.isArray(headers)) {
    for (const pair of headers as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || !recordField(fields, pair[0], pair[1])) return false;
    }
    return true;
  }
  if (typeof headers !== 'object' || headers === null) return false;
  const prototype: unknown = Object.getPrototypeOf(headers);
  if (prototype !== Object.prototype && prototype !== null) return false;
  for (const name in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, name)) return false;
    if (!recordField(fields, name, (headers as Record<string, unknown>)[name])) return false;
  }
  return Object.getOwnPropertySymbols(headers).length === 0;
}

/** The last field recordField accepted (handlers answer the same fields again and again). */
let lastName = '';
let lastLowerName = '';
let lastValue = '';

function recordField(fields: [string, string][], name: unknown, value: unknown): boolean {
  if (typeof name !== 'string' || typeof value !== 'string') return false;
  let lower: string;
  if (name === lastName && value === lastValue) lower = lastLowerName;
  else {
    if (!TOKEN.test(name) || !PLAIN_VALUE.test(value)) return false;
    lower = name.toLowerCase();
    lastName = name;
    lastLowerName = lower;
    lastValue = value;
  }
  fields.push([lower, value]);
  return true;
}

/** The real Response of `response`, made once from its record. */
function realResponse(response: FastResponse): Response {
  let real = response[kReal];
  if (real === null) {
    const headers = new PlatformHeaders();
    for (const [name, value] of response[kFields]) headers.append(name, value);
    real = response[kReal] = new PlatformResponse(response[kBody], { status: response[kStatus], statusText: response[kStatusText], headers });
  }
  return real;
}

/**
 * What fetchHandler sends for `response`: its recorded parts when it is a FastResponse that has
 * not become a real Response; otherwise, the platform Response to read (itself or its real one).
 */
export function fastResponseParts(response: Response): FastResponseParts | Response {
  const parts = recordedParts(response);
  if (parts !== null) return parts;
  if (!Object.prototype.hasOwnProperty.call(response, kReal)) return response;
  return (response as unknown as FastResponse)[kReal] as Response;
}

/**
 * The recorded parts of `value` when it is a FastResponse that has not become a real Response,
 * else null: asked first, it spares the `instanceof Response` a FastResponse passes anyway.
 */
export function recordedParts(value: unknown): FastResponseParts | null {
  if (typeof value !== 'object' || value === null || !Object.prototype.hasOwnProperty.call(value, kReal)) return null;
  const fast = value as FastResponse;
  if (fast[kReal] !== null) return null;
  return { status: fast[kStatus], fields: fast[kFields], body: fast[kBody] };
}

/**
 * Gives `view`'s prototype every member of `platform`'s prototype that it lacks (except those
 * in `own`), each run on `realOf(this)`: getters read there, methods called there.
 * Shared by web.ts's RequestView and FastResponse.
 */
export function delegateMembers<T extends object>(view: { prototype: T }, platform: { prototype: object }, own: ReadonlySet<PropertyKey>, realOf: (self: T) => object): void {
  Object.setPrototypeOf(view.prototype, platform.prototype);
  for (const key of Reflect.ownKeys(platform.prototype)) {
    if (own.has(key) || Object.prototype.hasOwnProperty.call(view.prototype, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(platform.prototype, key) as PropertyDescriptor;
    if (descriptor.get !== undefined) {
      const get = descriptor.get;
      Object.defineProperty(view.prototype, key, { configurable: true, enumerable: descriptor.enumerable ?? false, get: function (this: T) { return get.call(realOf(this)) as unknown; } });
    } else if (typeof descriptor.value === 'function') {
      const method = descriptor.value as (...args: unknown[]) => unknown;
      Object.defineProperty(view.prototype, key, {
        configurable: true,
        enumerable: descriptor.enumerable ?? false,
        writable: true,
        value: function (this: T, ...args: unknown[]) {
          return method.apply(realOf(this), args);
        },
      });
    }
  }
}

delegateMembers(FastResponse, PlatformResponse, new Set<PropertyKey>(['constructor']), realResponse);

/**
 * Replaces `globalThis.Response` with {@link FastResponse}, as @hono/node-server does with its
 * own by default, so `new Response(...)` anywhere in the process makes a lazy one that
 * fetchHandler sends without making the platform's (see fast-response.ts's header for what
 * stays exact). Returns a function that puts the previous Response back (if FastResponse is
 * still the installed one).
 */
export function installFastResponse(): () => void {
  const previous = globalThis.Response;
  globalThis.Response = FastResponse as unknown as typeof Response;
  return () => {
    if (globalThis.Response === (FastResponse as unknown as typeof Response)) globalThis.Response = previous;
  };
}
