// @curio-ts/kernel/lowlevel: the kernel's sharp tools, kept apart (Trio's `trio.lowlevel`).
//
// What people who build on the kernel need (new sync primitives, IO objects, runtimes for
// protocol clients, tools that watch a kernel) and application code should never meet: the
// trap gate, external waits, the wait queues primitives are built on, operations a task owns,
// the end-of-burst hook, kernel activations, and the socket's buffer limits. The user API
// (`@curio-ts/kernel`) stays small and does not re-export any of this.
//
// Invariants:
// - Nothing here is re-exported from the main entry, and no user API of the main entry needs
//   an import from here.
// - The rules the user API enforces for its callers are the caller's job here: a blocking
//   trap (`kernelTrap` of a blocking request, `waitExternal`, `SchedBase.suspend`) is awaited
//   at once by the task that made it; an `ExternalWake` is called at most once.

export { kernelTrap, currentTaskOrNull } from './traps.js';
export type { TrapRequest, TrapResults, ExternalWake } from './traps.js';
export { waitExternal } from './cancellation.js';
export { SchedBase, SchedFIFO, SchedBarrier } from './sched.js';
export { OwnedOperation, TaskOperation, beginOperation, settleOperation, operationFulfilled, abortOperation } from './operation.js';
export type { OperationCanceller, OperationSlots, TaskOperationLink } from './operation.js';
export { atBurstEnd } from './handoff.js';
export { atTaskExit } from './task.js';
export type { KernelActivation } from './kernel.js';
export { HIGH_WATER, LOW_WATER, DEFAULT_READ, WRITE_SLICE, findOnreadKeys } from './io/socket.js';
export type { OnreadKeys } from './io/socket.js';
