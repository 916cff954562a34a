// node-stream.ts
//
// NodeByteStream: a node:net / node:tls socket as the Runtime's ByteStream, and its TLS upgrade.
//
// Invariants:
// - Reads are paced by the consumer: the socket flows into a queue of chunks (zero-copy, each
//   handed to a waiting reader at once), and is paused while more than READ_HIGH_WATER bytes
//   are unread (Node then stops reading from the OS and TCP pushes back on the peer); a read
//   that brings the queue to READ_LOW_WATER resumes it. Unread bytes held: at most
//   READ_HIGH_WATER plus one chunk, plus the socket's own readable buffer. A read given a sink
//   (runtime.ts's ReadSink) hands each chunk to it from the socket's 'data' event while the read
//   is pending: nothing is queued then, and no Promise is made or settled per chunk.
// - Writes wait for the peer: `write()` hands the bytes to the socket at once and resolves at
//   once while fewer than WRITE_HIGH_WATER bytes are waiting in Node for the OS; above that it
//   resolves on the socket's next 'drain' (all writers waiting then share one Promise).
// - A stream ends once: a pending read then gets null (end of stream, or our own close) or the
//   ConnectionError that broke it; later reads say the same.
// - After `startTls` began, this stream is done: its reads and writes fail with
//   ERR_STREAM_UPGRADED; the connection belongs to the stream startTls returns.
//
// Discussion: bytes waiting at an upgrade. A flowing socket may already have read the peer's
// first TLS bytes (a client sends its hello as soon as it sees Postgres's 'S'; a server that
// is slow to upgrade finds it queued). Unread bytes are put back into the net.Socket, where
// Node's TLS layer reads them first. That is safe: TLS parses them as records, so nothing a
// third party injected in the clear can ever come out as data; it fails the handshake instead.
// Bytes the consumer did read are its business: a Postgres client must check that the chunk
// holding 'S' holds nothing more (CVE-2021-23222).
//
// Discussion: reading into a shared buffer (issue 9). A socket this runtime connects (TCP or
// Unix, not TLS) reads with Node's `onread` option: libuv reads into one buffer shared by every
// such socket, and Node calls the stream (`receivedRead`) with the byte count, without the Readable
// machinery of a 'data' event (a Buffer and its backing store made per read, the push, the
// emit, and a `maybeReadMore` nextTick that runs before the Promise jobs the chunk settles:
// a hop between a reply and its caller). The bytes are copied out at once into a chunk of
// their own (the chunk is the consumer's, as ByteStream.read says), so sharing the buffer is
// safe: libuv reads one socket at a time and the callback consumes the read before returning.
// TLS sockets keep 'data' events; both paths end in the same `received`. Node has no option
// for the sockets a net.Server accepts: those read into the shared buffer too when Node's
// private keys of the `onread` option are found (by their descriptions, once: kBuffer,
// kBufferCb) and the socket has read nothing yet (a listener's pauseOnConnect): the keys are
// set on the socket and its handle told to read into the buffer (`useUserBuffer`), what
// net.Socket's constructor does for `onread` (adoptSharedRead). A Node without them keeps
// 'data' events for accepted sockets: the same bytes, at a higher cost.
//
// Discussion: the server side of an upgrade is handed to a (never listening) tls.Server with
// `emit('connection', socket)`, Node's documented way to inject a connection: Node then checks
// a client certificate itself (`authorized`), which a bare `new TLSSocket(..., { isServer })`
// leaves undone.

import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ConnectionError } from '@curio-ts/client';
import type { ByteStream, ReadConsumer, StartTlsOptions, StreamAddress, TlsInfo, TlsOptions, TlsServerOptions } from '@curio-ts/client';
import { findOnreadKeys } from '@curio-ts/kernel/lowlevel';

/** Unread bytes above which the socket stops reading from the OS. */
export const READ_HIGH_WATER = 1024 * 1024;
/** Unread bytes at or below which a paused socket reads again. */
export const READ_LOW_WATER = 256 * 1024;
/** Bytes waiting in Node for the OS above which `write()` waits for 'drain'. */
export const WRITE_HIGH_WATER = 1024 * 1024;
/** How long a closed TLS stream may take to send its close_notify before it is destroyed (ms). */
const TLS_CLOSE_GRACE_MS = 2000;

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = new Uint8Array(0);

/** Where a stream is connected, as the runtime knows it (Node does not report a Unix path). */
export interface NodeStreamOrigin {
  /** The Unix socket path, for a Unix stream. */
  readonly path?: string;
  /** The host name the client connected to (checked against the certificate by startTls). */
  readonly host?: string;
  /** An error the socket emitted before the stream took it over. */
  readonly pendingError?: Error;
}

let capturedReaderResolve: (chunk: Uint8Array | null) => void = () => {};
let capturedReaderReject: (error: unknown) => void = () => {};

/** The executor of every read's Promise: a module function, so a read makes no closure. */
function captureReader(resolve: (chunk: Uint8Array | null) => void, reject: (error: unknown) => void): void {
  capturedReaderResolve = resolve;
  capturedReaderReject = reject;
}

type ReadSink = NonNullable<Parameters<ByteStream['read']>[0]>;

/** Most bytes one read of an `onread` socket takes (Node's own read size). */
const SHARED_READ_SIZE = 64 * 1024;
let sharedReadBuffer: Buffer | null = null;

/**
 * The `onread` option of a socket this runtime connects (see "Discussion: reading into a shared
 * buffer"): reads go to `link.stream`'s `receivedRead`. Node starts reading only after the
 * socket's 'connect' event, whose listener makes the stream, so the stream is there by the first
 * read. (A module function: the callback, held as long as the socket lives, keeps only `link`.)
 */
export function sharedRead(link: { stream: NodeByteStream | null }): { buffer: Buffer; callback: (bytes: number, buffer: Uint8Array) => boolean } {
  return { buffer: (sharedReadBuffer ??= Buffer.allocUnsafeSlow(SHARED_READ_SIZE)), callback: (bytes, buffer) => (link.stream as NodeByteStream).receivedRead(bytes, buffer) };
}

/** The last array asBuffer was given, and its Buffer. */
let lastArray: Uint8Array | null = null;
let lastBuffer: Buffer = Buffer.alloc(0);

/**
 * `data` as a Buffer over the same bytes, as Node's Writable makes one for every Uint8Array
 * written; made once for the same array written again (a server writing the same response
 * through a buffer it keeps, see writeNow: Node holds neither once the write went through).
 */
function asBuffer(data: Uint8Array): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data !== lastArray) {
    lastArray = data;
    lastBuffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  return lastBuffer;
}

/** The stream a socket belongs to, on the socket (see NodeByteStream's listeners). */
const STREAM = Symbol('curio.stream');
type OwnedSocket = net.Socket & { [STREAM]?: NodeByteStream | undefined };

/** The shared read's callback of an accepted socket: Node calls it as the socket's method. */
function onSharedRead(this: OwnedSocket, bytes: number, buffer: Uint8Array): boolean {
  const stream = this[STREAM];
  return stream === undefined ? true : stream.receivedRead(bytes, buffer);
}

/**
 * Make an accepted plain socket that has read nothing yet read into the shared buffer (see the
 * file header): true when done, false when it keeps 'data' events.
 */
function adoptSharedRead(socket: net.Socket): boolean {
  if (socket instanceof tls.TLSSocket || socket.destroyed || socket.readableLength > 0) return false;
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown; reading?: unknown } | null })._handle;
  if (handle === undefined || handle === null || typeof handle.useUserBuffer !== 'function' || handle.reading === true) return false;
  const keys = findOnreadKeys();
  if (keys === null) return false;
  const record = socket as unknown as Record<symbol, unknown>;
  if (record[keys.buffer] !== null) return false;
  const buffer = (sharedReadBuffer ??= Buffer.allocUnsafeSlow(SHARED_READ_SIZE));
  (handle.useUserBuffer as (this: unknown, buffer: Uint8Array) => void).call(handle, buffer);
  record[keys.buffer] = buffer;
  record[keys.callback] = onSharedRead;
  return true;
}

/** A node:net / node:tls socket as a ByteStream. */
export class NodeByteStream implements ByteStream {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** The pending read's resolvers (two fields, not a wake object: nothing allocated per read but its Promise). */
  private reader: ((chunk: Uint8Array | null) => void) | null = null;
  private readerReject: ((error: unknown) => void) | null = null;
  /** The pending read's sink, if it has one. */
  private sink: ReadSink | null = null;
  /** The consumer of a pending read with no Promise (readInto); then `reader` is null. */
  private consumer: ReadConsumer | null = null;
  private ended = false;
  private closedHere = false;
  private failure: ConnectionError | null = null;
  private paused = false;
  private upgrading: net.Socket | null = null;
  private upgraded = false;
  private drain: Promise<void> | null = null;
  private info: TlsInfo | null | undefined = undefined;

  // The socket's listeners are shared by every stream (EventEmitter calls them with the socket
  // as `this`, which names its stream): three closures less per connection, held while it lives.
  private static onData(this: OwnedSocket, chunk: Buffer): void {
    this[STREAM]?.received(chunk);
  }
  private static onEnd(this: OwnedSocket): void {
    this[STREAM]?.end();
  }
  private static onError(this: OwnedSocket, error: Error): void {
    this[STREAM]?.broke(error);
  }

  constructor(
    private readonly socket: net.Socket,
    private readonly origin: NodeStreamOrigin = {},
  ) {
    if (origin.pendingError !== undefined) this.failure = toConnectionError(origin.pendingError);
    socket.setNoDelay(true);
    (socket as OwnedSocket)[STREAM] = this;
    if (!adoptSharedRead(socket)) socket.on('data', NodeByteStream.onData);
    socket.on('end', NodeByteStream.onEnd);
    socket.on('error', NodeByteStream.onError);
    socket.on('close', NodeByteStream.onEnd);
    if (socket.destroyed) this.ended = true;
    // A socket explicitly paused (a listener's pauseOnConnect) does not flow for a 'data' listener.
    else if (socket.isPaused()) socket.resume();
  }

  read(sink?: ReadSink): Promise<Uint8Array | null> {
    if (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head] as Uint8Array;
      this.chunks[this.head++] = EMPTY;
      if (this.head === this.chunks.length) {
        // pop() for the usual one chunk: setting `length` is a call into V8's runtime (~40 ns).
        if (this.head === 1) this.chunks.pop();
        else this.chunks.length = 0;
        this.head = 0;
      }
      this.queuedBytes -= chunk.length;
      if (this.paused && this.queuedBytes <= READ_LOW_WATER) {
        this.paused = false;
        this.socket.resume();
      }
      return Promise.resolve(chunk);
    }
    if (this.upgraded) return Promise.reject(upgradedError());
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    if (this.reader !== null || this.consumer !== null) return Promise.reject(new ConnectionError('another read is already pending on this stream', 'ERR_STREAM_BUSY'));
    const promise = new Promise<Uint8Array | null>(captureReader);
    this.reader = capturedReaderResolve;
    this.readerReject = capturedReaderReject;
    this.sink = sink ?? null;
    return promise;
  }

  /**
   * A read with no Promise (see ByteStream.readInto): only when nothing is buffered and the
   * stream is open; chunks then go to `consumer` from the socket's events.
   */
  readInto(consumer: ReadConsumer): boolean {
    if (this.head < this.chunks.length || this.upgraded || this.failure !== null || this.ended || this.reader !== null || this.consumer !== null) return false;
    this.consumer = consumer;
    return true;
  }

  write(data: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (this.upgraded) return Promise.reject(upgradedError());
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closedHere || socket.destroyed || socket.writableEnded) {
      return Promise.reject(new ConnectionError('write after the connection closed', 'EPIPE'));
    }
    socket.write(data);
    if (socket.writableLength < WRITE_HIGH_WATER) return RESOLVED;
    return this.drained();
  }

  /**
   * `write`, saying what became of `data` (see ByteStream.writeNow): Node's Writable counts a
   * chunk in `writableLength` until the OS took all of it, so 0 right after the write means
   * that libuv wrote it through at once and nothing in Node holds it.
   */
  writeNow(data: Uint8Array): boolean | Promise<void> {
    const socket = this.socket;
    if (this.upgraded) throw upgradedError();
    if (this.failure !== null) throw this.failure;
    if (this.closedHere || socket.destroyed || socket.writableEnded) throw new ConnectionError('write after the connection closed', 'EPIPE');
    socket.write(asBuffer(data));
    const left = socket.writableLength;
    if (left === 0) return true;
    if (left < WRITE_HIGH_WATER) return false;
    return this.drained();
  }

  /** Settles on the socket's next 'drain' (rejects if it closes first); one for every writer waiting. */
  private drained(): Promise<void> {
    const socket = this.socket;
    return (this.drain ??= new Promise<void>((resolve, reject) => {
      const drained = (): void => {
        socket.off('close', closed);
        this.drain = null;
        resolve();
      };
      const closed = (): void => {
        socket.off('drain', drained);
        this.drain = null;
        reject(this.failure ?? new ConnectionError('connection closed while writing', 'EPIPE'));
      };
      socket.once('drain', drained);
      socket.once('close', closed);
    }));
  }

  /**
   * Close the stream: a pending read ends with null, later writes fail. A TLS stream first sends
   * TLS's close_notify (within 2 s). During `startTls`, closing aborts the handshake.
   */
  close(): void {
    const upgrading = this.upgrading;
    if (upgrading !== null) {
      this.upgrading = null;
      upgrading.destroy();
    }
    if (this.closedHere || this.upgraded) return;
    this.closedHere = true;
    const socket = this.socket;
    if (socket instanceof tls.TLSSocket && !socket.destroyed && !socket.writableEnded) {
      socket.destroySoon();
      const timer = setTimeout(() => socket.destroy(), TLS_CLOSE_GRACE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    } else {
      socket.destroy();
    }
    this.chunks = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.end();
  }

  /** Bytes received and not yet read (this stream's queue plus the socket's own buffer). */
  get bufferedBytes(): number {
    return this.queuedBytes + this.socket.readableLength;
  }

  /** Bytes written and still waiting in Node to be handed to the OS. */
  get pendingWriteBytes(): number {
    return this.socket.writableLength;
  }

  /** The TLS session (null for a plain stream). */
  get tls(): TlsInfo | null {
    if (this.info === undefined) this.info = this.socket instanceof tls.TLSSocket ? tlsInfoOf(this.socket) : null;
    return this.info;
  }

  /** The peer's address (null once unknown). */
  /** The socket no longer keeps the process alive by itself (see ByteStream.unref). */
  unref(): void {
    this.socket.unref();
  }

  /** The socket keeps the process alive again. */
  ref(): void {
    this.socket.ref();
  }

  get remoteAddress(): StreamAddress | null {
    if (this.origin.path !== undefined) return { path: this.origin.path };
    const host = this.socket.remoteAddress;
    const port = this.socket.remotePort;
    return host === undefined || port === undefined ? null : { host, port };
  }

  /** The underlying socket (for options such as keep-alive; do not read or write it). */
  get rawSocket(): net.Socket {
    return this.socket;
  }

  /**
   * Upgrade to TLS (see ByteStream.startTls). Waits until every byte written has gone to the
   * OS; bytes received and not read are handed to the TLS layer (see the file header).
   * Rejects with a ConnectionError (ERR_STREAM_BUSY while a read is pending; the TLS layer's
   * code if the handshake fails, after which the connection is closed).
   */
  async startTls(options: StartTlsOptions): Promise<NodeByteStream> {
    this.checkUpgradable();
    while (this.socket.writableLength > 0 && !this.socket.destroyed) await this.waitDrained();
    this.checkUpgradable();
    const raw = this.detach();
    this.upgrading = raw;
    let secure: tls.TLSSocket;
    try {
      secure = options.side === 'server' ? await upgradeServer(raw, options) : await upgradeClient(raw, options, this.origin.host);
    } catch (error) {
      raw.destroy();
      throw toConnectionError(error as Error);
    } finally {
      this.upgrading = null;
    }
    return new NodeByteStream(secure, this.origin.path !== undefined ? { path: this.origin.path } : {});
  }

  private checkUpgradable(): void {
    if (this.upgraded) throw upgradedError();
    if (this.closedHere) throw new ConnectionError('the stream is closed', 'ERR_STREAM_CLOSED');
    if (this.failure !== null) throw this.failure;
    if (this.reader !== null || this.consumer !== null) throw new ConnectionError('a read is pending on this stream: it cannot be upgraded', 'ERR_STREAM_BUSY');
    if (this.ended || this.socket.destroyed) throw new ConnectionError('the connection ended before the TLS upgrade', 'ERR_STREAM_EOF');
  }

  private waitDrained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** Give up the socket for a TLS upgrade: stop listening to it, put unread bytes back in it. */
  private detach(): net.Socket {
    const socket = this.socket;
    socket.off('data', NodeByteStream.onData);
    socket.off('end', NodeByteStream.onEnd);
    socket.off('error', NodeByteStream.onError);
    socket.off('close', NodeByteStream.onEnd);
    (socket as OwnedSocket)[STREAM] = undefined;
    this.upgraded = true;
    if (this.head < this.chunks.length) {
      const unread = this.chunks.slice(this.head);
      // Paused first: a flowing stream with no 'data' listener would drop what it is handed.
      socket.pause();
      socket.unshift(unread.length === 1 ? (unread[0] as Uint8Array) : Buffer.concat(unread));
    } else if (this.paused) {
      socket.resume();
    }
    this.chunks = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.paused = false;
    return socket;
  }

  /**
   * @internal A read of an `onread` socket (sharedRead): `bytes` at the start of the shared
   * buffer, copied into a chunk of their own before anything else reads into it. After a TLS
   * upgrade the TLS layer reads the socket instead. True: Node goes on reading (pausing is
   * `received`'s, with socket.pause(), which stops an `onread` socket's reads too).
   */
  receivedRead(bytes: number, buffer: Uint8Array): boolean {
    if (this.upgraded) return true;
    const chunk = Buffer.allocUnsafe(bytes);
    // A reply or two (the usual read of a request/response client): a loop, no view made.
    if (bytes <= 64) for (let i = 0; i < bytes; i++) chunk[i] = buffer[i] as number;
    else chunk.set(bytes === buffer.length ? buffer : buffer.subarray(0, bytes));
    this.received(chunk);
    return true;
  }

  private received(chunk: Buffer): void {
    if (this.closedHere) return;
    const consumer = this.consumer;
    if (consumer !== null) {
      if (consumer.readChunk(chunk) || this.consumer !== consumer) return;
      this.consumer = null;
      consumer.readSettled(chunk, null);
      return;
    }
    const reader = this.reader;
    if (reader !== null) {
      const sink = this.sink;
      // The sink took the chunk: the read stays pending. If it declined, the read ends with the
      // chunk, unless the sink ended it already (it closed the stream).
      if (sink !== null && sink(chunk)) return;
      if (this.reader !== reader) return;
      this.reader = null;
      this.readerReject = null;
      this.sink = null;
      reader(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.queuedBytes += chunk.length;
    if (!this.paused && this.queuedBytes > READ_HIGH_WATER) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private end(): void {
    const consumer = this.consumer;
    if (consumer !== null) {
      this.ended = true;
      this.consumer = null;
      consumer.readSettled(null, this.failure !== null && !this.closedHere ? this.failure : null);
      return;
    }
    if (this.ended && this.reader === null) return;
    this.ended = true;
    const reader = this.reader;
    const readerReject = this.readerReject as (error: unknown) => void;
    this.reader = this.readerReject = null;
    this.sink = null;
    if (reader === null) return;
    if (this.failure !== null && !this.closedHere) readerReject(this.failure);
    else reader(null);
  }

  private broke(error: Error): void {
    if (this.failure === null && !this.closedHere) this.failure = toConnectionError(error);
    const consumer = this.consumer;
    if (consumer !== null) {
      this.consumer = null;
      consumer.readSettled(null, this.closedHere ? null : this.failure);
      return;
    }
    const reader = this.reader;
    const readerReject = this.readerReject as (error: unknown) => void;
    this.reader = this.readerReject = null;
    this.sink = null;
    if (reader === null) return;
    if (this.closedHere) reader(null);
    else readerReject(this.failure);
  }
}

function upgradedError(): ConnectionError {
  return new ConnectionError('this stream was upgraded to TLS: use the stream startTls returned', 'ERR_STREAM_UPGRADED');
}

/** A Node error as a ConnectionError that keeps its code. */
export function toConnectionError(error: Error): ConnectionError {
  if (error instanceof ConnectionError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? 'ERR_CONNECTION';
  return new ConnectionError(error.message, code, { cause: error });
}

/** What a TLS socket knows about its session. */
export function tlsInfoOf(socket: tls.TLSSocket): TlsInfo {
  const certificate = socket.getPeerCertificate();
  const raw = (certificate as { raw?: Buffer }).raw;
  const alpn = socket.alpnProtocol;
  return {
    peerCertificate: raw === undefined ? null : new Uint8Array(raw),
    protocol: socket.getProtocol(),
    alpnProtocol: typeof alpn === 'string' ? alpn : null,
    authorized: socket.authorized,
  };
}

/**
 * Which name the certificate is checked against: `serverName`, else the host, an IP address
 * included (Node would otherwise fall back to the socket's own address, which for an upgraded
 * stream is where it connected, not the name asked for); nothing with `checkServerName: false`.
 */
function serverIdentityCheck(options: TlsOptions, name: string | undefined): Pick<tls.ConnectionOptions, 'checkServerIdentity'> {
  if (options.checkServerName === false) return { checkServerIdentity: () => undefined };
  if (name === undefined) return {};
  return { checkServerIdentity: (_hostname, certificate) => tls.checkServerIdentity(name, certificate) };
}

/** The runtime's client TLS options as node:tls options (SNI only for a host name, never an IP). */
export function clientTlsOptions(options: TlsOptions, host: string | undefined): tls.ConnectionOptions {
  const name = options.serverName ?? host;
  return {
    ...(name !== undefined && net.isIP(name) === 0 ? { servername: name } : {}),
    ...serverIdentityCheck(options, name),
    ...(options.ca !== undefined ? { ca: typeof options.ca === 'string' ? options.ca : [...options.ca] } : {}),
    ...(options.cert !== undefined ? { cert: options.cert } : {}),
    ...(options.key !== undefined ? { key: options.key } : {}),
    ...(options.alpnProtocols !== undefined ? { ALPNProtocols: [...options.alpnProtocols] } : {}),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
}

/** The runtime's server TLS options as node:tls options. */
export function serverTlsOptions(options: TlsServerOptions): tls.TlsOptions {
  return {
    cert: options.cert,
    key: options.key,
    ...(options.ca !== undefined ? { ca: typeof options.ca === 'string' ? options.ca : [...options.ca] } : {}),
    requestCert: options.requestCert ?? false,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    ...(options.alpnProtocols !== undefined ? { ALPNProtocols: [...options.alpnProtocols] } : {}),
  };
}

/**
 * After a server handshake: a client certificate that was asked for and must be trusted, and
 * is not, is an error (ERR_TLS_CLIENT_CERT); null when the client is accepted. (Node refuses
 * such a client before 'secureConnection' already; this keeps the rule whatever Node does.)
 */
export function checkClient(socket: tls.TLSSocket, options: TlsServerOptions): ConnectionError | null {
  if (options.requestCert !== true || options.rejectUnauthorized === false || socket.authorized) return null;
  const reason = socket.authorizationError;
  return new ConnectionError(`client certificate rejected: ${reason === undefined || reason === null ? 'none sent' : String(reason)}`, 'ERR_TLS_CLIENT_CERT');
}

function upgradeClient(raw: net.Socket, options: TlsOptions, host: string | undefined): Promise<tls.TLSSocket> {
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const secure = tls.connect({ ...clientTlsOptions(options, host), socket: raw });
    const failed = (error: Error): void => {
      secure.destroy();
      reject(error);
    };
    const closed = (): void => failed(new ConnectionError('the connection closed during the TLS handshake', 'ECONNRESET'));
    secure.once('error', failed);
    secure.once('close', closed);
    secure.once('secureConnect', () => {
      secure.off('error', failed);
      secure.off('close', closed);
      resolve(secure);
    });
  });
}

function upgradeServer(raw: net.Socket, options: TlsServerOptions): Promise<tls.TLSSocket> {
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const server = tls.createServer(serverTlsOptions(options));
    const closed = (): void => reject(new ConnectionError('the connection closed during the TLS handshake', 'ECONNRESET'));
    raw.once('close', closed);
    server.once('tlsClientError', (error: Error) => {
      raw.off('close', closed);
      reject(error);
    });
    server.once('secureConnection', (secure: tls.TLSSocket) => {
      raw.off('close', closed);
      const refused = checkClient(secure, options);
      if (refused !== null) {
        secure.destroy();
        reject(refused);
      } else {
        resolve(secure);
      }
    });
    server.emit('connection', raw);
  });
}
