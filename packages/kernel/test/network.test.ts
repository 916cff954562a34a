// Servers and connections: tcpServer with many clients, its two shutdown modes, handler errors,
// Unix sockets, and interoperation with real external peers (nc, curl).

import { describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Event,
  SocketError,
  TaskCancelled,
  awaitPromise,
  openConnection,
  openUnixConnection,
  run,
  runServer,
  sleep,
  spawn,
  tcpServerSocket,
  unixServer,
  unixServerSocket,
} from '@curio-ts/kernel';
import type { Socket, SocketAddress } from '@curio-ts/kernel';
import { cancelWhileBlocked, closeAll, command, drain, failure, runReal, serve, until } from './socket-helpers.js';

/** How long a client of the burst test may take to be served (SYN retries: 1 s, 3 s, 7 s...). */
const CLIENT_DEADLINE_MS = 30_000;

/** The machine's net.core.somaxconn, or 'unknown' off Linux. */
function readSomaxconn(): number | 'unknown' {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return 'unknown';
  }
}

/**
 * A node:net client of a greeting-first protocol: it waits for `hello`, sends its id and expects
 * `ok <id>` before the server closes. Resolves with 'served' or with what went wrong, at the
 * latest after `deadlineMs` (a client left hanging is destroyed).
 */
function greetedClient(port: number, id: number, deadlineMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let sent = false;
    const timer = setTimeout(() => {
      resolve(`not served within ${deadlineMs} ms`);
      socket.destroy();
    }, deadlineMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (!sent && received.startsWith('hello\n')) {
        sent = true;
        socket.write(`${id}\n`);
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received === `hello\nok ${id}\n` ? 'served' : `received ${JSON.stringify(received)}`);
    });
  });
}

/** An echo handler: echoes until end of stream. */
async function echo(client: Socket): Promise<void> {
  for (;;) {
    const data = await client.recv(65536);
    if (data.length === 0) return;
    await client.sendall(data);
  }
}

/**
 * A handler that waits for data that never comes, recording in `trace` how it ended; `count()`
 * says how many handlers have started.
 */
function waitingHandler(trace: string[], onCancel: string): { handler: (client: Socket) => Promise<void>; count: () => number } {
  let started = 0;
  const handler = async (client: Socket): Promise<void> => {
    started++;
    try {
      await client.recv(10);
    } catch (error) {
      trace.push(error instanceof TaskCancelled ? onCancel : `client failed: ${String(error)}`);
      throw error;
    }
  };
  return { handler, count: () => started };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'curio-net-'));
}

describe('tcpServer', () => {
  test('serves 50 concurrent clients, one task each', async () => {
    const got = await runReal(async () => {
      const { port, task: serving } = await serve(echo);
      const clients = Array.from({ length: 50 }, (_, i) =>
        spawn(async () => {
          const sock = await openConnection('127.0.0.1', port);
          const replies: string[] = [];
          for (let round = 0; round < 10; round++) {
            const message = `client ${i} round ${round}`;
            await sock.sendall(Buffer.from(message));
            let reply = '';
            while (reply.length < message.length) reply += Buffer.from(await sock.recv(100)).toString();
            replies.push(reply);
          }
          await sock.close();
          return replies.every((r, round) => r === `client ${i} round ${round}`);
        }),
      );
      const results: boolean[] = [];
      for (const c of clients) results.push(await c.join());
      await serving.cancel();
      return { allEchoed: results.every(Boolean), count: results.length, serverCancelled: serving.cancelled };
    });
    expect(got).toEqual({ allEchoed: true, count: 50, serverCancelled: true });
  });

  test("cancelling the server in 'cancel' mode cancels its clients and closes their sockets", async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const port = server.port;
      const trace: string[] = [];
      const { handler, count } = waitingHandler(trace, 'client cancelled');
      const serving = spawn(() => runServer(server, handler), { name: 'server' });
      const socks = [await openConnection('127.0.0.1', port), await openConnection('127.0.0.1', port), await openConnection('127.0.0.1', port)];
      await until(() => count() === 3, 'every client handler runs');
      await serving.cancel();
      const ends: unknown[] = [];
      for (const s of socks) ends.push(await drain(s).catch((e: unknown) => e));
      const refused = await failure(openConnection('127.0.0.1', port));
      for (const s of socks) await s.close();
      return { trace, eofs: ends.map((e) => e instanceof Buffer && e.length === 0), refused: (refused as SocketError).code };
    });
    expect(got).toEqual({
      trace: ['client cancelled', 'client cancelled', 'client cancelled'],
      eofs: [true, true, true],
      refused: 'ECONNREFUSED',
    });
  });

  test("cancelling the server in 'drain' mode stops accepting and lets clients finish", async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const port = server.port;
      const finished: string[] = [];
      let started = 0;
      const handler = async (client: Socket): Promise<void> => {
        started++;
        const request = Buffer.from(await client.recv(100)).toString();
        await client.sendall(Buffer.from(`done ${request}`));
        finished.push(request);
      };
      const serving = spawn(() => runServer(server, handler, { shutdown: 'drain' }), { name: 'server' });
      const a = await openConnection('127.0.0.1', port);
      const b = await openConnection('127.0.0.1', port);
      await until(() => started === 2, 'both handlers run');
      const cancelling = spawn(() => serving.cancel(), { name: 'canceller' });
      await until(() => server.closed, 'the server stopped listening');
      const refused = await failure(openConnection('127.0.0.1', port));
      // The server task has not ended: it waits for its two clients.
      const stillRunning = !serving.terminated;
      await a.sendall(Buffer.from('a'));
      await b.sendall(Buffer.from('b'));
      const replies = [Buffer.from(await drain(a)).toString(), Buffer.from(await drain(b)).toString()];
      await cancelling.join();
      await a.close();
      await b.close();
      return { refused: (refused as SocketError).code, stillRunning, replies, finished: finished.sort(), cancelled: serving.cancelled };
    });
    expect(got).toEqual({ refused: 'ECONNREFUSED', stillRunning: true, replies: ['done a', 'done b'], finished: ['a', 'b'], cancelled: true });
  });

  test("'drain' with drainTimeout cancels clients that do not finish in time", async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const trace: string[] = [];
      const { handler, count } = waitingHandler(trace, 'cancelled after drain timeout');
      const serving = spawn(() => runServer(server, handler, { shutdown: 'drain', drainTimeout: 50 }), { name: 'server' });
      const sock = await openConnection('127.0.0.1', server.port);
      await until(() => count() === 1, 'the handler runs');
      await serving.cancel();
      const end = await drain(sock);
      await sock.close();
      return { trace, eof: end.length };
    });
    expect(got).toEqual({ trace: ['cancelled after drain timeout'], eof: 0 });
  });

  test('a handler error is reported and the server keeps serving', async () => {
    const reported: string[] = [];
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const handler = async (client: Socket): Promise<void> => {
        const data = Buffer.from(await client.recv(100)).toString();
        if (data === 'boom') throw new Error('handler exploded');
        await client.sendall(Buffer.from(`ok ${data}`));
      };
      const serving = spawn(
        () =>
          runServer(server, handler, {
            onClientError: (error: unknown, address: SocketAddress) =>
              reported.push(`${(error as Error).message} from ${address.family}`),
          }),
        { name: 'server' },
      );
      const bad = await openConnection('127.0.0.1', server.port);
      await bad.sendall(Buffer.from('boom'));
      const badEnd = await drain(bad);
      const good = await openConnection('127.0.0.1', server.port);
      await good.sendall(Buffer.from('fine'));
      const reply = (await drain(good)).toString();
      await serving.cancel();
      await bad.close();
      await good.close();
      return { badEnd: badEnd.length, reply };
    });
    expect(got).toEqual({ badEnd: 0, reply: 'ok fine' });
    expect(reported).toEqual(['handler exploded from IPv4']);
  });

  test('without onClientError, handler errors go to the kernel error hook', async () => {
    const hook: string[] = [];
    await run(
      async () => {
        const server = await tcpServerSocket('127.0.0.1', 0);
        const serving = spawn(
          () =>
            runServer(server, async () => {
              throw new Error('unhandled in handler');
            }),
          { name: 'server' },
        );
        const sock = await openConnection('127.0.0.1', server.port);
        await drain(sock);
        await sock.close();
        await until(() => hook.length > 0, 'the error was reported');
        await serving.cancel();
      },
      { onError: (error, info) => hook.push(`${info.reason}: ${(error as Error).message}`) },
    );
    expect(hook).toEqual(['unobserved-task-error: unhandled in handler']);
  });

  test('listening on a port in use is a SocketError EADDRINUSE', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0);
      const error = await failure(tcpServerSocket('127.0.0.1', server.port));
      await server.close();
      return { typed: error instanceof SocketError, code: (error as SocketError).code };
    });
    expect(got).toEqual({ typed: true, code: 'EADDRINUSE' });
  });

  test('a burst of 1 000 concurrent connects with the default backlog: every client is served', async () => {
    // Linux caps the listen queue at net.core.somaxconn (4096 since 5.4); below 511 the OS,
    // not the kernel, would drop the connections this test counts on.
    const somaxconn = readSomaxconn();
    const clients = 1000;
    const got = await runReal(async () => {
      let served = 0;
      const { port, listening, task } = await serve(async (client) => {
        const stream = client.asStream();
        await stream.write(Buffer.from('hello\n'));
        const line = Buffer.from(await stream.readline()).toString();
        await stream.write(Buffer.from(`ok ${line}`));
        served++;
      });
      // All connects are issued at once, before the server can accept any of them.
      const outcomes = await awaitPromise(
        Promise.all(Array.from({ length: clients }, (_, id) => greetedClient(port, id, CLIENT_DEADLINE_MS))),
      );
      await task.cancel();
      const counts: Record<string, number> = {};
      for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
      return { counts, served, dropped: listening.droppedConnections, somaxconn };
    });
    expect(got).toEqual({ counts: { served: clients }, served: clients, dropped: 0, somaxconn });
  }, 2 * CLIENT_DEADLINE_MS);

  test('connections beyond the backlog waiting for accept are closed and counted', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0, { backlog: 2 });
      const socks = [];
      for (let i = 0; i < 4; i++) socks.push(await openConnection('127.0.0.1', server.port));
      await until(() => server.pendingConnections + server.droppedConnections === 4, 'all four arrived');
      const dropped = server.droppedConnections;
      const first = await server.accept();
      const second = await server.accept();
      for (const s of socks) await s.close();
      await closeAll(first, second, server);
      return dropped;
    });
    expect(got).toBe(2);
  });
});

describe('Unix sockets', () => {
  test('unixServer and openUnixConnection echo; the socket file is removed on close', async () => {
    const dir = tempDir();
    const path = join(dir, 'echo.sock');
    try {
      const got = await runReal(async () => {
        const ready = new Event();
        const serving = spawn(() => unixServer(path, echo, { onListening: () => ready.set() }), { name: 'server' });
        await ready.wait();
        const sock = await openUnixConnection(path);
        await sock.sendall(Buffer.from('over a unix socket'));
        await sock.shutdown();
        const reply = (await drain(sock)).toString();
        const peer = sock.peername;
        await sock.close();
        await serving.cancel();
        return { reply, peer, exists: existsSync(path) };
      });
      expect(got).toEqual({ reply: 'over a unix socket', peer: { family: 'unix', path }, exists: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unixServerSocket with a custom accept loop; blocked accept and recv are cancellable', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    try {
      const got = await runReal(async () => {
        const server = await unixServerSocket(path);
        await cancelWhileBlocked(() => server.accept(), 'READ_WAIT');
        const client = await openUnixConnection(path);
        const peer = await server.accept();
        await cancelWhileBlocked(() => peer.recv(10), 'READ_WAIT');
        await client.sendall(Buffer.from('unix'));
        const data = Buffer.from(await peer.recv(10)).toString();
        await closeAll(client, peer, server);
        return { data, address: server.address };
      });
      expect(got).toEqual({ data: 'unix', address: { family: 'unix', path } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('connecting to a missing Unix socket is a SocketError ENOENT', async () => {
    const got = await runReal(async () => {
      const error = await failure(openUnixConnection('/nonexistent/curio-test.sock'));
      return { typed: error instanceof SocketError, code: (error as SocketError).code };
    });
    expect(got).toEqual({ typed: true, code: 'ENOENT' });
  });
});

describe('interoperation with real external peers', () => {
  test('nc talks to the kernel echo server', async () => {
    const got = await runReal(async () => {
      const { port, task: serving } = await serve(echo);
      const input = Buffer.from('line one\nline two\n'.repeat(1000));
      const result = await command('nc', ['-N', '127.0.0.1', String(port)], input);
      await serving.cancel();
      return { code: result.code, same: result.stdout.equals(input) };
    });
    expect(got).toEqual({ code: 0, same: true });
  });

  test('the kernel client talks to an nc server', async () => {
    const got = await runReal(async () => {
      // Find a free port, then let nc listen on it.
      const probe = await tcpServerSocket('127.0.0.1', 0);
      const port = probe.port;
      await probe.close();
      const ncServer = spawn(() => command('nc', ['-l', '-N', '127.0.0.1', String(port)], Buffer.from('hello from nc\n')), { name: 'nc' });
      let sock: Socket | null = null;
      for (let attempt = 0; attempt < 400 && sock === null; attempt++) {
        try {
          sock = await openConnection('127.0.0.1', port);
        } catch {
          await sleep(10);
        }
      }
      if (sock === null) throw new Error('nc never listened');
      await sock.sendall(Buffer.from('hello from the kernel\n'));
      await sock.shutdown();
      const fromNc = (await drain(sock)).toString();
      await sock.close();
      const result = await ncServer.join();
      return { fromNc, toNc: result.stdout.toString() };
    });
    expect(got).toEqual({ fromNc: 'hello from nc\n', toNc: 'hello from the kernel\n' });
  });

  test('curl fetches from a minimal HTTP server written on kernel sockets', async () => {
    const got = await runReal(async () => {
      const handler = async (client: Socket): Promise<void> => {
        const stream = client.asStream();
        const requestLine = Buffer.from(await stream.readline()).toString().trim();
        for (;;) {
          const header = await stream.readline();
          if (header.length <= 2) break;
        }
        const body = `you asked for ${requestLine.split(' ')[1]}\n`;
        await stream.write(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
      };
      const { port, task: serving } = await serve(handler);
      const result = await command('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${port}/curio?x=1`]);
      await serving.cancel();
      return { code: result.code, body: result.stdout.toString() };
    });
    expect(got).toEqual({ code: 0, body: 'you asked for /curio?x=1\n' });
  });
});
