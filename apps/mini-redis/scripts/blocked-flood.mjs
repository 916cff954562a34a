// blocked-flood.mjs: what a client blocked in BLPOP that floods the server with commands costs
// mini-redis (or any server given with --port).
//
//   node apps/mini-redis/scripts/blocked-flood.mjs [--mib 64] [--value 1024] [--stall-ms 3000]
//        [--main path/to/main.js | --port P]
//
// Without --port it starts apps/mini-redis/dist/main.js (build it first) on a free port and
// reads its CPU time from /proc. Client A sends BLPOP, then floods --mib MiB of SET commands;
// meanwhile client B sends PING every 20 ms. After a pause (or once every byte was accepted) a
// third client pushes to the list, which unblocks A; the script waits for every reply of A.
// Prints the server's CPU seconds (while blocked / in total), the slowest PING, and how many
// bytes the server had read (from /proc/PID/io; all clients) while A was blocked.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const MIB = option('mib', 64);
const VALUE = option('value', 1024);
const STALL_MS = option('stall-ms', 3000);
let port = option('port', 0);

const MAIN = args.includes('--main') ? args[args.indexOf('--main') + 1] : fileURLToPath(new URL('../dist/main.js', import.meta.url));
const TICKS = 100; // USER_HZ

function cpuSeconds(pid) {
  if (pid === null) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
}

function bytesRead(pid) {
  if (pid === null) return NaN;
  const line = readFileSync(`/proc/${pid}/io`, 'latin1').split('\n').find((l) => l.startsWith('rchar:'));
  return Number(line.slice(6));
}

function encode(...parts) {
  const out = [`*${parts.length}\r\n`];
  for (const part of parts) out.push(`$${Buffer.byteLength(part)}\r\n${part}\r\n`);
  return out.join('');
}

function connect() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Count complete top-level replies (simple: every reply here is one line or a 2-element array). */
function replyCounter(socket) {
  let text = '';
  let count = 0;
  const waiters = [];
  socket.on('data', (chunk) => {
    text += chunk.toString('latin1');
    for (;;) {
      const m = /^(?:[+\-:][^\r\n]*\r\n|\*2\r\n\$\d+\r\n[^\r\n]*\r\n\$\d+\r\n[^\r\n]*\r\n|\*-1\r\n)/.exec(text);
      if (m === null) break;
      text = text.slice(m[0].length);
      count++;
    }
    while (waiters.length > 0 && waiters[0].n <= count) waiters.shift().resolve();
  });
  return { get count() { return count; }, until: (n) => (n <= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))) };
}

let child = null;
if (port === 0) {
  child = spawn(process.execPath, [MAIN, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on [^:]+:(\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error('mini-redis exited')));
  });
}
const pid = child?.pid ?? null;

const a = await connect();
const b = await connect();
const aReplies = replyCounter(a);
const bReplies = replyCounter(b);
a.write(encode('BLPOP', 'flood:q', '0'));
await new Promise((r) => setTimeout(r, 200));

let worstPing = 0;
let pings = 0;
let pinging = true;
const pinger = (async () => {
  while (pinging) {
    const start = performance.now();
    b.write(encode('PING'));
    await bReplies.until(++pings);
    worstPing = Math.max(worstPing, performance.now() - start);
    await new Promise((r) => setTimeout(r, 20));
  }
})();

const value = 'x'.repeat(VALUE);
const one = Buffer.from(encode('SET', 'flood:k', value));
const perBatch = Math.max(1, Math.floor((1 << 20) / one.length));
const batch = Buffer.concat(Array.from({ length: perBatch }, () => one));
const batches = Math.ceil((MIB * (1 << 20)) / batch.length);
const commands = batches * perBatch;
const cpu0 = cpuSeconds(pid);
const read0 = bytesRead(pid);
const t0 = performance.now();
for (let i = 0; i < batches; i++) a.write(batch);
// Wait until A's bytes are all accepted by the server, or the server stops reading for
// STALL_MS. Progress is what the server read (/proc/PID/io) when it is our child: Node hands
// all of A's pending writes to the OS as one, so A's writableLength moves only at the end.
// (B's PINGs count too: less than 64 KiB read in STALL_MS is a stall.)
const progress = () => (pid === null ? -a.writableLength : bytesRead(pid));
let mark = progress();
let stalledSince = performance.now();
while (a.writableLength > 0) {
  await new Promise((r) => setTimeout(r, 50));
  if (progress() - mark >= 64 * 1024) {
    mark = progress();
    stalledSince = performance.now();
  } else if (performance.now() - stalledSince > STALL_MS) break;
}
const acceptedWhileBlocked = child === null ? batches * batch.length - a.writableLength : bytesRead(pid) - read0;
const cpuBlocked = cpuSeconds(pid) - cpu0;
const blockedWall = performance.now() - t0;
const c = await connect();
c.write(encode('RPUSH', 'flood:q', 'go'));
await aReplies.until(1 + commands);
const cpuTotal = cpuSeconds(pid) - cpu0;
const totalWall = performance.now() - t0;
pinging = false;
await pinger;
for (const s of [a, b, c]) s.destroy();
child?.kill('SIGTERM');

const mib = (n) => (n / (1 << 20)).toFixed(1);
console.log(
  `flood ${mib(batches * batch.length)} MiB (${commands} SET of ${VALUE} B) from a blocked client:\n` +
    `  accepted while blocked: ${mib(acceptedWhileBlocked)} MiB in ${(blockedWall / 1000).toFixed(1)} s, server CPU ${cpuBlocked.toFixed(2)} s\n` +
    `  all ${commands} replies after unblocking: ${(totalWall / 1000).toFixed(1)} s, server CPU ${cpuTotal.toFixed(2)} s\n` +
    `  other client's PING: ${pings} sent, slowest ${worstPing.toFixed(0)} ms`,
);
