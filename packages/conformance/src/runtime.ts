// conformance/runtime.ts
//
// The Runtime conformance suite: what the engine and every protocol's client and server rely
// on, checked on each runtime unchanged. A runtime supplies a small harness:
//
// - `run(body)`: run a test body the way that runtime's users run code (plain async code on
//   node, inside a kernel task on curio), handing it a runtime made for that run.
// - `buffered(stream)`: the bytes a stream of that runtime holds received and unread (its
//   `bufferedBytes`), for the bounded-memory case.
// - `capabilities`, each of which registers the cases that need it:
//   - `tls`: real sockets with TLS (certificates made with openssl at test time): TLS from the
//     first byte, `startTls` on both sides (a Postgres-style negotiation between our client and
//     our server), against `openssl s_server` and `openssl s_client`, peer certificates checked
//     byte for byte against the DER files.
//   - `unixSockets`: listen and connect on a Unix socket path.
//   - `cancelsAwaits`: cancelling `spawn`ed work interrupts whatever it awaits, even work that
//     ignores its signal (curio: the task is cancelled at its await). Without it, work stops
//     because it watches its signal.
// - `runVirtual(body)` (optional): like `run`, under a virtual clock that jumps whenever the
//   code only waits (for time, or for a peer that stays silent); registers the virtual-clock
//   cases (a 60 s timer fires at once in wall time).
//
// Every runtime runs: an upper-case line server written once on the server side (startUpperServer) with
// clients talking to it and a graceful stop; the stream conventions (end of stream, close);
// a consumer that stops reading stalls a writer with bounded memory, measured in bytes;
// `spawn` that stops; timers and `now()`.

import { spawn as spawnChild } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionError, NEVER_ABORTED } from '@curio-ts/client';
import type { ByteStream, Runtime } from '@curio-ts/client';
import { makeTestCa, makeTestCertificates } from './certs.js';
import type { TestCertificates } from './certs.js';
import { LineReader, bytesOf, startUpperServer, targetOf } from './upper-server.js';
import type { TestApi } from './redis.js';

/** What a runtime supplies to {@link runtimeConformance}. See the file header. */
export interface RuntimeHarness {
  /** 'node', 'curio', 'memory'... (used in test names). */
  readonly name: string;
  /** Run `body` the way users of this runtime would, with a runtime made for this run. */
  run<T>(body: (runtime: Runtime) => Promise<T>): Promise<T>;
  /** Like `run` under a virtual clock that jumps while the code only waits; absent: no such cases. */
  readonly runVirtual?: <T>(body: (runtime: Runtime) => Promise<T>) => Promise<T>;
  /** Bytes `stream` holds received and not yet read. */
  buffered(stream: ByteStream): number;
  /** What the runtime can do beyond the common core. */
  readonly capabilities: RuntimeCapabilities;
}

/** Optional abilities of a runtime; each registers the cases that need it. */
export interface RuntimeCapabilities {
  /** Real TLS on real sockets (startTls, TLS listeners), checked against openssl. */
  readonly tls: boolean;
  /** Listening and connecting on Unix socket paths. */
  readonly unixSockets: boolean;
  /** Cancelling spawned work interrupts its awaits even if it ignores its signal. */
  readonly cancelsAwaits: boolean;
}

/** What the writer in the backpressure case tries to push while nobody reads. */
export const FLOOD_BYTES = 256 * 1024 * 1024;
/** Most bytes a writer may get accepted while the other side reads nothing (OS buffers included). */
export const STALL_BOUND = 64 * 1024 * 1024;
/** Most unread bytes a stream may hold. */
export const BUFFERED_BOUND = 8 * 1024 * 1024;

const FLOOD_CHUNK = 64 * 1024;
const PATTERN = 251;

/** `n` bytes of the flood pattern starting at stream offset `offset`: byte i is i mod 251. */
function floodChunk(offset: number, n: number): Uint8Array {
  const chunk = new Uint8Array(n);
  let value = offset % PATTERN;
  for (let i = 0; i < n; i++) {
    chunk[i] = value;
    value = value + 1 === PATTERN ? 0 : value + 1;
  }
  return chunk;
}

/** Whether `chunk` is the flood pattern starting at `offset`. */
function isFlood(chunk: Uint8Array, offset: number): boolean {
  let value = offset % PATTERN;
  for (let i = 0; i < chunk.length; i++) {
    if (chunk[i] !== value) return false;
    value = value + 1 === PATTERN ? 0 : value + 1;
  }
  return true;
}

/** Register the suite. */
export function runtimeConformance(h: RuntimeHarness, t: TestApi): void {
  const { describe, it, expect } = t;

  /** Wait (in short sleeps of the runtime) until `condition` holds; false if it never does. */
  const until = async (rt: Runtime, condition: () => boolean, polls = 2000): Promise<boolean> => {
    for (let i = 0; i < polls; i++) {
      if (condition()) return true;
      await rt.sleep(5);
    }
    return condition();
  };

  describe(`the Runtime contract (${h.name} runtime)`, () => {
    it('an upper-case server written once on the server side serves clients and stops gracefully', async () => {
      await h.run(async (rt) => {
        const server = await startUpperServer(rt);
        const a = await rt.connect(targetOf(server.address));
        const b = await rt.connect(targetOf(server.address));
        const linesA = new LineReader(a);
        const linesB = new LineReader(b);
        await a.write(bytesOf('hello\n'));
        await b.write(bytesOf('world\nagain\n'));
        expect(await linesA.next()).toBe('HELLO');
        expect(await linesB.next()).toBe('WORLD');
        expect(await linesB.next()).toBe('AGAIN');
        await a.write(bytesOf('QUIT\n'));
        expect(await linesA.next()).toBe('BYE');
        expect(await linesA.next()).toBeNull(); // the server closed that connection
        expect(await until(rt, () => server.open === 1)).toBe(true);
        await server.stop();
        expect(server.open).toBe(0);
        expect(await linesB.next()).toBeNull(); // its handler was cancelled and closed it
        expect(server.accepted).toBe(2);
        await expect(rt.connect(targetOf(server.address))).rejects.toBeInstanceOf(ConnectionError);
        a.close();
        b.close();
      });
    });

    it('end of stream is null; close is idempotent, ends a pending read with null, and later writes fail', async () => {
      await h.run(async (rt) => {
        const server = await startUpperServer(rt);
        const stream = await rt.connect(targetOf(server.address));
        let pending: unknown = 'still reading';
        const reader = rt.spawn(async () => {
          pending = await stream.read();
        }, 'pending-read');
        await rt.sleep(5);
        stream.close();
        stream.close();
        await reader.done;
        expect(pending).toBeNull();
        expect(await stream.read()).toBeNull();
        await expect(stream.write(bytesOf('late\n'))).rejects.toBeInstanceOf(ConnectionError);
        await server.stop();
      });
    });

    it('a read given a sink: every byte arrives once and in order, whether the sink takes a chunk, declines it or the runtime ignores the sink', async () => {
      await h.run(async (rt) => {
        const server = await startUpperServer(rt);
        const stream = await rt.connect(targetOf(server.address));
        const decoder = new TextDecoder();
        let text = '';
        let offered = 0;
        // Takes every other chunk offered; the read ends with the others.
        const sink = (chunk: Uint8Array): boolean => {
          if (offered++ % 2 === 1) return false;
          text += decoder.decode(chunk);
          return true;
        };
        const reader = rt.spawn(async () => {
          for (;;) {
            const chunk = await stream.read(sink);
            if (chunk === null || chunk.length === 0) return;
            text += decoder.decode(chunk);
          }
        }, 'sink-reader');
        const lines = ['one', 'two', 'three', 'four', 'five'];
        for (const line of lines) {
          await stream.write(bytesOf(`${line}\n`));
          expect(await until(rt, () => text.endsWith(`${line.toUpperCase()}\n`))).toBe(true);
        }
        await stream.write(bytesOf('QUIT\n'));
        await reader.done;
        expect(text).toBe(`${lines.map((line) => line.toUpperCase()).join('\n')}\nBYE\n`);
        stream.close();
        await server.stop();
      });
    });

    it('one read at a time: a second concurrent read is a ConnectionError ERR_STREAM_BUSY, and the first still gets its bytes', async () => {
      await h.run(async (rt) => {
        expect(await whileReading(rt, (stream) => stream.read())).toEqual({ refused: 'ERR_STREAM_BUSY', first: 'STILL USABLE\n' });
      });
    });

    it('a consumer that stops reading stalls the writer with bounded memory; reading again lets it go on', async () => {
      await h.run(async (rt) => {
        const listener = await rt.listen({ port: 0 });
        const client = await rt.connect(targetOf(listener.address));
        const peer = (await listener.accept()) as ByteStream;
        const memoryBefore = process.memoryUsage().arrayBuffers;
        let accepted = 0;
        let writeFailure: unknown = null;
        const writer = rt.spawn(async (signal) => {
          try {
            while (accepted < FLOOD_BYTES && !signal.aborted) {
              await peer.write(floodChunk(accepted, FLOOD_CHUNK));
              accepted += FLOOD_CHUNK;
            }
          } catch (error) {
            writeFailure = error;
          }
        }, 'flood');
        // Nobody reads: wait until the writer stops getting anywhere (20 polls without progress).
        let last = -1;
        let still = 0;
        while (still < 20) {
          await rt.sleep(5);
          if (accepted === last) still++;
          else {
            still = 0;
            last = accepted;
          }
        }
        const stalledAt = accepted;
        const growth = process.memoryUsage().arrayBuffers - memoryBefore;
        expect(writeFailure).toBeNull();
        expect(stalledAt).toBeLessThan(STALL_BOUND);
        expect(h.buffered(client)).toBeLessThanOrEqual(BUFFERED_BOUND);
        expect(growth).toBeLessThan(STALL_BOUND + BUFFERED_BOUND);
        // Read 16 MiB: every byte in order, and the writer moves past where it stalled.
        let offset = 0;
        let intact = true;
        while (offset < 16 * 1024 * 1024) {
          const chunk = await client.read();
          if (chunk === null || chunk.length === 0) break;
          if (!isFlood(chunk, offset)) intact = false;
          offset += chunk.length;
        }
        expect(intact).toBe(true);
        expect(offset).toBeGreaterThanOrEqual(16 * 1024 * 1024);
        expect(accepted).toBeGreaterThan(stalledAt);
        writer.cancel();
        client.close();
        peer.close();
        listener.close();
        await writer.done;
      });
    });

    it('spawn: cancel aborts the signal, the work stops, and done settles; done also settles when fn returns', async () => {
      await h.run(async (rt) => {
        let work = 0;
        const worker = rt.spawn(async (signal) => {
          while (!signal.aborted) {
            work++;
            await rt.sleep(1);
          }
        }, 'worker');
        expect(await until(rt, () => work >= 3)).toBe(true);
        worker.cancel();
        worker.cancel();
        await worker.done;
        const stoppedAt = work;
        await rt.sleep(5);
        await rt.sleep(5);
        expect(work).toBe(stoppedAt);

        let returned = false;
        const once = rt.spawn(async () => {
          await rt.sleep(1);
          returned = true;
        }, 'once');
        await once.done;
        expect(returned).toBe(true);
      });
    });

    it('spawn: a read blocked in cancelled work ends (its signal closes the stream)', async () => {
      await h.run(async (rt) => {
        const server = await startUpperServer(rt);
        const stream = await rt.connect(targetOf(server.address));
        let outcome: unknown = 'still reading';
        const reader = rt.spawn(async (signal) => {
          signal.addEventListener('abort', () => stream.close(), { once: true });
          try {
            outcome = await stream.read();
          } catch (error) {
            outcome = error;
          }
        }, 'blocked-reader');
        await rt.sleep(5);
        reader.cancel();
        await reader.done;
        expect(outcome).not.toBe('still reading');
        await server.stop();
      });
    });

    it('spawn with signal: false: fn gets NEVER_ABORTED, which cancel leaves alone; closing what it reads ends it', async () => {
      await h.run(async (rt) => {
        const server = await startUpperServer(rt);
        const stream = await rt.connect(targetOf(server.address));
        let given: AbortSignal | null = null;
        let outcome: unknown = 'still reading';
        const reader = rt.spawn(
          async (signal) => {
            given = signal;
            try {
              outcome = await stream.read();
            } catch (error) {
              outcome = error;
            }
          },
          'signal-less reader',
          { signal: false },
        );
        await rt.sleep(5);
        reader.cancel();
        stream.close();
        await reader.done;
        expect(given).toBe(NEVER_ABORTED);
        expect(NEVER_ABORTED.aborted).toBe(false);
        expect(outcome).not.toBe('still reading');
        await server.stop();
      });
    });

    if (h.capabilities.cancelsAwaits) {
      it('spawn: cancelled work that ignores its signal is interrupted at its await', async () => {
        await h.run(async (rt) => {
          let reached = false;
          const sleeper = rt.spawn(async () => {
            await rt.sleep(60_000);
            reached = true;
          }, 'deaf-sleeper');
          await rt.sleep(5);
          sleeper.cancel();
          await sleeper.done;
          expect(reached).toBe(false);
        });
      });
    }

    it('timers fire once on the runtime clock, cancelled ones never; sleep and now agree; defer runs after the burst', async () => {
      // Node's timers may fire up to 1 ms before performance.now() says the time has come.
      const slack = 1;
      await h.run(async (rt) => {
        const start = rt.now();
        const fired: number[] = [];
        rt.timer(10, () => fired.push(rt.now() - start));
        const cancel = rt.timer(5, () => fired.push(-1));
        cancel();
        expect(await until(rt, () => fired.length > 0)).toBe(true);
        await rt.sleep(20);
        expect(fired.length).toBe(1);
        expect(fired[0]).toBeGreaterThanOrEqual(10 - slack);
        const before = rt.now();
        await rt.sleep(10);
        expect(rt.now() - before).toBeGreaterThanOrEqual(10 - slack);
        const order: string[] = [];
        rt.defer(() => order.push('deferred'));
        order.push('same burst');
        expect(await until(rt, () => order.length === 2)).toBe(true);
        expect(order).toEqual(['same burst', 'deferred']);
      });
    });

    if (h.capabilities.unixSockets) {
      it('the upper-case server works on a Unix socket path', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'curio-unix-'));
        try {
          await h.run(async (rt) => {
            const server = await startUpperServer(rt, { path: join(dir, 'lines.sock') });
            expect(server.address).toEqual({ path: join(dir, 'lines.sock') });
            const stream = await rt.connect(targetOf(server.address));
            const lines = new LineReader(stream);
            await stream.write(bytesOf('over unix\nQUIT\n'));
            expect(await lines.next()).toBe('OVER UNIX');
            expect(await lines.next()).toBe('BYE');
            expect(await lines.next()).toBeNull();
            stream.close();
            await server.stop();
          });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });

  const runVirtual = h.runVirtual;
  if (runVirtual !== undefined) {
    describe(`the Runtime on a virtual clock (${h.name} runtime)`, () => {
      it('a 60 s sleep and a 60 s timer over a silent peer end at once in wall time', async () => {
        const wallStart = Date.now();
        const out = await runVirtual(async (rt) => {
          const start = rt.now();
          await rt.sleep(60_000);
          const slept = rt.now() - start;
          // A peer that accepts and never answers: the read ends when the timer closes the stream.
          const listener = await rt.listen({ port: 0 });
          const stream = await rt.connect(targetOf(listener.address));
          const silent = (await listener.accept()) as ByteStream;
          const readStart = rt.now();
          let fired = false;
          rt.timer(60_000, () => {
            fired = true;
            stream.close();
          });
          const got = await stream.read();
          const waited = rt.now() - readStart;
          silent.close();
          listener.close();
          return { slept, got, fired, waited };
        });
        expect(out.slept).toBeGreaterThanOrEqual(60_000);
        expect(out.got).toBeNull();
        expect(out.fired).toBe(true);
        expect(out.waited).toBeGreaterThanOrEqual(60_000);
        // Two virtual minutes passed; far less real time did.
        expect(Date.now() - wallStart).toBeLessThan(60_000);
      });
    });
  }

  if (h.capabilities.tls) registerTlsCases(h, t);
}

/** The TLS cases (capability `tls`). */
function registerTlsCases(h: RuntimeHarness, t: TestApi): void {
  const { describe, it, expect, beforeAll, afterAll } = t;

  describe(`TLS on the ${h.name} runtime`, () => {
    let certs: TestCertificates;
    beforeAll(() => {
      certs = makeTestCertificates();
    });
    afterAll(() => {
      certs.remove();
    });

    it('serves and connects TLS from the first byte; the peer certificate is the DER on disk; ALPN is agreed', async () => {
      await h.run(async (rt) => {
        const listener = await rt.listen({ port: 0, tls: { cert: certs.serverCert, key: certs.serverKey, alpnProtocols: ['lines/1'] } });
        const address = listener.address as { host: string; port: number };
        const client = await rt.connect({ host: address.host, port: address.port, tls: { ca: certs.ca, serverName: 'localhost', alpnProtocols: ['lines/1'] } });
        const peer = (await listener.accept()) as ByteStream;
        await client.write(bytesOf('secret\n'));
        expect(await new LineReader(peer).next()).toBe('secret');
        const info = client.tls;
        expect(info?.peerCertificate).toEqual(certs.serverDer);
        expect(info?.authorized).toBe(true);
        expect(info?.alpnProtocol).toBe('lines/1');
        expect(info?.protocol).toBe('TLSv1.3');
        expect(peer.tls?.peerCertificate ?? null).toBeNull(); // no client certificate asked for
        client.close();
        peer.close();
        listener.close();
      });
    });

    it('a Postgres-style negotiation: one plain exchange, then both sides upgrade (mutual TLS)', async () => {
      await h.run(async (rt) => {
        const listener = await rt.listen({ port: 0 });
        const server = rt.spawn(async () => {
          const plain = (await listener.accept()) as ByteStream;
          const request = await plain.read();
          if (request === null || request.length !== 8) throw new Error('expected an 8-byte SSLRequest');
          await plain.write(bytesOf('S'));
          const secure = await (plain.startTls as NonNullable<ByteStream['startTls']>)({
            side: 'server',
            cert: certs.serverCert,
            key: certs.serverKey,
            ca: certs.ca,
            requestCert: true,
          });
          const lines = new LineReader(secure);
          const line = await lines.next();
          const info = secure.tls;
          const seen = info?.authorized === true && equalBytes(info.peerCertificate, certs.clientDer) ? 'client verified' : 'client NOT verified';
          await secure.write(bytesOf(`${String(line).toUpperCase()} (${seen})\n`));
          secure.close();
        }, 'pg-like-server');
        const plain = await rt.connect(targetOf(listener.address));
        // SSLRequest: length 8, code 80877103.
        await plain.write(new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
        const answer = await plain.read();
        // Exactly 'S' and nothing after it (bytes after it would be injected: CVE-2021-23222).
        expect(answer === null ? null : [...answer]).toEqual([...bytesOf('S')]);
        const secure = await (plain.startTls as NonNullable<ByteStream['startTls']>)({ ca: certs.ca, serverName: 'localhost', cert: certs.clientCert, key: certs.clientKey });
        expect(secure.tls?.peerCertificate).toEqual(certs.serverDer);
        await secure.write(bytesOf('select 1\n'));
        expect(await new LineReader(secure).next()).toBe('SELECT 1 (client verified)');
        await expect(plain.read()).rejects.toBeInstanceOf(ConnectionError); // the plain stream is done
        await server.done;
        secure.close();
        listener.close();
      });
    });

    it('our client upgrades at once against openssl s_server', async () => {
      const openssl = await startOpensslServer(certs);
      try {
        await h.run(async (rt) => {
          const plain = await rt.connect({ host: '127.0.0.1', port: openssl.port });
          const secure = await (plain.startTls as NonNullable<ByteStream['startTls']>)({ ca: certs.ca, serverName: 'localhost' });
          expect(secure.tls?.peerCertificate).toEqual(certs.serverDer);
          expect(secure.tls?.authorized).toBe(true);
          await secure.write(bytesOf('hello\n'));
          const lines = new LineReader(secure);
          let reply: string | null = '';
          while (reply !== null && !reply.includes('olleh')) reply = await lines.next();
          expect(reply).toBe('olleh');
          secure.close();
        });
      } finally {
        await openssl.stop();
      }
    });

    it('our server upgrades for openssl s_client -starttls postgres', async () => {
      await h.run(async (rt) => {
        const listener = await rt.listen({ port: 0 });
        const address = listener.address as { host: string; port: number };
        const server = rt.spawn(async () => {
          const plain = (await listener.accept()) as ByteStream;
          const request = await plain.read();
          if (request === null || request.length !== 8) throw new Error('expected an 8-byte SSLRequest');
          await plain.write(bytesOf('S'));
          const secure = await (plain.startTls as NonNullable<ByteStream['startTls']>)({ side: 'server', cert: certs.serverCert, key: certs.serverKey });
          const line = await new LineReader(secure).next();
          await secure.write(bytesOf(`${String(line).toUpperCase()}\n`));
          secure.close();
        }, 'starttls-server');
        const result = await runCommand(
          'openssl',
          ['s_client', '-starttls', 'postgres', '-connect', `127.0.0.1:${address.port}`, '-CAfile', join(certs.dir, 'ca.crt'), '-verify_return_error', '-quiet'],
          'hello over starttls\n',
        );
        await server.done;
        listener.close();
        expect({ code: result.code, out: result.stdout }).toEqual({ code: 0, out: 'HELLO OVER STARTTLS\n' });
      });
    });

    it('startTls while a read is pending is a ConnectionError ERR_STREAM_BUSY, and the stream stays usable', async () => {
      await h.run(async (rt) => {
        const upgrade = (stream: ByteStream): Promise<unknown> => (stream.startTls as NonNullable<ByteStream['startTls']>)({ ca: certs.ca, serverName: 'localhost' });
        expect(await whileReading(rt, upgrade)).toEqual({ refused: 'ERR_STREAM_BUSY', first: 'STILL USABLE\n' });
      });
    });

    it('the certificate is checked against serverName (an IP address too), on connect and on startTls; checkServerName: false checks the chain only', async () => {
      const ca = makeTestCa();
      const named = ca.issue(['db.test']);
      const untrusted = makeTestCa('untrusted CA');
      const stranger = untrusted.issue(['db.test']);
      try {
        await h.run(async (rt) => {
          /** Where a client of these TLS options ends: 'ok', or the error's code. */
          const outcome = (attempt: Promise<ByteStream>): Promise<string> =>
            attempt.then(
              (stream) => {
                const authorized = stream.tls?.authorized;
                stream.close();
                return authorized === true ? 'ok' : 'not authorized';
              },
              (error: unknown) => (error instanceof ConnectionError ? error.code : String(error)),
            );
          // TLS from the first byte: a listener for each certificate, accepting in the background.
          const serving: { listener: { close(): void }; done: Promise<void> }[] = [];
          const serve = async (cert: { cert: string; key: string }, upgrade: boolean) => {
            const listener = await rt.listen(upgrade ? { port: 0 } : { port: 0, tls: cert });
            const work = rt.spawn(async () => {
              for (;;) {
                const stream = await listener.accept();
                if (stream === null) return;
                if (upgrade) {
                  // As Postgres: the request, the answer, then the handshake (nothing read past it).
                  await stream.read();
                  await stream.write(bytesOf('S'));
                  await (stream.startTls as NonNullable<ByteStream['startTls']>)({ side: 'server', ...cert }).then(
                    (secure) => secure.close(),
                    () => {},
                  );
                } else stream.close();
              }
            }, 'tls-name-server');
            serving.push({ listener, done: work.done.then(() => {}) });
            return listener.address as { host: string; port: number };
          };
          const first = await serve(named, false);
          const connect = (tls: Record<string, unknown>, at = first) => outcome(rt.connect({ host: at.host, port: at.port, tls: { ca: ca.ca, ...tls } }));
          expect(await connect({ serverName: 'db.test' })).toBe('ok');
          expect(await connect({ serverName: 'other.test' })).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
          expect(await connect({ serverName: 'other.test', checkServerName: false })).toBe('ok');
          // The host connected to (127.0.0.1) is not in the certificate either.
          expect(await connect({})).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
          expect(await connect({ checkServerName: false })).toBe('ok');
          // The chain is still checked without the name.
          const strange = await serve(stranger, false);
          expect(await connect({ serverName: 'db.test', checkServerName: false }, strange)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
          // startTls on a stream to 127.0.0.1 (Postgres's SSLRequest): an IP serverName is what
          // is checked, not the address connected to.
          const local = await serve({ cert: certs.serverCert, key: certs.serverKey }, true);
          const upgrade = async (tls: Record<string, unknown>): Promise<string> => {
            const plain = await rt.connect({ host: local.host, port: local.port });
            await plain.write(bytesOf('S'));
            await plain.read();
            return outcome((plain.startTls as NonNullable<ByteStream['startTls']>)({ ca: certs.ca, ...tls }));
          };
          expect(await upgrade({ serverName: '127.0.0.1' })).toBe('ok');
          expect(await upgrade({ serverName: 'localhost' })).toBe('ok');
          expect(await upgrade({ serverName: '10.1.2.3' })).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
          expect(await upgrade({ serverName: 'db.test' })).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
          expect(await upgrade({ serverName: 'db.test', checkServerName: false })).toBe('ok');
          for (const { listener, done } of serving) {
            listener.close();
            await done;
          }
        });
      } finally {
        ca.remove();
        untrusted.remove();
      }
    });

    it('a failed handshake is a ConnectionError on both sides', async () => {
      await h.run(async (rt) => {
        const listener = await rt.listen({ port: 0 });
        let serverError: unknown = null;
        const server = rt.spawn(async () => {
          const plain = (await listener.accept()) as ByteStream;
          try {
            await (plain.startTls as NonNullable<ByteStream['startTls']>)({ side: 'server', cert: certs.serverCert, key: certs.serverKey });
          } catch (error) {
            serverError = error;
          }
        }, 'refusing-server');
        const plain = await rt.connect(targetOf(listener.address));
        // The system CAs do not trust the test CA.
        await expect((plain.startTls as NonNullable<ByteStream['startTls']>)({ serverName: 'localhost' })).rejects.toBeInstanceOf(ConnectionError);
        await server.done;
        expect(serverError).toBeInstanceOf(ConnectionError);
        listener.close();
      });
    });
  });
}

/**
 * With a read pending on a stream to the upper-case server (in background work of its own):
 * what `attempt` does meanwhile must fail with ConnectionError ERR_STREAM_BUSY, and the pending
 * read must then still get the server's answer to a line sent afterwards.
 */
async function whileReading(rt: Runtime, attempt: (stream: ByteStream) => Promise<unknown>): Promise<{ refused: unknown; first: string }> {
  const server = await startUpperServer(rt);
  const stream = await rt.connect(targetOf(server.address));
  let first: Uint8Array | null = null;
  const reader = rt.spawn(async () => {
    first = await stream.read();
  }, 'pending-read');
  await rt.sleep(5);
  const refused = await attempt(stream).then(
    () => 'not refused',
    (error: unknown) => error,
  );
  await stream.write(bytesOf('still usable\n'));
  await reader.done;
  stream.close();
  await server.stop();
  return { refused: (refused as { code?: unknown }).code ?? refused, first: new TextDecoder().decode(first ?? new Uint8Array(0)) };
}

function equalBytes(a: Uint8Array | null | undefined, b: Uint8Array): boolean {
  if (a === null || a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `openssl s_server -rev` on a free port, for one connection. */
async function startOpensslServer(certs: TestCertificates): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawnChild(
    'openssl',
    ['s_server', '-accept', '127.0.0.1:0', '-naccept', '1', '-rev', '-key', join(certs.dir, 'server.key'), '-cert', join(certs.dir, 'server.crt')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (data: Buffer) => {
      seen += data.toString();
      const match = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(seen);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('error', reject);
    child.once('exit', () => reject(new Error(`openssl s_server exited: ${seen}`)));
  });
  return {
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}

/** Run a command with `input` on stdin; its exit code and output. */
function runCommand(file: string, args: readonly string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
