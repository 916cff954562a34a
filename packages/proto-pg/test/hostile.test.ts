// Hostile and random input: every malformed, oversized, unknown, misplaced or truncated message
// is a typed error with a code (never a hang, a crash or an untyped exception), and the object
// refuses further use after it.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalProtocolError, NEED_DATA, PgAuthenticationError, PgConnection, ProtocolError, RemoteProtocolError } from '../src/index.js';
import type { PgConnectionOptions, PgEvent } from '../src/index.js';
import { authOk, concat, cstr, dataRow, int16, int32, msg, ready } from './backend-bytes.js';

/** A connection after startup, with `sent` applied (default: a simple query waiting for its answer). */
function busy(options: Partial<PgConnectionOptions> = {}, sent: (c: PgConnection) => void = (c) => c.query('select')): PgConnection {
  const conn = new PgConnection({ user: 'u', ...options });
  conn.startup();
  conn.receiveData(concat(authOk(), ready()));
  while (conn.nextEvent() !== NEED_DATA);
  sent(conn);
  return conn;
}

/** Feed bytes (then EOF when `end`), pull every event; returns the events or throws what nextEvent threw. */
function pull(conn: PgConnection, bytes: Uint8Array, end = false): PgEvent[] {
  const events: PgEvent[] = [];
  conn.receiveData(bytes);
  if (end) conn.receiveData(new Uint8Array(0));
  for (let guard = 0; guard < 1_000_000; guard++) {
    const event = conn.nextEvent();
    if (event === NEED_DATA) return events;
    events.push(event);
    if (event.type === 'closed') return events;
  }
  throw new Error('nextEvent did not stop');
}

function remoteError(run: () => unknown): RemoteProtocolError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RemoteProtocolError);
    return error as RemoteProtocolError;
  }
  throw new Error('no error thrown');
}

describe('framing checks, before the body is buffered', () => {
  it('a length below 4, negative, or above maxMessageSize', () => {
    expect(remoteError(() => pull(busy(), new Uint8Array([0x44, 0, 0, 0, 3]))).code).toBe('ERR_PG_BAD_LENGTH');
    expect(remoteError(() => pull(busy(), new Uint8Array([0x44, 0xff, 0xff, 0xff, 0xff]))).code).toBe('ERR_PG_BAD_LENGTH');
    expect(remoteError(() => pull(busy(), new Uint8Array([0x44, 0x80, 0, 0, 0]))).code).toBe('ERR_PG_BAD_LENGTH');
    const huge = remoteError(() => pull(busy(), new Uint8Array([0x44, 0x7f, 0xff, 0xff, 0xff])));
    expect(huge.code).toBe('ERR_PG_MESSAGE_TOO_LONG');
    expect(remoteError(() => pull(busy({ maxMessageSize: 100 }), new Uint8Array([0x44, 0, 0, 0, 101]))).code).toBe('ERR_PG_MESSAGE_TOO_LONG');
    // Exactly the limit passes.
    expect(pull(busy({ maxMessageSize: 100 }), new Uint8Array([0x44, 0, 0, 0, 100]))).toEqual([]);
  });

  it('a header cut across chunks is checked as soon as it is whole', () => {
    const conn = busy({ maxMessageSize: 1000 });
    expect(pull(conn, new Uint8Array([0x44, 0]))).toEqual([]);
    expect(pull(conn, new Uint8Array([0, 0x10]))).toEqual([]);
    expect(remoteError(() => pull(conn, new Uint8Array([0x00]))).code).toBe('ERR_PG_MESSAGE_TOO_LONG');
  });

  it('an unknown message type, with its offset', () => {
    const conn = busy();
    const error = remoteError(() => pull(conn, concat(dataRow(['a']), [0x7a, 0, 0, 0, 4])));
    expect(error.code).toBe('ERR_PG_UNKNOWN_MESSAGE');
    expect(error.offset).toBe(9 + 6 + 12); // AuthenticationOk, ReadyForQuery, the DataRow: counted from the stream start
  });

  it('a message the state forbids, or one that answers nothing sent', () => {
    const idle = busy({}, () => {});
    expect(remoteError(() => pull(idle, concat(dataRow(['a'])))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE');
    expect(remoteError(() => pull(busy(), concat(msg('1')))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE'); // ParseComplete to a Query
    expect(remoteError(() => pull(busy({}, (c) => c.parse('', 'x')), concat(dataRow(['a'])))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE');
    expect(remoteError(() => pull(busy({}, (c) => c.parse('', 'x')), concat(msg('t', int16(0))))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE');
    expect(remoteError(() => pull(busy(), concat(msg('V', int32(-1))))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE'); // FunctionCallResponse
    expect(remoteError(() => pull(busy(), concat(msg('d', [1])))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE'); // CopyData outside COPY
    expect(remoteError(() => pull(busy(), concat(authOk()))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE'); // a second authentication
  });

  it('fixed-size messages of another size', () => {
    expect(remoteError(() => pull(busy({}, (c) => c.parse('', 'x')), concat(msg('1', [0])))).code).toBe('ERR_PG_BAD_LENGTH');
    expect(remoteError(() => pull(busy(), concat(msg('Z', [0x49, 0])))).code).toBe('ERR_PG_BAD_LENGTH');
    expect(remoteError(() => pull(busy(), concat(msg('Z', [0x58])))).code).toBe('ERR_PG_MALFORMED');
  });
});

describe('malformed bodies', () => {
  const cases: [string, number[]][] = [
    ['a DataRow whose column is longer than the message', msg('D', [...int16(1), ...int32(10), 1, 2])],
    ['a DataRow with a negative column length other than -1', msg('D', [...int16(1), ...int32(-2)])],
    ['a DataRow with fewer columns than its count', msg('D', [...int16(3), ...int32(-1)])],
    ['a DataRow with bytes after its last column', msg('D', [...int16(1), ...int32(1), 65, 66])],
    ['a DataRow too short for its count', msg('D', [1])],
    ['a RowDescription cut in a field', msg('T', [...int16(1), ...cstr('a'), ...int32(0)])],
    ['a RowDescription with a name missing its NUL', msg('T', [...int16(1), 65, 66])],
    ['a CommandComplete with bytes after its tag', msg('C', [...cstr('SELECT 1'), 1])],
    ['an ErrorResponse without its final NUL', msg('E', [0x53, ...cstr('ERROR')])],
    ['a NotificationResponse cut short', msg('A', [...int32(1), ...cstr('chan')])],
    ['a CopyOutResponse with format 2', msg('H', [2, ...int16(0)])],
  ];
  for (const [name, bytes] of cases) {
    it(name, () => {
      expect(remoteError(() => pull(busy(), new Uint8Array(bytes))).code).toBe('ERR_PG_MALFORMED');
    });
  }
});

describe('truncation and the end of the stream', () => {
  it('a body cut by the end of the stream', () => {
    const error = remoteError(() => pull(busy(), concat(dataRow(['abc'])).subarray(0, 9), true));
    expect(error.code).toBe('ERR_PG_TRUNCATED');
  });

  it('a header cut by the end of the stream', () => {
    expect(remoteError(() => pull(busy(), new Uint8Array([0x44, 0, 0]), true)).code).toBe('ERR_PG_TRUNCATED');
  });

  it('a clean end lists what was sent and not answered', () => {
    const conn = busy({}, (c) => {
      c.parse('', 'x');
      c.bind('', '', []);
      c.sync();
    });
    expect(pull(conn, concat(msg('1')), true)).toEqual([{ type: 'parse-complete' }, { type: 'closed', unanswered: ['bind', 'sync'] }]);
    expect(conn.nextEvent()).toEqual({ type: 'closed', unanswered: ['bind', 'sync'] });
    expect(() => conn.receiveData(new Uint8Array([1]))).toThrow(LocalProtocolError);
    expect(() => conn.query('x')).toThrow(LocalProtocolError);
  });
});

describe('the answer to SSLRequest', () => {
  const requested = (): PgConnection => {
    const conn = new PgConnection({ user: 'u' });
    conn.requestSsl();
    conn.dataToSend();
    return conn;
  };

  it("'S' and 'N' are the only answers", () => {
    expect(pull(requested(), new Uint8Array([0x53]))).toEqual([{ type: 'ssl-response', accepted: true }]);
    expect(pull(requested(), new Uint8Array([0x4e]))).toEqual([{ type: 'ssl-response', accepted: false }]);
    expect(remoteError(() => pull(requested(), new Uint8Array([0x45, 0, 0, 0, 8]))).code).toBe('ERR_PG_BAD_SSL_RESPONSE');
    expect(remoteError(() => pull(requested(), new Uint8Array([0x00]))).code).toBe('ERR_PG_BAD_SSL_RESPONSE');
  });

  it('bytes after the answer, before the TLS handshake, are refused (CVE-2021-23214)', () => {
    expect(remoteError(() => pull(requested(), concat([0x53], authOk()))).code).toBe('ERR_PG_DATA_AFTER_SSL_RESPONSE');
    expect(remoteError(() => pull(requested(), concat([0x4e], [0x52]))).code).toBe('ERR_PG_DATA_AFTER_SSL_RESPONSE');
    const conn = requested();
    pull(conn, new Uint8Array([0x4e]));
    expect(remoteError(() => pull(conn, concat(authOk()))).code).toBe('ERR_PG_UNEXPECTED_MESSAGE');
  });

  it('the end of the stream instead of an answer', () => {
    expect(pull(requested(), new Uint8Array(0), true)).toEqual([{ type: 'closed', unanswered: [] }]);
  });
});

describe('authentication refusals', () => {
  const starting = (options: Partial<PgConnectionOptions> = {}): PgConnection => {
    const conn = new PgConnection({ user: 'u', ...options });
    conn.startup();
    conn.dataToSend();
    return conn;
  };
  const authError = (conn: PgConnection, bytes: number[]): PgAuthenticationError => {
    try {
      pull(conn, new Uint8Array(bytes));
    } catch (error) {
      expect(error).toBeInstanceOf(PgAuthenticationError);
      return error as PgAuthenticationError;
    }
    throw new Error('no error thrown');
  };

  it('GSSAPI, SSPI, Kerberos and SCM credentials are refused with a typed error', () => {
    for (const code of [2, 6, 7, 9]) expect(authError(starting(), msg('R', int32(code))).code).toBe('ERR_PG_AUTH_UNSUPPORTED');
    expect(authError(starting({ password: 'x' }), msg('R', [...int32(10), ...cstr('OAUTHBEARER'), 0])).code).toBe('ERR_PG_AUTH_UNSUPPORTED');
  });

  it('a password asked for and none given', () => {
    expect(authError(starting(), msg('R', int32(3))).code).toBe('ERR_PG_PASSWORD_REQUIRED');
    expect(authError(starting(), msg('R', [...int32(5), 1, 2, 3, 4])).code).toBe('ERR_PG_PASSWORD_REQUIRED');
    expect(authError(starting(), msg('R', [...int32(10), ...cstr('SCRAM-SHA-256'), 0])).code).toBe('ERR_PG_PASSWORD_REQUIRED');
  });

  it('SCRAM-SHA-256-PLUS only, without channel binding data', () => {
    expect(authError(starting({ password: 'x' }), msg('R', [...int32(10), ...cstr('SCRAM-SHA-256-PLUS'), 0])).code).toBe('ERR_PG_CHANNEL_BINDING_REQUIRED');
  });

  it('SASL messages out of order; AuthenticationOk before the SCRAM proof', () => {
    expect(remoteError(() => pull(starting({ password: 'x' }), new Uint8Array(msg('R', [...int32(11), ...cstr('r=x')])))).code).toBe('ERR_PG_MALFORMED');
    expect(remoteError(() => pull(starting({ password: 'x' }), new Uint8Array(msg('R', [...int32(12), 1])))).code).toBe('ERR_PG_MALFORMED');
    const conn = starting({ password: 'x' });
    expect(authError(conn, [...msg('R', [...int32(10), ...cstr('SCRAM-SHA-256'), 0]), ...authOk()]).code).toBe('ERR_PG_SCRAM_INCOMPLETE');
  });

  it('an unknown authentication request; an MD5 salt of the wrong size', () => {
    expect(remoteError(() => pull(starting(), new Uint8Array(msg('R', int32(99))))).code).toBe('ERR_PG_MALFORMED');
    expect(remoteError(() => pull(starting({ password: 'x' }), new Uint8Array(msg('R', [...int32(5), 1, 2])))).code).toBe('ERR_PG_MALFORMED');
  });
});

describe('after a protocol error', () => {
  it('every later call throws the same error or ERR_PG_BROKEN', () => {
    const conn = busy();
    const error = remoteError(() => pull(conn, new Uint8Array([0x7a, 0, 0, 0, 4])));
    expect(conn.state).toBe('broken');
    expect(() => conn.nextEvent()).toThrow(error);
    expect(() => conn.receiveData(new Uint8Array([1]))).toThrow(error);
    try {
      conn.query('select 1');
      throw new Error('no error');
    } catch (thrown) {
      expect(thrown).toBeInstanceOf(LocalProtocolError);
      expect((thrown as LocalProtocolError).code).toBe('ERR_PG_BROKEN');
    }
  });
});

describe('random input', () => {
  const TYPES = 'RK23CdcGHWDIEVvnNAtS1sZTxz\0';

  /** Every outcome is events, NEED_DATA, or a ProtocolError: nothing else is thrown, nothing loops. */
  function survives(conn: PgConnection, chunks: Uint8Array[], end: boolean): void {
    try {
      for (const chunk of chunks) pull(conn, chunk);
      if (end) pull(conn, new Uint8Array(0), true);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      expect(typeof error.code).toBe('string');
    }
  }

  it('random bytes in every state', () => {
    const makers: (() => PgConnection)[] = [
      () => busy(),
      () => busy({}, () => {}),
      () => busy({}, (c) => {
        c.parse('', 'x');
        c.bind('', '', []);
        c.describe('P', '');
        c.execute('', 1);
        c.sync();
      }),
      () => {
        const conn = new PgConnection({ user: 'u', password: 'p' });
        conn.startup();
        return conn;
      },
      () => {
        const conn = new PgConnection({ user: 'u' });
        conn.requestSsl();
        return conn;
      },
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: makers.length - 1 }), fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.boolean(), (which, chunks, end) => {
        survives((makers[which] as () => PgConnection)(), chunks, end);
      }),
      { numRuns: 2000 },
    );
  });

  it('well-framed messages of random types and bodies', () => {
    const message = fc.record({
      type: fc.constantFrom(...TYPES.split('')),
      body: fc.uint8Array({ maxLength: 40 }),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), fc.integer({ min: 1, max: 50 }), (messages, chunkSize) => {
        const bytes = concat(...messages.map((m) => msg(m.type, [...m.body])));
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
        survives(busy({}, (c) => {
          c.parse('', 'x');
          c.bind('', '', []);
          c.execute('', 0);
          c.query('q');
          c.sync();
        }), chunks, true);
      }),
      { numRuns: 2000 },
    );
  });

  it('valid messages with hostile lengths', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES.split('')), fc.integer({ min: -2147483648, max: 2147483647 }), fc.uint8Array({ maxLength: 16 }), (type, length, rest) => {
        survives(busy({ maxMessageSize: 1 << 20 }), [concat([type.charCodeAt(0), ...int32(length)], [...rest])], true);
      }),
      { numRuns: 2000 },
    );
  });
});
