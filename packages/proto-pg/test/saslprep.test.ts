// SASLprep (RFC 4013) of SCRAM passwords: RFC 4013's own examples, each step, the fall-back to
// the password as given when the result is prohibited, and the SCRAM keys it changes; then
// channel binding required (libpq's channel_binding=require) refusing every other method
// before a password is sent.
import { describe, expect, it } from 'vitest';
import { NEED_DATA, PgAuthenticationError, PgConnection, ScramClient, saslprep } from '../src/index.js';
import type { PgConnectionOptions } from '../src/index.js';
import { authOk, cstr, int32, msg } from './backend-bytes.js';

describe('saslprep', () => {
  it("RFC 4013's examples", () => {
    expect(saslprep('I\u00ADX')).toBe('IX'); // SOFT HYPHEN mapped to nothing
    expect(saslprep('user')).toBe('user');
    expect(saslprep('USER')).toBe('USER'); // case is kept
    expect(saslprep('\u00AA')).toBe('a'); // NFKC
    expect(saslprep('\u2168')).toBe('IX'); // NFKC
    expect(saslprep('\u0007')).toBe('\u0007'); // ASCII comes back as it is (PostgreSQL's fast path)
    expect(saslprep('\u00E9\u0007')).toBeNull(); // prohibited: a control character
    expect(saslprep('\u0627\u0031')).toBeNull(); // bidi: right-to-left text must end right-to-left
  });

  it('maps non-ASCII spaces to SPACE and removes what maps to nothing; NFKC composes', () => {
    expect(saslprep('pass\u00A0word')).toBe('pass word');
    expect(saslprep('a\u3000b\u2003c')).toBe('a b c');
    expect(saslprep('a\u200Bb\uFEFFc\uFE0F')).toBe('abc');
    expect(saslprep('e\u0301')).toBe('\u00E9');
    expect(saslprep('\uFB01x')).toBe('fix'); // the fi ligature
    expect(saslprep('pässwörd ✓ 日本')).toBe('pässwörd ✓ 日本');
  });

  it('refuses prohibited output: private use, non-characters, lone surrogates, tagging, display controls', () => {
    for (const text of ['\u00E9\uE000', '\u00E9\uFFFF', '\u00E9\uFDD0', '\u00E9\uD800', '\u00E9\u{E0041}', '\u00E9\u202E', '\u00E9\u0085', '\u00E9\u2FF0']) {
      expect(saslprep(text), JSON.stringify(text)).toBeNull();
    }
  });

  it('bidirectional text: right-to-left alone, beginning and ending right-to-left', () => {
    expect(saslprep('\u05D0\u05D1\u05D2')).toBe('\u05D0\u05D1\u05D2');
    expect(saslprep('\u0627\u0031\u0628')).toBe('\u0627\u0031\u0628'); // a digit inside is fine
    expect(saslprep('\u05D0a\u05D1')).toBeNull(); // mixed with a left-to-right letter
    expect(saslprep('1\u05D0')).toBeNull(); // does not begin right-to-left
  });

  it('SCRAM uses the prepared password, or the password as given when SASLprep prohibits it', () => {
    const serverFirst = 'r=abcdefgh%server,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    const proof = (password: string): string => new ScramClient(password, { mechanisms: ['SCRAM-SHA-256'], username: 'u', nonce: 'abcdefgh' }).clientFinal(serverFirst);
    expect(proof('I\u00ADX')).toBe(proof('IX'));
    expect(proof('pass\u00A0word')).toBe(proof('pass word'));
    expect(proof('\u2168')).toBe(proof('IX'));
    expect(proof('\u00E9\u0007')).not.toBe(proof('\u00E9'));
    expect(proof('pencil')).not.toBe(proof('Pencil'));
  });
});

describe('channel binding required', () => {
  const starting = (options: Partial<PgConnectionOptions> = {}): PgConnection => {
    const conn = new PgConnection({ user: 'u', password: 'pw', requireChannelBinding: true, ...options });
    conn.startup();
    conn.dataToSend();
    return conn;
  };
  /** The error the connection throws on `bytes`, and whether it wrote anything meanwhile. */
  const refusal = (conn: PgConnection, bytes: number[]): { code: string; sent: boolean } => {
    conn.receiveData(new Uint8Array(bytes));
    try {
      while (conn.nextEvent() !== NEED_DATA);
    } catch (error) {
      expect(error).toBeInstanceOf(PgAuthenticationError);
      return { code: (error as PgAuthenticationError).code, sent: conn.dataToSend() !== null };
    }
    throw new Error('no error thrown');
  };
  const refused = { code: 'ERR_PG_CHANNEL_BINDING_REQUIRED', sent: false };

  it('refuses trust, cleartext, MD5 and SCRAM without channel binding, before sending anything', () => {
    expect(refusal(starting(), authOk())).toEqual(refused);
    expect(refusal(starting(), msg('R', int32(3)))).toEqual(refused);
    expect(refusal(starting(), msg('R', [...int32(5), 1, 2, 3, 4]))).toEqual(refused);
    const sasl = (mechanisms: string[]): number[] => msg('R', [...int32(10), ...mechanisms.flatMap((m) => cstr(m)), 0]);
    expect(refusal(starting(), sasl(['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS']))).toEqual(refused); // no TLS binding data
    expect(refusal(starting({ channelBinding: new Uint8Array(32) }), sasl(['SCRAM-SHA-256']))).toEqual(refused); // not offered
  });

  it('goes on with SCRAM-SHA-256-PLUS', () => {
    const conn = starting({ channelBinding: new Uint8Array(32) });
    conn.receiveData(new Uint8Array(msg('R', [...int32(10), ...cstr('SCRAM-SHA-256-PLUS'), ...cstr('SCRAM-SHA-256'), 0])));
    expect(conn.nextEvent()).toBe(NEED_DATA);
    expect(conn.dataToSend()).not.toBeNull();
  });
});
