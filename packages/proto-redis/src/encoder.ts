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
    const arg = args[i];
    if (typeof arg === 'string' || arg instanceof Uint8Array || typeof arg === 'bigint') continue;
    if (typeof arg === 'number') {
      if (Number.isFinite(arg)) continue;
      return new LocalProtocolError(`cannot send ${String(arg)} as a Redis argument (argument ${i} of ${args[0]})`, 'ERR_BAD_ARGUMENT');
    }
    return new LocalProtocolError(`unsupported argument type ${arg === null ? 'null' : typeof arg} (argument ${i} of ${args[0]})`, 'ERR_BAD_ARGUMENT');
  }
  return null;
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

function writeArgs(out: ByteWriter, args: readonly RedisArg[]): void {
  out.byte(0x2a);
  out.decimal(args.length);
  out.crlf();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as RedisArg;
    if (typeof arg === 'string') out.blobString(0x24, arg);
    else if (arg instanceof Uint8Array) out.blobBytes(0x24, arg);
    else if (typeof arg === 'number') {
      if (!Number.isFinite(arg)) throw new LocalProtocolError(`cannot send ${String(arg)} as a Redis argument`, 'ERR_BAD_ARGUMENT');
      out.blobString(0x24, String(arg));
    } else if (typeof arg === 'bigint') out.blobString(0x24, arg.toString());
    else throw new LocalProtocolError(`unsupported argument type ${typeof arg}`, 'ERR_BAD_ARGUMENT');
  }
}

/** Encode one command as bytes. */
export function encodeCommand(args: readonly RedisArg[]): Uint8Array {
  const out = new ByteWriter({ initialSize: 64 });
  writeCommand(out, args);
  return out.take();
}

/** Protocol version a reply is encoded in. */
export type RespVersion = 2 | 3;
