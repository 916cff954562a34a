// inprocess/server.ts
//
// A small Redis server written once on the Runtime's server side (`runtime.listen`, an accept
// loop, proto-redis's RedisServerProtocol per client), with an in-memory keyspace covering
// what the conformance suite uses. It runs on any runtime that has `listen`; the memory
// runtime uses it to run the Redis conformance suite without a redis-server process, under
// virtual time (expiry, BLPOP timeouts and DEBUG SLEEP follow the runtime's clock).
//
// Invariants:
// - A client is served in order: its commands run one after another, replies in the same
//   order; the replies of one read go out in one write, and the output is flushed before a
//   command blocks (BLPOP, XREAD BLOCK, DEBUG SLEEP). Pushes (pub/sub messages, invalidations,
//   MONITOR lines) are written at once; they never split a reply.
// - A client that disconnects is forgotten at once, even while blocked; one that sent commands
//   and then its end of stream has those commands run first (as Redis reads its query buffer).
// - Bounded memory: a client is not read while more than READ_AHEAD of its bytes wait to run,
//   and replies are written (and awaited) at least every REPLIES_PER_WRITE replies, so a client
//   that stops reading stalls its commands, not the server's memory.
// - `kill()` closes the listener and every connection (as a crashed server would) and keeps the
//   data, like a server that persists every write; `restart()` listens again on the same port.
//
// Discussion: it is a test peer, not a product. It has no persistence, no Lua, no TLS, no
// cluster, no ACL users beyond `requirepass`; the replies it gives are Redis's, with the small
// differences listed in commands.ts.

import { RedisServerProtocol, RemoteProtocolError, RespErrorReply } from '@curio-ts/proto-redis';
import type { RespFrame, RespValue, RespVersion } from '@curio-ts/proto-redis';
import type { ByteStream, Listener, Runtime } from '@curio-ts/client';
import { COMMANDS, NO_REPLY, Status } from './commands.js';
import type { ClientState, CommandContext, Reply, ServerState } from './commands.js';
import { bin, bytes, CommandError, Database, globPattern } from './keyspace.js';

/** Where and how to serve. */
export interface InProcessRedisOptions {
  /** Host to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 6379; 0 picks a free one). */
  readonly port?: number;
  /** requirepass: clients must authenticate (HELLO AUTH or AUTH) first. */
  readonly password?: string;
}

/** A running in-process Redis. */
export interface InProcessRedis {
  readonly port: number;
  /** `redis://[:password@]host:port`. */
  readonly url: string;
  /** Clients connected now. */
  readonly clients: number;
  /** Stop listening and drop every connection, keeping the data (a crash of a durable server). */
  kill(): Promise<void>;
  /** Listen again on the same address, with the data it had. */
  restart(): Promise<void>;
  /** Stop for good. */
  stop(): Promise<void>;
}

/** Most replies held before the server writes them and waits for the client to take them. */
const REPLIES_PER_WRITE = 1024;
/**
 * Most bytes received and not yet run before the client is no longer read. The price, as in
 * mini-redis: beyond it, a blocked client that disconnects is noticed once it is unblocked.
 */
const READ_AHEAD = 1024 * 1024;

/** Start an in-process Redis on `runtime` (it must have `listen`). */
export async function startInProcessRedis(runtime: Runtime, options: InProcessRedisOptions = {}): Promise<InProcessRedis> {
  const host = options.host ?? '127.0.0.1';
  const server = new InProcessServer(runtime, options.password);
  let listener: Listener | null = null;
  let port = options.port ?? 6379;
  const listen = async (): Promise<void> => {
    const bound = await runtime.listen({ host, port });
    const address = bound.address;
    if ('port' in address) port = address.port;
    listener = bound;
    runtime.spawn(() => server.acceptLoop(bound), `in-process redis ${host}:${port}`);
  };
  const drop = (): void => {
    listener?.close();
    listener = null;
    for (const session of [...server.sessions.values()]) session.close();
  };
  await listen();
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    url: `redis://${auth}${host}:${port}`,
    get clients() {
      return server.sessions.size;
    },
    kill: async () => drop(),
    restart: listen,
    stop: async () => drop(),
  };
}

interface BlockedCall {
  readonly session: Session;
  readonly db: Database;
  readonly keys: readonly string[];
  readonly serve: () => RespFrame | undefined;
  readonly finish: (reply: RespFrame) => void;
  cancelTimer: () => void;
}

/** The server's shared state and the dispatcher. */
class InProcessServer implements ServerState {
  readonly databases: Database[];
  readonly sessions = new Map<number, Session>();
  readonly monitors = new Set<Session>();
  private readonly blocked = new Map<string, BlockedCall[]>();
  private readonly tracked = new Map<string, Set<Session>>();
  private nextId = 1;

  constructor(
    readonly runtime: Runtime,
    readonly password: string | undefined,
  ) {
    this.databases = Array.from({ length: 16 }, (_, i) => new Database(i, () => runtime.now()));
  }

  now(): number {
    return this.runtime.now();
  }

  sleep(ms: number): Promise<void> {
    return this.runtime.sleep(ms);
  }

  clients(): Iterable<ClientState> {
    return this.sessions.values();
  }

  async acceptLoop(listener: Listener): Promise<void> {
    for (;;) {
      const stream = await listener.accept();
      if (stream === null) return;
      const session = new Session(this, stream, this.nextId++);
      this.sessions.set(session.id, session);
      this.runtime.spawn(() => session.serve(), `in-process redis client ${session.id}`);
    }
  }

  /** Run one command of `session`: its reply, or a Promise of it for a command that waits. */
  run(session: Session, name: string, args: readonly Uint8Array[]): Reply | Promise<Reply> {
    const spec = COMMANDS.get(name);
    session.lastCommand = name === 'CLIENT' && args.length > 1 ? `client|${bin(args[1] as Uint8Array).toLowerCase()}` : name.toLowerCase();
    const failQueued = (message: string): RespErrorReply => {
      if (session.queued !== null) session.queueFailed = true;
      return new RespErrorReply(message);
    };
    if (spec === undefined) {
      const shown = args.slice(1, 10).map((a) => `'${bin(a)}'`).join(' ');
      return failQueued(`ERR unknown command '${bin(args[0] as Uint8Array)}', with args beginning with: ${shown}`);
    }
    if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) return failQueued(`ERR wrong number of arguments for '${name.toLowerCase()}' command`);
    if (!session.authenticated && !spec.beforeAuth) return failQueued('NOAUTH Authentication required.');
    if (session.protocol === 2 && session.channels.size + session.patterns.size > 0 && !spec.whileSubscribed) {
      return new RespErrorReply(`ERR Can't execute '${name.toLowerCase()}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`);
    }
    if (session.queued !== null && !spec.control) {
      session.queued.push({ name, args });
      return new Status('QUEUED');
    }
    this.feedMonitors(session, args);
    const context = session.context(false);
    const done = (reply: Reply): Reply => {
      const keys = spec.keys(args);
      if (spec.write) this.afterWrite(context.db, keys);
      else if (session.tracking) for (const k of keys) this.track(context.db, k, session);
      return reply;
    };
    try {
      const reply = spec.run(context, args);
      if (reply instanceof Promise) return reply.then(done, errorOf);
      return done(reply);
    } catch (error) {
      return errorOf(error);
    }
  }

  exec(context: CommandContext, queued: readonly { name: string; args: readonly Uint8Array[] }[]): RespFrame {
    const inside = (context.client as Session).context(true);
    return queued.map(({ name, args }): RespValue => {
      const spec = COMMANDS.get(name);
      if (spec === undefined) return new RespErrorReply(`ERR unknown command '${name}'`);
      let reply: Reply | Promise<Reply>;
      try {
        reply = spec.run(inside, args);
      } catch (error) {
        return errorOf(error) as RespErrorReply;
      }
      if (reply instanceof Promise) return new RespErrorReply('ERR this command cannot wait inside a transaction here');
      if (spec.write) this.afterWrite(inside.db, spec.keys(args));
      if (reply === NO_REPLY) return null;
      if (reply instanceof Status) return reply.text;
      return reply as RespValue;
    });
  }

  publish(channel: string, message: Uint8Array): number {
    let receivers = 0;
    const channelBytes = bytes(channel);
    for (const session of this.sessions.values()) {
      if (session.channels.has(channel)) {
        session.push('message', [channelBytes, message]);
        receivers++;
      }
      for (const pattern of session.patterns) {
        if (!globPattern(pattern).test(channel)) continue;
        session.push('pmessage', [bytes(pattern), channelBytes, message]);
        receivers++;
      }
    }
    return receivers;
  }

  block(context: CommandContext, keys: readonly string[], timeoutMs: number, serve: () => RespFrame | undefined): Promise<RespFrame> {
    const session = context.client as Session;
    return new Promise<RespFrame>((resolve) => {
      const call: BlockedCall = {
        session,
        db: context.db,
        keys,
        serve,
        finish: (reply) => {
          this.unblock(call);
          resolve(reply);
        },
        cancelTimer: () => {},
      };
      for (const k of keys) {
        const slot = `${context.db.index}\u0000${k}`;
        const queue = this.blocked.get(slot);
        if (queue === undefined) this.blocked.set(slot, [call]);
        else queue.push(call);
      }
      session.blockedCall = call;
      if (timeoutMs !== Number.POSITIVE_INFINITY) call.cancelTimer = this.runtime.timer(timeoutMs, () => call.finish(null));
    });
  }

  /** Forget a blocked call (served, timed out, or its client left). */
  unblock(call: BlockedCall): void {
    call.cancelTimer();
    if (call.session.blockedCall === call) call.session.blockedCall = null;
    for (const k of call.keys) {
      const slot = `${call.db.index}\u0000${k}`;
      const queue = this.blocked.get(slot);
      if (queue === undefined) continue;
      const at = queue.indexOf(call);
      if (at !== -1) queue.splice(at, 1);
      if (queue.length === 0) this.blocked.delete(slot);
    }
  }

  /** A client left: drop everything that refers to it. */
  forget(session: Session): void {
    this.sessions.delete(session.id);
    this.monitors.delete(session);
    if (session.blockedCall !== null) this.unblock(session.blockedCall);
    for (const [slot, sessions] of this.tracked) {
      sessions.delete(session);
      if (sessions.size === 0) this.tracked.delete(slot);
    }
  }

  /** After a write: WATCH versions, tracking invalidations, clients blocked on the keys. */
  private afterWrite(db: Database, keys: readonly string[]): void {
    for (const k of keys) {
      db.touch(k);
      const slot = `${db.index}\u0000${k}`;
      const trackers = this.tracked.get(slot);
      if (trackers !== undefined) {
        this.tracked.delete(slot);
        for (const tracker of trackers) tracker.push('invalidate', [[bytes(k)]]);
      }
      const waiting = this.blocked.get(slot);
      if (waiting === undefined) continue;
      for (const call of [...waiting]) {
        const reply = call.serve();
        if (reply !== undefined) call.finish(reply);
      }
    }
  }

  private track(db: Database, k: string, session: Session): void {
    const slot = `${db.index}\u0000${k}`;
    const sessions = this.tracked.get(slot);
    if (sessions === undefined) this.tracked.set(slot, new Set([session]));
    else sessions.add(session);
  }

  private feedMonitors(from: Session, args: readonly Uint8Array[]): void {
    if (this.monitors.size === 0) return;
    const time = (this.now() / 1000).toFixed(6);
    const line = `${time} [${from.dbIndex} ${from.address}] ${args.map(quote).join(' ')}`;
    for (const monitor of this.monitors) if (monitor !== from) monitor.monitorLine(line);
  }
}

/** An argument as MONITOR shows it: quoted, with unprintable bytes escaped. */
function quote(arg: Uint8Array): string {
  let out = '"';
  for (const b of arg) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

function errorOf(error: unknown): RespErrorReply {
  if (error instanceof CommandError) return new RespErrorReply(error.message);
  return new RespErrorReply(`ERR ${(error as Error).message}`);
}

/** One client connection. */
class Session implements ClientState {
  readonly conn = new RedisServerProtocol();
  name = '';
  libName = '';
  libVersion = '';
  dbIndex = 0;
  authenticated: boolean;
  tracking = false;
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly watched = new Map<string, string>();
  queued: { name: string; args: readonly Uint8Array[] }[] | null = null;
  queueFailed = false;
  lastCommand = 'NULL';
  blockedCall: BlockedCall | null = null;
  readonly address: string;
  private readonly createdAt: number;
  private processing = false;
  private inputEnded = false;
  private quitting = false;
  private closed = false;
  private repliesHeld = 0;
  private resumeReading: (() => void) | null = null;

  constructor(
    private readonly server: InProcessServer,
    private readonly stream: ByteStream,
    readonly id: number,
  ) {
    this.authenticated = server.password === undefined;
    const remote = stream.remoteAddress;
    this.address = remote === undefined || remote === null ? '?' : 'path' in remote ? remote.path : `${remote.host}:${remote.port}`;
    this.createdAt = server.now();
  }

  get protocol(): RespVersion {
    return this.conn.protocol;
  }

  context(inTransaction: boolean): CommandContext {
    return { db: this.server.databases[this.dbIndex] as Database, protocol: this.conn.protocol, inTransaction, client: this, server: this.server };
  }

  /** Read until the client leaves; commands run in `process`. */
  async serve(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.stream.read();
        if (chunk === null || chunk.length === 0 || this.closed) break;
        this.conn.receiveData(chunk);
        if (!this.processing) void this.process();
        // A client that sends faster than its replies are taken is not read further: the
        // runtime's pacing then holds it back, and memory stays bounded.
        if (this.conn.bufferedBytes > READ_AHEAD) {
          await new Promise<void>((resolve) => {
            this.resumeReading = resolve;
          });
        }
      }
    } catch {
      // the connection broke: same as its end
    }
    this.inputEnded = true;
    if (!this.processing || this.blockedCall !== null) this.close();
  }

  /** Run every complete command received, writing replies as they are made. */
  private async process(): Promise<void> {
    this.processing = true;
    try {
      for (;;) {
        if (this.closed) return;
        let event;
        try {
          event = this.conn.nextEvent();
        } catch (error) {
          if (error instanceof RemoteProtocolError) this.conn.sendError(`ERR ${error.message}`);
          await this.flush();
          this.close();
          return;
        }
        if (this.resumeReading !== null && this.conn.bufferedBytes <= READ_AHEAD) {
          this.resumeReading();
          this.resumeReading = null;
        }
        if (typeof event !== 'object' || event.type === 'closed') {
          const out = this.conn.dataToSend();
          if (out === null) {
            if (this.inputEnded) this.close();
            return;
          }
          await this.write(out);
          continue;
        }
        const reply = this.server.run(this, event.name, event.args);
        if (reply instanceof Promise) {
          await this.flush();
          const value = await reply;
          if (this.closed) return;
          this.send(value);
        } else this.send(reply);
        if (this.quitting) {
          await this.flush();
          this.close();
          return;
        }
        // A long pipeline: its replies go out in parts, each once the client took the last.
        if (this.repliesHeld >= REPLIES_PER_WRITE) await this.flush();
      }
    } finally {
      this.processing = false;
    }
  }

  private send(reply: Reply): void {
    if (reply === NO_REPLY) return;
    if (reply instanceof Status) this.conn.sendStatus(reply.text);
    else this.conn.sendReply(reply);
    this.repliesHeld++;
  }

  private async flush(): Promise<void> {
    this.repliesHeld = 0;
    const out = this.conn.dataToSend();
    if (out !== null) await this.write(out);
  }

  private async write(data: Uint8Array): Promise<void> {
    try {
      await this.stream.write(data);
    } catch {
      this.close();
    }
  }

  push(kind: string, data: readonly RespValue[]): void {
    if (this.closed) return;
    this.conn.sendPush(kind, data);
    void this.flush();
  }

  monitorLine(line: string): void {
    if (this.closed) return;
    this.conn.sendStatus(line);
    void this.flush();
  }

  describe(): string {
    const age = Math.floor((this.server.now() - this.createdAt) / 1000);
    const flags = this.server.monitors.has(this) ? 'O' : this.blockedCall !== null ? 'b' : this.channels.size + this.patterns.size > 0 ? 'P' : 'N';
    return [
      `id=${this.id}`,
      `addr=${this.address}`,
      `name=${this.name}`,
      `age=${age}`,
      `flags=${flags}`,
      `db=${this.dbIndex}`,
      `sub=${this.channels.size}`,
      `psub=${this.patterns.size}`,
      `multi=${this.queued === null ? -1 : this.queued.length}`,
      `cmd=${this.lastCommand}`,
      `resp=${this.conn.protocol}`,
      `lib-name=${this.libName}`,
      `lib-ver=${this.libVersion}`,
    ].join(' ');
  }

  setProtocol(version: RespVersion): void {
    this.conn.setProtocol(version);
  }

  startMonitor(): void {
    this.server.monitors.add(this);
  }

  quit(): void {
    this.quitting = true;
  }

  reset(): void {
    this.conn.setProtocol(2);
    this.channels.clear();
    this.patterns.clear();
    this.watched.clear();
    this.queued = null;
    this.tracking = false;
    this.dbIndex = 0;
    this.name = '';
    this.server.monitors.delete(this);
    this.authenticated = this.server.password === undefined;
  }

  /** Drop the client: close its connection and forget it everywhere. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.close();
    this.server.forget(this);
    this.resumeReading?.();
    this.resumeReading = null;
  }
}
