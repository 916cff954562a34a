// The node backend's bound `request` and `fetch`: the node runtime's default agent pools their
// connections; fetch decodes br with node:zlib.
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fetch, request } from '@curio-ts/backend-node';

describe("the node backend's request and fetch", () => {
  it('share the default pool; fetch decodes br and gzip', async () => {
    const text = 'bound to node '.repeat(1000);
    let connections = 0;
    const sockets = new Set<Socket>();
    const server = http.createServer((req, res) => {
      if (req.url === '/br') res.writeHead(200, { 'Content-Encoding': 'br' }).end(brotliCompressSync(text));
      else if (req.url === '/gzip') res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(text));
      else res.end('plain');
    });
    server.on('connection', (socket: Socket) => {
      connections++;
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await request(`${base}/`)).body.text()).toBe('plain');
      expect(await (await fetch(`${base}/br`)).text()).toBe(text);
      expect(await (await fetch(`${base}/gzip`)).text()).toBe(text);
      expect(await (await request(`${base}/`)).body.text()).toBe('plain');
      expect(connections).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
