// conformance/line-protocol.ts
//
// A toy protocol for testing the engine without Redis: one request per line, one response line
// per request, in order. It exercises everything the engine does for a protocol (pipelining,
// pushes, error responses, a handshake, abandoning a written call in each of the three ways,
// exclusive calls, retryable calls, protocol violations) and is small enough to read in one go.
// Its server is written once on the Runtime's server side, so it runs on every runtime.
//
// Requests (client → server), each a line:
//   HELLO                → +welcome        (the handshake; `-nope` if the server refuses)
//   PING                 → +pong           (the adapter's ping; `-down` while refusePing)
//   ECHO text            → +text
//   GET key              → +value:key      (retryable: read-only)
//   ERR text             → -text           (an error response: the connection is fine)
//   DELAY ms text        → +text after ms  (responses stay in order: later lines wait)
//   SLOW                 → waits until CANCEL, then -cancelled (abandoning it is 'pending')
//   CANCEL               → (no response of its own: answers the SLOW in progress)
//   BLOCK ms             → +unblocked after ms (exclusive: runs on a leased connection)
//   PUSH text            → >text then +pushed (a push: no call's response)
//   GARBAGE              → ?garbage        (not a valid response line: a protocol violation)
//   CLOSE                → the server closes the connection without answering

import type { AbandonResult, HandshakeContext, ProtocolAdapter, ProtocolSession, Runtime, SessionSink } from '@curio-ts/client';
import { ClientError, EngineCall } from '@curio-ts/client';
import type { CallOwner } from '@curio-ts/client';

/** An error response of the line protocol. */
export class LineError extends ClientError {
  constructor(message: string) {
    super(message, 'ERR_LINE');
  }
}

/** The peer sent a line the protocol does not have. */
export class LineProtocolError extends Error {
  readonly code = 'ERR_LINE_PROTOCOL';
}

/** A request of the line protocol. */
export class LineCall extends EngineCall {
  constructor(
    readonly line: string,
    owner: CallOwner | null,
    options?: { readonly timeout?: number; readonly signal?: AbortSignal },
  ) {
    const verb = line.split(' ', 1)[0] ?? '';
    super(verb, verb === 'GET', verb === 'BLOCK', owner, options?.timeout, options?.signal, null);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The client side of one connection. */
export class LineSession implements ProtocolSession<LineCall, string> {
  private out = '';
  private pending = '';
  private nextId = 1;
  /** Ids answered so far (the next response answers `answered + 1`). */
  private answered = 0;

  send(call: LineCall): number {
    if (call.line.includes('\n')) throw new LineError('a request is one line');
    this.out += `${call.line}\n`;
    return this.nextId++;
  }

  get hasDataToSend(): boolean {
    return this.out.length > 0;
  }

  dataToSend(): Uint8Array | null {
    if (this.out.length === 0) return null;
    const data = encoder.encode(this.out);
    this.out = '';
    return data;
  }

  receive(chunk: Uint8Array, sink: SessionSink<LineCall, string>): void {
    this.pending += decoder.decode(chunk);
    for (let end = this.pending.indexOf('\n'); end !== -1; end = this.pending.indexOf('\n')) {
      const line = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 1);
      const kind = line[0];
      const text = line.slice(1);
      if (kind === '>') {
        sink.event(text);
        continue;
      }
      if (kind !== '+' && kind !== '-') throw new LineProtocolError(`unexpected line ${JSON.stringify(line)}`);
      const call = sink.take(++this.answered);
      if (call === null) continue;
      if (kind === '+') call.resolve(text);
      else call.fail(new LineError(text));
    }
  }

  abandon(call: LineCall): AbandonResult {
    if (call.exclusive) return 'close';
    if (call.line === 'SLOW') {
      // The server must answer it before the connection is usable again: ask it to.
      this.out += 'CANCEL\n';
      return 'pending';
    }
    return 'discard';
  }
}

/** The line protocol's adapter (handshake: HELLO). */
export const lineAdapter: ProtocolAdapter<LineCall, string, LineSession> = {
  protocol: 'line',
  createSession: () => new LineSession(),
  async handshake(context: HandshakeContext<LineCall, LineSession>): Promise<void> {
    const answer = await context.request<string>(new LineCall('HELLO', null));
    if (answer !== 'welcome') throw new LineError(`unexpected greeting ${answer}`);
  },
  ping: () => new LineCall('PING', null),
};

/** What the line server saw. */
export interface LineServer {
  /** host:port to connect to. */
  readonly host: string;
  readonly port: number;
  /** Every request line received, in order, across connections. */
  readonly lines: string[];
  /** Connections accepted so far. */
  accepted: number;
  /** Refuse the next handshakes with `-nope`. */
  refuseHello: boolean;
  /** Answer PING with `-down` (a pool connection that fails its check). */
  refusePing: boolean;
  /** Stop listening and close every connection. */
  close(): void;
}

/** Start a line server on `runtime`'s server side (loopback, a free port). */
export async function startLineServer(runtime: Runtime, host = '127.0.0.1'): Promise<LineServer> {
  const listener = await runtime.listen({ host, port: 0 });
  const address = listener.address as { host: string; port: number };
  const streams = new Set<{ close(): void }>();
  const state: LineServer = {
    host: address.host,
    port: address.port,
    lines: [],
    accepted: 0,
    refuseHello: false,
    refusePing: false,
    close() {
      listener.close();
      for (const stream of streams) stream.close();
    },
  };
  runtime.spawn(async () => {
    for (;;) {
      const stream = await listener.accept();
      if (stream === null) return;
      state.accepted++;
      streams.add(stream);
      runtime.spawn(async () => {
        let buffered = '';
        /** A SLOW is waiting for its CANCEL; the lines after it wait too (responses stay in order). */
        let slow = false;
        const held: string[] = [];
        const reply = (text: string): Promise<void> => stream.write(encoder.encode(text));
        /** Handle one request line; false once the connection must end. */
        const handle = async (line: string): Promise<boolean> => {
          const [verb = '', ...rest] = line.split(' ');
          if (slow && verb !== 'CANCEL') {
            held.push(line);
            return true;
          }
          const text = rest.join(' ');
          switch (verb) {
            case 'HELLO':
              await reply(state.refuseHello ? '-nope\n' : '+welcome\n');
              return true;
            case 'PING':
              await reply(state.refusePing ? '-down\n' : '+pong\n');
              return true;
            case 'ECHO':
              await reply(`+${text}\n`);
              return true;
            case 'GET':
              await reply(`+value:${text}\n`);
              return true;
            case 'ERR':
              await reply(`-${text}\n`);
              return true;
            case 'DELAY':
            case 'BLOCK':
              await runtime.sleep(Number(rest[0]));
              await reply(verb === 'BLOCK' ? '+unblocked\n' : `+${rest.slice(1).join(' ')}\n`);
              return true;
            case 'SLOW':
              slow = true;
              return true;
            case 'CANCEL': {
              if (!slow) return true;
              slow = false;
              await reply('-cancelled\n');
              for (const next of held.splice(0)) if (!(await handle(next))) return false;
              return true;
            }
            case 'PUSH':
              await reply(`>${text}\n+pushed\n`);
              return true;
            case 'GARBAGE':
              await reply('?garbage\n');
              return true;
            case 'CLOSE':
              return false;
            default:
              await reply(`-unknown ${verb}\n`);
              return true;
          }
        };
        try {
          for (;;) {
            const chunk = await stream.read();
            if (chunk === null || chunk.length === 0) return;
            buffered += decoder.decode(chunk);
            // Every line received is recorded, those after a CLOSE in the same chunk too.
            const lines = buffered.split('\n');
            buffered = lines.pop() ?? '';
            state.lines.push(...lines);
            for (const line of lines) if (!(await handle(line))) return;
          }
        } catch {
          // The client went away.
        } finally {
          streams.delete(stream);
          stream.close();
        }
      }, 'line-server-connection');
    }
  }, 'line-server');
  return state;
}
