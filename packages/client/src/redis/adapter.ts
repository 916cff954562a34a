// redis/adapter.ts
//
// Redis on the engine: a call is a RedisCall (the command and how its reply is wanted), a
// session wraps proto-redis's client protocol object, and the handshake is HELLO (with AUTH and
// SETNAME, driven by the protocol object), SELECT as a call of its own (so that a refused
// database is an error of SELECT), then waiting while the server loads its data (INFO says
// `loading:1` after a restart), so that callers never get -LOADING.
//
// Invariants:
// - An error reply settles its call with a RedisError; the connection is fine.
// - RESP3 attributes never reach a call's value: they go to the call's `onAttributes` first.
// - Abandoning a written call discards its reply (the protocol object swallows it), except a
//   blocking command (BLPOP...): the server would keep that connection blocked, so it is closed.

import { RedisClientProtocol, RespErrorReply } from '@curio-ts/proto-redis';
import type { HandshakeOptions, RedisArg, RedisClientEvent, RespAttributes, RespPush, RespValue, RespVersion } from '@curio-ts/proto-redis';
import { RedisError } from '../errors.js';
import type { AbandonResult, HandshakeContext, ProtocolAdapter, ProtocolSession, SessionSink } from '../engine/adapter.js';
import { EngineCall, PROTOCOL_FLAG } from '../engine/call.js';
import type { CallOwner } from '../engine/call.js';
import { keyString } from './commands.js';

/** RedisCall's flags: deliver blob strings as Uint8Array; the command is `label key` (see forKey). */
const BYTES_FLAG = PROTOCOL_FLAG;
const KEY_FLAG = PROTOCOL_FLAG << 1;

const NO_ARGS: readonly RedisArg[] = [];

/** A Redis command on its way. */
export class RedisCall extends EngineCall {
  /** The arguments, or (KEY_FLAG) the one argument after the name. */
  private request: readonly RedisArg[] | RedisArg;

  constructor(
    /** The command and its arguments. */
    args: readonly RedisArg[],
    /** The command's name, upper case. */
    name: string,
    /** Deliver blob strings as Uint8Array. */
    bytes: boolean,
    retryable: boolean,
    blocking: boolean,
    owner: CallOwner | null,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    transform: ((reply: RespValue) => unknown) | null,
  ) {
    super(name, retryable, blocking, owner, timeout, signal, transform as ((response: never) => unknown) | null);
    this.request = args;
    if (bytes) this.flags |= BYTES_FLAG;
  }

  /**
   * The command `name key` (`name` upper case), kept without an argument array: the one-key
   * commands of the hot path (GET, INCR...) cost one object less each. Made of the class it is
   * called on (a runtime's subclass, see Runtime.callClass).
   */
  static forKey(
    this: typeof RedisCall,
    name: string,
    key: RedisArg,
    bytes: boolean,
    retryable: boolean,
    owner: CallOwner | null,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    transform: ((reply: RespValue) => unknown) | null,
  ): RedisCall {
    const call = new this(NO_ARGS, name, bytes, retryable, false, owner, timeout, signal, transform);
    call.request = key;
    call.flags |= KEY_FLAG;
    return call;
  }

  /** Make a recycled call the command `name key`, as {@link forKey} without an owner change (see EngineCall.renew). */
  renewKey(
    name: string,
    key: RedisArg,
    bytes: boolean,
    retryable: boolean,
    timeout: number | undefined,
    transform: ((reply: RespValue) => unknown) | null,
  ): void {
    this.renew(name, retryable, transform as ((response: never) => unknown) | null, bytes ? KEY_FLAG | BYTES_FLAG : KEY_FLAG, timeout);
    this.request = key;
  }

  /** Make a recycled call the command `args`, as the constructor (see EngineCall.renew). */
  renewArgs(
    args: readonly RedisArg[],
    name: string,
    bytes: boolean,
    retryable: boolean,
    timeout: number | undefined,
    transform: ((reply: RespValue) => unknown) | null,
  ): void {
    this.renew(name, retryable, transform as ((response: never) => unknown) | null, bytes ? BYTES_FLAG : 0, timeout);
    this.request = args;
  }

  protected override released(): void {
    this.request = NO_ARGS;
    super.released();
  }

  /** The command and its arguments (made on demand for a one-key command: not on the hot path). */
  get args(): readonly RedisArg[] {
    return (this.flags & KEY_FLAG) !== 0 ? [this.label, this.request as RedisArg] : (this.request as readonly RedisArg[]);
  }

  /** Deliver blob strings as Uint8Array. */
  get bytes(): boolean {
    return (this.flags & BYTES_FLAG) !== 0;
  }

  /** Told the RESP3 attribute map the server sent before the reply, if any. */
  get onAttributes(): ((attributes: RespAttributes) => void) | null {
    return this.protocolData as ((attributes: RespAttributes) => void) | null;
  }
  set onAttributes(fn: ((attributes: RespAttributes) => void) | null) {
    this.protocolData = fn;
  }

  /**
   * About how many bytes the command takes on the wire (exact for ASCII strings and byte
   * arrays): what a burst of calls like it reserves (RedisSession.expect).
   */
  get sizeHint(): number {
    if ((this.flags & KEY_FLAG) !== 0) return 4 + blobSize(this.label.length) + blobSize(argSize(this.request as RedisArg));
    const args = this.request as readonly RedisArg[];
    let size = 3 + String(args.length).length;
    for (let i = 0; i < args.length; i++) size += blobSize(argSize(args[i] as RedisArg));
    return size;
  }

  /** Encode the call into `protocol`'s output; the id of its reply. */
  sendTo(protocol: RedisClientProtocol): number {
    const options = (this.flags & BYTES_FLAG) !== 0 ? BYTES : undefined;
    if ((this.flags & KEY_FLAG) !== 0) return protocol.sendKey(this.label, this.request as RedisArg, options);
    return protocol.send(this.request as readonly RedisArg[], options);
  }
}

const BYTES = { bytes: true } as const;

/** Bytes of an argument (its length for a string, an estimate for a number). */
function argSize(arg: RedisArg): number {
  return typeof arg === 'string' || arg instanceof Uint8Array ? arg.length : 20;
}

/** Bytes of a blob string of `n` bytes: `$<n>\r\n<bytes>\r\n`. */
function blobSize(n: number): number {
  return n + (n < 10 ? 6 : n < 100 ? 7 : n < 1000 ? 8 : 5 + String(n).length);
}

/** One connection's Redis protocol object, as the engine drives it. */
export class RedisSession implements ProtocolSession<RedisCall, RespPush> {
  /** The sans-IO protocol object (subscribed channels, state, protocol version). */
  readonly protocolObject = new RedisClientProtocol();
  private sink: SessionSink<RedisCall, RespPush> | null = null;
  private readonly onReply = (id: number, value: RespValue, attributes: RespAttributes | null): void => {
    const call = (this.sink as SessionSink<RedisCall, RespPush>).take(id);
    if (call !== null) settle(call, value, attributes);
  };
  private readonly onEvent = (event: RedisClientEvent): void => this.dispatch(event);

  /** The RESP version negotiated (2 until HELLO 3 succeeds). */
  get protocol(): RespVersion {
    return this.protocolObject.protocol;
  }

  send(call: RedisCall): number {
    return call.sendTo(this.protocolObject);
  }

  get hasDataToSend(): boolean {
    return this.protocolObject.hasDataToSend;
  }

  dataToSend(): Uint8Array | null {
    return this.protocolObject.dataToSend();
  }

  receive(chunk: Uint8Array, sink: SessionSink<RedisCall, RespPush>): void {
    this.sink = sink;
    const machine = this.protocolObject;
    machine.receiveData(chunk);
    machine.drain(this.onReply, this.onEvent);
  }

  /** Make room for a burst of `count` commands the size of `first`'s (see ProtocolSession.expect). */
  expect(count: number, first: RedisCall): void {
    // A few bytes more: a write reserves a little more than it writes.
    this.protocolObject.reserve(count * first.sizeHint + 64);
  }

  abandon(call: RedisCall): AbandonResult {
    if (call.exclusive) return 'close';
    this.protocolObject.discard(call.id);
    return 'discard';
  }

  /** Start the HELLO handshake (its bytes go out with the next flush). */
  startHandshake(options: HandshakeOptions): void {
    this.protocolObject.handshake(options);
  }

  private dispatch(event: RedisClientEvent): void {
    const sink = this.sink as SessionSink<RedisCall, RespPush>;
    switch (event.type) {
      case 'reply': {
        const call = sink.take(event.id);
        if (call !== null) settle(call, event.value, event.attributes);
        return;
      }
      case 'push':
        sink.event(event.push);
        return;
      case 'ready':
        sink.ready();
        return;
      case 'handshake-failed':
        sink.handshakeFailed(new RedisError(event.error.code, event.error.message, 'HELLO'));
        return;
      case 'closed':
        // End of stream: the engine reports the loss. (A protocol violation is thrown by
        // drain, and the engine turns it into ProtocolViolationError.)
        return;
      default: {
        const unknown: never = event;
        throw new Error(`unexpected event ${String(unknown)}`);
      }
    }
  }
}

/** Settle a call with its reply: an error reply is a RedisError; attributes go to onAttributes. */
function settle(call: RedisCall, value: RespValue, attributes: RespAttributes | null): void {
  if (attributes !== null && call.onAttributes !== null) {
    try {
      call.onAttributes(attributes);
    } catch (error) {
      call.fail(error);
      return;
    }
  }
  if (value instanceof RespErrorReply) call.fail(new RedisError(value.code, value.message, call.label));
  else call.resolve(value);
}

/** Shortest and longest pause between two checks of a server that is loading its data (ms). */
const LOADING_CHECK_MIN = 50;
const LOADING_CHECK_MAX = 1000;

/** A connection-internal command (handshake steps). */
function internalCall(args: readonly RedisArg[]): RedisCall {
  return new RedisCall(args, String(args[0]).toUpperCase(), false, false, false, null, undefined, undefined, null);
}

/** The Redis adapter for a client with these handshake options. */
export function redisAdapter(handshake: HandshakeOptions): ProtocolAdapter<RedisCall, RespPush, RedisSession> {
  return {
    protocol: 'redis',
    createSession: () => new RedisSession(),
    async handshake(context: HandshakeContext<RedisCall, RedisSession>): Promise<void> {
      const { db, ...hello } = handshake;
      context.session.startHandshake(hello);
      context.flush();
      await context.untilReady();
      if (db !== undefined && db !== 0) await context.request(internalCall(['SELECT', db]));
      for (;;) {
        const wait = await loadingWait(context);
        if (wait === null) return;
        await context.pause(wait);
      }
    },
  };
}

/**
 * Ask whether the server is still loading its data (INFO persistence): null when it is ready
 * (or cannot tell: INFO refused), else how long to wait before asking again.
 */
async function loadingWait(context: HandshakeContext<RedisCall, RedisSession>): Promise<number | null> {
  let info: string;
  try {
    info = keyString(await context.request<RespValue>(internalCall(['INFO', 'persistence'])));
  } catch (error) {
    if (!(error instanceof RedisError)) throw error;
    return error.code === 'LOADING' ? LOADING_CHECK_MIN : null;
  }
  if (!/^loading:1\r?$/m.test(info)) return null;
  const eta = /^loading_eta_seconds:(\d+)/m.exec(info);
  const etaMs = eta === null ? 0 : Number(eta[1]) * 1000;
  return Math.min(LOADING_CHECK_MAX, Math.max(LOADING_CHECK_MIN, etaMs / 2));
}
