// kernel-host.ts
//
// A client on the curio runtime lives in a kernel (`run`): the bench suites and the profile
// workloads keep one long-lived kernel per client and hand it bodies to run there, so that
// each measured run is the client's work and not a kernel's start-up and a connect.

import { awaitPromise, run } from '@curio-ts/kernel';

/** Runs bodies inside one long-lived kernel holding a client made by `connect`. */
export class KernelHost<T extends { close(): Promise<void> }> {
  private queue: { body: () => Promise<number>; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];
  private wake: (() => void) | null = null;
  private stopped = false;
  client!: T;
  private finished!: Promise<void>;

  constructor(private readonly connect: () => Promise<T>) {}

  async start(): Promise<void> {
    let ready!: () => void;
    let failed!: (error: unknown) => void;
    const started = new Promise<void>((resolve, reject) => ((ready = resolve), (failed = reject)));
    this.finished = run(async () => {
      try {
        this.client = await this.connect();
      } catch (error) {
        failed(error);
        return;
      }
      ready();
      for (;;) {
        const job = this.queue.shift();
        if (job !== undefined) {
          try {
            job.resolve(await job.body());
          } catch (error) {
            job.reject(error);
          }
          continue;
        }
        if (this.stopped) break;
        // awaitPromise, not a raw await: a task parked in a raw foreign await would put every
        // trap of this kernel on the slow path (caller identified from the stack).
        await awaitPromise(new Promise<void>((resolve) => (this.wake = resolve)));
      }
      await this.client.close();
    });
    await started;
  }

  /** Run `body` in the kernel; resolves with what it returns. */
  submit(body: () => Promise<number>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ body, resolve, reject });
      this.wake?.();
      this.wake = null;
    });
  }

  /** Close the client and end the kernel. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.finished;
  }
}
