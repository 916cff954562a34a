// What only the node runtime's own classes show: the listener's bound on connections nobody
// accepts, and a pending accept ended by close.
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { NodeListener, nodeRuntime } from '@curio-ts/backend-node';

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
