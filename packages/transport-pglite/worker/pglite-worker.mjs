// transport-pglite/worker/pglite-worker.mjs: the far end of the PGlite transport.
//
// One PGlite instance in this worker thread, so that a running query (pg_sleep, a 10^6-row
// scan) blocks this thread, never the application's event loop.
//
// The channel is a SharedArrayBuffer (workerData.shared) laid out by channel.mjs: a request ring
// (main thread -> here) and a reply ring (here -> main thread), each of whole records. This
// thread never returns to its event loop while it serves: it spins a little (adaptively, see
// channel.mjs awaitRequest), then blocks in Atomics.wait for the next request record, runs the bytes through PGlite synchronously, and writes the answer
// into the reply ring, waking the main thread with Atomics.notify (it waits with
// Atomics.waitAsync). No message is posted per query: the per-query cost is two atomic stores
// and a notify each way.
//
// Requests: EXEC_PART records (pieces of a request larger than a record) then one EXEC record
// (the rest; flags: syncToFs), or CLOSE. Replies: DATA records (every 256 KiB, so a big
// result streams while it is produced; the ring's capacity is the backpressure: when it is full,
// this thread waits for the main thread to take records), then DONE, or FAILED with the error's
// message (PGlite itself broke: the instance is unusable afterwards), and CLOSED after CLOSE.
// 'ready' and 'fatal' (start-up) go by postMessage.
//
// Plain JavaScript beside src/ (not compiled): the same file serves the sources under vitest
// and the built package.

import { parentPort, workerData } from 'node:worker_threads';
import { Channel, KIND } from './channel.mjs';

const GATHER = 256 * 1024;

const channel = new Channel(workerData.shared, 'worker');

const { PGlite } = await import(workerData.pgliteUrl);
const began = performance.now();
let db;
try {
  db = await PGlite.create(workerData.dataDir ?? undefined);
} catch (error) {
  parentPort.postMessage({ type: 'fatal', message: String(error?.stack ?? error) });
  process.exit(1);
}
parentPort.postMessage({ type: 'ready', startupMs: performance.now() - began, rss: process.memoryUsage().rss });

/**
 * The answer gathered so far: parts copied out of wasm memory (PGlite reuses its buffer), then
 * copied into the ring as one record. (256 KiB records: the 100 000-row result measured
 * 0.94x-0.98x the former MessagePort worker's rate in medians of three A/B runs, where 64 KiB
 * records into a 1 MiB ring measured 0.89x; noisy, the machine shared.)
 */
let parts = [];
let size = 0;

/** Write what was gathered as one record of `kind` (DATA while the answer goes on, DONE at its end). */
function flush(kind) {
  channel.writeRecordParts(kind, 0, parts, size);
  parts = [];
  size = 0;
}

const onRawData = (chunk) => {
  let at = 0;
  while (at < chunk.length) {
    const take = Math.min(chunk.length - at, GATHER - size);
    parts.push(chunk.slice(at, at + take));
    size += take;
    at += take;
    if (size === GATHER) flush(KIND.DATA);
  }
  return chunk.length;
};

let request = [];
let requestSize = 0;

for (;;) {
  const { kind, flags, payload } = channel.readRecord();
  if (kind === KIND.EXEC_PART) {
    request.push(payload);
    requestSize += payload.length;
    continue;
  }
  if (kind === KIND.CLOSE) {
    try {
      await db.close();
    } finally {
      channel.writeRecord(KIND.CLOSED, 0, new Uint8Array(0));
    }
    break;
  }
  // EXEC: the last piece of a request.
  let bytes = payload;
  if (request.length > 0) {
    request.push(payload);
    bytes = new Uint8Array(requestSize + payload.length);
    let at = 0;
    for (const part of request) {
      bytes.set(part, at);
      at += part.length;
    }
    request = [];
    requestSize = 0;
  }
  try {
    // The work is synchronous (PGlite runs the bytes to the end); the await only settles the
    // promise (and runs syncToFs for a data directory).
    await db.execProtocolRawStream(bytes, { syncToFs: (flags & 1) === 1, onRawData });
    flush(KIND.DONE);
  } catch (error) {
    parts = [];
    size = 0;
    channel.writeRecord(KIND.FAILED, 0, new TextEncoder().encode(String(error?.message ?? error).slice(0, 4096)));
  }
}
