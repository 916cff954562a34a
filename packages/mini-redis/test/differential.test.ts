// mini-redis against the real thing, byte for byte: each script runs on a fresh connection to
// a private redis-server and to mini-redis (both flushed first), and the raw replies must be
// identical, in RESP2 and in RESP3. Replies that legitimately differ (client ids, hash-table
// order) are kept out of the scripts or normalised.

import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encode, exchange, useBothServers } from './helpers.js';

type Command = readonly (string | Uint8Array)[];

const servers = useBothServers();

/**
 * The raw replies to `script` on a fresh connection. RESP3 runs send it after a PING round trip,
 * RESP2 runs at once: so every script reaches mini-redis both while its client's task waits
 * in a read (served from the socket's read callback) and, usually, before (served by the task).
 */
async function run(port: number, script: readonly Command[], resp3: boolean): Promise<string> {
  await exchange(port, Buffer.concat([encode('FLUSHALL'), encode('QUIT')]));
  const commands = [...(resp3 ? [['HELLO', '3']] : []), ...script, ['QUIT']];
  const { data } = await exchange(port, Buffer.concat(commands.map((command) => encode(...command))), { pingFirst: resp3 });
  // Client ids differ between servers.
  return data.toString('latin1').replace(/(\$2\r\nid\r\n):\d+/g, '$1:N');
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

const scripts: Record<string, readonly Command[]> = {
  'SET options and their conflicts': [
    ['SET', 'k', 'v'], ['GET', 'k'], ['SET', 'k', 'v', 'NX'], ['SET', 'k', 'w', 'XX', 'GET'], ['GET', 'k'],
    ['SET', 'k', 'x', 'NX', 'GET'], ['SET', 'new', 'x', 'XX', 'GET'], ['SET', 'k', 'v', 'EX', '0'], ['SET', 'k', 'v', 'EX', '-1'],
    ['SET', 'k', 'v', 'EX', 'abc'], ['SET', 'k', 'v', 'KEEPTTL', 'EX', '5'], ['SET', 'k', 'v', 'EX', '5', 'PX', '5'],
    ['SET', 'k', 'v', 'NX', 'XX'], ['SET', 'k', 'v', 'FOO'], ['SET', 'k', 'v', 'EX'], ['SET', 'k'], ['SET', 'k', 'v', 'ex', '100', 'get'],
    ['TTL', 'k'], ['SET', 'k', 'v2', 'KEEPTTL'], ['TTL', 'k'], ['SET', 'k', 'v3'], ['TTL', 'k'], ['SET', 'k', 'v', 'EX', '9223372036854775807'],
    ['LPUSH', 'list', 'x'], ['SET', 'list', 'v', 'GET'], ['SET', 'list', 'v'], ['GET', 'list'],
  ],
  'INCR family: strict integers, 64-bit overflow, exact messages': [
    ['SET', 'n', '9223372036854775806'], ['INCR', 'n'], ['INCR', 'n'], ['DECRBY', 'n', '-9223372036854775808'], ['INCRBY', 'n', 'x'],
    ['SET', 'm', '-9223372036854775808'], ['DECR', 'm'], ['INCRBY', 'm', '-1'], ['SET', 's', 'abc'], ['INCR', 's'],
    ['SET', 'z', '01'], ['INCR', 'z'], ['SET', 'z', ' 1'], ['INCR', 'z'], ['SET', 'z', '-0'], ['INCR', 'z'], ['SET', 'z', '+1'], ['INCR', 'z'],
    ['INCRBY', 'q', '9223372036854775807'], ['INCR', 'q'], ['DECRBY', 'd', '5'], ['DECR', 'd'], ['INCRBY', 'e', '99999999999999999999'],
    ['INCRBY', 'big', '4611686018427387904'], ['INCRBY', 'big', '4611686018427387903'], ['GET', 'big'], ['LPUSH', 'l', 'x'], ['INCR', 'l'],
  ],
  'a counter written by INCR reads as its text everywhere (mini-redis keeps it as a number)': [
    ['INCR', 'c'], ['INCRBY', 'c', '41'], ['GET', 'c'], ['MGET', 'c', 'nope', 'c'], ['STRLEN', 'c'], ['TYPE', 'c'], ['SCAN', '0', 'TYPE', 'string'],
    ['APPEND', 'c', '0'], ['GET', 'c'], ['INCR', 'c'], ['DECRBY', 'c', '421'], ['GET', 'c'], ['DECR', 'c'], ['GET', 'c'],
    ['INCRBYFLOAT', 'c', '0.5'], ['INCR', 'c'], ['INCRBY', 'e', '-2147483649'], ['DECRBY', 'e', '9007199254740990'], ['GET', 'e'],
    ['INCR', 'e'], ['INCRBY', 'e', '9007199254740991'], ['GET', 'e'], ['INCRBY', 'e', '-9007199254740991'], ['GET', 'e'],
    ['INCRBY', 'b', '9007199254740991'], ['INCR', 'b'], ['GET', 'b'], ['INCRBY', 'b', '-2'], ['GET', 'b'], ['STRLEN', 'b'],
    ['INCR', 'g'], ['SET', 'g', 'v', 'GET'], ['GET', 'g'], ['INCR', 'h'], ['GETDEL', 'h'], ['EXISTS', 'h'], ['INCR', 'i'], ['LPUSH', 'i', 'x'],
    ['HSET', 'i2', 'f', '1'], ['INCR', 'i2'], ['INCR', 'j'], ['EXPIRE', 'j', '100'], ['INCR', 'j'], ['TTL', 'j'], ['GET', 'j'],
    ['MSET', 'k', '7'], ['INCR', 'k'], ['MGET', 'k', 'j', 'i'],
  ],
  'INCRBYFLOAT: long double results, printed as Redis prints them': [
    ['INCRBYFLOAT', 'f', '0.1'], ['INCRBYFLOAT', 'f', '0.2'], ['INCRBYFLOAT', 'f', '1e20'], ['INCRBYFLOAT', 'f', '-1e20'],
    ['INCRBYFLOAT', 'f', 'abc'], ['INCRBYFLOAT', 'f', 'inf'], ['INCRBYFLOAT', 'f', 'nan'], ['SET', 'g', '5.0e3'], ['INCRBYFLOAT', 'g', '2.0e2'],
    ['SET', 'h', '10.50'], ['INCRBYFLOAT', 'h', '0.1'], ['INCRBYFLOAT', 'h', '-5'], ['INCRBYFLOAT', 'i', '3.0e-5'], ['INCRBYFLOAT', 'i', '1.5'],
    ['INCRBYFLOAT', 'j', '-0.0000000000000000001'], ['INCRBYFLOAT', 'k', '1e400'], ['INCRBYFLOAT', 'k3', '.5'], ['INCRBYFLOAT', 'k3', '5.'],
    ['INCRBYFLOAT', 'k3', '+1'], ['INCRBYFLOAT', 'k3', ' 1'], ['INCRBYFLOAT', 'k4', '123456789.123456789'],
    ['INCRBYFLOAT', 'k4', '0.987654321987654321'], ['INCRBYFLOAT', 'k5', '1.7976931348623157e308'], ['INCRBYFLOAT', 'k5', '1e5000'],
    ['SET', 'str', 'x1'], ['INCRBYFLOAT', 'str', '1'], ['INCRBYFLOAT', 'k6', '-3'], ['INCRBYFLOAT', 'k6', '3'],
  ],
  'a pipeline that reaches commands run only by the client task (BLPOP, SUBSCRIBE) and goes on after them': [
    ['SET', 'a', '1'], ['RPUSH', 'l', 'x', 'y'], ['BLPOP', 'l', '0'], ['GET', 'a'], ['BRPOP', 'none', '0.01'], ['INCR', 'a'],
    ['BLPOP', 'l', '0'], ['EXISTS', 'l'], ['SUBSCRIBE', 'c1', 'c2'], ['PING'], ['PSUBSCRIBE', 'p*'], ['PING', 'x'],
    ['UNSUBSCRIBE', 'c1', 'c2'], ['PUNSUBSCRIBE', 'p*'], ['BLPOP', 'none', '0.01'], ['GET', 'a'], ['SUBSCRIBE', 'c3'], ['RESET'], ['GET', 'a'],
  ],
  'MSET, MGET, GETDEL, APPEND, STRLEN': [
    ['MSET', 'a', '1', 'b', '2'], ['MGET', 'a', 'b', 'c'], ['MSET', 'a'], ['MSET', 'a', '1', 'b'], ['GETDEL', 'a'], ['GETDEL', 'a'],
    ['APPEND', 'b', 'xyz'], ['STRLEN', 'b'], ['STRLEN', 'nope'], ['LPUSH', 'l', 'x'], ['GET', 'l'], ['GETDEL', 'l'], ['APPEND', 'l', 'x'],
    ['STRLEN', 'l'], ['MGET', 'l', 'b'], ['APPEND', 'new', 'abc'], ['GET', 'new'],
  ],
  'expiry: EXPIRE options, TTL, PTTL, PERSIST, SETEX, PSETEX': [
    ['SET', 'e', 'v'], ['EXPIRE', 'e', '100'], ['TTL', 'e'], ['PTTL', 'nope'], ['TTL', 'nope'], ['PERSIST', 'e'], ['TTL', 'e'], ['PERSIST', 'e'],
    ['EXPIRE', 'e', '100', 'NX'], ['EXPIRE', 'e', '50', 'NX'], ['EXPIRE', 'e', '50', 'GT'], ['EXPIRE', 'e', '500', 'GT'], ['EXPIRE', 'e', '5', 'LT'],
    ['EXPIRE', 'e', '5', 'XX'], ['EXPIRE', 'e', '5', 'NX', 'XX'], ['EXPIRE', 'e', '5', 'GT', 'LT'], ['EXPIRE', 'e', '5', 'FOO'], ['EXPIRE', 'e', 'abc'],
    ['EXPIRE', 'e', '99999999999999999'], ['PEXPIRE', 'e', '9223372036854775807'], ['EXPIRE', 'e', '-1'], ['EXISTS', 'e'], ['EXPIRE', 'nope', '10'],
    ['SETEX', 's', '0', 'v'], ['SETEX', 's', 'x', 'v'], ['SETEX', 's', '10', 'v'], ['TTL', 's'], ['PSETEX', 'p', '-5', 'v'], ['PSETEX', 'p', '5000', 'v'],
    ['SET', 'x', 'v', 'PX', '100000'], ['PERSIST', 'x'], ['TTL', 'x'], ['SET', 'gt', 'v'], ['EXPIRE', 'gt', '10', 'GT'], ['EXPIRE', 'gt', '10', 'LT'],
    ['PEXPIRE', 'gt', '0'], ['EXISTS', 'gt'],
  ],
  'lists: pushes, pops with counts, ranges, indexes, types': [
    ['LPUSH', 'l', 'a', 'b', 'c'], ['RPUSH', 'l', 'd'], ['LRANGE', 'l', '0', '-1'], ['LRANGE', 'l', '-2', '10'], ['LRANGE', 'l', '5', '1'],
    ['LRANGE', 'l', '-100', '100'], ['LRANGE', 'l', 'x', '1'], ['LLEN', 'l'], ['LINDEX', 'l', '0'], ['LINDEX', 'l', '-1'], ['LINDEX', 'l', '9'],
    ['LINDEX', 'l', 'x'], ['LINDEX', 'nope', 'x'], ['LPOP', 'l'], ['RPOP', 'l'], ['LPOP', 'l', '0'], ['LPOP', 'l', '-1'], ['LPOP', 'l', 'x'],
    ['LPOP', 'l', '5'], ['LPOP', 'l'], ['LPOP', 'l', '2'], ['RPOP', 'nope', '3'], ['RPOP', 'nope'], ['LPOP', 'l', '1', '2'], ['EXISTS', 'l'],
    ['SET', 's', 'v'], ['LPUSH', 's', 'x'], ['LPOP', 's'], ['LLEN', 's'], ['LRANGE', 's', '0', '1'], ['BLPOP', 's', '0'], ['RPUSH', 'r', '1', '2', '3'],
    ['BLPOP', 'empty', 'r', '0'], ['BRPOP', 'r', '1'], ['BLPOP', 'r', '-1'], ['BLPOP', 'r', 'abc'], ['BLPOP', 'r'], ['LLEN', 'r'],
  ],
  'hashes': [
    ['HSET', 'h', 'a', '1', 'b', '2'], ['HSET', 'h', 'a', '3'], ['HSET', 'h', 'a'], ['HGET', 'h', 'a'], ['HGET', 'h', 'z'], ['HMGET', 'h', 'a', 'z', 'b'],
    ['HGETALL', 'h'], ['HEXISTS', 'h', 'a'], ['HEXISTS', 'h', 'z'], ['HLEN', 'h'], ['HKEYS', 'h'], ['HVALS', 'h'], ['HINCRBY', 'h', 'a', '5'],
    ['HINCRBY', 'h', 'c', 'x'], ['HSET', 'h', 'd', 'x'], ['HINCRBY', 'h', 'd', '1'], ['HINCRBY', 'h', 'e', '9223372036854775807'],
    ['HINCRBY', 'h', 'e', '1'], ['HDEL', 'h', 'a', 'b', 'z'], ['HGETALL', 'h'], ['HDEL', 'h', 'c', 'd', 'e'], ['EXISTS', 'h'], ['HGETALL', 'nope'],
    ['HKEYS', 'nope'], ['HMGET', 'nope', 'a'], ['HMSET', 'm', 'a', '1'], ['HMSET', 'm', 'a'], ['SET', 's', 'v'], ['HGET', 's', 'a'], ['HSET', 's', 'a', 'b'],
    ['HINCRBY', 'new', 'f', '7'], ['HGETALL', 'new'],
  ],
  'sets': [
    ['SADD', 's', 'a', 'b', 'a'], ['SADD', 's', 'c'], ['SCARD', 's'], ['SISMEMBER', 's', 'a'], ['SISMEMBER', 's', 'z'], ['SREM', 's', 'a', 'z'],
    ['SMEMBERS', 'one'], ['SADD', 'one', 'x'], ['SMEMBERS', 'one'], ['SREM', 's', 'b', 'c'], ['EXISTS', 's'], ['SMEMBERS', 'nope'],
    ['SET', 'x', '1'], ['SADD', 'x', 'a'], ['SCARD', 'x'], ['SISMEMBER', 'x', 'a'],
  ],
  'keys, types, SELECT, FLUSHDB, SCAN arguments': [
    ['SET', 'a', '1'], ['SET', 'b', '2'], ['LPUSH', 'c', '1'], ['DEL', 'a', 'b', 'z'], ['EXISTS', 'c', 'c', 'z'], ['TYPE', 'c'], ['TYPE', 'z'],
    ['HSET', 'h', 'f', 'v'], ['TYPE', 'h'], ['SADD', 's', 'm'], ['TYPE', 's'], ['SET', 'str', 'x'], ['TYPE', 'str'], ['DBSIZE'],
    ['KEYS', '[a-c]'], ['KEYS', 's?r'], ['KEYS', 'nomatch*'], ['SCAN', '0', 'MATCH', 'st*', 'COUNT', '100'], ['SCAN', '0', 'TYPE', 'hash', 'COUNT', '100'],
    ['FLUSHDB', 'x'], ['FLUSHDB', 'ASYNC'], ['DBSIZE'], ['FLUSHALL', 'SYNC', 'x'], ['SELECT', '3'], ['SET', 'k', 'v'], ['DBSIZE'], ['SELECT', '0'],
    ['DBSIZE'], ['GET', 'k'], ['SELECT', '16'], ['SELECT', '-1'], ['SELECT', 'x'], ['SCAN', 'x'], ['SCAN', '0', 'COUNT', '0'], ['SCAN', '0', 'FOO', '1'],
    ['SCAN', '0', 'COUNT'], ['SCAN', '0', 'COUNT', 'x'], ['FLUSHALL'], ['SCAN', '0'], ['KEYS', '*'],
  ],
  'connection: PING, ECHO, HELLO errors, CLIENT, AUTH, unknown commands, arity': [
    ['PING'], ['PING', 'hi'], ['PING', 'a', 'b'], ['ECHO', 'x'], ['ECHO'], ['HELLO', '4'], ['HELLO', 'x'], ['HELLO', '3', 'FOO'],
    ['HELLO', '2', 'AUTH', 'default'], ['HELLO', '2', 'AUTH', 'nobody', 'pw'], ['CLIENT', 'SETNAME', 'a b'], ['CLIENT', 'SETNAME', 'me'],
    ['CLIENT', 'GETNAME'], ['CLIENT', 'SETNAME', ''], ['CLIENT', 'GETNAME'], ['CLIENT', 'FOO'], ['CLIENT'], ['CLIENT', 'SETNAME'],
    ['AUTH', 'x'], ['AUTH', 'foo', 'bar'], ['AUTH', 'default', 'bar'], ['FOO'], ['foo', 'a', 'b', 'c'], ['GET'], ['get', 'a', 'b'],
    ['CONFIG', 'GET', 'save'], ['CONFIG', 'GET', 'appendonly'], ['CONFIG', 'GET', 'nothing-matches'], ['CONFIG', 'FOO'], ['COMMAND', 'FOO'],
  ],
  // Each script leaves the configuration as it found it: the servers are shared by the scripts.
  'CONFIG GET, and CONFIG SET: order of checks, value checks, all or nothing, canonical values': [
    ...['save', 'appendonly', 'databases', 'maxmemory', 'maxmemory-policy', 'timeout', 'tcp-keepalive', 'hz', 'notify-keyspace-events', 'requirepass', 'proto-max-bulk-len']
      .map((name): Command => ['CONFIG', 'GET', name]),
    ['CONFIG', 'GET', 'no-such-*'],
    ['CONFIG', 'SET', 'hz'], ['CONFIG', 'SET', 'hz', '10', 'maxclients'], ['CONFIG', 'SET', 'nosuchparam', '1'], ['CONFIG', 'SET', 'hz', 'abc', 'nosuch', '1'],
    ['CONFIG', 'SET', 'hz', '10', 'HZ', '11'], ['CONFIG', 'SET', 'databases', '16'], ['CONFIG', 'SET', 'hz', 'abc', 'databases', '16'],
    ['CONFIG', 'SET', 'hz', '+5'], ['CONFIG', 'SET', 'hz', '-1'], ['CONFIG', 'SET', 'hz', '0x10'], ['CONFIG', 'SET', 'hz', '99999999999'],
    ['CONFIG', 'SET', 'HZ', '1000'], ['CONFIG', 'GET', 'hz'], ['CONFIG', 'SET', 'hz', '0'], ['CONFIG', 'GET', 'hz'], ['CONFIG', 'SET', 'hz', '10'],
    ['CONFIG', 'SET', 'maxclients', '0'], ['CONFIG', 'SET', 'timeout', '1k'], ['CONFIG', 'SET', 'tcp-keepalive', '-5'],
    ['CONFIG', 'SET', 'hz', '11', 'maxclients', '0'], ['CONFIG', 'GET', 'hz'],
    ['CONFIG', 'SET', 'timeout', '7', 'tcp-keepalive', '60'], ['CONFIG', 'GET', 'timeout'], ['CONFIG', 'GET', 'tcp-keepalive'],
    ['CONFIG', 'SET', 'timeout', '0', 'tcp-keepalive', '300'],
    ...['Q', 'KEA', 'AKE', 'Kg', 'xE', 'mK', 'nE', 'Kg$lshzxetd', 'AKEmn', 'EKnm$', 'K', 'A', '']
      .flatMap((flags): Command[] => [['CONFIG', 'SET', 'notify-keyspace-events', flags], ['CONFIG', 'GET', 'notify-keyspace-events']]),
    ['CONFIG', 'SET', 'save', ''], ['CONFIG', 'SET', 'appendonly', 'no'], ['CONFIG', 'SET', 'maxmemory', '0'], ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction'],
    ['CONFIG', 'SET', 'requirepass', ''], ['CONFIG', 'GET', 'requirepass'],
  ],
  'pub/sub in RESP2: confirmations, subscribed-mode restrictions, RESET': [
    ['SUBSCRIBE', 'a', 'b'], ['GET', 'x'], ['PING'], ['PING', 'm'], ['PSUBSCRIBE', 'p*'], ['UNSUBSCRIBE', 'a'], ['UNSUBSCRIBE'], ['PUNSUBSCRIBE'],
    ['UNSUBSCRIBE'], ['PUNSUBSCRIBE'], ['PUBLISH', 'a', 'm'], ['SUBSCRIBE', 'c'], ['RESET'], ['GET', 'x'], ['PUBLISH', 'nobody', 'm'],
  ],
  'binary keys and values: every byte, CR and LF inside': [
    ['SET', ALL_BYTES, ALL_BYTES], ['GET', ALL_BYTES], ['STRLEN', ALL_BYTES], ['APPEND', ALL_BYTES, bytes(13, 10, 0)], ['GET', ALL_BYTES],
    ['HSET', bytes(0, 255), bytes(13, 10), bytes(10, 13)], ['HGETALL', bytes(0, 255)], ['SADD', bytes(128), bytes(0), bytes(255)],
    ['SISMEMBER', bytes(128), bytes(255)], ['RPUSH', bytes(10), bytes(13, 10, 13, 10)], ['LRANGE', bytes(10), '0', '-1'],
    ['KEYS', bytes(0x5b, 0x80, 0x2d, 0x81, 0x5d)], ['EXISTS', ALL_BYTES, bytes(10), bytes(11)], ['TYPE', bytes(0, 255)],
    ['ECHO', bytes(0, 1, 2, 255)], ['PUBLISH', ALL_BYTES, ALL_BYTES],
  ],
};

const resp3Scripts: Record<string, readonly Command[]> = {
  'RESP3: maps, sets, nulls, push frames, publishing to oneself': [
    ['SUBSCRIBE', 'a'], ['GET', 'x'], ['PING'], ['PUBLISH', 'a', 'hello'], ['PSUBSCRIBE', '*'], ['PUBLISH', 'a', 'hi'], ['UNSUBSCRIBE'],
    ['PUNSUBSCRIBE'], ['UNSUBSCRIBE'], ['HGETALL', 'nope'], ['SET', 'k', 'v'], ['MGET', 'k', 'z'], ['LPOP', 'nope', '2'], ['LPOP', 'nope'],
    ['SMEMBERS', 'nope'], ['HSET', 'h', 'f', 'v'], ['HGETALL', 'h'], ['SADD', 's', 'm'], ['SMEMBERS', 's'], ['INCRBYFLOAT', 'f', '1.5'],
    ['CONFIG', 'GET', 'save'], ['CONFIG', 'GET', 'appendonly'], ['BLPOP', 'l', '0.01'], ['HELLO'], ['HELLO', '2'], ['HGETALL', 'h'],
    ['HELLO', '3', 'SETNAME', 'named'], ['CLIENT', 'GETNAME'], ['RESET'], ['HGETALL', 'h'],
  ],
};

/** KEYS with each pattern against single keys: Redis's glob rules, quirks included. */
const GLOB_KEYS = ['', 'a', 'ab', 'abc', 'a*c', 'a?c', 'hello', 'hallo', 'h\\llo', 'x[y]z', ']', '^', 'b-', 'aaaaaaaaab', '\xff\x80'];
const GLOB_PATTERNS = [
  '*', '**', 'a*', '*c', 'a*c', 'a?c', '?', '??', 'h[ae]llo', 'h[^e]llo', 'h[a-b]llo', 'h[b-a]llo', 'h\\*llo', 'a\\*c',
  'x\\[y\\]z', '[]]', '[^]', '[', 'ab[', '[a-', '*a*a*a*a*b', '\\', 'a\\', '[\\]]', '[x\\-z]', '*[\x80-\xff]*', '',
];
const globScripts: Record<string, readonly Command[]> = Object.fromEntries(
  GLOB_PATTERNS.map((pattern) => [
    `KEYS ${JSON.stringify(pattern)}`,
    GLOB_KEYS.flatMap((key): Command[] => [
      ['SET', Buffer.from(key, 'latin1'), '1'],
      ['KEYS', Buffer.from(pattern, 'latin1')],
      ['DEL', Buffer.from(key, 'latin1')],
    ]),
  ]),
);

/** Random INCRBYFLOAT chains (a fixed seed): long double sums printed the Redis way. */
function floatChains(seed: number, chains: number): readonly Command[] {
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const number = (): string => {
    const sign = next() < 0.3 ? '-' : '';
    const digits = String(Math.floor(next() * 10 ** (1 + Math.floor(next() * 12))));
    const point = Math.floor(next() * (digits.length + 1));
    const exponent = next() < 0.2 ? `e${Math.floor(next() * 40) - 20}` : '';
    return `${sign}${digits.slice(0, point)}.${digits.slice(point)}${exponent}`;
  };
  const commands: Command[] = [];
  for (let chain = 0; chain < chains; chain++) for (let step = 0; step < 5; step++) commands.push(['INCRBYFLOAT', `f${chain}`, number()]);
  return commands;
}

describe('byte-for-byte against redis-server', () => {
  for (const [name, script] of Object.entries(globScripts)) {
    it(name, async () => {
      expect(await run(servers().mini.port, script, false)).toBe(await run(servers().real.port, script, false));
    });
  }

  it('300 random INCRBYFLOAT sums', async () => {
    const script = floatChains(7, 60);
    expect(await run(servers().mini.port, script, false)).toBe(await run(servers().real.port, script, false));
  });

  for (const [name, script] of Object.entries(scripts)) {
    it(`${name} (RESP2)`, async () => {
      expect(await run(servers().mini.port, script, false)).toBe(await run(servers().real.port, script, false));
    });
    it(`${name} (RESP3)`, async () => {
      expect(await run(servers().mini.port, script, true)).toBe(await run(servers().real.port, script, true));
    });
  }
  for (const [name, script] of Object.entries(resp3Scripts)) {
    it(name, async () => {
      expect(await run(servers().mini.port, script, true)).toBe(await run(servers().real.port, script, true));
    });
  }

  it('QUIT in the middle of a pipeline: the commands after it are not run', async () => {
    const pipeline = Buffer.concat([encode('SET', 'q', '1'), encode('QUIT'), encode('SET', 'q', '2'), encode('INCR', 'q')]);
    const check = Buffer.concat([encode('GET', 'q'), encode('QUIT')]);
    const outcome = async (port: number): Promise<string> => {
      await exchange(port, Buffer.concat([encode('FLUSHALL'), encode('QUIT')]));
      const first = await exchange(port, pipeline, { pingFirst: true });
      const second = await exchange(port, check);
      return first.data.toString('latin1') + second.data.toString('latin1');
    };
    expect(await outcome(servers().mini.port)).toBe('+OK\r\n+OK\r\n$1\r\n1\r\n+OK\r\n');
    expect(await outcome(servers().real.port)).toBe('+OK\r\n+OK\r\n$1\r\n1\r\n+OK\r\n');
  });

  it('large replies to a client that reads only later: every byte, in order, also once the socket stops taking them', async () => {
    // 240 KiB values, one command per write, 10 ms apart, while the client reads nothing: each
    // reply fits one write, until the socket stops taking them at once (loopback buffers hold
    // some 10 MiB); then reading resumes.
    const value = Buffer.alloc(240 * 1024, 'v');
    const writes = [encode('SET', 'big', value)];
    for (let i = 0; i < 100; i++) writes.push(i % 4 === 3 ? encode('APPEND', 'big', String(i % 10)) : encode('GET', 'big'));
    writes.push(encode('QUIT'));
    const replies = async (port: number): Promise<Buffer> => {
      await exchange(port, Buffer.concat([encode('FLUSHALL'), encode('QUIT')]));
      const socket = net.connect({ host: '127.0.0.1', port });
      const parts: Buffer[] = [];
      const closed = new Promise<void>((resolve, reject) => {
        socket.on('data', (chunk: Buffer) => parts.push(chunk));
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      socket.pause();
      for (const write of writes) {
        socket.write(write);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      socket.resume();
      await closed;
      return Buffer.concat(parts);
    };
    const ours = await replies(servers().mini.port);
    const theirs = await replies(servers().real.port);
    expect(ours.length).toBeGreaterThan(75 * 240 * 1024);
    expect(ours.equals(theirs)).toBe(true);
  });

  it('inline commands and their quoting', async () => {
    const payload = Buffer.from('PING\r\nSET a "hello world"\r\nGET a\r\nECHO "x\\x41y\\n"\r\n\r\n   \r\nGET \'a\'\r\nECHO \'it\\\'s\'\r\nQUIT\r\n');
    const [ours, theirs] = await Promise.all([exchange(servers().mini.port, payload), exchange(servers().real.port, payload)]);
    expect(ours.data.toString('latin1')).toBe(theirs.data.toString('latin1'));
  });

  it('protocol errors: the error reply, then the connection closes', async () => {
    for (const bad of ['*abc\r\n', '*1\r\n$x\r\n', 'ECHO "unbalanced\r\n', 'ECHO "a"b\r\n', 'SET a 1\r\n*2\r\n$3\r\nGET\r\n$x\r\n']) {
      // At once, and after a PING (served from the read callback of a client already waiting).
      for (const pingFirst of [false, true]) {
        const [ours, theirs] = await Promise.all([
          exchange(servers().mini.port, Buffer.from(bad), { pingFirst }),
          exchange(servers().real.port, Buffer.from(bad), { pingFirst }),
        ]);
        expect(ours.data.toString('latin1'), bad).toBe(theirs.data.toString('latin1'));
        expect(ours.closedByServer, bad).toBe(true);
      }
    }
  });
});
