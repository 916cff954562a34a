import { describe, expect, it } from 'vitest';
import { CLIENT_STATES, EndOfMessage, HttpConnection, Request, Response, SERVER_STATES, nextState } from '../src/index.js';
import type { HttpState, Role, StateInput } from '../src/index.js';

const STATES: HttpState[] = ['IDLE', 'SEND_RESPONSE', 'SEND_BODY', 'DONE', 'MUST_CLOSE', 'CLOSED', 'MIGHT_SWITCH_PROTOCOL', 'SWITCHED_PROTOCOL', 'ERROR'];

describe('the state table on its own', () => {
  it('every state of both roles can go to ERROR, and ERROR and SWITCHED_PROTOCOL lead nowhere else', () => {
    for (const table of [CLIENT_STATES, SERVER_STATES]) {
      for (const state of STATES) expect(table[state]['protocol-error']).toBe('ERROR');
      expect(Object.values(table.ERROR)).toEqual(['ERROR']);
      expect(Object.values(table.SWITCHED_PROTOCOL)).toEqual(['ERROR']);
    }
  });

  it('the cycle of each role, as rows', () => {
    const walk = (role: Role, inputs: StateInput[]): (HttpState | null)[] => {
      let state: HttpState | null = 'IDLE';
      const seen: (HttpState | null)[] = [];
      for (const input of inputs) {
        state = state === null ? null : nextState(role, state, input);
        seen.push(state);
      }
      return seen;
    };
    expect(walk('client', ['Request', 'Data', 'EndOfMessage', 'next-cycle'])).toEqual(['SEND_BODY', 'SEND_BODY', 'DONE', 'IDLE']);
    expect(walk('server', ['peer-request', 'InformationalResponse', 'Response', 'Data', 'EndOfMessage', 'keep-alive-off', 'ConnectionClosed'])).toEqual([
      'SEND_RESPONSE',
      'SEND_RESPONSE',
      'SEND_BODY',
      'SEND_BODY',
      'DONE',
      'MUST_CLOSE',
      'CLOSED',
    ]);
    expect(walk('client', ['Request', 'EndOfMessage', 'propose-switch', 'refuse-switch', 'next-cycle'])).toEqual(['SEND_BODY', 'DONE', 'MIGHT_SWITCH_PROTOCOL', 'DONE', 'IDLE']);
    expect(walk('server', ['peer-request', 'accept-switch'])).toEqual(['SEND_RESPONSE', 'SWITCHED_PROTOCOL']);
    // Forbidden: a body before a head, a response from a client, a second cycle from MUST_CLOSE.
    expect(nextState('client', 'IDLE', 'Data')).toBe(null);
    expect(nextState('client', 'IDLE', 'Response')).toBe(null);
    expect(nextState('server', 'MUST_CLOSE', 'next-cycle')).toBe(null);
    expect(nextState('server', 'SEND_BODY', 'Response')).toBe(null);
  });

  it('nextState answers what the table says for every state and input of both roles (null where it says nothing)', () => {
    const inputs = [...new Set([CLIENT_STATES, SERVER_STATES].flatMap((table) => Object.values(table).flatMap((row) => Object.keys(row))))] as StateInput[];
    expect(inputs.length).toBeGreaterThan(10);
    for (const [role, table] of [['client', CLIENT_STATES], ['server', SERVER_STATES]] as const) {
      for (const state of STATES) {
        for (const input of inputs) expect(nextState(role, state, input)).toBe(table[state][input] ?? null);
      }
    }
  });
});

describe('(state, event, bytes) cases', () => {
  const bytes = (text: string): string => text;
  const cases: { name: string; role: Role; before: (c: HttpConnection) => void; event: Request | Response | EndOfMessage; out: string; ours: HttpState }[] = [
    { name: 'client IDLE, GET', role: 'client', before: () => {}, event: new Request('GET', '/x', [['Host', 'a']]), out: bytes('GET /x HTTP/1.1\r\nHost: a\r\n\r\n'), ours: 'SEND_BODY' },
    {
      name: 'client SEND_BODY, end of a GET',
      role: 'client',
      before: (c) => c.send(new Request('GET', '/x', [['Host', 'a']])),
      event: new EndOfMessage(),
      out: '',
      ours: 'DONE',
    },
    {
      name: 'client SEND_BODY, end of a GET with Connection: close',
      role: 'client',
      before: (c) => c.send(new Request('GET', '/x', [['Host', 'a'], ['Connection', 'close']])),
      event: new EndOfMessage(),
      out: '',
      ours: 'MUST_CLOSE',
    },
    {
      name: 'server IDLE, a 400 for a request it could not read',
      role: 'server',
      before: () => {},
      event: new Response(400, [['Content-Length', '0'], ['Connection', 'close']]),
      out: 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      ours: 'SEND_BODY',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const conn = new HttpConnection(c.role);
      c.before(conn);
      const out = conn.send(c.event);
      expect(out === null ? '' : Buffer.from(out).toString('latin1')).toBe(c.out);
      expect(conn.ourState).toBe(c.ours);
      conn.destroy();
    });
  }
});

describe('the tables, printed', () => {
  /** One line per state: its inputs and where each leads (ERROR rows left out). */
  const print = (role: Role): string =>
    STATES.map((state) => {
      const row = Object.entries(role === 'client' ? CLIENT_STATES[state] : SERVER_STATES[state]).filter(([input]) => input !== 'protocol-error');
      return `${state}: ${row.map(([input, next]) => `${input}→${next}`).join(', ')}`;
    }).join('\n');

  it('both sides (pipeline-request: client DONE → SEND_BODY; next-response: server DONE → SEND_RESPONSE, for a pipelining client)', () => {
    expect(`${print('client')}\n--\n${print('server')}`).toBe(`IDLE: Request→SEND_BODY, ConnectionClosed→CLOSED
SEND_RESPONSE: 
SEND_BODY: Data→SEND_BODY, EndOfMessage→DONE
DONE: propose-switch→MIGHT_SWITCH_PROTOCOL, keep-alive-off→MUST_CLOSE, next-cycle→IDLE, pipeline-request→SEND_BODY, ConnectionClosed→CLOSED
MUST_CLOSE: keep-alive-off→MUST_CLOSE, ConnectionClosed→CLOSED
CLOSED: ConnectionClosed→CLOSED, keep-alive-off→CLOSED
MIGHT_SWITCH_PROTOCOL: accept-switch→SWITCHED_PROTOCOL, refuse-switch→DONE
SWITCHED_PROTOCOL: 
ERROR: 
--
IDLE: peer-request→SEND_RESPONSE, Response→SEND_BODY, ConnectionClosed→CLOSED
SEND_RESPONSE: InformationalResponse→SEND_RESPONSE, Response→SEND_BODY, accept-switch→SWITCHED_PROTOCOL
SEND_BODY: Data→SEND_BODY, EndOfMessage→DONE
DONE: keep-alive-off→MUST_CLOSE, next-cycle→IDLE, next-response→SEND_RESPONSE, ConnectionClosed→CLOSED
MUST_CLOSE: keep-alive-off→MUST_CLOSE, ConnectionClosed→CLOSED
CLOSED: ConnectionClosed→CLOSED, keep-alive-off→CLOSED
MIGHT_SWITCH_PROTOCOL: 
SWITCHED_PROTOCOL: 
ERROR: `);
  });
});
