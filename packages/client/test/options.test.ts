// Connection options and Redis URLs.
import { describe, expect, it } from 'vitest';
import { ClientError, parseRedisUrl } from '@curio-ts/client';

describe('Redis URLs', () => {
  it.each([
    ['redis://localhost', { host: 'localhost', port: 6379, db: 0 }],
    ['redis://127.0.0.1:6380/5', { host: '127.0.0.1', port: 6380, db: 5 }],
    ['redis://user:p%40ss@h:1/2', { host: 'h', port: 1, db: 2, username: 'user', password: 'p@ss' }],
    ['redis://:secret@h', { host: 'h', port: 6379, db: 0, password: 'secret' }],
    ['rediss://h:6390', { host: 'h', port: 6390, db: 0, tls: true }],
    ['redis://[::1]:7000', { host: '::1', port: 7000, db: 0 }],
    ['redis://h/?db=3&name=app&protocol=2', { host: 'h', port: 6379, db: 3, clientName: 'app', protocol: 2 }],
    ['redis+unix:///tmp/redis.sock?db=1', { path: '/tmp/redis.sock', db: 1 }],
  ])('parses %s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  it.each(['http://h', 'not a url', 'redis://h/x', 'redis://h/-1'])('rejects %s with a typed error', (url) => {
    let error: unknown;
    try {
      parseRedisUrl(url);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('ERR_BAD_URL');
  });
});
