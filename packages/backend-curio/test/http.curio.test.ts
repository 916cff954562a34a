// The HTTP server and the kernel's own rules: run() returning cancels what is left, and a
// server left open is one of those things; its port is released and run() resolves.
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { run, sleep } from '@curio-ts/kernel';
import { serveHttp } from '@curio-ts/backend-curio';

/** Whether a TCP connect to `port` on loopback is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

describe('the HTTP server under the kernel', () => {
  it('a server never closed: run() still resolves when main returns, and the port is released', async () => {
    let port = 0;
    const served = await run(async () => {
      const server = await serveHttp(async () => ({ body: 'hi' }));
      const address = server.address;
      if (!('port' in address)) throw new Error('not TCP');
      port = address.port;
      const response = await fetch(`http://127.0.0.1:${port}/`);
      return response.text();
    });
    expect(served).toBe('hi');
    expect(await refused(port)).toBe(true);
  });

  it('a handler still running when main returns is cancelled, and its client sees the connection end', async () => {
    let port = 0;
    let handlerEnded = '';
    const pending = new Promise<string>((resolve) => {
      void run(async () => {
        const server = await serveHttp(async () => {
          try {
            await sleep(60_000);
            return { body: 'late' };
          } catch (error) {
            handlerEnded = (error as Error).name;
            throw error;
          }
        });
        const address = server.address;
        if (!('port' in address)) throw new Error('not TCP');
        port = address.port;
        fetch(`http://127.0.0.1:${port}/`).then(
          () => resolve('answered'),
          () => resolve('connection ended'),
        );
        await sleep(100);
      });
    });
    expect(await pending).toBe('connection ended');
    expect(handlerEnded).toMatch(/Cancel/);
    expect(await refused(port)).toBe(true);
  });
});

/** One keep-alive GET on `socket`: resolves with the response's text once its body (Content-Length) is in. */
function exchange(socket: net.Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = /content-length: *(\d+)/i.exec(text.slice(0, head));
      if (length === null || text.length - head - 4 < Number(length[1])) return;
      socket.off('data', onData);
      resolve(text);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
  });
}

describe('idle connections under the kernel (the sweep takes them out of their tasks)', () => {
  it('an idle keep-alive connection holds no task; its next request runs in a new one (a handler that traps), and the kernel ending closes it', async () => {
    const counts: number[] = [];
    let client: net.Socket | null = null;
    const answers = await run(async () => {
      // The first answer is synchronous (a connection whose handler awaited something keeps a
      // reader task, see server.ts, and is not parked); the later ones sleep: a kernel trap,
      // which works only in a task.
      const server = await serveHttp(
        (request) => {
          if (request.path === '/one') return { body: 'path /one' };
          return sleep(1).then(() => ({ body: `path ${request.path}` }));
        },
        { idleTimeout: 60_000, headersTimeout: 60_000 },
      );
      const address = server.address;
      if (!('port' in address)) throw new Error('not TCP');
      const kernel = (await import('@curio-ts/kernel/lowlevel')).currentTaskOrNull()?.kernel;
      if (kernel === undefined) throw new Error('no kernel');
      const socket = net.connect(address.port, '127.0.0.1');
      client = socket;
      await new Promise((resolve) => socket.once('connect', resolve));
      const first = await exchange(socket, '/one');
      counts.push(kernel.taskCount);
      await sleep(1000); // several sweep ticks (250 ms at most each): the connection is parked
      counts.push(kernel.taskCount);
      const second = await exchange(socket, '/two');
      await sleep(1000);
      const third = await exchange(socket, '/three');
      expect(server.connections).toBe(1);
      return [first, second, third];
    });
    expect(answers.map((text) => text.slice(text.indexOf('\r\n\r\n') + 4))).toEqual(['path /one', 'path /two', 'path /three']);
    // The parked connection's task is gone: one task less than while it waited in a task's read.
    expect(counts[1]).toBe((counts[0] as number) - 1);
    // run() returned: the parked connection was closed (the client sees its end).
    const socket = client as net.Socket | null;
    if (socket === null) throw new Error('no client');
    if (!socket.destroyed && !socket.readableEnded) await new Promise((resolve) => socket.once('close', resolve));
    expect(socket.readableEnded || socket.destroyed).toBe(true);
    socket.destroy();
  });
});
