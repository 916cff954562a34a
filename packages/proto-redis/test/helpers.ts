// Helpers the proto-redis tests share: draining a protocol object the way a consumer does.

import { NEED_DATA, PAUSED } from '@curio-ts/proto-redis';
import type { RedisClientEvent, RedisClientProtocol, RedisServerEvent, RedisServerProtocol } from '@curio-ts/proto-redis';

/** Every event up to NEED_DATA, or up to and including 'closed' (which nextEvent repeats). */
export function events(client: RedisClientProtocol): RedisClientEvent[] {
  const out: RedisClientEvent[] = [];
  for (let e = client.nextEvent(); e !== NEED_DATA; e = client.nextEvent()) {
    out.push(e);
    if (e.type === 'closed') break;
  }
  return out;
}

/** Every command up to NEED_DATA or PAUSED, or up to and including 'closed' (which nextEvent repeats). */
export function commands(server: RedisServerProtocol): RedisServerEvent[] {
  const out: RedisServerEvent[] = [];
  for (let e = server.nextEvent(); e !== NEED_DATA && e !== PAUSED; e = server.nextEvent()) {
    out.push(e);
    if (e.type === 'closed') break;
  }
  return out;
}

/** The error `fn` throws (it must throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
