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
