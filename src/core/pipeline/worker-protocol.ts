import type { LoadJob, LoadResult } from './load.js';

/** Messages between WorkerLoader (loaders.ts) and a pipeline worker thread (worker.ts). */

/** Set by WorkerLoader through `workerData`. */
export interface WorkerOptions {
  /** Jobs run at once; later ones wait in arrival order. */
  concurrency: number;
}

export interface WorkerRequest {
  id: number;
  job: LoadJob;
}

export type WorkerResponse = { id: number; result: LoadResult } | { id: number; error: string };
