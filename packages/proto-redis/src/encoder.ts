// encoder.ts
//
// Commands to bytes (the client role): always a RESP array of blob strings, binary safe.
// Commands are appended to a ByteWriter (writer.ts), so a burst of commands (a pipeline, or
// every command issued before the next write) becomes one Uint8Array and one write. Strings are
// UTF-8 encoded straight into that buffer. Replies (the server role) are written by
// ReplyWriter (reply.ts).

import { LocalProtocolError } from './errors.js';
import { ByteWriter } from './writer.js';

/** One argument of a command. Numbers and bigints are sent as their decimal text. */
export type RedisArg = string | number | bigint | Uint8Array;

/**
 * Why `args` cannot be sent as a command, or null if it can: at least a name, which must be a
 * string, and every argument a string, a finite number, a bigint or a Uint8Array. Clients call
 * it when a command is issued, so a bad argument is the caller's error at once (and a batch
 * with one is refused whole) instead of surfacing when the burst is written.
 */
export function checkCommand(args: readonly unknown[]): LocalProtocolError | null {
  if (args.length === 0) return new LocalProtocolError('a command needs at least a name', 'ERR_EMPTY_COMMAND');
  if (typeof args[0] !== 'string') return new LocalProtocolError('the command name must be a string', 'ERR_BAD_COMMAND');
  for (let i = 1; i < args.length; i++) {
    const invalid = checkArgument(args[i], i, args[0]);
    if (invalid !== null) return invalid;
  }
  return null;
}

/**
 * Why `arg`, argument number `index` of command `name`, cannot be sent, or null if it can (a
 * string, a finite number, a bigint or a Uint8Array): {@link checkCommand} for one argument,
 * for a client that checks a command without making its argument array.
 */
export function checkArgument(arg: unknown, index: number, name: string): LocalProtocolError | null {
  if (typeof arg === 'string' || arg instanceof Uint8Array || typeof arg === 'bigint') return null;
  if (typeof arg === 'number') {
    if (Number.isFinite(arg)) return null;
    return new LocalProtocolError(`cannot send ${String(arg)} as a Redis argument (argument ${index} of ${name})`, 'ERR_BAD_ARGUMENT');
  }
  return new LocalProtocolError(`unsupported argument type ${arg === null ? 'null' : typeof arg} (argument ${index} of ${name})`, 'ERR_BAD_ARGUMENT');
}

/** Append one command (`*N` then N blob strings) to `out`. */
export function writeCommand(out: ByteWriter, args: readonly RedisArg[]): void {
  if (args.length === 0) throw new LocalProtocolError('a command needs at least a name', 'ERR_EMPTY_COMMAND');
  const mark = out.length;
  try {
    writeArgs(out, args);
  } catch (error) {
    out.truncate(mark); // a bad argument: nothing of this command is sent
    throw error;
  }
}

/**
 * Append the command `name key` (`*2` then two blob strings) to `out`: what {@link writeCommand}
 * writes for `[name, key]`, without the array (the one-key commands of a client's hot path).
 */
export function writeKeyCommand(out: ByteWriter, name: string, key: RedisArg): void {
  const mark = out.length;
  try {
    out.bytes(ARRAY_OF_TWO);
    out.blobString(0x24, name);
    writeArg(out, key);
  } catch (error) {
    out.truncate(mark);
    throw error;
  }
}

/** `*2\r\n`. */
const ARRAY_OF_TWO = new Uint8Array([0x2a, 0x32, 13, 10]);

function writeArgs(out: ByteWriter, args: readonly RedisArg[]): void {
  out.byte(0x2a);
  out.decimal(args.length);
  out.crlf();
  for (let i = 0; i < args.length; i++) writeArg(out, args[i] as RedisArg);
}

function writeArg(out: ByteWriter, arg: RedisArg): void {
  if (typeof arg === 'string') out.blobString(0x24, arg);
  else if (arg instanceof Uint8Array) out.blobBytes(0x24, arg);
  else if (typeof arg === 'number') {
    if (!Number.isFinite(arg)) throw new LocalProtocolError(`cannot send ${String(arg)} as a Redis argument`, 'ERR_BAD_ARGUMENT');
    out.blobString(0x24, String(arg));
  } else if (typeof arg === 'bigint') out.blobString(0x24, arg.toString());
  else throw new LocalProtocolError(`unsupported argument type ${typeof arg}`, 'ERR_BAD_ARGUMENT');
}

/** Encode one command as bytes. */
export function encodeCommand(args: readonly RedisArg[]): Uint8Array {
  const out = new ByteWriter({ initialSize: 64 });
  writeCommand(out, args);
  return out.take();
}

/** Protocol version a reply is encoded in. */
export type RespVersion = 2 | 3;
