// CONFIG SET takes effect, or is refused: what mini-redis accepts it does, checked against a
// private redis-server doing the same thing (requirepass and its AUTH / HELLO / RESET rules
// across connections, maxclients, timeout, tcp-keepalive), with redis-cli and the project's
// client on both runtimes; and what it cannot do it refuses with Redis's error texts.
// (Error texts and value checks of CONFIG SET itself: differential.test.ts.)

import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectRedis as connectNode } from '@curio-ts/backend-node';
import { connectRedis as connectCurio } from '@curio-ts/backend-curio';
import { RedisError } from '@curio-ts/client';
import type { RedisClient, RedisOptions } from '@curio-ts/client';
import { RespErrorReply } from '@curio-ts/proto-redis';
import type { RespFrame } from '@curio-ts/proto-redis';
import { connectRaw, exchange, redisCli, runProgram, useBothServers } from './helpers.js';
import type { RawConnection } from './helpers.js';

const servers = useBothServers();

/** Both servers' ports, mini-redis first. */
const ports = (): [number, number] => [servers().mini.port, servers().real.port];

/** A reply as comparable text: errors marked, maps as pairs, client ids hidden. */
function show(frame: RespFrame): string {
  const text = JSON.stringify(frame, (_key, value: unknown) => {
    if (value instanceof RespErrorReply) return `(error) ${value.text}`;
    if (value instanceof Map) return [...value].flat();
    return value;
  });
  return text.replace(/"id",\d+/g, '"id","N"');
}

/** Run `scenario` against both servers; their transcripts must be identical. Returns mini-redis's. */
async function sameOnBoth(scenario: (port: number, log: (entry: string) => void) => Promise<void>): Promise<string[]> {
  const [ours, theirs] = await Promise.all(
    ports().map(async (port) => {
      const transcript: string[] = [];
      await scenario(port, (entry) => transcript.push(entry));
      return transcript;
    }),
  );
  expect(ours).toEqual(theirs);
  return ours as string[];
}

/** Call and log `name: reply`. */
async function step(log: (entry: string) => void, name: string, c: RawConnection, ...args: string[]): Promise<void> {
  log(`${name} ${args.join(' ')} -> ${show(await c.call(...args))}`);
}

describe('requirepass', () => {
  it('is enforced as in Redis: NOAUTH, AUTH, HELLO AUTH, RESET, connections already open', async () => {
    const transcript = await sameOnBoth(async (port, log) => {
      const before = await connectRaw(port);
      const admin = await connectRaw(port);
      await step(log, 'before', before, 'PING');
      await step(log, 'admin', admin, 'CONFIG', 'SET', 'requirepass', 'secret');
      await step(log, 'admin', admin, 'GET', 'x');
      await step(log, 'before', before, 'GET', 'x'); // connected while there was no password
      const fresh = await connectRaw(port);
      for (const args of [
        ['GET', 'x'], ['NOSUCH', 'a'], ['GET'], ['PING'], ['ECHO', 'a'], ['CLIENT', 'ID'], ['CLIENT', 'NOSUCH'], ['SELECT', '1'],
        ['SUBSCRIBE', 'c'], ['CONFIG', 'GET', 'requirepass'], ['HELLO'], ['HELLO', '3'], ['HELLO', '3', 'SETNAME', 'n'], ['HELLO', '4'],
        ['HELLO', '3', 'SETNAME', 'a b'], ['AUTH', 'wrong'], ['AUTH', 'default', 'wrong'], ['AUTH', 'bob', 'secret'], ['AUTH', 'a', 'b', 'c'],
        ['HELLO', '3', 'AUTH', 'default', 'wrong'], ['GET', 'x'], ['HELLO', '2', 'AUTH', 'default', 'secret', 'SETNAME', 'me'], ['CLIENT', 'GETNAME'],
        ['GET', 'x'], ['AUTH', 'wrong'], ['GET', 'x'], ['RESET'], ['GET', 'x'], ['AUTH', 'secret'], ['GET', 'x'], ['AUTH', 'default', 'secret'],
      ]) {
        await step(log, 'fresh', fresh, ...args);
      }
      await step(log, 'before', before, 'RESET');
      await step(log, 'before', before, 'GET', 'x');
      const quitter = await connectRaw(port);
      await step(log, 'quitter', quitter, 'QUIT');
      await step(log, 'admin', admin, 'CONFIG', 'GET', 'requirepass');
      await step(log, 'admin', admin, 'CONFIG', 'SET', 'requirepass', '');
      await step(log, 'before', before, 'GET', 'x');
      const after = await connectRaw(port);
      for (const args of [['GET', 'x'], ['AUTH', 'x'], ['AUTH', 'default', 'anything'], ['AUTH', 'bob', 'x'], ['HELLO', '2', 'AUTH', 'default', 'anything']]) {
        await step(log, 'after', after, ...args);
      }
      for (const c of [before, admin, fresh, quitter, after]) c.close();
    });
    expect(transcript).toContain('fresh GET x -> "(error) NOAUTH Authentication required."');
    expect(transcript).toContain('before GET x -> null');
  });

  it('redis-cli and the project client (both runtimes) authenticate; without the password they get NOAUTH', async () => {
    const admin = await connectRaw(servers().mini.port);
    expect(await admin.call('CONFIG', 'SET', 'requirepass', 'cli-secret')).toBe('OK');
    try {
      expect(await redisCli(servers().mini.port, ['--no-auth-warning', '-a', 'cli-secret', 'SET', 'auth:k', 'v'])).toBe('OK\n');
      expect((await redisCli(servers().mini.port, ['GET', 'auth:k'])).trim()).toBe('NOAUTH Authentication required.');
      const wrong = await runProgram('redis-cli', ['-p', String(servers().mini.port), '--no-auth-warning', '-a', 'nope', 'GET', 'auth:k']);
      expect(wrong.stdout + wrong.stderr).toContain('WRONGPASS');

      const runtimes: readonly [string, (options: RedisOptions) => Promise<RedisClient>, <T>(body: () => Promise<T>) => Promise<T>][] = [
        ['node', connectNode, (body) => body()],
        ['curio', connectCurio, (body) => servers().mini.kernel.runTask(body)],
      ];
      for (const [runtime, connect, run] of runtimes) {
        const base: RedisOptions = { host: '127.0.0.1', port: servers().mini.port, reconnect: false };
        const value = await run(async () => {
          const client = await connect({ ...base, password: 'cli-secret' });
          try {
            return await client.get('auth:k');
          } finally {
            await client.close();
          }
        });
        expect(value, runtime).toBe('v');
        const wrongPassword = await run(() => connect({ ...base, password: 'nope' }).then(() => null, (error: unknown) => error));
        expect(wrongPassword, runtime).toBeInstanceOf(RedisError);
        expect((wrongPassword as RedisError).code, runtime).toBe('WRONGPASS');
        const withoutPassword = await run(async () => {
          const client = await connect(base).catch((error: unknown) => error);
          if (!(client instanceof Object) || !('get' in client)) return client;
          try {
            return await (client as RedisClient).get('auth:k').then(() => null, (error: unknown) => error);
          } finally {
            await (client as RedisClient).close();
          }
        });
        expect(withoutPassword, runtime).toBeInstanceOf(RedisError);
        expect((withoutPassword as RedisError).code, runtime).toBe('NOAUTH');
      }
    } finally {
      expect(await admin.call('CONFIG', 'SET', 'requirepass', '')).toBe('OK');
      admin.close();
    }
  });
});

describe('limits on clients', () => {
  it('maxclients: a connection beyond it gets "max number of clients reached" and is closed', async () => {
    await sameOnBoth(async (port, log) => {
      const admin = await connectRaw(port);
      await step(log, 'admin', admin, 'CONFIG', 'SET', 'maxclients', '1');
      await step(log, 'admin', admin, 'CONFIG', 'GET', 'maxclients');
      const refused = await exchange(port, Buffer.alloc(0), { idleMs: 5000 });
      log(`refused: ${JSON.stringify(refused.data.toString('latin1'))} closed=${refused.closedByServer}`);
      await step(log, 'admin', admin, 'CONFIG', 'SET', 'maxclients', '10000');
      const accepted = await connectRaw(port);
      await step(log, 'accepted', accepted, 'PING');
      accepted.close();
      admin.close();
    }).then((transcript) => expect(transcript).toContain('refused: "-ERR max number of clients reached\\r\\n" closed=true'));
  });

  it('timeout: idle clients are closed, blocked clients and subscribers are not', async () => {
    const transcript = await sameOnBoth(async (port, log) => {
      const admin = await connectRaw(port);
      await step(log, 'admin', admin, 'CONFIG', 'SET', 'timeout', '1');
      const idle = await connectRaw(port);
      const blocked = await connectRaw(port);
      const subscriber = await connectRaw(port);
      await step(log, 'idle', idle, 'PING');
      blocked.send('BLPOP', 'timeout:q', '0');
      await step(log, 'subscriber', subscriber, 'SUBSCRIBE', 'timeout:c');
      const closed = await Promise.race([idle.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 8000))]);
      log(`idle client closed: ${closed}`);
      const other = await connectRaw(port);
      await step(log, 'other', other, 'CONFIG', 'SET', 'timeout', '0');
      await step(log, 'other', other, 'PUBLISH', 'timeout:c', 'still here');
      log(`subscriber got ${show(await subscriber.reply())}`);
      await step(log, 'other', other, 'RPUSH', 'timeout:q', 'v');
      log(`blocked got ${show(await blocked.reply())}`);
      for (const c of [admin, idle, blocked, subscriber, other]) c.close();
    });
    expect(transcript).toContain('idle client closed: true');
    expect(transcript).toContain('blocked got ["timeout:q","v"]');
  }, 30_000);

  it('tcp-keepalive: new connections get TCP keepalive (default 300 s), none once it is 0', async () => {
    /** Whether the server's end of a fresh connection has its keepalive timer running. */
    const keepaliveOn = async (port: number): Promise<boolean> => {
      const socket = net.connect({ host: '127.0.0.1', port });
      await new Promise((resolve) => socket.once('connect', resolve));
      // The server sets the option once it serves the connection: after a reply it has.
      socket.write('PING\r\n');
      await new Promise((resolve) => socket.once('data', resolve));
      const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
      // /proc/net/tcp: "sl local rem st tx:rx tr:when ...", tr 2 = keepalive timer.
      const line = readFileSync('/proc/net/tcp', 'latin1')
        .split('\n')
        .find((l) => l.includes(`:${hex(port)} `) && l.includes(`:${hex(socket.localPort as number)} `) && l.trim().split(/\s+/)[1]?.endsWith(`:${hex(port)}`));
      socket.destroy();
      if (line === undefined) throw new Error('the connection is not in /proc/net/tcp');
      return (line.trim().split(/\s+/)[5] ?? '').startsWith('02:');
    };
    const transcript = await sameOnBoth(async (port, log) => {
      log(`default: ${await keepaliveOn(port)}`);
      const admin = await connectRaw(port);
      await step(log, 'admin', admin, 'CONFIG', 'SET', 'tcp-keepalive', '0');
      log(`after 0: ${await keepaliveOn(port)}`);
      await step(log, 'admin', admin, 'CONFIG', 'SET', 'tcp-keepalive', '300');
      admin.close();
    });
    expect(transcript).toEqual(expect.arrayContaining(['default: true', 'after 0: false']));
  });
});

describe('CLIENT LIST', () => {
  it('TYPE and ID select clients as in Redis (it used to accept TYPE and list everyone)', async () => {
    await sameOnBoth(async (port, log) => {
      const c = await connectRaw(port);
      const subscriber = await connectRaw(port);
      await subscriber.call('SUBSCRIBE', 'list:c');
      const id = String(await c.call('CLIENT', 'ID'));
      /** Which kinds of clients a listing shows: the flags of each line. */
      const kinds = (reply: RespFrame): string =>
        typeof reply === 'string' ? reply.split('\n').filter((line) => line !== '').map((line) => /flags=(\S+)/.exec(line)?.[1]).join(',') : show(reply);
      for (const args of [
        ['TYPE', 'pubsub'], ['TYPE', 'PUBSUB'], ['TYPE', 'master'], ['TYPE', 'replica'], ['TYPE', 'foo'], ['ID', 'x'], ['ID', '-5'], ['ID', id, id, '999999'],
        ['TYPE', 'normal', 'ID', id], ['ID'], ['TYPE'], ['FOO', 'bar'],
      ]) {
        log(`CLIENT LIST ${args.join(' ').replace(id, 'me').replace(id, 'me')} -> ${kinds(await c.call('CLIENT', 'LIST', ...args))}`);
      }
      const normal = String(await c.call('CLIENT', 'LIST', 'TYPE', 'normal'));
      log(`normal clients include me: ${normal.includes(`id=${id} `)}, subscribers: ${normal.includes('flags=P')}`);
      c.close();
      subscriber.close();
    });
  });
});

describe('what mini-redis cannot do', () => {
  it('parameters it cannot change accept only the value they have; others are unknown', async () => {
    const c = await connectRaw(servers().mini.port);
    const immutable = (name: string): string => `(error) ERR CONFIG SET failed (possibly related to argument '${name}') - can't set immutable config`;
    const unknown = (name: string): string => `(error) ERR Unknown option or number of arguments for CONFIG SET - '${name}'`;
    const cases: readonly (readonly [readonly string[], string])[] = [
      [['save', '900 1'], immutable('save')],
      [['appendonly', 'yes'], immutable('appendonly')],
      [['maxmemory', '100mb'], immutable('maxmemory')],
      [['maxmemory-policy', 'allkeys-lru'], immutable('maxmemory-policy')],
      [['proto-max-bulk-len', '1mb'], immutable('proto-max-bulk-len')],
      [['client-output-buffer-limit', 'pubsub 0 0 0'], immutable('client-output-buffer-limit')],
      [['port', '1'], immutable('port')],
      [['port', String(servers().mini.port)], 'OK'],
      [['save', ''], 'OK'],
      [['APPENDONLY', 'NO'], 'OK'],
      [['maxmemory', '0mb'], 'OK'],
      [['proto-max-bulk-len', '512mb'], 'OK'],
      [['client-output-buffer-limit', 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 0 0'], 'OK'],
      [['loglevel', 'debug'], unknown('loglevel')],
      [['bind', '0.0.0.0'], unknown('bind')],
    ];
    for (const [args, expected] of cases) expect(show(await c.call('CONFIG', 'SET', ...args)), args.join(' ')).toBe(JSON.stringify(expected));
    expect(await c.call('CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(await c.call('CONFIG', 'GET', 'maxclients')).toEqual(['maxclients', '10000']);
    expect(await c.call('CONFIG', 'GET', 'port')).toEqual(['port', String(servers().mini.port)]);
    expect(await c.call('CONFIG', 'GET', 'loglevel')).toEqual([]);
    c.close();
  });
});
