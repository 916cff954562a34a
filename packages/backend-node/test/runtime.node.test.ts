// What only the node runtime's own classes show: the listener's bound on connections nobody
// accepts, a pending accept ended by close, and reads given a sink (chunks pushed to it).
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { NodeByteStream, NodeListener, nodeRuntime } from '@curio-ts/backend-node';

describe('the node runtime listener', () => {
  it('keeps at most `backlog` connections waiting for accept and closes the rest', async () => {
    const listener = (await nodeRuntime.listen({ port: 0 }, { backlog: 2 })) as NodeListener;
    const address = listener.address as { host: string; port: number };
    const clients = Array.from({ length: 5 }, () => net.connect({ host: address.host, port: address.port }).on('error', () => {}));
    while (listener.pendingConnections + listener.droppedConnections < 5) await nodeRuntime.sleep(2);
    const counts = { pending: listener.pendingConnections, dropped: listener.droppedConnections };
    const first = await listener.accept();
    expect(first).not.toBeNull();
    first?.close();
    for (const client of clients) client.destroy();
    listener.close();
    expect(counts).toEqual({ pending: 2, dropped: 3 });
  });

  it('a pending accept resolves with null when the listener closes; a second concurrent accept is refused', async () => {
    const listener = await nodeRuntime.listen({ port: 0 });
    const pending = listener.accept();
    await expect(listener.accept()).rejects.toMatchObject({ code: 'ERR_LISTENER_BUSY' });
    listener.close();
    listener.close();
    expect(await pending).toBeNull();
    expect(await listener.accept()).toBeNull();
  });

  it('listening on a port in use is a ConnectionError EADDRINUSE', async () => {
    const listener = await nodeRuntime.listen({ port: 0 });
    const address = listener.address as { host: string; port: number };
    await expect(nodeRuntime.listen({ host: address.host, port: address.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    listener.close();
  });
});

describe('the node stream, read with a sink', () => {
  /** A connected pair: our stream and the raw socket of the peer. */
  async function pair(): Promise<{ stream: NodeByteStream; peer: net.Socket; close: () => void }> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const stream = (await nodeRuntime.connect({ host: '127.0.0.1', port })) as NodeByteStream;
    const peer = await accepted;
    return {
      stream,
      peer,
      close: () => {
        stream.close();
        peer.destroy();
        server.close();
      },
    };
  }

  const text = (chunk: Uint8Array | null): string | null => (chunk === null ? null : Buffer.from(chunk).toString());

  it('writeNow: true when the OS took the bytes at once (the caller may reuse them), a Promise past the high-water mark, a throw once closed', async () => {
    const { stream, peer, close } = await pair();
    let received = '';
    peer.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const buffer = Buffer.from('hello');
    expect(stream.writeNow(buffer)).toBe(true);
    buffer.write('XXXXX'); // reused at once: what was sent is not changed
    while (received.length < 5) await nodeRuntime.sleep(1);
    expect(received).toBe('hello');
    // The peer does not read: the socket's buffers fill, and writeNow answers a Promise to wait on.
    peer.pause();
    const big = new Uint8Array(4 * 1024 * 1024);
    let outcome: boolean | Promise<void> = true;
    for (let i = 0; i < 16 && typeof outcome === 'boolean'; i++) outcome = stream.writeNow(big);
    expect(outcome).toBeInstanceOf(Promise);
    peer.resume();
    await outcome;
    stream.close();
    expect(() => stream.writeNow(buffer)).toThrow(/closed/);
    close();
  });

  it('hands each chunk to the sink as it arrives while the read stays pending; a declined chunk ends the read', async () => {
    const { stream, peer, close } = await pair();
    const taken: string[] = [];
    let settled = false;
    const read = stream.read((chunk) => {
      const got = Buffer.from(chunk).toString();
      if (got === 'stop') return false;
      taken.push(got);
      return true;
    });
    void read.then(() => (settled = true));
    peer.write('a');
    while (taken.length < 1) await nodeRuntime.sleep(1);
    peer.write('b');
    while (taken.length < 2) await nodeRuntime.sleep(1);
    expect(settled).toBe(false);
    expect(stream.bufferedBytes).toBe(0);
    peer.write('stop');
    expect(text(await read)).toBe('stop');
    expect(taken).toEqual(['a', 'b']);
    // Bytes that came while no read was pending are read first, without the sink.
    peer.write('queued');
    while (stream.bufferedBytes < 6) await nodeRuntime.sleep(1);
    expect(text(await stream.read(() => true))).toBe('queued');
    close();
  });

  it('the end of the stream, an error and our own close still settle a read given a sink', async () => {
    const ended = await pair();
    const pending = ended.stream.read(() => true);
    ended.peer.end();
    expect(await pending).toBeNull();
    ended.close();

    const broken = await pair();
    const failing = broken.stream.read(() => true);
    broken.peer.resetAndDestroy();
    await expect(failing).rejects.toMatchObject({ code: 'ECONNRESET' });
    broken.close();

    const closed = await pair();
    // A sink that closes the stream: the read ends with null, the chunk is not handed again.
    const closing = closed.stream.read(() => {
      closed.stream.close();
      return false;
    });
    closed.peer.write('x');
    expect(await closing).toBeNull();
    closed.close();
  });
});

describe('a stream the runtime connects reads into a shared buffer (onread)', () => {
  /** `count` streams connected to one server; the peers' raw sockets in the same order. */
  async function streams(count: number): Promise<{ streams: NodeByteStream[]; peers: net.Socket[]; close: () => void }> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const connected: NodeByteStream[] = [];
    const peers: net.Socket[] = [];
    for (let i = 0; i < count; i++) {
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
      connected.push((await nodeRuntime.connect({ host: '127.0.0.1', port })) as NodeByteStream);
      peers.push(await accepted);
    }
    return {
      streams: connected,
      peers,
      close: () => {
        for (const stream of connected) stream.close();
        for (const peer of peers) peer.destroy();
        server.close();
      },
    };
  }

  it("no 'data' event: each read is copied into a chunk of its own, which later reads of any stream leave intact", async () => {
    const { streams: [a, b], peers: [peerA, peerB], close } = await streams(2);
    const streamA = a as NodeByteStream;
    const streamB = b as NodeByteStream;
    let dataEvents = 0;
    streamA.rawSocket.on('data', () => dataEvents++);
    const kept: Uint8Array[] = [];
    const expected: string[] = [];
    const big = (c: string): string => c.repeat(5000);
    // Small reads (copied byte by byte) and large ones, alternating between the two streams.
    for (const [i, payload] of ['one', big('x'), 'two', big('y'), 'three'].entries()) {
      const [stream, peer] = i % 2 === 0 ? [streamA, peerA as net.Socket] : [streamB, peerB as net.Socket];
      const read = stream.read();
      peer.write(payload);
      let got = Buffer.from((await read) as Uint8Array).toString();
      while (got.length < payload.length) got += Buffer.from((await stream.read()) as Uint8Array).toString();
      kept.push(Buffer.from(got));
      expected.push(payload);
    }
    // The first chunks are still what they were after every later read.
    const first = await (async () => {
      const read = streamA.read();
      (peerA as net.Socket).write('keep');
      return (await read) as Uint8Array;
    })();
    (peerB as net.Socket).write('overwrite?');
    expect(Buffer.from((await streamB.read()) as Uint8Array).toString()).toBe('overwrite?');
    expect(Buffer.from(first).toString()).toBe('keep');
    expect(kept.map((chunk) => Buffer.from(chunk).toString())).toEqual(expected);
    expect(dataEvents).toBe(0);
    close();
  });

  it('bytes queued while nobody reads stay intact until read; the end of stream follows them', async () => {
    const { streams: [stream], peers: [peer], close } = await streams(1);
    const s = stream as NodeByteStream;
    (peer as net.Socket).write('first');
    while (s.bufferedBytes < 5) await nodeRuntime.sleep(1);
    (peer as net.Socket).end('second');
    while (s.bufferedBytes < 11) await nodeRuntime.sleep(1);
    let text = '';
    for (;;) {
      const chunk = await s.read();
      if (chunk === null) break;
      text += Buffer.from(chunk).toString();
    }
    expect(text).toBe('firstsecond');
    close();
  });
});
