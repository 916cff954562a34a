// Shared by the test files: how a harness runs a body concurrently with its caller here.

/** Start `body` now (a plain async call on this runtime); `join` waits for its result. */
export function startConcurrently<T>(body: () => Promise<T>): { join(): Promise<T> } {
  const running = body();
  running.catch(() => {}); // seen by whoever joins; not unhandled meanwhile
  return { join: () => running };
}
