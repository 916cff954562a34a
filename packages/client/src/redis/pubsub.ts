// redis/pubsub.ts
//
// Pub/sub: a Subscription owns a connection of its own (a RESP2 connection in subscribed mode
// cannot run other commands), subscribes to channels, patterns and shard channels, and hands
// messages out with `for await`. After a reconnect it subscribes again to everything it had.
//
// Invariants: messages come out in the order the server sent them; the buffer between the
// socket and a slow consumer is bounded (`maxBuffered`): overflowing it ends the subscription
// with SubscriptionOverflowError rather than growing without limit. A stream ends (next()
// gives null) when it or the client that made it is closed, and fails with the reason when its
// connection fails for good (reconnecting gave up).

import type { RespPush, RespValue } from '@curio-ts/proto-redis';
import { ClientClosedError, ClientError, InvalidArgumentError } from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { Runtime, Wake } from '../runtime.js';
import type { PushListener, RedisEngine } from './engine.js';
import { keyString } from './commands.js';

/** A message received on a subscription. */
export interface PubSubMessage {
  /** 'message' (channel), 'pmessage' (pattern) or 'smessage' (shard channel). */
  readonly kind: 'message' | 'pmessage' | 'smessage';
  readonly channel: string;
  /** The pattern that matched, for pmessage. */
  readonly pattern?: string;
  readonly message: string;
}

/** The consumer fell too far behind. */
export class SubscriptionOverflowError extends ClientError {
  constructor(limit: number) {
    super(`subscription buffer overflow: more than ${limit} messages unread`, 'ERR_SUBSCRIPTION_OVERFLOW');
  }
}

/** Options of a subscription. */
export interface SubscriptionOptions {
  /** Most unread messages kept (default 100 000). */
  readonly maxBuffered?: number;
}

/**
 * Pushes from a connection of its own, handed out with `for await` (base of Subscription and
 * MonitorStream).
 */
export class PushStream<T> implements AsyncIterable<T> {
  // Not `implements PushListener`: its members are internal here, and the published .d.ts
  // would claim an implementation it leaves out. Checked where it is passed as a listener.
  private readonly buffer: T[] = [];
  private head = 0;
  private waiter: Wake<T | null> | null = null;
  private ended: unknown = null;
  protected done = false;
  private readonly maxBuffered: number;

  /** @internal */
  constructor(
    protected readonly core: RedisEngine,
    private readonly runtime: Runtime,
    private readonly select: (push: RespPush) => T | null,
    options?: SubscriptionOptions,
  ) {
    this.maxBuffered = options?.maxBuffered ?? 100_000;
    core.addListener(this);
  }

  /** The next item, or null once the stream is closed. */
  next(): Promise<T | null> {
    if (this.head < this.buffer.length) return Promise.resolve(this.take());
    if (this.ended !== null) return Promise.reject(this.ended);
    if (this.done) return Promise.resolve(null);
    let mine: Wake<T | null> | null = null;
    return this.runtime.wait<T | null>(
      'REDIS_PUSH',
      new FnWaiter(
        (wake) => {
          mine = wake;
          this.waiter = wake;
        },
        () => {
          if (this.waiter === mine) this.waiter = null;
        },
      ),
    );
  }

  /** Async iteration until the stream is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = await this.next();
      if (item === null) return;
      yield item;
    }
  }

  /** Close the stream and its connection. */
  async close(): Promise<void> {
    this.onClosed(null);
    await this.core.close();
  }

  /** `await using stream = ...`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal */
  onEvent(push: RespPush): void {
    if (this.done) return;
    const item = this.select(push);
    if (item === null) return;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve(item);
      return;
    }
    if (this.buffer.length - this.head >= this.maxBuffered) {
      this.end(new SubscriptionOverflowError(this.maxBuffered));
      return;
    }
    this.buffer.push(item);
  }

  /** @internal */
  onReconnect(): void {}

  /** @internal The connection's client closed: end normally after close(), else with why. */
  onClosed(reason: unknown): void {
    if (reason !== null) {
      this.end(reason);
      return;
    }
    if (this.done) return;
    this.done = true;
    this.core.removeListener(this);
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.resolve(null);
  }

  private take(): T {
    const item = this.buffer[this.head] as T;
    this.buffer[this.head] = undefined as unknown as T;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }

  protected end(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.ended = error;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(error);
    void this.core.close();
  }
}

/** A pub/sub subscription; iterate it with `for await`. */
export class Subscription extends PushStream<PubSubMessage> {
  private readonly wanted = { channel: new Set<string>(), pattern: new Set<string>(), shard: new Set<string>() };

  /** @internal Use RedisClient.subscribe(). */
  constructor(core: RedisEngine, runtime: Runtime, options?: SubscriptionOptions) {
    super(core, runtime, toMessage, options);
  }

  /** Channels, patterns and shard channels subscribed to (as requested). */
  get subscriptions(): { readonly channels: readonly string[]; readonly patterns: readonly string[]; readonly shardChannels: readonly string[] } {
    return { channels: [...this.wanted.channel], patterns: [...this.wanted.pattern], shardChannels: [...this.wanted.shard] };
  }

  /** Subscribe to more channels. Resolves once the server confirmed them. */
  async subscribe(...channels: string[]): Promise<void> {
    await this.change('SUBSCRIBE', this.wanted.channel, channels, true);
  }

  /** Subscribe to patterns. */
  async pSubscribe(...patterns: string[]): Promise<void> {
    await this.change('PSUBSCRIBE', this.wanted.pattern, patterns, true);
  }

  /** Subscribe to shard channels (SSUBSCRIBE). */
  async sSubscribe(...channels: string[]): Promise<void> {
    await this.change('SSUBSCRIBE', this.wanted.shard, channels, true);
  }

  /** Unsubscribe from channels (all when none named). */
  async unsubscribe(...channels: string[]): Promise<void> {
    await this.change('UNSUBSCRIBE', this.wanted.channel, channels.length === 0 ? [...this.wanted.channel] : channels, false);
  }

  /** Unsubscribe from patterns (all when none named). */
  async pUnsubscribe(...patterns: string[]): Promise<void> {
    await this.change('PUNSUBSCRIBE', this.wanted.pattern, patterns.length === 0 ? [...this.wanted.pattern] : patterns, false);
  }

  /** @internal Subscribe again to everything after a reconnect. */
  override onReconnect(): void {
    const again: [string, Set<string>][] = [
      ['SUBSCRIBE', this.wanted.channel],
      ['PSUBSCRIBE', this.wanted.pattern],
      ['SSUBSCRIBE', this.wanted.shard],
    ];
    for (const [command, set] of again) {
      if (set.size > 0) this.core.call([command, ...set]).catch((error: unknown) => this.end(error));
    }
  }

  private async change(command: string, set: Set<string>, names: string[], add: boolean): Promise<void> {
    if (this.done) throw new ClientClosedError('the subscription is closed');
    if (names.length === 0) return;
    const invalid = names.find((name) => typeof name !== 'string');
    if (invalid !== undefined) {
      // Kept out of the set, which is sent again after every reconnect.
      throw new InvalidArgumentError(`a channel or pattern must be a string, not ${invalid === null ? 'null' : typeof invalid}`, 'ERR_BAD_ARGUMENT');
    }
    for (const name of names) {
      if (add) set.add(name);
      else set.delete(name);
    }
    await this.core.call([command, ...names]);
  }
}

/** MONITOR lines, from a connection of its own. */
export class MonitorStream extends PushStream<string> {
  /** @internal Use RedisClient.monitor(). */
  constructor(core: RedisEngine, runtime: Runtime, options?: SubscriptionOptions) {
    super(core, runtime, (push) => (push.kind === 'monitor' ? String(push.data[1]) : null), options);
  }

  /** @internal Monitor again after a reconnect. */
  override onReconnect(): void {
    this.core.call(['MONITOR']).catch((error: unknown) => this.end(error));
  }
}

function toMessage(push: RespPush): PubSubMessage | null {
  const data = push.data;
  const field = (i: number): string => keyString(data[i] as RespValue);
  switch (push.kind) {
    case 'message':
      return { kind: 'message', channel: field(1), message: field(2) };
    case 'smessage':
      return { kind: 'smessage', channel: field(1), message: field(2) };
    case 'pmessage':
      return { kind: 'pmessage', pattern: field(1), channel: field(2), message: field(3) };
    default:
      return null;
  }
}

