// BLPOP / BRPOP: timeouts, wake-ups, first-come-first-served among blocked clients, commands
// sent while blocked, and clean cancellation when a client disconnects or the server stops.
// Each blocked client is a raw connection, so the order in which clients block is exact (the
// test waits for the server's own blocked_clients count before the next one blocks).

import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { NEED_DATA, RespDecoder } from '@curio-ts/proto-redis';
import type { RespFrame } from '@curio-ts/proto-redis';
import { connectRaw, encode, exchange, infoField, redisCli, startTestServer, until, useTestServer } from './helpers.js';
import type { RawConnection } from './helpers.js';

const server = useTestServer();

/** Wait until the server at `port` (default: this file's) has `n` clients blocked. */
async function blockedCount(n: number, port = server().port): Promise<void> {
  await until(async () => Number(await infoField(port, 'blocked_clients')) === n, `${n} blocked clients`);
}

describe('BLPOP and BRPOP', () => {
  it('time out with a null array: *-1 in RESP2, _ in RESP3', async () => {
    const resp2 = await exchange(server().port, Buffer.concat([encode('BLPOP', 'timeout:q', '0.05'), encode('QUIT')]));
    expect(resp2.data.toString()).toBe('*-1\r\n+OK\r\n');
    const resp3 = await exchange(server().port, Buffer.concat([encode('HELLO', '3'), encode('BRPOP', 'timeout:q', '0.05'), encode('QUIT')]));
    expect(resp3.data.toString()).toMatch(/_\r\n\+OK\r\n$/);
  });

  it('pop at once from the first non-empty key, from the head (BLPOP) or the tail (BRPOP)', async () => {
    const c = await connectRaw(server().port);
    expect(await c.call('RPUSH', 'now:b', '1', '2', '3')).toBe(3);
    expect(await c.call('BLPOP', 'now:a', 'now:b', '0')).toEqual(['now:b', '1']);
    expect(await c.call('BRPOP', 'now:a', 'now:b', '0')).toEqual(['now:b', '3']);
    expect(await c.call('BRPOP', 'now:b', '0')).toEqual(['now:b', '2']);
    expect(await c.call('EXISTS', 'now:b')).toBe(0);
    c.close();
  });

  it('wake with the pushed element; earlier pipelined replies arrive first, later commands run after', async () => {
    const a = await connectRaw(server().port);
    const b = await connectRaw(server().port);
    a.send('SET', 'wake:x', '1');
    a.send('BLPOP', 'wake:q', '5');
    a.send('GET', 'wake:x');
    expect(await a.reply()).toBe('OK');
    await blockedCount(1);
    a.send('PING'); // arrives while blocked: runs after the BLPOP
    expect(await b.call('LPUSH', 'wake:q', 'v')).toBe(1);
    expect(await a.reply()).toEqual(['wake:q', 'v']);
    expect(await a.reply()).toBe('1');
    expect(await a.reply()).toBe('PONG');
    expect(await b.call('EXISTS', 'wake:q')).toBe(0);
    a.close();
    b.close();
  });

  it('serve blocked clients first come, first served, one element each', async () => {
    const clients: RawConnection[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await connectRaw(server().port);
      // The third client waits on two keys, the fourth pops from the tail.
      if (i === 2) c.send('BLPOP', 'fifo:other', 'fifo:q', '0');
      else if (i === 3) c.send('BRPOP', 'fifo:q', '0');
      else c.send('BLPOP', 'fifo:q', '0');
      await blockedCount(i + 1);
      clients.push(c);
    }
    const pusher = await connectRaw(server().port);
    expect(await pusher.call('RPUSH', 'fifo:q', 'a', 'b', 'c')).toBe(3);
    expect(await clients[0]?.reply()).toEqual(['fifo:q', 'a']);
    expect(await clients[1]?.reply()).toEqual(['fifo:q', 'b']);
    expect(await clients[2]?.reply()).toEqual(['fifo:q', 'c']);
    await blockedCount(1); // the BRPOP still waits: the list ran out
    expect(await pusher.call('LPUSH', 'fifo:q', 'd', 'e')).toBe(2);
    expect(await clients[3]?.reply()).toEqual(['fifo:q', 'd']);
    expect(await pusher.call('LRANGE', 'fifo:q', '0', '-1')).toEqual(['e']);
    for (const c of [...clients, pusher]) c.close();
  });

  it('a client that disconnects while blocked is unblocked; nothing is popped for it', async () => {
    const gone = await connectRaw(server().port);
    gone.send('BLPOP', 'gone:q', '0');
    await blockedCount(1);
    gone.close();
    await blockedCount(0);
    const c = await connectRaw(server().port);
    expect(await c.call('RPUSH', 'gone:q', 'kept')).toBe(1);
    expect(await c.call('LRANGE', 'gone:q', '0', '-1')).toEqual(['kept']);
    c.close();
  });

  it('many clients blocking and timing out concurrently leave no waiter behind', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => connectRaw(server().port)));
    const replies = clients.map((c, i) => c.call('BLPOP', `many:${i % 5}`, i % 2 === 0 ? '0.05' : '0.1'));
    expect(await Promise.all(replies)).toEqual(clients.map(() => null));
    await blockedCount(0);
    const c = await connectRaw(server().port);
    expect(await c.call('RPUSH', 'many:0', 'x')).toBe(1);
    expect(await c.call('LLEN', 'many:0')).toBe(1);
    for (const client of [...clients, c]) client.close();
  });

  it('stopping the server cancels blocked clients and closes their connections', async () => {
    const own = await startTestServer();
    const c = await connectRaw(own.port);
    c.send('BLPOP', 'stop:q', '0');
    await blockedCount(1, own.port);
    await own.stop();
    await c.closed;
    expect(own.clientErrors).toEqual([]);
  });

  it('a blocked client flooding commands: read up to a bound, others served at once, every command run once unblocked', async () => {
    const own = await startTestServer();
    const flooder = net.connect({ host: '127.0.0.1', port: own.port });
    const replies: RespFrame[] = [];
    const decoder = new RespDecoder();
    flooder.on('data', (chunk: Buffer) => {
      decoder.feed(chunk);
      for (let frame = decoder.next(); frame !== NEED_DATA; frame = decoder.next()) replies.push(frame);
    });
    await new Promise((resolve) => flooder.once('connect', resolve));
    flooder.write(encode('BLPOP', 'flood:q', '0'));
    await blockedCount(1, own.port);

    // Another client pings throughout; each PING must be answered promptly (a liveness bound,
    // generous for a loaded machine: redis-server answers in well under 100 ms).
    const pinger = await connectRaw(own.port);
    let slowestPingMs = 0;
    let pinging = true;
    const pings = (async () => {
      while (pinging) {
        const start = performance.now();
        expect(await pinger.call('PING')).toBe('PONG');
        slowestPingMs = Math.max(slowestPingMs, performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    // 32 MiB of RPUSH commands, 1 KiB values, sent while blocked.
    const value = 'v'.repeat(1024);
    const batch = Buffer.concat(Array.from({ length: 1024 }, () => encode('RPUSH', 'flood:list', value)));
    const batches = Math.ceil((32 << 20) / batch.length);
    for (let i = 0; i < batches; i++) flooder.write(batch);
    // Let the server take what it will while the client stays blocked.
    let pending = -1;
    for (let still = 0; still < 10 && flooder.writableLength > 0; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = flooder.writableLength === pending ? still + 1 : 0;
      pending = flooder.writableLength;
    }
    expect(slowestPingMs).toBeLessThan(1000);
    // What the server holds for the blocked client stays bounded (CLIENT LIST's qbuf).
    const list = await redisCli(own.port, ['CLIENT', 'LIST']);
    const blockedLine = list.split('\n').find((line) => / flags=b /.test(line)) ?? '';
    const held = Number(/ qbuf=(\d+) /.exec(blockedLine)?.[1]);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(2 << 20);

    expect(await pinger.call('RPUSH', 'flood:q', 'go')).toBe(1);
    const commands = batches * 1024;
    await until(async () => replies.length === 1 + commands, 'every reply of the blocked client', 6000);
    pinging = false;
    await pings;
    expect(replies[0]).toEqual(['flood:q', 'go']);
    expect(replies[commands]).toBe(commands);
    expect(await pinger.call('LLEN', 'flood:list')).toBe(commands);
    expect(slowestPingMs).toBeLessThan(1000);
    flooder.destroy();
    pinger.close();
    await own.stop();
    expect(own.clientErrors).toEqual([]);
  }, 120_000);
});
