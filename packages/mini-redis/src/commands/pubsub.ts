// commands/pubsub.ts
//
// PUBLISH, (P)SUBSCRIBE, (P)UNSUBSCRIBE (pubsub.c). Confirmations are pushes: RESP3 `>` frames,
// RESP2 arrays, each ending with the client's subscription count. Unsubscribing from nothing
// in particular confirms every subscription, or once with a null name when there is none.

import type { Session } from '../session.js';
import { arg, argsFrom, command } from './spec.js';
import type { Args, CommandSpec } from './spec.js';

function confirm(session: Session, kind: string, name: string | null): void {
  const reply = session.reply;
  reply.push(3);
  reply.bulk(kind);
  reply.bulkOrNull(name ?? undefined);
  reply.integer(session.subscriptions);
}

/** SUBSCRIBE (channels) or PSUBSCRIBE (patterns): confirm each name, subscribed once. */
function subscribeTo(space: 'channel' | 'pattern'): (session: Session, args: Args) => void {
  return (session, args) => {
    session.startPushWriter();
    const { pubsub } = session.server;
    const names = space === 'channel' ? session.channels : session.patterns;
    for (let i = 1; i < args.length; i++) {
      const name = arg(args, i);
      if (!names.has(name)) {
        names.add(name);
        if (space === 'channel') pubsub.subscribe(session, name);
        else pubsub.psubscribe(session, name);
      }
      confirm(session, space === 'channel' ? 'subscribe' : 'psubscribe', name);
    }
  };
}

/**
 * Unsubscribe `session` from `names` in `space` (from all of them when `names` is empty),
 * confirming each unless `quiet` (RESET).
 */
export function unsubscribeFrom(session: Session, space: 'channel' | 'pattern', names: readonly string[], quiet = false): void {
  const subscribed = space === 'channel' ? session.channels : session.patterns;
  const kind = space === 'channel' ? 'unsubscribe' : 'punsubscribe';
  const targets = names.length > 0 ? names : [...subscribed];
  if (targets.length === 0 && !quiet) confirm(session, kind, null);
  for (const name of targets) {
    if (subscribed.delete(name)) {
      if (space === 'channel') session.server.pubsub.unsubscribe(session, name);
      else session.server.pubsub.punsubscribe(session, name);
    }
    if (!quiet) confirm(session, kind, name);
  }
}

function unsubscribeCommand(space: 'channel' | 'pattern'): (session: Session, args: Args) => void {
  return (session, args) => unsubscribeFrom(session, space, argsFrom(args, 1));
}

function publish(session: Session, args: Args): void {
  session.reply.integer(session.server.pubsub.publish(arg(args, 1), arg(args, 2)));
}

const PUBSUB = { group: 'pubsub', whileSubscribed: true } as const;

export const pubsubCommands: readonly CommandSpec[] = [
  command({ ...PUBSUB, name: 'subscribe', arity: -2, needsTask: true, flags: 'pubsub noscript loading stale', summary: 'Listens for messages published to channels.', since: '2.0.0' }, subscribeTo('channel')),
  command({ ...PUBSUB, name: 'psubscribe', arity: -2, needsTask: true, flags: 'pubsub noscript loading stale', summary: 'Listens for messages published to channels that match one or more patterns.', since: '2.0.0' }, subscribeTo('pattern')),
  command({ ...PUBSUB, name: 'unsubscribe', arity: -1, flags: 'pubsub noscript loading stale', summary: 'Stops listening to messages posted to channels.', since: '2.0.0' }, unsubscribeCommand('channel')),
  command({ ...PUBSUB, name: 'punsubscribe', arity: -1, flags: 'pubsub noscript loading stale', summary: 'Stops listening to messages published to channels that match one or more patterns.', since: '2.0.0' }, unsubscribeCommand('pattern')),
  command({ ...PUBSUB, whileSubscribed: false, name: 'publish', arity: 3, flags: 'pubsub loading stale fast', summary: 'Posts a message to a channel.', since: '2.0.0' }, publish),
];
