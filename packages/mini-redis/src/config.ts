// config.ts
//
// The parameters CONFIG GET shows and CONFIG SET changes. The rule: CONFIG GET tells the truth,
// and CONFIG SET accepts a value only if mini-redis then does what it says.
//
// - Implemented (CONFIG SET takes effect, as in Redis): requirepass (AUTH and NOAUTH, see
//   commands/connection.ts), notify-keyspace-events (notify.ts), maxclients (new connections
//   beyond it are refused), timeout (idle clients are closed), hz (the periodic task's rate),
//   tcp-keepalive (TCP keepalive on new connections).
// - Fixed (what mini-redis does, and cannot change): save "" and appendonly no (no
//   persistence), maxmemory 0 and maxmemory-policy noeviction (no memory limit), databases,
//   proto-max-bulk-len, client-output-buffer-limit (the pubsub hard limit is enforced; there
//   are no soft limits), port. Setting one to the value it has is accepted (a no-op: it is
//   true); any other value is refused with Redis's error for a parameter that cannot change.
// - Anything else is an unknown parameter, refused with Redis's error for those.
//
// Invariants: values are checked with Redis's rules and error texts; a CONFIG SET of several
// parameters is checked whole before any is applied (all or nothing), with Redis's order of
// checks (unknown names and duplicates first, then values).

import { parseInt64 } from './binary.js';
import { formatEventFlags, parseEventFlags } from './notify.js';
import type { KeyspaceEvents } from './notify.js';

/** Settings that change what the server does; read by the code that does it. */
export interface Settings {
  /** The default user's password ('' : none, every client is authenticated). */
  requirepass: string;
  /** Most connected clients; a connection beyond is refused. */
  maxclients: number;
  /** Seconds after which an idle client is closed (0: never). */
  timeout: number;
  /** Runs per second of the periodic task (expiry, idle clients): 1 to 500. */
  hz: number;
  /** TCP keepalive interval for new connections, in seconds (0: off). */
  tcpKeepalive: number;
}

/** A CONFIG SET refused: the reply text. */
export class ConfigError extends Error {
  constructor(readonly reply: string) {
    super(reply);
    this.name = 'ConfigError';
  }
}

interface Parameter {
  /** Lower-case name. */
  readonly name: string;
  /** The value CONFIG GET shows. */
  get(): string;
  /** Check `value` (Redis's rules): a function applying it, or why it is refused. */
  check(value: string): (() => void) | string;
  /** Redis itself refuses to change it at runtime, even to the same value. */
  readonly immutable?: boolean;
}

const IMMUTABLE = "can't set immutable config";
const MAX_INT = 2147483647;
const DATABASES = 16;
const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;
/** What session.ts enforces: no limit for normal clients, a 32 MiB hard limit for subscribers. */
const OUTPUT_BUFFER_LIMITS = 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 0 0';

/** An integer parameter in [min, max], parsed as Redis parses numbers (string2ll). */
function integer(min: number, max: number, apply: (n: number) => void): (value: string) => (() => void) | string {
  return (value) => {
    const n = parseInt64(value);
    if (n === null) return "argument couldn't be parsed into an integer";
    if (n < min || n > max) return `argument must be between ${min} and ${max} inclusive`;
    return () => apply(Number(n));
  };
}

/** A memory amount as Redis reads it (memtoull: b, k, kb, m, mb, g, gb), or null. */
function memory(value: string): number | null {
  const match = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(value);
  if (match === null) return null;
  const unit = (match[2] ?? 'b').toLowerCase();
  const scale = { b: 1, k: 1000, kb: 1024, m: 1000 ** 2, mb: 1024 ** 2, g: 1000 ** 3, gb: 1024 ** 3 }[unit] as number;
  return Number(match[1]) * scale;
}

/** A parameter mini-redis cannot change: its value may only be set to what it is. */
function fixed(name: string, shown: string, same: (value: string) => boolean, immutable = false): Parameter {
  return {
    name,
    get: () => shown,
    check: (value) => (same(value) ? () => undefined : IMMUTABLE),
    immutable,
  };
}

const NOTIFY_FLAGS_ERROR = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/** The CONFIG parameters of one server. */
export class Config {
  readonly settings: Settings = { requirepass: '', maxclients: 10000, timeout: 0, hz: 10, tcpKeepalive: 300 };
  /** The TCP port, once listening. */
  port = 0;
  private readonly parameters: ReadonlyMap<string, Parameter>;

  constructor(events: KeyspaceEvents) {
    const settings = this.settings;
    const list: Parameter[] = [
      {
        name: 'requirepass',
        get: () => settings.requirepass,
        check: (value) => () => {
          settings.requirepass = value;
        },
      },
      {
        name: 'notify-keyspace-events',
        get: () => formatEventFlags(events.flags),
        check: (value) => {
          const flags = parseEventFlags(value);
          if (flags === null) return NOTIFY_FLAGS_ERROR;
          return () => {
            events.flags = flags;
          };
        },
      },
      { name: 'maxclients', get: () => String(settings.maxclients), check: integer(1, 4294967295, (n) => (settings.maxclients = n)) },
      { name: 'timeout', get: () => String(settings.timeout), check: integer(0, MAX_INT, (n) => (settings.timeout = n)) },
      // Redis keeps hz within 1..500 whatever is set.
      { name: 'hz', get: () => String(settings.hz), check: integer(0, MAX_INT, (n) => (settings.hz = Math.min(500, Math.max(1, n)))) },
      { name: 'tcp-keepalive', get: () => String(settings.tcpKeepalive), check: integer(0, MAX_INT, (n) => (settings.tcpKeepalive = n)) },
      fixed('save', '', (value) => value.trim() === ''),
      fixed('appendonly', 'no', (value) => value.toLowerCase() === 'no'),
      fixed('maxmemory', '0', (value) => memory(value) === 0),
      fixed('maxmemory-policy', 'noeviction', (value) => value.toLowerCase() === 'noeviction'),
      fixed('databases', String(DATABASES), () => false, true),
      fixed('proto-max-bulk-len', String(PROTO_MAX_BULK_LEN), (value) => memory(value) === PROTO_MAX_BULK_LEN),
      fixed('client-output-buffer-limit', OUTPUT_BUFFER_LIMITS, (value) => value.trim().toLowerCase().split(/\s+/).join(' ') === OUTPUT_BUFFER_LIMITS),
      { name: 'port', get: () => String(this.port), check: (value) => (value === String(this.port) ? () => undefined : IMMUTABLE) },
    ];
    this.parameters = new Map(list.map((parameter) => [parameter.name, parameter]));
  }

  /** Name and value of every parameter whose name `matches`, in table order. */
  *matching(matches: (name: string) => boolean): Iterable<readonly [string, string]> {
    for (const parameter of this.parameters.values()) if (matches(parameter.name)) yield [parameter.name, parameter.get()];
  }

  /** The value CONFIG GET shows for `name` (lower-case), undefined if there is no such parameter. */
  get(name: string): string | undefined {
    return this.parameters.get(name)?.get();
  }

  /**
   * CONFIG SET `pairs` (name, value, name, value...): all applied, or none and a ConfigError
   * with Redis's reply.
   */
  set(pairs: readonly string[]): void {
    // First pass, in argument order: unknown names, parameters that cannot change, duplicates.
    const chosen: Parameter[] = [];
    let unknown: string | null = null;
    let problem: { name: string; reason: string } | null = null;
    for (let i = 0; i < pairs.length; i += 2) {
      const given = pairs[i] as string;
      const parameter = this.parameters.get(given.toLowerCase());
      if (parameter === undefined) {
        if (unknown === null && problem === null) unknown = given;
        continue;
      }
      if (unknown !== null || problem !== null) continue;
      if (parameter.immutable === true) problem = { name: given, reason: IMMUTABLE };
      if (chosen.includes(parameter)) problem = { name: given, reason: 'duplicate parameter' };
      chosen.push(parameter);
    }
    if (unknown !== null) throw new ConfigError(`ERR Unknown option or number of arguments for CONFIG SET - '${unknown}'`);
    if (problem !== null) throw configSetFailed(problem.name, problem.reason);
    // Second pass: every value checked before any is applied.
    const apply: (() => void)[] = [];
    chosen.forEach((parameter, i) => {
      const checked = parameter.check(pairs[2 * i + 1] as string);
      if (typeof checked === 'string') throw configSetFailed(parameter.name, checked);
      apply.push(checked);
    });
    for (const step of apply) step();
  }
}

function configSetFailed(name: string, reason: string): ConfigError {
  return new ConfigError(`ERR CONFIG SET failed (possibly related to argument '${name}') - ${reason}`);
}
