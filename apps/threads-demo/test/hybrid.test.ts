// The hybrid end to end in one kernel, on a small scale: real loopback connections, real async
// threads doing the blocking work; every client must get its own correct answer.
import { describe, expect, it } from 'vitest';
import { run } from '@curio-ts/kernel';
import { HybridServer, runClients } from '../src/hybrid.js';
import { digest } from '../src/blocking-library.js';

describe('threads demo', () => {
  it('answers every connected client through the async threads', async () => {
    const work = { rounds: 3, waitMs: 0.2 };
    const { report, served, accepted } = await run(async () => {
      const server = await HybridServer.start({ threads: 3, work });
      const report = await runClients(server.port, 300, work);
      const accepted = server.accepted;
      const served = await server.stop();
      return { report, served, accepted };
    });
    expect(report).toMatchObject({ clients: 300, connected: 300, answered: 300, correct: 300 });
    expect(accepted).toBe(300);
    expect(served).toHaveLength(3);
    expect(served.reduce((a, b) => a + b, 0)).toBe(300);
    expect(digest('client-0', 3)).toMatch(/^[0-9a-f]{64}$/);
  });
});
