// ws-echo/echo.ts
//
// The WebSocket echo service on the HTTP server's upgrade hand-off: a handler that accepts the
// opening handshake with 101 and runs one session per connection on the handed-over ByteStream,
// so it runs unchanged on every runtime. A session echoes each message with its own type,
// answers pings with pongs, answers a close with the same status and ends the connection, and
// closes with the reader's status (1002, 1007, 1009) when the client breaks the protocol.
//
// Invariants:
// - One frame per write, and nothing after the session's close frame.
// - A session awaits each write before reading on: a client that does not read stalls only its
//   own session, with memory bounded by the frame reader's limit.
// - `close()` sends 1001 (going away) to every open session, then closes the HTTP server.

import type { ByteStream, HttpHandler, HttpServer, HttpServerOptions, ServerRequest, ServerResponse } from '@curio-ts/client';
import { CloseCode, FrameReader, NEED_DATA, Opcode, WebSocketError, encodeClose, encodeFrame } from './frames.js';
import type { FrameReaderOptions } from './frames.js';
import { checkHandshake, wantsWebSocket } from './handshake.js';

/** Options of {@link startWsEcho}. */
export interface WsEchoOptions extends FrameReaderOptions {
  /** Options of the HTTP server underneath (where to listen, timeouts, limits). */
  readonly http?: HttpServerOptions;
}

/** A running echo server. */
export interface WsEcho {
  readonly http: HttpServer;
  /** WebSocket sessions open now. */
  readonly sessions: number;
  /** Send 1001 to every session, stop accepting, and resolve once every connection ended. */
  close(): Promise<void>;
}

/** A runtime's `serveHttp` (from @curio-ts/backend-node or @curio-ts/backend-curio). */
export type ServeHttp = (handler: HttpHandler, options?: HttpServerOptions) => Promise<HttpServer>;

/** Start the echo server with `serve` (which picks the runtime). */
export async function startWsEcho(serve: ServeHttp, options: WsEchoOptions = {}): Promise<WsEcho> {
  const sessions = new EchoSessions();
  const http = await serve(wsEchoHandler(options, sessions), options.http);
  return {
    http,
    get sessions() {
      return sessions.size;
    },
    async close() {
      sessions.goingAway();
      await http.close();
    },
  };
}

/** The open sessions; once going away, a session that opens after is sent away at once. */
export class EchoSessions {
  private readonly open = new Set<EchoSession>();
  private leaving = false;

  get size(): number {
    return this.open.size;
  }

  add(session: EchoSession): void {
    this.open.add(session);
    if (this.leaving) session.goingAway();
  }

  delete(session: EchoSession): void {
    this.open.delete(session);
  }

  /** Close every session with 1001, now and from now on. */
  goingAway(): void {
    this.leaving = true;
    for (const session of this.open) session.goingAway();
  }
}

/** The HTTP handler: a WebSocket handshake is switched to an echo session; anything else gets 426. */
export function wsEchoHandler(options: FrameReaderOptions = {}, sessions: EchoSessions = new EchoSessions()): HttpHandler {
  return (request: ServerRequest): ServerResponse => {
    if (!wantsWebSocket(request)) {
      return { status: 426, headers: [['Upgrade', 'websocket'], ['Content-Type', 'text/plain']], body: 'ws-echo speaks WebSocket only\n' };
    }
    const verdict = checkHandshake(request);
    if (!verdict.ok) return { status: verdict.status, headers: [...verdict.headers, ['Content-Type', 'text/plain']], body: `${verdict.reason}\n` };
    return {
      status: 101,
      headers: verdict.headers,
      upgrade: async (stream, head) => {
        const session = new EchoSession(stream, options);
        sessions.add(session);
        try {
          await session.run(head);
        } finally {
          sessions.delete(session);
        }
      },
    };
  };
}

/** One connection's echo. */
export class EchoSession {
  private readonly reader: FrameReader;
  private closeSent = false;

  constructor(
    private readonly stream: ByteStream,
    options: FrameReaderOptions,
  ) {
    this.reader = new FrameReader(options);
  }

  /** Echo until the close handshake, a protocol error or the connection's end. */
  async run(head: Uint8Array): Promise<void> {
    const reader = this.reader;
    reader.receiveData(head);
    try {
      for (;;) {
        let event;
        try {
          event = reader.nextEvent();
        } catch (error) {
          if (!(error instanceof WebSocketError)) throw error;
          await this.sendClose(error.closeCode, error.message);
          return;
        }
        if (event === NEED_DATA) {
          if (this.closeSent) return;
          const chunk = await this.stream.read();
          if (chunk === null || chunk.length === 0) return; // the client went away without a close (1006)
          reader.receiveData(chunk);
          continue;
        }
        switch (event.type) {
          case 'message':
            await this.send(encodeFrame(event.binary ? Opcode.binary : Opcode.text, event.data));
            break;
          case 'ping':
            await this.send(encodeFrame(Opcode.pong, event.data));
            break;
          case 'pong':
            break;
          case 'close':
            // Echo the client's status (none if it sent none), then end the TCP connection:
            // the server closes it first (RFC 6455 §7.1.1).
            await this.sendClose(event.code, '');
            return;
          default: {
            const never: never = event;
            throw new Error(`unknown event ${String(never)}`);
          }
        }
      }
    } catch {
      // The connection broke: nothing to answer.
    } finally {
      this.stream.close();
    }
  }

  /** The server is stopping: close with 1001 and end the connection. */
  goingAway(): void {
    this.sendClose(CloseCode.goingAway, 'server stopping').then(
      () => this.stream.close(),
      () => this.stream.close(),
    );
  }

  private async send(frame: Uint8Array): Promise<void> {
    if (!this.closeSent) await this.stream.write(frame);
  }

  private async sendClose(code: number | null, reason: string): Promise<void> {
    if (this.closeSent) return;
    this.closeSent = true;
    await this.stream.write(encodeClose(code, reason));
  }
}
