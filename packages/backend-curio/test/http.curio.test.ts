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
