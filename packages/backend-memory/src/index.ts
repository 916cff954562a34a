// @curio-ts/backend-memory: the curio-ts clients and servers over in-process byte pipes and a
// clock the test advances. For deterministic engine tests and fault injection, beside the
// tests against real peers (never instead of them).

export { createMemoryRuntime, seededRandom } from './runtime.js';
export type { MemoryRuntime, MemoryRuntimeOptions } from './runtime.js';
export { VirtualClock } from './clock.js';
export type { VirtualClockOptions } from './clock.js';
export { MemoryNetwork, forFirst } from './network.js';
export type { ConnectionPlan, ConnectAttempt, FaultRule, InstalledRule, MemoryNetworkOptions } from './network.js';
export { MemoryConnection, MemoryByteStream } from './connection.js';
export type { ConnectionFaults } from './connection.js';
export type { PipeControl, PipeFaults } from './pipe.js';
export { MemoryRuntimeError } from './errors.js';
