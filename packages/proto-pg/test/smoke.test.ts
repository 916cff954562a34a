import { describe, expect, it } from 'vitest';
import { withPg } from './driver.js';

describe('smoke', () => {
  it('select 1', async () => {
    await withPg(async (pg) => {
      pg.conn.query('select 1 as one, null as two');
      pg.flush();
      const events = await pg.readies(1);
      expect(events.map((e) => e.type)).toEqual(['row-description', 'data-row', 'command-complete', 'ready']);
    });
  });
});
