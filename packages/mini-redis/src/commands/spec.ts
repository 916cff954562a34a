// commands/spec.ts
//
// What a command is: its name and arity as Redis declares them (positive: exactly that many
// arguments, the name included; negative: at least that many), its flags and key positions
// (for COMMAND INFO), its documentation (for COMMAND DOCS, which redis-cli shows as hints),
// and the handler that runs it.
//
// A handler runs synchronously and writes its reply into the session's reply buffer; only a
// command that blocks (BLPOP) returns a Promise. Errors are thrown as CommandError.

import { addInt64, parseIndex, parseInt64 } from '../binary.js';
import { fail, NOT_INTEGER, OVERFLOW } from '../errors.js';
import type { Session } from '../session.js';

/**
 * A command's arguments as binary strings (one char per byte, see binary.ts), cut from the
 * received bytes by proto-redis (`args: 'binary'`); `args[0]` is the command name as sent.
 */
export type Args = readonly string[];

/** Runs one command. `args[0]` is the command name as sent. */
export type Handler = (session: Session, args: Args) => void | Promise<void>;

/** A command (or a subcommand, named `container|sub`). */
export interface CommandSpec {
  /** Lower-case full name: 'get', 'client|setname'. */
  readonly name: string;
  readonly arity: number;
  readonly flags: readonly string[];
  /** First key argument, last (-1: the last argument), step; 0 0 0 when there are none. */
  readonly keys: readonly [number, number, number];
  /** Documentation group: 'string', 'list', 'connection'... */
  readonly group: string;
  readonly summary: string;
  /** Redis version that introduced it. */
  readonly since: string;
  readonly handler: Handler;
  /** Subcommands by upper-case name (CLIENT SETNAME...). */
  readonly subcommands: ReadonlyMap<string, CommandSpec> | null;
  /** Allowed in RESP2 subscribed mode. */
  readonly whileSubscribed: boolean;
  /** Allowed before authenticating (flag no_auth: AUTH, HELLO, QUIT, RESET). */
  readonly noAuth: boolean;
  /**
   * Runs in the client's task only, never from the socket's read callback (session.ts): it may
   * wait (BLPOP) or start a task (SUBSCRIBE's push writer).
   */
  readonly needsTask: boolean;
}

/** How a command is declared. */
export interface CommandDeclaration {
  readonly name: string;
  readonly arity: number;
  /** Space-separated flags ('write denyoom fast'). */
  readonly flags: string;
  readonly keys?: readonly [number, number, number];
  readonly group: string;
  readonly summary: string;
  readonly since: string;
  readonly subcommands?: readonly CommandSpec[];
  readonly whileSubscribed?: boolean;
  /** See {@link CommandSpec.needsTask} (default false). */
  readonly needsTask?: boolean;
}

/** Declare a command. */
export function command(declaration: CommandDeclaration, handler: Handler): CommandSpec {
  const subcommands = declaration.subcommands;
  return {
    name: declaration.name,
    arity: declaration.arity,
    flags: declaration.flags.split(' ').filter((flag) => flag.length > 0),
    keys: declaration.keys ?? [0, 0, 0],
    group: declaration.group,
    summary: declaration.summary,
    since: declaration.since,
    handler,
    subcommands:
      subcommands === undefined ? null : new Map(subcommands.map((sub) => [(sub.name.split('|')[1] as string).toUpperCase(), sub])),
    whileSubscribed: declaration.whileSubscribed ?? false,
    noAuth: declaration.flags.split(' ').includes('no_auth'),
    needsTask: declaration.needsTask ?? false,
  };
}

/** Every command, by upper-case name; filled by commands/table.ts. */
export const COMMANDS = new Map<string, CommandSpec>();

// ---------------------------------------------------------------------------------------------
// Argument helpers

/** Argument `i` as a binary string (a key, field, member, value...). */
export function arg(args: Args, i: number): string {
  return args[i] as string;
}

/** Argument `i` as an upper-case keyword. */
export function option(args: Args, i: number): string {
  return (args[i] as string).toUpperCase();
}

/** Arguments from `from` on as binary strings. */
export function argsFrom(args: Args, from: number): string[] {
  const out: string[] = [];
  for (let i = from; i < args.length; i++) out.push(args[i] as string);
  return out;
}

/** Argument `i` as a 64-bit integer; "value is not an integer or out of range" otherwise. */
export function integerArg(args: Args, i: number): number | bigint {
  const value = parseInt64(arg(args, i));
  return value === null ? fail(NOT_INTEGER) : value;
}

/** Argument `i` as an integer index or count (rounded beyond 2^53). */
export function indexArg(args: Args, i: number): number {
  const value = parseIndex(arg(args, i));
  return value === null ? fail(NOT_INTEGER) : value;
}

/**
 * `current` (a stored integer string, or the number INCR kept; missing counts as 0) plus
 * `increment`, as INCRBY and HINCRBY compute it: `notInteger` when the stored value is not an
 * integer, an overflow error beyond 64 bits.
 */
export function addToInteger(current: string | number | undefined, increment: number | bigint, notInteger: string): number | bigint {
  const value = current === undefined ? 0 : typeof current === 'number' ? current : parseInt64(current);
  if (value === null) return fail(notInteger);
  const result = addInt64(value, increment);
  return result === null ? fail(OVERFLOW) : result;
}
