// TLS client and server on kernel sockets, with certificates made at test time by the openssl
// CLI: round trips, large transfers, half-close, cancellation, handshake failures as typed
// errors (untrusted certificate, wrong host name), and curl as an external TLS client.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskTimeout, TlsError, openConnection, spawn, tcpServerSocket, timeoutAfter } from '@curio-ts/kernel';
import type { Socket, SocketError } from '@curio-ts/kernel';
import { closeAll, command, serve, drain, failure, payload, runReal } from './socket-helpers.js';

interface Certs {
  dir: string;
  ca: string;
  key: string;
  cert: string;
  selfKey: string;
  selfCert: string;
}

let certs: Certs;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'curio-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=curio-ts test CA', '-days', '2'], dir);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf'], dir);
  openssl(['req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.crt', '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  certs = { dir, ca: read('ca.crt'), key: read('server.key'), cert: read('server.crt'), selfKey: read('self.key'), selfCert: read('self.crt') };
});

afterAll(() => {
  rmSync(certs.dir, { recursive: true, force: true });
});

async function tlsPair(): Promise<{ client: Socket; peer: Socket; close: () => Promise<void> }> {
  const server = await tcpServerSocket('127.0.0.1', 0, { tls: { key: certs.key, cert: certs.cert } });
  const accepting = spawn(() => server.accept(), { name: 'acceptor' });
  const client = await openConnection('127.0.0.1', server.port, { tls: { ca: certs.ca } });
  const peer = await accepting.join();
  return { client, peer, close: () => closeAll(client, peer, server) };
}

describe('TLS', () => {
  test('a round trip over TLS, verified against the test CA (by IP and by host name)', async () => {
    const got = await runReal(async () => {
      const { client, peer, close } = await tlsPair();
      await client.sendall(Buffer.from('secret'));
      const atServer = Buffer.from(await peer.recv(100)).toString();
      await peer.sendall(Buffer.from('reply'));
      const atClient = Buffer.from(await client.recv(100)).toString();
      const flags = { client: client.tls, peer: peer.tls };
      await close();

      const server = await tcpServerSocket('127.0.0.1', 0, { tls: { key: certs.key, cert: certs.cert } });
      const accepting = spawn(() => server.accept());
      const named = await openConnection('127.0.0.1', server.port, { tls: { ca: certs.ca }, serverHostname: 'localhost' });
      const namedPeer = await accepting.join();
      await named.sendall(Buffer.from('by name'));
      const byName = Buffer.from(await namedPeer.recv(100)).toString();
      await closeAll(named, namedPeer, server);
      return { atServer, atClient, flags, byName };
    });
    expect(got).toEqual({ atServer: 'secret', atClient: 'reply', flags: { client: true, peer: true }, byName: 'by name' });
  });

  test('8 MiB each way over TLS arrive intact; half-close works', async () => {
    const up = payload(8 * 1024 * 1024, 21);
    const down = payload(8 * 1024 * 1024, 22);
    const got = await runReal(async () => {
      const { client, peer, close } = await tlsPair();
      const sending = spawn(async () => {
        await client.sendall(up);
        await client.shutdown();
      });
      const serving = spawn(async () => {
        const request = await drain(peer);
        await peer.sendall(down);
        await peer.shutdown();
        return request;
      });
      const reply = await drain(client);
      const request = await serving.join();
      await sending.join();
      await close();
      return { up: request.equals(up), down: reply.equals(down) };
    });
    expect(got).toEqual({ up: true, down: true });
  }, 30_000);

  test('recv on a TLS socket times out and the socket stays usable', async () => {
    const got = await runReal(async () => {
      const { client, peer, close } = await tlsPair();
      const error = await failure(timeoutAfter(30, () => peer.recv(10)));
      await client.sendall(Buffer.from('after'));
      const data = Buffer.from(await peer.recv(10)).toString();
      await close();
      return { timeout: error instanceof TaskTimeout, data };
    });
    expect(got).toEqual({ timeout: true, data: 'after' });
  });

  test('an untrusted certificate is a TlsError; the server keeps accepting', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0, { tls: { key: certs.selfKey, cert: certs.selfCert } });
      const error = await failure(openConnection('127.0.0.1', server.port, { tls: true }));
      const accepting = spawn(() => server.accept());
      const good = await openConnection('127.0.0.1', server.port, { tls: { ca: certs.selfCert } });
      const peer = await accepting.join();
      await good.sendall(Buffer.from('ok'));
      const data = Buffer.from(await peer.recv(10)).toString();
      await closeAll(good, peer, server);
      return { typed: error instanceof TlsError, code: (error as SocketError).code, data };
    });
    expect(got.typed).toBe(true);
    expect(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']).toContain(got.code);
    expect(got.data).toBe('ok');
  });

  test('a certificate for another host name is a TlsError', async () => {
    const got = await runReal(async () => {
      const server = await tcpServerSocket('127.0.0.1', 0, { tls: { key: certs.key, cert: certs.cert } });
      const error = await failure(openConnection('127.0.0.1', server.port, { tls: { ca: certs.ca }, serverHostname: 'not-the-server.example' }));
      await server.close();
      return { typed: error instanceof TlsError, code: (error as SocketError).code };
    });
    expect(got).toEqual({ typed: true, code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  test('serverHostname without tls is a TypeError', async () => {
    const got = await runReal(async () => failure(openConnection('127.0.0.1', 1, { serverHostname: 'x' })));
    expect(got).toBeInstanceOf(TypeError);
  });

  test('curl fetches over HTTPS from a kernel TLS server', async () => {
    const got = await runReal(async () => {
      const handler = async (client: Socket): Promise<void> => {
        const stream = client.asStream();
        for (;;) {
          const line = await stream.readline();
          if (line.length <= 2) break;
        }
        const body = 'hello over tls\n';
        await stream.write(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
      };
      const { port, task: serving } = await serve(handler, { tls: { key: certs.key, cert: certs.cert } });
      const result = await command('curl', ['-sS', '--max-time', '10', '--cacert', join(certs.dir, 'ca.crt'), `https://localhost:${port}/`]);
      const untrusted = await command('curl', ['-sS', '--max-time', '10', `https://localhost:${port}/`]);
      await serving.cancel();
      return { code: result.code, body: result.stdout.toString(), untrustedFailed: untrusted.code !== 0 };
    });
    expect(got).toEqual({ code: 0, body: 'hello over tls\n', untrustedFailed: true });
  });
});
