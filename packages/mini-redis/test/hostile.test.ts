// Hostile input over raw sockets: random bytes, commands cut at every offset, oversized
// lengths and lines, clients that vanish mid-command. Each must end with an error reply and a
// connection the server closed (or, for a vanished client, nothing at all), never a crash: the
// server keeps serving everyone else, and reports no handler error.

import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectRaw, encode, exchange, useTestServer } from './helpers.js';

const server = useTestServer();

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The server still answers a well-behaved client. */
async function stillServing(): Promise<void> {
  const c = await connectRaw(server().port);
  expect(await c.call('PING')).toBe('PONG');
  expect(await c.call('SET', 'hostile:alive', 'yes')).toBe('OK');
  c.close();
}

describe('hostile input', () => {
  it('random bytes: an error reply, then the server closes the connection', async () => {
    const next = random(20240611);
    for (let round = 0; round < 200; round++) {
      const length = 1 + Math.floor(next() * 300);
      const payload = Buffer.alloc(length);
      for (let i = 0; i < length; i++) payload[i] = Math.floor(next() * 256);
      // Start with a non-blank byte that is not a newline, and end mid-line, so that there is
      // always something the server must answer.
      if (payload[0] === 0x20 || payload[0] === 0x0a || payload[0] === 0x0d || payload[0] === 0x09) payload[0] = 0x21;
      if (payload[length - 1] === 0x0a) payload[length - 1] = 0x41;
      const { data, closedByServer } = await exchange(server().port, payload, { halfClose: true });
      expect(data.toString('latin1'), `round ${round}`).toMatch(/^-ERR /);
      expect(closedByServer, `round ${round}`).toBe(true);
    }
    await stillServing();
  });

  it('a command cut at every offset: "-ERR Protocol error: ..." and a closed connection', async () => {
    const command = encode('SET', 'hostile:cut', 'some value\r\nwith CRLF');
    for (let cut = 1; cut < command.length; cut++) {
      const { data, closedByServer } = await exchange(server().port, command.subarray(0, cut), { halfClose: true });
      expect(data.toString('latin1'), `cut at ${cut}`).toMatch(/^-ERR Protocol error: /);
      expect(closedByServer, `cut at ${cut}`).toBe(true);
    }
    await stillServing();
  });

  it('a complete command followed by a truncated one: the first is answered, then the error', async () => {
    const payload = Buffer.concat([encode('INCR', 'hostile:n'), encode('GET', 'hostile:n').subarray(0, 9)]);
    const { data, closedByServer } = await exchange(server().port, payload, { halfClose: true });
    expect(data.toString('latin1')).toMatch(/^:\d+\r\n-ERR Protocol error: /);
    expect(closedByServer).toBe(true);
  });

  it('oversized lengths, bad lengths and endless inline lines are refused at once', async () => {
    const cases = [
      '*1\r\n$536870913\r\n', // over the 512 MiB bulk limit
      '*2147483648\r\n', // too many arguments
      '*1\r\n$-3\r\n',
      '*x\r\n',
      '*1\r\n:1\r\n',
      `GET ${'x'.repeat(70_000)}`, // an inline line over 64 KiB with no end
    ];
    for (const bad of cases) {
      // No half-close: the server must decide on its own.
      const { data, closedByServer } = await exchange(server().port, Buffer.from(bad));
      expect(data.toString('latin1'), bad.slice(0, 30)).toMatch(/^-ERR Protocol error: /);
      expect(closedByServer, bad.slice(0, 30)).toBe(true);
    }
    await stillServing();
  });

  it('clients that vanish mid-command, mid-reply or while blocked leave the server serving', async () => {
    const sockets: net.Socket[] = [];
    const big = Buffer.concat([encode('SET', 'hostile:big', 'x'.repeat(1 << 20)), encode('GET', 'hostile:big')]);
    for (let i = 0; i < 30; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: server().port });
      socket.on('error', () => {});
      sockets.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
      if (i % 3 === 0) socket.write('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nonly a part');
      else if (i % 3 === 1) socket.write(Buffer.concat([big, big, big])); // replies it will never read
      else socket.write(encode('BLPOP', 'hostile:never', '0'));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const socket of sockets) socket.resetAndDestroy();
    await stillServing();
    const c = await connectRaw(server().port);
    expect(await c.call('RPUSH', 'hostile:never', 'x')).toBe(1);
    expect(await c.call('LLEN', 'hostile:never')).toBe(1);
    c.close();
  });
});
