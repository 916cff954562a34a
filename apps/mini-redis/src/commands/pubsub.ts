// commands/pubsub.ts
//
// PUBLISH, (P)SUBSCRIBE, (P)UNSUBSCRIBE (pubsub.c). Confirmations are pushes: RESP3 `>` frames,
// RESP2 arrays, each ending with the client's subscription count. Unsubscribing from nothing
// in particular confirms every subscription, or once with a null name when there is none.

import type { Session } from '../session.js';
import { arg, argsFrom, command } from './spec.js';
import type { CommandSpec } from './spec.js';

function confirm(session: Session, kind: string, name: string | null): void {
  const reply = session.reply;
  reply.push(3);
  reply.bulk(kind);
  reply.bulkOrNull(name ?? undefined);
  reply.integer(session.subscriptions);
}

function subscribe(session: Session, args: readonly Uint8Array[]): void {
  session.startPushWriter();
  for (let i = 1; i < args.length; i++) {
    const channel = arg(args, i);
    if (!session.channels.has(channel)) {
      session.channels.add(channel);
      session.server.pubsub.subscribe(session, channel);
    }
    confirm(session, 'subscribe', channel);
  }
}

function psubscribe(session: Session, args: readonly Uint8Array[]): void {
  session.startPushWriter();
  for (let i = 1; i < args.length; i++) {
    const pattern = arg(args, i);
    if (!session.patterns.has(pattern)) {
      session.patterns.add(pattern);
      session.server.pubsub.psubscribe(session, pattern);
    }
    confirm(session, 'psubscribe', pattern);
  }
}

/** Unsubscribe `session` from `names` (all of its channels when empty), confirming each. */
export function unsubscribeChannels(session: Session, names: readonly string[], quiet = false): void {
  const channels = names.length > 0 ? names : [...session.channels];
  if (channels.length === 0 && !quiet) confirm(session, 'unsubscribe', null);
  for (const channel of channels) {
    if (session.channels.delete(channel)) session.server.pubsub.unsubscribe(session, channel);
    if (!quiet) confirm(session, 'unsubscribe', channel);
  }
}

/** Unsubscribe `session` from pattern `names` (all when empty), confirming each. */
export function unsubscribePatterns(session: Session, names: readonly string[], quiet = false): void {
  const patterns = names.length > 0 ? names : [...session.patterns];
  if (patterns.length === 0 && !quiet) confirm(session, 'punsubscribe', null);
  for (const pattern of patterns) {
    if (session.patterns.delete(pattern)) session.server.pubsub.punsubscribe(session, pattern);
    if (!quiet) confirm(session, 'punsubscribe', pattern);
  }
}

function unsubscribe(session: Session, args: readonly Uint8Array[]): void {
  unsubscribeChannels(session, argsFrom(args, 1));
}

function punsubscribe(session: Session, args: readonly Uint8Array[]): void {
  unsubscribePatterns(session, argsFrom(args, 1));
}

function publish(session: Session, args: readonly Uint8Array[]): void {
  session.reply.integer(session.server.pubsub.publish(arg(args, 1), arg(args, 2)));
}

const PUBSUB = { group: 'pubsub', whileSubscribed: true } as const;

export const pubsubCommands: readonly CommandSpec[] = [
  command({ ...PUBSUB, name: 'subscribe', arity: -2, flags: 'pubsub noscript loading stale', summary: 'Listens for messages published to channels.', since: '2.0.0' }, subscribe),
  command({ ...PUBSUB, name: 'psubscribe', arity: -2, flags: 'pubsub noscript loading stale', summary: 'Listens for messages published to channels that match one or more patterns.', since: '2.0.0' }, psubscribe),
  command({ ...PUBSUB, name: 'unsubscribe', arity: -1, flags: 'pubsub noscript loading stale', summary: 'Stops listening to messages posted to channels.', since: '2.0.0' }, unsubscribe),
  command({ ...PUBSUB, name: 'punsubscribe', arity: -1, flags: 'pubsub noscript loading stale', summary: 'Stops listening to messages published to channels that match one or more patterns.', since: '2.0.0' }, punsubscribe),
  command({ ...PUBSUB, whileSubscribed: false, name: 'publish', arity: 3, flags: 'pubsub loading stale fast', summary: 'Posts a message to a channel.', since: '2.0.0' }, publish),
];
