// The Postgres client's options (URLs, PG* environment, defaults) and the sql tag.
import { describe, expect, it } from 'vitest';
import { ClientError, InvalidArgumentError, isSqlFragment, parsePgUrl, resolvePgOptions, sql } from '@curio-ts/client';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('PostgreSQL URLs', () => {
  it.each([
    ['postgres://localhost', { host: 'localhost' }],
    ['postgresql://u:p%40ss@db.example:6543/app', { host: 'db.example', port: 6543, user: 'u', password: 'p@ss', database: 'app' }],
    ['postgres://[::1]:5433/x', { host: '::1', port: 5433, database: 'x' }],
    ['postgres://%2Fvar%2Frun%2Fpostgresql/db', { host: '/var/run/postgresql', database: 'db' }],
    ['postgres:///db?host=/tmp/sock&port=5999', { host: '/tmp/sock', port: 5999, database: 'db' }],
    ['postgres://h/d?sslmode=require&application_name=app&connect_timeout=3', { host: 'h', database: 'd', sslmode: 'require', applicationName: 'app', connectTimeout: 3000 }],
    ['postgres://h/d?sslmode=allow', { host: 'h', database: 'd', sslmode: 'prefer' }],
    ['postgres://h?options=-c%20search_path%3Dx&dbname=e&user=v', { host: 'h', database: 'e', user: 'v', parameters: { options: '-c search_path=x' } }],
  ])('parses %s', (url, expected) => {
    expect(parsePgUrl(url)).toEqual(expected);
  });

  it.each([
    ['http://h', 'ERR_BAD_URL'],
    ['not a url', 'ERR_BAD_URL'],
    ['postgres://h:99999', 'ERR_BAD_URL'],
    ['postgres://a,,b/db', 'ERR_BAD_URL'],
    ['postgres://h/d?sslmode=verify-ca', 'ERR_BAD_OPTION'],
    ['postgres://h/d?sslmode=bogus', 'ERR_BAD_OPTION'],
    ['postgres://h/d?sslrootcert=/x.pem', 'ERR_BAD_OPTION'],
    ['postgres://h/d?typo=1', 'ERR_BAD_OPTION'],
    ['postgres://h/d?connect_timeout=x', 'ERR_BAD_OPTION'],
  ])('refuses %s with a typed error', (url, code) => {
    const error = errorOf(() => parsePgUrl(url));
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(code);
  });

  it('never shows the password of a URL it cannot read', () => {
    const error = errorOf(() => parsePgUrl('postgres://u:secret@h:x/d')) as Error;
    expect(error.message).not.toContain('secret');
  });
});

describe('resolvePgOptions', () => {
  it('defaults like libpq', () => {
    const o = resolvePgOptions(undefined, { USER: 'me' });
    expect(o.target).toEqual({ host: '127.0.0.1', port: 5432 });
    expect(o.user).toBe('me');
    expect(o.database).toBe('me');
    expect(o.sslmode).toBe('prefer');
    expect(o.applicationName).toBe('curio-ts');
    expect(o.prepare).toBe(true);
    expect(o.connectTimeout).toBe(10_000);
  });

  it('reads the PG* variables, which the URL and the options override', () => {
    const env = { PGHOST: 'envhost', PGPORT: '6000', PGUSER: 'envuser', PGPASSWORD: 'envpw', PGDATABASE: 'envdb', PGSSLMODE: 'disable', PGAPPNAME: 'envapp', PGCONNECT_TIMEOUT: '7' };
    const fromEnv = resolvePgOptions({}, env);
    expect(fromEnv).toMatchObject({ host: 'envhost', port: 6000, user: 'envuser', password: 'envpw', database: 'envdb', sslmode: 'disable', applicationName: 'envapp', connectTimeout: 7000 });
    const fromUrl = resolvePgOptions('postgres://urluser@urlhost/urldb', env);
    expect(fromUrl).toMatchObject({ host: 'urlhost', port: 6000, user: 'urluser', password: 'envpw', database: 'urldb' });
    const fromCode = resolvePgOptions({ url: 'postgres://urluser@urlhost/urldb', database: 'codedb', port: 1234 }, env);
    expect(fromCode).toMatchObject({ host: 'urlhost', port: 1234, database: 'codedb' });
  });

  it('a socket directory makes a unix-socket target without TLS', () => {
    const o = resolvePgOptions('postgres://%2Fvar%2Frun%2Fpostgresql:5433/db?sslmode=require');
    expect(o.target).toEqual({ path: '/var/run/postgresql/.s.PGSQL.5433' });
    expect(o.sslmode).toBe('disable');
    expect(resolvePgOptions({ host: '/tmp/' }).target).toEqual({ path: '/tmp/.s.PGSQL.5432' });
  });

  it('pool defaults: no session limit, checks after 1 s idle, idle connections closed after 30 s, no lifetime limit', () => {
    const resolved = resolvePgOptions({});
    expect([resolved.sessions, resolved.poolCheckAfter, resolved.idleTimeout, resolved.maxLifetime]).toEqual([Infinity, 1000, 30_000, Infinity]);
    const given = resolvePgOptions({ sessions: 1, poolCheckAfter: 0, idleTimeout: Infinity, maxLifetime: 60_000 });
    expect([given.sessions, given.poolCheckAfter, given.idleTimeout, given.maxLifetime]).toEqual([1, 0, Infinity, 60_000]);
  });

  it('takes a password function', () => {
    const password = async (): Promise<string> => 'token';
    expect(resolvePgOptions({ password }).password).toBe(password);
  });

  it.each([
    { port: 0 },
    { port: 1.5 },
    { user: 42 as unknown as string },
    { database: 'a\0b' },
    { password: 42 as unknown as string },
    { sslmode: 'verify-ca' as unknown as 'require' },
    { connectTimeout: Infinity },
    { poolSize: 0 },
    { sessions: 0 },
    { sessions: 1.5 },
    { poolCheckAfter: -1 },
    { idleTimeout: '30s' as unknown as number },
    { maxLifetime: -5 },
    { rowMode: 'rows' as unknown as 'array' },
    { prepare: 'no' as unknown as boolean },
    { parameters: { search_path: 3 as unknown as string } },
  ])('refuses %o naming the option', (options) => {
    const error = errorOf(() => resolvePgOptions(options));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('ERR_BAD_OPTION');
  });
});

describe('the sql tag', () => {
  it('makes parameters of every value, never text', () => {
    const id = "1; drop table x; --";
    const q = sql`select * from t where id = ${id} and n > ${5}`.toQuery();
    expect(q).toEqual({ text: 'select * from t where id = $1 and n > $2', values: [id, 5] });
  });

  it('composes fragments, numbering their parameters again', () => {
    const where = sql`a = ${1} and b = ${'two'}`;
    const q = sql`select ${sql.id('my "col"')} from ${sql.id('s', 't')} where ${where} and c in ${sql.in([3, 4])} and d = ${null}`.toQuery();
    expect(q.text).toBe('select "my ""col""" from "s"."t" where a = $1 and b = $2 and c in ($3, $4) and d = $5');
    expect(q.values).toEqual([1, 'two', 3, 4, null]);
    const joined = sql`insert into t values ${sql.join([sql`(${1}, ${2})`, sql`(${3}, ${4})`])}`.toQuery();
    expect(joined).toEqual({ text: 'insert into t values ($1, $2), ($3, $4)', values: [1, 2, 3, 4] });
    expect(sql`x${sql.empty}y`.toQuery().text).toBe('xy');
    expect(sql.join([1, 2], sql` or `).toQuery()).toEqual({ text: '$1 or $2', values: [1, 2] });
  });

  it('treats look-alikes as values', () => {
    const fake = { text: 'drop table x', toQuery: () => ({ text: 'drop table x', values: [] }) };
    expect(sql`select ${fake}`.toQuery()).toEqual({ text: 'select $1', values: [fake] });
    expect(isSqlFragment(fake)).toBe(false);
    const forged = Object.create((sql`x` as object).constructor.prototype) as object;
    expect(isSqlFragment(forged)).toBe(false);
    expect(sql`select ${forged}`.toQuery().values).toEqual([forged]);
  });

  it('refuses what would be text: a hand-made template, a bad identifier, an empty IN list', () => {
    const call = sql as unknown as (strings: readonly string[]) => unknown;
    for (const fn of [() => call(['drop table x']), () => sql.id(''), () => sql.id('a\0'), () => sql.id(3 as unknown as string), () => sql.in([]), () => sql.join([1], 'or' as unknown as never)]) {
      const error = errorOf(fn);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).code).toBe('ERR_BAD_ARGUMENT');
    }
  });
});
