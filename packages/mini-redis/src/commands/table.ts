// commands/table.ts
//
// The command table and the dispatcher: find the command (and subcommand), check its arity,
// whether the client must authenticate first (requirepass) and whether it may run in RESP2
// subscribed mode, run it, and turn a CommandError into the error reply. Checks happen in
// Redis's order, with Redis's texts.

import { CommandError, NOAUTH, unknownCommand, unknownSubcommand, wrongArity } from '../errors.js';
import type { Session } from '../session.js';
import { adminCommands } from './admin.js';
import { connectionCommands } from './connection.js';
import { hashCommands } from './hashes.js';
import { keyCommands } from './keys.js';
import { listCommands } from './lists.js';
import { pubsubCommands } from './pubsub.js';
import { COMMANDS } from './spec.js';
import type { Args, CommandSpec } from './spec.js';
import { stringCommands } from './strings.js';

for (const spec of [
  ...stringCommands,
  ...listCommands,
  ...hashCommands,
  ...keyCommands,
  ...pubsubCommands,
  ...connectionCommands,
  ...adminCommands,
]) {
  COMMANDS.set(spec.name.toUpperCase(), spec);
}

let lastName = '';
let lastSpec: CommandSpec | undefined;

function arityMismatch(spec: CommandSpec, argc: number): boolean {
  return spec.arity > 0 ? argc !== spec.arity : argc < -spec.arity;
}

/** What {@link execute} returns for a command that must run in the client's task. */
export const NEEDS_TASK: unique symbol = Symbol('needs task');

/**
 * Run one command. Returns a Promise only for a command that blocks (BLPOP); everything else
 * has replied when this returns. `fromCallback`: called from the socket's read callback, not
 * from the client's task; a command that needs its task (CommandSpec.needsTask) is then not
 * run, and NEEDS_TASK returned.
 */
export function execute(session: Session, name: string, args: Args, fromCallback = false): Promise<void> | undefined | typeof NEEDS_TASK {
  // Pipelines repeat a command: comparing with the last name is cheaper than hashing a fresh
  // string for the table lookup.
  let spec: CommandSpec | undefined;
  if (name === lastName) spec = lastSpec;
  else {
    spec = COMMANDS.get(name);
    lastName = name;
    lastSpec = spec;
  }
  if (fromCallback && spec !== undefined && spec.needsTask) return NEEDS_TASK;
  session.server.stats.commands++;
  const reply = session.reply;
  if (spec === undefined) {
    const quoted: string[] = [];
    for (let i = 1; i < args.length && i < 10; i++) quoted.push(args[i] as string);
    reply.error(unknownCommand(args[0] as string, quoted));
    return undefined;
  }
  if (spec.subcommands !== null && args.length >= 2) {
    const sub = spec.subcommands.get((args[1] as string).toUpperCase());
    if (sub === undefined) {
      reply.error(unknownSubcommand(spec.name, args[1] as string));
      return undefined;
    }
    spec = sub;
  }
  if (arityMismatch(spec, args.length)) {
    reply.error(wrongArity(spec.name));
    return undefined;
  }
  if (!session.authenticated && !spec.noAuth && session.server.config.settings.requirepass !== '') {
    reply.error(NOAUTH);
    return undefined;
  }
  if (session.protocol === 2 && !spec.whileSubscribed && session.subscriptions > 0) {
    reply.error(
      `ERR Can't execute '${spec.name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
    );
    return undefined;
  }
  session.lastCommand = spec.name;
  try {
    return spec.handler(session, args) ?? undefined;
  } catch (error) {
    if (error instanceof CommandError) reply.error(error.reply);
    else reply.error(`ERR internal error in '${spec.name}': ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}
