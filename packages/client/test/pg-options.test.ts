// The Postgres client's options (URLs, PG* environment, defaults) and the sql tag; several
// hosts in one client (libpq's multi-host connection strings): the URL's host list (IPv6
// brackets, percent-encoded socket directories, ports per host), PGHOST and PGPORT lists, the
// `hosts` option, target_session_attrs and load_balance_hosts from each layer, and typed
// errors for what cannot be read (empty entries, port counts that do not match, hostile bytes).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ClientError, InvalidArgumentError, isSqlFragment, parsePgUrl, pgEnvironmentOptions, resolvePgOptions, sql } from '@curio-ts/client';
import type { PgOptions } from '@curio-ts/client';

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
    ['postgres://h/d?sslmode=verify-ca', { host: 'h', database: 'd', sslmode: 'verify-ca' }],
    ['postgres://h?options=-c%20search_path%3Dx&dbname=e&user=v', { host: 'h', database: 'e', user: 'v', parameters: { options: '-c search_path=x' } }],
  ])('parses %s', (url, expected) => {
    expect(parsePgUrl(url)).toEqual(expected);
  });

  it.each([
    ['http://h', 'ERR_BAD_URL'],
    ['not a url', 'ERR_BAD_URL'],
    ['postgres://h:99999', 'ERR_BAD_URL'],
    ['postgres://a,,b/db', 'ERR_BAD_URL'],
    ['postgres://h/d?sslmode=verify', 'ERR_BAD_OPTION'],
    ['postgres://h/d?hostaddr=h', 'ERR_BAD_OPTION'],
    ['postgres://h/d?sslmode=bogus', 'ERR_BAD_OPTION'],
    ['postgres://h/d?sslcert=/x.pem', 'ERR_BAD_OPTION'],
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
    { sslmode: 'verify' as unknown as 'require' },
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

/** The hosts of resolved options as 'label' strings. */
function labels(input: string | PgOptions, env: Record<string, string> = {}): string[] {
  return resolvePgOptions(input, env).hosts.map((host) => host.label);
}

describe('several hosts in a PostgreSQL URL', () => {
  it.each([
    ['postgres://u@h1:5432,h2:5433,[::1]:5434/db', { user: 'u', database: 'db', hosts: [{ host: 'h1', port: 5432 }, { host: 'h2', port: 5433 }, { host: '::1', port: 5434 }] }],
    ['postgres://h1,h2/db', { database: 'db', hosts: [{ host: 'h1' }, { host: 'h2' }] }],
    ['postgres://h1:6000,h2/db', { database: 'db', hosts: [{ host: 'h1', port: 6000 }, { host: 'h2' }] }],
    ['postgres://%2Ftmp%2Fpg,h2:5433/db', { database: 'db', hosts: [{ host: '/tmp/pg' }, { host: 'h2', port: 5433 }] }],
    ['postgres://[::1],[fe80::1%25eth0]:7/db', { database: 'db', hosts: [{ host: '::1' }, { host: 'fe80::1%eth0', port: 7 }] }],
    ['postgres:///db?host=a,b&port=1,2', { database: 'db', hosts: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }] }],
    ['postgres:///db?host=/run/a,/run/b&port=5999', { database: 'db', hosts: [{ host: '/run/a', port: 5999 }, { host: '/run/b', port: 5999 }] }],
    ['postgres://h1,h2/db?port=7', { database: 'db', hosts: [{ host: 'h1', port: 7 }, { host: 'h2', port: 7 }] }],
    ['postgres://h/db?target_session_attrs=read-write&load_balance_hosts=random', { host: 'h', database: 'db', targetSessionAttrs: 'read-write', loadBalanceHosts: 'random' }],
    ['postgres://h/db?target_session_attrs=prefer-standby', { host: 'h', database: 'db', targetSessionAttrs: 'prefer-standby' }],
    ['postgres://u:p%2Cw%40d@h1,h2/d%2Cb', { user: 'u', password: 'p,w@d', database: 'd,b', hosts: [{ host: 'h1' }, { host: 'h2' }] }],
    ['postgres://:5433/db', { port: 5433, database: 'db' }],
    ['POSTGRESQL://h/db', { host: 'h', database: 'db' }],
  ])('parses %s', (url, expected) => {
    expect(parsePgUrl(url)).toEqual(expected);
  });

  it.each([
    ['postgres://a,,b/db', 'ERR_BAD_URL', /empty host/],
    ['postgres://a,/db', 'ERR_BAD_URL', /empty host/],
    ['postgres://,a/db', 'ERR_BAD_URL', /empty host/],
    ['postgres://a:1,b:2/db?port=1,2,3', 'ERR_BAD_URL', /3 ports cannot be matched to 2 hosts/],
    ['postgres:///db?host=a,b,c&port=1,2', 'ERR_BAD_URL', /2 ports cannot be matched to 3 hosts/],
    ['postgres:///db?port=1,2', 'ERR_BAD_URL', /2 ports cannot be matched to 1 host/],
    ['postgres:///db?host=a,,b', 'ERR_BAD_URL', /empty host/],
    ['postgres://::1:5432/db', 'ERR_BAD_URL', /brackets/],
    ['postgres://[::1/db', 'ERR_BAD_URL', /closing bracket/],
    ['postgres://[]:5432/db', 'ERR_BAD_URL', /empty brackets/],
    ['postgres://[::1]x/db', 'ERR_BAD_URL', /after an IPv6/],
    ['postgres://a%2Cb,c/db', 'ERR_BAD_URL', /comma/],
    ['postgres://a%00b/db', 'ERR_BAD_URL', /NUL/],
    ['postgres://a%zz/db', 'ERR_BAD_URL', /percent-encoding/],
    ['postgres://a:0,b/db', 'ERR_BAD_URL', /invalid port/],
    ['postgres://a:65536,b/db', 'ERR_BAD_URL', /invalid port/],
    ['postgres://a:1x,b/db', 'ERR_BAD_URL', /invalid port/],
    ['postgres://h/db?target_session_attrs=master', 'ERR_BAD_OPTION', /target_session_attrs/],
    ['postgres://h/db?load_balance_hosts=roundrobin', 'ERR_BAD_OPTION', /load_balance_hosts/],
    ['postgres://h/db?sslmode', 'ERR_BAD_URL', /without a value/],
  ])('refuses %s with a typed error', (url, code, message) => {
    const error = errorOf(() => parsePgUrl(url));
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
  });

  it('hostile bytes: any string is parsed or refused with a ClientError, never another error', () => {
    const pieces = ['postgres://', 'postgresql:///', '@', ':', ',', '[', ']', '/', '?', '&', '=', '#', '%', '%2C', '%2F', '%5B', '%zz', '%00', '::1', 'h', '5432', '99999', '\0', 'é', ' ', 'host=', 'port=', 'hostaddr=', '10.0.0.1', 'target_session_attrs=', 'standby'];
    const urls = fc.oneof(
      fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 12 }).map((parts) => `postgres://${parts.join('')}`),
      fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 12 }).map((parts) => parts.join('')),
      fc.string({ unit: 'binary', maxLength: 40 }).map((text) => `postgres://${text}`),
    );
    fc.assert(
      fc.property(urls, (url) => {
        let hosts: readonly { readonly host: string }[];
        try {
          hosts = resolvePgOptions(parsePgUrl(url)).hosts;
        } catch (error) {
          expect(error).toBeInstanceOf(ClientError);
          return;
        }
        // Whatever was read resolves to hosts whose names hold no comma or NUL.
        for (const host of hosts) expect(host.host).not.toMatch(/[,\0]/);
      }),
      { numRuns: 3000 },
    );
  });

  it('random host lists round trip through a URL, split at any comma or bracket', () => {
    const host = fc.record(
      { host: fc.constantFrom('db1', 'db-2.example', '10.0.0.7', '::1', 'fe80::2', '/run/pg sock', '/tmp/a@b'), port: fc.integer({ min: 1, max: 65535 }) },
      { requiredKeys: ['host'] },
    );
    fc.assert(
      fc.property(fc.array(host, { minLength: 1, maxLength: 5 }), (hosts) => {
        const netloc = hosts.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : encodeURIComponent(host)}${port === undefined ? '' : `:${port}`}`).join(',');
        const resolved = resolvePgOptions(parsePgUrl(`postgres://user@${netloc}/db`)).hosts;
        expect(resolved.map(({ host, port }) => ({ host, port }))).toEqual(hosts.map(({ host, port }) => ({ host, port: port ?? 5432 })));
      }),
      { numRuns: 500 },
    );
  });
});

describe('several hosts in PGHOST and PGPORT', () => {
  it('a PGHOST list with one PGPORT: the port applies to every host', () => {
    expect(labels({}, { PGHOST: 'a,b,/tmp/s', PGPORT: '6000' })).toEqual(['a:6000', 'b:6000', '/tmp/s/.s.PGSQL.6000']);
  });

  it('a PGHOST list with a PGPORT list of the same length: pairs', () => {
    expect(labels({}, { PGHOST: 'a,::1', PGPORT: '1,2' })).toEqual(['a:1', '[::1]:2']);
    expect(labels({}, { PGHOST: 'a,b', PGPORT: '1,' })).toEqual(['a:1', 'b:5432']);
  });

  it('PGTARGETSESSIONATTRS and PGLOADBALANCEHOSTS, which the URL and the options override', () => {
    const env = { PGHOST: 'a,b', PGTARGETSESSIONATTRS: 'standby', PGLOADBALANCEHOSTS: 'random' };
    expect(resolvePgOptions({}, env)).toMatchObject({ targetSessionAttrs: 'standby', loadBalanceHosts: 'random' });
    expect(resolvePgOptions('postgres:///db?target_session_attrs=primary', env)).toMatchObject({ targetSessionAttrs: 'primary', loadBalanceHosts: 'random' });
    expect(resolvePgOptions({ url: 'postgres:///db?target_session_attrs=primary', targetSessionAttrs: 'read-only', loadBalanceHosts: 'disable' }, env)).toMatchObject({ targetSessionAttrs: 'read-only', loadBalanceHosts: 'disable' });
  });

  it.each([
    [{ PGHOST: 'a,b', PGPORT: '1,2,3' }, /3 ports cannot be matched to 2 hosts/],
    [{ PGHOST: 'a,b,c', PGPORT: '1,2' }, /2 ports cannot be matched to 3 hosts/],
    [{ PGPORT: '1,2' }, /PGPORT lists 2 ports but PGHOST names no hosts/],
    [{ PGHOST: 'a,,b' }, /empty host/],
    [{ PGHOST: 'a,' }, /empty host/],
    [{ PGHOST: 'a,b', PGPORT: '1,x' }, /invalid port/],
    [{ PGTARGETSESSIONATTRS: 'master' }, /target_session_attrs/],
    [{ PGLOADBALANCEHOSTS: 'yes' }, /load_balance_hosts/],
  ])('refuses %o with a typed error', (env, message) => {
    const error = errorOf(() => pgEnvironmentOptions(env));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('ERR_BAD_OPTION');
    expect((error as Error).message).toMatch(message);
  });
});

describe('several hosts in the options and across layers', () => {
  it('hosts as an array of { host, port }; port applies to the hosts that name none', () => {
    expect(labels({ hosts: [{ host: 'a', port: 1 }, { host: 'b' }], port: 2 })).toEqual(['a:1', 'b:2']);
    expect(labels({ hosts: [{ host: '/tmp/s' }, { host: '::1', port: 3 }] })).toEqual(['/tmp/s/.s.PGSQL.5432', '[::1]:3']);
  });

  it('host as a comma list, as libpq reads host=h1,h2', () => {
    expect(labels({ host: 'h1,h2', port: 5433 })).toEqual(['h1:5433', 'h2:5433']);
  });

  it('the highest layer naming hosts gives the list; a single port of a higher layer applies to every host below it', () => {
    const env = { PGHOST: 'e1,e2', PGPORT: '1,2' };
    expect(labels({}, env)).toEqual(['e1:1', 'e2:2']);
    expect(labels('postgres:///db?port=7', env)).toEqual(['e1:7', 'e2:7']);
    expect(labels('postgres://u1:5,u2/db', env)).toEqual(['u1:5', 'u2:5432']);
    expect(labels({ url: 'postgres://u1:5,u2/db', port: 9 }, env)).toEqual(['u1:9', 'u2:9']);
    expect(labels({ url: 'postgres://u1:5,u2/db', hosts: [{ host: 'c1' }] }, env)).toEqual(['c1:5432']);
    expect(labels('postgres://u1,u2/db', { PGPORT: '6000' })).toEqual(['u1:6000', 'u2:6000']);
  });

  it('the first host stays in host, port and target (one host reads as before)', () => {
    const resolved = resolvePgOptions('postgres://h1:1,h2:2/db');
    expect([resolved.host, resolved.port, resolved.target]).toEqual(['h1', 1, { host: 'h1', port: 1 }]);
    expect(resolvePgOptions('postgres://h/db').hosts).toEqual([{ host: 'h', hostaddr: null, port: 5432, target: { host: 'h', port: 5432 }, label: 'h:5432' }]);
  });

  it('sslmode applies to each host; it reads as disable only when every host is a unix socket', () => {
    expect(resolvePgOptions('postgres://%2Ftmp,h/db?sslmode=require').sslmode).toBe('require');
    expect(resolvePgOptions('postgres://%2Ftmp,%2Frun/db?sslmode=require').sslmode).toBe('disable');
  });

  it.each([
    { hosts: [] },
    { hosts: [{ host: '' }, { host: 'b' }] },
    { hosts: [{ host: 'a,b' }] },
    { hosts: [{ host: 'a', port: 0 }] },
    { hosts: [{ host: 'a', port: 70000 }] },
    { hosts: [{ host: 3 as unknown as string }] },
    { hosts: 'a,b' as unknown as [] },
    { hosts: [null as unknown as { host: string }] },
    { host: 'a', hosts: [{ host: 'b' }] },
    { host: 'a,,b' },
    { targetSessionAttrs: 'master' as unknown as 'any' },
    { loadBalanceHosts: true as unknown as 'random' },
  ])('refuses %o naming the option', (options) => {
    const error = errorOf(() => resolvePgOptions(options));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('ERR_BAD_OPTION');
  });
});

/** Where each host connects, and its label. */
function targets(input: string | PgOptions, env: Record<string, string> = {}): [string, string | null, unknown, string][] {
  return resolvePgOptions(input, env).hosts.map((host) => [host.host, host.hostaddr, host.target, host.label]);
}

describe('hostaddr (libpq): a numeric address per host, the host name kept for TLS and messages', () => {
  it.each([
    ['postgres://db1/d?hostaddr=10.0.0.7', [['db1', '10.0.0.7', { host: '10.0.0.7', port: 5432 }, 'db1 at 10.0.0.7:5432']]],
    ['postgres://db1:1,db2:2/d?hostaddr=10.0.0.7,::1', [['db1', '10.0.0.7', { host: '10.0.0.7', port: 1 }, 'db1 at 10.0.0.7:1'], ['db2', '::1', { host: '::1', port: 2 }, 'db2 at [::1]:2']]],
    // An empty entry: that host is looked up as usual.
    ['postgres://db1,db2/d?hostaddr=,10.0.0.8', [['db1', null, { host: 'db1', port: 5432 }, 'db1:5432'], ['db2', '10.0.0.8', { host: '10.0.0.8', port: 5432 }, 'db2 at 10.0.0.8:5432']]],
    // No host: the addresses make the hosts, nameless; ports pair with them.
    ['postgres:///d?hostaddr=10.0.0.1,10.0.0.2&port=1,2', [['', '10.0.0.1', { host: '10.0.0.1', port: 1 }, '10.0.0.1:1'], ['', '10.0.0.2', { host: '10.0.0.2', port: 2 }, '10.0.0.2:2']]],
    ['postgres:///d?hostaddr=fe80::1%25eth0&port=7', [['', 'fe80::1%eth0', { host: 'fe80::1%eth0', port: 7 }, '[fe80::1%eth0]:7']]],
    // A socket directory with an address is a TCP host: the address wins (libpq).
    ['postgres://%2Ftmp/d?hostaddr=127.0.0.1', [['/tmp', '127.0.0.1', { host: '127.0.0.1', port: 5432 }, '/tmp at 127.0.0.1:5432']]],
    ['postgres:///d?hostaddr=', [['127.0.0.1', null, { host: '127.0.0.1', port: 5432 }, '127.0.0.1:5432']]],
  ])('reads %s', (url, expected) => {
    expect(targets(url)).toEqual(expected);
  });

  it('a keyword of its own in every layer: PGHOSTADDR, the URL, the option; paired with the host list of whichever layer gave it', () => {
    expect(targets({}, { PGHOST: 'e1,e2', PGHOSTADDR: '10.0.0.1,10.0.0.2' }).map((t) => t[3])).toEqual(['e1 at 10.0.0.1:5432', 'e2 at 10.0.0.2:5432']);
    // The URL's hosts, PGHOSTADDR's addresses.
    expect(targets('postgres://u1,u2/d', { PGHOST: 'e1,e2', PGHOSTADDR: '10.0.0.1,10.0.0.2' }).map((t) => t[3])).toEqual(['u1 at 10.0.0.1:5432', 'u2 at 10.0.0.2:5432']);
    // The option's addresses over the URL's.
    expect(targets({ url: 'postgres://u1/d?hostaddr=10.0.0.1', hostaddr: '10.9.9.9' }).map((t) => t[3])).toEqual(['u1 at 10.9.9.9:5432']);
    // hosts entries with their own addresses (and one without).
    expect(targets({ hosts: [{ host: 'a', hostaddr: '10.0.0.1', port: 1 }, { host: 'b' }, { hostaddr: '::2' }] }).map((t) => t[3])).toEqual(['a at 10.0.0.1:1', 'b:5432', '[::2]:5432']);
    // PGHOSTADDR alone: nameless hosts; PGPORT pairs with them.
    expect(targets({}, { PGHOSTADDR: '10.0.0.1,10.0.0.2', PGPORT: '1,2' }).map((t) => t[3])).toEqual(['10.0.0.1:1', '10.0.0.2:2']);
    expect(targets({ host: 'a,b,c', hostaddr: '10.0.0.1,,' }).map((t) => t[3])).toEqual(['a at 10.0.0.1:5432', 'b:5432', 'c:5432']);
    expect(resolvePgOptions({ host: 'db', hostaddr: '10.0.0.1' })).toMatchObject({ host: 'db', hostaddr: '10.0.0.1', target: { host: '10.0.0.1', port: 5432 } });
  });

  it.each([
    [{ url: 'postgres://a,b/d?hostaddr=10.0.0.1' }, {}, /could not match 2 host names to 1 hostaddr value/],
    [{ url: 'postgres://a/d?hostaddr=10.0.0.1,10.0.0.2' }, {}, /could not match 1 host name to 2 hostaddr values/],
    [{}, { PGHOST: 'a', PGHOSTADDR: '10.0.0.1,10.0.0.2' }, /could not match 1 host name to 2 hostaddr values/],
    [{ url: 'postgres:///d?hostaddr=10.0.0.1,10.0.0.2&port=1,2,3' }, {}, /3 ports cannot be matched to 2 hostaddr values/],
    [{ hostaddr: 'db.example' }, {}, /numeric/],
    [{ hostaddr: 'localhost' }, {}, /numeric/],
    [{ hostaddr: '[::1]' }, {}, /no brackets/],
    [{ hostaddr: '10.0.0.1:5432' }, {}, /numeric/],
    [{ hostaddr: '010.0.0.1' }, {}, /numeric/],
    [{ hostaddr: '256.0.0.1' }, {}, /numeric/],
    [{ hostaddr: '10.0.0' }, {}, /numeric/],
    [{ hostaddr: '1:2:3:4:5:6:7:8:9' }, {}, /numeric/],
    [{ hostaddr: '1::2::3' }, {}, /numeric/],
    [{ hostaddr: '1.2.3.4::' }, {}, /numeric/],
    [{ hostaddr: '::1.2.3.4:1' }, {}, /numeric/],
    [{ hostaddr: ' 10.0.0.1' }, {}, /numeric/],
    [{ hostaddr: 42 as unknown as string }, {}, /hostaddr must be a string/],
    [{ hostaddr: '10.0.0.1\0' }, {}, /NUL|numeric/],
    [{ hosts: [{ host: 'a', hostaddr: 'b' }] }, {}, /numeric/],
    [{ hosts: [{ host: 'a', hostaddr: '10.0.0.1,10.0.0.2' }] }, {}, /one numeric address/],
    [{ hosts: [{ host: 'a', hostaddr: '10.0.0.1' }], hostaddr: '10.0.0.2' }, {}, /not both/],
    [{ hosts: [{ port: 1 }] }, {}, /hosts\[0\]\.host/],
    [{}, { PGHOSTADDR: 'db.example' }, /numeric.*PGHOSTADDR/],
  ])('refuses %o (env %o) with a typed error', (options, env, message) => {
    const error = errorOf(() => resolvePgOptions(options as PgOptions, env));
    // A URL that cannot be read is ERR_BAD_URL (as its other port-count errors), the rest ERR_BAD_OPTION.
    const inUrl = /ports cannot be matched/.test(message.source);
    expect(error).toBeInstanceOf(inUrl ? ClientError : InvalidArgumentError);
    expect((error as ClientError).code).toBe(inUrl ? 'ERR_BAD_URL' : 'ERR_BAD_OPTION');
    expect((error as Error).message).toMatch(message);
  });

  it('any string is taken as hostaddr exactly when Node reads it as an IP address (hostile and random input)', () => {
    const pieces = ['1', '0', '00', '255', '256', 'ff', 'FFFF', 'fffff', 'g', '.', ':', '::', '%', 'eth0', '[', ']', ' ', '-', '\0', 'é', '1.2.3.4', '::ffff:'];
    const text = fc.oneof(
      fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 14 }).map((parts) => parts.join('')),
      // IPv6-shaped: groups joined by ':' (an empty group makes '::'), IPv4 parts anywhere.
      fc.array(fc.constantFrom('1', 'ffff', 'FfFf', '12345', '0', '1.2.3.4', '01.2.3.4', '', 'x', '%z'), { minLength: 1, maxLength: 10 }).map((parts) => parts.join(':')),
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4Extended(),
    );
    fc.assert(
      fc.property(
        text.filter((t) => !t.includes(',') && t !== ''),
        (address) => {
          const error = errorOf(() => resolvePgOptions({ host: 'db', hostaddr: address }));
          if (isIP(address) !== 0) {
            expect(error).toBeUndefined();
            expect(resolvePgOptions({ host: 'db', hostaddr: address }).target).toEqual({ host: address, port: 5432 });
          } else {
            expect(error).toBeInstanceOf(InvalidArgumentError);
          }
        },
      ),
      { numRuns: 8000 },
    );
  });

  it('random IPv6 forms (any run of zero groups compressed, a final IPv4 part, a zone, any case) are accepted', () => {
    const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    const address = fc
      .record({
        groups: fc.array(group, { minLength: 8, maxLength: 8 }),
        v4: fc.option(fc.ipV4(), { nil: undefined }),
        cut: fc.tuple(fc.nat(8), fc.nat(8)),
        upper: fc.boolean(),
        zone: fc.option(fc.stringMatching(/^[a-z0-9]{1,6}$/), { nil: undefined }),
      })
      .map(({ groups, v4, cut, upper, zone }) => {
        const parts = v4 === undefined ? groups : [...groups.slice(0, 6), v4];
        const [a, b] = [Math.min(...cut) % (parts.length + 1), Math.max(...cut) % (parts.length + 1)];
        const text = a < b ? `${parts.slice(0, a).join(':')}::${parts.slice(b).join(':')}` : parts.join(':');
        return `${upper ? text.toUpperCase() : text}${zone === undefined ? '' : `%${zone}`}`;
      });
    fc.assert(
      fc.property(address, (text) => {
        expect(isIP(text)).toBe(6);
        expect(resolvePgOptions({ host: 'db', hostaddr: text }).hostaddr).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('random host and hostaddr lists pair by position when the counts match, and are refused with both counts when not', () => {
    const entry = fc.oneof(fc.constant(''), fc.ipV4(), fc.ipV6());
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b.example', '/run/pg', '::1'), { minLength: 1, maxLength: 5 }), fc.array(entry, { minLength: 1, maxLength: 5 }), (hosts, addresses) => {
        const url = `postgres://${hosts.map((h) => (h.includes(':') ? `[${h}]` : encodeURIComponent(h))).join(',')}/d?hostaddr=${encodeURIComponent(addresses.join(','))}`;
        const error = errorOf(() => resolvePgOptions(url));
        if (hosts.length !== addresses.length) {
          expect(error).toBeInstanceOf(InvalidArgumentError);
          expect((error as Error).message).toContain(`could not match ${hosts.length} host name`);
          expect((error as Error).message).toContain(`to ${addresses.length} hostaddr value`);
          return;
        }
        expect(error).toBeUndefined();
        const resolved = resolvePgOptions(url).hosts;
        resolved.forEach((host, i) => {
          const address = addresses[i] as string;
          expect(host.host).toBe(hosts[i]);
          expect(host.hostaddr).toBe(address === '' ? null : address);
          if (address !== '') expect(host.target).toEqual({ host: address, port: 5432 });
          else expect(host.target).toEqual((hosts[i] as string).startsWith('/') ? { path: '/run/pg/.s.PGSQL.5432' } : { host: hosts[i], port: 5432 });
        });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('sslrootcert (libpq): a file of trusted CAs, read through the backend', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const dir = mkdtempSync(join(tmpdir(), 'curio-rootcert-'));
  const file = join(dir, 'root.crt');
  writeFileSync(file, PEM);
  writeFileSync(join(dir, 'not-pem.txt'), 'hello');
  const files = { readText: (path: string) => readFileSync(path, 'utf8') };
  const resolve = (input: string | PgOptions, env: Record<string, string> = {}) => resolvePgOptions(input, env, files);

  it('the file becomes tls.ca; the chain is checked in every sslmode with TLS: require reads as verify-ca (libpq)', () => {
    expect(resolve(`postgres://h/d?sslrootcert=${encodeURIComponent(file)}`)).toMatchObject({ sslmode: 'prefer', sslrootcert: file, tls: { ca: PEM } });
    expect(resolve(`postgres://h/d?sslrootcert=${encodeURIComponent(file)}&sslmode=require`)).toMatchObject({ sslmode: 'verify-ca', tls: { ca: PEM } });
    expect(resolve({ host: 'h', sslrootcert: file, sslmode: 'verify-full', tls: { serverName: 'x' } })).toMatchObject({ sslmode: 'verify-full', tls: { ca: PEM, serverName: 'x' } });
    expect(resolve({ host: 'h', sslmode: 'require' }, { PGSSLROOTCERT: file })).toMatchObject({ sslmode: 'verify-ca', sslrootcert: file, tls: { ca: PEM } });
    // tls.ca given in code wins over the file (which is then not read).
    expect(resolve({ host: 'h', sslrootcert: join(dir, 'missing.crt'), tls: { ca: 'mine' } })).toMatchObject({ tls: { ca: 'mine' } });
    expect(resolve({ host: 'h' }).sslrootcert).toBeNull();
  });

  it("'system': the runtime's default CAs, verify-full by default, nothing weaker", () => {
    const system = resolve('postgres://h/d?sslrootcert=system');
    expect([system.sslmode, system.tls]).toEqual(['verify-full', undefined]);
    for (const weak of ['disable', 'prefer', 'require', 'verify-ca']) {
      const error = errorOf(() => resolve(`postgres://h/d?sslrootcert=system&sslmode=${weak}`));
      expect(error, weak).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/weak sslmode/);
    }
  });

  it.each([
    [{ host: 'h', sslrootcert: join(dir, 'missing.crt') }, true, /could not read the root certificate file/],
    [{ host: 'h', sslrootcert: join(dir, 'not-pem.txt') }, true, /holds no PEM certificate/],
    [{ host: 'h', sslrootcert: file }, false, /cannot read: give the PEM text as tls.ca/],
    [{ host: 'h', sslrootcert: 7 as unknown as string }, true, /sslrootcert must be a string/],
    [{ host: 'h', sslrootcert: 'a\0b' }, true, /without NUL/],
  ])('refuses %o with a typed error (reader given: %s)', (options, withReader, message) => {
    const error = errorOf(() => resolvePgOptions(options, {}, withReader ? files : undefined));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('ERR_BAD_OPTION');
    expect((error as Error).message).toMatch(message);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});
