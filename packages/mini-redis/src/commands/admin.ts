// commands/admin.ts
//
// What tools ask a server about itself: COMMAND (COUNT, DOCS, INFO, LIST; redis-cli reads DOCS
// for its hints), INFO, CONFIG (GET, SET, RESETSTAT over config.ts's parameters), TIME.

import * as os from 'node:os';
import { compileGlob } from '../glob.js';
import { ConfigError } from '../config.js';
import { fail, SYNTAX } from '../errors.js';
import type { Session } from '../session.js';
import { arg, argsFrom, command } from './spec.js';
import type { Args, CommandSpec } from './spec.js';
import { COMMANDS } from './spec.js';
import { helpReply, REDIS_VERSION } from './connection.js';

// ---------------------------------------------------------------------------------------------
// COMMAND

function lookup(name: string): CommandSpec | undefined {
  const [container, sub] = name.toUpperCase().split('|') as [string, string | undefined];
  const spec = COMMANDS.get(container);
  return sub === undefined ? spec : spec?.subcommands?.get(sub);
}

function commandInfo(session: Session, spec: CommandSpec): void {
  const reply = session.reply;
  reply.array(10);
  reply.bulk(spec.name);
  reply.integer(spec.arity);
  reply.set(spec.flags.length);
  for (const flag of spec.flags) reply.status(flag);
  reply.integer(spec.keys[0]);
  reply.integer(spec.keys[1]);
  reply.integer(spec.keys[2]);
  const categories = [`@${spec.group === 'generic' ? 'keyspace' : spec.group}`];
  if (spec.flags.includes('readonly')) categories.push('@read');
  if (spec.flags.includes('write')) categories.push('@write');
  if (spec.flags.includes('fast')) categories.push('@fast');
  reply.set(categories.length);
  for (const category of categories) reply.status(category);
  reply.set(0);
  reply.array(0);
  const subs = spec.subcommands === null ? [] : [...spec.subcommands.values()];
  reply.array(subs.length);
  for (const sub of subs) commandInfo(session, sub);
}

function commandDocs(session: Session, spec: CommandSpec): void {
  const reply = session.reply;
  const subs = spec.subcommands === null ? [] : [...spec.subcommands.values()];
  reply.map(subs.length > 0 ? 4 : 3);
  reply.bulk('summary');
  reply.bulk(spec.summary);
  reply.bulk('since');
  reply.bulk(spec.since);
  reply.bulk('group');
  reply.bulk(spec.group);
  if (subs.length === 0) return;
  reply.bulk('subcommands');
  reply.map(subs.length);
  for (const sub of subs) {
    reply.bulk(sub.name);
    commandDocs(session, sub);
  }
}

function commandAll(session: Session): void {
  session.reply.array(COMMANDS.size);
  for (const spec of COMMANDS.values()) commandInfo(session, spec);
}

function commandCount(session: Session): void {
  session.reply.integer(COMMANDS.size);
}

function commandList(session: Session): void {
  const names: string[] = [];
  for (const spec of COMMANDS.values()) {
    names.push(spec.name);
    for (const sub of spec.subcommands?.values() ?? []) names.push(sub.name);
  }
  session.reply.bulkArray(names, names.length);
}

function commandInfoCommand(session: Session, args: Args): void {
  const names = args.length > 2 ? argsFrom(args, 2) : [...COMMANDS.values()].map((spec) => spec.name);
  session.reply.array(names.length);
  for (const name of names) {
    const spec = lookup(name);
    if (spec === undefined) session.reply.nullArray();
    else commandInfo(session, spec);
  }
}

function commandDocsCommand(session: Session, args: Args): void {
  const specs = args.length > 2 ? argsFrom(args, 2).flatMap((name) => lookup(name) ?? []) : [...COMMANDS.values()];
  session.reply.map(specs.length);
  for (const spec of specs) {
    session.reply.bulk(spec.name);
    commandDocs(session, spec);
  }
}

// ---------------------------------------------------------------------------------------------
// INFO

function human(bytes: number): string {
  if (bytes >= 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024 / 1024).toFixed(2)}G`;
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(2)}M`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(2)}K`;
  return `${bytes}B`;
}

function infoSections(session: Session): Map<string, string[]> {
  const { server } = session;
  const uptime = Math.floor((Date.now() - server.startedAt) / 1000);
  const memory = process.memoryUsage();
  let blocked = 0;
  for (const client of server.clients.values()) if (client.blocked) blocked++;
  const keyspace: string[] = [];
  for (const db of server.databases) {
    if (db.size > 0) keyspace.push(`db${db.index}:keys=${db.size},expires=${db.expires.size},avg_ttl=0`);
  }
  return new Map([
    [
      'server',
      [
        `redis_version:${REDIS_VERSION}`,
        'redis_mode:standalone',
        `os:${os.type()} ${os.release()} ${os.arch()}`,
        'arch_bits:64',
        'multiplexing_api:curio-kernel',
        `process_id:${process.pid}`,
        `tcp_port:${server.config.port}`,
        `server_time_usec:${Date.now() * 1000}`,
        `uptime_in_seconds:${uptime}`,
        `uptime_in_days:${Math.floor(uptime / 86400)}`,
        'executable:mini-redis',
        'mini_redis:curio-ts',
      ],
    ],
    ['clients', [`connected_clients:${server.clients.size}`, `blocked_clients:${blocked}`, `maxclients:${server.config.settings.maxclients}`]],
    [
      'memory',
      [
        `used_memory:${memory.heapUsed}`,
        `used_memory_human:${human(memory.heapUsed)}`,
        `used_memory_rss:${memory.rss}`,
        `used_memory_rss_human:${human(memory.rss)}`,
        'maxmemory:0',
        'maxmemory_policy:noeviction',
      ],
    ],
    ['persistence', ['loading:0', 'rdb_changes_since_last_save:0', 'aof_enabled:0']],
    [
      'stats',
      [
        `total_connections_received:${server.stats.connections}`,
        `total_commands_processed:${server.stats.commands}`,
        `expired_keys:${server.stats.expiredKeys}`,
        `pubsub_channels:${server.pubsub.channelCount}`,
        `pubsub_patterns:${server.pubsub.patternCount}`,
      ],
    ],
    ['replication', ['role:master', 'connected_slaves:0']],
    ['keyspace', keyspace],
  ]);
}

function info(session: Session, args: Args): void {
  const sections = infoSections(session);
  const wanted = argsFrom(args, 1).map((name) => name.toLowerCase());
  const all = wanted.length === 0 || wanted.some((name) => name === 'all' || name === 'everything' || name === 'default');
  const parts: string[] = [];
  for (const [name, lines] of sections) {
    if (!all && !wanted.includes(name)) continue;
    parts.push([`# ${name[0]?.toUpperCase()}${name.slice(1)}`, ...lines].join('\r\n'));
  }
  session.reply.verbatim(parts.length === 0 ? '' : `${parts.join('\r\n\r\n')}\r\n`);
}

// ---------------------------------------------------------------------------------------------
// CONFIG

function configGet(session: Session, args: Args): void {
  const found = new Map<string, string>();
  for (const pattern of argsFrom(args, 2)) {
    const match = compileGlob(pattern.toLowerCase());
    for (const [name, value] of session.server.config.matching(match)) found.set(name, value);
  }
  session.reply.map(found.size);
  for (const [name, value] of found) {
    session.reply.bulk(name);
    session.reply.bulk(value);
  }
}

function configSet(session: Session, args: Args): void {
  if (args.length % 2 === 1) return fail(SYNTAX);
  try {
    session.server.config.set(argsFrom(args, 2));
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.reply);
    throw error;
  }
  session.reply.ok();
}

function configResetstat(session: Session): void {
  const stats = session.server.stats;
  stats.commands = 0;
  stats.connections = 0;
  stats.expiredKeys = 0;
  session.reply.ok();
}

function time(session: Session): void {
  const micros = BigInt(Date.now()) * 1000n;
  session.reply.array(2);
  session.reply.bulk(String(micros / 1000000n));
  session.reply.bulk(String(micros % 1000000n));
}

const SERVER = { group: 'server' } as const;
const INTROSPECTION = 'loading stale';

export const adminCommands: readonly CommandSpec[] = [
  command(
    {
      ...SERVER,
      name: 'command',
      arity: -1,
      flags: INTROSPECTION,
      summary: 'Returns detailed information about all commands.',
      since: '2.8.13',
      subcommands: [
        command({ ...SERVER, name: 'command|count', arity: 2, flags: INTROSPECTION, summary: 'Returns a count of commands.', since: '2.8.13' }, commandCount),
        command({ ...SERVER, name: 'command|docs', arity: -2, flags: INTROSPECTION, summary: 'Returns documentary information about one, multiple or all commands.', since: '7.0.0' }, commandDocsCommand),
        command({ ...SERVER, name: 'command|info', arity: -2, flags: INTROSPECTION, summary: 'Returns information about one, multiple or all commands.', since: '2.8.13' }, commandInfoCommand),
        command({ ...SERVER, name: 'command|list', arity: -2, flags: INTROSPECTION, summary: 'Returns a list of command names.', since: '7.0.0' }, commandList),
        command({ ...SERVER, name: 'command|help', arity: 2, flags: INTROSPECTION, summary: 'Returns helpful text about the different subcommands.', since: '5.0.0' }, helpReply([
          'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
          '(no subcommand)', '    Return details about all Redis commands.',
          'COUNT', '    Return the total number of commands in this Redis server.',
          'LIST', '    Return a list of all commands in this Redis server.',
          'INFO [<command-name> ...]', '    Return details about multiple Redis commands.',
          'DOCS [<command-name> ...]', '    Return documentation details about multiple Redis commands.',
          'HELP', '    Print this help.',
        ])),
      ],
    },
    commandAll,
  ),
  command({ ...SERVER, name: 'info', arity: -1, flags: INTROSPECTION, summary: 'Returns information and statistics about the server.', since: '1.0.0' }, info),
  command(
    {
      ...SERVER,
      name: 'config',
      arity: -2,
      flags: '',
      summary: 'A container for server configuration commands.',
      since: '2.0.0',
      subcommands: [
        command({ ...SERVER, name: 'config|get', arity: -3, flags: 'admin noscript loading stale', summary: 'Returns the effective values of configuration parameters.', since: '2.0.0' }, configGet),
        command({ ...SERVER, name: 'config|set', arity: -4, flags: 'admin noscript loading stale', summary: 'Sets configuration parameters in-flight.', since: '2.0.0' }, configSet),
        command({ ...SERVER, name: 'config|resetstat', arity: 2, flags: 'admin noscript loading stale', summary: 'Resets the server\'s statistics.', since: '2.0.0' }, configResetstat),
      ],
    },
    () => undefined,
  ),
  command({ ...SERVER, name: 'time', arity: 1, flags: 'loading stale fast', summary: 'Returns the server time.', since: '2.6.0' }, time),
];
