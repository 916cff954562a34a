// The HTTP client in kernel tasks: every wait of a request is an operation of the calling task,
// so the kernel's timeoutAfter and task cancellation interrupt it, and close its connection.
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskTimeout, run, spawn, sleep, timeoutAfter } from '@curio-ts/kernel';
import { fetch, request } from '@curio-ts/backend-curio';

let server: http.Server;
let base = '';
const sockets = new Set<Socket>();
let closedSockets = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/never') return;
    if (req.url === '/stall') {
      res.write('part');
      return;
    }
    res.end('hello');
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closedSockets++;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Wait until `condition` holds (kernel sleeps). */
async function until(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 400 && !condition(); i++) await sleep(5);
  return condition();
}

describe('the HTTP client under the kernel', () => {
  it("the backend's bound request and fetch pool connections across calls", async () => {
    await run(async () => {
      expect(await (await request(`${base}/`)).body.text()).toBe('hello');
      expect(await (await fetch(`${base}/`)).text()).toBe('hello');
      expect(await (await request(`${base}/`)).body.text()).toBe('hello');
      expect(sockets.size).toBe(1);
    });
  });

  it('a later kernel run gets working connections (those of an ended kernel are not reused)', async () => {
    for (let round = 0; round < 3; round++) {
      await run(async () => {
        const text = await timeoutAfter(2_000, async () => (await request(`${base}/`)).body.text());
        expect(text).toBe('hello');
      });
    }
  });

  it('timeoutAfter interrupts a request waiting for its head, and its connection is closed', async () => {
    await run(async () => {
      const before = closedSockets;
      const error = await timeoutAfter(100, () => request(`${base}/never`)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TaskTimeout);
      expect(await until(() => closedSockets > before)).toBe(true);
    });
  });

  it('on a reused connection (the wait for the head is the task\'s own operation): timeoutAfter and cancellation interrupt it, the connection is closed', async () => {
    await run(async () => {
      expect(await (await request(`${base}/`)).body.text()).toBe('hello');
      const before = closedSockets;
      const error = await timeoutAfter(100, () => request(`${base}/never`)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TaskTimeout);
      expect(await until(() => closedSockets > before)).toBe(true);
      expect(await (await request(`${base}/`)).body.text()).toBe('hello');
      const again = closedSockets;
      let started = false;
      const task = await spawn(async () => {
        started = true;
        await request(`${base}/never`);
        return 'not reached';
      });
      expect(await until(() => started)).toBe(true);
      await sleep(20);
      await task.cancel();
      expect(task.cancelled).toBe(true);
      expect(await until(() => closedSockets > again)).toBe(true);
      expect(await (await request(`${base}/`)).body.text()).toBe('hello');
    });
  });

  it("cancelling a task blocked reading a response body interrupts it and closes the connection", async () => {
    await run(async () => {
      const before = closedSockets;
      let reached = false;
      const task = await spawn(async () => {
        const response = await request(`${base}/stall`);
        await response.body.read();
        reached = true;
        await response.body.read();
        return 'not reached';
      });
      expect(await until(() => reached)).toBe(true);
      await task.cancel();
      expect(task.cancelled).toBe(true);
      expect(await until(() => closedSockets > before)).toBe(true);
    });
  });
});
