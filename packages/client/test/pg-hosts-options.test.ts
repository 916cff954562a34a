// Several PostgreSQL hosts in one client (libpq's multi-host connection strings): the URL's
// host list (IPv6 brackets, percent-encoded socket directories, ports per host), PGHOST and
// PGPORT lists, the `hosts` option, target_session_attrs and load_balance_hosts from each
// layer, and typed errors for what cannot be read (empty entries, port counts that do not
// match, hostile bytes).
import { describe, expect, it } from 'vitest';
import { ClientError, InvalidArgumentError, parsePgUrl, pgEnvironmentOptions, resolvePgOptions } from '@curio-ts/client';
import type { PgOptions } from '@curio-ts/client';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** The hosts of resolved options as 'label' strings. */
function labels(input: string | PgOptions, env: Record<string, string> = {}): string[] {
  return resolvePgOptions(input, env).hosts.map((host) => host.label);
}

/** A small seeded generator (mulberry32): the same cases on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
    const random = seeded(7);
    const alphabet = ['postgres://', 'postgresql:///', '@', ':', ',', '[', ']', '/', '?', '&', '=', '#', '%', '%2C', '%2F', '%5B', '%zz', '%00', '::1', 'h', '5432', '99999', '\0', 'é', ' ', 'host=', 'port=', 'target_session_attrs=', 'standby'];
    let parsed = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      let url = i % 2 === 0 ? 'postgres://' : '';
      const parts = 1 + Math.floor(random() * 12);
      for (let j = 0; j < parts; j++) url += alphabet[Math.floor(random() * alphabet.length)];
      try {
        const options = parsePgUrl(url);
        parsed++;
        // Whatever was read resolves to hosts whose names hold no comma or NUL.
        for (const host of resolvePgOptions(options).hosts) expect(host.host).not.toMatch(/[,\0]/);
      } catch (error) {
        refused++;
        expect(error).toBeInstanceOf(ClientError);
      }
    }
    expect(parsed).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it('random host lists round trip through a URL, split at any comma or bracket', () => {
    const random = seeded(11);
    const names = ['db1', 'db-2.example', '10.0.0.7', '::1', 'fe80::2', '/run/pg sock', '/tmp/a,b'.replace(',', '_')];
    for (let i = 0; i < 500; i++) {
      const count = 1 + Math.floor(random() * 5);
      const hosts = Array.from({ length: count }, () => {
        const host = names[Math.floor(random() * names.length)] as string;
        return random() < 0.5 ? { host } : { host, port: 1 + Math.floor(random() * 65535) };
      });
      const netloc = hosts.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : encodeURIComponent(host)}${port === undefined ? '' : `:${port}`}`).join(',');
      const options = parsePgUrl(`postgres://user@${netloc}/db`);
      const expected = hosts.map(({ host, port }) => ({ host, port: port ?? 5432 }));
      expect(resolvePgOptions(options).hosts.map(({ host, port }) => ({ host, port }))).toEqual(expected);
    }
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
    expect(resolvePgOptions('postgres://h/db').hosts).toEqual([{ host: 'h', port: 5432, target: { host: 'h', port: 5432 }, label: 'h:5432' }]);
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
