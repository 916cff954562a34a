// SCRAM-SHA-256 and MD5: RFC 7677's test vector, then whole exchanges through PgConnection
// against a SCRAM server written here with node:crypto (the real server is in auth.test.ts).

// 'crypto', not 'node:crypto': src/node-crypto.d.ts declares the few node:crypto functions the
// package uses (it compiles without Node types), and in this project it shadows Node's own.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'crypto';
import { describe, expect, it } from 'vitest';
import { NEED_DATA, PgAuthenticationError, PgConnection, ScramClient, md5Password } from '../src/index.js';
import type { PgEvent } from '../src/index.js';
import { authOk, concat, cstr, int32, msg, ready } from './backend-bytes.js';

describe('ScramClient', () => {
  it("RFC 7677's SCRAM-SHA-256 test vector", () => {
    const client = new ScramClient('pencil', { mechanisms: ['SCRAM-SHA-256'], username: 'user', nonce: 'rOprNGfwEbeRWgbNEkqO' });
    expect(client.mechanism).toBe('SCRAM-SHA-256');
    expect(client.clientFirst()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = client.clientFinal('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    expect(final).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(client.verified).toBe(false);
    client.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    expect(client.verified).toBe(true);
  });

  it('a wrong server signature, an error from the server, a nonce that does not extend ours', () => {
    const start = (): ScramClient => new ScramClient('pencil', { mechanisms: ['SCRAM-SHA-256'], username: 'user', nonce: 'rOprNGfwEbeRWgbNEkqO' });
    const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    const wrong = start();
    wrong.clientFinal(serverFirst);
    expect(() => wrong.verifyServerFinal('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_SERVER_SIGNATURE' }));
    const refused = start();
    refused.clientFinal(serverFirst);
    expect(() => refused.verifyServerFinal('e=invalid-proof')).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_REFUSED' }));
    expect(() => start().clientFinal('r=someoneElse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_NONCE' }));
    expect(() => start().clientFinal('r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_NONCE' }));
    expect(() => start().clientFinal('r=rOprNGfwEbeRWgbNEkqOxx,s=!!,i=4096')).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_BAD_MESSAGE' }));
    expect(() => start().clientFinal('r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0')).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_BAD_MESSAGE' }));
    expect(() => start().clientFinal('r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000000')).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_ITERATIONS' }));
    expect(() => start().clientFinal('m=ext,r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).toThrow(PgAuthenticationError);
    expect(() => start().verifyServerFinal('v=x')).toThrow(PgAuthenticationError);
  });

  it('mechanism choice: PLUS with binding data, y-flag without a PLUS offer, n-flag without data', () => {
    const binding = new Uint8Array([1, 2, 3]);
    expect(new ScramClient('p', { mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'], channelBinding: binding, nonce: 'abc' }).clientFirst()).toBe('p=tls-server-end-point,,n=,r=abc');
    expect(new ScramClient('p', { mechanisms: ['SCRAM-SHA-256'], channelBinding: binding, nonce: 'abc' }).clientFirst()).toBe('y,,n=,r=abc');
    expect(new ScramClient('p', { mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'], nonce: 'abc' }).clientFirst()).toBe('n,,n=,r=abc');
  });
});

describe('md5Password', () => {
  it("is 'md5' + md5(md5(password + user) + salt)", () => {
    const salt = new Uint8Array([0x01, 0x02, 0x03, 0x04]);
    const inner = createHash('md5').update('secretalice').digest('hex');
    const outer = createHash('md5').update(Buffer.concat([Buffer.from(inner), Buffer.from(salt)])).digest('hex');
    expect(md5Password('alice', 'secret', salt)).toBe('md5' + outer);
    expect(md5Password('alice', 'secret', salt)).toMatch(/^md5[0-9a-f]{32}$/);
  });
});

/** A SCRAM-SHA-256 server as PostgreSQL runs it (test side, node:crypto). */
class ScramServer {
  private readonly salt = randomBytes(16);
  private readonly iterations = 4096;
  private clientFirstBare = '';
  private serverFirst = '';
  constructor(
    private readonly password: string,
    private readonly binding: Uint8Array | null,
    private readonly lie = false,
  ) {}

  first(clientFirst: string): string {
    const header = this.binding === null ? /^[ny],,/ : /^p=tls-server-end-point,,/;
    expect(clientFirst).toMatch(header);
    this.clientFirstBare = clientFirst.replace(/^(?:[ny]|p=[^,]*),[^,]*,/, '');
    const nonce = /r=([^,]*)/.exec(this.clientFirstBare)?.[1] ?? '';
    this.serverFirst = `r=${nonce}SERVERPART,s=${this.salt.toString('base64')},i=${this.iterations}`;
    return this.serverFirst;
  }

  final(clientFinal: string): string {
    const withoutProof = clientFinal.replace(/,p=[^,]*$/, '');
    const cbind = Buffer.from(/^c=([^,]*)/.exec(clientFinal)?.[1] ?? '', 'base64');
    if (this.binding !== null) expect([...cbind]).toEqual([...Buffer.from('p=tls-server-end-point,,'), ...this.binding]);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const salted = pbkdf2Sync(this.password, this.salt, this.iterations, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(/,p=([^,]*)$/.exec(clientFinal)?.[1] ?? '', 'base64');
    const recovered = Buffer.from(proof.map((b, i) => b ^ (signature[i] as number)));
    expect(createHash('sha256').update(recovered).digest().equals(storedKey)).toBe(true);
    const serverKey = createHmac('sha256', salted).update(this.lie ? 'Other Key' : 'Server Key').digest();
    return `v=${createHmac('sha256', serverKey).update(authMessage).digest('base64')}`;
  }
}

/** Read the messages the connection sent (type, body) from its output. */
function sentMessages(conn: PgConnection): { type: string; body: Buffer }[] {
  const out = Buffer.from(conn.dataToSend() ?? new Uint8Array(0));
  const messages: { type: string; body: Buffer }[] = [];
  for (let p = 0; p < out.length; ) {
    const length = out.readInt32BE(p + 1);
    messages.push({ type: String.fromCharCode(out[p] as number), body: out.subarray(p + 5, p + 1 + length) });
    p += 1 + length;
  }
  return messages;
}

function scramExchange(mechanisms: string[], binding: Uint8Array | null, lie: boolean): PgEvent[] {
  const conn = new PgConnection({ user: 'u', password: 'pässword', channelBinding: binding });
  conn.startup();
  conn.dataToSend();
  const server = new ScramServer('pässword', binding, lie);
  const events: PgEvent[] = [];
  const pullAll = (): void => {
    for (let e = conn.nextEvent(); e !== NEED_DATA; e = conn.nextEvent()) events.push(e);
  };
  conn.receiveData(concat(msg('R', [...int32(10), ...mechanisms.flatMap((m) => cstr(m)), 0])));
  pullAll();
  const [initial] = sentMessages(conn);
  const mechanism = initial?.body.subarray(0, initial.body.indexOf(0)).toString();
  const firstLength = initial?.body.readInt32BE((mechanism?.length ?? 0) + 1) ?? 0;
  const clientFirst = initial?.body.subarray((mechanism?.length ?? 0) + 5, (mechanism?.length ?? 0) + 5 + firstLength).toString() ?? '';
  conn.receiveData(concat(msg('R', [...int32(11), ...Buffer.from(server.first(clientFirst))])));
  pullAll();
  const [response] = sentMessages(conn);
  conn.receiveData(concat(msg('R', [...int32(12), ...Buffer.from(server.final(response?.body.toString() ?? ''))]), authOk(), ready()));
  pullAll();
  return events;
}

describe('SCRAM through PgConnection', () => {
  it('SCRAM-SHA-256: the server is verified, then authenticated', () => {
    expect(scramExchange(['SCRAM-SHA-256'], null, false).slice(0, 1)).toEqual([{ type: 'authenticated', method: 'SCRAM-SHA-256' }]);
  });

  it('SCRAM-SHA-256-PLUS with tls-server-end-point binding data', () => {
    expect(scramExchange(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'], new Uint8Array(32).fill(7), false)[0]).toEqual({ type: 'authenticated', method: 'SCRAM-SHA-256-PLUS' });
  });

  it("a server that does not know the password: its signature is refused", () => {
    expect(() => scramExchange(['SCRAM-SHA-256'], null, true)).toThrow(expect.objectContaining({ code: 'ERR_PG_SCRAM_SERVER_SIGNATURE' }));
  });
});
