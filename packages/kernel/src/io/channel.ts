// io/channel.ts
//
// Message channels between processes (Curio's curio.channel): a `Channel` listens on or
// connects to an address and gives `Connection`s that send and receive structured-clonable
// values (anything `structuredClone` accepts: objects, arrays, Maps, Dates, typed arrays,
// errors...) or raw byte messages.
//
// Wire format: each message is a frame, a 4-byte big-endian length followed by that many bytes;
// values are encoded with node:v8's serializer (the header is reserved in the serializer's own
// buffer, so framing copies nothing). Authentication is an HMAC-SHA256 challenge-response in
// both directions, Curio's (and multiprocessing's) scheme with a modern hash: each side sends
// 32 random bytes, the other answers with the HMAC of them under the shared key, and the
// challenger replies WELCOME or FAILURE. Keys never cross the wire.
//
// Invariants:
// - A frame longer than `maxFrameSize` is never read into memory: the receiver throws
//   FrameTooLargeError and closes the connection (the stream cannot be resynchronised). A value
//   too large to send is refused before anything is sent.
// - A cancelled or timed-out `recv` consumes nothing: a partly received frame stays buffered
//   and the next `recv` returns it. A cancelled `send` either handed the whole frame to the OS
//   (the connection stays usable) or, if it stopped mid-frame, closes the connection, since a
//   half-sent frame would desynchronise the peer.
// - Authentication with a wrong key fails on both sides with AuthenticationError; a peer that
//   does not answer fails it after `authTimeout`. Nothing waits forever.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as v8 from 'node:v8';
import { CurioError, TaskTimeout } from '../errors.js';
import { timeoutAfter } from '../time.js';
import { openConnection, openUnixConnection, tcpServerSocket, unixServerSocket } from './network.js';
import type { ServerSocket, Socket, SocketAddress } from './socket.js';
import { SocketStream } from './socket-stream.js';
import { IncompleteReadError, SocketError } from './socket-errors.js';

/** Base class of channel errors. Code `ERR_CHANNEL` unless a subclass says otherwise. */
export class ChannelError extends CurioError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, { code: options?.code ?? 'ERR_CHANNEL', cause: options?.cause });
  }
}

/**
 * Authentication with the peer failed: wrong key (code `ERR_AUTHENTICATION`), no answer in
 * time (`ERR_AUTH_TIMEOUT`), or the peer hung up during it (`ERR_AUTH_EOF`).
 */
export class AuthenticationError extends ChannelError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, { code: options?.code ?? 'ERR_AUTHENTICATION', cause: options?.cause });
  }
}

/** A frame is larger than the connection's `maxFrameSize`. Code `ERR_FRAME_TOO_LARGE`. */
export class FrameTooLargeError extends ChannelError {
  /** The frame's size in bytes. */
  readonly size: number;
  /** The limit it exceeded. */
  readonly limit: number;
  constructor(size: number, limit: number, direction: 'send' | 'recv') {
    super(`${direction === 'send' ? 'refusing to send' : 'received'} a frame of ${size} bytes, above the limit of ${limit}`, {
      code: 'ERR_FRAME_TOO_LARGE',
    });
    this.size = size;
    this.limit = limit;
  }
}

/** Where a channel listens or connects: TCP host and port, or a Unix socket path. */
export type ChannelAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** Options of {@link Channel} and {@link Connection}. */
export interface ChannelOptions {
  /** Shared secret both sides must hold; without it there is no authentication. */
  authkey?: Uint8Array | string;
  /** Largest frame sent or accepted, in bytes (default 64 MiB). */
  maxFrameSize?: number;
  /** Milliseconds the peer has to complete authentication (default 5000). */
  authTimeout?: number;
}

const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;
const AUTH_MAX = 256;
const CHALLENGE = Buffer.from('#CHALLENGE#');
const WELCOME = Buffer.from('#WELCOME#');
const FAILURE = Buffer.from('#FAILURE#');
const NONCE_BYTES = 32;
const HEADER = new Uint8Array(4);

/**
 * A connection carrying framed messages over a kernel socket. Get one from
 * {@link Channel.accept} / {@link Channel.connect}, or wrap a connected socket.
 */
export class Connection {
  /** The socket underneath. */
  readonly socket: Socket;
  private readonly stream: SocketStream;
  private readonly maxFrame: number;

  /** Wrap a connected socket (no authentication; see {@link Channel} for that). */
  constructor(socket: Socket, options?: ChannelOptions) {
    this.socket = socket;
    this.stream = new SocketStream(socket);
    this.maxFrame = options?.maxFrameSize ?? DEFAULT_MAX_FRAME;
  }

  /** Send a structured-clonable value. Throws ChannelError if it cannot be serialized. */
  async send(value: unknown): Promise<void> {
    let frame: Buffer;
    try {
      const serializer = new v8.Serializer();
      serializer.writeRawBytes(HEADER);
      serializer.writeHeader();
      serializer.writeValue(value);
      frame = serializer.releaseBuffer();
    } catch (error) {
      throw new ChannelError(`value cannot be sent: ${error instanceof Error ? error.message : String(error)}`, {
        code: 'ERR_CHANNEL_SERIALIZE',
        cause: error,
      });
    }
    await this.sendFrame(frame);
  }

  /** Receive the next value. */
  async recv<T = unknown>(): Promise<T> {
    const body = await this.recvBytes();
    try {
      return v8.deserialize(body) as T;
    } catch (error) {
      throw new ChannelError('received a message that is not a serialized value', { code: 'ERR_CHANNEL_DESERIALIZE', cause: error });
    }
  }

  /** Send `data` as one message of raw bytes. */
  async sendBytes(data: Uint8Array): Promise<void> {
    const frame = Buffer.allocUnsafe(4 + data.length);
    frame.set(data, 4);
    await this.sendFrame(frame);
  }

  /**
   * Receive one message of raw bytes. `maxLength` lowers the frame limit for this call. A
   * frame above the limit closes the connection and throws {@link FrameTooLargeError}.
   */
  async recvBytes(maxLength?: number): Promise<Uint8Array> {
    const limit = maxLength === undefined ? this.maxFrame : Math.min(maxLength, this.maxFrame);
    const header = await this.stream.readExactly(4);
    const size = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    if (size > limit) {
      await this.close();
      throw new FrameTooLargeError(size, limit, 'recv');
    }
    if (size === 0) return new Uint8Array(0);
    try {
      return await this.stream.readExactly(size);
    } catch (error) {
      // Keep the stream in step: the header goes back with whatever the body read put back.
      if (!(error instanceof IncompleteReadError)) this.socket._putBack([header]);
      throw error;
    }
  }

  /** Close the connection. */
  close(): Promise<void> {
    return this.socket.close();
  }

  /** `await using conn = await channel.connect()` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Frame is a buffer with 4 free bytes in front for the length. */
  private async sendFrame(frame: Buffer): Promise<void> {
    const size = frame.length - 4;
    if (size > this.maxFrame) throw new FrameTooLargeError(size, this.maxFrame, 'send');
    frame.writeUInt32BE(size, 0);
    try {
      await this.socket.sendall(frame);
    } catch (error) {
      const sent = (error as { bytesSent?: number }).bytesSent ?? 0;
      if (sent > 0 && sent < frame.length) await this.close();
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Authentication

  /** Authenticate as the accepting side: challenge the peer, then answer its challenge. */
  async authenticateServer(key: Uint8Array): Promise<void> {
    await this.deliverChallenge(key);
    await this.answerChallenge(key);
  }

  /** Authenticate as the connecting side: answer the peer's challenge, then challenge it. */
  async authenticateClient(key: Uint8Array): Promise<void> {
    await this.answerChallenge(key);
    await this.deliverChallenge(key);
  }

  private async deliverChallenge(key: Uint8Array): Promise<void> {
    const nonce = randomBytes(NONCE_BYTES);
    await this.sendBytes(Buffer.concat([CHALLENGE, nonce]));
    const response = await this.recvBytes(AUTH_MAX);
    const expected = createHmac('sha256', key).update(nonce).digest();
    if (response.length === expected.length && timingSafeEqual(response, expected)) {
      await this.sendBytes(WELCOME);
      return;
    }
    await this.sendBytes(FAILURE);
    throw new AuthenticationError('the peer answered the challenge with a wrong digest (different key)');
  }

  private async answerChallenge(key: Uint8Array): Promise<void> {
    const message = Buffer.from(await this.recvBytes(AUTH_MAX));
    if (message.length !== CHALLENGE.length + NONCE_BYTES || !message.subarray(0, CHALLENGE.length).equals(CHALLENGE)) {
      throw new AuthenticationError('the peer did not send an authentication challenge');
    }
    const digest = createHmac('sha256', key).update(message.subarray(CHALLENGE.length)).digest();
    await this.sendBytes(digest);
    const verdict = Buffer.from(await this.recvBytes(AUTH_MAX));
    if (!verdict.equals(WELCOME)) throw new AuthenticationError('the peer rejected our digest (different key)');
  }
}

/**
 * One end of a message channel (Curio's Channel): `accept()` on the listening side,
 * `connect()` on the other, both giving a {@link Connection}. With an `authkey`, both sides
 * prove they hold it before any message passes.
 */
export class Channel {
  private addr: ChannelAddress;
  private readonly options: ChannelOptions;
  private listener: ServerSocket | null = null;

  /** A channel at `address`; nothing is opened until bind / accept / connect. */
  constructor(address: ChannelAddress, options: ChannelOptions = {}) {
    this.addr = address;
    this.options = options;
  }

  /** The channel's address (after {@link bind}, with the port actually bound). */
  get address(): ChannelAddress {
    return this.addr;
  }

  /** Start listening (accept does this on first use). */
  async bind(): Promise<void> {
    if (this.listener !== null) return;
    const address = this.addr;
    if ('path' in address) {
      this.listener = await unixServerSocket(address.path);
    } else {
      this.listener = await tcpServerSocket(address.host, address.port);
      this.addr = { host: address.host, port: this.listener.port };
    }
  }

  /**
   * Accept the next connection and authenticate it. With a wrong key, the connection is
   * closed and this throws {@link AuthenticationError}; the channel keeps listening.
   */
  async accept(): Promise<Connection> {
    await this.bind();
    const socket = await (this.listener as ServerSocket).accept();
    return this.handshake(socket, 'server');
  }

  /** Connect to a listening channel and authenticate. */
  async connect(): Promise<Connection> {
    const address = this.addr;
    const socket = 'path' in address ? await openUnixConnection(address.path) : await openConnection(address.host, address.port);
    return this.handshake(socket, 'client');
  }

  /** Stop listening. Connections already made stay open. */
  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    if (listener !== null) await listener.close();
  }

  /** `await using channel = new Channel(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** `Channel(127.0.0.1:5000)`. */
  toString(): string {
    const address = this.addr;
    return `Channel(${'path' in address ? address.path : `${address.host}:${address.port}`})`;
  }

  private async handshake(socket: Socket, role: 'server' | 'client'): Promise<Connection> {
    const connection = new Connection(socket, this.options);
    const rawKey = this.options.authkey;
    if (rawKey === undefined) return connection;
    const key = typeof rawKey === 'string' ? Buffer.from(rawKey) : rawKey;
    const timeout = this.options.authTimeout ?? 5000;
    try {
      await timeoutAfter(timeout, () =>
        role === 'server' ? connection.authenticateServer(key) : connection.authenticateClient(key),
      );
      return connection;
    } catch (error) {
      await connection.close();
      throw authFailure(error, timeout, socket.peername);
    }
  }
}

function authFailure(error: unknown, timeout: number, peer: SocketAddress | null): unknown {
  if (error instanceof AuthenticationError) return error;
  const who = peer === null ? 'the peer' : peer.family === 'unix' ? peer.path : `${peer.address}:${peer.port}`;
  if (error instanceof TaskTimeout) {
    return new AuthenticationError(`${who} did not complete authentication within ${timeout} ms`, { code: 'ERR_AUTH_TIMEOUT', cause: error });
  }
  if (error instanceof SocketError) {
    return new AuthenticationError(`${who} hung up during authentication`, { code: 'ERR_AUTH_EOF', cause: error });
  }
  if (error instanceof FrameTooLargeError) {
    return new AuthenticationError(`${who} sent an oversized authentication message`, { cause: error });
  }
  return error;
}
