// The client and server connection state machines: golden bytes, an in-memory client/server
// pair, pub/sub in both protocol versions, transactions, MONITOR, discards, the handshake and
// its RESP2 fallback, end of stream, and the server's command parser under hostile input.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteWriter,
  NEED_DATA,
  encodeCommand,
  writeCommand,
  RedisClientProtocol,
  RedisServerProtocol,
  RemoteProtocolError,
  RespErrorReply,
  RespPush,
  LocalProtocolError,
} from '@curio-ts/proto-redis';
import type { RedisClientEvent, RespAttributes, RespFrame, RespValue, RespVersion } from '@curio-ts/proto-redis';
import { commands, events, thrown } from './helpers.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('client connection: framing and matching', () => {
  it('encodes commands as RESP arrays of blob strings (golden bytes)', () => {
    const client = new RedisClientProtocol();
    client.send(['SET', 'key', 'välue', 42, 7n, new Uint8Array([0, 255])]);
    client.send(['GET', 'key']);
    expect(text(client.dataToSend() as Uint8Array)).toBe(
      '*6\r\n$3\r\nSET\r\n$3\r\nkey\r\n$6\r\nvälue\r\n$2\r\n42\r\n$1\r\n7\r\n$2\r\n\u0000\ufffd\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n',
    );
    expect(client.dataToSend()).toBeNull();
    expect(client.pendingCount).toBe(2);
  });

  it('matches pipelined replies to commands in order, errors as values', () => {
    const client = new RedisClientProtocol();
    const ids = [client.send(['GET', 'a']), client.send(['INCR', 'b']), client.send(['HGET', 'c', 'd']), client.send(['GET', 'x'], { bytes: true })];
    client.receiveData(bytes('$1\r\n1\r\n:2\r\n-WRONGTYPE Operation against a key\r\n$2\r\nhi\r\n'));
    const got = events(client);
    expect(got.map((e) => (e.type === 'reply' ? e.id : -1))).toEqual(ids);
    expect(got[0]).toMatchObject({ value: '1' });
    expect(got[1]).toMatchObject({ value: 2 });
    expect((got[2] as { value: RespErrorReply }).value.code).toBe('WRONGTYPE');
    expect((got[3] as { value: Uint8Array }).value).toEqual(bytes('hi'));
    expect(client.pendingCount).toBe(0);
  });

  it('a discarded command never shifts the replies of the others', () => {
    const client = new RedisClientProtocol();
    const ids = Array.from({ length: 6 }, (_, i) => client.send(['GET', `k${i}`]));
    expect(client.discard(ids[1] as number)).toBe(true);
    expect(client.discard(ids[4] as number)).toBe(true);
    client.receiveData(bytes('$2\r\nv0\r\n$2\r\nv1\r\n$2\r\nv2\r\n'));
    client.receiveData(bytes('$2\r\nv3\r\n$2\r\nv4\r\n$2\r\nv5\r\n'));
    expect(events(client)).toEqual([
      { type: 'reply', id: ids[0], value: 'v0', attributes: null },
      { type: 'reply', id: ids[2], value: 'v2', attributes: null },
      { type: 'reply', id: ids[3], value: 'v3', attributes: null },
      { type: 'reply', id: ids[5], value: 'v5', attributes: null },
    ]);
    expect(client.discard(ids[0] as number)).toBe(false);
  });

  it('end of stream: the replies before it, then a closed event listing the unanswered commands, repeated', () => {
    const client = new RedisClientProtocol();
    const a = client.send(['GET', 'a']);
    const b = client.send(['GET', 'b']);
    const c = client.send(['GET', 'c']);
    client.discard(c);
    client.receiveData(bytes('$1\r\nA\r\n'));
    client.receiveData(new Uint8Array(0));
    expect(events(client)).toEqual([
      { type: 'reply', id: a, value: 'A', attributes: null },
      { type: 'closed', unanswered: [b] },
    ]);
    expect(client.state).toBe('closed');
    expect(client.nextEvent()).toEqual({ type: 'closed', unanswered: [b] });
    client.receiveData(new Uint8Array(0)); // a second end is nothing new
    expect(() => client.receiveData(bytes('+OK\r\n'))).toThrowError(expect.objectContaining({ code: 'ERR_AFTER_EOF' }));
    expect(() => client.send(['PING'])).toThrowError(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });

  it('a stream cut inside a reply throws ERR_TRUNCATED; the unanswered commands stay listed', () => {
    const client = new RedisClientProtocol();
    const a = client.send(['GET', 'a']);
    const b = client.send(['GET', 'b']);
    const c = client.send(['GET', 'c']);
    client.receiveData(bytes('$1\r\nA\r\n$5\r\nhel'));
    client.receiveData(new Uint8Array(0));
    expect(client.nextEvent()).toEqual({ type: 'reply', id: a, value: 'A', attributes: null });
    const error = thrown(() => client.nextEvent());
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect(error).toMatchObject({ code: 'ERR_TRUNCATED' });
    expect(client.state).toBe('error');
    expect(client.unansweredIds()).toEqual([b, c]);
    expect(() => client.send(['PING'])).toThrow(LocalProtocolError);
  });

  it('a reply with no command waiting is a protocol error', () => {
    const client = new RedisClientProtocol();
    client.receiveData(bytes('+OK\r\n'));
    expect(() => client.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_UNEXPECTED_REPLY' }));
    expect(client.state).toBe('error');
  });

  it('after a protocol error: the same error from nextEvent, drain and receiveData; send refused', () => {
    const client = new RedisClientProtocol();
    const id = client.send(['PING']);
    client.receiveData(bytes('HTTP/1.1 400 Bad Request\r\n'));
    const error = thrown(() => client.nextEvent());
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect(() => client.nextEvent()).toThrow(error as Error);
    expect(() => client.drain(() => undefined, () => undefined)).toThrow(error as Error);
    expect(() => client.receiveData(bytes('+PONG\r\n'))).toThrow(error as Error);
    expect(() => client.receiveData(new Uint8Array(0))).toThrow(error as Error);
    const refused = thrown(() => client.send(['PING']));
    expect(refused).toBeInstanceOf(LocalProtocolError);
    expect(refused).toMatchObject({ code: 'ERR_CLOSED', cause: error });
    expect(client.unansweredIds()).toEqual([id]);
  });

  it('drain delivers the replies before a protocol error, then throws it', () => {
    const client = new RedisClientProtocol();
    const a = client.send(['GET', 'a']);
    const b = client.send(['GET', 'b']);
    client.receiveData(bytes('$1\r\nA\r\n$x\r\n'));
    const replies: number[] = [];
    expect(() => client.drain((id) => replies.push(id), () => undefined)).toThrowError(expect.objectContaining({ code: 'ERR_RESP_HEADER' }));
    expect(replies).toEqual([a]);
    expect(client.unansweredIds()).toEqual([b]);
  });
});

describe('client connection: sendKey', () => {
  it('writes the bytes send([name, key]) writes, for every kind of argument, and matches replies in order', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.integer(), fc.bigInt(), fc.uint8Array({ maxLength: 80 }), fc.string({ minLength: 60, maxLength: 200 })),
        fc.boolean(),
        (key, asBytes) => {
          const viaKey = new RedisClientProtocol();
          const viaArray = new RedisClientProtocol();
          const options = asBytes ? { bytes: true } : undefined;
          expect(viaKey.sendKey('GET', key, options)).toBe(viaArray.send(['GET', key], options));
          expect(viaKey.dataToSend()).toEqual(viaArray.dataToSend());
          viaKey.receiveData(bytes('$2\r\nhi\r\n'));
          const event = viaKey.nextEvent() as RedisClientEvent & { type: 'reply' };
          expect(event.id).toBe(1);
          expect(event.value).toEqual(asBytes ? bytes('hi') : 'hi');
        },
      ),
    );
  });

  it('refuses an argument it cannot send and leaves the output untouched', () => {
    const client = new RedisClientProtocol();
    client.sendKey('GET', 'a');
    expect(() => client.sendKey('GET', Number.NaN)).toThrow(LocalProtocolError);
    expect(() => client.sendKey('GET', null as unknown as string)).toThrow(LocalProtocolError);
    expect(client.pendingCount).toBe(1);
    expect(text(client.dataToSend() as Uint8Array)).toBe('*2\r\n$3\r\nGET\r\n$1\r\na\r\n');
  });

  it('takes the general path for a command that changes the connection (SUBSCRIBE)', () => {
    const client = new RedisClientProtocol();
    client.sendKey('SUBSCRIBE', 'news');
    client.receiveData(bytes('*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n'));
    expect(client.nextEvent()).toMatchObject({ type: 'reply', id: 1 });
    expect([...client.subscribed.channels]).toEqual(['news']);
  });
});

describe('client connection: RESP3 attributes', () => {
  const popularity = '|1\r\n+key-popularity\r\n*2\r\n$1\r\nk\r\n,0.25\r\n';
  const popular: RespAttributes = new Map<RespValue, RespValue>([['key-popularity', ['k', 0.25]]]);

  it('the value after an attribute is the reply (GET, INCR, HGETALL, bytes), the attributes come apart', () => {
    const client = new RedisClientProtocol();
    const ids = [
      client.send(['GET', 'k']),
      client.send(['INCR', 'n']),
      client.send(['HGETALL', 'h']),
      client.send(['GET', 'k'], { bytes: true }),
      client.send(['GET', 'plain']),
    ];
    client.receiveData(bytes(`${popularity}$5\r\nvalue\r\n${popularity}:6\r\n${popularity}%1\r\n$1\r\nf\r\n$1\r\nx\r\n${popularity}$2\r\nhi\r\n+no attributes\r\n`));
    expect(events(client)).toEqual([
      { type: 'reply', id: ids[0], value: 'value', attributes: popular },
      { type: 'reply', id: ids[1], value: 6, attributes: popular },
      { type: 'reply', id: ids[2], value: new Map([['f', 'x']]), attributes: popular },
      // Blob strings of the whole frame come as bytes when bytes were asked for, attributes too.
      { type: 'reply', id: ids[3], value: bytes('hi'), attributes: new Map<RespValue, RespValue>([['key-popularity', [bytes('k'), 0.25]]]) },
      { type: 'reply', id: ids[4], value: 'no attributes', attributes: null },
    ]);
  });

  it('an error reply after an attribute is an error reply', () => {
    const client = new RedisClientProtocol();
    const set = client.send(['SET', 'k', 'v', 'XX', 'NX']);
    const hello = client.send(['HELLO', '9']);
    client.receiveData(bytes(`${popularity}-ERR syntax error\r\n${popularity}!21\r\nNOPROTO unsupported!!\r\n`));
    const [first, second] = events(client);
    expect(first).toMatchObject({ type: 'reply', id: set, attributes: popular });
    expect((first as { value: RespErrorReply }).value).toBeInstanceOf(RespErrorReply);
    expect((first as { value: RespErrorReply }).value.code).toBe('ERR');
    expect(second).toMatchObject({ type: 'reply', id: hello, attributes: popular });
    expect((second as { value: RespErrorReply }).value.code).toBe('NOPROTO');
  });

  it('drain hands the attributes as the third argument; attributes inside a reply are removed from its value', () => {
    const client = new RedisClientProtocol();
    client.send(['LRANGE', 'l', '0', '-1']);
    client.send(['GET', 'k']);
    client.receiveData(bytes(`*2\r\n|1\r\n+ttl\r\n:9\r\n$1\r\na\r\n$1\r\nb\r\n${popularity}|1\r\n+more\r\n#t\r\n$1\r\nv\r\n`));
    const replies: [number, RespValue, RespAttributes | null][] = [];
    client.drain(
      (id, value, attributes) => replies.push([id, value, attributes]),
      (event) => expect.fail(`unexpected ${event.type}`),
    );
    expect(replies).toEqual([
      [1, ['a', 'b'], null],
      [2, 'v', new Map<RespValue, RespValue>([...popular, ['more', true]])],
    ]);
  });

  it('the handshake and pushes carrying attributes', () => {
    const client = new RedisClientProtocol();
    client.handshake({});
    client.receiveData(bytes(`${popularity}%1\r\n$5\r\nproto\r\n:3\r\n`));
    expect(events(client)).toMatchObject([{ type: 'ready', protocol: 3 }]);
    const get = client.send(['GET', 'k']);
    client.receiveData(bytes(`${popularity}>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n*1\r\n|1\r\n+a\r\n:1\r\n$1\r\nm\r\n$1\r\nv\r\n`));
    const [push, reply] = events(client);
    expect((push as { push: RespPush }).push).toEqual(new RespPush('message', ['message', 'c', ['m']], popular));
    expect(reply).toEqual({ type: 'reply', id: get, value: 'v', attributes: null });
  });

  it('malformed attributes are a RemoteProtocolError', () => {
    const client = new RedisClientProtocol();
    const id = client.send(['SCAN', '0']);
    client.receiveData(bytes('*?\r\n$1\r\na\r\n|1\r\n+a\r\n:1\r\n.\r\n'));
    const error = thrown(() => client.nextEvent());
    expect(error).toMatchObject({ code: 'ERR_RESP_ATTRIBUTE' });
    expect(client.unansweredIds()).toEqual([id]);
    expect(() => client.send(['PING'])).toThrow(LocalProtocolError);
    expect(() => client.receiveData(bytes('+OK\r\n'))).toThrow(error as Error);
  });
});

describe('client connection: limits', () => {
  it('a streamed part over maxBulkLength fails the waiting command at its header, before its data', () => {
    const client = new RedisClientProtocol({ limits: { maxBulkLength: 1024 * 1024 } });
    const id = client.send(['GET', 'k']);
    client.receiveData(bytes(`$?\r\n;${32 * 1024 * 1024}\r\n`));
    expect(() => client.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_RESP_BULK_TOO_LONG' }));
    expect(client.unansweredIds()).toEqual([id]);
  });
});

describe('client connection: pub/sub', () => {
  it('RESP2: confirmations complete the command, messages become pushes', () => {
    const client = new RedisClientProtocol();
    const sub = client.send(['SUBSCRIBE', 'a', 'b']);
    const psub = client.send(['PSUBSCRIBE', 'n*']);
    client.receiveData(
      bytes(
        '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n' +
          '*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n' +
          '*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n' +
          '*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n' +
          '*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$1\r\n!\r\n',
      ),
    );
    const got = events(client);
    expect(got.map((e) => e.type)).toEqual(['push', 'reply', 'reply', 'push']);
    expect((got[0] as { push: RespPush }).push).toEqual(new RespPush('message', ['message', 'a', 'hi']));
    expect(got[1]).toMatchObject({ id: sub, value: [['subscribe', 'a', 1], ['subscribe', 'b', 2]] });
    expect(got[2]).toMatchObject({ id: psub });
    expect((got[3] as { push: RespPush }).push.kind).toBe('pmessage');
    expect(client.state).toBe('subscribed');
    expect([...client.subscribed.channels]).toEqual(['a', 'b']);
    // UNSUBSCRIBE with no channel names: one confirmation per channel subscribed at that time.
    const unsub = client.send(['UNSUBSCRIBE']);
    client.receiveData(bytes('*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n'));
    expect(events(client)).toMatchObject([{ type: 'reply', id: unsub }]);
    expect(client.state).toBe('subscribed'); // the pattern remains
    const punsub = client.send(['PUNSUBSCRIBE', 'n*']);
    client.receiveData(bytes('*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n'));
    expect(events(client)).toMatchObject([{ type: 'reply', id: punsub }]);
    expect(client.state).toBe('normal');
  });

  it('RESP3: pushes interleave with ordinary replies', () => {
    const client = new RedisClientProtocol();
    const hello = client.send(['HELLO', '3']);
    client.receiveData(bytes('%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n'));
    expect(events(client)).toMatchObject([{ type: 'reply', id: hello }]);
    expect(client.protocol).toBe(3);
    const sub = client.send(['SUBSCRIBE', 'c']);
    const get = client.send(['GET', 'k']);
    client.receiveData(bytes('>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n$1\r\nv\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n'));
    const got = events(client);
    expect(got.map((e) => e.type)).toEqual(['reply', 'push', 'reply', 'push']);
    expect(got[0]).toMatchObject({ id: sub });
    expect(got[2]).toMatchObject({ id: get, value: 'v' });
    expect((got[3] as { push: RespPush }).push.kind).toBe('invalidate');
  });

  it('a discarded subscribe still updates the subscription state', () => {
    const client = new RedisClientProtocol();
    const sub = client.send(['SUBSCRIBE', 'x']);
    client.discard(sub);
    client.receiveData(bytes('*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n'));
    expect(events(client)).toEqual([]);
    expect(client.state).toBe('subscribed');
  });
});

describe('client connection: transactions, MONITOR, RESET', () => {
  it('tracks MULTI/EXEC and delivers QUEUED and the EXEC array in order', () => {
    const client = new RedisClientProtocol();
    const ids = [client.send(['MULTI']), client.send(['INCR', 'n']), client.send(['GET', 'n'])];
    expect(client.inTransaction).toBe(true);
    ids.push(client.send(['EXEC']));
    expect(client.inTransaction).toBe(false);
    client.receiveData(bytes('+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\n1\r\n'));
    expect(events(client).map((e) => (e as { value: unknown }).value)).toEqual(['OK', 'QUEUED', 'QUEUED', [1, '1']]);
    // A WATCH conflict: EXEC returns null.
    client.send(['MULTI']);
    client.send(['EXEC']);
    client.receiveData(bytes('+OK\r\n*-1\r\n'));
    expect(events(client).map((e) => (e as { value: unknown }).value)).toEqual(['OK', null]);
  });

  it('after MONITOR every frame is a monitor line, until RESET', () => {
    const client = new RedisClientProtocol();
    const monitor = client.send(['MONITOR']);
    client.receiveData(bytes('+OK\r\n+1700000000.1 [0 127.0.0.1:1] "set" "k" "v"\r\n'));
    const got = events(client);
    expect(got[0]).toMatchObject({ type: 'reply', id: monitor, value: 'OK' });
    expect((got[1] as { push: RespPush }).push.data[1]).toMatch(/"set" "k" "v"/);
    expect(client.state).toBe('monitoring');
    const reset = client.send(['RESET']);
    client.receiveData(bytes('+1700000000.2 [0 127.0.0.1:1] "get" "k"\r\n+RESET\r\n'));
    expect(events(client).map((e) => e.type)).toEqual(['push', 'reply']);
    expect(client.state).toBe('normal');
    expect(client.pendingCount).toBe(0);
    expect(reset).toBeGreaterThan(monitor);
  });
});

describe('client connection: handshake', () => {
  /** Run the client's handshake against our own server role, answering like a given server. */
  function handshakeAgainst(answer: (cmd: string[], server: RedisServerProtocol) => void, options: Parameters<RedisClientProtocol['handshake']>[0]): RedisClientEvent[] {
    const client = new RedisClientProtocol();
    const server = new RedisServerProtocol();
    client.handshake(options);
    const seen: RedisClientEvent[] = [];
    for (let round = 0; round < 10; round++) {
      const out = client.dataToSend();
      if (out === null) break;
      server.receiveData(out);
      for (const cmd of commands(server)) {
        if (cmd.type === 'command') answer(cmd.args.map(text), server);
      }
      client.receiveData(server.dataToSend() as Uint8Array);
      seen.push(...events(client));
    }
    return seen;
  }

  it('HELLO 3 with AUTH and SETNAME, then SELECT', () => {
    const sent: string[][] = [];
    const got = handshakeAgainst(
      (cmd, server) => {
        sent.push(cmd);
        if (cmd[0] === 'HELLO') {
          server.setProtocol(3);
          server.sendReply(new Map<string, number | string>([['server', 'redis'], ['proto', 3]]));
        } else server.sendStatus('OK');
      },
      { username: 'u', password: 'p', clientName: 'me', db: 2 },
    );
    expect(sent).toEqual([
      ['HELLO', '3', 'AUTH', 'u', 'p', 'SETNAME', 'me'],
      ['SELECT', '2'],
    ]);
    expect(got).toMatchObject([{ type: 'ready', protocol: 3 }]);
  });

  it('falls back to AUTH and CLIENT SETNAME when the server has no HELLO', () => {
    const sent: string[][] = [];
    const got = handshakeAgainst(
      (cmd, server) => {
        sent.push(cmd);
        if (cmd[0] === 'HELLO') server.sendError("ERR unknown command 'HELLO'");
        else server.sendStatus('OK');
      },
      { password: 'secret', clientName: 'me' },
    );
    expect(sent).toEqual([['HELLO', '3', 'AUTH', 'default', 'secret', 'SETNAME', 'me'], ['AUTH', 'secret'], ['CLIENT', 'SETNAME', 'me']]);
    expect(got).toMatchObject([{ type: 'ready', protocol: 2 }]);
  });

  it('a wrong password fails the handshake with the server error', () => {
    const got = handshakeAgainst((_cmd, server) => server.sendError('WRONGPASS invalid username-password pair'), { password: 'bad' });
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'handshake-failed' });
    expect((got[0] as { error: RespErrorReply }).error.code).toBe('WRONGPASS');
  });
});

describe('server connection', () => {
  it('parses multibulk and inline commands, binary safe, split anywhere', () => {
    const input = bytes('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\u0000b\r\nping\r\n\r\nset "a b" \'c\\\'d\' "\\x41\\n"\n');
    for (let cut = 0; cut <= input.length; cut++) {
      const server = new RedisServerProtocol();
      if (cut > 0) server.receiveData(input.subarray(0, cut));
      const got = commands(server);
      if (cut < input.length) server.receiveData(input.subarray(cut));
      got.push(...commands(server));
      expect(got.map((c) => (c.type === 'command' ? [c.name, ...c.args.map(text)] : c.type))).toEqual([
        ['SET', 'SET', 'k', 'a\u0000b'],
        ['PING', 'ping'],
        ['SET', 'set', 'a b', "c'd", 'A\n'],
      ]);
    }
  });

  it.each([2, 3] as RespVersion[])('encodes replies for RESP%i', (version) => {
    const server = new RedisServerProtocol();
    server.setProtocol(version);
    server.sendReply(new Map([['k', 1.5]]));
    server.sendReply(null);
    server.sendReply(true);
    server.sendPush('message', ['ch', 'hi']);
    const out = text(server.dataToSend() as Uint8Array);
    expect(out).toBe(
      version === 3
        ? '%1\r\n$1\r\nk\r\n,1.5\r\n_\r\n#t\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n'
        : '*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n',
    );
  });

  it.each([
    ['*2\r\n:1\r\n', 'ERR_EXPECTED_BULK'],
    ['*1\r\n$-5\r\n', 'ERR_BULK_LENGTH'],
    ['*1\r\n$3\r\nabcd\r\n', 'ERR_CRLF'],
    ['*x\r\n', 'ERR_PROTOCOL'],
    ['*99999999999\r\n', 'ERR_TOO_MANY_ARGS'],
    ['*9999999999999\r\n', 'ERR_PROTOCOL'],
    ['set "unterminated\r\n', 'ERR_INLINE'],
  ])('rejects %j with %s', (input, code) => {
    const server = new RedisServerProtocol();
    server.receiveData(bytes(input));
    expect(() => commands(server)).toThrowError(expect.objectContaining({ code }));
    expect(() => server.nextEvent()).toThrow(RemoteProtocolError);
  });

  it('enforces its limits', () => {
    const server = new RedisServerProtocol({ maxArgs: 2, maxBulkLength: 4, maxInlineLength: 8 });
    server.receiveData(bytes('*3\r\n'));
    expect(() => server.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_TOO_MANY_ARGS' }));
    const s2 = new RedisServerProtocol({ maxBulkLength: 4 });
    s2.receiveData(bytes('*1\r\n$5\r\n'));
    expect(() => s2.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_BULK_LENGTH' }));
    const s3 = new RedisServerProtocol({ maxInlineLength: 8 });
    s3.receiveData(bytes('aaaaaaaaaaaa'));
    expect(() => s3.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_INLINE_TOO_LONG' }));
  });

  it('end of stream: eof after complete commands, an error in the middle of one', () => {
    const server = new RedisServerProtocol();
    server.receiveData(bytes('PING\r\n'));
    server.receiveData(new Uint8Array(0));
    expect(commands(server)).toMatchObject([{ type: 'command', name: 'PING' }, { type: 'closed', unanswered: 1 }]);
    const cut = new RedisServerProtocol();
    cut.receiveData(bytes('*2\r\n$3\r\nGET\r\n'));
    cut.receiveData(new Uint8Array(0));
    expect(() => commands(cut)).toThrowError(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
  });

  it('never crashes or loops on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (data, step) => {
        const server = new RedisServerProtocol({ maxArgs: 64, maxBulkLength: 1 << 16, maxInlineLength: 256 });
        try {
          for (let i = 0; i < data.length; i += step) {
            server.receiveData(data.subarray(i, i + step));
            let guard = 0;
            for (let e = server.nextEvent(); e !== NEED_DATA; e = server.nextEvent()) if (++guard > 1000) throw new Error('no progress');
          }
        } catch (error) {
          if (!(error instanceof RemoteProtocolError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('client connection: hostile input under the contract', () => {
  /** What a client makes of a stream: event summaries, then 'closed' or the error code. */
  function outcome(stream: Uint8Array, cuts: number[], useDrain: boolean): string[] {
    const client = new RedisClientProtocol({ limits: { maxBulkLength: 1 << 12, maxAggregateLength: 64, maxNesting: 8 } });
    for (let i = 0; i < 6; i++) client.send(i % 3 === 0 ? ['SUBSCRIBE', `c${i}`] : ['GET', `k${i}`]);
    const out: string[] = [];
    const seen = (e: RedisClientEvent): void => {
      out.push(e.type === 'reply' ? `reply ${e.id}` : e.type === 'push' ? `push ${e.push.kind}` : e.type);
    };
    const bounds = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
    let from = 0;
    try {
      for (const to of [...bounds, stream.length, -1]) {
        if (to === -1) client.receiveData(new Uint8Array(0));
        else if (to > from) {
          client.receiveData(stream.slice(from, to));
          from = to;
        } else continue;
        if (useDrain) {
          client.drain((id) => out.push(`reply ${id}`), seen);
          if (out.at(-1) === 'closed') break;
        } else {
          let closed = false;
          for (let e = client.nextEvent(); e !== NEED_DATA; e = client.nextEvent()) {
            seen(e);
            if (e.type === 'closed') {
              closed = true;
              break;
            }
          }
          if (closed) break;
        }
      }
      expect(client.state).toBe('closed');
      return out;
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) throw error;
      expect(client.state).toBe('error');
      expect(() => client.nextEvent()).toThrow(error);
      expect(() => client.receiveData(bytes('+OK\r\n'))).toThrow(error);
      expect(() => client.send(['PING'])).toThrowError(expect.objectContaining({ code: 'ERR_CLOSED' }));
      return [...out, error.code];
    }
  }

  it('random and mutated replies: the same events, then the same end or error code, however cut, by nextEvent or drain', () => {
    const valid = fc
      .array(fc.constantFrom('+OK\r\n', '$3\r\nabc\r\n', ':7\r\n', '*3\r\n$9\r\nsubscribe\r\n$2\r\nc0\r\n:1\r\n', '>3\r\n$7\r\nmessage\r\n$2\r\nc0\r\n$1\r\nm\r\n', '-ERR x\r\n', '_\r\n', '%1\r\n+a\r\n:1\r\n'), { maxLength: 10 })
      .map((frames) => bytes(frames.join('')));
    const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([stream, flips]) => {
      const copy = stream.slice();
      for (const [at, value] of flips) if (copy.length > 0) copy[at % copy.length] = value;
      return copy;
    });
    fc.assert(
      fc.property(fc.oneof(valid, mutated, fc.uint8Array({ maxLength: 120 })), fc.array(fc.nat(), { maxLength: 10 }), (stream, cuts) => {
        const whole = outcome(stream, [], false);
        expect(outcome(stream, cuts, false)).toEqual(whole);
        expect(outcome(stream, cuts, true)).toEqual(whole);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('client and server in memory', () => {
  it('round-trips 10 000 pipelined commands with random values', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 50 }), { minLength: 1, maxLength: 200 }), (values) => {
        const client = new RedisClientProtocol();
        const server = new RedisServerProtocol();
        const ids = values.map((v) => client.send(['ECHO', v]));
        server.receiveData(client.dataToSend() as Uint8Array);
        for (const cmd of commands(server)) if (cmd.type === 'command') server.sendReply(text(cmd.args[1] as Uint8Array));
        client.receiveData(server.dataToSend() as Uint8Array);
        const got = events(client);
        expect(got.map((e) => (e as { id: number }).id)).toEqual(ids);
        expect(got.map((e) => (e as { value: RespFrame }).value)).toEqual(values.map((v) => new TextDecoder().decode(new TextEncoder().encode(v))));
      }),
      { numRuns: 50 },
    );
  });
});

describe('encoding failures and buffer reuse', () => {
  it('a command with a bad argument throws and leaves nothing of itself in the stream', () => {
    const client = new RedisClientProtocol();
    const before = client.send(['GET', 'a']);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, {} as unknown as string, undefined as unknown as string]) {
      expect(() => client.send(['SET', 'k', 'x'.repeat(100), bad])).toThrow(LocalProtocolError);
    }
    const after = client.send(['GET', 'b']);
    expect(after).toBe(before + 1);
    expect(text(client.dataToSend() as Uint8Array)).toBe('*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n');
  });

  it('a reply that cannot be encoded throws and leaves nothing of itself in the stream', () => {
    const server = new RedisServerProtocol();
    server.sendReply('first');
    const bad = ['ok', 1, Symbol('not a RESP value')] as unknown as RespFrame;
    expect(() => server.sendReply(bad)).toThrow();
    server.sendReply(2);
    const expected = new RedisServerProtocol();
    expected.sendReply('first');
    expected.sendReply(2);
    expect(text(server.dataToSend() as Uint8Array)).toBe(text(expected.dataToSend() as Uint8Array));
  });

  it('bursts share slabs without ever touching bytes already taken', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 3000 })), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 60 }), (bursts) => {
        const out = new ByteWriter();
        const taken: Uint8Array[] = [];
        for (const burst of bursts) {
          for (const arg of burst) writeArgsOf(out, arg);
          taken.push(out.take());
        }
        // Every view still holds exactly what was written into it.
        bursts.forEach((burst, i) => {
          const expected = Buffer.concat(burst.map((arg) => encodeCommand(['X', arg])));
          expect(Buffer.from(taken[i] as Uint8Array).equals(expected)).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('reserve: a burst announced is encoded into one buffer of its size, with the same bytes; a short guess still grows', () => {
    const reserved = new RedisClientProtocol();
    const plain = new RedisClientProtocol();
    const one = encodeCommand(['GET', 'bench:key']).length;
    reserved.reserve(5000 * one + 64); // writes reserve a few bytes more than they write
    for (let i = 0; i < 5000; i++) {
      reserved.sendKey('GET', 'bench:key');
      plain.sendKey('GET', 'bench:key');
    }
    const data = reserved.dataToSend() as Uint8Array;
    expect(data.buffer.byteLength).toBe(5000 * one + 64);
    expect(data.length).toBe(5000 * one);
    expect(Buffer.from(data).equals(Buffer.from(plain.dataToSend() as Uint8Array))).toBe(true);
    // Under-reserved (keys longer than guessed): grows as without the hint, bytes unchanged.
    const short = new RedisClientProtocol();
    short.reserve(10);
    const keys = Array.from({ length: 300 }, (_, i) => `key:${i}:${'k'.repeat(i % 50)}`);
    for (const key of keys) short.sendKey('GET', key);
    short.reserve(0);
    expect(Buffer.from(short.dataToSend() as Uint8Array).equals(Buffer.concat(keys.map((key) => encodeCommand(['GET', key]))))).toBe(true);
  });

  it('truncate rejects lengths outside the current burst', () => {
    const out = new ByteWriter();
    out.ascii('abc');
    expect(() => out.truncate(4)).toThrow(RangeError);
    expect(() => out.truncate(-1)).toThrow(RangeError);
    out.truncate(1);
    expect(text(out.take())).toBe('a');
  });
});

function writeArgsOf(out: ByteWriter, arg: string | Uint8Array): void {
  writeCommand(out, ['X', arg]);
}
