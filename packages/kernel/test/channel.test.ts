// Channels: structured values between tasks and between processes over real sockets, HMAC
// authentication with right and wrong keys, frame size limits, and what a cancelled or
// timed-out recv leaves behind (the partly received frame, intact for the next recv).

import { describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import {
  AuthenticationError,
  Channel,
  ChannelError,
  Connection,
  FrameTooLargeError,
  IncompleteReadError,
  TaskTimeout,
  awaitPromise,
  spawn,
  timeoutAfter,
} from '@curio-ts/kernel';
import type { ChannelAddress } from '@curio-ts/kernel';
import { blockedIn, closeAll, connectedPair, failure, runReal, until } from './socket-helpers.js';

const loopback: ChannelAddress = { host: '127.0.0.1', port: 0 };

/** A listening channel and a connected pair of Connections. */
async function connectedChannels(options: { authkey?: string; maxFrameSize?: number } = {}) {
  const listener = new Channel(loopback, options);
  await listener.bind();
  const accepting = spawn(() => listener.accept(), { name: 'accept' });
  const client = await new Channel(listener.address, options).connect();
  const server = await accepting.join();
  return { listener, client, server };
}

describe('Channel', () => {
  test('structured values travel both ways with the right key', async () => {
    const value = {
      text: 'hello',
      numbers: [1, 2.5, -3],
      map: new Map<string, unknown>([['a', new Set([1, 2])]]),
      when: new Date(0),
      big: 12345678901234567890n,
      bytes: new Uint8Array([1, 2, 3]),
      nested: { deeper: { error: new Error('carried') } },
    };
    const got = await runReal(async () => {
      const { listener, client, server } = await connectedChannels({ authkey: 'sesame' });
      await client.send(value);
      const atServer = await server.recv<typeof value>();
      await server.send(['reply', atServer.text.length]);
      const atClient = await client.recv();
      await closeAll(client, server, listener);
      return { atServer, atClient };
    });
    expect(got.atClient).toEqual(['reply', 5]);
    expect(got.atServer.map).toEqual(value.map);
    expect(got.atServer.big).toBe(value.big);
    expect(got.atServer.when).toEqual(value.when);
    expect(Array.from(got.atServer.bytes)).toEqual([1, 2, 3]);
    expect(got.atServer.nested.deeper.error.message).toBe('carried');
  });

  test('a wrong key fails on both sides with AuthenticationError; the channel keeps accepting', async () => {
    const got = await runReal(async () => {
      const listener = new Channel(loopback, { authkey: 'right' });
      await listener.bind();
      const accepting = spawn(() => listener.accept(), { name: 'accept' });
      const clientError = await failure(new Channel(listener.address, { authkey: 'wrong' }).connect());
      const serverError = ((await failure(accepting.join())) as { cause?: unknown }).cause;
      const again = spawn(() => listener.accept(), { name: 'accept again' });
      const good = await new Channel(listener.address, { authkey: 'right' }).connect();
      const server = await again.join();
      await good.send('fine');
      const message = await server.recv();
      await closeAll(good, server, listener);
      return {
        client: [clientError instanceof AuthenticationError, (clientError as ChannelError).code],
        server: [serverError instanceof AuthenticationError, (serverError as ChannelError).code],
        message,
      };
    });
    expect(got).toEqual({ client: [true, 'ERR_AUTHENTICATION'], server: [true, 'ERR_AUTHENTICATION'], message: 'fine' });
  });

  test('a peer that never authenticates fails with ERR_AUTH_TIMEOUT; nothing hangs', async () => {
    const got = await runReal(async () => {
      const listener = new Channel(loopback, { authkey: 'key', authTimeout: 100 });
      await listener.bind();
      const accepting = spawn(() => listener.accept(), { name: 'accept' });
      // This side has no key: it connects without authenticating and receives the challenge.
      const keyless = await new Channel(listener.address).connect();
      const garbled = await failure(keyless.recv());
      const serverError = ((await failure(accepting.join())) as { cause?: unknown }).cause;
      // A keyed client facing a silent server times out too.
      const silent = new Channel(loopback);
      await silent.bind();
      const silentAccept = spawn(() => silent.accept(), { name: 'silent accept' });
      const clientError = await failure(new Channel(silent.address, { authkey: 'key', authTimeout: 100 }).connect());
      const silentServer = await silentAccept.join();
      await closeAll(keyless, listener, silentServer, silent);
      return {
        garbled: (garbled as ChannelError).code,
        server: (serverError as AuthenticationError).code,
        client: (clientError as AuthenticationError).code,
      };
    });
    expect(got).toEqual({ garbled: 'ERR_CHANNEL_DESERIALIZE', server: 'ERR_AUTH_TIMEOUT', client: 'ERR_AUTH_TIMEOUT' });
  });

  test('frames above maxFrameSize: refused before sending, or closing the connection on receipt', async () => {
    const got = await runReal(async () => {
      const listener = new Channel(loopback, { maxFrameSize: 1000 });
      await listener.bind();
      const accepting = spawn(() => listener.accept(), { name: 'accept' });
      const client = await new Channel(listener.address, { maxFrameSize: 1_000_000 }).connect();
      const server = await accepting.join();
      // The limited side refuses to send a large value; the connection stays usable.
      const refused = await failure(server.send('x'.repeat(5000)));
      await server.send('small');
      const small = await client.recv();
      // The unlimited side sends one; the limited side refuses it and closes.
      await client.send('y'.repeat(5000));
      const tooLarge = await failure(server.recv());
      const afterwards = await failure(client.recv());
      await closeAll(client, server, listener);
      return {
        refused: [refused instanceof FrameTooLargeError, (refused as FrameTooLargeError).limit],
        small,
        tooLarge: [tooLarge instanceof FrameTooLargeError, (tooLarge as ChannelError).code, server.socket.closed],
        afterwards: afterwards instanceof IncompleteReadError,
      };
    });
    expect(got).toEqual({ refused: [true, 1000], small: 'small', tooLarge: [true, 'ERR_FRAME_TOO_LARGE', true], afterwards: true });
  });

  test('a recv timed out or cancelled mid-frame keeps the frame; the next recv returns it whole', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const connection = new Connection(peer);
      const body = serialize('hello, world');
      const sender = new Connection(client);
      // A correct frame, written in pieces by hand: header, part of the body, the rest.
      const frame = Buffer.alloc(4 + body.length);
      frame.writeUInt32BE(body.length, 0);
      body.copy(frame, 4);
      await client.sendall(frame.subarray(0, 2));
      const e1 = await failure(timeoutAfter(30, () => connection.recv()));
      await client.sendall(frame.subarray(2, 9));
      await until(() => peer.bufferedBytes === 9, 'nine bytes are queued');
      const receiving = spawn(() => connection.recv(), { name: 'receiver' });
      await blockedIn(receiving, 'READ_WAIT');
      await receiving.cancel();
      const queuedAfterCancel = peer.bufferedBytes;
      await client.sendall(frame.subarray(9));
      const value = await connection.recv();
      await sender.send({ after: true });
      const next = await connection.recv();
      await closeAll(client, peer, server);
      return { timeout: e1 instanceof TaskTimeout, queuedAfterCancel, value, next };
    });
    expect(got).toEqual({ timeout: true, queuedAfterCancel: 9, value: 'hello, world', next: { after: true } });
  });

  test('raw byte messages; values that cannot be cloned are a ChannelError and the connection survives', async () => {
    const got = await runReal(async () => {
      const { listener, client, server } = await connectedChannels();
      await client.sendBytes(new Uint8Array([9, 8, 7]));
      await client.sendBytes(new Uint8Array(0));
      const bytes = Array.from(await server.recvBytes());
      const empty = (await server.recvBytes()).length;
      const notClonable = await failure(client.send({ fn: () => 1 }));
      await client.send('still fine');
      const after = await server.recv();
      await closeAll(client, server, listener);
      return { bytes, empty, code: (notClonable as ChannelError).code, after };
    });
    expect(got).toEqual({ bytes: [9, 8, 7], empty: 0, code: 'ERR_CHANNEL_SERIALIZE', after: 'still fine' });
  });

  test('a channel over a Unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curio-chan-'));
    try {
      const got = await runReal(async () => {
        const listener = new Channel({ path: join(dir, 'chan.sock') }, { authkey: new Uint8Array([1, 2, 3]) });
        const accepting = spawn(() => listener.accept(), { name: 'accept' });
        await until(() => listener.toString().includes('chan.sock'), 'listening');
        let client: Connection | null = null;
        for (let i = 0; i < 100 && client === null; i++) {
          client = await new Channel(listener.address, { authkey: new Uint8Array([1, 2, 3]) }).connect().catch(() => null);
        }
        const server = await accepting.join();
        await (client as Connection).send([1, 2, 3]);
        const value = await server.recv();
        await closeAll(client as Connection, server, listener);
        return value;
      });
      expect(got).toEqual([1, 2, 3]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('between processes: a child process connects, authenticates and echoes a value', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/channel-peer.mjs', import.meta.url));
    const run = (port: number, key: string): Promise<string> =>
      awaitPromise(
        new Promise<string>((resolve, reject) => {
          execFile(
            process.execPath,
            ['--conditions=@curio-ts/source', '--import', 'tsx', fixture, String(port), key],
            { timeout: 15_000 },
            (error, stdout) => (error !== null ? reject(error) : resolve(stdout.trim())),
          );
        }),
      );
    const got = await runReal(async () => {
      const listener = new Channel(loopback, { authkey: 'between processes' });
      await listener.bind();
      const port = (listener.address as { port: number }).port;
      const good = spawn(() => run(port, 'between processes'), { name: 'child' });
      const connection = await listener.accept();
      await connection.send({ question: 6 * 7, list: [new Date(1)] });
      const reply = await connection.recv<{ echoed: unknown; pid: number }>();
      await connection.close();
      const childSaid = await good.join();
      const bad = spawn(() => run(port, 'wrong key'), { name: 'bad child' });
      const rejected = await failure(listener.accept());
      const badSaid = await bad.join();
      await listener.close();
      return { echoed: reply.echoed, otherProcess: reply.pid !== process.pid, childSaid, rejected: (rejected as ChannelError).code, badSaid };
    });
    expect(got).toEqual({
      echoed: { question: 42, list: [new Date(1)] },
      otherProcess: true,
      childSaid: 'ok',
      rejected: 'ERR_AUTHENTICATION',
      badSaid: 'AuthenticationError ERR_AUTHENTICATION',
    });
  });
});
