// Authentication against a real PostgreSQL 15 that asks for passwords: a private instance
// (private-pg.ts) with SCRAM-SHA-256, MD5 and cleartext users and TLS, so that
// SCRAM-SHA-256-PLUS (tls-server-end-point) is tried too.

// 'crypto', not 'node:crypto': see scram.test.ts.
import { createHash, X509Certificate } from 'crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NEED_DATA, PgAuthenticationError, PgConnection } from '../src/index.js';
import type { PgEvent } from '../src/index.js';
import { PgDriver } from './driver.js';
import { PRIVATE_USERS, startPrivatePg } from './private-pg.js';
import type { PrivatePg } from './private-pg.js';

let pg: PrivatePg;

beforeAll(async () => {
  pg = await startPrivatePg();
}, 120_000);

afterAll(async () => {
  await pg?.stop();
});

async function login(user: string, password: string | null): Promise<PgDriver> {
  const driver = await PgDriver.open({ password }, pg.target(user));
  driver.conn.startup();
  driver.flush();
  return driver;
}

describe('password authentication against a private PostgreSQL', () => {
  it('SCRAM-SHA-256: authenticated after the server proved it knows the password', async () => {
    const { user, password } = PRIVATE_USERS.scram;
    const driver = await login(user, password);
    try {
      const events = await driver.until((e) => e.type === 'ready');
      expect(events[0]).toEqual({ type: 'authenticated', method: 'SCRAM-SHA-256' });
      driver.conn.query('select current_user');
      driver.flush();
      const answer = await driver.readies(1);
      expect(answer.find((e) => e.type === 'data-row')).toEqual({ type: 'data-row', values: [user] });
    } finally {
      driver.close();
    }
  });

  it('SCRAM-SHA-256 with a wrong password: FATAL 28P01 during startup, then closed', async () => {
    const driver = await login(PRIVATE_USERS.scram.user, 'wrong');
    try {
      const events = await driver.closed();
      const error = events.find((e) => e.type === 'error');
      expect(error).toMatchObject({ during: 'startup', error: { code: '28P01' } });
    } finally {
      driver.close();
    }
  });

  it('no password given: a typed error, nothing sent', async () => {
    const driver = await login(PRIVATE_USERS.scram.user, null);
    try {
      await expect(driver.until((e) => e.type === 'ready')).rejects.toThrow(PgAuthenticationError);
      expect(driver.conn.state).toBe('broken');
    } finally {
      driver.close();
    }
  });

  it('MD5', async () => {
    const { user, password } = PRIVATE_USERS.md5;
    const driver = await login(user, password);
    try {
      expect((await driver.until((e) => e.type === 'ready'))[0]).toEqual({ type: 'authenticated', method: 'md5' });
    } finally {
      driver.close();
    }
  });

  it('MD5 with a wrong password', async () => {
    const driver = await login(PRIVATE_USERS.md5.user, 'nope');
    try {
      expect((await driver.closed()).find((e) => e.type === 'error')).toMatchObject({ error: { code: '28P01' } });
    } finally {
      driver.close();
    }
  });

  it('cleartext', async () => {
    const { user, password } = PRIVATE_USERS.cleartext;
    const driver = await login(user, password);
    try {
      expect((await driver.until((e) => e.type === 'ready'))[0]).toEqual({ type: 'authenticated', method: 'cleartext' });
    } finally {
      driver.close();
    }
  });

  it('channel binding data on a plain connection: SCRAM-SHA-256 with the y flag', async () => {
    const { user, password } = PRIVATE_USERS.scram;
    const driver = await PgDriver.open({ password, channelBinding: new Uint8Array(32) }, pg.target(user));
    try {
      driver.conn.startup();
      driver.flush();
      expect((await driver.until((e) => e.type === 'ready'))[0]).toEqual({ type: 'authenticated', method: 'SCRAM-SHA-256' });
    } finally {
      driver.close();
    }
  });
});

/** SSLRequest, the TLS upgrade, startup with the certificate's tls-server-end-point hash; the events up to 'ready' (or the error thrown). */
async function overTls(user: string, password: string, binding: (certificate: Buffer) => Uint8Array | null): Promise<PgEvent['type'][] | { method: string }> {
  const raw = net.connect({ host: pg.host, port: pg.port });
  await new Promise<void>((resolve, reject) => {
    raw.once('connect', resolve);
    raw.once('error', reject);
  });
  const conn = new PgConnection({ user, database: 'postgres', password });
  conn.requestSsl();
  raw.write(conn.dataToSend() as Uint8Array);
  const answer = await new Promise<Buffer>((resolve) => raw.once('data', resolve));
  conn.receiveData(answer);
  expect(conn.nextEvent()).toEqual({ type: 'ssl-response', accepted: true });
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  const certificate = secure.getPeerCertificate().raw;
  conn.startup(binding(certificate));
  secure.write(conn.dataToSend() as Uint8Array);
  try {
    return await new Promise((resolve, reject) => {
      secure.on('data', (chunk: Buffer) => {
        try {
          conn.receiveData(chunk);
          for (let event = conn.nextEvent(); event !== NEED_DATA; event = conn.nextEvent()) {
            if (event.type === 'authenticated') resolve({ method: event.method });
            if (event.type === 'error') reject(event.error);
          }
          const out = conn.dataToSend();
          if (out !== null) secure.write(out);
        } catch (error) {
          reject(error);
        }
      });
    });
  } finally {
    secure.destroy();
  }
}

describe('SCRAM-SHA-256-PLUS over TLS', () => {
  it('the certificate hash as tls-server-end-point binding: authenticated with PLUS', async () => {
    const { user, password } = PRIVATE_USERS.scram;
    // RFC 5929: the certificate's signature hash, SHA-256 for MD5 and SHA-1 too (openssl's default here is SHA-256).
    const result = await overTls(user, password, (der) => createHash('sha256').update(der).digest());
    expect(result).toEqual({ method: 'SCRAM-SHA-256-PLUS' });
    expect(new X509Certificate(pg.certificate).subject).toContain('localhost');
  });

  it('wrong binding data: the server refuses the proof', async () => {
    const { user, password } = PRIVATE_USERS.scram;
    await expect(overTls(user, password, () => new Uint8Array(32).fill(1))).rejects.toMatchObject({ message: expect.stringContaining('channel binding') });
  });
});
