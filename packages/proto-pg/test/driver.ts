// driver.ts
//
// A minimal test driver for PgConnection over a raw node:net socket: the real peer the tests
// talk to (PostgreSQL at CURIO_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test).
// It writes what the connection has to send, feeds what the socket reads, and collects events
// (data rows copied into plain arrays of strings) until a condition holds. Test code only.

import * as net from 'node:net';
import { NEED_DATA, PgConnection } from '../src/index.js';
import type { PgConnectionOptions, PgEvent } from '../src/index.js';

/** Where the test server is. */
export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
}

/** The server the real-peer tests use: CURIO_TEST_PG_URL, or 127.0.0.1:5432 (user postgres, database test). */
export function testTarget(): PgTarget {
  const url = process.env.CURIO_TEST_PG_URL;
  if (url === undefined || url === '') return { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
  const parsed = new URL(url);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port === '' ? 5432 : Number(parsed.port),
    user: decodeURIComponent(parsed.username) || 'postgres',
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'test',
  };
}

/** An event as the tests compare it: data rows as arrays of strings (null for NULL). */
export type Seen = PgEvent | { readonly type: 'data-row'; readonly values: (string | null)[] };

/** Copy an event so it outlives the next nextEvent() call. */
export function snapshot(event: PgEvent): Seen {
  if (event.type !== 'data-row') return event;
  const values: (string | null)[] = [];
  for (let i = 0; i < event.columnCount; i++) values.push(event.text(i));
  return { type: 'data-row', values };
}

/** A PgConnection over a node:net socket. */
export class PgDriver {
  readonly events: Seen[] = [];
  private waiter: (() => void) | null = null;
  private failure: unknown = null;
  private ended = false;

  private constructor(
    readonly conn: PgConnection,
    readonly socket: net.Socket,
  ) {
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('end', () => this.feed(new Uint8Array(0)));
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (error) => {
      this.failure ??= error;
      this.wake();
    });
  }

  /** Connect a socket and wrap a new PgConnection (nothing sent yet). */
  static async open(options: Partial<PgConnectionOptions> = {}, target: PgTarget = testTarget()): Promise<PgDriver> {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const conn = new PgConnection({ user: target.user, database: target.database, ...options });
    return new PgDriver(conn, socket);
  }

  /** Connect, start up and wait for the first 'ready'. */
  static async ready(options: Partial<PgConnectionOptions> = {}, target: PgTarget = testTarget()): Promise<PgDriver> {
    const driver = await PgDriver.open(options, target);
    driver.conn.startup();
    driver.flush();
    await driver.until((e) => e.type === 'ready');
    return driver;
  }

  /** Write what the connection has to send. */
  flush(): void {
    const bytes = this.conn.dataToSend();
    if (bytes !== null) this.socket.write(bytes);
  }

  /** Wait until an event matching `done` was collected (counting from `from`); returns the events since `from`. */
  async until(done: (event: Seen, all: Seen[]) => boolean, from = this.events.length): Promise<Seen[]> {
    let i = from;
    for (;;) {
      for (; i < this.events.length; i++) {
        if (done(this.events[i] as Seen, this.events.slice(from, i + 1))) return this.events.slice(from, i + 1);
      }
      if (this.failure !== null) throw this.failure;
      // Events may have come with the end: look at them once more before giving up.
      if (this.ended && i >= this.events.length) throw new Error(`the connection ended; events: ${JSON.stringify(this.events.slice(from).map((e) => e.type))}`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Wait for the n-th 'ready' event from now (or from event index `from`). */
  async readies(n: number, from = this.events.length): Promise<Seen[]> {
    let seen = 0;
    return this.until((e) => e.type === 'ready' && ++seen === n, from);
  }

  /** The index the next event will have (to wait from a point before a series of calls). */
  mark(): number {
    return this.events.length;
  }

  /** The 'closed' event (after the server closed). */
  async closed(): Promise<Seen[]> {
    return this.until((e) => e.type === 'closed');
  }

  close(): void {
    this.socket.destroy();
  }

  private feed(chunk: Uint8Array): void {
    try {
      this.conn.receiveData(chunk);
      for (;;) {
        const event = this.conn.nextEvent();
        if (event === NEED_DATA) break;
        this.events.push(snapshot(event));
        if (event.type === 'closed') break;
      }
      this.flush();
    } catch (error) {
      this.failure ??= error;
    }
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}

/** Run `fn` with a started-up driver, closing it afterwards. */
export async function withPg<T>(fn: (driver: PgDriver) => Promise<T>, options: Partial<PgConnectionOptions> = {}): Promise<T> {
  const driver = await PgDriver.ready(options);
  try {
    return await fn(driver);
  } finally {
    driver.close();
  }
}
