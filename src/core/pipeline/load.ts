import { readFile, stat } from 'node:fs/promises';
import type { FaceBox, ImageSpec } from '../../sdk/contracts/data.js';
import { toUnitFloat } from './augment.js';
import { CacheBudget, PreprocessedCache } from './cache.js';
import { BadImageError, decodeAndCrop, type BadImageReason } from './preprocess.js';

/** One image to load: what both the in-process loader and the worker threads execute. */
export interface LoadJob {
  imagePath: string;
  crop?: FaceBox;
  margin: number;
  image: ImageSpec;
  cacheDir?: string;
  /**
   * uint8: the preprocessed pixels (cacheable form); float32: normalised to [0,1]. (Training
   * augmentation happens in the training step, from parameters the pipeline draws.)
   */
  output: 'uint8' | 'float32';
  /** Apply EXIF orientation to whole images (no crop); see decodeAndCrop. */
  autoOrient?: boolean;
  /** false: no JPEG shrink-on-load (see decodeAndCrop); absent = on. */
  shrinkOnLoad?: boolean;
  /**
   * The cache key, when the caller already looked the entry up and found none (or a corrupt
   * one): the job then decodes and writes the entry without looking again.
   */
  cacheKey?: string;
  /** The cache's size bound, shared between threads (see CacheBudget). */
  cacheBudget?: { shared: SharedArrayBuffer; maxBytes: number };
}

export type LoadResult =
  | {
      ok: true;
      pixels: Uint8Array | Float32Array;
      cacheHit: boolean;
      cacheError?: string;
      /** The pixels were decoded and written to the cache. */
      cacheWritten?: boolean;
      /** A cache entry that was corrupt and has been replaced: what was wrong with it. */
      cacheCorrupt?: string;
    }
  | { ok: false; reason: BadImageReason; message: string };

const caches = new Map<string, PreprocessedCache>();

function cacheFor(dir: string, budget: LoadJob['cacheBudget']): PreprocessedCache {
  let cache = caches.get(dir);
  if (!cache || cache.budget?.shared !== budget?.shared) {
    cache = new PreprocessedCache(
      dir,
      budget ? new CacheBudget(budget.maxBytes, budget.shared) : undefined,
    );
    caches.set(dir, cache);
  }
  return cache;
}

/** Preprocessed uint8 pixels of one image, from the cache when it has them. */
async function preprocessed(job: LoadJob): Promise<{
  pixels: Uint8Array;
  cacheHit: boolean;
  cacheError?: string;
  cacheWritten?: boolean;
  cacheCorrupt?: string;
}> {
  const { image } = job;
  const length = image.height * image.width * image.channels;
  let cache: PreprocessedCache | undefined;
  let key = job.cacheKey ?? '';
  let cacheCorrupt: string | undefined;
  if (job.cacheDir) {
    cache = cacheFor(job.cacheDir, job.cacheBudget);
    if (!job.cacheKey) {
      let info;
      try {
        info = await stat(job.imagePath);
      } catch (error) {
        throw missingOrRethrow(error, job.imagePath);
      }
      key = cache.key({
        imagePath: job.imagePath,
        mtimeMs: info.mtimeMs,
        size: info.size,
        crop: job.crop,
        margin: job.margin,
        image,
        autoOrient: job.autoOrient && !job.crop,
        ...(job.shrinkOnLoad === false ? { exactResize: true } : {}),
      });
      const pixels = new Uint8Array(length);
      const read = cache.readInto(key, image, pixels);
      if (read.status === 'hit') return { pixels, cacheHit: true };
      if (read.status === 'corrupt') {
        cacheCorrupt = `${cache.path(key, image)}: ${read.reason}`;
        cache.remove(key, image);
      }
    }
  }
  let encoded: Buffer;
  try {
    encoded = await readFile(job.imagePath);
  } catch (error) {
    throw missingOrRethrow(error, job.imagePath);
  }
  const pixels = await decodeAndCrop(
    encoded,
    job.crop,
    job.margin,
    image,
    job.autoOrient,
    job.shrinkOnLoad ?? true,
  );
  // a cache that cannot be written (full disk, read-only) slows epochs down but never fails them
  let cacheError: string | undefined;
  let cacheWritten = false;
  if (cache) {
    cacheWritten = await cache.put(key, image, pixels).then(
      (outcome) => outcome === 'written',
      (error: Error) => {
        cacheError = error.message;
        return false;
      },
    );
  }
  return { pixels, cacheHit: false, cacheError, cacheWritten, cacheCorrupt };
}

function missingOrRethrow(error: unknown, path: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new BadImageError('missing image file', `no such file ${path}`);
  if (code === 'EISDIR') return new BadImageError('corrupt image', `${path} is a directory`);
  return error as Error;
}

/** Load one image. A missing or corrupt image is a result, not an exception; I/O faults throw. */
export async function runLoadJob(job: LoadJob): Promise<LoadResult> {
  try {
    const { pixels, cacheHit, cacheError, cacheWritten, cacheCorrupt } = await preprocessed(job);
    const notes = { cacheHit, cacheError, cacheWritten, cacheCorrupt };
    if (job.output === 'uint8') return { ok: true, pixels, ...notes };
    return { ok: true, pixels: toUnitFloat(pixels), ...notes };
  } catch (error) {
    if (error instanceof BadImageError)
      return { ok: false, reason: error.reason, message: error.message };
    throw error;
  }
}
