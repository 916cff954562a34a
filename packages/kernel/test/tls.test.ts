// TLS client and server on kernel sockets, with certificates made at test time by the openssl
// CLI: round trips, large transfers, half-close, cancellation, handshake failures as typed
// errors (untrusted certificate, wrong host name), and curl as an external TLS client.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ReadResourceBusy,
  SocketClosedError,
  TaskTimeout,
  TlsError,
  openConnection,
  spawn,
  startTls,
  subprocess,
  tcpServerSocket,
  timeoutAfter,
} from '@curio-ts/kernel';
import type { Socket, SocketError } from '@curio-ts/kernel';
import { closeAll, command, connectedPair, serve, drain, failure, payload, runReal, until } from './socket-helpers.js';

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

describe('STARTTLS: upgrading a connection with startTls', () => {
  const text = (data: Uint8Array): string => Buffer.from(data).toString();

  test('kernel client and server agree in the clear, upgrade both ends, and move 1 MiB each way over TLS', async () => {
    const up = payload(1024 * 1024, 31);
    const down = payload(1024 * 1024, 32);
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const serverSide = spawn(async () => {
        const request = text(await peer.asStream().readline());
        await peer.sendall(Buffer.from('220 go ahead\r\n'));
        const secure = await startTls(peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert } });
        const received = await drain(secure);
        await secure.sendall(down);
        await secure.close();
        return { request, received: received.equals(up), tls: secure.tls };
      });
      await client.sendall(Buffer.from('STARTTLS\r\n'));
      const answer = text(await client.asStream().readline());
      const secure = await startTls(client, { tls: { ca: certs.ca }, serverHostname: 'localhost' });
      await secure.sendall(up);
      await secure.shutdown();
      const reply = await drain(secure);
      const old = (await failure(client.recv(10))) as SocketClosedError;
      await client.close(); // a no-op: the connection belongs to `secure`
      await secure.close();
      const atServer = await serverSide.join();
      await server.close();
      return { answer, reply: reply.equals(down), atServer, oldClosed: old instanceof SocketClosedError, oldMessage: old.message };
    });
    expect(got).toEqual({
      answer: '220 go ahead\r\n',
      reply: true,
      atServer: { request: 'STARTTLS\r\n', received: true, tls: true },
      oldClosed: true,
      oldMessage: 'this socket was upgraded to TLS: use the Socket that startTls returned',
    });
  }, 30_000);

  test('openssl s_client -starttls postgres upgrades against a kernel server (PostgreSQL SSLRequest)', async () => {
    const got = await runReal(async () => {
      const handler = async (client: Socket): Promise<void> => {
        const request = await client.asStream().readExactly(8);
        // SSLRequest: length 8, code 80877103.
        if (Buffer.from(request).readUInt32BE(4) !== 80877103) throw new Error('not an SSLRequest');
        await client.sendall(Buffer.from('S'));
        const secure = await startTls(client, { serverSide: true, tls: { key: certs.key, cert: certs.cert } });
        const line = text(await secure.asStream().readline());
        await secure.sendall(Buffer.from(line.toUpperCase()));
        await secure.close();
      };
      const { port, task: serving } = await serve(handler, { onClientError: (error) => console.error(error) });
      const result = await command(
        'openssl',
        ['s_client', '-starttls', 'postgres', '-connect', `127.0.0.1:${port}`, '-CAfile', join(certs.dir, 'ca.crt'), '-verify_return_error', '-quiet'],
        Buffer.from('hello over starttls\n'),
      );
      await serving.cancel();
      return { code: result.code, out: result.stdout.toString(), stderr: result.stderr.includes('unexpected eof') ? result.stderr : '' };
    });
    expect(got).toEqual({ code: 0, out: 'HELLO OVER STARTTLS\n', stderr: '' });
  });

  test('a kernel client upgrades a plain TCP connection to openssl s_server (-rev) and talks TLS', async () => {
    const got = await runReal(async () => {
      const server = await subprocess.spawnProcess(
        ['openssl', 's_server', '-accept', '127.0.0.1:0', '-naccept', '1', '-rev', '-key', join(certs.dir, 'server.key'), '-cert', join(certs.dir, 'server.crt')],
        { stdout: 'pipe', stderr: 'pipe' },
      );
      let port = 0;
      for await (const line of server.stdout as NonNullable<typeof server.stdout>) {
        const match = /^ACCEPT 127\.0\.0\.1:(\d+)/.exec(text(line));
        if (match !== null) {
          port = Number(match[1]);
          break;
        }
      }
      const plain = await openConnection('127.0.0.1', port);
      const secure = await startTls(plain, { tls: { ca: certs.ca }, serverHostname: 'localhost', timeout: 10_000 });
      await secure.sendall(Buffer.from('hello\n'));
      const stream = secure.asStream();
      let reply = '';
      while (!reply.includes('olleh')) reply += text(await stream.readline());
      await secure.close();
      await server.wait();
      return { reply: reply.trim(), authorized: secure.tls };
    });
    expect(got).toEqual({ reply: 'olleh', authorized: true });
  });

  test('plaintext that arrives after the upgrade request is refused (ERR_TLS_UNREAD_DATA), not mixed into TLS', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.sendall(Buffer.from('STARTTLS\r\nINJECTED'));
      const stream = peer.asStream();
      const request = text(await stream.readline());
      await until(() => peer.bufferedBytes === 8, 'the injected bytes are queued');
      const error = (await failure(startTls(peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert } }))) as SocketError;
      const stillThere = text(await peer.recv(100)); // refused before anything changed
      await closeAll(client, peer, server);
      return { request, code: error.code, stillThere };
    });
    expect(got).toEqual({ request: 'STARTTLS\r\n', code: 'ERR_TLS_UNREAD_DATA', stillThere: 'INJECTED' });
  });

  test("unread: 'handshake' hands a client hello the server socket already read to TLS; injected plaintext fails the handshake", async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      await client.sendall(Buffer.from('STARTTLS\r\n'));
      const request = text(await peer.recv(10));
      // The client does not wait for an answer: its hello reaches the server socket first.
      const upgrading = spawn(() => startTls(client, { tls: { ca: certs.ca }, serverHostname: 'localhost' }));
      await until(() => peer.bufferedBytes > 0, 'the client hello is queued at the server');
      const secure = await startTls(peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert }, unread: 'handshake' });
      const secureClient = await upgrading.join();
      await secureClient.sendall(Buffer.from('over tls'));
      const data = text(await secure.recv(100));
      await closeAll(secureClient, secure);

      const second = await connectedPair();
      await second.client.sendall(Buffer.from('STARTTLS\r\nINJECTED'));
      await second.peer.recv(10);
      await until(() => second.peer.bufferedBytes === 8, 'the injected bytes are queued');
      const error = await failure(startTls(second.peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert }, unread: 'handshake' }));
      await closeAll(second.client, second.peer, second.server, server);
      return { request, data, injected: error instanceof TlsError };
    });
    expect(got).toEqual({ request: 'STARTTLS\r\n', data: 'over tls', injected: true });
  });

  test('a server upgrade asking for a client certificate accepts a trusted one; tlsSession gives both certificates as DER', async () => {
    const der = (pem: string): string => new X509Certificate(pem).raw.toString('hex');
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const serverSide = spawn(() => startTls(peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert, ca: certs.ca, requestCert: true, ALPNProtocols: ['curio/1'] } }));
      const secure = await startTls(client, { tls: { ca: certs.ca, key: certs.key, cert: certs.cert, ALPNProtocols: ['curio/1'] }, serverHostname: 'localhost' });
      const secured = await serverSide.join();
      const atClient = secure.tlsSession;
      const atServer = secured.tlsSession;
      const plain = client.tlsSession;
      await closeAll(secure, secured, server);
      const hex = (bytes: Uint8Array | null | undefined): string | null => (bytes == null ? null : Buffer.from(bytes).toString('hex'));
      return {
        plain,
        clientSeesServer: hex(atClient?.peerCertificate) === der(certs.cert),
        serverSeesClient: hex(atServer?.peerCertificate) === der(certs.cert),
        serverOwn: hex(atServer?.localCertificate) === der(certs.cert),
        authorized: [atClient?.authorized, atServer?.authorized],
        alpn: atServer?.alpnProtocol,
        protocol: atClient?.protocol,
      };
    });
    expect(got).toEqual({ plain: null, clientSeesServer: true, serverSeesClient: true, serverOwn: true, authorized: [true, true], alpn: 'curio/1', protocol: 'TLSv1.3' });
  });

  test('a client that gives up during a server upgrade (untrusted certificate) fails the server handshake at once', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const serverSide = spawn(() => startTls(peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert } }));
      // No CA given: the client refuses the server's certificate and closes.
      const clientError = await failure(startTls(client, { serverHostname: 'localhost' }));
      const serverError = await failure(serverSide.join());
      await closeAll(client, peer, server);
      const cause = ((serverError as { cause?: unknown }).cause ?? serverError) as SocketError;
      return { client: clientError instanceof TlsError, server: cause.code };
    });
    expect(got).toEqual({ client: true, server: 'ECONNRESET' });
  });

  test('a socket another task is reading cannot be upgraded (ReadResourceBusy)', async () => {
    const got = await runReal(async () => {
      const { server, client, peer } = await connectedPair();
      const reader = spawn(() => peer.recv(10));
      await until(() => reader.state === 'READ_WAIT', 'the reader blocks');
      const error = await failure(startTls(peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert } }));
      await client.sendall(Buffer.from('x'));
      const data = text(await reader.join());
      await closeAll(client, peer, server);
      return { busy: error instanceof ReadResourceBusy, data };
    });
    expect(got).toEqual({ busy: true, data: 'x' });
  });

  test('a server requiring a client certificate rejects a client without one; a handshake that never starts times out', async () => {
    const got = await runReal(async () => {
      const first = await connectedPair();
      const serverSide = spawn(() =>
        startTls(first.peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert, ca: certs.ca, requestCert: true, rejectUnauthorized: true } }),
      );
      const clientError = await failure(startTls(first.client, { tls: { ca: certs.ca }, serverHostname: 'localhost' }).then((s) => s.recv(10)));
      const serverError = await failure(serverSide.join());
      await closeAll(first.client, first.peer, first.server);

      const second = await connectedPair();
      const started = Date.now();
      const timedOut = (await failure(startTls(second.peer, { serverSide: true, tls: { key: certs.key, cert: certs.cert }, timeout: 100 }))) as SocketError;
      const elapsed = Date.now() - started;
      const closedForClient = (await second.client.recv(10)).length; // the connection was closed
      await closeAll(second.client, second.peer, second.server);
      return {
        clientFailed: clientError instanceof Error,
        serverTls: ((serverError as { cause?: unknown }).cause ?? serverError) instanceof TlsError,
        timeoutCode: timedOut.code,
        elapsedOk: elapsed >= 90 && elapsed < 5000,
        closedForClient,
      };
    });
    expect(got).toEqual({ clientFailed: true, serverTls: true, timeoutCode: 'ETIMEDOUT', elapsedOk: true, closedForClient: 0 });
  });
});
