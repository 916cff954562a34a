// The PGlite transport driven with raw protocol bytes (pg-protocol's serializer), as a client
// would: no mocks, a real PGlite. The whole suite runs once per thread mode: in a worker thread
// (the default: the shared-memory channel) and in the calling thread (thread: 'main').
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serialize } from 'pg-protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError } from '@curio-ts/client';
import type { ByteStream } from '@curio-ts/client';
import { closePglite, isCopyFromStdin, pgliteConnect, startPglite } from '@curio-ts/transport-pglite';
import type { PgliteThread } from '@curio-ts/transport-pglite';

interface Backend {
  readonly type: string;
  readonly body: Uint8Array;
}

/** Reads whole backend messages from a stream. */
class Reader {
  private buffered = new Uint8Array(0);
  constructor(readonly stream: ByteStream) {}

  /** The next n raw bytes (for the one-byte SSL answer). */
  async bytes(n: number): Promise<Uint8Array> {
    while (this.buffered.length < n) if (!(await this.more())) throw new Error('end of stream');
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  async next(): Promise<Backend | null> {
    for (;;) {
      if (this.buffered.length >= 5) {
        const length = new DataView(this.buffered.buffer, this.buffered.byteOffset).getInt32(1);
        if (this.buffered.length >= 1 + length) {
          const message = { type: String.fromCharCode(this.buffered[0] ?? 0), body: this.buffered.subarray(5, 1 + length) };
          this.buffered = this.buffered.subarray(1 + length);
          return message;
        }
      }
      if (!(await this.more())) return null;
    }
  }

  /** Messages up to and including the next ReadyForQuery. */
  async untilReady(): Promise<Backend[]> {
    const out: Backend[] = [];
    for (;;) {
      const message = await this.next();
      if (message === null) throw new Error(`end of stream after ${out.map((m) => m.type).join('')}`);
      out.push(message);
      if (message.type === 'Z') return out;
    }
  }

  private async more(): Promise<boolean> {
    const chunk = await this.stream.read();
    if (chunk === null || chunk.length === 0) return false;
    const joined = new Uint8Array(this.buffered.length + chunk.length);
    joined.set(this.buffered);
    joined.set(chunk, this.buffered.length);
    this.buffered = joined;
    return true;
  }
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
/** The message types, leaving out ParameterStatus (PGlite reports settings after some queries). */
const types = (messages: readonly Backend[]): string => messages.filter((m) => m.type !== 'S').map((m) => m.type).join('');
/** An ErrorResponse's fields by code letter. */
function fields(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of text(body).split('\0')) if (field.length > 1) out[field[0] as string] = field.slice(1);
  return out;
}
/** The text columns of a DataRow. */
function columns(body: Uint8Array): (string | null)[] {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const count = view.getInt16(0);
  const out: (string | null)[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const length = view.getInt32(at);
    at += 4;
    out.push(length < 0 ? null : text(body.subarray(at, at + length)));
    if (length > 0) at += length;
  }
  return out;
}

async function query(reader: Reader, sql: string): Promise<Backend[]> {
  await reader.stream.write(serialize.query(sql));
  return reader.untilReady();
}

for (const thread of ['worker', 'main'] as const satisfies readonly PgliteThread[]) describe(`pgliteConnect (thread: ${thread})`, () => {
  const connectOnce = pgliteConnect({ thread });
  const opened: ByteStream[] = [];
  /** Open a stream; every stream a test opened is closed after it, so a failed test never holds the session. */
  async function connect(options: { timeout: number }): Promise<ByteStream> {
    const stream = await connectOnce(options);
    opened.push(stream);
    return stream;
  }
  afterEach(() => {
    for (const stream of opened.splice(0)) stream.close();
  });

  async function session(open: (options: { timeout: number }) => Promise<ByteStream> = connect): Promise<{ stream: ByteStream; reader: Reader; startup: Backend[] }> {
    const stream = await open({ timeout: 60_000 });
    if (open !== connect) opened.push(stream);
    const reader = new Reader(stream);
    await stream.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
    return { stream, reader, startup: await reader.untilReady() };
  }

  beforeAll(async () => {
    const info = await startPglite({ thread });
    expect(info.startupMs).toBeGreaterThan(0);
  }, 120_000);

  afterAll(async () => {
    await closePglite();
  });

  it('starts a session (AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery) and runs simple queries', async () => {
    const { stream, reader, startup } = await session();
    expect(startup[0]?.type).toBe('R');
    expect(startup.some((m) => m.type === 'S' && text(m.body).startsWith('server_version\0'))).toBe(true);
    expect(startup.at(-1)?.type).toBe('Z');
    const answer = await query(reader, 'select 1 as one; select 2');
    expect(types(answer)).toBe('TDCTDCZ');
    expect(columns(answer[1]?.body ?? new Uint8Array())).toEqual(['1']);
    stream.close();
    expect(await stream.read()).toBeNull();
  });

  it('pipelines extended-protocol messages and answers only at Sync', async () => {
    const { stream, reader } = await session();
    const batch = [];
    for (let i = 0; i < 50; i++) {
      batch.push(serialize.parse({ text: 'select $1::int + 1', types: [23] }), serialize.bind({ values: [String(i)] }), serialize.describe({ type: 'P' }), serialize.execute());
    }
    batch.push(serialize.sync());
    // Written split at awkward places: the transport frames them itself.
    const all = Buffer.concat(batch);
    for (let at = 0; at < all.length; at += 7) await stream.write(all.subarray(at, Math.min(all.length, at + 7)));
    const answer = await reader.untilReady();
    const rows = answer.filter((m) => m.type === 'D').map((m) => columns(m.body)[0]);
    expect(rows).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    stream.close();
  });

  it('answers an SSLRequest with N itself, then the startup goes on in plain text', async () => {
    const stream = await connect({ timeout: 60_000 });
    const reader = new Reader(stream);
    await stream.write(serialize.requestSsl());
    expect(text(await reader.bytes(1))).toBe('N');
    await stream.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
    expect((await reader.untilReady()).at(-1)?.type).toBe('Z');
    expect(types(await query(reader, 'select 1'))).toBe('TDCZ');
    stream.close();
  });

  it('swallows a CancelRequest and ends that stream; the session goes on', async () => {
    const { stream, reader } = await session();
    const cancel = await connect({ timeout: 60_000 });
    await cancel.write(serialize.cancel(1234, 5678));
    expect(await cancel.read()).toBeNull();
    expect(types(await query(reader, 'select 1'))).toBe('TDCZ');
    stream.close();
  });

  it('refuses a second concurrent session with FATAL 53300, and lets the next one in after the first closed, reset', async () => {
    const first = await session();
    await query(first.reader, 'begin');
    await query(first.reader, 'set application_name = leaked');
    const second = await connect({ timeout: 60_000 });
    const secondReader = new Reader(second);
    await second.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
    const refusal = await secondReader.next();
    expect(refusal?.type).toBe('E');
    expect(fields(refusal?.body ?? new Uint8Array())).toMatchObject({ S: 'FATAL', C: '53300' });
    expect(await secondReader.next()).toBeNull();
    first.stream.close();
    const third = await session();
    const status = third.startup.at(-1)?.body[0];
    expect(String.fromCharCode(status ?? 0)).toBe('I');
    const name = await query(third.reader, 'show application_name');
    expect(columns(name.find((m) => m.type === 'D')?.body ?? new Uint8Array())[0]).not.toBe('leaked');
    third.stream.close();
  });

  it('refuses COPY ... FROM STDIN with feature_not_supported (never a hang), keeps the transaction state right, and COPY TO STDOUT works', async () => {
    const { stream, reader } = await session();
    await query(reader, 'create table if not exists copy_target (x int)');
    const refused = await query(reader, 'COPY copy_target FROM STDIN');
    expect(types(refused)).toBe('EZ');
    expect(fields(refused[0]?.body ?? new Uint8Array())).toMatchObject({ C: '0A000' });
    expect(fields(refused[0]?.body ?? new Uint8Array())['M']).toMatch(/COPY \.\.\. FROM STDIN/);
    // Inside a transaction, the error fails it, as the server's own error would.
    await query(reader, 'begin');
    const inTx = await query(reader, '/* c */ copy copy_target (x) from stdin with (format csv)');
    expect(String.fromCharCode(inTx.at(-1)?.body[0] ?? 0)).toBe('E');
    await query(reader, 'rollback');
    // Extended protocol: the error comes at Execute.
    await stream.write(Buffer.concat([serialize.parse({ text: 'copy copy_target from stdin' }), serialize.bind(), serialize.execute(), serialize.sync()]));
    const extended = await reader.untilReady();
    expect(extended.some((m) => m.type === 'E' && fields(m.body)['C'] === '0A000')).toBe(true);
    // Not a COPY FROM STDIN: untouched.
    const literal = await query(reader, "select 'copy t from stdin'");
    expect(columns(literal.find((m) => m.type === 'D')?.body ?? new Uint8Array())).toEqual(['copy t from stdin']);
    await query(reader, 'insert into copy_target values (1), (2)');
    const out = await query(reader, 'copy copy_target to stdout');
    expect(types(out)).toBe('HddcCZ');
    expect(text(out[1]?.body ?? new Uint8Array())).toBe('1\n');
    stream.close();
  });

  it(thread === 'worker'
    ? 'runs a query in the worker: a timer on the main thread fires while pg_sleep(1) runs'
    : 'runs a query in this thread: pg_sleep(1) blocks the event loop, a timer due meanwhile fires after the reply', async () => {
    const { stream, reader } = await session();
    const order: string[] = [];
    const began = performance.now();
    setTimeout(() => order.push('timer'), 100);
    await query(reader, 'select pg_sleep(1)');
    order.push('reply');
    expect(performance.now() - began).toBeGreaterThanOrEqual(990);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(order).toEqual(thread === 'worker' ? ['timer', 'reply'] : ['reply', 'timer']);
    stream.close();
  });

  it('ends on Terminate without ending PGlite', async () => {
    const { stream } = await session();
    await stream.write(serialize.end());
    expect(await stream.read()).toBeNull();
    const next = await session();
    expect(types(await query(next.reader, 'select 1'))).toBe('TDCZ');
    next.stream.close();
  });

  it('streams a 100 000-row result in several chunks', async () => {
    const { stream, reader } = await session();
    const answer = await query(reader, 'select g, md5(g::text) from generate_series(1, 100000) g');
    const rows = answer.filter((m) => m.type === 'D');
    expect(rows.length).toBe(100_000);
    expect(columns(rows[99_999]?.body ?? new Uint8Array())[0]).toBe('100000');
    stream.close();
  });

  it('carries a 5 MB bytea parameter in and the same 5 MB back (larger than the channel rings), intact and in order', async () => {
    const { stream, reader } = await session();
    const big = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (Math.imul(i, 2654435761) >>> 24) ^ (i & 0xff);
    const expectedMd5 = createHash('md5').update(big).digest('hex');
    const request = Buffer.concat([
      serialize.parse({ text: 'select length($1::bytea) as n, md5($1::bytea) as h, $1::bytea as b', types: [17] }),
      // The parameter goes in binary (a Buffer value), and the results in binary too.
      serialize.bind({ values: [Buffer.from(big.buffer, big.byteOffset, big.length)], binary: true }),
      serialize.execute(),
      serialize.sync(),
    ]);
    // Written in uneven pieces: the transport frames the 5 MB Bind itself.
    for (let at = 0; at < request.length; at += 1_000_003) await stream.write(request.subarray(at, Math.min(request.length, at + 1_000_003)));
    const answer = await reader.untilReady();
    expect(types(answer)).toBe('12DCZ');
    const row = answer.find((m) => m.type === 'D')?.body ?? new Uint8Array();
    const view = new DataView(row.buffer, row.byteOffset, row.length);
    expect(view.getInt16(0)).toBe(3);
    expect(view.getInt32(2)).toBe(4);
    expect(view.getInt32(6)).toBe(big.length); // length(), an int4 in binary
    const md5Length = view.getInt32(10);
    expect(text(row.subarray(14, 14 + md5Length))).toBe(expectedMd5);
    const at = 14 + md5Length;
    expect(view.getInt32(at)).toBe(big.length);
    const echoed = row.subarray(at + 4, at + 4 + big.length);
    expect(echoed.length).toBe(big.length);
    expect(Buffer.compare(echoed, big)).toBe(0);
    // A 5 MB text result built by the server, each 8-digit slot checkable.
    const built = await query(reader, "select string_agg(lpad(g::text, 8, '0'), '' order by g) from generate_series(1, 655360) g");
    const value = columns(built.find((m) => m.type === 'D')?.body ?? new Uint8Array())[0] ?? '';
    expect(value.length).toBe(5 * 1024 * 1024);
    for (const g of [1, 2, 131_072, 327_680, 655_360]) expect(value.slice((g - 1) * 8, g * 8)).toBe(String(g).padStart(8, '0'));
    expect(types(await query(reader, 'select 1'))).toBe('TDCZ');
    stream.close();
  }, 60_000);

  it('refuses a frontend message type a session may not send (FATAL 08P01, as a server): PGlite, which hangs or breaks on them, never sees it', async () => {
    const first = await session();
    await query(first.reader, 'create table if not exists typed_marker (x int); insert into typed_marker values (7)');
    first.stream.close();
    for (const hostile of [
      Buffer.from([0x7a, 0, 0, 0, 6, 1, 2]), // 'z': unknown (PGlite's exec never returns)
      Buffer.from([0x70, 0, 0, 0, 6, 0x78, 0]), // 'p' in a session (PGlite's exec never returns)
      Buffer.from([0, 0, 0, 0, 8, 1, 2, 3, 4]), // type 0 (PGlite throws, and is broken)
    ]) {
      const { stream, reader } = await session();
      expect(types(await query(reader, 'select 1'))).toBe('TDCZ');
      // With a Query before it in the same write: nothing of that write reaches PGlite.
      await stream.write(Buffer.concat([serialize.query('insert into typed_marker values (8)'), hostile, serialize.sync()]));
      const answer = await reader.next();
      expect(answer?.type).toBe('E');
      const error = fields(answer?.body ?? new Uint8Array());
      expect(error['S']).toBe('FATAL');
      expect(error['C']).toBe('08P01');
      expect(error['M']).toBe(`invalid frontend message type ${hostile[0] ?? -1}`);
      expect(await reader.next()).toBeNull();
      stream.close();
    }
    // PGlite serves the next session, with what was written before.
    const next = await session();
    const rows = await query(next.reader, 'select x from typed_marker');
    expect(types(rows)).toBe('TDCZ');
    expect(rows.filter((m) => m.type === 'D').length).toBe(1);
    next.stream.close();
  }, 120_000);

  it('fails every open stream with ERR_PGLITE_CRASHED when PGlite breaks; the next connect starts a new PGlite', async () => {
    // The type check off: the only way known to break PGlite from its protocol (a message of type 0).
    const { stream, reader } = await session(pgliteConnect({ thread, checkMessageTypes: false }));
    await query(reader, 'create table crash_marker (x int)');
    const bystander = await connect({ timeout: 60_000 });
    const bystanderRead = bystander.read().then(() => null, (error: unknown) => error);
    // A message of type 0 in mid-session: PGlite takes it for a startup packet and throws (and
    // its next exec would spin for ever), a real failure reached through raw bytes.
    await stream.write(Buffer.concat([Buffer.from([0, 0, 0, 0, 8, 1, 2, 3, 4]), serialize.sync()]));
    const error = await reader.next().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('ERR_PGLITE_CRASHED');
    expect((await bystanderRead) as ConnectionError).toMatchObject({ code: 'ERR_PGLITE_CRASHED' });
    await expect(stream.write(serialize.query('select 1'))).rejects.toMatchObject({ code: 'ERR_PGLITE_CRASHED' });
    const next = await session();
    expect(String.fromCharCode(next.startup.at(-1)?.body[0] ?? 0)).toBe('I');
    const missing = await query(next.reader, 'select * from crash_marker');
    expect(fields(missing.find((m) => m.type === 'E')?.body ?? new Uint8Array())['C']).toBe('42P01');
    next.stream.close();
  }, 120_000);

  it('keeps a data directory across closePglite and a new start; the other thread mode is refused while it is open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curio-pglite-'));
    const other = thread === 'main' ? 'worker' : 'main';
    try {
      const openDir = pgliteConnect({ thread, dataDir: dir });
      const first = await session(openDir);
      await query(first.reader, "create table kept (v text); insert into kept values ('written before the close')");
      await expect(pgliteConnect({ thread: other, dataDir: dir })({ timeout: 1000 })).rejects.toMatchObject({ code: 'ERR_PGLITE_THREAD' });
      first.stream.close();
      await closePglite(dir);
      const second = await session(openDir);
      const kept = await query(second.reader, 'select v from kept');
      expect(columns(kept.find((m) => m.type === 'D')?.body ?? new Uint8Array())).toEqual(['written before the close']);
      second.stream.close();
      await closePglite(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('closePglite while a query runs: the query ends first, then every stream fails with ERR_PGLITE_CLOSED', async () => {
    const { stream, reader } = await session();
    const bystander = await connect({ timeout: 60_000 });
    const bystanderRead = bystander.read().then(() => null, (error: unknown) => error);
    await stream.write(serialize.query('select pg_sleep(0.3), 42 as answer'));
    const closing = closePglite();
    const answer = await reader.untilReady();
    expect(types(answer)).toBe('TDCZ');
    expect(columns(answer[1]?.body ?? new Uint8Array())[1]).toBe('42');
    await closing;
    await expect(stream.read()).rejects.toMatchObject({ code: 'ERR_PGLITE_CLOSED' });
    expect((await bystanderRead) as ConnectionError).toMatchObject({ code: 'ERR_PGLITE_CLOSED' });
    await expect(stream.write(serialize.query('select 1'))).rejects.toBeInstanceOf(ConnectionError);
  }, 60_000);
});

describe('a process whose only work is PGlite in its worker', () => {
  it('lives until closePglite() has closed PGlite, even when a session reset ends meanwhile, then exits 0', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/close-exits.mjs', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=@curio-ts/source', '--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out.trim()).toBe('closed');
    expect(code).toBe(0);
  }, 120_000);
});

describe('isCopyFromStdin', () => {
  it('finds COPY FROM STDIN past comments and case, not inside literals or identifiers', () => {
    expect(isCopyFromStdin('COPY t FROM STDIN')).toBe(true);
    expect(isCopyFromStdin('-- x\n copy t(a, b) from\n stdin (format binary)')).toBe(true);
    expect(isCopyFromStdin('select 1; copy t from stdin;')).toBe(true);
    expect(isCopyFromStdin("select 'copy t from stdin'")).toBe(false);
    expect(isCopyFromStdin('select 1 as "copy t from stdin"')).toBe(false);
    expect(isCopyFromStdin('select $$copy t from stdin$$')).toBe(false);
    expect(isCopyFromStdin('copy t to stdout')).toBe(false);
    expect(isCopyFromStdin("copy t from '/dev/blob'")).toBe(false);
    expect(isCopyFromStdin('/* copy t from stdin */ select 1')).toBe(false);
  });
});
