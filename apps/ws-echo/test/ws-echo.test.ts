// ws-echo against the real `ws` client, on both runtimes: echo of text and binary, 1 MB
// messages, fragmented messages, ping/pong, the close handshake and its codes, limits, many
// clients at once; raw sockets for what `ws` will not send (unmasked frames, bad UTF-8); and
// the app as users run it (a process, stopped by SIGTERM).

import type { ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { serveHttp as serveOnNode } from '@curio-ts/backend-node';
import { serveHttp as serveOnCurio } from '@curio-ts/backend-curio';
import { run } from '@curio-ts/kernel';
import { startAppProcess } from '@curio-ts/conformance';
import { startWsEcho } from '../src/echo.js';
import type { WsEcho, WsEchoOptions } from '../src/echo.js';
import { Opcode, closePayload, encodeFrame } from '../src/frames.js';

const MASK = Uint8Array.of(1, 2, 3, 4);

/** Run `body` against an echo server on `runtime` (inside a kernel task on curio). */
function withEcho(runtime: string, body: (url: string, echo: WsEcho) => Promise<void>, options: WsEchoOptions = {}): Promise<void> {
  const go = async (serve: typeof serveOnNode): Promise<void> => {
    const echo = await startWsEcho(serve, options);
    try {
      const address = echo.http.address;
      if (!('port' in address)) throw new Error('not a TCP server');
      await body(`ws://127.0.0.1:${address.port}`, echo);
    } finally {
      await echo.close();
    }
  };
  return runtime === 'node' ? go(serveOnNode) : run(() => go(serveOnCurio));
}

function open(url: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** The next `n` messages of `ws`. */
function messages(ws: WebSocket, n: number): Promise<{ data: Buffer; binary: boolean }[]> {
  return new Promise((resolve, reject) => {
    const got: { data: Buffer; binary: boolean }[] = [];
    const onMessage = (data: WebSocket.RawData, binary: boolean): void => {
      got.push({ data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), binary });
      if (got.length === n) {
        ws.off('message', onMessage);
        resolve(got);
      }
    };
    ws.on('message', onMessage);
    ws.once('close', (code) => got.length < n && reject(new Error(`closed (${code}) after ${got.length} of ${n} messages`)));
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** A raw socket that completed the opening handshake; everything after the 101 head is collected. */
async function rawWebSocket(url: string): Promise<{ socket: net.Socket; received: () => Buffer; ended: Promise<void> }> {
  const port = Number(new URL(url).port);
  const socket = net.connect(port, '127.0.0.1');
  let data = Buffer.alloc(0);
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => (data = Buffer.concat([data, chunk])));
  socket.write('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  for (let i = 0; i < 500 && !data.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
  const head = data.toString('latin1', 0, data.indexOf('\r\n\r\n'));
  expect(head).toMatch(/^HTTP\/1.1 101 /);
  expect(head).toMatch(/sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  const start = data.indexOf('\r\n\r\n') + 4;
  return { socket, received: () => data.subarray(start), ended };
}

/** The close code the server sent after `frames` (a close frame is 0x88, length, code). */
async function closeCodeAfter(url: string, frames: Uint8Array): Promise<number> {
  const raw = await rawWebSocket(url);
  raw.socket.write(frames);
  await raw.ended;
  const bytes = raw.received();
  const at = bytes.lastIndexOf(0x88);
  expect(at).toBeGreaterThanOrEqual(0);
  return bytes.readUInt16BE(at + 2);
}

for (const runtime of ['node', 'curio']) {
  describe(`ws-echo on the ${runtime} runtime, with the ws client`, () => {
    test('text and binary messages come back with their type; UTF-8 intact', async () => {
      await withEcho(runtime, async (url) => {
        const ws = await open(url);
        const back = messages(ws, 3);
        ws.send('hello');
        ws.send(Buffer.from([0, 1, 2, 255]));
        ws.send('日本語 🎉 ü');
        const got = await back;
        expect(got.map((m) => m.binary)).toEqual([false, true, false]);
        expect(got[0]?.data.toString()).toBe('hello');
        expect([...(got[1]?.data ?? [])]).toEqual([0, 1, 2, 255]);
        expect(got[2]?.data.toString()).toBe('日本語 🎉 ü');
        const bye = closed(ws);
        ws.close(1000, 'done');
        expect(await bye).toEqual({ code: 1000, reason: '' });
      });
    });

    test('1 MB binary and 1 MB text messages', async () => {
      await withEcho(runtime, async (url) => {
        const ws = await open(url);
        const binary = Buffer.alloc(1 << 20).map((_, i) => (i * 31) & 0xff);
        const text = 'é'.repeat(1 << 19); // 1 MiB of two-byte code points
        const back = messages(ws, 2);
        ws.send(binary);
        ws.send(text);
        const [a, b] = await back;
        expect(a?.binary).toBe(true);
        expect(a?.data.equals(binary)).toBe(true);
        expect(b?.data.toString() === text).toBe(true);
        ws.close();
      });
    });

    test('fragmented messages (a code point split across fragments) are echoed whole', async () => {
      await withEcho(runtime, async (url) => {
        const ws = await open(url);
        const back = messages(ws, 2);
        const euro = Buffer.from('a€b');
        ws.send(euro.subarray(0, 2), { fin: false, binary: false });
        ws.send(euro.subarray(2, 3), { fin: false });
        ws.ping('between fragments');
        ws.send(euro.subarray(3), { fin: true });
        const parts = Array.from({ length: 5 }, (_, i) => Buffer.alloc(70_000, i));
        parts.forEach((part, i) => ws.send(part, { fin: i === parts.length - 1, binary: true }));
        const [text, binary] = await back;
        expect(text?.binary).toBe(false);
        expect(text?.data.toString()).toBe('a€b');
        expect(binary?.binary).toBe(true);
        expect(binary?.data.equals(Buffer.concat(parts))).toBe(true);
        ws.close();
      });
    });

    test('ping → pong with its data', async () => {
      await withEcho(runtime, async (url) => {
        const ws = await open(url);
        const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
        ws.ping(Buffer.from('are you there'));
        expect((await pong).toString()).toBe('are you there');
        ws.close();
      });
    });

    test('close codes: the client’s code is echoed; none sent, none echoed (1005)', async () => {
      await withEcho(runtime, async (url) => {
        for (const code of [1000, 1001, 3000, 4999]) {
          const ws = await open(url);
          const bye = closed(ws);
          ws.close(code, 'reason');
          expect((await bye).code).toBe(code);
        }
        const ws = await open(url);
        const bye = closed(ws);
        ws.close();
        expect((await bye).code).toBe(1005);
      });
    });

    test('a message over the limit → 1009; ws-echo serves the next client', async () => {
      await withEcho(
        runtime,
        async (url) => {
          const ws = await open(url);
          const bye = closed(ws);
          ws.send(Buffer.alloc(5000));
          expect((await bye).code).toBe(1009);
          const fragmented = await open(url);
          const byeFragmented = closed(fragmented);
          for (let i = 0; i < 5; i++) fragmented.send(Buffer.alloc(1000), { fin: i === 4 });
          expect((await byeFragmented).code).toBe(1009);
          const next = await open(url);
          const back = messages(next, 1);
          next.send(Buffer.alloc(4096, 7));
          expect((await back)[0]?.data.length).toBe(4096);
          next.close();
        },
        { maxMessageBytes: 4096 },
      );
    });

    test('what ws will not send, over a raw socket: unmasked → 1002, bad UTF-8 → 1007, bad close code → 1002', async () => {
      await withEcho(runtime, async (url) => {
        expect(await closeCodeAfter(url, encodeFrame(Opcode.text, Buffer.from('unmasked')))).toBe(1002);
        expect(await closeCodeAfter(url, encodeFrame(Opcode.text, Uint8Array.of(0xc0, 0xaf), { mask: MASK }))).toBe(1007);
        expect(await closeCodeAfter(url, encodeFrame(Opcode.close, closePayload(1006), { mask: MASK }))).toBe(1002);
        expect(await closeCodeAfter(url, Uint8Array.of(0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 9, 9, 9, 9, 9))).toBe(1002);
        // A frame in the same write as the handshake (the bytes after the request) is served.
        const port = Number(new URL(url).port);
        const early = await new Promise<Buffer>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          let data = Buffer.alloc(0);
          socket.on('error', () => {});
          socket.on('data', (c: Buffer) => {
            data = Buffer.concat([data, c]);
            if (data.includes(Buffer.from('early bird')) && !socket.writableEnded) socket.end(encodeFrame(Opcode.close, closePayload(1000), { mask: MASK }));
          });
          socket.on('close', () => resolve(data));
          socket.write(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'), encodeFrame(Opcode.text, Buffer.from('early bird'), { mask: MASK })]));
        });
        expect(early.subarray(early.indexOf('\r\n\r\n') + 4).equals(Buffer.concat([encodeFrame(Opcode.text, Buffer.from('early bird')), encodeFrame(Opcode.close, closePayload(1000))]))).toBe(true);
      });
    });

    test('handshakes refused: plain HTTP → 426, version 8 → 426 with Sec-WebSocket-Version, a bad key → 400', async () => {
      await withEcho(runtime, async (url) => {
        const port = Number(new URL(url).port);
        const ask = (head: string): Promise<string> =>
          new Promise((resolve) => {
            const socket = net.connect(port, '127.0.0.1');
            let text = '';
            socket.on('data', (c: Buffer) => {
              text += c.toString('latin1');
              if (text.includes('\r\n\r\n')) socket.end();
            });
            socket.on('close', () => resolve(text));
            socket.write(head);
          });
        expect(await ask('GET / HTTP/1.1\r\nHost: h\r\n\r\n')).toMatch(/^HTTP\/1.1 426 /);
        const v8 = await ask('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
        expect(v8).toMatch(/^HTTP\/1.1 426 /);
        expect(v8).toMatch(/sec-websocket-version: 13/i);
        expect(await ask('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n')).toMatch(/^HTTP\/1.1 400 /);
      });
    });

    test('100 clients at once, 10 messages each, each gets its own back in order', async () => {
      await withEcho(runtime, async (url, echo) => {
        const clients = await Promise.all(Array.from({ length: 100 }, () => open(url)));
        // A session registers once the server has written its 101, which the client may see first.
        for (let i = 0; i < 500 && echo.sessions < 100; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(echo.sessions).toBe(100);
        const results = await Promise.all(
          clients.map(async (ws, c) => {
            const back = messages(ws, 10);
            for (let m = 0; m < 10; m++) ws.send(`client ${c} message ${m}`);
            const got = await back;
            const bye = closed(ws);
            ws.close(1000);
            await bye;
            return got.map((g) => g.data.toString());
          }),
        );
        results.forEach((got, c) => expect(got).toEqual(Array.from({ length: 10 }, (_, m) => `client ${c} message ${m}`)));
      });
    });

    test('closing the server sends 1001 (going away) to open sessions', async () => {
      let bye: Promise<{ code: number; reason: string }> | null = null;
      await withEcho(runtime, async (url) => {
        const ws = await open(url);
        bye = closed(ws);
      });
      expect(await bye).toEqual({ code: 1001, reason: 'server stopping' });
    });
  });
}

// The app as users run it.
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const started: ChildProcess[] = [];

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

for (const runtime of ['node', 'curio']) {
  test(`ws-echo --runtime ${runtime} as a process: prints its line, echoes, exits 0 on SIGTERM`, async () => {
    const app = await startAppProcess(main, ['--port', '0', '--runtime', runtime], /ws-echo listening on (ws:\/\/127\.0\.0\.1:\d+) \((node|curio)\)/);
    started.push(app.child);
    const ws = await open(app.ready[1] as string);
    const back = messages(ws, 1);
    ws.send('over a process');
    expect((await back)[0]?.data.toString()).toBe('over a process');
    const bye = closed(ws);
    app.child.kill('SIGTERM');
    expect((await bye).code).toBe(1001);
    expect(await app.exited).toBe(0);
    expect(app.output()).toContain('ws-echo stopping (SIGTERM)');
  });

  test(`ws-echo --runtime ${runtime}: a bad option is a usage error (exit 2)`, async () => {
    await expect(startAppProcess(main, ['--port', 'x', '--runtime', runtime], /listening/)).rejects.toThrow(/invalid port x[\s\S]*usage:/);
  });
}
