// connection.ts
//
// HttpConnection: one HTTP/1.1 connection as a sans-IO object, for either role. Bytes the peer
// sent go in with `receiveData`, and `nextEvent()` hands out what they mean, one event at a
// time; what we send goes in as events to `send`, which returns the bytes to write. No
// sockets, timers or Promises: the caller does the IO (see packages/client's HTTP server and
// client, which run it on every runtime).
//
// Invariants:
// - Both sides' states follow state.ts; an event the table forbids is a LocalProtocolError
//   (ours) or a RemoteProtocolError (theirs), and that side is in ERROR for good.
// - One request/response cycle at a time: once the peer's message is complete, nothing more
//   of its bytes is parsed until `startNextCycle()` (pipelined requests wait, intact, in the
//   input); `nextEvent()` answers PAUSED meanwhile if bytes are waiting.
// - Pipelining, client role: once our request is complete (ours DONE, keep-alive on, no switch
//   proposed) the next request may be sent before its response came. The methods of the
//   requests sent and not yet answered wait in a FIFO (`unansweredRequests`): each response is
//   parsed knowing the method it answers (a HEAD's has no body), and when one ends while
//   others are unanswered, the server's side goes on to the next at once (no startNextCycle).
//   A response that closes the connection (`Connection: close`, an HTTP/1.0 one without
//   keep-alive) ends it: the server's side is MUST_CLOSE, and the requests behind it stay
//   unanswered (the caller sends them again elsewhere). A request proposing a switch is never
//   pipelined, nor sent behind one.
// - After a protocol switch (101, a 2xx to CONNECT), HTTP is over: `trailingData` holds the
//   bytes received after the switch and whether the peer closed, for the next protocol.
// - Received body data are views of the bytes given to receiveData (give each chunk once and
//   do not modify it afterwards); header values are made into strings only when read.
// - Framing on send: the caller's Content-Length or `Transfer-Encoding: chunked` if given;
//   otherwise a response body is chunked for an HTTP/1.1 peer and delimited by closing the
//   connection for an HTTP/1.0 one, and a request without either has no body. A body longer or
//   shorter than its Content-Length is a LocalProtocolError. Responses to HEAD, 1xx, 204 and
//   304 carry no body.
// - Smuggling shapes are RemoteProtocolErrors with a status hint: llhttp (strict) rejects most
//   of them (Content-Length with Transfer-Encoding, duplicate Content-Length, `chunked` not
//   last, bad chunk sizes, bare CR/LF, obs-fold, bad names and values, space before the
//   colon); this file adds what it accepts: an HTTP/1.1 request without exactly one Host, a
//   transfer coding other than chunked (501), an HTTP version other than 1.0 / 1.1 (505).

import { HttpProtocolError, LocalProtocolError, RemoteProtocolError } from './errors.js';
import { ConnectionClosed, Data, EndOfMessage, InformationalResponse, NEED_DATA, PAUSED, Request, Response } from './events.js';
import type { HttpEvent, HttpVersion, NeedData, Paused } from './events.js';
import { FieldList, latin1 } from './fields.js';
import { HEAD_CONTINUE, HEAD_NO_BODY, HEAD_UPGRADE, HPE, REQUEST, RESPONSE, WireParser, methodName } from './llhttp/binding.js';
import type { WireFields, WireHead, WireLimit } from './llhttp/binding.js';
import { nextState } from './state.js';
import { OutputBuffer } from './writer.js';
import type { HttpState, Role, StateInput } from './state.js';

/** Limits on what the peer may send (bytes; fields). */
export interface HttpLimits {
  /** Start line and header fields together (default 16 KiB, as Node's http). 431 when exceeded. */
  readonly maxHeadBytes?: number;
  /** The request target (default 8 KiB). 414 when exceeded. */
  readonly maxTargetBytes?: number;
  /** Header fields per message (default 100). 431 when exceeded. */
  readonly maxFields?: number;
  /** Body bytes per message (default: no limit). 413 when exceeded. */
  readonly maxBodyBytes?: number;
}

/** What the caller knows after a protocol switch. */
export interface TrailingData {
  /** Bytes received after the switch (the next protocol's). */
  readonly data: Uint8Array;
  /** Whether the peer had closed its side already. */
  readonly closed: boolean;
}

const encoder = new TextEncoder();
const EMPTY: Uint8Array = new Uint8Array(0);
/** The end of every received message without trailers (events are data: one object serves all). */
const NO_TRAILERS_END = new EndOfMessage();
/** The parser's limits when HttpLimits sets none (see HttpLimits for each default). */
const DEFAULT_WIRE_LIMITS = { maxHeadBytes: 16 * 1024, maxTargetBytes: 8 * 1024, maxFields: 100 } as const;

/** How a message's body is framed on send. */
const NO_BODY = 0;
const BY_LENGTH = 1;
const CHUNKED = 2;
const TO_CLOSE = 3;

/** Bytes of a reg-name (RFC 3986: unreserved, pct-encoded's '%', sub-delims), and of an IP-literal's inside. */
const REG_NAME = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=");
const IP_LITERAL = byteSet('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:.');

function byteSet(chars: string): Uint8Array {
  const set = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) set[chars.charCodeAt(i)] = 1;
  return set;
}

/**
 * Whether `bytes[start, end)` is a Host value (RFC 9112 §3.2): uri-host [":" port], the host an
 * IP-literal (`[...]`) or a reg-name (may be empty), checked on the bytes (no string made).
 */
function validHost(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  if (i < end && bytes[i] === 0x5b) {
    const first = ++i;
    while (i < end && IP_LITERAL[bytes[i] as number] === 1) i++;
    if (i === first || i === end || bytes[i] !== 0x5d) return false;
    i++;
  } else while (i < end && REG_NAME[bytes[i] as number] === 1) i++;
  if (i === end) return true;
  if (bytes[i] !== 0x3a) return false;
  for (i++; i < end; i++) if ((bytes[i] as number) < 0x30 || (bytes[i] as number) > 0x39) return false;
  return true;
}
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;

/**
 * An HTTP/1.1 connection, either role (see the file header). It is its parser's WireSink (the
 * sink methods are internal, so the class does not declare `implements`).
 */
export class HttpConnection {
  readonly theirRole: Role;
  private ours: HttpState = 'IDLE';
  private theirs: HttpState = 'IDLE';
  private readonly parser: WireParser;
  private readonly maxBodyBytes: number;
  /**
   * Received events not yet handed out: `events[eventHead, eventEnd)`. The array is reused (its
   * slots are cleared as they are taken), not made again per message.
   */
  // Small arrays made once (most messages make 2 or 3 events, arrive in 1 chunk): nothing is
  // allocated per message for them, and an idle connection holds little.
  private events: HttpEvent[] = new Array<HttpEvent>(4);
  private eventHead = 0;
  private eventEnd = 0;
  /** Received bytes not yet parsed (after a pause). */
  private input: Uint8Array[] = new Array<Uint8Array>(2);
  private inputHead = 0;
  /** The end of the chunks in `input` (reused as `events` is). */
  private inputEnd = 0;
  /** Where the unparsed bytes of `input[inputHead]` begin (the rest of a chunk parsed in part). */
  private inputOffset = 0;
  private eof = false;
  private eofDone = false;
  /** Bytes received and not yet handed out (unparsed input, and Data events not yet taken). */
  private pending = 0;
  /** The parser paused at the end of the peer's message (one cycle at a time). */
  private paused = false;
  /** It paused for a protocol switch (llhttp's PAUSED_UPGRADE): resumed differently. */
  private pausedForUpgrade = false;
  private failure: HttpProtocolError | null = null;
  private trailing: TrailingData | null = null;
  private bodyBytes = 0;
  // Per cycle.
  private keepAlive = true;
  /** The client: the response being read said the connection closes after it. */
  private theyClose = false;
  /** The client: the methods of the requests sent whose responses are not complete, oldest first. */
  private sentMethods: string[] = [];
  private requestMethod = '';
  private proposedSwitch = false;
  private theirVersion: HttpVersion = '1.1';
  private sendFraming = NO_BODY;
  private sendRemaining = 0;
  /** The server: the client sent `Expect: 100-continue` and is waiting for a 100 (or a response). */
  private waitingFor100 = false;
  private theirKeepAliveTimeout: number | null = null;

  constructor(
    /** The side we play. */
    readonly ourRole: Role,
    limits: HttpLimits = {},
  ) {
    this.theirRole = ourRole === 'client' ? 'server' : 'client';
    this.maxBodyBytes = limits.maxBodyBytes ?? Infinity;
    const defaults = limits.maxHeadBytes === undefined && limits.maxTargetBytes === undefined && limits.maxFields === undefined;
    this.parser = new WireParser(
      ourRole === 'server' ? REQUEST : RESPONSE,
      this,
      // One object for every connection with the default limits (it is held while each lives).
      defaults
        ? DEFAULT_WIRE_LIMITS
        : {
            maxHeadBytes: limits.maxHeadBytes ?? DEFAULT_WIRE_LIMITS.maxHeadBytes,
            maxTargetBytes: limits.maxTargetBytes ?? DEFAULT_WIRE_LIMITS.maxTargetBytes,
            maxFields: limits.maxFields ?? DEFAULT_WIRE_LIMITS.maxFields,
          },
    );
  }

  /** Our side's state. */
  get ourState(): HttpState {
    return this.ours;
  }

  /** The peer's side's state. */
  get theirState(): HttpState {
    return this.theirs;
  }

  /** The server role: the client is waiting for `100 Continue` before it sends the body. */
  get theyAreWaitingFor100Continue(): boolean {
    return this.waitingFor100;
  }

  /** After a protocol switch: the bytes that followed it (null before). */
  get trailingData(): TrailingData | null {
    return this.trailing;
  }

  /**
   * Bytes received and not yet handed out: input not parsed yet (pipelined requests wait here)
   * and body data not yet taken. A reader stops reading above its high-water mark.
   */
  get pendingBytes(): number {
    return this.pending;
  }

  /**
   * The client: requests sent whose responses have not been read to their end (the first is
   * the one being answered). More than one when pipelining.
   */
  get unansweredRequests(): number {
    return this.sentMethods.length;
  }

  /**
   * The client: whether the next request may be sent now, pipelined behind those still
   * unanswered (our last request is complete, keep-alive is on, no switch was proposed).
   */
  get canPipeline(): boolean {
    return this.ours === 'DONE' && this.keepAlive && this.sentMethods.length > 0;
  }

  /**
   * The client role: the `timeout` parameter (seconds) of the Keep-Alive field of the last
   * response head received (`Keep-Alive: timeout=5, max=100`), the time the server says it
   * keeps an idle connection open; null when that head had none.
   */
  get keepAliveTimeout(): number | null {
    return this.theirKeepAliveTimeout;
  }

  /** The peer's HTTP version in this cycle. */
  get theirHttpVersion(): HttpVersion {
    return this.theirVersion;
  }

  /**
   * Whether the connection is between cycles with nothing of the next message received: both
   * sides IDLE, no byte pending, no event queued, no end of stream, no failure, no switch. Such
   * an object is interchangeable with a new one (see {@link HttpConnection.recycle}).
   */
  get atRest(): boolean {
    return (
      this.ours === 'IDLE' &&
      this.theirs === 'IDLE' &&
      this.pending === 0 &&
      this.eventHead === this.eventEnd &&
      this.inputHead === this.inputEnd &&
      !this.eof &&
      !this.paused &&
      this.failure === null &&
      this.trailing === null &&
      !this.parser.inMessage
    );
  }

  /** Forget the requests sent (pop() for one: setting `length` is a call into V8's runtime). */
  private forgetSentMethods(): void {
    const methods = this.sentMethods;
    if (methods.length === 1) methods.pop();
    else if (methods.length > 0) methods.length = 0;
  }

  /**
   * Make a connection at rest ({@link HttpConnection.atRest}) as new, to carry another peer's
   * connection (a server keeps a few for its idle connections to borrow: an idle connection
   * then holds no parser). Returns false, changing nothing, when it is not at rest.
   */
  recycle(): boolean {
    if (!this.atRest) return false;
    this.parser.reset();
    this.keepAlive = true;
    this.theyClose = false;
    this.forgetSentMethods();
    this.requestMethod = '';
    this.proposedSwitch = false;
    this.theirVersion = '1.1';
    this.sendFraming = NO_BODY;
    this.sendRemaining = 0;
    this.waitingFor100 = false;
    this.theirKeepAliveTimeout = null;
    this.bodyBytes = 0;
    this.pendingError = null;
    this.eofDone = false;
    this.inputOffset = 0;
    return true;
  }

  /** Free the parser (the connection is not used again). */
  destroy(): void {
    this.parser.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /** Bytes from the peer; an empty chunk means the peer closed its side (EOF). */
  receiveData(data: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (this.eof) {
      if (data.length === 0) return;
      throw new LocalProtocolError('receiveData after the end of the stream', 'ERR_AFTER_EOF');
    }
    if (data.length === 0) this.eof = true;
    else if (this.trailing !== null) this.trailing = { data: concat(this.trailing.data, data), closed: false };
    else {
      this.input[this.inputEnd++] = data;
      this.pending += data.length;
    }
    if (this.eof && this.trailing !== null) this.trailing = { data: this.trailing.data, closed: true };
  }

  /** The next event the peer's bytes make, NEED_DATA, or PAUSED (see the file header). */
  nextEvent(): HttpEvent | NeedData | Paused {
    if (this.failure !== null) throw this.failure;
    for (;;) {
      if (this.eventHead < this.eventEnd) return this.take();
      if (this.theirs === 'SWITCHED_PROTOCOL' || this.ours === 'SWITCHED_PROTOCOL') return PAUSED;
      if (this.theirs === 'MIGHT_SWITCH_PROTOCOL') return PAUSED;
      if (this.paused) {
        if (this.inputHead < this.inputEnd) return PAUSED;
        if (this.eof) return this.closedEvent();
        return NEED_DATA;
      }
      if (this.inputHead < this.inputEnd) {
        this.parseNext();
        continue;
      }
      if (this.eof) {
        if (!this.eofDone) {
          this.eofDone = true;
          this.finishInput();
          continue;
        }
        return this.closedEvent();
      }
      return NEED_DATA;
    }
  }

  private closedEvent(): HttpEvent {
    this.eofDone = true;
    const event = new ConnectionClosed();
    this.theirs = this.moveTheirs('ConnectionClosed');
    return event;
  }

  private parseNext(): void {
    const chunk = this.input[this.inputHead] as Uint8Array;
    const from = this.inputOffset;
    this.pending -= chunk.length - from;
    const result = this.parser.execute(chunk, from, chunk.length);
    const stopped = result === HPE.OK ? chunk.length : this.parser.stoppedAt;
    if (stopped < chunk.length) {
      // The rest stays where it is, for the next execute (pipelined requests wait here).
      this.inputOffset = stopped;
      this.pending += chunk.length - stopped;
    } else {
      this.input[this.inputHead++] = EMPTY;
      this.inputOffset = 0;
      if (this.inputHead === this.inputEnd) this.inputHead = this.inputEnd = 0;
    }
    if (result === HPE.OK) return;
    if (result === HPE.PAUSED) {
      this.paused = true;
      return;
    }
    if (result === HPE.PAUSED_UPGRADE && this.theirs === 'IDLE' && this.ours === 'IDLE') {
      // The upgrade pause of a message whose switch was refused, reached after the next cycle
      // began (the pause at its end came first): HTTP goes on.
      this.parser.resumeAfterUpgrade();
      return;
    }
    if (result === HPE.PAUSED_UPGRADE) {
      // Bytes after the head (or body) of a switching message: the next protocol's, unless the
      // switch is refused (startNextCycle resumes HTTP with them).
      this.paused = true;
      this.pausedForUpgrade = true;
      return;
    }
    throw this.parseError(result);
  }

  private finishInput(): void {
    if (this.theirs === 'SWITCHED_PROTOCOL') return;
    // Between messages there is nothing to finish (and a parser resumed after its pause at a
    // message's end would call the end of the stream an "invalid EOF state").
    if (!this.parser.inMessage) return;
    const result = this.parser.finish();
    // PAUSED: a body read until the close ended, and the sink paused after it as usual.
    if (result !== HPE.OK && result !== HPE.PAUSED) {
      throw this.remote(`the peer closed the connection in the middle of a message (${this.parser.reason()})`, 400, 'ERR_TRUNCATED');
    }
  }

  /** Hand out the next queued event, applying it to the peer's state. */
  private take(): HttpEvent {
    const event = this.events[this.eventHead] as HttpEvent;
    this.events[this.eventHead++] = undefined as never;
    if (this.eventHead === this.eventEnd) this.eventHead = this.eventEnd = 0;
    switch (event.type) {
      case 'request':
        this.theirs = this.moveTheirs('Request');
        this.ours = this.moveOurs('peer-request');
        break;
      case 'informational-response':
        this.theirs = this.moveTheirs('InformationalResponse');
        break;
      case 'response':
        if (this.ours === 'MIGHT_SWITCH_PROTOCOL' && this.accepted(event.status)) {
          this.theirs = this.moveTheirs('accept-switch');
          this.ours = this.moveOurs('accept-switch');
          break;
        }
        this.theirs = this.moveTheirs('Response');
        if (this.ours === 'MIGHT_SWITCH_PROTOCOL') {
          this.ours = this.moveOurs('refuse-switch');
          this.restOurs();
        }
        break;
      case 'data':
        this.pending -= event.data.length;
        if (this.theirs !== 'SWITCHED_PROTOCOL') this.theirs = this.moveTheirs('Data');
        break;
      case 'end-of-message':
        if (this.theirs !== 'SWITCHED_PROTOCOL') {
          this.theirs = this.moveTheirs('EndOfMessage');
          if (this.ourRole === 'server' && this.proposedSwitch) this.theirs = this.moveTheirs('propose-switch');
          if (this.ourRole === 'client') this.answered();
          else {
            this.restTheirs();
            this.restOurs();
          }
        }
        break;
      case 'connection-closed':
        break;
    }
    if (this.ours === 'SWITCHED_PROTOCOL' || this.theirs === 'SWITCHED_PROTOCOL') this.captureTrailing();
    return event;
  }

  private moveTheirs(input: StateInput): HttpState {
    const next = nextState(this.theirRole, this.theirs, input);
    if (next === null) throw this.remote(`the peer sent ${input} in state ${this.theirs}`, 400, 'ERR_STATE');
    return next;
  }

  /**
   * The client: a response ended. The server's side goes on to the next pipelined request
   * unless this response closes the connection; else both sides rest as usual.
   */
  private answered(): void {
    const methods = this.sentMethods;
    methods.shift();
    if (methods.length > 0 && !this.theyClose && this.theirs === 'DONE') {
      this.theirs = this.moveTheirs('next-response');
      this.requestMethod = methods[0] as string;
      this.bodyBytes = 0;
      if (this.paused) {
        this.paused = false;
        this.parser.resume();
      }
      return;
    }
    this.restTheirs();
    this.restOurs();
  }

  /** A side DONE on a connection without keep-alive must close. */
  private restTheirs(): void {
    if (!this.keepAlive && this.theirs === 'DONE') this.theirs = this.moveTheirs('keep-alive-off');
  }

  private restOurs(): void {
    if (!this.keepAlive && this.ours === 'DONE') this.ours = this.moveOurs('keep-alive-off');
  }

  private accepted(status: number): boolean {
    if (this.requestMethod === 'CONNECT') return status >= 200 && status < 300;
    return status === 101;
  }

  private captureTrailing(): void {
    if (this.trailing !== null) return;
    let data = EMPTY;
    for (let i = this.inputHead; i < this.inputEnd; i++) {
      const chunk = this.input[i] as Uint8Array;
      data = concat(data, i === this.inputHead && this.inputOffset > 0 ? chunk.subarray(this.inputOffset) : chunk);
    }
    this.input = [];
    this.inputHead = this.inputEnd = 0;
    this.inputOffset = 0;
    this.pending = 0;
    this.trailing = { data, closed: this.eof };
  }

  // WireSink ----------------------------------------------------------------------------------

  /** @internal */
  onHead(head: WireHead): number {
    const fields = FieldList.received(head.bytes, head.spans, 2, head.fieldCount);
    if (head.versionMajor !== 1 || head.versionMinor > 1) {
      this.pendingError = this.remote(`HTTP/${head.versionMajor}.${head.versionMinor} is not supported`, 505, 'ERR_HTTP_VERSION');
      return -1;
    }
    const version: HttpVersion = head.versionMinor === 0 ? '1.0' : '1.1';
    this.theirVersion = version;
    // One pass over the names for the fields that matter here (by length first: no string made);
    // the values are read only when such a field is there.
    let hosts = 0;
    let host = -1;
    let hasTe = false;
    let hasExpect = false;
    let keepAlives = 0;
    let keepAlive = -1;
    for (let i = 0; i < fields.length; i++) {
      const length = fields.nameLength(i);
      if (length === 4) {
        if (fields.nameIs(i, 'host')) {
          hosts++;
          host = i;
        }
      } else if (length === 17) {
        if (!hasTe && fields.nameIs(i, 'transfer-encoding')) hasTe = true;
      } else if (length === 6) {
        if (!hasExpect && fields.nameIs(i, 'expect')) hasExpect = true;
      } else if (length === 10 && fields.nameIs(i, 'keep-alive') && keepAlives++ === 0) keepAlive = i;
    }
    if (this.ourRole === 'client') this.theirKeepAliveTimeout = keepAlives === 0 ? null : keepAliveTimeout(fields, keepAlive, keepAlives);
    const te = hasTe ? fields.get('transfer-encoding') : null;
    let close: boolean;
    if (this.ourRole === 'client' && (this.requestMethod === 'HEAD' || head.status === 204 || head.status === 304)) {
      // No body follows whatever the length fields say: llhttp judged keep-alive before it was
      // told so, and a HEAD answer without Content-Length is not close-delimited.
      close = version === '1.1' ? fields.hasToken('connection', 'close') : !fields.hasToken('connection', 'keep-alive');
    } else close = !head.keepAlive;
    // An HTTP/1.0 message with Transfer-Encoding has faulty framing: answer (or read) it, then
    // close, or what its sender meant as body could be taken for the next message (RFC 9112 §6.1).
    if (te !== null && version === '1.0') close = true;
    if (close) {
      this.keepAlive = false;
      // A final response closing the connection ends pipelining (an interim one says nothing).
      if (this.ourRole === 'client' && (head.status >= 200 || head.status === 101)) this.theyClose = true;
    }
    if (te !== null && te.trim().toLowerCase() !== 'chunked') {
      // llhttp rejects `chunked` not last in a request; other codings are not implemented here.
      this.pendingError = this.remote(`unsupported Transfer-Encoding: ${te}`, this.ourRole === 'server' ? 501 : 502, 'ERR_HTTP_TRANSFER_ENCODING');
      return -1;
    }
    if (this.ourRole === 'server') {
      const method = methodName(head.method);
      if (hosts > 1 || (version === '1.1' && hosts !== 1)) {
        this.pendingError = this.remote(`an HTTP/${version} request needs exactly one Host header (got ${hosts})`, 400, 'ERR_HTTP_HOST');
        return -1;
      }
      if (hosts === 1 && !fields.valueBytesPass(host, validHost)) {
        this.pendingError = this.remote(`bad Host header ${JSON.stringify(fields.value(host).slice(0, 100))}`, 400, 'ERR_HTTP_HOST');
        return -1;
      }
      const target = latin1(head.bytes, head.spans[0] as number, head.spans[1] as number);
      this.requestMethod = method;
      this.proposedSwitch = head.upgrade || method === 'CONNECT';
      const expect = version === '1.1' && hasExpect ? fields.get('expect') : null;
      this.waitingFor100 = expect !== null && expect.toLowerCase() === '100-continue';
      this.bodyBytes = 0;
      this.events[this.eventEnd++] = new Request(method, target, fields, version);
      return HEAD_CONTINUE;
    }
    const status = head.status;
    const reason = head.spans[0]! < 0 ? '' : reasonOf(status, head.bytes, head.spans[0] as number, head.spans[1] as number);
    if (status < 200 && status !== 101) {
      this.events[this.eventEnd++] = new InformationalResponse(status, fields, reason, version);
      return HEAD_CONTINUE;
    }
    this.bodyBytes = 0;
    this.events[this.eventEnd++] = new Response(status, fields, reason, version);
    if (this.requestMethod === 'CONNECT' && status >= 200 && status < 300) return HEAD_UPGRADE;
    if (this.requestMethod === 'HEAD') return HEAD_NO_BODY;
    return HEAD_CONTINUE;
  }

  /** @internal */
  onBody(chunk: Uint8Array, start: number, end: number): boolean {
    this.bodyBytes += end - start;
    if (this.bodyBytes > this.maxBodyBytes) return true;
    this.pending += end - start;
    this.events[this.eventEnd++] = new Data(chunk.subarray(start, end));
    return false;
  }

  /** @internal */
  onMessageComplete(trailers: WireFields | null): boolean {
    const last = this.eventEnd > this.eventHead ? this.events[this.eventEnd - 1] : undefined;
    const informational = last !== undefined && last.type === 'informational-response';
    if (informational) return false;
    this.events[this.eventEnd++] = trailers === null ? NO_TRAILERS_END : new EndOfMessage(FieldList.received(trailers.bytes, trailers.spans, 2, trailers.fieldCount));
    // One cycle at a time: stop here until startNextCycle.
    return true;
  }

  /** An error found in a callback, thrown when execute returns. */
  private pendingError: HttpProtocolError | null = null;

  private parseError(result: number): HttpProtocolError {
    const pending = this.pendingError;
    if (pending !== null) {
      this.pendingError = null;
      return pending;
    }
    if (result === HPE.USER && this.parser.limit !== null) return this.limitError(this.parser.limit);
    const reason = this.parser.reason();
    // llhttp says INVALID_VERSION both for a malformed version and for one it does not speak.
    const status = result === HPE.INVALID_VERSION && reason === 'Invalid HTTP version' ? 505 : 400;
    return this.remote(`bad HTTP from the peer: ${reason}`, status, `ERR_HTTP_PARSE_${result}`);
  }

  private limitError(limit: WireLimit): HttpProtocolError {
    switch (limit) {
      case 'target':
        return this.remote('the request target is too long', 414, 'ERR_HTTP_URI_TOO_LONG');
      case 'body':
        return this.remote(`the body is larger than ${this.maxBodyBytes} bytes`, 413, 'ERR_HTTP_BODY_TOO_LARGE');
      default:
        return this.remote('the header fields are too large', 431, 'ERR_HTTP_HEADER_TOO_LARGE');
    }
  }

  private remote(message: string, status: number, code: string): RemoteProtocolError {
    const error = new RemoteProtocolError(message, status, code);
    this.theirs = nextState(this.theirRole, this.theirs, 'protocol-error') as HttpState;
    this.failure = error;
    return error;
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * The bytes of `event` (null for ConnectionClosed: close the stream). A LocalProtocolError
   * when our state does not allow it or the event is malformed. The bytes are the caller's to
   * write, not to change: the head of a request equal to one sent before (same method, target,
   * version and fields as given) is the same array each time.
   */
  send(event: HttpEvent): Uint8Array | null {
    if (this.ours === 'ERROR') throw new LocalProtocolError('cannot send after a protocol error', 'ERR_STATE');
    const type = event.type;
    if (type === 'request' || type === 'response' || type === 'informational-response') return this.sendHead(event);
    try {
      return this.sendEvent(event);
    } catch (error) {
      writer.rollback();
      if (error instanceof LocalProtocolError) this.ours = nextState(this.ourRole, this.ours, 'protocol-error') as HttpState;
      throw error;
    }
  }

  /**
   * A head refused (a bad status, field or framing, or one our state does not allow) produced
   * no bytes, so it changes nothing: the caller may send another (a server, its 500). h11 moves
   * to ERROR here; nothing has reached the peer, so there is no reason to.
   */
  private sendHead(event: Request | Response | InformationalResponse): Uint8Array {
    if (event.type === 'request') {
      // sendRequest checks everything before it changes anything.
      try {
        return this.sendRequest(event);
      } catch (error) {
        writer.rollback();
        throw error;
      }
    }
    const saved = this.saveSendState();
    try {
      return this.sendResponse(event);
    } catch (error) {
      writer.rollback();
      if (error instanceof LocalProtocolError) this.restoreSendState(saved);
      throw error;
    }
  }

  /** What sending a head may change (restored when the head is refused). */
  private saveSendState(): SendState {
    return [this.ours, this.theirs, this.keepAlive, this.requestMethod, this.proposedSwitch, this.sendFraming, this.sendRemaining, this.waitingFor100];
  }

  private restoreSendState(saved: SendState): void {
    [this.ours, this.theirs, this.keepAlive, this.requestMethod, this.proposedSwitch, this.sendFraming, this.sendRemaining, this.waitingFor100] = saved;
  }

  private moveOurs(input: StateInput): HttpState {
    const next = nextState(this.ourRole, this.ours, input);
    if (next === null) throw new LocalProtocolError(`cannot do ${input} in state ${this.ours}`, 'ERR_STATE');
    return next;
  }

  private sendEvent(event: HttpEvent): Uint8Array | null {
    switch (event.type) {
      case 'request':
        return this.sendRequest(event);
      case 'informational-response':
      case 'response':
        return this.sendResponse(event);
      case 'data':
        return this.sendData(event.data);
      case 'end-of-message':
        return this.sendEnd(event);
      case 'connection-closed':
        this.ours = this.moveOurs('ConnectionClosed');
        return null;
    }
  }

  private sendRequest(request: Request): Uint8Array {
    if (this.ourRole !== 'client') throw new LocalProtocolError('a server does not send requests', 'ERR_HTTP_ROLE');
    // Pipelined: our previous request is complete and its response (or an earlier one) is still to come.
    const pipelined = this.ours === 'DONE' && this.sentMethods.length > 0;
    const next = this.moveOurs(pipelined ? 'pipeline-request' : 'Request');
    // Everything is checked before anything of the connection changes: a refused request
    // changes nothing (see sendHead).
    const head = knownRequest(request) ?? this.writeRequest(request);
    if (pipelined) {
      if (head.proposesSwitch) throw new LocalProtocolError('a request proposing a protocol switch (Upgrade, CONNECT) cannot be pipelined', 'ERR_HTTP_PIPELINE');
      if (!this.keepAlive) throw new LocalProtocolError('the connection closes after the response being read: nothing can be pipelined on it', 'ERR_HTTP_PIPELINE');
      // The response being read is still the earlier request's: only keep-alive may change.
      if (!head.keepAlive) this.keepAlive = false;
    } else {
      this.requestMethod = head.method;
      this.keepAlive = head.keepAlive;
      this.proposedSwitch = head.proposesSwitch;
    }
    this.sendFraming = head.framing;
    this.sendRemaining = head.length;
    this.ours = next;
    this.sentMethods.push(head.method);
    if (!pipelined) this.theirs = this.moveTheirs('peer-request');
    return head.bytes;
  }

  /** Check and write a request's head (a LocalProtocolError if it is bad); remembered for the next equal one. */
  private writeRequest(request: Request): RequestHead {
    if (!TOKEN.test(request.method)) throw new LocalProtocolError(`bad method ${JSON.stringify(request.method)}`, 'ERR_HTTP_METHOD');
    if (!TARGET.test(request.target)) throw new LocalProtocolError(`bad request target ${JSON.stringify(request.target)}`, 'ERR_HTTP_TARGET');
    const headers = request.headers;
    // One pass for Host and Content-Length (no array of values).
    let hosts = 0;
    let lengths = 0;
    let length: string | null = null;
    for (let i = 0; i < headers.length; i++) {
      if (headers.nameIs(i, 'host')) hosts++;
      else if (headers.nameIs(i, 'content-length') && lengths++ === 0) length = headers.value(i);
    }
    if (request.httpVersion === '1.1' && hosts !== 1) throw new LocalProtocolError('an HTTP/1.1 request needs exactly one Host header', 'ERR_HTTP_HOST');
    const remaining = this.sendRemaining;
    const framing = this.framing(headers.get('transfer-encoding'), lengths, length, false);
    const bodyLength = this.sendRemaining;
    this.sendRemaining = remaining;
    writer.begin();
    writer.text(`${request.method} ${request.target} HTTP/${request.httpVersion}\r\n`);
    writer.fields(headers, false);
    writer.crlf();
    const method = request.method.toUpperCase();
    const head: RequestHead = {
      given: request.method,
      target: request.target,
      httpVersion: request.httpVersion,
      names: [],
      values: [],
      method,
      keepAlive: request.httpVersion === '1.1' ? !headers.hasToken('connection', 'close') : headers.hasToken('connection', 'keep-alive'),
      proposesSwitch: method === 'CONNECT' || headers.has('upgrade'),
      framing,
      length: bodyLength,
      bytes: writer.takeMessage(),
    };
    rememberRequest(head, headers);
    return head;
  }

  private sendResponse(response: Response | InformationalResponse): Uint8Array {
    writer.begin();
    this.writeResponseHead(writer, response.type === 'informational-response', response.status, response.reason, response.headers, null);
    return writer.takeMessage();
  }

  /**
   * A whole response at once: its head, its body and its end as one byte array, what
   * `send(new Response(status, headers))`, `send(new Data(body))` and `send(new EndOfMessage())`
   * would return, joined. Unless `headers` frame the body themselves (Content-Length,
   * Transfer-Encoding), a Content-Length is added: the body's length, or 0 without a body when
   * the response may have one (not 101, 204, 304, nor a response to HEAD). A string body is sent
   * as UTF-8. `close`: this is the connection's last response (`Connection: close` is added
   * unless `headers` say it). A response to HEAD gets the head only (its Content-Length says the
   * body's length). A response refused (a bad status or field, its framing, a body longer or
   * shorter than its Content-Length) produced no bytes and changes nothing, as a refused head:
   * the caller may send another (a server, its 500).
   */
  sendWholeResponse(status: number, headers: FieldList, body: Uint8Array | string | null, close = false): Uint8Array {
    this.writeWholeResponse(writer, status, headers, body, close);
    return writer.takeMessage();
  }

  /**
   * sendWholeResponse, the bytes appended to `into` (a server gathering the responses of a burst
   * of pipelined requests, to write them at once). On an error, `into` is left as it was.
   */
  writeWholeResponse(into: OutputBuffer, status: number, headers: FieldList, body: Uint8Array | string | null, close = false): void {
    if (this.ours === 'ERROR') throw new LocalProtocolError('cannot send after a protocol error', 'ERR_STATE');
    const bytes = typeof body === 'string' && !isAscii(body) ? encoder.encode(body) : body;
    // A plain response (see PlainHead) whose head was written before: its bytes again.
    const plain = !close && this.plainResponse(status);
    if (plain && this.writeKnownHead(into, status, headers, bytes)) return;
    into.begin();
    const saved = this.saveSendState();
    try {
      if (close) this.keepAlive = false;
      const length = bytes !== null ? bytes.length : status === 101 || status === 204 || status === 304 || this.requestMethod === 'HEAD' ? -1 : 0;
      this.writeResponseHead(into, false, status, '', headers, length);
      // The head framed the body itself with the length given, and changed nothing else: its bytes may be written again.
      if (plain && this.keepAlive && into.transferEncoding === null && into.contentLengths === 0 && !into.connectionClose) rememberHead(status, headers, length, into.message());
      if (bytes !== null && bytes.length > 0 && this.requestMethod !== 'HEAD') {
        if (typeof bytes !== 'string') into.append(this.sendData(bytes));
        else if (this.sendFraming === CHUNKED) into.append(this.sendData(encoder.encode(bytes)));
        else {
          this.checkData(bytes.length);
          into.text(bytes);
        }
      }
      this.writeEnd(into, FieldList.EMPTY);
    } catch (error) {
      // Nothing was sent: the response changes nothing, as a refused head (sendHead).
      into.rollback();
      if (error instanceof LocalProtocolError) this.restoreSendState(saved);
      throw error;
    }
  }

  /**
   * Whether a final response with `status` is plain here: the server answers a request it read
   * (ours SEND_RESPONSE), on a connection kept alive, no switch proposed, not to HEAD, a status
   * 200-999 other than 204 and 304. Such a response's head depends on its status, its fields
   * and its body's length only, and so does what it does to the states (see writeKnownHead).
   */
  private plainResponse(status: number): boolean {
    return (
      this.ours === 'SEND_RESPONSE' &&
      this.ourRole === 'server' &&
      this.keepAlive &&
      !this.proposedSwitch &&
      this.requestMethod !== 'HEAD' &&
      Number.isInteger(status) &&
      status >= 200 &&
      status <= 999 &&
      status !== 204 &&
      status !== 304
    );
  }

  /**
   * A plain response (plainResponse) whose head is remembered (rememberHead): its head, body and
   * end appended to `into`, and the states moved as writeResponseHead, the body and writeEnd
   * would (a head framed by the Content-Length added: BY_LENGTH, all of it sent). False when
   * the head is not remembered (nothing done).
   */
  private writeKnownHead(into: OutputBuffer, status: number, headers: FieldList, bytes: Uint8Array | string | null): boolean {
    const length = bytes === null ? 0 : bytes.length;
    const head = knownHead(status, headers, length);
    if (head === null) return false;
    into.begin();
    into.append(head);
    this.waitingFor100 = false;
    this.sendFraming = BY_LENGTH;
    this.sendRemaining = 0;
    let ours = this.moveOurs('Response');
    if (length > 0) {
      if (typeof bytes === 'string') into.text(bytes);
      else into.append(bytes as Uint8Array);
      ours = nextState('server', ours, 'Data') as HttpState;
    }
    this.ours = nextState('server', ours, 'EndOfMessage') as HttpState;
    return true;
  }

  /**
   * A response head into the writer. `length`: a Content-Length to add when the headers frame
   * nothing (null or -1: none).
   */
  private writeResponseHead(writer: OutputBuffer, informational: boolean, status: number, givenReason: string, headers: FieldList, length: number | null): void {
    if (this.ourRole !== 'server') throw new LocalProtocolError('a client does not send responses', 'ERR_HTTP_ROLE');
    // 101 ends HTTP: it is a (final) Response here, not an informational one.
    const valid = informational ? status >= 100 && status <= 199 && status !== 101 : status === 101 || (status >= 200 && status <= 999);
    if (!valid || !Number.isInteger(status)) throw new LocalProtocolError(`bad status ${status} for ${informational ? 'informational-response' : 'response'}`, 'ERR_HTTP_STATUS');
    const next = this.moveOurs(informational ? 'InformationalResponse' : 'Response');
    writer.append(statusLine(status, givenReason));
    writer.fields(headers, false);
    if (informational) {
      if (status === 100) this.waitingFor100 = false;
      writer.crlf();
      this.ours = next;
      return;
    }
    this.waitingFor100 = false;
    const switching = this.proposedSwitch && this.accepted(status);
    if (switching && this.theirs !== 'MIGHT_SWITCH_PROTOCOL') {
      throw new LocalProtocolError('a protocol switch is accepted only once the request was read to its end (take its EndOfMessage first)', 'ERR_STATE');
    }
    const added = length !== null && length >= 0 && writer.transferEncoding === null && writer.contentLengths === 0;
    if (added) writer.contentLengthField(length);
    const close = writer.connectionClose;
    if (close) this.keepAlive = false;
    const noBody = this.requestMethod === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200) || switching;
    if (noBody) this.sendFraming = NO_BODY;
    else if (added) {
      // The Content-Length we wrote ourselves: the framing is known.
      this.sendFraming = BY_LENGTH;
      this.sendRemaining = length;
    } else this.sendFraming = this.framing(writer.transferEncoding, writer.contentLengths, writer.contentLength, true);
    if (!noBody && this.sendFraming === CHUNKED && writer.transferEncoding === null) writer.text('Transfer-Encoding: chunked\r\n');
    if (this.sendFraming === TO_CLOSE) this.keepAlive = false;
    if (!this.keepAlive && !switching && !close) writer.text('Connection: close\r\n');
    writer.crlf();
    if (switching) {
      this.ours = this.moveOurs('accept-switch');
      this.theirs = this.moveTheirs('accept-switch');
      this.captureTrailing();
    } else {
      this.ours = next;
      if (this.theirs === 'MIGHT_SWITCH_PROTOCOL') {
        // The switch was refused: the client's side rests again, and HTTP goes on.
        this.theirs = this.moveTheirs('refuse-switch');
        this.restTheirs();
      }
    }
  }

  /**
   * The framing of the body we send (see the file header), from its Transfer-Encoding, the
   * number of its Content-Length fields and the first one's value.
   */
  private framing(te: string | null, lengths: number, length: string | null, response: boolean): number {
    if (te !== null && lengths > 0) throw new LocalProtocolError('Content-Length and Transfer-Encoding together', 'ERR_HTTP_FRAMING');
    if (te !== null) {
      if (te.trim().toLowerCase() !== 'chunked') throw new LocalProtocolError(`only chunked transfer coding is supported: ${te}`, 'ERR_HTTP_FRAMING');
      if (response && this.theirVersion === '1.0') throw new LocalProtocolError('an HTTP/1.0 peer cannot read chunked bodies', 'ERR_HTTP_FRAMING');
      return CHUNKED;
    }
    if (lengths > 1) throw new LocalProtocolError('more than one Content-Length', 'ERR_HTTP_FRAMING');
    if (lengths === 1) {
      const text = length as string;
      if (!/^[0-9]{1,15}$/.test(text)) throw new LocalProtocolError(`bad Content-Length ${JSON.stringify(text)}`, 'ERR_HTTP_FRAMING');
      this.sendRemaining = Number(text);
      return BY_LENGTH;
    }
    if (!response) {
      this.sendRemaining = 0;
      return BY_LENGTH;
    }
    return this.theirVersion === '1.0' ? TO_CLOSE : CHUNKED;
  }

  /** Data of `length` bytes (> 0) may be sent now, framed as it is (not chunked); our state moves. */
  private checkData(length: number): void {
    this.ours = this.moveOurs('Data');
    if (this.sendFraming === NO_BODY) throw new LocalProtocolError('this message has no body', 'ERR_HTTP_NO_BODY');
    if (this.sendFraming === BY_LENGTH) {
      if (length > this.sendRemaining) throw new LocalProtocolError(`the body is longer than its Content-Length (${length} bytes, ${this.sendRemaining} left)`, 'ERR_HTTP_TOO_LONG');
      this.sendRemaining -= length;
    }
  }

  private sendData(data: Uint8Array): Uint8Array {
    if (data.length === 0) {
      this.ours = this.moveOurs('Data');
      return EMPTY;
    }
    if (this.sendFraming !== CHUNKED) {
      this.checkData(data.length);
      return data;
    }
    this.ours = this.moveOurs('Data');
    const size = encoder.encode(`${data.length.toString(16)}\r\n`);
    const out = new Uint8Array(size.length + data.length + 2);
    out.set(size, 0);
    out.set(data, size.length);
    out[out.length - 2] = 0x0d;
    out[out.length - 1] = 0x0a;
    return out;
  }

  private sendEnd(end: EndOfMessage): Uint8Array {
    writer.begin();
    if (this.writeEnd(writer, end.trailers)) return writer.takeMessage();
    return EMPTY;
  }

  /** The end of our message into the writer; true when it has bytes (the last chunk of a chunked body). */
  private writeEnd(writer: OutputBuffer, trailers: FieldList): boolean {
    const next = this.moveOurs('EndOfMessage');
    if (this.sendFraming === BY_LENGTH && this.sendRemaining > 0) throw new LocalProtocolError(`the body is shorter than its Content-Length (${this.sendRemaining} bytes missing)`, 'ERR_HTTP_TOO_SHORT');
    if (trailers.length > 0 && this.sendFraming !== CHUNKED) throw new LocalProtocolError('trailers need a chunked body', 'ERR_HTTP_TRAILERS');
    const chunked = this.sendFraming === CHUNKED;
    if (chunked) {
      writer.text('0\r\n');
      writer.fields(trailers, true);
      writer.crlf();
    }
    this.ours = next;
    if (this.ourRole === 'client' && this.proposedSwitch) this.ours = this.moveOurs('propose-switch');
    this.restOurs();
    this.restTheirs();
    return chunked;
  }

  // -------------------------------------------------------------------------------------------

  /** Both sides are DONE: start the next request/response cycle (a keep-alive connection). */
  startNextCycle(): void {
    if (this.ours !== 'DONE' || this.theirs !== 'DONE') {
      throw new LocalProtocolError(`not both sides are DONE (ours ${this.ours}, theirs ${this.theirs})`, 'ERR_HTTP_STATE');
    }
    this.ours = this.moveOurs('next-cycle');
    this.theirs = this.moveTheirs('next-cycle');
    this.keepAlive = true;
    this.theyClose = false;
    this.forgetSentMethods();
    this.requestMethod = '';
    this.proposedSwitch = false;
    this.waitingFor100 = false;
    this.sendFraming = NO_BODY;
    this.bodyBytes = 0;
    if (this.paused) {
      this.paused = false;
      if (this.pausedForUpgrade) this.parser.resumeAfterUpgrade();
      else this.parser.resume();
      this.pausedForUpgrade = false;
    }
  }
}

/** What sending a head may change: ours, theirs, keepAlive, requestMethod, proposedSwitch, sendFraming, sendRemaining, waitingFor100. */
type SendState = [HttpState, HttpState, boolean, string, boolean, number, number, boolean];

/** Whether every char of `text` is ASCII (its UTF-8 is then its latin1). */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** The bytes of every head we send pass through it (one message at a time: see writer.ts). */
const writer = new OutputBuffer();

/**
 * A request head sent before: what it was made of (the method and target as given, the fields'
 * names and values), what it means for the connection, and its bytes. Shared by every
 * connection (one cache per process): a client sending the same request again and again (a
 * keep-alive loop, a pool of connections to one origin) checks and writes it once.
 */
interface RequestHead {
  readonly given: string;
  readonly target: string;
  readonly httpVersion: HttpVersion;
  readonly names: string[];
  readonly values: string[];
  /** The method, upper case. */
  readonly method: string;
  readonly keepAlive: boolean;
  readonly proposesSwitch: boolean;
  readonly framing: number;
  /** The body's Content-Length (0 without). */
  readonly length: number;
  /** The head's bytes (shared by every send of an equal request: see `send`). */
  readonly bytes: Uint8Array;
}

const KNOWN_REQUESTS = 4;
const knownRequests: RequestHead[] = [];
let nextKnownRequest = 0;

/** The remembered head of a request equal to `request` (method, target, version, fields as given), or null. */
function knownRequest(request: Request): RequestHead | null {
  const fields = request.headers;
  const count = fields.length;
  search: for (let k = 0; k < knownRequests.length; k++) {
    const known = knownRequests[k] as RequestHead;
    if (known.given !== request.method || known.target !== request.target || known.httpVersion !== request.httpVersion || known.names.length !== count) continue;
    const names = known.names;
    const values = known.values;
    for (let i = 0; i < count; i++) if (fields.givenName(i) !== names[i] || fields.givenValue(i) !== values[i]) continue search;
    return known;
  }
  return null;
}

/** Remember a request's head (unless its fields were received ones, or too many, or it is long). */
function rememberRequest(head: RequestHead, fields: FieldList): void {
  const count = fields.length;
  if (count > KNOWN_HEAD_FIELDS || head.bytes.length > KNOWN_HEAD_BYTES) return;
  for (let i = 0; i < count; i++) {
    const name = fields.givenName(i);
    const value = fields.givenValue(i);
    if (name === null || value === null) return;
    head.names.push(name);
    head.values.push(value);
  }
  knownRequests[nextKnownRequest] = head;
  nextKnownRequest = (nextKnownRequest + 1) % KNOWN_REQUESTS;
}

const statusLines = new Map<number, Uint8Array>();

/** `HTTP/1.1 <status> <reason>` CR LF (the usual reason when `given` is ''), cached for the usual reasons. */
function statusLine(status: number, given: string): Uint8Array {
  if (given === '') {
    const cached = statusLines.get(status);
    if (cached !== undefined) return cached;
  }
  const reason = given === '' ? (REASONS[status] ?? '') : given;
  if (/[\r\n]/.test(reason)) throw new LocalProtocolError('a reason phrase cannot hold CR or LF', 'ERR_HTTP_REASON');
  const line = new Uint8Array(`HTTP/1.1 ${status} ${reason}\r\n`.length);
  const text = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i < text.length; i++) line[i] = text.charCodeAt(i) & 0xff;
  if (given === '' && statusLines.size < 1000) statusLines.set(status, line);
  return line;
}

/**
 * Heads of plain responses written before (see HttpConnection.plainResponse): the status, the
 * fields (names and values as given: equal strings make equal bytes) and the body's length,
 * and the head's bytes with the Content-Length added. A few, replaced in turn.
 */
interface PlainHead {
  readonly status: number;
  readonly length: number;
  readonly names: readonly string[];
  readonly values: readonly string[];
  readonly bytes: Uint8Array;
}

const KNOWN_HEADS = 8;
/** Fields of a head remembered at most (a longer one is written each time). */
const KNOWN_HEAD_FIELDS = 16;
/** Bytes of a head remembered at most (the cache stays small whatever the fields). */
const KNOWN_HEAD_BYTES = 1024;
const knownHeads: PlainHead[] = [];
let nextKnownHead = 0;

/** The remembered head of a plain response with `status`, `fields` and a body of `length` bytes, or null. */
function knownHead(status: number, fields: FieldList, length: number): Uint8Array | null {
  const count = fields.length;
  search: for (let k = 0; k < knownHeads.length; k++) {
    const known = knownHeads[k] as PlainHead;
    if (known.status !== status || known.length !== length || known.names.length !== count) continue;
    const names = known.names;
    const values = known.values;
    for (let i = 0; i < count; i++) if (fields.givenName(i) !== names[i] || fields.givenValue(i) !== values[i]) continue search;
    return known.bytes;
  }
  return null;
}

/** Remember a plain response's head (its bytes: `bytes`, the caller's copy). */
function rememberHead(status: number, fields: FieldList, length: number, bytes: Uint8Array): void {
  const count = fields.length;
  if (count > KNOWN_HEAD_FIELDS || length < 0 || bytes.length > KNOWN_HEAD_BYTES) return;
  const names: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = fields.givenName(i);
    const value = fields.givenValue(i);
    // Received fields (sent on as they came) are not remembered: their strings are made anew each time.
    if (name === null || value === null) return;
    names.push(name);
    values.push(value);
  }
  knownHeads[nextKnownHead] = { status, length, names, values, bytes };
  nextKnownHead = (nextKnownHead + 1) % KNOWN_HEADS;
}


function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * The reason phrase `bytes[start, end)` of a response with `status`: the usual phrase's string
 * when the bytes are it (no string made per response), else a new one.
 */
function reasonOf(status: number, bytes: Uint8Array, start: number, end: number): string {
  const usual = REASONS[status];
  if (usual !== undefined && usual.length === end - start) {
    let same = true;
    for (let i = 0; i < usual.length; i++) {
      if (bytes[start + i] !== usual.charCodeAt(i)) {
        same = false;
        break;
      }
    }
    if (same) return usual;
  }
  return latin1(bytes, start, end);
}

/**
 * The `timeout` parameter (seconds) of the Keep-Alive fields of `fields` (`count` of them, the
 * first at `at`), or null. Servers send the same value with every response: the last one is
 * remembered, and a single field of the same bytes is recognised without making its string.
 */
function keepAliveTimeout(fields: FieldList, at: number, count: number): number | null {
  if (count === 1 && lastKeepAlive !== '' && fields.valueIs(at, lastKeepAlive)) return lastKeepAliveTimeout;
  const value = fields.get('keep-alive') as string;
  const match = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(value);
  lastKeepAlive = value;
  lastKeepAliveTimeout = match === null ? null : Number(match[1]);
  return lastKeepAliveTimeout;
}

let lastKeepAlive = '';
let lastKeepAliveTimeout: number | null = null;

/** Reason phrases of the usual statuses. */
const REASONS: Readonly<Record<number, string>> = {
  100: 'Continue',
  101: 'Switching Protocols',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};
