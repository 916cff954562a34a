// transport-pglite/worker/pglite-worker.mjs: the far end of the PGlite transport.
//
// One PGlite instance in this worker thread, so that a running query (pg_sleep, a 10^6-row
// scan) blocks this thread, never the application's event loop. The main thread sends
// { type: 'exec', id, bytes } with whole frontend messages (a startup packet alone, or typed
// messages ending at a Sync, Query or Flush); this thread runs them through
// `execProtocolRawStream` and answers with { type: 'data', id, bytes } chunks (transferred,
// about every 256 KiB so a big result streams while it is produced) and one
// { type: 'done', id, bytes } (the rest of the answer, or null) or { type: 'failed', id, message } (PGlite itself broke: the instance is
// unusable afterwards).
//
// Plain JavaScript beside src/ (not compiled): the same file serves the sources under vitest
// and the built package.

import { parentPort, workerData } from 'node:worker_threads';

const STREAM_AT = 256 * 1024;

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

let parts = [];
let size = 0;

/** Post what was gathered: as 'data', or (last) as 'done' carrying the bytes, one message for a small answer. */
function flush(id, last = false) {
  if (size === 0) {
    if (last) parentPort.postMessage({ type: 'done', id, bytes: null });
    return;
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  parts = [];
  size = 0;
  parentPort.postMessage({ type: last ? 'done' : 'data', id, bytes }, [bytes.buffer]);
}

let chain = Promise.resolve();

async function exec(message) {
  const { id } = message;
  try {
    await db.execProtocolRawStream(message.bytes, {
      syncToFs: message.syncToFs === true,
      onRawData: (chunk) => {
        // chunk is a view into wasm memory, reused by the next write: copy it.
        parts.push(chunk.slice());
        size += chunk.length;
        if (size >= STREAM_AT) flush(id);
        return chunk.length;
      },
    });
    flush(id, true);
  } catch (error) {
    flush(id);
    parentPort.postMessage({ type: 'failed', id, message: String(error?.message ?? error) });
  }
}

parentPort.on('message', (message) => {
  if (message.type === 'exec') chain = chain.then(() => exec(message));
  else if (message.type === 'close') {
    chain = chain.then(async () => {
      try {
        await db.close();
      } finally {
        parentPort.postMessage({ type: 'closed' });
      }
    });
  }
});
