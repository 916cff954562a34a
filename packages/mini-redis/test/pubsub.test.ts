// Pub/sub between connections: RESP2 subscribers get arrays, RESP3 ones push frames; channel
// subscribers before pattern ones; a subscriber that stops reading is cut off (Redis's pubsub
// output limit) without ever slowing the publisher; disconnected subscribers are forgotten.

import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { RespPush } from '@curio-ts/proto-redis';
import { connectRaw, encode, infoField, until, useTestServer } from './helpers.js';

const server = useTestServer();

describe('pub/sub', () => {
  it('delivers to RESP2 and RESP3 subscribers, channels first, then patterns', async () => {
    const resp2 = await connectRaw(server().port);
    const resp3 = await connectRaw(server().port);
    const publisher = await connectRaw(server().port);
    expect(await resp2.call('SUBSCRIBE', 'news')).toEqual(['subscribe', 'news', 1]);
    expect(await resp2.call('PSUBSCRIBE', 'n*')).toEqual(['psubscribe', 'n*', 2]);
    await resp3.call('HELLO', '3');
    const confirmation = await resp3.call('SUBSCRIBE', 'news');
    expect(confirmation).toBeInstanceOf(RespPush);
    expect((confirmation as RespPush).data).toEqual(['subscribe', 'news', 1]);
    expect(await publisher.call('PUBLISH', 'news', 'hello')).toBe(3);
    expect(await resp2.reply()).toEqual(['message', 'news', 'hello']);
    expect(await resp2.reply()).toEqual(['pmessage', 'n*', 'news', 'hello']);
    expect(((await resp3.reply()) as RespPush).data).toEqual(['message', 'news', 'hello']);
    expect(await publisher.call('PUBLISH', 'nothing-here', 'x')).toBe(1); // the pattern n*
    expect(await resp2.reply()).toEqual(['pmessage', 'n*', 'nothing-here', 'x']);
    // A RESP3 subscriber keeps running commands; messages interleave as pushes.
    expect(await resp3.call('SET', 'pubsub:k', 'v')).toBe('OK');
    for (const c of [resp2, resp3, publisher]) c.close();
  });

  it('keeps 2 000 messages in order while the subscriber also receives replies', async () => {
    const subscriber = await connectRaw(server().port);
    const publisher = await connectRaw(server().port);
    await subscriber.call('SUBSCRIBE', 'order');
    for (let i = 0; i < 2000; i++) publisher.send('PUBLISH', 'order', `m${i}`);
    for (let i = 0; i < 2000; i++) expect(await publisher.reply()).toBe(1);
    subscriber.send('PING');
    for (let i = 0; i < 2000; i++) expect(await subscriber.reply()).toEqual(['message', 'order', `m${i}`]);
    expect(await subscriber.reply()).toEqual(['pong', '']);
    subscriber.close();
    publisher.close();
  });

  it('a RESP3 subscriber that runs commands while messages stream in gets every message and every reply, each in order', async () => {
    // The subscriber's commands are answered from the read callback while its push writer task
    // flushes the messages: neither may write around the other's bytes.
    const subscriber = await connectRaw(server().port);
    const publisher = await connectRaw(server().port);
    await subscriber.call('HELLO', '3');
    await subscriber.call('SUBSCRIBE', 'stream');
    // 8 KiB messages, 32 MiB in all: the subscriber's socket fills, and writes must wait.
    const messages = 4000;
    const echoes = 500;
    const padding = 'p'.repeat(8 * 1024);
    for (let i = 0; i < messages; i++) publisher.send('PUBLISH', 'stream', `m${i}:${padding}`);
    for (let i = 0; i < echoes; i++) {
      subscriber.send('ECHO', `e${i}`);
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const pushed: string[] = [];
    const replied: string[] = [];
    while (pushed.length < messages || replied.length < echoes) {
      const frame = await subscriber.reply();
      if (frame instanceof RespPush) pushed.push(String((frame.data as unknown[])[2]));
      else replied.push(String(frame));
    }
    expect(pushed).toEqual(Array.from({ length: messages }, (_, i) => `m${i}:${padding}`));
    expect(replied).toEqual(Array.from({ length: echoes }, (_, i) => `e${i}`));
    for (let i = 0; i < messages; i++) expect(await publisher.reply()).toBe(1);
    expect(server().clientErrors).toEqual([]);
    subscriber.close();
    publisher.close();
  });

  it('cuts off a subscriber that stops reading, without slowing the publisher', async () => {
    const slow = net.connect({ host: '127.0.0.1', port: server().port });
    slow.on('error', () => {});
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write(encode('SUBSCRIBE', 'flood'));
    await new Promise((resolve) => slow.once('data', resolve));
    slow.pause(); // never reads again
    const closed = new Promise((resolve) => slow.once('close', resolve));
    const publisher = await connectRaw(server().port);
    const message = 'x'.repeat(1 << 20);
    let delivered = 0;
    for (let i = 0; i < 64 && delivered === i; i++) delivered += (await publisher.call('PUBLISH', 'flood', message)) as number;
    expect(delivered).toBeLessThan(64); // the server dropped the subscriber on the way
    slow.resume();
    await closed;
    expect(await publisher.call('PUBLISH', 'flood', 'after')).toBe(0);
    publisher.close();
  });

  it('forgets the channels of a subscriber that disconnects', async () => {
    const subscriber = await connectRaw(server().port);
    await subscriber.call('SUBSCRIBE', 'gone-channel');
    await subscriber.call('PSUBSCRIBE', 'gone-*');
    subscriber.close();
    const publisher = await connectRaw(server().port);
    await until(async () => (await publisher.call('PUBLISH', 'gone-channel', 'x')) === 0, 'the subscriber to be forgotten');
    expect(await infoField(server().port, 'pubsub_channels')).toBe('0');
    expect(await infoField(server().port, 'pubsub_patterns')).toBe('0');
    publisher.close();
  });
});
