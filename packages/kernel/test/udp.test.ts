// Datagram sockets: echo over loopback, truncation, the bounded receive queue, cancellation and
// timeouts of recvfrom, busy and closed sockets, and socat as an external UDP peer.

import { describe, expect, test } from 'vitest';
import { ReadResourceBusy, SocketClosedError, SocketError, TaskTimeout, spawn, timeoutAfter, udpSocket } from '@curio-ts/kernel';
import { blockedIn, command, failure, runReal, until } from './socket-helpers.js';

const loopback = { host: '127.0.0.1', port: 0 };

describe('UDP', () => {
  test('sendto and recvfrom: an echo round trip with sender addresses', async () => {
    const got = await runReal(async () => {
      const server = await udpSocket({ bind: loopback });
      const client = await udpSocket({ bind: loopback });
      const echo = spawn(async () => {
        for (let i = 0; i < 3; i++) {
          const { data, address, port } = await server.recvfrom(1024);
          await server.sendto(data, address, port);
        }
      });
      const replies: string[] = [];
      for (const word of ['one', 'two', 'three']) {
        const sent = await client.sendto(Buffer.from(word), '127.0.0.1', server.address.port);
        const reply = await client.recvfrom(1024);
        replies.push(`${Buffer.from(reply.data).toString()} ${sent} ${reply.port === server.address.port} ${reply.family}`);
      }
      await echo.join();
      await server.close();
      await client.close();
      return replies;
    });
    expect(got).toEqual(['one 3 true IPv4', 'two 3 true IPv4', 'three 5 true IPv4']);
  });

  test('a datagram longer than maxBytes is cut; datagram boundaries are kept', async () => {
    const got = await runReal(async () => {
      const a = await udpSocket({ bind: loopback });
      const b = await udpSocket({ bind: loopback });
      await a.sendto(Buffer.from('0123456789'), '127.0.0.1', b.address.port);
      await a.sendto(Buffer.from('ab'), '127.0.0.1', b.address.port);
      const first = Buffer.from((await b.recvfrom(4)).data).toString();
      const second = Buffer.from((await b.recvfrom(4)).data).toString();
      await a.close();
      await b.close();
      return [first, second];
    });
    expect(got).toEqual(['0123', 'ab']);
  });

  test('recvfrom times out and is cancellable; datagrams that arrive later are received', async () => {
    const got = await runReal(async () => {
      const a = await udpSocket({ bind: loopback });
      const b = await udpSocket({ bind: loopback });
      const timedOut = await failure(timeoutAfter(20, () => b.recvfrom()));
      const receiving = spawn(() => b.recvfrom(), { name: 'receiver' });
      await blockedIn(receiving, 'READ_WAIT');
      await receiving.cancel();
      await a.sendto(Buffer.from('later'), '127.0.0.1', b.address.port);
      const data = Buffer.from((await b.recvfrom()).data).toString();
      await a.close();
      await b.close();
      return { timedOut: timedOut instanceof TaskTimeout, cancelled: receiving.cancelled, data };
    });
    expect(got).toEqual({ timedOut: true, cancelled: true, data: 'later' });
  });

  test('a second receiver is ReadResourceBusy; close wakes the first with SocketClosedError', async () => {
    const got = await runReal(async () => {
      const b = await udpSocket({ bind: loopback });
      const receiving = spawn(() => b.recvfrom(), { name: 'receiver' });
      await blockedIn(receiving, 'READ_WAIT');
      const busy = await failure(b.recvfrom());
      await b.close();
      const closed = (await failure(receiving.join())) as { cause?: unknown };
      const later = await failure(b.sendto(Buffer.from('x'), '127.0.0.1', 9));
      return { busy: busy instanceof ReadResourceBusy, closed: closed.cause instanceof SocketClosedError, later: later instanceof SocketClosedError };
    });
    expect(got).toEqual({ busy: true, closed: true, later: true });
  });

  test('the receive queue is bounded: datagrams beyond maxQueuedBytes are dropped and counted', async () => {
    const got = await runReal(async () => {
      const a = await udpSocket({ bind: loopback });
      const b = await udpSocket({ bind: loopback, maxQueuedBytes: 1000 });
      for (let i = 0; i < 10; i++) await a.sendto(Buffer.alloc(300, i), '127.0.0.1', b.address.port);
      await until(() => b.bufferedBytes + b.droppedDatagrams * 300 === 3000, 'all ten datagrams arrived or were dropped');
      const queued = b.bufferedBytes;
      const dropped = b.droppedDatagrams;
      const first = (await b.recvfrom()).data[0];
      await a.close();
      await b.close();
      return { queued, dropped, first };
    });
    expect(got).toEqual({ queued: 900, dropped: 7, first: 0 });
  });

  test('sending an oversized datagram is a SocketError; binding a used port is EADDRINUSE', async () => {
    const got = await runReal(async () => {
      const a = await udpSocket({ bind: loopback });
      const big = await failure(a.sendto(Buffer.alloc(70_000), '127.0.0.1', a.address.port));
      const inUse = await failure(udpSocket({ bind: { host: '127.0.0.1', port: a.address.port } }));
      await a.close();
      return { big: big instanceof SocketError ? (big as SocketError).code : String(big), inUse: (inUse as SocketError).code };
    });
    expect(got).toEqual({ big: 'EMSGSIZE', inUse: 'EADDRINUSE' });
  });

  test('socat sends a datagram to a kernel UDP socket and gets the reply', async () => {
    const got = await runReal(async () => {
      const server = await udpSocket({ bind: loopback });
      const serving = spawn(async () => {
        const { data, address, port } = await server.recvfrom();
        await server.sendto(Buffer.from(`echo: ${Buffer.from(data).toString()}`), address, port);
        return Buffer.from(data).toString();
      });
      // socat keeps receiving for -t seconds after its stdin ended (nc -u stops at once).
      const result = await command('socat', ['-t', '1', '-', `UDP:127.0.0.1:${server.address.port}`], Buffer.from('ping\n'));
      const received = await serving.join();
      await server.close();
      return { received, reply: result.stdout.toString() };
    });
    expect(got).toEqual({ received: 'ping\n', reply: 'echo: ping\n' });
  });
});
