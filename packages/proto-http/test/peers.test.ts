// Real peers: curl and Node's own http module against the server role driven over node:net by
// a few lines of IO, and the client role against a node:http server.

import { execFile, spawn } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Data, EndOfMessage, HttpConnection, InformationalResponse, NEED_DATA, PAUSED, Request, Response } from '../src/index.js';

/** A tiny server on the server role: GET / → hello, POST /echo → the body, anything else 404. */
function startServer(): Promise<{ port: number; close: () => Promise<void>; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    const conn = new HttpConnection('server');
    let request: Request | null = null;
    let body: Uint8Array[] = [];
    const respond = (): void => {
      const req = request as Request;
      let status = 404;
      let payload = Buffer.from('not found');
      const type = req.headers.get('content-type') ?? 'text/plain';
      if (req.method === 'GET' && req.target === '/') {
        status = 200;
        payload = Buffer.from('hello');
      } else if (req.method === 'POST' && req.target === '/echo') {
        status = 200;
        payload = Buffer.concat(body);
      }
      socket.cork();
      socket.write(conn.send(new Response(status, [['Content-Type', type], ['Content-Length', String(payload.length)]])) as Uint8Array);
      socket.write(conn.send(new Data(payload)) as Uint8Array);
      socket.write(conn.send(new EndOfMessage()) as Uint8Array);
      socket.uncork();
    };
    const pump = (): void => {
      for (;;) {
        let event;
        try {
          event = conn.nextEvent();
        } catch (error) {
          socket.end(`HTTP/1.1 ${(error as { statusHint: number }).statusHint} Bad\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
          return;
        }
        if (event === NEED_DATA) return;
        if (event === PAUSED) {
          if (conn.ourState === 'DONE' && conn.theirState === 'DONE') {
            conn.startNextCycle();
            continue;
          }
          if (conn.ourState === 'MUST_CLOSE' || conn.theirState === 'MUST_CLOSE') socket.end();
          return;
        }
        switch (event.type) {
          case 'request':
            request = event;
            body = [];
            if (conn.theyAreWaitingFor100Continue) socket.write(conn.send(new InformationalResponse(100)) as Uint8Array);
            break;
          case 'data':
            body.push(Buffer.from(event.data));
            break;
          case 'end-of-message':
            respond();
            if (conn.ourState === 'MUST_CLOSE') {
              socket.end();
              return;
            }
            if (conn.theirState === 'DONE' && conn.ourState === 'DONE') conn.startNextCycle();
            break;
          case 'connection-closed':
            socket.end();
            return;
        }
      }
    };
    socket.on('data', (chunk) => {
      conn.receiveData(chunk);
      pump();
    });
    socket.on('end', () => {
      try {
        conn.receiveData(new Uint8Array(0));
        pump();
      } catch {
        socket.destroy();
      }
    });
    socket.on('close', () => conn.destroy());
    socket.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        connections: () => connections,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

function curl(args: string[], input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--max-time', '10', ...args]);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('latin1')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`curl ${args.join(' ')}: exit ${code}: ${err}`))));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

describe('the server role against real clients', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve, reject) => execFile('curl', ['--version'], (error) => (error ? reject(new Error('curl is needed: apt-get install curl')) : resolve())));
    server = await startServer();
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => server.close());

  it('curl, HTTP/1.1 and HTTP/1.0', async () => {
    expect(await curl([`${base}/`])).toBe('hello');
    expect(await curl(['--http1.0', `${base}/`])).toBe('hello');
    expect(await curl(['-o', '/dev/null', '-w', '%{http_code}', `${base}/missing`])).toBe('404');
  });

  it('curl keeps the connection alive across requests', async () => {
    const before = server.connections();
    const out = await curl(['-w', '|%{num_connects}\\n', `${base}/`, `${base}/`, `${base}/`]);
    expect(out).toBe('hello|1\nhello|0\nhello|0\n');
    expect(server.connections() - before).toBe(1);
  });

  it('curl: a chunked upload, and Expect: 100-continue', async () => {
    const payload = Buffer.alloc(300_000, 'abcdefgh');
    const chunked = await curl(['-H', 'Transfer-Encoding: chunked', '-H', 'Content-Type: application/x-test', '--data-binary', '@-', `${base}/echo`], payload);
    expect(chunked.length).toBe(payload.length);
    expect(chunked).toBe(payload.toString('latin1'));
    const expected = await curl(['-H', 'Expect: 100-continue', '--expect100-timeout', '5', '--data-binary', '@-', '-w', '|%{time_starttransfer}', `${base}/echo`], Buffer.from('after continue'));
    expect(expected.split('|')[0]).toBe('after continue');
  });

  it("Node's http client, keep-alive agent, many requests", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const get = (path: string, body?: string): Promise<[number, string]> =>
      new Promise((resolve, reject) => {
        const req = http.request(`${base}${path}`, { agent, method: body === undefined ? 'GET' : 'POST' }, (res) => {
          let text = '';
          res.setEncoding('latin1');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve([res.statusCode ?? 0, text]));
        });
        req.on('error', reject);
        req.end(body);
      });
    const before = server.connections();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? get('/') : get('/echo', `body ${i}`))));
    results.forEach(([status, text], i) => {
      expect(status).toBe(200);
      expect(text).toBe(i % 2 === 0 ? 'hello' : `body ${i}`);
    });
    expect(server.connections() - before).toBeLessThanOrEqual(2);
    agent.destroy();
  });

  it('a request-smuggling attempt gets a 400 and the connection closed', async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.write('POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    expect(text).toMatch(/^HTTP\/1.1 400 /);
    expect(text).not.toContain('hello');
  });
});

describe('the client role against node:http', () => {
  it('requests over one keep-alive connection: chunked responses, a HEAD, a streamed upload', async () => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (req.method === 'HEAD') res.writeHead(200, { 'content-length': '12345' }).end();
        else if (req.url === '/stream') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          for (let i = 0; i < 5; i++) res.write(`part ${i};`);
          res.end();
        } else res.writeHead(201, { 'x-len': String(body.length) }).end(body.toUpperCase());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const conn = new HttpConnection('client');
    const inbox: Buffer[] = [];
    let wake: (() => void) | null = null;
    socket.on('data', (c: Buffer) => {
      inbox.push(c);
      wake?.();
    });
    const response = async (): Promise<{ status: number; headers: [string, string][]; body: string }> => {
      let status = 0;
      let headers: [string, string][] = [];
      let body = '';
      for (;;) {
        const event = conn.nextEvent();
        if (event === NEED_DATA) {
          if (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          conn.receiveData(inbox.shift() as Buffer);
          continue;
        }
        if (event === PAUSED) throw new Error('paused');
        if (event.type === 'response') {
          status = event.status;
          headers = event.headers.entries();
        } else if (event.type === 'data') body += Buffer.from(event.data).toString('latin1');
        else if (event.type === 'end-of-message') return { status, headers, body };
      }
    };
    const host: [string, string] = ['Host', `127.0.0.1:${port}`];

    socket.write(conn.send(new Request('GET', '/stream', [host])) as Uint8Array);
    conn.send(new EndOfMessage());
    const first = await response();
    expect(first.status).toBe(200);
    expect(first.body).toBe('part 0;part 1;part 2;part 3;part 4;');
    expect(first.headers.find(([n]) => n.toLowerCase() === 'transfer-encoding')?.[1]).toBe('chunked');
    conn.startNextCycle();

    socket.write(conn.send(new Request('HEAD', '/', [host])) as Uint8Array);
    conn.send(new EndOfMessage());
    const head = await response();
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    conn.startNextCycle();

    socket.write(conn.send(new Request('POST', '/up', [host, ['Transfer-Encoding', 'chunked']])) as Uint8Array);
    for (const part of ['abc', 'def', 'ghi']) socket.write(conn.send(new Data(Buffer.from(part))) as Uint8Array);
    socket.write(conn.send(new EndOfMessage()) as Uint8Array);
    const upload = await response();
    expect(upload.status).toBe(201);
    expect(upload.body).toBe('ABCDEFGHI');
    expect(upload.headers).toContainEqual(['x-len', '9']);
    conn.startNextCycle();
    conn.destroy();
    socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
