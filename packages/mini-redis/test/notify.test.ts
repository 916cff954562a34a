// Keyspace notifications against a private redis-server: with the same notify-keyspace-events
// and the same commands, a pattern subscriber must receive the same messages, in the same
// order, from mini-redis as from Redis (event names, classes, 'new', 'keymiss', 'expired'
// lazily and by the periodic cycle, pops that serve blocked clients, other databases).

import { describe, expect, it } from 'vitest';
import type { RespFrame } from '@curio-ts/proto-redis';
import { connectRaw, useBothServers } from './helpers.js';
import type { RawConnection } from './helpers.js';

const servers = useBothServers();

type Command = readonly string[];
/** A step: a command on the main connection, a pause (ms), or something done on the side. */
type Step = Command | number | ((port: number, main: RawConnection) => Promise<void>);

/** Sent last: its message on `__keysentinel` tells the subscriber that nothing else follows. */
const SENTINEL = '__keysentinel';

/**
 * With notify-keyspace-events `flags`, run `steps` on `port` and return every message a
 * subscriber to `__key*` received meanwhile, as `channel message` lines.
 */
async function eventsOf(port: number, flags: string, steps: readonly Step[]): Promise<string[]> {
  const main = await connectRaw(port);
  const subscriber = await connectRaw(port);
  try {
    expect(await main.call('FLUSHALL')).toBe('OK');
    expect(await main.call('CONFIG', 'SET', 'notify-keyspace-events', flags)).toBe('OK');
    expect(await subscriber.call('PSUBSCRIBE', '__key*')).toEqual(['psubscribe', '__key*', 1]);
    for (const step of steps) {
      if (typeof step === 'number') await new Promise((resolve) => setTimeout(resolve, step));
      else if (typeof step === 'function') await step(port, main);
      else await main.call(...step);
    }
    await main.call('PUBLISH', SENTINEL, 'end');
    const seen: string[] = [];
    for (;;) {
      const frame = (await subscriber.reply()) as RespFrame[];
      if (frame[2] === SENTINEL) break;
      seen.push(`${String(frame[2])} ${String(frame[3])}`);
    }
    return seen;
  } finally {
    await main.call('CONFIG', 'SET', 'notify-keyspace-events', '');
    main.close();
    subscriber.close();
  }
}

/**
 * The events mini-redis sends for `steps`, checked against redis-server's. `unordered`: the same
 * events in any order (expirations by the periodic cycle race with lazy ones on both servers).
 */
async function compare(flags: string, steps: readonly Step[], unordered = false): Promise<string[]> {
  const ours = await eventsOf(servers().mini.port, flags, steps);
  const theirs = await eventsOf(servers().real.port, flags, steps);
  if (unordered) expect([...ours].sort()).toEqual([...theirs].sort());
  else expect(ours).toEqual(theirs);
  return ours;
}

/** Every command mini-redis has that changes or reads keys, including the cases that do nothing. */
const EVERY_COMMAND: readonly Step[] = [
  ['SET', 's', 'v'], ['SET', 's', 'w', 'NX'], ['SET', 's', 'w', 'XX', 'GET'], ['SET', 'missing', 'v', 'XX'], ['SET', 'e', 'v', 'EX', '100'],
  ['SET', 'g', 'v', 'GET'], ['SET', 'e', 'v2', 'KEEPTTL'], ['SETEX', 'se', '100', 'v'], ['PSETEX', 'pe', '100000', 'v'], ['GET', 's'], ['GET', 'nope'],
  ['MGET', 's', 'nope', 'e'], ['MSET', 'm1', '1', 'm2', '2'], ['GETDEL', 'm1'], ['GETDEL', 'nope'], ['APPEND', 'm2', 'x'], ['APPEND', 'a', 'x'],
  ['STRLEN', 's'], ['STRLEN', 'nope'], ['INCR', 'n'], ['DECR', 'n'], ['INCRBY', 'n', '5'], ['DECRBY', 'n', '2'], ['INCRBY', 's', '1'],
  ['INCRBYFLOAT', 'f', '1.5'], ['EXPIRE', 's', '100'], ['EXPIRE', 's', '100', 'NX'], ['PEXPIRE', 's', '200000', 'GT'], ['EXPIRE', 'nope', '1'],
  ['TTL', 's'], ['PTTL', 'nope'], ['PERSIST', 's'], ['PERSIST', 's'], ['PERSIST', 'nope'], ['EXPIRE', 'm2', '0'], ['EXPIRE', 'n', '-5'],
  ['LPUSH', 'l', 'a', 'b'], ['RPUSH', 'l', 'c'], ['LPOP', 'l'], ['RPOP', 'l', '0'], ['RPOP', 'l', '5'], ['LPOP', 'l'], ['LPOP', 'nope', '2'],
  ['LRANGE', 'nope', '0', '-1'], ['LLEN', 'nope'], ['LINDEX', 'nope', '0'], ['RPUSH', 'q', 'x', 'y'], ['BLPOP', 'nope', 'q', '0'],
  ['BRPOP', 'q', '0'], ['HSET', 'h', 'a', '1', 'b', '2'], ['HMSET', 'h', 'c', '3'], ['HGET', 'h', 'a'], ['HGET', 'nope', 'a'], ['HMGET', 'nope', 'a'],
  ['HGETALL', 'nope'], ['HEXISTS', 'nope', 'a'], ['HLEN', 'nope'], ['HKEYS', 'nope'], ['HVALS', 'nope'], ['HINCRBY', 'h', 'a', '1'],
  ['HINCRBY', 'h2', 'a', '1'], ['HDEL', 'h', 'zz'], ['HDEL', 'h', 'a', 'b'], ['HDEL', 'h', 'c'], ['HDEL', 'h2', 'a'], ['SADD', 'st', 'a', 'b'],
  ['SADD', 'st', 'a'], ['SREM', 'st', 'z'], ['SREM', 'st', 'a'], ['SMEMBERS', 'nope'], ['SISMEMBER', 'nope', 'a'], ['SCARD', 'nope'],
  ['SREM', 'st', 'b'], ['DEL', 'se', 'pe', 'nope'], ['EXISTS', 'e', 'nope'], ['TYPE', 'nope'], ['TYPE', 'e'], ['HSCAN', 'nope', '0'],
  ['SSCAN', 'nope', '0'], ['SELECT', '3'], ['SET', 'k3', 'v'], ['DEL', 'k3'], ['SELECT', '0'], ['FLUSHDB'], ['FLUSHALL'],
];

describe('keyspace notifications, as redis-server sends them', () => {
  for (const flags of ['KEA', 'KEAnm', 'Kg$', 'El', 'Kshx', 'KEm', 'En', 'KA', 'E', 'K']) {
    it(`notify-keyspace-events ${flags}: every command`, async () => {
      const events = await compare(flags, EVERY_COMMAND);
      if (flags === 'KEA') {
        expect(events).toContain('__keyspace@0__:s set');
        expect(events).toContain('__keyevent@0__:lpush l');
        expect(events).toContain('__keyevent@3__:del k3');
      }
    });
  }

  it('expired keys: lazily on access, by the periodic cycle, and under a new write', async () => {
    const events = await compare('KEA', [
      ['SET', 'lazy', 'v', 'PX', '30'], ['SET', 'cycle', 'v', 'PX', '100'], ['SET', 'overwritten', 'v', 'PX', '30'], ['SET', 'kept', 'v', 'PX', '300'],
      ['GET', 'lazy'],
      60, ['GET', 'lazy'], ['SET', 'overwritten', 'w'], ['SET', 'kept', 'w', 'KEEPTTL'], ['TTL', 'kept'],
      // Nobody touches `cycle` or `kept`: the periodic expiry (10 times a second) removes them,
      // `cycle` first (`kept` keeps its longer TTL through the KEEPTTL write).
      600,
    ], true);
    expect(events).toEqual(expect.arrayContaining(['__keyevent@0__:expired lazy', '__keyevent@0__:expired cycle', '__keyevent@0__:expired overwritten']));
  });

  it('a push that serves blocked clients: the push, then each pop, then the emptied key', async () => {
    const blocked: RawConnection[] = [];
    await compare('KEAn', [
      async (port) => {
        for (const c of blocked.splice(0)) c.close();
        for (let i = 0; i < 2; i++) {
          const c = await connectRaw(port);
          c.send('BLPOP', 'wait', '0');
          blocked.push(c);
        }
        // Both are blocked once the server answers a later command of theirs... they cannot
        // send one: give them a moment instead (generous; a local server blocks them at once).
        await new Promise((resolve) => setTimeout(resolve, 200));
      },
      ['RPUSH', 'wait', 'a', 'b', 'c'],
      async () => {
        for (const c of blocked) await c.reply();
      },
      ['LPOP', 'wait'],
    ]);
    for (const c of blocked) c.close();
  });
});
