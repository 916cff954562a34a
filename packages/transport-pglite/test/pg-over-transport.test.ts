// The `pg` package (node-postgres) over the transport: a Duplex adapter around the ByteStream
// is all it needs, so a real, independent client checks what the transport carries. Run in both
// thread modes (PGlite in a worker, and in this thread).
import { Duplex } from 'node:stream';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ByteStream, ConnectFunction } from '@curio-ts/client';
import { closePglite, pgliteConnect } from '@curio-ts/transport-pglite';

/** What pg expects of a socket, on a ByteStream. */
class ByteStreamSocket extends Duplex {
  private stream: ByteStream | null = null;

  constructor(private readonly connectStream: ConnectFunction) {
    super();
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  connect(): this {
    void this.connectStream({ timeout: 60_000 }).then(
      (stream) => {
        this.stream = stream;
        this.emit('connect');
        void this.pump(stream);
      },
      (error: Error) => this.destroy(error),
    );
    return this;
  }

  private async pump(stream: ByteStream): Promise<void> {
    try {
      for (;;) {
        const chunk = await stream.read();
        if (chunk === null || chunk.length === 0) break;
        this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      }
      this.push(null);
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.stream === null) done(new Error('not connected'));
    else this.stream.write(new Uint8Array(chunk)).then(() => done(), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.stream?.close();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.stream?.close();
    done(error);
  }
}

for (const thread of ['worker', 'main'] as const) describe(`pg over the PGlite transport (thread: ${thread})`, () => {
  const connect = pgliteConnect({ thread });
  afterAll(async () => {
    await closePglite();
  });

  it('connects, runs parameterized and multi-row queries, reports server errors, and ends', async () => {
    const client = new pg.Client({ user: 'postgres', database: 'postgres', stream: () => new ByteStreamSocket(connect) });
    await client.connect();
    const one = await client.query('select $1::int + 1 as n, $2::text as t', [41, 'héllo']);
    expect(one.rows).toEqual([{ n: 42, t: 'héllo' }]);
    const many = await client.query('select g from generate_series(1, 1000) g');
    expect(many.rowCount).toBe(1000);
    await expect(client.query('select * from no_such_table')).rejects.toMatchObject({ code: '42P01' });
    await expect(client.query('copy (select 1) to stdout')).resolves.toBeDefined();
    await expect(client.query('create temp table t (x int); copy t from stdin')).rejects.toMatchObject({ code: '0A000' });
    const after = await client.query('select 1 as ok');
    expect(after.rows).toEqual([{ ok: 1 }]);
    await client.end();
  });

  it('runs 200 concurrent queries queued by pg in order', async () => {
    const client = new pg.Client({ user: 'postgres', database: 'postgres', stream: () => new ByteStreamSocket(connect) });
    await client.connect();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => client.query('select $1::int as i', [i])));
    expect(results.map((r) => r.rows[0].i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await client.end();
  });
});
