// Real Redis tools against mini-redis running in a kernel of this process: redis-cli (RESP2,
// RESP3, commands piped on stdin, --pipe mass insertion), inline commands typed over nc, and
// redis-benchmark, which must report a positive rate for every test it runs.

import { describe, expect, it } from 'vitest';
import { encode, exchange, hasProgram, redisCli, runProgram, useTestServer } from './helpers.js';

const ncPresent = await hasProgram('nc');
const server = useTestServer();

describe('redis-cli', () => {
  it('runs SET, GET, INCR, LPUSH, HGETALL and TTL', async () => {
    const cli = (...args: string[]): Promise<string> => redisCli(server().port, ['--no-raw', ...args]);
    expect(await cli('SET', 'cli:s', 'hello world')).toBe('OK\n');
    expect(await cli('GET', 'cli:s')).toBe('"hello world"\n');
    expect(await cli('GET', 'cli:missing')).toBe('(nil)\n');
    expect(await cli('INCR', 'cli:n')).toBe('(integer) 1\n');
    expect(await cli('INCRBY', 'cli:n', '41')).toBe('(integer) 42\n');
    expect(await cli('INCR', 'cli:s')).toBe('(error) ERR value is not an integer or out of range\n');
    expect(await cli('LPUSH', 'cli:l', 'a', 'b', 'c')).toBe('(integer) 3\n');
    expect(await cli('LRANGE', 'cli:l', '0', '-1')).toBe('1) "c"\n2) "b"\n3) "a"\n');
    expect(await cli('HSET', 'cli:h', 'f1', 'v1', 'f2', 'v2')).toBe('(integer) 2\n');
    expect(await cli('HGETALL', 'cli:h')).toBe('1) "f1"\n2) "v1"\n3) "f2"\n4) "v2"\n');
    expect(await cli('TTL', 'cli:s')).toBe('(integer) -1\n');
    expect(await cli('EXPIRE', 'cli:s', '100')).toBe('(integer) 1\n');
    expect(await cli('TTL', 'cli:s')).toBe('(integer) 100\n');
    expect(await cli('TTL', 'cli:missing')).toBe('(integer) -2\n');
    expect(await cli('HGET', 'cli:l', 'f')).toBe('(error) WRONGTYPE Operation against a key holding the wrong kind of value\n');
    expect(await cli('NOSUCH', 'x')).toBe("(error) ERR unknown command 'NOSUCH', with args beginning with: 'x' \n");
  });

  it('speaks RESP3 with -3: maps, sets, nulls and integers arrive typed', async () => {
    const cli = (...args: string[]): Promise<string> => redisCli(server().port, ['--no-raw', '-3', ...args]);
    await cli('HSET', 'cli3:h', 'f', 'v', 'g', 'w');
    expect(await cli('HGETALL', 'cli3:h')).toBe('1# "f" => "v"\n2# "g" => "w"\n');
    await cli('SADD', 'cli3:s', 'm');
    expect(await cli('SMEMBERS', 'cli3:s')).toBe('1~ "m"\n');
    expect(await cli('GET', 'cli3:missing')).toBe('(nil)\n');
    expect(await cli('HELLO', '3')).toContain('"proto" => (integer) 3');
    expect(await cli('CLIENT', 'INFO')).toContain('resp=3');
    expect(await cli('INCRBYFLOAT', 'cli3:f', '0.1')).toBe('"0.1"\n');
    expect(await cli('INCRBYFLOAT', 'cli3:f', '0.2')).toBe('"0.3"\n');
  });

  it('runs commands piped on stdin, in order, on one connection', async () => {
    const out = await redisCli(server().port, [], 'SET pipe:a 1\nINCR pipe:a\nINCR pipe:a\nGET pipe:a\nCLIENT SETNAME piped\nCLIENT GETNAME\n');
    expect(out).toBe('OK\n2\n3\n3\nOK\npiped\n');
  });

  it('takes a mass insertion with --pipe (10 000 commands)', async () => {
    const n = 10_000;
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) parts.push(encode('SET', `mass:${i}`, `value ${i}`));
    const out = await redisCli(server().port, ['--pipe'], Buffer.concat(parts).toString('latin1'));
    expect(out).toContain('errors: 0, replies: 10000');
    expect(await redisCli(server().port, ['GET', 'mass:9999'])).toBe('value 9999\n');
    expect(await redisCli(server().port, ['SCAN', '0', 'MATCH', 'mass:1234', 'COUNT', '100000'])).toBe('0\nmass:1234\n');
  });
});

describe('inline commands', () => {
  const script = 'PING\r\nSET inline:k "hello world"\r\nGET inline:k\r\nECHO "a\\x41\\tb"\r\n\r\nINCR inline:n\r\nQUIT\r\n';
  const expected = '+PONG\r\n+OK\r\n$11\r\nhello world\r\n$4\r\naA\tb\r\n:1\r\n+OK\r\n';

  it('are understood over a raw socket, as telnet sends them', async () => {
    const { data, closedByServer } = await exchange(server().port, Buffer.from(script));
    expect(data.toString('latin1')).toBe(expected);
    expect(closedByServer).toBe(true);
  });

  // nc where the machine has it (the raw-socket case above needs nothing).
  if (ncPresent) {
    it('are understood from nc', async () => {
      const result = await runProgram('nc', ['127.0.0.1', String(server().port)], script.replace('INCR inline:n', 'INCR inline:m'));
      expect(result.stdout).toBe(expected);
    });
  }
});

describe('redis-benchmark', () => {
  it('completes set, get, incr, lpush, lpop with -P 16, each with a positive rate', async () => {
    const result = await runProgram(
      'redis-benchmark',
      ['-p', String(server().port), '-t', 'set,get,incr,lpush,lpop', '-n', '20000', '-P', '16', '-q'],
      undefined,
      120_000,
    );
    expect(result.code).toBe(0);
    const rates = parseBenchmark(result.stdout);
    expect([...rates.keys()]).toEqual(['SET', 'GET', 'INCR', 'LPUSH', 'LPOP']);
    for (const [test, rate] of rates) expect(rate, test).toBeGreaterThan(0);
  }, 120_000);
});

/** `TEST: 123.45 requests per second` lines of redis-benchmark -q (progress lines end in \r). */
function parseBenchmark(output: string): Map<string, number> {
  const rates = new Map<string, number>();
  for (const line of output.split(/[\r\n]+/)) {
    const match = /^\s*([A-Z_]+)[^:]*: ([\d.]+) requests per second/.exec(line);
    if (match !== null) rates.set(match[1] as string, Number(match[2]));
  }
  return rates;
}
