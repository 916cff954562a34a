// redis/pubsub.ts
//
// Pub/sub: a Subscription owns a connection of its own (a RESP2 connection in subscribed mode
// cannot run other commands), subscribes to channels, patterns and shard channels, and hands
// messages out with `for await`. After a reconnect it subscribes again to everything it had.
//
// Invariants: messages come out in the order the server sent them; the buffer between the
// socket and a slow consumer is bounded (`maxBuffered`): overflowing it ends the subscription
// with SubscriptionOverflowError rather than growing without limit.

import type { RespPush, RespValue } from '@curio-ts/proto-redis';
import { ClientClosedError, ClientError } from '../errors.js';
import { FnWaiter } from '../runtime.js';
import type { Runtime, Wake } from '../runtime.js';
import type { PushListener, RedisClientCore } from './client.js';
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

/** A pub/sub subscription; iterate it with `for await`. */
export class Subscription implements AsyncIterable<PubSubMessage>, PushListener {
  private readonly buffer: PubSubMessage[] = [];
  private head = 0;
  private waiter: Wake<PubSubMessage | null> | null = null;
  private ended: unknown = null;
  private done = false;
  private readonly wanted = { channel: new Set<string>(), pattern: new Set<string>(), shard: new Set<string>() };
  private readonly maxBuffered: number;

  /** @internal Use RedisClient.subscribe(). */
  constructor(
    private readonly core: RedisClientCore,
    private readonly runtime: Runtime,
    options?: SubscriptionOptions,
  ) {
    this.maxBuffered = options?.maxBuffered ?? 100_000;
    core.addListener(this);
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

  /** The next message, or null once the subscription is closed. */
  next(): Promise<PubSubMessage | null> {
    if (this.head < this.buffer.length) return Promise.resolve(this.take());
    if (this.ended !== null) return Promise.reject(this.ended);
    if (this.done) return Promise.resolve(null);
    let mine: Wake<PubSubMessage | null> | null = null;
    return this.runtime.wait<PubSubMessage | null>(
      'REDIS_SUBSCRIPTION',
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

  /** Async iteration over messages until the subscription is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<PubSubMessage> {
    for (;;) {
      const message = await this.next();
      if (message === null) return;
      yield message;
    }
  }

  /** Close the subscription and its connection. */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.core.removeListener(this);
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.resolve(null);
    await this.core.close();
  }

  /** `await using sub = await client.subscribe(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal */
  onPush(push: RespPush): void {
    if (this.done) return;
    const message = toMessage(push);
    if (message === null) return;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve(message);
      return;
    }
    if (this.buffer.length - this.head >= this.maxBuffered) {
      this.end(new SubscriptionOverflowError(this.maxBuffered));
      return;
    }
    this.buffer.push(message);
  }

  /** @internal Subscribe again to everything after a reconnect. */
  onReconnect(): void {
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
    for (const name of names) {
      if (add) set.add(name);
      else set.delete(name);
    }
    await this.core.call([command, ...names]);
  }

  private take(): PubSubMessage {
    const message = this.buffer[this.head] as PubSubMessage;
    this.buffer[this.head] = undefined as unknown as PubSubMessage;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    return message;
  }

  private end(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.ended = error;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(error);
    void this.core.close();
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

