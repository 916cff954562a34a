// http/web.ts
//
// The web-standard handler style: `(request: Request) => Response | Promise<Response>`, as
// Deno.serve, Bun.serve and frameworks such as Hono take it (`app.fetch`), adapted to the lean
// handler of server.ts. An existing Hono app runs on curio-ts's server unchanged.
//
// Invariants:
// - The Request's URL is absolute: `http://` (`https://` over TLS) + the Host header + the
//   target; its body is a ReadableStream pulled from the connection as the app reads it (so
//   backpressure holds), absent for GET and HEAD; its signal is the request's (the client
//   disconnecting aborts it).
// - The Response's status, headers (Set-Cookie kept as separate fields) and body are sent as
//   they are; a streamed body is pulled as the connection can take it.
// - A header the Fetch API refuses (a byte it does not allow) gets a 400, not a crash.
// - An answer that is not a Response, or is Response.error(), is a TypeError: the client gets
//   a 500 and onError says why.

import { describe } from './answer.js';
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
  return async (request: ServerRequest): Promise<ServerResponse> => {
    let webRequest: Request;
    try {
      webRequest = toWebRequest(request, scheme);
    } catch (error) {
      return { status: 400, headers: [['Content-Type', 'text/plain']], body: `bad request: ${error instanceof Error ? error.message : String(error)}\n` };
    }
    const response: unknown = await handler(webRequest);
    return fromWebResponse(response);
  };
}

function toWebRequest(request: ServerRequest, scheme: string): Request {
  const headers = new Headers();
  const fields = request.headers;
  for (let i = 0; i < fields.length; i++) headers.append(fields.name(i), fields.value(i));
  const host = fields.get('host') ?? 'localhost';
  const target = request.target;
  const url = target.startsWith('http://') || target.startsWith('https://') ? target : `${scheme}://${host}${target.startsWith('/') ? target : `/${target}`}`;
  const method = request.method;
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: request.signal };
  if (hasBody) {
    init.body = bodyStream(request.body);
    init.duplex = 'half';
  }
  return new Request(url, init);
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

function fromWebResponse(response: unknown): ServerResponse {
  if (!(response instanceof Response)) throw new TypeError(`the fetch handler answered ${describe(response)}, not a Response`);
  if (response.type === 'error') throw new TypeError('the fetch handler answered Response.error() (a network error): the client gets a 500');
  const headers: [string, string][] = [];
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers.push([name, value]);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
  const body = response.body;
  return { status: response.status, headers, body: body === null ? null : (body as unknown as AsyncIterable<Uint8Array>) };
}
