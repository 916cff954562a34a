// Several PostgreSQL hosts on the memory runtime against scripted peers (conformance's
// startFakePgOn), which report neither in_hot_standby nor default_transaction_read_only at
// startup, as servers before PostgreSQL 14 do: the client asks (`show transaction_read_only`,
// `select pg_catalog.pg_is_in_recovery()`), as libpq does; a server that does not match gets a
// Terminate before the next host is tried; a CancelRequest goes to the host of the connection
// it cancels; load_balance_hosts=random follows the runtime's seeded random source. The real
// servers' side of this (PostgreSQL 15, a hot standby) is conformance's pg-hosts.ts.
import { describe, expect, it } from 'vitest';
import { AllHostsFailedError, CommandTimeoutError } from '@curio-ts/client';
import type { PgClient, PgOptions } from '@curio-ts/client';
import { startFakePgOn } from '@curio-ts/conformance';
import type { FakePg, FakePgAnswer, FakePgQuery } from '@curio-ts/conformance';
import { createMemoryRuntime } from '@curio-ts/backend-memory';

/** A peer that says whether it is read-only and in recovery when asked, and answers `select <n>` and `port`. */
function server(kind: { readOnly: boolean; standby: boolean }, hold?: (query: FakePgQuery) => boolean) {
  return (query: FakePgQuery): FakePgAnswer | Promise<FakePgAnswer> => {
    if (hold?.(query) === true) return new Promise<FakePgAnswer>(() => {});
    const text = query.text.trim();
    if (text === 'show transaction_read_only') return { fields: ['transaction_read_only'], rows: [[kind.readOnly ? 'on' : 'off']] };
    if (text === 'select pg_catalog.pg_is_in_recovery()') return { fields: [{ name: 'pg_is_in_recovery', typeOid: 16 }], rows: [[kind.standby ? 't' : 'f']] };
    const one = /^select (\d+)$/.exec(text);
    if (one !== null) return { fields: [{ name: 'n', typeOid: 23 }], rows: [[one[1] as string]] };
    return { command: text.split(' ')[0]?.toUpperCase() ?? '' };
  };
}

async function setup(kinds: readonly { readOnly: boolean; standby: boolean }[], hold?: (query: FakePgQuery) => boolean) {
  const memory = createMemoryRuntime({ autoAdvance: true });
  const peers: FakePg[] = [];
  for (const kind of kinds) peers.push(await startFakePgOn(memory.runtime, server(kind, hold)));
  const connect = (more: PgOptions): Promise<PgClient> => memory.connectPg({ user: 'test', database: 'test', sslmode: 'disable', ...more });
  const hosts = (list: readonly FakePg[]): { host: string; port: number }[] => list.map((peer) => ({ host: '127.0.0.1', port: peer.port }));
  return { memory, peers, connect, hosts };
}

const PRIMARY = { readOnly: false, standby: false };
const READ_ONLY = { readOnly: true, standby: false };
const STANDBY = { readOnly: true, standby: true };

describe('several hosts against servers that report no session state (memory runtime)', () => {
  it('read-write asks `show transaction_read_only`, leaves a read-only server with a Terminate, and takes the next', async () => {
    const { peers, connect, hosts } = await setup([READ_ONLY, PRIMARY]);
    const [readOnly, primary] = peers as [FakePg, FakePg];
    const db = await connect({ hosts: hosts(peers), targetSessionAttrs: 'read-write' });
    expect((await db.query('select 5')).rows).toEqual([{ n: 5 }]);
    expect(readOnly.events.map((e) => e.type)).toEqual(['startup', 'query', 'terminate']);
    expect(readOnly.queries.map((q) => q.text)).toEqual(['show transaction_read_only']);
    expect(primary.queries.map((q) => q.text)).toEqual(['show transaction_read_only', 'select 5']);
    expect(readOnly.open).toBe(0);
    await db.close();
  });

  it('standby and primary ask pg_is_in_recovery(); read-only takes a standby too', async () => {
    const { peers, connect, hosts } = await setup([PRIMARY, READ_ONLY, STANDBY]);
    const [primary, readOnly, standby] = peers as [FakePg, FakePg, FakePg];
    const standbyDb = await connect({ hosts: hosts(peers), targetSessionAttrs: 'standby' });
    expect((await standbyDb.query('select 1')).rows).toEqual([{ n: 1 }]);
    expect(standby.queries.map((q) => q.text)).toEqual(['select pg_catalog.pg_is_in_recovery()', 'select 1']);
    for (const refused of [primary, readOnly]) expect(refused.events.map((e) => e.type)).toEqual(['startup', 'query', 'terminate']);
    await standbyDb.close();
    const primaryDb = await connect({ hosts: hosts([standby, readOnly, primary]), targetSessionAttrs: 'primary' });
    expect((await primaryDb.query('select 2')).rows).toEqual([{ n: 2 }]);
    expect(readOnly.queries.at(-1)?.text).toBe('select 2');
    await primaryDb.close();
    const readOnlyDb = await connect({ hosts: hosts([primary, standby]), targetSessionAttrs: 'read-only' });
    expect((await readOnlyDb.query('select 3')).rows).toEqual([{ n: 3 }]);
    expect(standby.queries.at(-1)?.text).toBe('select 3');
    await readOnlyDb.close();
  });

  it('prefer-standby: a pass wanting a standby, then one taking any host (the first that accepts)', async () => {
    const { peers, connect, hosts } = await setup([PRIMARY, READ_ONLY]);
    const [primary, readOnly] = peers as [FakePg, FakePg];
    const db = await connect({ hosts: hosts(peers), targetSessionAttrs: 'prefer-standby' });
    expect((await db.query('select 4')).rows).toEqual([{ n: 4 }]);
    // Pass one: each asked and left; pass two: the first host, not asked.
    expect(primary.events.map((e) => e.type)).toEqual(['startup', 'query', 'terminate', 'startup', 'query']);
    expect(primary.queries.map((q) => q.text)).toEqual(['select pg_catalog.pg_is_in_recovery()', 'select 4']);
    expect(readOnly.events.map((e) => e.type)).toEqual(['startup', 'query', 'terminate']);
    await db.close();
  });

  it('any asks nothing; a dead port first is skipped; every host wrong: AllHostsFailedError with each reason', async () => {
    const { peers, connect, hosts, memory } = await setup([READ_ONLY, STANDBY]);
    const [readOnly, standby] = peers as [FakePg, FakePg];
    const db = await connect({ hosts: [{ host: '127.0.0.1', port: 1 }, ...hosts(peers)] });
    expect((await db.query('select 6')).rows).toEqual([{ n: 6 }]);
    expect(readOnly.queries.map((q) => q.text)).toEqual(['select 6']);
    await db.close();
    const error = await connect({ hosts: [{ host: '127.0.0.1', port: 1 }, ...hosts(peers)], targetSessionAttrs: 'read-write', reconnect: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AllHostsFailedError);
    const failures = (error as AllHostsFailedError).failures;
    expect(failures.map((f) => f.host)).toEqual(['127.0.0.1:1', `127.0.0.1:${readOnly.port}`, `127.0.0.1:${standby.port}`]);
    expect(failures.map((f) => (f.error as { code?: string }).code).slice(1)).toEqual(['ERR_PG_TARGET_SESSION_ATTRS', 'ERR_PG_TARGET_SESSION_ATTRS']);
    // The last host's Terminate was written before the connection closed; the peer reads it next.
    await memory.clock.advance(1);
    expect(standby.events.filter((e) => e.type === 'terminate')).toHaveLength(1);
  });

  it('a CancelRequest goes to the host of the connection it cancels, not the first host', async () => {
    const { peers, connect, hosts } = await setup([READ_ONLY, PRIMARY], (query) => query.text === 'select 9');
    const [readOnly, primary] = peers as [FakePg, FakePg];
    const db = await connect({ hosts: hosts(peers), targetSessionAttrs: 'read-write' });
    const failure = await db.query('select 9', [], { timeout: 250 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CommandTimeoutError);
    expect(readOnly.cancels).toEqual([]);
    // The main connection is the primary's first; the CancelRequest came on its second.
    expect(primary.cancels).toEqual([{ processId: primary.processIdOf(1), secret: primary.secretOf(1), connection: 2 }]);
    await db.close();
  });

  it("load_balance_hosts=random: the runtime's random source orders the hosts for every new connection", async () => {
    const { peers, connect, hosts } = await setup([PRIMARY, PRIMARY]);
    const clients: PgClient[] = [];
    for (let i = 0; i < 16; i++) clients.push(await connect({ hosts: hosts(peers), loadBalanceHosts: 'random' }));
    const [a, b] = peers as [FakePg, FakePg];
    expect(a.accepted + b.accepted).toBe(16);
    expect(a.accepted).toBeGreaterThan(0);
    expect(b.accepted).toBeGreaterThan(0);
    for (const client of clients) await client.close();
    const ordered: PgClient[] = [];
    for (let i = 0; i < 4; i++) ordered.push(await connect({ hosts: hosts(peers), loadBalanceHosts: 'disable' }));
    expect(a.accepted - (16 - b.accepted)).toBe(4);
    for (const client of ordered) await client.close();
  });
});
