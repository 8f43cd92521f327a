import 'reflect-metadata';
/**
 * Entry point of an image-pipeline worker thread: runs LoadJobs posted by WorkerLoader and posts
 * the results back, transferring the pixel buffers instead of copying them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runLoadJob } from './load.js';
import { Semaphore } from './semaphore.js';
import type { WorkerRequest, WorkerOptions, WorkerResponse } from './worker-protocol.js';

if (!parentPort) throw new Error('pipeline worker must run in a worker thread');
const port = parentPort;
const { concurrency } = workerData as WorkerOptions;
const semaphore = new Semaphore(concurrency);

port.on('message', (request: WorkerRequest) => {
  semaphore
    .run(() => runLoadJob(request.job))
    .then(
      (result) => {
        const transfer = result.ok ? [result.pixels.buffer as ArrayBuffer] : [];
        port.postMessage({ id: request.id, result } satisfies WorkerResponse, transfer);
      },
      (error: unknown) => {
        port.postMessage({
          id: request.id,
          error: (error as Error).stack ?? String(error),
        } satisfies WorkerResponse);
      },
    );
});
