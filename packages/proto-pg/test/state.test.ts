// The state table on its own: its shape, its invariants, and the table printed in state.ts's
// header equal to the data.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PG_STATES, nextState } from '../src/index.js';
import type { PgInput, PgState } from '../src/index.js';

const STATES = Object.keys(PG_STATES) as PgState[];
const BACKEND_TYPES = 'RK23CdcGHWDIEVvnNAtS1sZT';

describe('PG_STATES', () => {
  it('every transition leads to a state of the table', () => {
    for (const state of STATES) for (const target of Object.values(PG_STATES[state].on)) expect(STATES).toContain(target);
  });

  it('closed and broken are terminal; every other state ends on end-of-stream, protocol-error and fatal', () => {
    expect(PG_STATES.closed.on).toEqual({});
    expect(PG_STATES.broken.on).toEqual({});
    for (const state of STATES.filter((s) => s !== 'closed' && s !== 'broken')) {
      expect(nextState(state, 'end-of-stream')).toBe('closed');
      expect(nextState(state, 'protocol-error')).toBe('broken');
      expect(nextState(state, 'fatal')).toBe('closing');
    }
  });

  it('accepted message letters are backend message types; nothing is accepted where no message may come', () => {
    for (const state of STATES) for (const letter of PG_STATES[state].accepts) expect(BACKEND_TYPES).toContain(letter);
    for (const state of ['initial', 'ssl-requested', 'ssl-answered', 'closed', 'broken'] as const) expect(PG_STATES[state].accepts).toBe('');
  });

  it('sending: startup only at the start, held during authentication, copy messages only in copy-in', () => {
    expect(STATES.filter((s) => PG_STATES[s].send === 'startup')).toEqual(['initial', 'ssl-answered']);
    expect(STATES.filter((s) => PG_STATES[s].send === 'held')).toEqual(['authenticating']);
    expect(STATES.filter((s) => PG_STATES[s].send === 'copy')).toEqual(['copy-in', 'copy-both']);
    for (const state of STATES) if (PG_STATES[state].send === 'queries') expect(nextState(state, 'send')).toBeDefined();
  });

  it('a transition not in the table is undefined', () => {
    expect(nextState('ready', 'copy-done')).toBeUndefined();
    expect(nextState('initial', 'auth-ok')).toBeUndefined();
  });

  it("the table in state.ts's header is the data", () => {
    const source = readFileSync(new URL('../src/state.ts', import.meta.url), 'utf8');
    const lines = source.split('\n').filter((line) => /^\/\/ \| [a-z-]+ \|/.test(line) && !line.includes('| state |') && !line.includes('| --- |'));
    expect(lines.map((line) => line.split('|')[1]?.trim())).toEqual(STATES);
    for (const line of lines) {
      const [, name, send, accepts, leaves] = line.split('|').map((cell) => cell.trim());
      const row = PG_STATES[name as PgState];
      expect(send).toBe(row.send);
      const letters = accepts === '(nothing)' || accepts === "the one-byte answer" ? '' : (accepts ?? '').replace(/ /g, '');
      expect([...letters].sort()).toEqual([...row.accepts].sort());
      for (const part of (leaves ?? '').split(',').map((p) => p.trim()).filter((p) => p.includes('→'))) {
        const [input, target] = part.split('→').map((p) => p.trim());
        expect(nextState(name as PgState, input as PgInput)).toBe(target);
      }
    }
  });
});
