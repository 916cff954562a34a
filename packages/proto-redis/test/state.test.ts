// The state tables on their own (state.ts knows nothing about bytes), the tables as the header
// of state.ts and docs/writing-a-protocol.md print them (they must be the data, cell for cell),
// and (state, input bytes or call) → (events, state) triples through both protocol objects.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_STATES,
  LocalProtocolError,
  NEED_DATA,
  PAUSED,
  RedisClientProtocol,
  RedisServerProtocol,
  RemoteProtocolError,
  SERVER_STATES,
  TRANSACTION_STATES,
  nextState,
} from '@curio-ts/proto-redis';
import type { RedisClientEvent, RespVersion, StateTable } from '@curio-ts/proto-redis';
import { events, thrown } from './helpers.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const EOF = new Uint8Array(0);

type AnyTable = StateTable<string, string, string>;
const TABLES: [string, AnyTable][] = [
  ['CLIENT_STATES', CLIENT_STATES],
  ['TRANSACTION_STATES', TRANSACTION_STATES],
  ['SERVER_STATES', SERVER_STATES],
];

/** The inputs of a table, in the order they first appear. */
function inputsOf(table: AnyTable): string[] {
  const inputs: string[] = [];
  for (const row of Object.values(table)) for (const input of Object.keys(row.on)) if (!inputs.includes(input)) inputs.push(input);
  return inputs;
}

/** A table as the Markdown the guide and the header of state.ts show. */
function render(table: AnyTable): string[] {
  const inputs = inputsOf(table);
  const lines = [`| state | mode | may send | ${inputs.join(' | ')} |`, `|${' --- |'.repeat(3 + inputs.length)}`];
  for (const [state, row] of Object.entries(table)) {
    const cells = inputs.map((input) => (row.on as Record<string, string | undefined>)[input] ?? '—');
    lines.push(`| ${state} | ${row.mode} | ${row.maySend ? 'yes' : 'no'} | ${cells.join(' | ')} |`);
  }
  return lines;
}

describe('the state tables alone', () => {
  it.each(TABLES)('%s: every transition leads to a state of the table', (_name, table) => {
    const states = Object.keys(table);
    for (const row of Object.values(table)) for (const target of Object.values(row.on)) expect(states).toContain(target);
  });

  it.each(TABLES)('%s: every state is reachable from the first', (_name, table) => {
    const states = Object.keys(table);
    const seen = new Set([states[0] as string]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const state of [...seen]) {
        for (const target of Object.values((table[state] as AnyTable[string]).on)) {
          if (!seen.has(target as string)) {
            seen.add(target as string);
            grew = true;
          }
        }
      }
    }
    expect([...seen].sort()).toEqual([...states].sort());
  });

  it('closed and error are terminal, reached from every other state by the end of the stream or a protocol error', () => {
    for (const table of [CLIENT_STATES, SERVER_STATES] as AnyTable[]) {
      expect(table.closed?.on).toEqual({});
      expect(table.error?.on).toEqual({});
      for (const [state, row] of Object.entries(table)) {
        if (state === 'closed' || state === 'error') continue;
        expect(row.on['protocol-error']).toBe('error');
      }
    }
    // The end of the stream is reported only where commands are delivered: a blocked server reports it once unblocked.
    expect(nextState(SERVER_STATES, 'reading', 'end-of-stream')).toBe('closed');
    expect(nextState(SERVER_STATES, 'blocked', 'end-of-stream')).toBeUndefined();
    for (const state of ['normal', 'subscribed', 'monitoring'] as const) expect(nextState(CLIENT_STATES, state, 'end-of-stream')).toBe('closed');
  });

  it('the transitions that matter, spelled out', () => {
    expect(nextState(CLIENT_STATES, 'normal', 'subscribed')).toBe('subscribed');
    expect(nextState(CLIENT_STATES, 'subscribed', 'unsubscribed-all')).toBe('normal');
    expect(nextState(CLIENT_STATES, 'normal', 'monitor-ok')).toBe('monitoring');
    expect(nextState(CLIENT_STATES, 'monitoring', 'subscribed')).toBe('monitoring');
    expect(nextState(CLIENT_STATES, 'monitoring', 'reset-ok')).toBe('normal');
    expect(nextState(CLIENT_STATES, 'closed', 'reset-ok')).toBeUndefined();
    expect(nextState(TRANSACTION_STATES, 'idle', 'multi')).toBe('open');
    expect(nextState(TRANSACTION_STATES, 'open', 'exec')).toBe('idle');
    expect(nextState(SERVER_STATES, 'reading', 'block')).toBe('blocked');
    expect(nextState(SERVER_STATES, 'blocked', 'block')).toBeUndefined();
    expect(nextState(SERVER_STATES, 'blocked', 'unblock')).toBe('reading');
    expect(nextState(SERVER_STATES, 'reading', 'unblock')).toBeUndefined();
  });

  it('what each state means: modes and whether output may be queued', () => {
    expect(Object.fromEntries(Object.entries(CLIENT_STATES).map(([s, r]) => [s, [r.mode, r.maySend]]))).toEqual({
      normal: ['replies', true],
      subscribed: ['replies-and-messages', true],
      monitoring: ['monitor-lines', true],
      closed: ['nothing', false],
      error: ['nothing', false],
    });
    // A server answers after the client's end of stream and after a protocol error.
    expect(Object.values(SERVER_STATES).every((row) => row.maySend)).toBe(true);
  });
});

describe('the tables as the documents show them', () => {
  const header = readFileSync(new URL('../src/state.ts', import.meta.url), 'utf8');
  const guide = readFileSync(new URL('../../../docs/writing-a-protocol.md', import.meta.url), 'utf8');
  it.each(TABLES)('%s is printed in the header of state.ts and in docs/writing-a-protocol.md, cell for cell', (_name, table) => {
    const lines = render(table);
    expect(header).toContain(lines.map((line) => `// ${line}`).join('\n'));
    expect(guide).toContain(lines.join('\n'));
  });
});

// -------------------------------------------------------------------------------------------
// (state, input, bytes) → (events, state), client role

/** A client brought into a state with real replies, in RESP `version`. */
function clientIn(state: 'normal' | 'subscribed' | 'monitoring', version: RespVersion): RedisClientProtocol {
  const client = new RedisClientProtocol();
  if (version === 3) {
    client.send(['HELLO', '3']);
    client.receiveData(bytes('%1\r\n$5\r\nproto\r\n:3\r\n'));
  }
  if (state === 'subscribed') {
    client.send(['SUBSCRIBE', 'ch']);
    client.receiveData(bytes(`${version === 3 ? '>' : '*'}3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n`));
  }
  if (state === 'monitoring') {
    client.send(['MONITOR']);
    client.receiveData(bytes('+OK\r\n'));
  }
  events(client);
  expect(client.state).toBe(state);
  return client;
}

interface ClientCase {
  readonly state: 'normal' | 'subscribed' | 'monitoring';
  readonly version: RespVersion;
  /** Commands sent before the bytes arrive. */
  readonly send: readonly (readonly string[])[];
  readonly receive: string;
  /** The events' types, with the push kind or reply value where it tells the case apart. */
  readonly events: readonly string[];
  readonly then: string;
}

const MESSAGE = '*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n';
const CLIENT_CASES: ClientCase[] = [
  { state: 'normal', version: 2, send: [['LRANGE', 'l', '0', '-1']], receive: MESSAGE, events: ['reply message,ch,hi'], then: 'normal' },
  { state: 'subscribed', version: 2, send: [], receive: MESSAGE, events: ['push message'], then: 'subscribed' },
  { state: 'subscribed', version: 3, send: [['LRANGE', 'l', '0', '-1']], receive: MESSAGE, events: ['reply message,ch,hi'], then: 'subscribed' },
  { state: 'subscribed', version: 2, send: [['UNSUBSCRIBE', 'ch']], receive: '*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n', events: ['reply unsubscribe,ch,0'], then: 'normal' },
  { state: 'normal', version: 2, send: [['MONITOR']], receive: '+OK\r\n+1 [0 x] "get" "k"\r\n', events: ['reply OK', 'push monitor'], then: 'monitoring' },
  { state: 'normal', version: 2, send: [['MONITOR']], receive: '-ERR not allowed\r\n', events: ['reply ERR not allowed'], then: 'normal' },
  { state: 'monitoring', version: 2, send: [], receive: '+1 [0 x] "set" "k" "v"\r\n', events: ['push monitor'], then: 'monitoring' },
  { state: 'monitoring', version: 2, send: [['RESET']], receive: '+1 [0 x] "ping"\r\n+RESET\r\n', events: ['push monitor', 'reply RESET'], then: 'normal' },
  { state: 'subscribed', version: 3, send: [['RESET']], receive: '+RESET\r\n', events: ['reply RESET'], then: 'normal' },
];

function describeEvent(event: RedisClientEvent): string {
  if (event.type === 'push') return `push ${event.push.kind}`;
  if (event.type === 'reply') return `reply ${String(event.value)}`;
  return event.type;
}

describe('client role: (state, bytes) → (events, state)', () => {
  it.each(CLIENT_CASES.map((c) => [`${c.state} RESP${c.version} + ${JSON.stringify(c.receive)}`, c] as const))('%s', (_name, c) => {
    const client = clientIn(c.state, c.version);
    for (const args of c.send) client.send(args);
    client.receiveData(bytes(c.receive));
    expect(events(client).map(describeEvent)).toEqual(c.events);
    expect(client.state).toBe(c.then);
  });

  it.each(['normal', 'subscribed', 'monitoring'] as const)('%s + end of stream → closed (repeated); + garbage → error (rethrown)', (state) => {
    const ended = clientIn(state, 2);
    ended.receiveData(EOF);
    expect(events(ended)).toEqual([{ type: 'closed', unanswered: [] }]);
    expect(ended.state).toBe('closed');
    expect(ended.nextEvent()).toEqual({ type: 'closed', unanswered: [] });

    const broken = clientIn(state, 3);
    broken.receiveData(bytes('?\r\n'));
    const error = thrown(() => broken.nextEvent());
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect(broken.state).toBe('error');
    expect(() => broken.nextEvent()).toThrow(error as Error);
  });

  it('the send side: MULTI opens a transaction, EXEC / DISCARD / RESET close it, as sent', () => {
    const client = new RedisClientProtocol();
    const seen: boolean[] = [];
    for (const command of ['MULTI', 'SET', 'MULTI', 'EXEC', 'EXEC', 'MULTI', 'DISCARD', 'MULTI', 'RESET']) {
      client.send([command]);
      seen.push(client.inTransaction);
    }
    expect(seen).toEqual([true, true, true, false, false, true, false, true, false]);
  });
});

// -------------------------------------------------------------------------------------------
// (state, call or bytes) → (events, state), server role

/** Names of the commands nextEvent gives up to NEED_DATA, PAUSED or 'closed' (and which stopped it). */
function drainServer(server: RedisServerProtocol): string[] {
  const out: string[] = [];
  for (;;) {
    const e = server.nextEvent();
    if (e === NEED_DATA) return [...out, 'NEED_DATA'];
    if (e === PAUSED) return [...out, 'PAUSED'];
    if (e.type === 'closed') return [...out, `closed(${e.unanswered})`];
    out.push(e.name);
  }
}

describe('server role: (state, input) → (events, state)', () => {
  it('reading: commands, then NEED_DATA; blocked: PAUSED, bytes still accepted; unblocked: the rest', () => {
    const server = new RedisServerProtocol();
    server.receiveData(bytes('BLPOP q 0\r\nGET k\r\n'));
    expect(server.nextEvent()).toMatchObject({ type: 'command', name: 'BLPOP' });
    server.block();
    expect(server.state).toBe('blocked');
    expect(drainServer(server)).toEqual(['PAUSED']);
    server.receiveData(bytes('PING\r\n'));
    expect(drainServer(server)).toEqual(['PAUSED']);
    server.unblock();
    expect(server.state).toBe('reading');
    expect(drainServer(server)).toEqual(['GET', 'PING', 'NEED_DATA']);
  });

  it('the end of the stream while blocked is reported after unblock, after the commands before it', () => {
    const server = new RedisServerProtocol();
    server.receiveData(bytes('BLPOP q 0\r\nGET k\r\n'));
    expect(server.nextEvent()).toMatchObject({ name: 'BLPOP' });
    server.block();
    server.receiveData(EOF);
    expect(server.inputEnded).toBe(true);
    expect(server.wantsData).toBe(false);
    expect(drainServer(server)).toEqual(['PAUSED']);
    server.answered();
    server.unblock();
    expect(drainServer(server)).toEqual(['GET', 'closed(1)']);
    expect(server.state).toBe('closed');
    expect(server.nextEvent()).toEqual({ type: 'closed', unanswered: 1 });
    expect(() => server.receiveData(bytes('PING\r\n'))).toThrowError(expect.objectContaining({ code: 'ERR_AFTER_EOF' }));
    server.sendStatus('OK'); // a server still answers a client that only half-closed
    expect(server.dataToSend()).toEqual(bytes('+OK\r\n'));
  });

  it('maxUnanswered: PAUSED once that many commands are unanswered, until answered()', () => {
    const server = new RedisServerProtocol({ maxUnanswered: 2 });
    server.receiveData(bytes('A\r\nB\r\nC\r\nD\r\n'));
    expect(drainServer(server)).toEqual(['A', 'B', 'PAUSED']);
    expect(server.unanswered).toBe(2);
    server.answered();
    expect(drainServer(server)).toEqual(['C', 'PAUSED']);
    server.answered(2);
    expect(drainServer(server)).toEqual(['D', 'NEED_DATA']);
    server.receiveData(EOF);
    expect(drainServer(server)).toEqual(['closed(1)']);
  });

  it('wantsData: while reading always; while paused until pausedReadAhead bytes are held; never after the end', () => {
    const server = new RedisServerProtocol({ pausedReadAhead: 10 });
    server.receiveData(bytes('BLPOP q 0\r\n'));
    expect(server.wantsData).toBe(true);
    server.nextEvent();
    server.block();
    expect(server.wantsData).toBe(true);
    server.receiveData(bytes('PING\r\n'));
    expect(server.wantsData).toBe(true); // 6 bytes held
    server.receiveData(bytes('PING\r\n'));
    expect(server.wantsData).toBe(false); // 12 bytes held
    server.unblock();
    expect(server.wantsData).toBe(true);
  });

  it('calls the table does not allow are LocalProtocolErrors and change nothing', () => {
    const server = new RedisServerProtocol();
    expect(() => server.unblock()).toThrowError(expect.objectContaining({ code: 'ERR_STATE' }));
    server.block();
    expect(() => server.block()).toThrowError(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(server.state).toBe('blocked');
    expect(() => server.answered()).toThrowError(expect.objectContaining({ code: 'ERR_NOT_DELIVERED' }));
    expect(() => server.answered()).toThrow(LocalProtocolError);
    expect(() => server.setProtocol(4 as RespVersion)).toThrow(LocalProtocolError);
  });

  it.each(['reading', 'blocked'] as const)('%s + bytes over the query buffer limit → error, thrown by nextEvent and again after', (state) => {
    const server = new RedisServerProtocol({ maxBufferedBytes: 16 });
    if (state === 'blocked') server.block();
    server.receiveData(bytes('*1\r\n$30\r\n'));
    server.receiveData(bytes('x'.repeat(30)));
    expect(server.state).toBe('error');
    expect(() => server.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_BUFFER_LIMIT' }));
    expect(() => server.receiveData(bytes('PING\r\n'))).toThrowError(expect.objectContaining({ code: 'ERR_BUFFER_LIMIT' }));
    expect(() => server.block()).toThrow(LocalProtocolError);
    server.sendError('ERR Protocol error: too big'); // the last word before closing
    expect(server.dataToSend()).toEqual(bytes('-ERR Protocol error: too big\r\n'));
  });

  it('reading + a stream cut inside a command → ERR_TRUNCATED at the end, error state', () => {
    const server = new RedisServerProtocol();
    server.receiveData(bytes('PING\r\n*2\r\n$3\r\nGET\r\n'));
    server.receiveData(EOF);
    expect(server.nextEvent()).toMatchObject({ name: 'PING' });
    expect(() => server.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
    expect(server.state).toBe('error');
    expect(() => server.nextEvent()).toThrowError(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
  });
});
