import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runLoadJob, type LoadJob, type LoadResult } from './load.js';
import { Semaphore } from './semaphore.js';
import type { WorkerOptions, WorkerRequest, WorkerResponse } from './worker-protocol.js';

/** Runs LoadJobs with bounded concurrency. */
export interface Loader {
  /** Whether jobs run off the calling thread (then normalisation and augmentation belong in the job). */
  readonly offThread: boolean;
  load(job: LoadJob): Promise<LoadResult>;
  close(): Promise<void>;
}

/**
 * Decodes on the main thread's event loop: sharp runs each decode on libuv's thread pool, so
 * `concurrency` decodes proceed in parallel while JavaScript only orchestrates. Normalisation
 * and augmentation (JavaScript) run on the main thread.
 */
export class InProcessLoader implements Loader {
  readonly offThread = false;
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
 * JavaScript part of the pipeline leaves the training thread. Idle workers are unref'd: an open
 * pipeline never keeps the process alive by itself.
 *
 * Jobs go to a worker as soon as they are asked for (the least busy one), with no cap of our
 * own: the pipeline already bounds what is outstanding by its prefetch window. That is what
 * lets prefetching overlap training: a trainOnBatch call blocks the main thread's event loop
 * for the whole step, so neither replies nor new dispatches happen until it returns, and a
 * worker holding only a couple of jobs would finish them and idle for the rest of the step
 * (bench/train.ts measured exactly that). Each worker runs at most `concurrencyPerWorker` of its
 * jobs at once, in the order they came, so the head of the window finishes first.
 */
export class WorkerLoader implements Loader {
  readonly offThread = true;
  private readonly workers: PooledWorker[] = [];
  private readonly pending = new Map<number, PendingJob & { owner: PooledWorker }>();
  private readonly queue: { request: WorkerRequest; pending: PendingJob }[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    count: number,
    private readonly jobsPerWorker = Number.POSITIVE_INFINITY,
    concurrencyPerWorker = Math.max(2, availableParallelism() * 2),
  ) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./worker.js', import.meta.url), {
        workerData: { concurrency: concurrencyPerWorker } satisfies WorkerOptions,
      });
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
    // jobs of an abandoned epoch (a stopped run) may still be out
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(new Error('image pipeline is closed'));
    }
    // an unref'd worker's exit would not keep the event loop alive until terminate() resolves
    for (const w of this.workers) w.worker.ref();
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
  }
}
