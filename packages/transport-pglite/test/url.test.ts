// pglite: URLs as connectPg options: one session declared (sessions: 1), the forms of the URL,
// user options kept on top. No PGlite is started here (pgliteConnect starts it on first use).
import { describe, expect, it } from 'vitest';
import { isPgliteUrl, pgliteOptions, pgliteRoute } from '@curio-ts/transport-pglite';

describe('pglite: URLs', () => {
  it('declare one session, so that leases share the one connection instead of opening a second', () => {
    const options = pgliteOptions('pglite:');
    expect(options.sessions).toBe(1);
    expect(options.poolSize).toBeUndefined();
    expect([options.user, options.database, options.sslmode]).toEqual(['postgres', 'postgres', 'disable']);
    expect(typeof options.connect).toBe('function');
  });

  it('keep the options given with the URL, the transport last', () => {
    const routed = pgliteRoute({ url: 'pglite:memory', poolTimeout: 100, queryTimeout: 5 });
    expect(routed).not.toBeNull();
    expect([routed?.sessions, routed?.poolTimeout, routed?.queryTimeout, routed?.url]).toEqual([1, 100, 5, undefined]);
    expect(pgliteRoute('postgres://127.0.0.1/test')).toBeNull();
    expect(pgliteRoute({ url: 'postgres://127.0.0.1/test' })).toBeNull();
    expect(pgliteRoute(undefined)).toBeNull();
    expect([isPgliteUrl('pglite:./data'), isPgliteUrl('postgres://x')]).toEqual([true, false]);
    expect(() => pgliteOptions('postgres://x')).toThrow(TypeError);
  });
});

describe('pglite: URL parameters', () => {
  it('take thread=main or thread=worker, with or without a data directory, and refuse anything else', () => {
    const options = pgliteOptions;
    for (const url of ['pglite:?thread=main', 'pglite:memory?thread=main', 'pglite://./data?thread=worker', 'pglite:./data%3Fx?thread=main']) {
      expect(typeof options(url).connect, url).toBe('function');
    }
    expect(() => options('pglite:?thread=both')).toThrow(/thread must be main or worker/);
    expect(() => options('pglite:?threads=main')).toThrow(/unknown parameter "threads"/);
    expect(() => options('pglite:memory?thread=main&x=1')).toThrow(TypeError);
  });
});
