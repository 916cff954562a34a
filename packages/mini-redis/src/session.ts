// session.ts
//
// One client connection, served by one kernel task: read a chunk, let proto-redis's
// RedisServerProtocol cut it into commands, run each command, and write every reply of the
// chunk in one sendall. Pipelined clients (redis-benchmark -P 16) thus cost one read and one
// write per batch. Replies are written by the protocol object's ReplyWriter (binary strings,
// into Node Buffers): a flush lends its bytes to the sendall and hands them back once sent, so
// the same buffer serves every reply of the connection.
//
// Two things reach a client from outside its own task:
// - Published messages. The publisher appends them to this client's reply buffer (never
//   waiting on a slow subscriber) and wakes the client's push writer, a task started at its
//   first SUBSCRIBE that flushes the buffer. Whoever flushes writes everything pending, in the
//   order it was appended, so replies and messages never interleave wrongly.
// - Being served in BLPOP / BRPOP. The client's task waits on its waiter's kernel Event (under
//   ignoreAfter for a timeout) while a watcher task keeps reading the socket, so that a client
//   that disconnects is noticed and unblocked at once. The protocol object is blocked
//   meanwhile (`block()`: its nextEvent is PAUSED): bytes that arrive are queued in it (not
//   parsed, not copied) and run after the blocking command, as in Redis. Up to
//   BLOCKED_READ_AHEAD bytes (`wantsData` turns false): then the watcher stops reading, and TCP
//   backpressure holds the client until it is unblocked.
//
// Discussion: serving from the read callback (issue 9). While the task waits in its read, each
// chunk that arrives is handed to `serveChunk` from the socket's read callback (the kernel's
// recvOr with a sink): it runs the chunk's commands and writes their replies with sendNow, and
// the task stays blocked, with no wake-up, Promise or task switch per chunk. That was Node's
// cost per read event that separated mini-redis from redis-server at pipeline depths of 1-64
// (`redis-benchmark -P 16`, in alternated pairs: 0-21% less CPU per command by command type,
// 3-22% more throughput while a core was busy elsewhere). The task takes over whenever the
// callback cannot finish alone: a command that needs the task (CommandSpec.needsTask: BLPOP /
// BRPOP may wait, SUBSCRIBE starts the push writer), a reply the socket did not take at once
// (the task waits for it: backpressure as before), QUIT, a protocol error, or another flush
// under way. It then runs from the command the callback
// stopped at, so the order of commands and replies is the one a task alone would give.
//
// Discussion: a protocol error is answered with "-ERR Protocol error: ..." and the connection
// is closed, as Redis does; a client that goes away mid-command gets the same (it may still be
// reading after a half-close). Neither ever affects other clients.

import { Buffer } from 'node:buffer';
import { CancelledError, disableCancellation, Event, ignoreAfter, SocketError, spawn } from '@curio-ts/kernel';
import type { RecvSink, Socket, SocketAddress, Task } from '@curio-ts/kernel';
import { NEED_DATA, PAUSED, RedisServerProtocol, RemoteProtocolError } from '@curio-ts/proto-redis';
import type { RedisServerEvent, NeedData, Paused, ReplyWriter, RespVersion } from '@curio-ts/proto-redis';
import { printable } from './binary.js';
import { execute } from './commands/table.js';
import type { ClientInfo, ServerState, Subscriber } from './state.js';
import { BlockedPop } from './store.js';
import type { Database } from './store.js';

/** What a connection beyond maxclients gets before it is closed (Redis's words). */
const MAX_CLIENTS_REACHED = new TextEncoder().encode('-ERR max number of clients reached\r\n');
/** Largest read from the socket at once. */
const READ_SIZE = 256 * 1024;
/**
 * Most bytes a blocked client may have sent ahead before its socket is no longer read. Redis
 * reads on into its query buffer (up to client-query-buffer-limit, 1 GiB, then closes the
 * client); here the client waits instead, costing the server nothing. The price: beyond this
 * bound, a blocked client that disconnects is noticed only once it is unblocked.
 */
const BLOCKED_READ_AHEAD = 1024 * 1024;
/** A subscriber whose unsent messages exceed this is disconnected (Redis: 32 MB for pubsub). */
const PUBSUB_OUTPUT_LIMIT = 32 * 1024 * 1024;

/** Reply buffers are Node Buffers: no zero-filling, and long values copied by latin1Write. */
const allocate = (size: number): Uint8Array => Buffer.allocUnsafeSlow(size);

/** A command received (a RedisServerEvent of type 'command'). */
type Command = Extract<RedisServerEvent<string>, { type: 'command' }>;

/** A read's failure is thrown, as by recv. */
const rethrow = (error: unknown): never => {
  throw error;
};

/** One connected client. */
export class Session implements Subscriber, ClientInfo {
  readonly id: number;
  /** Arguments arrive as binary strings: keys and values are kept as such (binary.ts). */
  readonly conn = new RedisServerProtocol<string>({
    args: 'binary',
    writer: { strings: 'binary', allocate },
    pausedReadAhead: BLOCKED_READ_AHEAD,
  });
  /** Where every reply and push to this client is written (keys and values are binary strings). */
  readonly reply: ReplyWriter = this.conn.writer;
  db: Database;
  /** CLIENT SETNAME, as a binary string; empty when unset. */
  name = '';
  /** CLIENT SETINFO lib-name / lib-ver. */
  libName = '';
  libVersion = '';
  /** Subscribed channels and patterns (binary strings). */
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  /** Set by QUIT, a protocol error, the end of the input (and a disconnect while blocked): stop after the current command. */
  closing = false;
  /** Lower-case name of the command running or last run (CLIENT LIST's cmd=). */
  lastCommand = 'NULL';
  /**
   * Whether it may run commands while a password is set: true for a client that connected
   * while there was none (as in Redis, setting one later does not lock it out), or once it
   * authenticated (AUTH, HELLO AUTH).
   */
  authenticated: boolean;
  /** When it last sent something or was last written to (Date.now()). */
  lastActive = Date.now();
  private blockedNow = false;
  private readonly createdAt = Date.now();
  private flushing = false;
  /** The read callback's handler, and what it left for the task (see {@link serveChunk}). */
  private readonly sink: RecvSink = (chunk) => this.serveChunk(chunk);
  private fedBySink = false;
  private leftBySink: Command | null = null;
  /** Replies lent to the socket by the read callback, and whether it wrote them (in part). */
  private lentBySink: Uint8Array | null = null;
  private lentWritten = false;
  private pushed: Event | null = null;
  private writer: Task | null = null;

  constructor(
    readonly server: ServerState,
    readonly socket: Socket,
    readonly address: SocketAddress,
  ) {
    this.id = server.clientId();
    this.db = server.databases[0] as Database;
    this.authenticated = server.config.settings.requirepass === '';
  }

  /** The negotiated RESP version. */
  get protocol(): RespVersion {
    return this.conn.protocol;
  }

  /** Switch RESP version (HELLO, RESET). */
  set protocol(version: RespVersion) {
    this.conn.setProtocol(version);
  }

  /** Channels + patterns subscribed. */
  get subscriptions(): number {
    return this.channels.size + this.patterns.size;
  }

  /** Whether blocked in BLPOP / BRPOP. */
  get blocked(): boolean {
    return this.blockedNow;
  }

  /** Serve the client until it quits, disconnects or breaks the protocol. */
  async serve(): Promise<void> {
    const { socket, conn, server } = this;
    const { maxclients, tcpKeepalive } = server.config.settings;
    if (server.clients.size >= maxclients) {
      try {
        await socket.sendall(MAX_CLIENTS_REACHED);
      } catch (error) {
        if (!(error instanceof SocketError)) throw error;
      }
      return;
    }
    if (tcpKeepalive > 0 && socket.sockname?.family !== 'unix') socket.rawSocket.setKeepAlive(true, tcpKeepalive * 1000);
    server.clients.set(this.id, this);
    server.stats.connections++;
    try {
      for (;;) {
        // The sink serves the chunks it can; the read returns with one it hands back.
        const data = await socket.recvOr(READ_SIZE, rethrow, this.sink);
        const lent = this.lentBySink;
        if (lent !== null) {
          this.lentBySink = null;
          await this.flushWaiting(lent, this.lentWritten ? socket.drain() : socket.sendall(lent));
        }
        if (this.fedBySink) this.fedBySink = false;
        else {
          conn.receiveData(data);
          this.lastActive = Date.now();
        }
        let open = this.closing ? false : this.runCommands();
        if (typeof open !== 'boolean') open = await open; // a command blocked (BLPOP)
        if (this.reply.length > 0) {
          const writing = this.flush();
          if (writing !== null) await writing;
        }
        if (!open || data.length === 0) return;
      }
    } catch (error) {
      // Reset, broken pipe, closed for overflowing its output: the client is gone.
      if (!(error instanceof SocketError)) throw error;
    } finally {
      await this.cleanup();
    }
  }

  /**
   * Run every complete command received: true when all are done and more bytes are needed,
   * false when the connection must close (`closing` is then set). Synchronous (no Promise to
   * make and await per burst) unless a command blocks: from the task (`fromCallback` false),
   * a Promise that runs the rest once it is done; from the read callback, false with the
   * command left for the task in `leftBySink` (see {@link serveChunk}).
   */
  private runCommands(fromCallback = false): boolean | Promise<boolean> {
    const conn = this.conn;
    for (;;) {
      let command = this.leftBySink;
      if (command !== null) this.leftBySink = null;
      else {
        const next = this.nextCommand();
        if (next === true) return true;
        if (next === false) {
          this.closing = true;
          return false;
        }
        command = next;
      }
      // From the task, execute returns a Promise or undefined; from the callback, NEEDS_TASK
      // or undefined (a command that needs the task is the only kind that blocks).
      const blocking = execute(this, command.name, command.args, fromCallback);
      if (blocking !== undefined) {
        if (!fromCallback) return this.afterBlocking(blocking as Promise<void>);
        this.leftBySink = command;
        return false;
      }
      conn.answered();
      if (this.closing) return false;
    }
  }

  /**
   * The next complete command received; true when there is none yet (more bytes are needed),
   * false when the connection must close (a protocol error, answered, or the client closed).
   */
  private nextCommand(): Command | boolean {
    let event: RedisServerEvent<string> | NeedData | Paused;
    try {
      event = this.conn.nextEvent();
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) throw error;
      this.reply.error(protocolErrorReply(error));
      return false;
    }
    // PAUSED cannot come here: a blocking command unblocks before its await returns.
    if (event === NEED_DATA || event === PAUSED) return true;
    if (event.type === 'closed') return false;
    return event;
  }

  /**
   * The socket's read callback, while the task waits in its read (see "Discussion: serving from
   * the read callback"): run the chunk's commands and write their replies, and true when that
   * is all done; false hands the chunk to the task, with `fedBySink` set if it was already
   * received here, `leftBySink` the command that needs the task, `lentBySink` replies the
   * socket did not take at once, or `closing` set.
   */
  private serveChunk(chunk: Uint8Array): boolean {
    if (chunk.length === 0 || this.flushing) return false;
    const conn = this.conn;
    conn.receiveData(chunk);
    this.fedBySink = true;
    this.lastActive = Date.now();
    if (this.runCommands(true) === false) return false;
    const reply = this.reply;
    if (reply.length > 0) {
      const out = reply.lend();
      const sent = this.socket.sendNow(out);
      if (sent !== 'sent') {
        // Node holds the rest, or nothing was written: the task waits for it, or sends it
        // (flushing meanwhile: no other flush may write after it, or wait beside it).
        this.flushing = true;
        this.lentBySink = out;
        this.lentWritten = sent === 'held';
        return false;
      }
      reply.release(out);
    }
    this.fedBySink = false;
    return true;
  }

  /** Wait for a command that blocked, then run the commands received after it. */
  private async afterBlocking(blocking: Promise<void>): Promise<boolean> {
    await blocking;
    this.conn.answered();
    if (this.closing) return false;
    return this.runCommands();
  }

  /**
   * Write everything pending: null when the OS took it all at once (the usual case, with no
   * Promise made), else the Promise of the rest. Null at once if another task of this client is
   * writing (it writes what is pending too).
   */
  flush(): Promise<void> | null {
    const reply = this.reply;
    if (this.flushing || reply.length === 0) return null;
    // Lent, not taken: the bytes are written over once the OS has them all (a failed send
    // leaves the buffer to the dead connection).
    const out = reply.lend();
    const sending = this.socket.sendallNow(out);
    if (sending !== null) return this.flushWaiting(out, sending);
    reply.release(out);
    this.lastActive = Date.now(); // as Redis counts a write as interaction (timeout)
    return null;
  }

  /** {@link flush} once the socket made it wait: `first` is lent and `sending` it. */
  private async flushWaiting(first: Uint8Array, sending: Promise<void>): Promise<void> {
    const reply = this.reply;
    this.flushing = true;
    try {
      await sending;
      reply.release(first);
      while (reply.length > 0) {
        const out = reply.lend();
        await this.socket.sendall(out);
        reply.release(out);
      }
      this.lastActive = Date.now();
    } finally {
      this.flushing = false;
    }
  }

  /** Close the connection now (an idle client): its task ends at its next read or write. */
  close(): void {
    this.socket.closeNow();
  }

  private async cleanup(): Promise<void> {
    this.server.clients.delete(this.id);
    for (const channel of this.channels) this.server.pubsub.unsubscribe(this, channel);
    for (const pattern of this.patterns) this.server.pubsub.punsubscribe(this, pattern);
    this.channels.clear();
    this.patterns.clear();
    const writer = this.writer;
    if (writer !== null) await disableCancellation(() => writer.cancel());
  }

  // -------------------------------------------------------------------------------------------
  // Pub/sub

  /** Start the push writer (at the first subscription). */
  startPushWriter(): void {
    if (this.writer !== null) return;
    const pushed = (this.pushed = new Event());
    this.writer = spawn(
      async () => {
        try {
          for (;;) {
            await pushed.wait();
            pushed.clear();
            await this.flush();
          }
        } catch (error) {
          if (!(error instanceof SocketError)) throw error;
        }
      },
      { name: `mini-redis client ${this.id} pushes` },
    );
  }

  /** A message published on a subscribed channel. */
  message(channel: string, message: string): void {
    const reply = this.reply;
    reply.push(3);
    reply.bulk('message');
    reply.bulk(channel);
    reply.bulk(message);
    this.pushedMessage();
  }

  /** A message published on a channel matching a subscribed pattern. */
  pmessage(pattern: string, channel: string, message: string): void {
    const reply = this.reply;
    reply.push(4);
    reply.bulk('pmessage');
    reply.bulk(pattern);
    reply.bulk(channel);
    reply.bulk(message);
    this.pushedMessage();
  }

  private pushedMessage(): void {
    if (this.reply.length > PUBSUB_OUTPUT_LIMIT) {
      // Too slow a reader: close, as Redis's client-output-buffer-limit does.
      this.socket.closeNow();
      return;
    }
    if (!this.flushing) this.pushed?.set();
  }

  // -------------------------------------------------------------------------------------------
  // Blocking pops

  /**
   * BLPOP / BRPOP on keys that are all empty: wait until a push serves this client, the
   * timeout passes (`timeoutMs` 0 waits forever), or the client disconnects.
   */
  async blockingPop(keys: readonly string[], left: boolean, timeoutMs: number): Promise<void> {
    await this.flush(); // replies to earlier commands go out while this client waits
    const db = this.db;
    const waiter = new BlockedPop(keys, left);
    this.conn.block(); // its next commands wait (nextEvent is PAUSED) until unblock()
    db.block(waiter);
    this.blockedNow = true;
    const watcher = spawn(() => this.watchWhileBlocked(waiter), { name: `mini-redis client ${this.id} blocked` });
    let waited = false;
    try {
      if (timeoutMs === 0) await waiter.ready.wait();
      else await ignoreAfter(timeoutMs, () => waiter.ready.wait());
      waited = true;
    } finally {
      this.blockedNow = false;
      if (this.conn.state === 'blocked') this.conn.unblock(); // not after a protocol error
      db.unblock(waiter);
      await disableCancellation(() => watcher.cancel());
      // Served, but cancelled or disconnected before replying: the element goes back.
      if (!waited || waiter.disconnected) db.giveBack(waiter);
    }
    if (waiter.disconnected) {
      this.closing = true;
      return;
    }
    const served = waiter.served;
    if (served === null) {
      this.reply.nullArray();
      return;
    }
    this.reply.array(2);
    this.reply.bulk(served.key);
    this.reply.bulk(served.value);
  }

  /**
   * While blocked: keep reading, so that a disconnect unblocks the client, while the protocol
   * object wants data (until the client has sent BLOCKED_READ_AHEAD bytes ahead); then stop,
   * so that it waits (TCP backpressure).
   */
  private async watchWhileBlocked(waiter: BlockedPop): Promise<void> {
    try {
      for (;;) {
        if (!this.conn.wantsData) return;
        const data = await this.socket.recv(READ_SIZE);
        this.conn.receiveData(data);
        if (data.length === 0) break;
      }
    } catch (error) {
      if (error instanceof CancelledError) throw error;
      // A failed socket is a disconnected client.
    }
    waiter.disconnect();
  }

  // -------------------------------------------------------------------------------------------
  // CLIENT LIST / CLIENT INFO

  /** One CLIENT LIST line (fields as Redis 7 prints them; memory figures are estimates). */
  describe(): string {
    const now = Date.now();
    const flags = this.blockedNow ? 'b' : this.subscriptions > 0 ? 'P' : 'N';
    const local = this.socket.sockname;
    const show = (a: SocketAddress | null): string => (a === null ? '' : a.family === 'unix' ? a.path : `${a.address}:${a.port}`);
    return (
      `id=${this.id} addr=${show(this.address)} laddr=${show(local)} fd=-1 name=${printable(this.name)} ` +
      `age=${Math.floor((now - this.createdAt) / 1000)} idle=${Math.floor((now - this.lastActive) / 1000)} flags=${flags} ` +
      `db=${this.db.index} sub=${this.channels.size} psub=${this.patterns.size} ssub=0 multi=-1 qbuf=${this.conn.bufferedBytes} qbuf-free=0 ` +
      `argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=${this.lastCommand} ` +
      `user=default redir=-1 resp=${this.protocol} lib-name=${printable(this.libName)} lib-ver=${printable(this.libVersion)}`
    );
  }
}

/** `ERR Protocol error: ...` for a parser error (without its byte offset, as Redis words it). */
function protocolErrorReply(error: RemoteProtocolError): string {
  // Redis has one message for every inline line it cannot split.
  if (error.code === 'ERR_INLINE') return 'ERR Protocol error: unbalanced quotes in request';
  const message = error.message.replace(/ \(at byte \d+\)$/, '');
  return message.startsWith('Protocol error: ') ? `ERR ${message}` : `ERR Protocol error: ${message}`;
}
