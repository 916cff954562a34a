// commands.ts
//
// What each command *is*: its kind, and how many frames answer it. It knows nothing about
// bytes. The client role looks a command up once when it is sent; what the kind then *does* to
// the connection's state (MULTI opens a transaction, MONITOR's +OK starts monitoring...) is a
// transition of the tables in state.ts.
//
// | kind         | commands                                     | answered by                          |
// |--------------|----------------------------------------------|--------------------------------------|
// | normal       | everything else                              | one reply                            |
// | subscribe    | SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE            | one confirmation per channel         |
// | unsubscribe  | UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE       | one per channel (all if none named)  |
// | monitor      | MONITOR                                      | +OK, then every later frame is a line|
// | multi/exec/discard | MULTI, EXEC, DISCARD                   | one reply; track the transaction     |
// | hello        | HELLO                                        | one reply; may switch RESP version   |
// | reset        | RESET                                        | one reply; back to a plain RESP2 conn|
// | quit         | QUIT                                         | one reply; then the server closes    |

/** How a command affects the connection. */
export type CommandKind =
  | 'normal'
  | 'subscribe'
  | 'unsubscribe'
  | 'monitor'
  | 'multi'
  | 'exec'
  | 'discard'
  | 'hello'
  | 'reset'
  | 'quit';

/** The pub/sub namespace a (un)subscribe command works on. */
export type SubscriptionSpace = 'channel' | 'pattern' | 'shard';

const KINDS: ReadonlyMap<string, CommandKind> = new Map<string, CommandKind>([
  ['SUBSCRIBE', 'subscribe'],
  ['PSUBSCRIBE', 'subscribe'],
  ['SSUBSCRIBE', 'subscribe'],
  ['UNSUBSCRIBE', 'unsubscribe'],
  ['PUNSUBSCRIBE', 'unsubscribe'],
  ['SUNSUBSCRIBE', 'unsubscribe'],
  ['MONITOR', 'monitor'],
  ['MULTI', 'multi'],
  ['EXEC', 'exec'],
  ['DISCARD', 'discard'],
  ['HELLO', 'hello'],
  ['RESET', 'reset'],
  ['QUIT', 'quit'],
]);

const SPACES: ReadonlyMap<string, SubscriptionSpace> = new Map<string, SubscriptionSpace>([
  ['SUBSCRIBE', 'channel'],
  ['UNSUBSCRIBE', 'channel'],
  ['PSUBSCRIBE', 'pattern'],
  ['PUNSUBSCRIBE', 'pattern'],
  ['SSUBSCRIBE', 'shard'],
  ['SUNSUBSCRIBE', 'shard'],
]);

/** Push kinds that are pub/sub messages (not confirmations). */
export const MESSAGE_KINDS: ReadonlySet<string> = new Set(['message', 'pmessage', 'smessage']);

/** Push kinds that confirm a (un)subscription, with the namespace each one belongs to. */
export const CONFIRMATION_SPACES: ReadonlyMap<string, SubscriptionSpace> = new Map<string, SubscriptionSpace>([
  ['subscribe', 'channel'],
  ['unsubscribe', 'channel'],
  ['psubscribe', 'pattern'],
  ['punsubscribe', 'pattern'],
  ['ssubscribe', 'shard'],
  ['sunsubscribe', 'shard'],
]);

/**
 * Commands that may block the connection server-side until data arrives (the client gives
 * them their own connection or a longer timeout).
 */
export const BLOCKING_COMMANDS: ReadonlySet<string> = new Set([
  'BLPOP',
  'BRPOP',
  'BRPOPLPUSH',
  'BLMOVE',
  'BLMPOP',
  'BZPOPMIN',
  'BZPOPMAX',
  'BZMPOP',
  'WAIT',
  'WAITAOF',
]);

/** The kind of a command, by its (case-insensitive) name. */
export function commandKind(name: string): CommandKind {
  const kind = KINDS.get(name);
  if (kind !== undefined) return kind;
  // Upper-casing makes a new string: only for a name that has lower-case letters (the hot
  // path sends upper-case names, and then allocates nothing here).
  return hasLowerCase(name) ? (KINDS.get(name.toUpperCase()) ?? 'normal') : 'normal';
}

function hasLowerCase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 97 && c <= 122) || c >= 128) return true;
  }
  return false;
}

/** The subscription namespace of a (un)subscribe command. */
export function subscriptionSpace(name: string): SubscriptionSpace {
  return SPACES.get(name) ?? SPACES.get(name.toUpperCase()) ?? 'channel';
}

/**
 * Whether a command blocks server-side. XREAD and XREADGROUP block only with a BLOCK option,
 * so the arguments are looked at too.
 */
export function isBlockingCommand(name: string, args: readonly unknown[]): boolean {
  if (BLOCKING_COMMANDS.has(name)) return true;
  const upper = name.toUpperCase();
  if (BLOCKING_COMMANDS.has(upper)) return true;
  if (upper === 'XREAD' || upper === 'XREADGROUP') {
    return args.some((arg) => typeof arg === 'string' && arg.toUpperCase() === 'BLOCK');
  }
  return false;
}
