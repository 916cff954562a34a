// Expiry: a key past its time is gone when it is next read (lazy), and keys nobody reads are
// collected by the periodic cycle. No timing is asserted: the tests wait until a key's time
// has surely passed, and for the periodic cycle they wait for the key count to reach zero.

import { describe, expect, it } from 'vitest';
import { connectRaw, infoField, until, useTestServer } from './helpers.js';

const server = useTestServer();

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('expiry', () => {
  it('lazy: a key past its time reads as missing everywhere, and TTL says -2', async () => {
    const c = await connectRaw(server().port);
    await c.call('SELECT', '1');
    expect(await c.call('SET', 'lazy:s', 'v', 'PX', '20')).toBe('OK');
    expect(await c.call('RPUSH', 'lazy:l', 'a')).toBe(1);
    expect(await c.call('PEXPIRE', 'lazy:l', '20')).toBe(1);
    expect(await c.call('HSET', 'lazy:h', 'f', 'v')).toBe(1);
    expect(await c.call('EXPIRE', 'lazy:h', '1000')).toBe(1);
    await pause(60);
    expect(await c.call('GET', 'lazy:s')).toBeNull();
    expect(await c.call('TTL', 'lazy:s')).toBe(-2);
    expect(await c.call('EXISTS', 'lazy:l')).toBe(0);
    expect(await c.call('KEYS', 'lazy:*')).toEqual(['lazy:h']);
    expect(await c.call('SCAN', '0', 'MATCH', 'lazy:*', 'COUNT', '100')).toEqual(['0', ['lazy:h']]);
    expect(await c.call('RPUSH', 'lazy:l', 'fresh')).toBe(1); // a new list, without the old TTL
    expect(await c.call('TTL', 'lazy:l')).toBe(-1);
    await c.call('FLUSHDB');
    c.close();
  });

  it('periodic: keys that are never read again are collected', async () => {
    const c = await connectRaw(server().port);
    await c.call('SELECT', '2');
    for (let i = 0; i < 500; i++) c.send('SET', `periodic:${i}`, 'v', 'PX', String(10 + (i % 30)));
    for (let i = 0; i < 500; i++) await c.reply();
    expect(await c.call('SET', 'periodic:kept', 'v', 'EX', '1000')).toBe('OK');
    await until(async () => (await c.call('DBSIZE')) === 1, 'the periodic cycle to expire 500 keys');
    expect(Number(await infoField(server().port, 'expired_keys'))).toBeGreaterThanOrEqual(500);
    expect(await c.call('GET', 'periodic:kept')).toBe('v');
    await c.call('FLUSHDB');
    c.close();
  });

  it('SET without KEEPTTL and PERSIST cancel an expiry; INCR, APPEND and KEEPTTL keep it', async () => {
    const c = await connectRaw(server().port);
    // One pipelined batch: every key gets the same deadline, and nothing expires in between.
    const batch = [
      ['SET', 'keep:a', '1', 'PX', '200'], ['INCR', 'keep:a'],
      ['SET', 'keep:b', 'x', 'PX', '200'], ['APPEND', 'keep:b', 'y'],
      ['SET', 'keep:c', 'x', 'PX', '200'], ['SET', 'keep:c', 'y', 'KEEPTTL'],
      ['SET', 'keep:d', 'x', 'PX', '200'], ['SET', 'keep:d', 'y'],
      ['SET', 'keep:e', 'x', 'PX', '200'], ['PERSIST', 'keep:e'],
    ];
    for (const command of batch) c.send(...command);
    const replies: unknown[] = [];
    for (let i = 0; i < batch.length; i++) replies.push(await c.reply());
    expect(replies).toEqual(['OK', 2, 'OK', 2, 'OK', 'OK', 'OK', 'OK', 'OK', 1]);
    await until(async () => (await c.call('EXISTS', 'keep:a', 'keep:b', 'keep:c')) === 0, 'the keys with an expiry to go');
    expect(await c.call('MGET', 'keep:d', 'keep:e')).toEqual(['y', 'x']);
    expect(await c.call('TTL', 'keep:d')).toBe(-1);
    c.close();
  });
});
