// errors.ts
//
// Error replies, worded exactly as Redis 7 words them (clients and tools match on the text).
// A command handler throws CommandError; the dispatcher turns it into the error reply and the
// connection goes on. Anything else thrown by a handler is a bug in mini-redis: it is answered
// with a generic error too, so a client can never crash the server.

/** An error reply to send for the current command. */
export class CommandError extends Error {
  /** The reply text, starting with its code (ERR, WRONGTYPE...). */
  readonly reply: string;
  constructor(reply: string) {
    super(reply);
    this.name = 'CommandError';
    this.reply = reply;
  }
}

export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
export const SYNTAX = 'ERR syntax error';
export const NOT_INTEGER = 'ERR value is not an integer or out of range';
export const OVERFLOW = 'ERR increment or decrement would overflow';
export const NOAUTH = 'NOAUTH Authentication required.';

/** Throw the error reply `reply`. */
export function fail(reply: string): never {
  throw new CommandError(reply);
}

/** `ERR wrong number of arguments for 'name' command` (name lower-case, `a|b` for subcommands). */
export function wrongArity(fullName: string): string {
  return `ERR wrong number of arguments for '${fullName}' command`;
}

/** `ERR invalid expire time in 'name' command`. */
export function invalidExpire(command: string): string {
  return `ERR invalid expire time in '${command}' command`;
}

/** The unknown-command error, with the first arguments quoted as Redis quotes them. */
export function unknownCommand(name: string, args: readonly string[]): string {
  let quoted = '';
  for (let i = 0; i < args.length && quoted.length < 128; i++) {
    quoted += `'${(args[i] as string).slice(0, 128 - quoted.length)}' `;
  }
  return `ERR unknown command '${name.slice(0, 128)}', with args beginning with: ${quoted}`;
}

/** `ERR unknown subcommand 'x'. Try CLIENT HELP.` */
export function unknownSubcommand(command: string, sub: string): string {
  return `ERR unknown subcommand '${sub.slice(0, 128)}'. Try ${command.toUpperCase()} HELP.`;
}
