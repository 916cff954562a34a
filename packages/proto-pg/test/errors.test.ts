import { describe, expect, it } from 'vitest';
import { LocalProtocolError, PgError, ProtocolError, RemoteProtocolError } from '../src/index.js';

describe('errors', () => {
  it('a PgError carries every field and the SQLSTATE as code', () => {
    const error = new PgError({ severity: 'ERROR', code: '23505', message: 'duplicate key', detail: 'Key (id)=(1) already exists.', table: 't', constraint: 't_pkey' });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('PgError');
    expect(error.message).toBe('duplicate key');
    expect(error.code).toBe('23505');
    expect(error.detail).toBe('Key (id)=(1) already exists.');
    expect(error.table).toBe('t');
    expect(error.constraint).toBe('t_pkey');
    expect(error.hint).toBeUndefined();
  });

  it('a PgError without fields still has a code and a message', () => {
    const error = new PgError({});
    expect(error.code).toBe('XX000');
    expect(error.message).toBe('unknown PostgreSQL error');
  });

  it('protocol errors are typed and name where they happened', () => {
    const remote = new RemoteProtocolError('message too long', 'ERR_PG_MESSAGE_TOO_LONG', 42);
    expect(remote).toBeInstanceOf(ProtocolError);
    expect(remote.name).toBe('RemoteProtocolError');
    expect(remote.message).toBe('message too long (at byte 42)');
    expect(remote.offset).toBe(42);
    const local = new LocalProtocolError('query before startup', 'ERR_PG_NOT_READY');
    expect(local.code).toBe('ERR_PG_NOT_READY');
    expect(local.name).toBe('LocalProtocolError');
  });
});
