// client.ts
//
// The client role of a Redis connection as a sans-IO protocol object: commands in, bytes out;
// bytes in, replies matched to commands in order (pipelining of any depth), pushes (pub/sub
// messages, client-side-caching invalidations, MONITOR lines) delivered apart.
//
// The contract (the same as the server role's, see docs/writing-a-protocol.md):
// - `receiveData(bytes)` feeds bytes; an empty array is the end of the stream.
// - `nextEvent()` returns an event or NEED_DATA (the client role has no pacing of its own and
//   never returns PAUSED); at the end, after every complete reply, `{ type: 'closed',
//   unanswered }`, and that same event again if asked again.
// - A protocol violation (bad RESP, a reply nobody asked for, a stream cut inside a reply) is
//   thrown by `nextEvent` / `drain` as RemoteProtocolError (with a `code`); from then on
//   `receiveData`, `nextEvent` and `drain` throw that same error, and `send` / `handshake` a
//   LocalProtocolError (ERR_CLOSED). `unansweredIds()` still lists the commands that got no reply.
// - Every state change is a transition of CLIENT_STATES or TRANSACTION_STATES (state.ts);
//   what a command is comes from commands.ts.
//
// Invariants:
// - Commands are answered strictly in the order sent. Every sent command gets exactly one
//   'reply' event (a (un)subscribe command gets one after all its per-channel confirmations),
//   unless it was discarded, in which case its frames are consumed silently: a cancelled call
//   can never shift the replies of the calls after it.
// - What is a reply and what is a push is decided by the state's mode (state.ts) and the
//   command at the head of the queue: RESP3 marks pushes itself; in RESP2 a subscribed
//   connection receives messages as arrays whose first element says 'message', 'pmessage' or
//   'smessage'.
// - A reply's value never contains RESP3 attributes: an attribute map sent before a reply is
//   handed apart (`attributes` of the 'reply' event, third argument of `drain`'s onReply), so an
//   error reply with an attribute is still a RespErrorReply and typed code sees plain values.

import { CONFIRMATION_SPACES, MESSAGE_KINDS, commandKind, subscriptionSpace } from './commands.js';
import type { CommandKind, SubscriptionSpace } from './commands.js';
import { RespDecoder, decodeUtf8 } from './decoder.js';
import type { DecoderLimits } from './decoder.js';
import { writeCommand, writeKeyCommand } from './encoder.js';
import type { RedisArg, RespVersion } from './encoder.js';
import { LocalProtocolError, RemoteProtocolError } from './errors.js';
import { NEED_DATA } from './sentinels.js';
import type { NeedData } from './sentinels.js';
import { CLIENT_STATES, TRANSACTION_STATES, nextState } from './state.js';
import type { ClientInput, ClientMode, ClientState, TransactionInput, TransactionState } from './state.js';
import { ByteWriter } from './writer.js';
import { RespAttributed, RespErrorReply, RespPush, withoutAttributes } from './values.js';
import type { RespAttributes, RespFrame, RespValue } from './values.js';

/** What the client protocol object hands back. */
export type RedisClientEvent =
  | {
      readonly type: 'reply';
      readonly id: number;
      /**
       * The reply, without attributes (Redis error replies are RespErrorReply values). Attributes
       * on elements inside an aggregate are removed too; Redis sends none, and `RespDecoder`
       * keeps them for those who decode by hand.
       */
      readonly value: RespValue;
      /** The attribute map the server sent before the reply (RESP3 `|`), or null. */
      readonly attributes: RespAttributes | null;
    }
  /** A push; an attribute map sent before it is in `push.attributes`. */
  | { readonly type: 'push'; readonly push: RespPush }
  | { readonly type: 'ready'; readonly protocol: RespVersion; readonly server: ReadonlyMap<string, RespValue> }
  | { readonly type: 'handshake-failed'; readonly error: RespErrorReply }
  /** The server ended the stream; the ids of the commands sent that got no reply (discarded ones left out). */
  | { readonly type: 'closed'; readonly unanswered: readonly number[] };

/** The client role's states (CLIENT_STATES in state.ts). */
export type RedisClientState = ClientState;

/** Options of {@link RedisClientProtocol.send}. */
export interface SendOptions {
  /** Deliver blob strings of the reply as Uint8Array views instead of strings. */
  readonly bytes?: boolean;
}

/** What {@link RedisClientProtocol.handshake} negotiates. */
export interface HandshakeOptions {
  /** Preferred protocol (default 3); RESP2 is used if the server does not know HELLO 3. */
  readonly protocol?: RespVersion;
  readonly username?: string;
  readonly password?: string;
  readonly clientName?: string;
  /** Database to SELECT (default 0: no SELECT). */
  readonly db?: number;
}

interface Pending {
  id: number;
  kind: CommandKind;
  bytes: boolean;
  discarded: boolean;
  /** Internal handshake step, or null for a user command. */
  step: 'hello' | 'auth' | 'setname' | 'select' | null;
  /** Only for (un)subscribe commands. */
  sub: Subscription | null;
}

/** The bookkeeping of one (un)subscribe command. */
interface Subscription {
  readonly space: SubscriptionSpace;
  /** Confirmations expected; -1 until known (an UNSUBSCRIBE of everything). */
  expected: number;
  readonly confirmations: RespValue[];
}

/** Internal: a reply is ready in replyId / replyValue. */
const REPLY: unique symbol = Symbol('REPLY');

const BYTES = 1;
const DISCARDED = 2;
const SPECIAL = 4;

/**
 * The commands waiting for replies, in order. Ids are consecutive, so an id is a position. A
 * plain command costs one small integer (bytes and discarded flags); only commands that change
 * the connection (MULTI, SUBSCRIBE, HELLO, handshake steps...) keep a Pending object, in a map.
 * A pipeline of 100 000 GETs allocates nothing per command here.
 */
class PendingQueue {
  /** The codes, a ring of `codes.length` (a power of two) bytes from `head`: no array grows or is copied per command. */
  private codes = new Uint8Array(64);
  private head = 0;
  private count = 0;
  private headId = 1;
  private readonly special = new Map<number, Pending>();
  private readonly view: { id: number; kind: CommandKind; bytes: boolean; discarded: boolean; step: Pending['step']; sub: Subscription | null } = {
    id: 0,
    kind: 'normal',
    bytes: false,
    discarded: false,
    step: null,
    sub: null,
  };

  get length(): number {
    return this.count;
  }

  /** Append the command with the next id. */
  push(id: number, bytes: boolean, special: Pending | null): void {
    if (this.count === 0) this.headId = id;
    if (special !== null) this.special.set(id, special);
    let codes = this.codes;
    if (this.count === codes.length) {
      const grown = new Uint8Array(codes.length * 2);
      const first = codes.subarray(this.head);
      grown.set(first);
      grown.set(codes.subarray(0, this.head), first.length);
      this.codes = codes = grown;
      this.head = 0;
    }
    codes[(this.head + this.count) & (codes.length - 1)] = (bytes ? BYTES : 0) | (special !== null ? SPECIAL : 0);
    this.count++;
  }

  /** The head command, as a view valid until the next call (or undefined). */
  peek(): Pending | undefined {
    if (this.count === 0) return undefined;
    return this.describe(this.headId, this.codes[this.head] as number);
  }

  /** Remove the head command; returns it as a view valid until the next call. */
  shift(): Pending | undefined {
    const head = this.peek();
    if (head === undefined) return undefined;
    if (head.kind !== 'normal' || head.step !== null) this.special.delete(head.id);
    this.head = (this.head + 1) & (this.codes.length - 1);
    this.count--;
    this.headId++;
    return head;
  }

  /** Mark a command's reply as unwanted. False if it is not waiting any more. */
  discard(id: number): boolean {
    const offset = id - this.headId;
    if (offset < 0 || offset >= this.count) return false;
    const index = (this.head + offset) & (this.codes.length - 1);
    this.codes[index] = (this.codes[index] as number) | DISCARDED;
    const special = this.special.get(id);
    if (special !== undefined) special.discarded = true;
    return true;
  }

  /** Every waiting command, in order (views valid during the callback only). */
  forEach(fn: (entry: Pending) => void): void {
    const mask = this.codes.length - 1;
    for (let i = 0; i < this.count; i++) fn(this.describe(this.headId + i, this.codes[(this.head + i) & mask] as number));
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.special.clear();
  }

  private describe(id: number, code: number): Pending {
    if ((code & SPECIAL) !== 0) return this.special.get(id) as Pending;
    const view = this.view;
    view.id = id;
    view.bytes = (code & BYTES) !== 0;
    view.discarded = (code & DISCARDED) !== 0;
    return view;
  }
}

/** Options of {@link RedisClientProtocol}. */
export interface RedisClientOptions {
  /** Decoder limits (bulk length, nesting...). */
  readonly limits?: DecoderLimits;
}

/** The client role of a Redis connection, as a sans-IO protocol object. */
export class RedisClientProtocol {
  private readonly decoder: RespDecoder;
  private readonly out = new ByteWriter();
  private readonly pending = new PendingQueue();
  private nextId = 1;
  private currentState: ClientState = 'normal';
  private mode: ClientMode = 'replies';
  private transaction: TransactionState = 'idle';
  private version: RespVersion = 2;
  private eof = false;
  private closedEvent: RedisClientEvent | null = null;
  private failure: RemoteProtocolError | null = null;
  private readonly subscriptions: Record<SubscriptionSpace, Set<string>> = {
    channel: new Set(),
    pattern: new Set(),
    shard: new Set(),
  };
  private handshakeWanted: HandshakeOptions | null = null;
  private handshakeHelloFailed = false;

  constructor(options?: RedisClientOptions) {
    this.decoder = new RespDecoder(options?.limits);
  }

  /** The read side's state (CLIENT_STATES in state.ts): what the next frames from the server mean. */
  get state(): RedisClientState {
    return this.currentState;
  }

  /** The RESP version the server speaks on this connection (2 until HELLO 3 succeeds). */
  get protocol(): RespVersion {
    return this.version;
  }

  /** Commands sent and not yet answered. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Whether a MULTI has been sent and not yet ended by a sent EXEC, DISCARD or RESET (the send
   * side, TRANSACTION_STATES in state.ts).
   */
  get inTransaction(): boolean {
    return this.transaction === 'open';
  }

  /**
   * The ids of the commands sent and not answered (discarded ones left out), in order: what a
   * consumer retries or fails after the stream ended or broke.
   */
  unansweredIds(): number[] {
    const ids: number[] = [];
    this.pending.forEach((entry) => {
      if (entry.step === null && !entry.discarded) ids.push(entry.id);
    });
    return ids;
  }

  /** Channels, patterns and shard channels the server confirmed as subscribed. */
  get subscribed(): { readonly channels: ReadonlySet<string>; readonly patterns: ReadonlySet<string>; readonly shardChannels: ReadonlySet<string> } {
    return { channels: this.subscriptions.channel, patterns: this.subscriptions.pattern, shardChannels: this.subscriptions.shard };
  }

  /** Bytes received and not yet decoded into events. */
  get buffered(): number {
    return this.decoder.buffered;
  }

  /**
   * Queue a command; its bytes are collected until {@link dataToSend}. Returns the id its
   * 'reply' event will carry.
   */
  send(args: readonly RedisArg[], options?: SendOptions): number {
    return this.enqueue(args, options?.bytes ?? false, null);
  }

  /**
   * Queue the command `name key` ({@link send} of `[name, key]`, without the array: the
   * one-key commands of a client's hot path). Returns the id its 'reply' event will carry.
   */
  sendKey(name: string, key: RedisArg, options?: SendOptions): number {
    const bytes = options?.bytes ?? false;
    if (typeof name !== 'string' || commandKind(name) !== 'normal') return this.enqueue([name, key], bytes, null);
    if (!CLIENT_STATES[this.currentState].maySend || this.eof) this.refuseSend();
    writeKeyCommand(this.out, name, key);
    const id = this.nextId++;
    this.pending.push(id, bytes, null);
    return id;
  }

  /**
   * Start the connection handshake: HELLO (protocol, AUTH, SETNAME), with a fallback to AUTH
   * and CLIENT SETNAME for servers without HELLO, then SELECT. Ends with a 'ready' or a
   * 'handshake-failed' event. Send user commands only after 'ready'.
   */
  handshake(options: HandshakeOptions = {}): void {
    if (this.handshakeWanted !== null) throw new LocalProtocolError('handshake already started', 'ERR_HANDSHAKE_STARTED');
    this.handshakeWanted = options;
    const args: RedisArg[] = ['HELLO', options.protocol ?? 3];
    if (options.password !== undefined) args.push('AUTH', options.username ?? 'default', options.password);
    if (options.clientName !== undefined) args.push('SETNAME', options.clientName);
    this.enqueue(args, false, 'hello');
  }

  /**
   * Never deliver the reply of command `id`: its frames are consumed silently when they come.
   * Returns false if that reply was already delivered (or the id is unknown).
   */
  discard(id: number): boolean {
    return this.pending.discard(id);
  }

  /**
   * Make room for `bytes` more bytes of commands at once: a client about to send a large burst
   * (200 000 GETs) then encodes it into one buffer, instead of one that grows by doubling and
   * copies what it holds each time. A hint: sending works the same without it.
   */
  reserve(bytes: number): void {
    if (bytes > 0) this.out.reserve(bytes);
  }

  /** Whether commands are queued for {@link dataToSend} (the handshake may add some). */
  get hasDataToSend(): boolean {
    return this.out.length > 0;
  }

  /** Take the bytes to write: every command queued since the last call, as one array. */
  dataToSend(): Uint8Array | null {
    if (this.out.length === 0) return null;
    return this.out.take();
  }

  /**
   * Feed bytes from the server; an empty array means end of stream. After a protocol error it
   * throws that error (the stream cannot be trusted); after the end of the stream, more bytes
   * are a LocalProtocolError (ERR_AFTER_EOF).
   */
  receiveData(data: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (data.length === 0) {
      this.eof = true;
      return;
    }
    if (this.eof) throw new LocalProtocolError('data received after end of stream', 'ERR_AFTER_EOF');
    this.decoder.feed(data);
  }

  /**
   * The next event, or NEED_DATA. After the end of the stream and every complete reply before
   * it, the 'closed' event (again on every later call). Throws RemoteProtocolError when the
   * server broke the protocol, and that same error on every later call.
   */
  nextEvent(): RedisClientEvent | NeedData {
    const next = this.advance();
    if (next === REPLY) return { type: 'reply', id: this.replyId, value: this.replyValue, attributes: this.replyAttributes };
    return next;
  }

  /**
   * Process every buffered frame: `onReply(id, value, attributes)` for each reply, as in the
   * 'reply' event (no event object is made: the fast path of a client driving many calls),
   * `onEvent` for everything else. Stops at NEED_DATA, or after the 'closed' event. Errors as
   * {@link nextEvent}: a protocol violation is thrown (after the callbacks of every frame
   * before it).
   */
  drain(onReply: (id: number, value: RespValue, attributes: RespAttributes | null) => void, onEvent: (event: RedisClientEvent) => void): void {
    for (;;) {
      const next = this.advance();
      if (next === NEED_DATA) return;
      if (next === REPLY) onReply(this.replyId, this.replyValue, this.replyAttributes);
      else {
        onEvent(next);
        if (next.type === 'closed') return;
      }
    }
  }

  private replyId = 0;
  private replyValue: RespValue = null;
  private replyAttributes: RespAttributes | null = null;
  /** The attributes of the frame being classified (null for most). */
  private frameAttributes: RespAttributes | null = null;

  private advance(): RedisClientEvent | NeedData | typeof REPLY {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      if (this.closedEvent !== null) return this.closedEvent;
      const head = this.pending.peek();
      let frame: RespFrame | NeedData;
      try {
        frame = this.decoder.next(head !== undefined && head.bytes);
      } catch (error) {
        if (error instanceof RemoteProtocolError) this.fail(error);
        throw error;
      }
      if (frame === NEED_DATA) {
        if (!this.eof) return NEED_DATA;
        if (this.decoder.inFrame) this.fail(new RemoteProtocolError('connection closed in the middle of a reply', 'ERR_TRUNCATED'));
        else return this.close();
        continue;
      }
      this.frameAttributes = null;
      if (this.decoder.lastFrameHadAttributes) frame = this.setAttributesApart(frame);
      const event = this.classify(frame);
      if (event !== null) return event;
    }
  }

  private enqueue(args: readonly RedisArg[], bytes: boolean, step: Pending['step']): number {
    if (!CLIENT_STATES[this.currentState].maySend || this.eof) this.refuseSend();
    const name = args[0];
    if (typeof name !== 'string') throw new LocalProtocolError('the command name must be a string', 'ERR_BAD_COMMAND');
    writeCommand(this.out, args);
    const kind = commandKind(name);
    const id = this.nextId++;
    let sub: Subscription | null = null;
    if (kind === 'subscribe' || kind === 'unsubscribe') {
      const channels = args.length - 1;
      sub = { space: subscriptionSpace(name), expected: kind === 'subscribe' || channels > 0 ? channels : -1, confirmations: [] };
    }
    this.pending.push(id, bytes, kind === 'normal' && step === null ? null : { id, kind, bytes, discarded: false, step, sub });
    if (kind === 'multi' || kind === 'exec' || kind === 'discard' || kind === 'reset') this.sent(kind);
    return id;
  }

  private refuseSend(): never {
    throw new LocalProtocolError('the connection is closed', 'ERR_CLOSED', this.failure !== null ? { cause: this.failure } : undefined);
  }

  /** The frame without attributes; the reply's own attribute map goes to `frameAttributes`. */
  private setAttributesApart(frame: RespFrame): RespFrame {
    if (frame instanceof RespPush) return new RespPush(frame.kind, withoutAttributes(frame.data) as RespValue[], frame.attributes);
    if (frame instanceof RespAttributed) {
      this.frameAttributes = frame.attributes;
      return withoutAttributes(frame.value);
    }
    return withoutAttributes(frame);
  }

  /** Decide what a decoded frame is; returns an event, or null if it was consumed silently. */
  private classify(frame: RespFrame): RedisClientEvent | typeof REPLY | null {
    if (frame instanceof RespPush) {
      const space = CONFIRMATION_SPACES.get(frame.kind);
      if (space !== undefined) return this.confirmation(frame.kind, space, frame.data, frame);
      return { type: 'push', push: frame };
    }
    if (this.mode === 'monitor-lines') {
      const head = this.pending.peek();
      if (head !== undefined && head.kind === 'reset' && frame === 'RESET') return this.reply(frame);
      if (head !== undefined && head.kind === 'quit' && frame === 'OK') return this.reply(frame);
      return { type: 'push', push: new RespPush('monitor', ['monitor', frame as RespValue]) };
    }
    if (this.version === 2 && Array.isArray(frame) && frame.length > 0) {
      const first = frame[0];
      const kind = typeof first === 'string' ? first : first instanceof Uint8Array ? decodeUtf8(first, 0, first.length) : null;
      if (kind !== null && (this.mode === 'replies-and-messages' || this.headIsSubscription())) {
        if (MESSAGE_KINDS.has(kind)) return { type: 'push', push: new RespPush(kind, frame) };
        const space = CONFIRMATION_SPACES.get(kind);
        if (space !== undefined) return this.confirmation(kind, space, frame, new RespPush(kind, frame));
      }
    }
    return this.reply(frame as RespValue);
  }

  private headIsSubscription(): boolean {
    const head = this.pending.peek();
    return head !== undefined && (head.kind === 'subscribe' || head.kind === 'unsubscribe');
  }

  /** A (un)subscribe confirmation: update the subscription sets, count it toward its command. */
  private confirmation(kind: string, space: SubscriptionSpace, data: RespValue[], push: RespPush): RedisClientEvent | typeof REPLY | null {
    const channel = data[1];
    const name = typeof channel === 'string' ? channel : channel instanceof Uint8Array ? decodeUtf8(channel, 0, channel.length) : null;
    const set = this.subscriptions[space];
    if (name !== null) {
      if (kind.endsWith('unsubscribe')) set.delete(name);
      else set.add(name);
    }
    const subscriptions = this.subscriptions.channel.size + this.subscriptions.pattern.size + this.subscriptions.shard.size;
    this.received(subscriptions > 0 ? 'subscribed' : 'unsubscribed-all');
    const head = this.pending.peek();
    const wanted = kind.endsWith('unsubscribe') ? 'unsubscribe' : 'subscribe';
    const sub = head?.sub;
    if (head === undefined || sub === null || sub === undefined || head.kind !== wanted || sub.space !== space) {
      // Not asked for (a server-side unsubscribe, for instance): tell the user.
      return { type: 'push', push };
    }
    if (sub.expected === -1) sub.expected = Math.max(1, set.size + (name !== null ? 1 : 0));
    sub.confirmations.push(data);
    if (sub.confirmations.length < sub.expected) return null;
    return this.reply(sub.confirmations);
  }

  /** The reply of the command at the head of the queue. */
  private reply(value: RespValue): RedisClientEvent | typeof REPLY | null {
    const head = this.pending.shift();
    if (head === undefined) {
      this.fail(new RemoteProtocolError('reply received with no command waiting for it', 'ERR_UNEXPECTED_REPLY'));
      return null;
    }
    const failed = value instanceof RespErrorReply;
    switch (head.kind) {
      case 'monitor':
        if (!failed) this.received('monitor-ok');
        break;
      case 'hello':
        if (!failed) this.version = helloProtocol(value) ?? this.version;
        break;
      case 'reset':
        this.version = 2;
        for (const set of Object.values(this.subscriptions)) set.clear();
        this.received('reset-ok');
        break;
      default:
        break;
    }
    if (head.step !== null) return this.handshakeStep(head, value);
    if (head.discarded) return null;
    this.replyId = head.id;
    this.replyValue = value;
    this.replyAttributes = this.frameAttributes;
    return REPLY;
  }

  private handshakeStep(head: Pending, value: RespValue): RedisClientEvent | null {
    const options = this.handshakeWanted as HandshakeOptions;
    if (value instanceof RespErrorReply) {
      const unknownHello = head.step === 'hello' && (value.code === 'NOPROTO' || /unknown command/i.test(value.message));
      if (unknownHello && !this.handshakeHelloFailed) {
        // A server without HELLO (or without RESP3): authenticate and name the RESP2 way.
        this.handshakeHelloFailed = true;
        if (options.password !== undefined) {
          this.enqueue(options.username !== undefined ? ['AUTH', options.username, options.password] : ['AUTH', options.password], false, 'auth');
        }
        if (options.clientName !== undefined) this.enqueue(['CLIENT', 'SETNAME', options.clientName], false, 'setname');
        if (!this.selectIfNeeded(options) && options.password === undefined && options.clientName === undefined) {
          return { type: 'ready', protocol: this.version, server: new Map() };
        }
        return null;
      }
      return { type: 'handshake-failed', error: value };
    }
    if (head.step === 'hello') {
      this.server = helloMap(value);
      if (this.selectIfNeeded(options)) return null;
      return { type: 'ready', protocol: this.version, server: this.server };
    }
    if (this.handshakeRemaining() > 0) return null;
    return { type: 'ready', protocol: this.version, server: this.server };
  }

  private server: ReadonlyMap<string, RespValue> = new Map();

  private selectIfNeeded(options: HandshakeOptions): boolean {
    if (options.db === undefined || options.db === 0) return false;
    this.enqueue(['SELECT', options.db], false, 'select');
    return true;
  }

  private handshakeRemaining(): number {
    let n = 0;
    this.pending.forEach((entry) => {
      if (entry.step !== null) n++;
    });
    return n;
  }

  /** Report the end of the stream. */
  private close(): RedisClientEvent {
    this.received('end-of-stream');
    const event: RedisClientEvent = { type: 'closed', unanswered: this.unansweredIds() };
    this.pending.clear();
    this.closedEvent = event;
    return event;
  }

  /** The server broke the protocol: remember the error (it is thrown from now on). */
  private fail(error: RemoteProtocolError): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.received('protocol-error');
  }

  /** Take the read side's transition for `input` (what the server's frames did). */
  private received(input: ClientInput): void {
    const next = nextState(CLIENT_STATES, this.currentState, input);
    // Only the terminal states lack transitions, and nothing is read in them (advance stops first).
    if (next === undefined) throw new LocalProtocolError(`internal: ${input} while ${this.currentState}`, 'ERR_STATE');
    this.currentState = next;
    this.mode = CLIENT_STATES[next].mode;
  }

  /** Take the send side's transition for a command of kind `input` sent. */
  private sent(input: TransactionInput): void {
    const next = nextState(TRANSACTION_STATES, this.transaction, input);
    if (next === undefined) throw new LocalProtocolError(`${input} sent while the transaction is ${this.transaction}`, 'ERR_STATE');
    this.transaction = next;
  }
}

/** The `proto` field of a HELLO reply (a map in RESP3, a flat array in RESP2). */
function helloProtocol(value: RespValue): RespVersion | null {
  const proto = helloMap(value).get('proto');
  return proto === 2 || proto === 3 ? proto : null;
}

function helloMap(value: RespValue): Map<string, RespValue> {
  const map = new Map<string, RespValue>();
  if (value instanceof Map) {
    for (const [k, v] of value) if (typeof k === 'string') map.set(k, v);
  } else if (Array.isArray(value)) {
    for (let i = 0; i + 1 < value.length; i += 2) {
      const k = value[i];
      if (typeof k === 'string') map.set(k, value[i + 1] as RespValue);
    }
  }
  return map;
}
