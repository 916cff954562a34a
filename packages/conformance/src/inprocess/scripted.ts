// inprocess/scripted.ts
//
// The scripted peer (`startFakeRedis` in servers.ts) written on the Runtime's server side
// instead of node:net: it parses what a client sends and answers whatever the test says
// (garbage, silence, a held handshake, 'close'). The same FakeRedis interface, so a case
// written against one runs against the other; this one runs on any runtime with `listen`.
//
// Invariants: one connection's commands are answered one after another, in arrival order; a
// connection counts as open (`open`) until the peer has seen it end (its read ended) or closed
// it itself.

import { RedisServerProtocol, decodeUtf8 } from '@curio-ts/proto-redis';
import type { ByteStream, Runtime } from '@curio-ts/client';
import type { FakeRedis, FakeRedisAnswer, FakeRedisCommand } from '../servers.js';
import { bytes } from './keyspace.js';
import { acceptScripted } from './accept-loop.js';

/** Start a scripted peer on a free port of `runtime`'s network. */
export async function startFakeRedisOn(runtime: Runtime, answer: (command: FakeRedisCommand) => FakeRedisAnswer | Promise<FakeRedisAnswer>): Promise<FakeRedis> {
  const streams = new Set<ByteStream>();
  const commands: FakeRedisCommand[] = [];

  const serve = async (stream: ByteStream, connection: number): Promise<void> => {
    const parser = new RedisServerProtocol();
    let answering = Promise.resolve();
    const end = (): void => {
      if (!streams.delete(stream)) return;
      stream.close();
    };
    try {
      for (let chunk = await stream.read(); chunk !== null && chunk.length > 0 && streams.has(stream); chunk = await stream.read()) {
        const received: FakeRedisCommand[] = [];
        parser.receiveData(chunk);
        for (let event = parser.nextEvent(); typeof event === 'object' && event.type === 'command'; event = parser.nextEvent()) {
          received.push({ name: event.name, args: event.args.slice(1).map((arg) => decodeUtf8(arg, 0, arg.length)), connection });
        }
        for (const command of received) {
          commands.push(command);
          answering = answering
            .then(async () => {
              const reply = await answer(command);
              if (!streams.has(stream) || reply === null) return;
              if (reply === 'close') end();
              else await stream.write(typeof reply === 'string' ? bytes(reply) : reply);
            })
            .catch(end);
        }
      }
    } catch {
      // a broken connection or bytes that are not RESP: drop it
    }
    end();
  };

  return acceptScripted(runtime, 'scripted peer', streams, serve, { commands });
}
