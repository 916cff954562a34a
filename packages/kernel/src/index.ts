// @curio-ts/kernel: a Curio-style concurrency kernel for Node.js.
//
// Tasks are plain async functions. Every blocking operation is a kernel trap, so the kernel
// can schedule, time out and cancel any task at its awaits.
//
// This is the user API. What library authors build on (the trap gate, external waits, the
// scheduler's wait queues, task-owned operations) is in lowlevel.ts, `@curio-ts/kernel/lowlevel`.

export {
  CurioError,
  CancelledError,
  TaskCancelled,
  TaskTimeout,
  TimeoutCancellationError,
  UncaughtTimeoutError,
  TaskError,
  ResourceBusy,
  ReadResourceBusy,
  WriteResourceBusy,
  KernelUsageError,
  DeadlockError,
  KernelClosedError,
  SuppressedError,
} from './errors.js';
export type { SuppressedErrorLike } from './errors.js';
export { Kernel, ScheduledCall } from './kernel.js';
export type { KernelOptions, KernelErrorInfo, KernelErrorReason } from './kernel.js';
export { run } from './run.js';
export type { RunOptions } from './run.js';
export { Task, spawn, currentTask } from './task.js';
export type { TaskState, SpawnOptions, CancelOptions, TaskFunction } from './task.js';
export { TaskGroup } from './taskgroup.js';
export type { WaitPolicy, TaskGroupOptions } from './taskgroup.js';
export { clock, sleep, schedule, timeoutAfter, timeoutAt, ignoreAfter, ignoreAt } from './time.js';
export type { IgnoreOptions } from './time.js';
export {
  disableCancellation,
  checkCancellation,
  setCancellation,
  awaitPromise,
  abortSignal,
} from './cancellation.js';
export { Event, Lock, RLock, Semaphore, BoundedSemaphore, Condition, Result } from './sync.js';
export type { Held } from './sync.js';
export { Queue, LifoQueue, PriorityQueue, defaultCompare } from './queue.js';
export { Local } from './local.js';
// --- monitor ---
export { attachMonitor, MonitorError, DEFAULT_MONITOR_HOST, DEFAULT_MONITOR_PORT } from './monitor/server.js';
export type { Monitor, MonitorOptions, MonitorAddress } from './monitor/server.js';
// --- end monitor ---
// --- sockets ---
export { Socket, ServerSocket } from './io/socket.js';
export type { RecvSink, SocketAddress, SocketOptions, ServerSocketOptions, TlsSession } from './io/socket.js';
export { SocketStream, DEFAULT_LINE_LIMIT } from './io/socket-stream.js';
export type { SocketStreamOptions } from './io/socket-stream.js';
export {
  SocketError,
  ConnectionResetError,
  ConnectionRefusedError,
  BrokenPipeError,
  TlsError,
  SocketClosedError,
  IncompleteReadError,
  LineTooLongError,
} from './io/socket-errors.js';
export {
  openConnection,
  openUnixConnection,
  startTls,
  tcpServerSocket,
  unixServerSocket,
  tcpServer,
  unixServer,
  runServer,
} from './io/network.js';
export type { ConnectOptions, ListenOptions, StartTlsOptions, ClientHandler, ServeOptions, ServerOptions } from './io/network.js';
export { udpSocket, UdpSocket } from './io/udp.js';
export type { Datagram, UdpSocketOptions } from './io/udp.js';
export { Channel, Connection, ChannelError, AuthenticationError, FrameTooLargeError } from './io/channel.js';
export type { ChannelAddress, ChannelOptions } from './io/channel.js';
// --- end sockets ---
// --- os ---
export { aopen, AsyncFile } from './os/file.js';
export type { TextMode, BinaryMode, FileMode, TextEncoding, Whence, FileOptions, TextFileOptions } from './os/file.js';
export { SignalQueue, SignalEvent } from './os/signal.js';
export type { SignalQueueOptions } from './os/signal.js';
export { OSError, UnsupportedOperation, ClosedResourceError } from './os/errors.js';
import * as subprocess from './os/subprocess.js';
export { subprocess };
// --- end os ---
// --- threads ---
export { workerFunction } from './threads/workfn.js';
export type { WorkerFunction, ParametersOf, ResultOf } from './threads/workfn.js';
export {
  ThreadPool,
  ProcessPool,
  WorkerPool,
  runInThread,
  runInProcess,
  configureWorkerPools,
  kernelThreadPool,
  kernelProcessPool,
} from './threads/pool.js';
export type { PoolOptions, WorkerPoolSizes } from './threads/pool.js';
export { WorkerError, WorkerExited, TypeScriptLoaderMissing, RemoteError, UniversalTimeout } from './threads/errors.js';
export type { ErrorData } from './threads/errors.js';
export { UniversalQueue } from './threads/universal.js';
export type { UniversalQueueOptions } from './threads/universal.js';
export { UniversalEvent } from './threads/universal-event.js';
export type { UniversalQueueHandle, UniversalEventHandle, SyncOptions, AsyncOptions } from './threads/universal-common.js';
export { spawnThread, AsyncThread, AWAIT, op, isAsyncThread } from './threads/asyncthread.js';
export type { Operation, OperationData, AwaitOptions, ThreadArgs, ThreadArg, QueueRef, LockRef } from './threads/asyncthread.js';
export type { KernelRef } from './threads/transfer.js';
// --- end threads ---
