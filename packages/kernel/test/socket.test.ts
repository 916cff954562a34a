// Kernel sockets over real loopback TCP: reading and writing, backpressure and bounded memory,
// half-close, resets, closing, cancellation and timeouts of every blocking call, and Curio's
// one-reader-one-writer rule.

import { describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import {
  BrokenPipeError,
  ConnectionRefusedError,
  ConnectionResetError,
  CurioError,
  ReadResourceBusy,
  SocketClosedError,
  SocketError,
  TaskCancelled,
  TaskTimeout,
  WriteResourceBusy,
  Event,
  currentTask,
  disableCancellation,
  openConnection,
  sleep,
  spawn,
  tcpServerSocket,
  timeoutAfter,
} from '@curio-ts/kernel';
import type { Socket } from '@curio-ts/kernel';
import { HIGH_WATER } from '@curio-ts/kernel/lowlevel';
import { ReadLink, Socket as KernelSocket } from '../src/io/socket.js';
import { closeAll, blockedIn, connectedPair, drain, failure, payload, runReal, sha256, until } from './socket-helpers.js';

/** Largest chunk Node hands over from one read of a TCP socket. */
const NODE_READ_CHUNK = 64 * 1024;

describe('reading and writing', () => {
  test('an echo round trip, then end of stream as an empty array', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const echo = spawn(async () => {
        for (;;) {
          const data = await peer.recv(1024);
          if (data.length === 0) break;
          await peer.sendall(data);
        }
        await peer.close();
      });
      const replies: string[] = [];
      for (const word of ['spam', 'ham', 'eggs']) {
        await client.sendall(Buffer.from(word));
        replies.push(Buffer.from(await client.recv(1024)).toString());
      }
      await client.shutdown();
      const end = await client.recv(1024);
      await echo.join();
      await client.close();
      await server.close();
      return { replies, end: end.length };
    });
    expect(got).toEqual({ replies: ['spam', 'ham', 'eggs'], end: 0 });
  });

  test('recv with bytes queued returns at once: no trap, not a cancellation point', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.sendall(Buffer.from('xyz'));
      await until(() => peer.bufferedBytes === 3, 'three bytes are queued');
      const me = currentTask();
      const cycles = me.cycles;
      await me.cancel({ blocking: false });
      const first = Buffer.from(await peer.recv(1)).toString();
      const rest = Buffer.from(await peer.recv(10)).toString();
      const cyclesAfter = me.cycles;
      const cancelled = await failure(peer.recv(10));
      await client.sendall(Buffer.from('w'));
      const after = Buffer.from(await peer.recv(10)).toString();
      await closeAll(client, peer, server);
      return { first, rest, noTrap: cyclesAfter === cycles, cancelled: cancelled instanceof TaskCancelled, after };
    });
    expect(got).toEqual({ first: 'x', rest: 'yz', noTrap: true, cancelled: true, after: 'w' });
  });

  test('recv returns zero-copy views no longer than maxBytes', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.sendall(Buffer.from('abcdefgh'));
      await until(() => peer.bufferedBytes === 8, 'eight bytes are queued');
      const a = await peer.recv(3);
      const b = await peer.recv(3);
      const c = await peer.recv(3);
      await closeAll(client, peer, server);
      return { parts: [a, b, c].map((x) => Buffer.from(x).toString()), shared: a.buffer === b.buffer };
    });
    expect(got).toEqual({ parts: ['abc', 'def', 'gh'], shared: true });
  });

  test('recvInto copies what is queued into the buffer and returns the count; 0 at end', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.sendall(Buffer.from('abcdefgh'));
      await client.shutdown();
      const buffer = new Uint8Array(5);
      const counts: number[] = [];
      const text: string[] = [];
      for (;;) {
        const n = await peer.recvInto(buffer);
        counts.push(n);
        if (n === 0) break;
        text.push(Buffer.from(buffer.subarray(0, n)).toString());
      }
      const empty = await peer.recvInto(new Uint8Array(0));
      await closeAll(client, peer, server);
      return { joined: text.join(''), last: counts.at(-1), empty };
    });
    expect(got).toEqual({ joined: 'abcdefgh', last: 0, empty: 0 });
  });

  test('send sends part of a large buffer and says how much', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const data = payload(1024 * 1024);
      const sent = await client.send(data);
      const small = await client.send(Buffer.from('ok'));
      await client.shutdown();
      const received = await drain(peer);
      await closeAll(client, peer, server);
      return { partial: sent > 0 && sent < data.length, small, same: received.equals(Buffer.concat([data.subarray(0, sent), Buffer.from('ok')])) };
    });
    expect(got).toEqual({ partial: true, small: 2, same: true });
  });

  test('invalid sizes are RangeErrors', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const errors = [await failure(peer.recv(0)), await failure(peer.recv(1.5))];
      await closeAll(client, peer, server);
      return errors.map((e) => e instanceof RangeError);
    });
    expect(got).toEqual([true, true]);
  });
});

describe('backpressure and bounded memory', () => {
  /** Send `data` from `writer` while `reader` reads slowly; returns what was read and the peak queue. */
  async function slowTransfer(writer: Socket, reader: Socket, data: Buffer): Promise<{ hash: string; peak: number; writerBlocked: boolean }> {
    const sending = spawn(async () => {
      await writer.sendall(data);
      await writer.shutdown();
    }, { name: 'writer' });
    // Do not read until the writer is blocked: backpressure has reached it through TCP.
    await blockedIn(sending, 'WRITE_WAIT');
    const hash = createHash('sha256');
    let peak = 0;
    let reads = 0;
    for (;;) {
      peak = Math.max(peak, reader.bufferedBytes);
      const chunk = await reader.recv(16 * 1024);
      if (chunk.length === 0) break;
      hash.update(chunk);
      if (++reads % 64 === 0) await sleep(1);
    }
    await sending.join();
    return { hash: hash.digest('hex'), peak, writerBlocked: true };
  }

  test('32 MiB each way at once with slow readers: all bytes arrive, queues stay bounded', async () => {
    const size = 32 * 1024 * 1024;
    const up = payload(size, 7);
    const down = payload(size, 11);
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const upward = spawn(() => slowTransfer(client, peer, up), { name: 'up' });
      const downward = spawn(() => slowTransfer(peer, client, down), { name: 'down' });
      const results = [await upward.join(), await downward.join()];
      await closeAll(client, peer, server);
      return results;
    });
    expect(got.map((r) => r.hash)).toEqual([sha256(up), sha256(down)]);
    for (const r of got) {
      expect(r.writerBlocked).toBe(true);
      expect(r.peak).toBeLessThanOrEqual(HIGH_WATER + NODE_READ_CHUNK);
    }
  }, 60_000);

  test('sendalls of one slice or less to a peer that does not read: each resolves once the OS has every byte, and all arrive in order', async () => {
    const part = 64 * 1024;
    const data = payload(32 * 1024 * 1024, 13);
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const heldAfterResolve: number[] = [];
      const sending = spawn(async () => {
        for (let at = 0; at < data.length; at += part) {
          await client.sendall(data.subarray(at, at + part));
          heldAfterResolve.push(client.rawSocket.writableLength);
        }
        await client.shutdown();
      }, { name: 'writer' });
      await blockedIn(sending, 'WRITE_WAIT');
      const received = await spawn(() => drain(peer)).join();
      await sending.join();
      await closeAll(client, peer, server);
      return { received, heldAfterResolve };
    });
    expect(sha256(got.received)).toBe(sha256(data));
    expect(got.heldAfterResolve.length).toBe(data.length / part);
    expect(got.heldAfterResolve.every((held) => held === 0)).toBe(true);
  }, 60_000);

  test('sendallNow is null when the OS takes every byte at once, else the Promise of the rest; after close, a rejected Promise', async () => {
    const part = 64 * 1024;
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const small = client.sendallNow(Buffer.from('hello'));
      const echoed = (await peer.recv(5)).toString();
      // A writer fills the socket until the OS stops taking bytes at once (bounded: 64 MiB),
      // then waits on the Promise it got (a wait of the writer's task: the peer reads only
      // once the writer is blocked).
      const sent: Buffer[] = [];
      const writer = spawn(async () => {
        let waiting: Promise<void> | null = null;
        while (waiting === null && sent.length < 1024) {
          const chunk = payload(part, sent.length);
          sent.push(chunk);
          waiting = client.sendallNow(chunk);
        }
        if (waiting === null) return { waited: false, afterWait: -1 };
        await waiting;
        const afterWait = client.rawSocket.writableLength;
        await client.shutdown();
        return { waited: true, afterWait };
      }, { name: 'writer' });
      await blockedIn(writer, 'WRITE_WAIT');
      const received = await drain(peer);
      const { waited, afterWait } = await writer.join();
      client.closeNow();
      const closed = client.sendallNow(Buffer.from('late'));
      const lateError = closed === null ? null : await failure(closed);
      await closeAll(client, peer, server);
      return { small, echoed, waited, afterWait, received, sent: Buffer.concat(sent), lateError };
    });
    expect(got.small).toBeNull();
    expect(got.echoed).toBe('hello');
    expect(got.waited).toBe(true);
    expect(got.afterWait).toBe(0);
    expect(sha256(got.received)).toBe(sha256(got.sent));
    expect(got.lateError).toBeInstanceOf(SocketClosedError);
  }, 60_000);

  test('sendNow writes without a task: sent, held under push-back (drain waits for the rest), refused while Node holds bytes, over 256 KiB or after close', async () => {
    const part = 64 * 1024;
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      // From a RecvSink, the read callback, where no task runs: each chunk is echoed at once.
      const echoes: string[] = [];
      const echoing = spawn(
        () =>
          peer.recvOr(1024, (error) => error, (chunk) => {
            echoes.push(peer.sendNow(chunk));
            return Buffer.from(chunk).toString() !== 'last';
          }),
        { name: 'echo' },
      );
      const replies: string[] = [];
      for (const word of ['spam', 'eggs', 'last']) {
        await client.sendall(Buffer.from(word));
        replies.push(Buffer.from(await client.recv(1024)).toString());
      }
      const ended = Buffer.from((await echoing.join()) as Uint8Array).toString();
      const drainedAtOnce = client.drain();
      // Push-back: write until Node holds bytes (bounded: 64 MiB), then every sendNow is refused
      // until a task's drain has seen Node hand them all to the OS.
      const sent: Buffer[] = [];
      let outcome: 'sent' | 'held' | 'refused' = 'sent';
      while (outcome === 'sent' && sent.length < 1024) {
        const chunk = payload(part, sent.length);
        outcome = client.sendNow(chunk);
        if (outcome !== 'refused') sent.push(chunk);
      }
      const whileHeld = client.sendNow(Buffer.from("x"));
      const heldThen = client.rawSocket.writableLength;
      // (Not asserted to block: the OS may take the rest meanwhile, as its buffers grow.)
      const draining = spawn(async () => {
        await client.drain();
        const left = client.rawSocket.writableLength;
        await client.shutdown();
        return left;
      }, { name: 'drain' });
      const received = await drain(peer);
      const leftAfterDrain = await draining.join();
      const tooLarge = client.sendNow(Buffer.alloc(256 * 1024 + 1));
      client.closeNow();
      const afterClose = client.sendNow(Buffer.from('late'));
      await closeAll(client, peer, server);
      return { echoes, replies, ended, drainedAtOnce, outcome, whileHeld, heldThen, leftAfterDrain, received, sent: Buffer.concat(sent), tooLarge, afterClose };
    });
    expect(got.echoes).toEqual(['sent', 'sent', 'sent']);
    expect(got.replies).toEqual(['spam', 'eggs', 'last']);
    expect(got.ended).toBe('last');
    expect(got.drainedAtOnce).toBeInstanceOf(Promise);
    expect(await got.drainedAtOnce).toBeUndefined();
    expect(got.outcome).toBe('held');
    expect(got.whileHeld).toBe('refused');
    expect(got.heldThen).toBeGreaterThan(0);
    expect(got.leftAfterDrain).toBe(0);
    expect(sha256(got.received)).toBe(sha256(got.sent));
    expect(got.tooLarge).toBe('refused');
    expect(got.afterClose).toBe('refused');
  }, 60_000);

  test('a sendall to a peer that does not read blocks, times out with bytesSent, and the socket stays usable', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const big = payload(64 * 1024 * 1024, 3);
      const sending = spawn(() => timeoutAfter(300, () => client.sendall(big)), { name: 'sender' });
      await blockedIn(sending, 'WRITE_WAIT');
      const timedOut = (await failure(sending.join())) as { cause?: unknown };
      const error = timedOut.cause as TaskTimeout & { bytesSent?: number };
      const sent = error.bytesSent ?? -1;
      // The peer now reads; the socket still sends, and what arrives is exactly what was sent.
      const reading = spawn(() => drain(peer));
      await client.sendall(Buffer.from('END'));
      await client.shutdown();
      const received = await reading.join();
      await closeAll(client, peer, server);
      return {
        timeout: error instanceof TaskTimeout,
        partial: sent > 0 && sent < big.length,
        exact: received.equals(Buffer.concat([big.subarray(0, sent), Buffer.from('END')])),
      };
    });
    expect(got).toEqual({ timeout: true, partial: true, exact: true });
  }, 30_000);

  test('cancelling a blocked sendall reports bytesSent', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const sending = spawn(async () => {
        try {
          await client.sendall(payload(64 * 1024 * 1024, 5));
          return -1;
        } catch (error) {
          if (!(error instanceof TaskCancelled)) throw error;
          return (error as { bytesSent?: number }).bytesSent ?? -2;
        }
      });
      await blockedIn(sending, 'WRITE_WAIT');
      await sending.cancel();
      const sent = sending.result;
      await closeAll(client, peer, server);
      return sent > 0;
    });
    expect(got).toBe(true);
  }, 30_000);
});

describe('half-close, resets and closing', () => {
  test('half-close: the client shuts down its side and still reads the reply', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const serving = spawn(async () => {
        const request = await drain(peer);
        await peer.sendall(Buffer.from(`got ${request.length} bytes`));
        await peer.close();
      });
      await client.sendall(payload(100_000));
      await client.shutdown();
      const reply = (await drain(client)).toString();
      await serving.join();
      await closeAll(client, server);
      return reply;
    });
    expect(got).toBe('got 100000 bytes');
  });

  test('writing after shutdown is a typed error', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.shutdown();
      const error = await failure(client.sendall(Buffer.from('late')));
      await closeAll(client, peer, server);
      return (error as SocketError).code;
    });
    expect(got).toBe('ERR_SOCKET_SHUTDOWN');
  });

  test('a reader blocked when the peer resets wakes with ConnectionResetError', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const reading = spawn(() => peer.recv(100), { name: 'reader' });
      await blockedIn(reading, 'READ_WAIT');
      client.rawSocket.resetAndDestroy();
      const error = (await failure(reading.join())) as { cause?: unknown };
      const again = await failure(peer.recv(100));
      await closeAll(client, peer, server);
      return { reset: error.cause instanceof ConnectionResetError, code: (error.cause as SocketError).code, sticky: again === error.cause };
    });
    expect(got).toEqual({ reset: true, code: 'ECONNRESET', sticky: true });
  });

  test('writing to a peer that has gone fails with a typed error, never hangs', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await peer.close();
      let error: unknown = null;
      for (let i = 0; i < 1000 && error === null; i++) {
        try {
          await client.sendall(payload(64 * 1024));
        } catch (caught) {
          error = caught;
        }
      }
      await closeAll(client, server);
      return { typed: error instanceof SocketError, code: (error as SocketError).code };
    });
    expect(got.typed).toBe(true);
    expect(['EPIPE', 'ECONNRESET']).toContain(got.code);
  });

  test('closing wakes a blocked reader and writer with SocketClosedError; later use is the same error', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const reading = spawn(() => client.recv(100), { name: 'reader' });
      const writing = spawn(() => client.sendall(payload(64 * 1024 * 1024)), { name: 'writer' });
      await blockedIn(reading, 'READ_WAIT');
      await blockedIn(writing, 'WRITE_WAIT');
      await client.close();
      const readError = ((await failure(reading.join())) as { cause?: unknown }).cause;
      const writeError = ((await failure(writing.join())) as { cause?: unknown }).cause;
      const later = [await failure(client.recv(1)), await failure(client.sendall(Buffer.from('x'))), await failure(client.shutdown())];
      await client.close(); // twice is harmless
      await closeAll(peer, server);
      return [readError, writeError, ...later].map((e) => e instanceof SocketClosedError && (e as CurioError).code === 'ERR_SOCKET_CLOSED');
    });
    expect(got).toEqual([true, true, true, true, true]);
  }, 30_000);

  test('await using closes the socket', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      let inner: Socket | null = null;
      {
        await using sock = await openConnection('127.0.0.1', server.port);
        inner = sock;
      }
      const peer = await server.accept();
      const eof = await peer.recv(10);
      await closeAll(peer, server);
      return { closed: inner.closed, eof: eof.length };
    });
    expect(got).toEqual({ closed: true, eof: 0 });
  });

  test('connecting to a closed port is ConnectionRefusedError', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const port = server.port;
      await server.close();
      const error = await failure(openConnection('127.0.0.1', port));
      return { refused: error instanceof ConnectionRefusedError, code: (error as SocketError).code };
    });
    expect(got).toEqual({ refused: true, code: 'ECONNREFUSED' });
  });

  test('peer and local addresses', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const result = {
        clientPeer: client.peername,
        serverLocal: peer.sockname,
        ports: peer.remotePort === client.localPort,
        text: client.toString().includes(`127.0.0.1:${server.port}`),
      };
      await closeAll(client, peer, server);
      return { ...result, port: server.port };
    });
    expect(got.clientPeer).toEqual({ family: 'IPv4', address: '127.0.0.1', port: got.port });
    expect(got.serverLocal).toEqual({ family: 'IPv4', address: '127.0.0.1', port: got.port });
    expect(got.ports).toBe(true);
    expect(got.text).toBe(true);
  });
});

describe('cancellation, timeouts and busy resources', () => {
  test('recv and recvInto time out, and the socket keeps every byte for the next read', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const e1 = await failure(timeoutAfter(20, () => peer.recv(10)));
      const e2 = await failure(timeoutAfter(20, () => peer.recvInto(new Uint8Array(10))));
      await client.sendall(Buffer.from('still here'));
      const after = Buffer.from(await peer.recv(100)).toString();
      await closeAll(client, peer, server);
      return { e1: e1 instanceof TaskTimeout, e2: e2 instanceof TaskTimeout, after };
    });
    expect(got).toEqual({ e1: true, e2: true, after: 'still here' });
  });

  test('a cancelled recv loses nothing that arrives later', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const reading = spawn(() => peer.recv(10), { name: 'reader' });
      await blockedIn(reading, 'READ_WAIT');
      await reading.cancel();
      await client.sendall(Buffer.from('kept'));
      const data = Buffer.from(await peer.recv(10)).toString();
      await closeAll(client, peer, server);
      return { cancelled: reading.cancelled, data };
    });
    expect(got).toEqual({ cancelled: true, data: 'kept' });
  });

  test('accept times out and is cancellable; connections made meanwhile are not lost', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const timedOut = await failure(timeoutAfter(20, () => server.accept()));
      const accepting = spawn(() => server.accept(), { name: 'acceptor' });
      await blockedIn(accepting, 'READ_WAIT');
      await accepting.cancel();
      const client = await openConnection('127.0.0.1', server.port);
      await client.sendall(Buffer.from('hi'));
      const peer = await server.accept();
      const data = Buffer.from(await peer.recv(10)).toString();
      await closeAll(client, peer, server);
      return { timedOut: timedOut instanceof TaskTimeout, cancelled: accepting.cancelled, data };
    });
    expect(got).toEqual({ timedOut: true, cancelled: true, data: 'hi' });
  });

  test('closing a server wakes a blocked accept with SocketClosedError', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const accepting = spawn(() => server.accept(), { name: 'acceptor' });
      await blockedIn(accepting, 'READ_WAIT');
      await server.close();
      const error = ((await failure(accepting.join())) as { cause?: unknown }).cause;
      return error instanceof SocketClosedError;
    });
    expect(got).toBe(true);
  });

  test('a second reader or writer gets ReadResourceBusy / WriteResourceBusy', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const reading = spawn(() => peer.recv(10), { name: 'reader' });
      await blockedIn(reading, 'READ_WAIT');
      const readBusy = await failure(peer.recv(10));
      const readIntoBusy = await failure(peer.recvInto(new Uint8Array(4)));
      const writing = spawn(() => client.sendall(payload(64 * 1024 * 1024)), { name: 'writer' });
      await blockedIn(writing, 'WRITE_WAIT');
      const writeBusy = await failure(client.sendall(Buffer.from('x')));
      const sendBusy = await failure(client.send(Buffer.from('x')));
      const accepting = spawn(() => server.accept(), { name: 'acceptor' });
      await blockedIn(accepting, 'READ_WAIT');
      const acceptBusy = await failure(server.accept());
      for (const task of [reading, writing, accepting]) await task.cancel();
      await closeAll(client, peer, server);
      return {
        readBusy: readBusy instanceof ReadResourceBusy,
        readIntoBusy: readIntoBusy instanceof ReadResourceBusy,
        writeBusy: writeBusy instanceof WriteResourceBusy,
        sendBusy: sendBusy instanceof WriteResourceBusy,
        acceptBusy: acceptBusy instanceof ReadResourceBusy,
        code: (readBusy as CurioError).code,
      };
    });
    expect(got).toEqual({ readBusy: true, readIntoBusy: true, writeBusy: true, sendBusy: true, acceptBusy: true, code: 'ERR_READ_RESOURCE_BUSY' });
  }, 30_000);

  test('connecting can be timed out with the timeout option (TLS handshake to a silent server)', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const error = await failure(openConnection('127.0.0.1', server.port, { tls: true, timeout: 50 }));
      const peer = await server.accept();
      const eof = await peer.recv(4096); // the client hello, then the close
      await peer.close();
      await server.close();
      return { typed: error instanceof SocketError, code: (error as SocketError).code, gotHello: eof.length > 0 };
    });
    expect(got).toEqual({ typed: true, code: 'ETIMEDOUT', gotHello: true });
  });

  test('a cancelled connect destroys the half-made socket', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const connecting = spawn(() => openConnection('127.0.0.1', server.port, { tls: true }), { name: 'connector' });
      await blockedIn(connecting, 'WRITE_WAIT');
      const peer = await server.accept();
      await connecting.cancel();
      const rest = await drain(peer).catch((error: unknown) => error);
      await closeAll(peer, server);
      return { cancelled: connecting.cancelled, closed: rest instanceof Buffer || rest instanceof ConnectionResetError };
    });
    expect(got).toEqual({ cancelled: true, closed: true });
  });

  test('BrokenPipeError and ConnectionResetError are SocketErrors and CurioErrors', () => {
    const error = new BrokenPipeError('x', { code: 'EPIPE' });
    expect(error).toBeInstanceOf(SocketError);
    expect(error).toBeInstanceOf(CurioError);
  });
});

describe('recvOr: a read whose socket failures a handler translates', () => {
  test('bytes as recv; a close on this side and a second reader go to the handler; a cancellation rejects', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const seen: string[] = [];
      const translate = (error: Error): string => {
        seen.push(error.constructor.name);
        if (error instanceof SocketClosedError) return 'closed here';
        throw new Error(`translated ${error.constructor.name}`);
      };
      await peer.sendall(Buffer.from('hello'));
      const bytes = Buffer.from((await client.recvOr(1024, translate)) as Uint8Array).toString();
      // A second reader while one waits: busy, handed to the handler.
      const reader = spawn(() => client.recvOr(1024, translate), { name: 'reader' });
      await blockedIn(reader, 'READ_WAIT');
      const busy = await client.recvOr(1024, translate).then(String, (error: Error) => error.message);
      // A waiting read cancelled: the cancellation itself, untranslated.
      await reader.cancel();
      const cancelled = reader.exception instanceof TaskCancelled;
      // A waiting read when this side closes: the handler's value is the result.
      const waiting = spawn(() => client.recvOr(1024, translate), { name: 'waiting' });
      await blockedIn(waiting, 'READ_WAIT');
      client.closeNow();
      const afterClose = await waiting.join();
      await closeAll(peer, server);
      return { bytes, busy, cancelled, afterClose, seen };
    });
    expect(got).toEqual({
      bytes: 'hello',
      busy: 'translated ReadResourceBusy',
      cancelled: true,
      afterClose: 'closed here',
      seen: ['ReadResourceBusy', 'SocketClosedError'],
    });
  });
});

describe('recvOr with a sink: chunks handed over while the read waits', () => {
  const translate = (error: Error): string => (error instanceof SocketClosedError ? 'closed here' : `failed: ${error.constructor.name}`);
  const text = (value: unknown): string => (value instanceof Uint8Array ? `bytes ${Buffer.from(value).toString()}` : String(value));

  test('each chunk goes to the sink while the task stays blocked; a declined chunk ends the read', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const seen: string[] = [];
      const sink = (chunk: Uint8Array): boolean => {
        const word = Buffer.from(chunk).toString();
        seen.push(word);
        return word !== 'stop';
      };
      const reader = spawn(() => client.recvOr(1024, translate, sink), { name: 'reader' });
      await blockedIn(reader, 'READ_WAIT');
      const cycles = reader.cycles;
      for (const word of ['one', 'two']) {
        await peer.sendall(Buffer.from(word));
        await until(() => seen.length > 0 && seen[seen.length - 1] === word, `the sink saw ${word}`);
      }
      // The task never ran for those chunks: still blocked in the same trap.
      const stillBlocked = reader.state === 'READ_WAIT' && reader.cycles === cycles;
      await peer.sendall(Buffer.from('stop'));
      const result = text(await reader.join());
      // Nothing was queued: the next bytes are read afresh.
      await peer.sendall(Buffer.from('next'));
      const next = Buffer.from(await client.recv(1024)).toString();
      await closeAll(client, peer, server);
      return { seen, stillBlocked, result, next, buffered: client.bufferedBytes };
    });
    expect(got).toEqual({ seen: ['one', 'two', 'stop'], stillBlocked: true, result: 'bytes stop', next: 'next', buffered: 0 });
  });

  test('bytes queued when the read begins are returned at once, without the sink', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await peer.sendall(Buffer.from('early'));
      await until(() => client.bufferedBytes === 5, 'the bytes are queued');
      let offered = 0;
      const result = text(await client.recvOr(1024, translate, () => (offered++, true)));
      await closeAll(client, peer, server);
      return { result, offered };
    });
    expect(got).toEqual({ result: 'bytes early', offered: 0 });
  });

  test('end of stream, a close by the sink, a throwing sink, a cancellation', async () => {
    const got = await runReal(async () => {
      const results: string[] = [];
      // End of stream while the read waits with a sink: an empty chunk.
      {
        const { server, client, peer } = await connectedPair();
        const reader = spawn(() => client.recvOr(1024, translate, () => true), { name: 'eof' });
        await blockedIn(reader, 'READ_WAIT');
        await peer.shutdown();
        const chunk = (await reader.join()) as Uint8Array;
        results.push(`eof: ${chunk.length}`);
        await closeAll(client, peer, server);
      }
      // The sink closes the socket and declines: the read ends as a close on this side does.
      {
        const { server, client, peer } = await connectedPair();
        const reader = spawn(() => client.recvOr(1024, translate, () => (client.closeNow(), false)), { name: 'closing' });
        await blockedIn(reader, 'READ_WAIT');
        await peer.sendall(Buffer.from('bye'));
        results.push(`closing sink: ${text(await reader.join())}`);
        await closeAll(peer, server);
      }
      // A sink that throws fails the read with its error.
      {
        const { server, client, peer } = await connectedPair();
        const reader = spawn(() => client.recvOr(1024, translate, () => {
          throw new Error('sink broke');
        }), { name: 'throwing' });
        await blockedIn(reader, 'READ_WAIT');
        await peer.sendall(Buffer.from('x'));
        results.push(`throwing sink: ${await reader.join().then(text, (error: Error) => (error.cause as Error).message)}`);
        await closeAll(client, peer, server);
      }
      // A cancelled read leaves no sink behind: later bytes are queued for the next read.
      {
        const { server, client, peer } = await connectedPair();
        let offered = 0;
        const reader = spawn(() => client.recvOr(1024, translate, () => (offered++, true)), { name: 'cancelled' });
        await blockedIn(reader, 'READ_WAIT');
        await reader.cancel();
        await peer.sendall(Buffer.from('later'));
        const later = Buffer.from(await client.recv(1024)).toString();
        results.push(`cancelled: ${String(reader.exception instanceof TaskCancelled)} ${later} offered ${offered}`);
        await closeAll(client, peer, server);
      }
      return results;
    });
    expect(got).toEqual(['eof: 0', 'closing sink: closed here', 'throwing sink: sink broke', 'cancelled: true later offered 0']);
  });

  test('a read refused by a pending cancellation leaves no sink armed for the next read', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      let offered = 0;
      const gate = new Event();
      const reader = spawn(async () => {
        await disableCancellation(() => gate.wait());
        // The cancellation is delivered here, before the read waits.
        const refused = await client.recvOr(1024, translate, () => (offered++, true)).then(text, (error: unknown) => (error instanceof TaskCancelled ? 'cancelled' : String(error)));
        return refused;
      }, { name: 'refused' });
      await blockedIn(reader, 'EVENT_WAIT');
      await reader.cancel({ blocking: false });
      await gate.set();
      const refused = await reader.join().catch((error: Error) => `join: ${error.message}`);
      const plain = spawn(() => client.recv(1024), { name: 'plain' });
      await blockedIn(plain, 'READ_WAIT');
      await peer.sendall(Buffer.from('data'));
      const data = Buffer.from(await plain.join()).toString();
      await closeAll(client, peer, server);
      return { refused, data, offered };
    });
    expect(got).toEqual({ refused: 'cancelled', data: 'data', offered: 0 });
  });
});

describe('connections the kernel opens read into a shared buffer (ReadLink)', () => {
  test("no 'data' event: each read is a chunk of its own, intact after later reads of any socket", async () => {
    const got = await runReal(async () => {
      const a = await connectedPair();
      const b = await connectedPair();
      let dataEvents = 0;
      a.client._raw.on('data', () => dataEvents++);
      const kept: string[] = [];
      const chunks: Uint8Array[] = [];
      // Small reads (copied byte by byte) and large ones, alternating between the two sockets.
      for (const [i, text] of ['one', 'x'.repeat(5000), 'two', 'y'.repeat(5000), 'three'].entries()) {
        const { client, peer } = i % 2 === 0 ? a : b;
        await peer.sendall(Buffer.from(text));
        let read = '';
        while (read.length < text.length) {
          const chunk = await client.recv(65536);
          chunks.push(chunk);
          read += Buffer.from(chunk).toString();
        }
        kept.push(read);
      }
      const again = chunks.map((chunk) => Buffer.from(chunk).toString()).join('');
      await closeAll(a.client, a.peer, a.server, b.client, b.peer, b.server);
      return { kept, same: again === kept.join(''), dataEvents };
    });
    expect(got).toEqual({ kept: ['one', 'x'.repeat(5000), 'two', 'y'.repeat(5000), 'three'], same: true, dataEvents: 0 });
  });

  test('reads that come before the Socket exists are held for it, in order, before later ones', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const accepting = spawn(() => server.accept());
      const raw = net.connect({ host: '127.0.0.1', port: server.port });
      await new Promise((resolve) => raw.once('connect', resolve));
      const peer = await accepting.join();
      const link = new ReadLink();
      const { callback } = link.onread();
      const shared = Buffer.from('early-bytes');
      callback(5, shared);
      shared.write('LATER');
      callback(5, shared); // the shared buffer was reused: the first chunk must not change
      const socket = new KernelSocket(raw);
      link.attach(socket);
      await peer.sendall(Buffer.from('-then'));
      let text = '';
      while (text.length < 15) text += Buffer.from(await socket.recv(1024)).toString();
      await closeAll(socket, peer, server);
      return text;
    });
    expect(got).toBe('earlyLATER-then');
  });

  test("accepted connections read into it too: no 'data' event, chunks intact, the end of stream; bytes buffered before accept keep 'data' events, nothing lost", async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      let dataEvents = 0;
      peer._raw.on('data', () => dataEvents++);
      const big = payload(300 * 1024, 7);
      const chunks: Uint8Array[] = [];
      await client.sendall(Buffer.from('one'));
      chunks.push(await peer.recv(1024));
      const sending = spawn(async () => {
        await client.sendall(big);
        await client.shutdown();
      });
      // Read slowly enough for the queue to pass HIGH_WATER (the socket pauses and resumes).
      await until(() => peer.bufferedBytes >= Math.min(HIGH_WATER, big.length) || sending.state === 'TERMINATED', 'the queue fills');
      for (;;) {
        const chunk = await peer.recv(65536);
        if (chunk.length === 0) break;
        chunks.push(chunk);
      }
      await sending.join();
      const all = Buffer.concat(chunks);
      const ok = Buffer.from(all.subarray(0, 3)).toString() === 'one' && sha256(all.subarray(3)) === sha256(big);
      await closeAll(client, peer, server);

      // A connection whose bytes Node buffered before accept(): they come first, then the rest.
      const second = await tcpServerSocket('127.0.0.1', 0);
      let arrived: net.Socket | null = null;
      second._server.on('connection', (raw: net.Socket) => (arrived = raw));
      const early = await openConnection('127.0.0.1', second.port);
      await early.sendall(Buffer.from('early'));
      await until(() => arrived !== null && (arrived as net.Socket).readableLength >= 5, 'the bytes are buffered');
      const accepted = await second.accept();
      let laterDataEvents = 0;
      accepted._raw.on('data', () => laterDataEvents++);
      await early.sendall(Buffer.from('-later'));
      await early.shutdown();
      const text = (await drain(accepted)).toString();
      await closeAll(early, accepted, second);
      return { ok, dataEvents, text, fallback: laterDataEvents > 0 };
    });
    expect(got).toEqual({ ok: true, dataEvents: 0, text: 'early-later', fallback: true });
  });
});
