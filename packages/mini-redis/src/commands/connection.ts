// commands/connection.ts
//
// The connection's own commands: PING, ECHO, HELLO (RESP2/RESP3 switch, with Redis 7's reply
// map), AUTH (the default user, with requirepass as its password, as Redis has it), SELECT,
// CLIENT, QUIT and RESET.

import { parseInt64 } from '../binary.js';
import { fail, NOT_INTEGER, SYNTAX, wrongArity } from '../errors.js';
import type { Session } from '../session.js';
import type { Database } from '../store.js';
import { unsubscribeFrom } from './pubsub.js';
import { arg, command, option } from './spec.js';
import type { Args, CommandSpec } from './spec.js';

/** The version mini-redis reports (HELLO, INFO): the Redis release whose behaviour it follows. */
export const REDIS_VERSION = '7.0.15';

const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';
const NOAUTH_HELLO =
  'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time';

function ping(session: Session, args: Args): void {
  if (args.length > 2) return fail(wrongArity('ping'));
  const reply = session.reply;
  if (session.protocol === 2 && session.subscriptions > 0) {
    reply.array(2);
    reply.bulk('pong');
    reply.bulk(args.length === 2 ? arg(args, 1) : '');
  } else if (args.length === 2) reply.bulk(arg(args, 1));
  else reply.status('PONG');
}

function echo(session: Session, args: Args): void {
  session.reply.bulk(arg(args, 1));
}

/** Refuse a client name Redis refuses (blanks, newlines, non-printables). */
function checkName(name: string): void {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) fail('ERR Client names cannot contain spaces, newlines or special characters.');
  }
}

/**
 * Authenticate as `username` with `password`. Only the default user exists: without a
 * requirepass it takes any password (Redis's nopass), with one it takes that one.
 */
function authenticate(session: Session, username: string, password: string): void {
  const required = session.server.config.settings.requirepass;
  if (username !== 'default' || (required !== '' && password !== required)) fail(WRONGPASS);
  session.authenticated = true;
}

function hello(session: Session, args: Args): void {
  let version = 0;
  if (args.length >= 2) {
    const requested = parseInt64(arg(args, 1));
    if (requested === null) return fail('ERR Protocol version is not an integer or out of range');
    if (requested !== 2 && requested !== 3) return fail('NOPROTO unsupported protocol version');
    version = requested;
  }
  let username: string | null = null;
  let password = '';
  let name: string | null = null;
  for (let j = 2; j < args.length; j++) {
    const more = args.length - 1 - j;
    const opt = option(args, j);
    if (opt === 'AUTH' && more >= 2) {
      username = arg(args, j + 1);
      password = arg(args, j + 2);
      j += 2;
    } else if (opt === 'SETNAME' && more >= 1) {
      name = arg(args, ++j);
      checkName(name); // before authenticating, as Redis does
    } else return fail(`ERR Syntax error in HELLO option '${args[j] as string}'`);
  }
  if (username !== null) authenticate(session, username, password);
  if (!session.authenticated && session.server.config.settings.requirepass !== '') return fail(NOAUTH_HELLO);
  if (name !== null) session.name = name;
  if (version !== 0) session.protocol = version as 2 | 3;
  const reply = session.reply;
  reply.map(7);
  reply.bulk('server');
  reply.bulk('redis');
  reply.bulk('version');
  reply.bulk(REDIS_VERSION);
  reply.bulk('proto');
  reply.integer(session.protocol);
  reply.bulk('id');
  reply.integer(session.id);
  reply.bulk('mode');
  reply.bulk('standalone');
  reply.bulk('role');
  reply.bulk('master');
  reply.bulk('modules');
  reply.array(0);
}

function auth(session: Session, args: Args): void {
  if (args.length > 3) return fail('ERR syntax error');
  if (args.length === 2) {
    if (session.server.config.settings.requirepass === '') {
      return fail('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
    }
    authenticate(session, 'default', arg(args, 1));
  } else authenticate(session, arg(args, 1), arg(args, 2));
  session.reply.ok();
}

function select(session: Session, args: Args): void {
  const index = parseInt64(arg(args, 1));
  if (index === null || typeof index === 'bigint' || index < -2147483648 || index > 2147483647) return fail(NOT_INTEGER);
  const db = session.server.databases[index];
  if (db === undefined) return fail('ERR DB index is out of range');
  session.db = db;
  session.reply.ok();
}

function quit(session: Session): void {
  session.reply.ok();
  session.closing = true;
}

function reset(session: Session): void {
  unsubscribeFrom(session, 'channel', [], true);
  unsubscribeFrom(session, 'pattern', [], true);
  session.db = session.server.databases[0] as Database;
  session.name = '';
  session.protocol = 2;
  // Back to the default user's state: unauthenticated if it has a password.
  session.authenticated = session.server.config.settings.requirepass === '';
  session.reply.status('RESET');
}

// ---------------------------------------------------------------------------------------------
// CLIENT

function clientSetname(session: Session, args: Args): void {
  const name = arg(args, 2);
  checkName(name);
  session.name = name;
  session.reply.ok();
}

function clientGetname(session: Session): void {
  session.reply.bulkOrNull(session.name === '' ? undefined : session.name);
}

function clientId(session: Session): void {
  session.reply.integer(session.id);
}

function clientInfo(session: Session): void {
  session.reply.verbatim(`${session.describe()}\n`);
}

/** CLIENT LIST [TYPE type | ID id...], with Redis's argument rules. */
function clientList(session: Session, args: Args): void {
  const clients = session.server.clients;
  let text = '';
  if (args.length === 4 && option(args, 2) === 'TYPE') {
    const type = option(args, 3);
    if (!['NORMAL', 'MASTER', 'REPLICA', 'SLAVE', 'PUBSUB'].includes(type)) return fail(`ERR Unknown client type '${arg(args, 3)}'`);
    // No replication here: only normal clients and subscribers (Redis's CLIENT_PUBSUB).
    for (const client of clients.values()) {
      if ((type === 'NORMAL' && client.subscriptions === 0) || (type === 'PUBSUB' && client.subscriptions > 0)) text += `${client.describe()}\n`;
    }
  } else if (args.length > 3 && option(args, 2) === 'ID') {
    // In the order given, each time it is given.
    const ids = Array.from({ length: args.length - 3 }, (_, i) => {
      const id = parseInt64(arg(args, 3 + i));
      return id === null ? fail('ERR Invalid client ID') : Number(id);
    });
    for (const id of ids) {
      const client = clients.get(id);
      if (client !== undefined) text += `${client.describe()}\n`;
    }
  } else if (args.length !== 2) return fail(SYNTAX);
  else for (const client of clients.values()) text += `${client.describe()}\n`;
  session.reply.verbatim(text);
}

function clientSetinfo(session: Session, args: Args): void {
  const attribute = option(args, 2);
  const value = arg(args, 3);
  if (attribute === 'LIB-NAME') session.libName = value;
  else if (attribute === 'LIB-VER') session.libVersion = value;
  else return fail(`ERR Unrecognized option '${arg(args, 2)}'`);
  session.reply.ok();
}

const CLIENT_HELP = [
  'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GETNAME',
  '    Return the name of the current connection.',
  'ID',
  '    Return the ID of the current connection.',
  'INFO',
  '    Return information about the current client connection.',
  'LIST [TYPE <type>] [ID <id> [<id> ...]]',
  '    Return information about client connections.',
  'SETINFO <LIB-NAME|LIB-VER> <value>',
  '    Set client meta attr.',
  'SETNAME <name>',
  '    Assign the name <name> to the current connection.',
  'HELP',
  '    Print this help.',
];

/** `HELP` subcommand replying with `lines` (status strings, as Redis sends help). */
export function helpReply(lines: readonly string[]): (session: Session) => void {
  return (session) => {
    session.reply.array(lines.length);
    for (const line of lines) session.reply.status(line);
  };
}

const CONNECTION = { group: 'connection' } as const;
const CLIENT_FLAGS = 'noscript loading stale';

export const connectionCommands: readonly CommandSpec[] = [
  command({ ...CONNECTION, whileSubscribed: true, name: 'ping', arity: -1, flags: 'fast', summary: 'Returns the server\'s liveliness response.', since: '1.0.0' }, ping),
  command({ ...CONNECTION, name: 'echo', arity: 2, flags: 'fast', summary: 'Returns the given string.', since: '1.0.0' }, echo),
  command({ ...CONNECTION, name: 'hello', arity: -1, flags: 'noscript loading stale fast no_auth allow_busy', summary: 'Handshakes with the Redis server.', since: '6.0.0' }, hello),
  command({ ...CONNECTION, name: 'auth', arity: -2, flags: 'noscript loading stale fast no_auth allow_busy', summary: 'Authenticates the connection.', since: '1.0.0' }, auth),
  command({ ...CONNECTION, name: 'select', arity: 2, flags: 'loading stale fast', summary: 'Changes the selected database.', since: '1.0.0' }, select),
  command({ ...CONNECTION, whileSubscribed: true, name: 'quit', arity: -1, flags: 'allow_busy noscript loading stale fast no_auth', summary: 'Closes the connection.', since: '1.0.0' }, quit),
  command({ ...CONNECTION, whileSubscribed: true, name: 'reset', arity: 1, flags: 'noscript loading stale fast no_auth allow_busy', summary: 'Resets the connection.', since: '6.2.0' }, reset),
  command(
    {
      ...CONNECTION,
      name: 'client',
      arity: -2,
      flags: '',
      summary: 'A container for client connection commands.',
      since: '2.4.0',
      subcommands: [
        command({ ...CONNECTION, name: 'client|setname', arity: 3, flags: CLIENT_FLAGS, summary: 'Sets the connection name.', since: '2.6.9' }, clientSetname),
        command({ ...CONNECTION, name: 'client|getname', arity: 2, flags: CLIENT_FLAGS, summary: 'Returns the name of the connection.', since: '2.6.9' }, clientGetname),
        command({ ...CONNECTION, name: 'client|id', arity: 2, flags: CLIENT_FLAGS, summary: 'Returns the unique client ID of the connection.', since: '5.0.0' }, clientId),
        command({ ...CONNECTION, name: 'client|info', arity: 2, flags: CLIENT_FLAGS, summary: 'Returns information about the connection.', since: '6.2.0' }, clientInfo),
        command({ ...CONNECTION, name: 'client|list', arity: -2, flags: `admin ${CLIENT_FLAGS}`, summary: 'Lists open connections.', since: '2.4.0' }, clientList),
        command({ ...CONNECTION, name: 'client|setinfo', arity: 4, flags: CLIENT_FLAGS, summary: 'Sets information specific to the client or connection.', since: '7.2.0' }, clientSetinfo),
        command({ ...CONNECTION, name: 'client|help', arity: 2, flags: 'loading stale', summary: 'Returns helpful text about the different subcommands.', since: '5.0.0' }, helpReply(CLIENT_HELP)),
      ],
    },
    () => undefined,
  ),
];
