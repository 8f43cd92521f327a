import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runLoadJob, type LoadJob, type LoadResult } from './load.js';
import type { WorkerRequest, WorkerResponse } from './worker.js';

/** Runs LoadJobs with bounded concurrency. */
export interface Loader {
  load(job: LoadJob): Promise<LoadResult>;
  close(): Promise<void>;
}

/** Counting semaphore: at most `limit` holders at once, FIFO. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Decodes on the main thread's event loop: sharp runs each decode on libuv's thread pool, so
 * `concurrency` decodes proceed in parallel while JavaScript only orchestrates. Normalisation
 * and augmentation (JavaScript) run on the main thread.
 */
export class InProcessLoader implements Loader {
  private readonly semaphore: Semaphore;

  constructor(concurrency = Math.max(2, availableParallelism() * 2)) {
    this.semaphore = new Semaphore(concurrency);
  }

  load(job: LoadJob): Promise<LoadResult> {
    return this.semaphore.run(() => runLoadJob(job));
  }

  async close(): Promise<void> {}
}

interface PendingJob {
  resolve: (result: LoadResult) => void;
  reject: (error: Error) => void;
}

interface PooledWorker {
  worker: Worker;
  inFlight: number;
}

/**
 * A pool of worker threads, each running decode + normalisation + augmentation, so the
 * JavaScript part of the pipeline leaves the training thread. Each worker holds up to
 * `jobsPerWorker` jobs so its sharp calls overlap with message passing. Idle workers are
 * unref'd: an open pipeline never keeps the process alive by itself.
 */
export class WorkerLoader implements Loader {
  private readonly workers: PooledWorker[] = [];
  private readonly pending = new Map<number, PendingJob & { owner: PooledWorker }>();
  private readonly queue: { request: WorkerRequest; pending: PendingJob }[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    count: number,
    private readonly jobsPerWorker = 2,
  ) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./worker.js', import.meta.url));
      const pooled: PooledWorker = { worker, inFlight: 0 };
      worker.unref();
      worker.on('message', (response: WorkerResponse) => this.settle(pooled, response));
      worker.on('error', (error) => this.failWorker(pooled, error));
      this.workers.push(pooled);
    }
  }

  load(job: LoadJob): Promise<LoadResult> {
    if (this.closed) return Promise.reject(new Error('image pipeline is closed'));
    return new Promise<LoadResult>((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, job }, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const target = this.workers.reduce<PooledWorker | undefined>(
        (best, w) =>
          w.inFlight < this.jobsPerWorker && (!best || w.inFlight < best.inFlight) ? w : best,
        undefined,
      );
      if (!target) return;
      const next = this.queue.shift();
      if (!next) return;
      if (target.inFlight === 0) target.worker.ref();
      target.inFlight++;
      this.pending.set(next.request.id, { ...next.pending, owner: target });
      target.worker.postMessage(next.request);
    }
  }

  private settle(owner: PooledWorker, response: WorkerResponse): void {
    const pending = this.pending.get(response.id);
    if (!pending) return;
    this.pending.delete(response.id);
    owner.inFlight--;
    if (owner.inFlight === 0) owner.worker.unref();
    if ('error' in response) pending.reject(new Error(`image pipeline worker: ${response.error}`));
    else pending.resolve(response.result);
    this.dispatch();
  }

  private failWorker(owner: PooledWorker, error: Error): void {
    for (const [id, pending] of this.pending) {
      if (pending.owner !== owner) continue;
      this.pending.delete(id);
      pending.reject(new Error(`image pipeline worker crashed: ${error.message}`));
    }
    owner.inFlight = 0;
    const index = this.workers.indexOf(owner);
    if (index >= 0) this.workers.splice(index, 1);
    if (this.workers.length === 0) {
      for (const queued of this.queue.splice(0))
        queued.pending.reject(new Error('every image pipeline worker crashed'));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const queued of this.queue.splice(0))
      queued.pending.reject(new Error('image pipeline is closed'));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
  }
}
