import { statSync } from 'node:fs';
import { UserError } from '../../sdk/errors.js';
import type {
  AugmentOptions,
  BadRecord,
  BadRecordSummary,
  Example,
  ImageSpec,
} from '../../sdk/contracts/data.js';
import type { Logger } from '../../sdk/services.js';
import { batchAugmentParams, isAugmentActive, toUnitFloat } from './augment.js';
import { BadRecordLog, checkBadFraction, type BadRecordPolicy } from './bad-records.js';
import { CacheBudget, PreprocessedCache, scanCacheBytes } from './cache.js';
import type { LoadJob, LoadResult } from './load.js';
import { InProcessLoader, WorkerLoader, type Loader } from './loaders.js';

/**
 * Default number of worker threads: one. Training needs it: a trainOnBatch call blocks the main
 * thread's event loop for the whole step, so in-process loading (workers = 0), whose every
 * stage needs that loop, does not overlap training at all; one worker thread keeps decoding
 * the prefetch window during the step (bench/train.ts: the wait for batches fell from the whole
 * pipeline time to the first batch's). Decoding itself runs on libuv's pool either way, so one
 * worker also matches in-process throughput on its own (bench/pipeline.ts).
 */
export const DEFAULT_PIPELINE_WORKERS = 1;

export interface ImagePipelineOptions {
  image: ImageSpec;
  /** Fraction of the face box added on each side before cropping. */
  margin: number;
  /** Directory of the preprocessed-image cache; none = always decode. */
  cacheDir?: string;
  /**
   * Bound on the cache directory's size in bytes (entries already there count); once reached,
   * further images are decoded every epoch instead of cached (see CacheBudget). Default: none.
   */
  cacheMaxBytes?: number;
  /**
   * Worker threads for decode + normalise. 0 decodes on the calling thread's event
   * loop (sharp still runs on libuv's thread pool). Default DEFAULT_PIPELINE_WORKERS.
   */
  workers?: number;
  /** Concurrent decodes, in-process or per worker thread (default 2 x cores). */
  concurrency?: number;
  /** Batches prepared ahead of the consumer (default 2). Bounds memory: (prefetch+1) x batch. */
  prefetch?: number;
  /** A missing/corrupt image or a face box outside it: count and skip, or fail (UserError). */
  onBadRecord?: BadRecordPolicy;
  /**
   * Under `skip`, the largest fraction of a split's images that may turn out bad when decoded;
   * more fails the run (UserError with the counts) as soon as that is clear: see
   * exceedsBadFraction. Undefined = no bound.
   */
  maxBadFraction?: number;
  /** The example lists `batches` will get, by split name, so errors can name the split. */
  splits?: Readonly<Record<string, readonly Example[]>>;
  logger?: Logger;
  /** Turn whole images (no face box) upright by their EXIF orientation (predict). */
  autoOrient?: boolean;
  /**
   * JPEG shrink-on-load for crops at least twice the output (see decodeAndCrop); default true.
   * false resizes every crop with the bilinear filter alone.
   */
  shrinkOnLoad?: boolean;
}

/** Distinct images of one example list loaded so far, and how many of them were bad. */
interface SplitTally {
  name: string;
  seen: Uint8Array;
  seenCount: number;
  badCount: number;
  firstBad: BadRecord[];
}

export interface Batch {
  /** float32 NHWC, values in [0,1] (pixel / 255). */
  x: Float32Array;
  shape: [number, number, number, number];
  /** The example index (into `examples`) of each image in the batch, in batch order. */
  indices: number[];
  /** The position in `order` after the batch's last image (skipped ones included): resume here. */
  end: number;
  /**
   * With augmentation: each image's augmentation parameters (AUGMENT_PARAMS float32 values
   * per image, see src/core/pipeline/augment.ts), which the training step applies.
   */
  augment?: Float32Array;
}

/** A batch of uint8 pixels (0-255, NHWC) for a step that converts to float itself (a Cast). */
export interface Uint8Batch extends Omit<Batch, 'x'> {
  x: Uint8Array;
}

type AnyBatch = Omit<Batch, 'x'> & { x: Float32Array | Uint8Array };

/** An image of the prefetch window. */
interface Pending {
  exampleIndex: number;
  position: number;
  /** Decoding (a cache miss, or no cache). */
  result?: Promise<LoadResult>;
  /** The entry exists: read it into the batch when this image's turn comes. */
  cacheKey?: string;
  /** This example's cache-key memo (marked present once its entry is written or read). */
  cacheEntry?: { key: string; present: boolean };
}

export interface PipelineStats {
  loaded: number;
  cacheHits: number;
  skipped: number;
}

/**
 * Streams batches of preprocessed images: decode (sharp) -> crop to the face box + margin ->
 * resize -> float32 [0,1] or uint8 NHWC, with the seeded parameters of training-only
 * augmentation (applied by the training step). Only the images of the
 * next `prefetch` batches are ever held, whatever the dataset size. Bad images (missing, corrupt,
 * face box outside the image) are counted once per example and skipped on every later epoch.
 */
export class ImagePipeline {
  readonly image: ImageSpec;
  private readonly loader: Loader;
  private readonly badLog: BadRecordLog;
  private readonly badIds = new Set<string>();
  private readonly tallies = new WeakMap<readonly Example[], SplitTally>();
  private readonly prefetch: number;
  private cacheWarned = false;
  private corruptWarnings = 0;
  private readonly cache?: PreprocessedCache;
  private readonly cacheBudget?: { shared: SharedArrayBuffer; maxBytes: number };
  /**
   * Each example's cache key for the source version it was computed from, and whether its entry
   * is known to exist (written or read by this pipeline): an epoch over a warm cache then costs a
   * stat per image for the key, no hashing and no existence check (a vanished entry still falls
   * back to decoding when it is read).
   */
  private readonly cacheKeys = new WeakMap<
    Example,
    { mtimeMs: number; size: number; key: string; present: boolean }
  >();
  readonly stats: PipelineStats = { loaded: 0, cacheHits: 0, skipped: 0 };

  constructor(private readonly options: ImagePipelineOptions) {
    const { height, width, channels } = options.image;
    if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
      throw new UserError(`image size must be positive integers, got ${height}x${width}`);
    }
    if (channels !== 1 && channels !== 3)
      throw new UserError(`channels must be 1 or 3, got ${String(channels)}`);
    if (!(options.margin >= 0)) throw new UserError(`margin must be >= 0, got ${options.margin}`);
    this.image = options.image;
    this.prefetch = Math.max(0, options.prefetch ?? 2);
    this.badLog = new BadRecordLog(options.onBadRecord ?? 'skip');
    if (options.cacheDir) {
      let budget: CacheBudget | undefined;
      if (options.cacheMaxBytes !== undefined) {
        budget = new CacheBudget(options.cacheMaxBytes);
        budget.add(scanCacheBytes(options.cacheDir).bytes);
        this.cacheBudget = { shared: budget.shared, maxBytes: budget.maxBytes };
      }
      this.cache = new PreprocessedCache(options.cacheDir, budget);
    }
    const workers = options.workers ?? DEFAULT_PIPELINE_WORKERS;
    this.loader =
      workers > 0
        ? new WorkerLoader(workers, undefined, options.concurrency)
        : new InProcessLoader(options.concurrency);
  }

  /** Bad images met so far (each example counted once). */
  get badRecords(): BadRecordSummary {
    return this.badLog.summary();
  }

  private job(example: Example, output: LoadJob['output'], cacheKey?: string): LoadJob {
    return {
      imagePath: example.imagePath,
      crop: example.crop,
      margin: this.options.margin,
      image: this.image,
      cacheDir: this.options.cacheDir,
      output,
      ...(this.options.autoOrient ? { autoOrient: true } : {}),
      ...(this.options.shrinkOnLoad === false ? { shrinkOnLoad: false } : {}),
      ...(cacheKey ? { cacheKey } : {}),
      ...(this.cacheBudget ? { cacheBudget: this.cacheBudget } : {}),
    };
  }

  /** The example's cache key, or undefined when its source cannot be stat'ed (the job says why). */
  private cacheKeyOf(
    example: Example,
  ): { mtimeMs: number; size: number; key: string; present: boolean } | undefined {
    if (!this.cache) return undefined;
    let info;
    try {
      info = statSync(example.imagePath);
    } catch {
      return undefined;
    }
    const known = this.cacheKeys.get(example);
    if (known && known.mtimeMs === info.mtimeMs && known.size === info.size) return known;
    const key = this.cache.key({
      imagePath: example.imagePath,
      mtimeMs: info.mtimeMs,
      size: info.size,
      crop: example.crop,
      margin: this.options.margin,
      image: this.image,
      autoOrient: this.options.autoOrient && !example.crop,
      ...(this.options.shrinkOnLoad === false ? { exactResize: true } : {}),
    });
    const entry = { mtimeMs: info.mtimeMs, size: info.size, key, present: false };
    this.cacheKeys.set(example, entry);
    return entry;
  }

  private warnCorrupt(example: Example, detail: string): void {
    this.corruptWarnings++;
    if (this.corruptWarnings > 5) return;
    this.options.logger?.warn(
      `image cache entry for ${example.source ?? example.imagePath} is corrupt (${detail}); ` +
        `decoding the image again${this.corruptWarnings === 5 ? ' (further ones are not listed)' : ''}`,
    );
  }

  /** Record a failed load; throws under onBadRecord: fail. */
  private recordBad(example: Example, result: Extract<LoadResult, { ok: false }>): void {
    this.stats.skipped++;
    if (this.badIds.has(example.id)) return;
    this.badIds.add(example.id);
    this.badLog.add(example.source ?? example.imagePath, result.reason, result.message);
    this.options.logger?.warn(
      `skipping ${example.source ?? example.imagePath}: ${result.reason}: ${result.message}`,
    );
  }

  private tallyOf(examples: readonly Example[]): SplitTally {
    let tally = this.tallies.get(examples);
    if (!tally) {
      const named = Object.entries(this.options.splits ?? {}).find(([, list]) => list === examples);
      tally = {
        name: named ? `the ${named[0]} split` : `a list of ${examples.length} examples`,
        seen: new Uint8Array(examples.length),
        seenCount: 0,
        badCount: 0,
        firstBad: [],
      };
      this.tallies.set(examples, tally);
    }
    return tally;
  }

  /** Count one loaded (or failed) example of a split; throws once too many have been bad. */
  private tally(tally: SplitTally, example: Example, index: number, result: LoadResult): void {
    if (tally.seen[index]) return;
    tally.seen[index] = 1;
    tally.seenCount++;
    if (!result.ok) {
      tally.badCount++;
      if (tally.firstBad.length < 5)
        tally.firstBad.push({
          source: example.source ?? example.imagePath,
          reason: `${result.reason}: ${result.message}`,
        });
    }
    const maxBadFraction = this.options.maxBadFraction;
    // the bound can only be crossed by a bad image, or by the last image making the count exact
    if (maxBadFraction === undefined || (result.ok && tally.seenCount < tally.seen.length)) return;
    checkBadFraction({
      what: tally.name,
      unit: 'images',
      bad: tally.badCount,
      seen: tally.seenCount,
      total: tally.seen.length,
      maxBadFraction,
      examples: tally.firstBad,
    });
  }

  private noteLoaded(result: Extract<LoadResult, { ok: true }>, example: Example): void {
    if (result.cacheCorrupt) this.warnCorrupt(example, result.cacheCorrupt);
    this.stats.loaded++;
    if (result.cacheHit) this.stats.cacheHits++;
    if (result.cacheError && !this.cacheWarned) {
      this.cacheWarned = true;
      this.options.logger?.warn(
        `image cache ${this.options.cacheDir} is not writable: ${result.cacheError}`,
      );
    }
  }

  /**
   * The preprocessed uint8 HWC pixels of one example (no augmentation). Throws UserError naming
   * the record for a bad image.
   */
  async loadOne(example: Example): Promise<Uint8Array> {
    const result = await this.loader.load(this.job(example, 'uint8'));
    if (!result.ok) {
      throw new UserError(
        `${example.source ?? example.imagePath}: ${result.reason}: ${result.message}`,
      );
    }
    this.noteLoaded(result, example);
    return result.pixels as Uint8Array;
  }

  /**
   * Batches of `examples[order[i]]` in order, float32 in [0,1]. With `augment`, each batch
   * carries the augmentation parameters of its images (`augment`), image i of the epoch drawn
   * from seed (augment.seed, i) - pass a different seed per epoch; the training step applies
   * them. Skipped images are replaced by the next ones, so only the last batch may be short;
   * `indices` says which examples made it.
   */
  batches(
    examples: readonly Example[],
    order: readonly number[],
    batchSize: number,
    augment?: { options: AugmentOptions; seed: number },
    /** Start at this position of `order` (a resumed epoch); augmentation stays positional. */
    from = 0,
  ): AsyncGenerator<Batch> {
    return this.stream(
      examples,
      order,
      batchSize,
      augment,
      from,
      'float32',
    ) as AsyncGenerator<Batch>;
  }

  /**
   * The same batches as uint8 pixels (0-255), for a training step that does the /255 itself
   * (a Cast in its graph) and augments from the batch's parameters: a cached image is then read
   * straight into the batch, with no conversion at all.
   */
  uint8Batches(
    examples: readonly Example[],
    order: readonly number[],
    batchSize: number,
    augment?: { options: AugmentOptions; seed: number },
    from = 0,
  ): AsyncGenerator<Uint8Batch> {
    return this.stream(
      examples,
      order,
      batchSize,
      augment,
      from,
      'uint8',
    ) as AsyncGenerator<Uint8Batch>;
  }

  /** Start loading `order[position]`'s image, or say it is cached or known bad (skipped). */
  private startLoad(
    examples: readonly Example[],
    order: readonly number[],
    position: number,
    output: LoadJob['output'],
  ): Pending | undefined {
    const exampleIndex = order[position];
    const example = examples[exampleIndex];
    if (!example)
      throw new Error(
        `order[${position}] = ${exampleIndex} is not an example index (0..${examples.length - 1})`,
      );
    if (this.badIds.has(example.id)) {
      this.stats.skipped++;
      return undefined;
    }
    // the cache is looked up here, on this thread, so a hit costs one read into the batch and
    // no round trip through the loader
    const cacheEntry = this.cacheKeyOf(example);
    const cacheKey = cacheEntry?.key;
    const cache = this.cache;
    if (cache && cacheEntry && (cacheEntry.present || cache.has(cacheEntry.key, this.image)))
      return { exampleIndex, position, cacheKey, cacheEntry };
    const result = this.loader.load(this.job(example, output, cacheKey));
    // an abandoned generator must not leave an unhandled rejection behind
    result.catch(() => undefined);
    return { exampleIndex, position, result, cacheEntry };
  }

  /**
   * The pixels of one pending image: a cached one is read into `target` (uint8, the batch's
   * slot or a scratch buffer); undefined then. Otherwise the load's result.
   */
  private async finishLoad(
    head: Pending,
    example: Example,
    target: Uint8Array,
  ): Promise<LoadResult | undefined> {
    const cache = this.cache;
    if (head.cacheKey === undefined || !cache) return head.result as Promise<LoadResult>;
    const read = cache.readInto(head.cacheKey, this.image, target);
    if (read.status === 'hit') {
      if (head.cacheEntry) head.cacheEntry.present = true;
      this.stats.loaded++;
      this.stats.cacheHits++;
      return undefined;
    }
    // vanished since the lookup (another process) or corrupt: decode it again, now
    if (head.cacheEntry) head.cacheEntry.present = false;
    if (read.status === 'corrupt') {
      this.warnCorrupt(example, `${cache.path(head.cacheKey, this.image)}: ${read.reason}`);
      cache.remove(head.cacheKey, this.image);
    }
    return this.loader.load(this.job(example, 'uint8', head.cacheKey));
  }

  private async *stream(
    examples: readonly Example[],
    order: readonly number[],
    batchSize: number,
    augment: { options: AugmentOptions; seed: number } | undefined,
    from: number,
    dtype: 'float32' | 'uint8',
  ): AsyncGenerator<AnyBatch> {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new UserError(`batch size must be a positive integer, got ${batchSize}`);
    const active = augment && isAugmentActive(augment.options) ? augment : undefined;
    const { height, width, channels } = this.image;
    const imageLength = height * width * channels;
    const window = (this.prefetch + 1) * batchSize;
    // in-process, decoding returns uint8 and normalisation writes straight into the batch;
    // worker threads normalise float batches themselves. uint8 batches take uint8 from either.
    const output = !this.loader.offThread || dtype === 'uint8' ? 'uint8' : 'float32';
    const inFlight: Pending[] = [];
    let next = from;
    const refill = (): void => {
      while (inFlight.length < window && next < order.length) {
        const pending = this.startLoad(examples, order, next++, output);
        if (pending) inFlight.push(pending);
      }
    };
    const tally = this.tallyOf(examples);
    // every byte of a batch is written before it is yielded (a short last batch is sliced), so
    // it need not be zero-filled first: at 256 px a batch of 64 is 12.6 MB (uint8) or 50 MB
    const allocate = (): Float32Array | Uint8Array =>
      dtype === 'uint8'
        ? new Uint8Array(Buffer.allocUnsafeSlow(batchSize * imageLength).buffer)
        : new Float32Array(Buffer.allocUnsafeSlow(batchSize * imageLength * 4).buffer);
    let x = allocate();
    // a cached image bound for a float batch is read here, then converted into the batch
    const scratch = dtype === 'float32' ? new Uint8Array(imageLength) : undefined;
    let indices: number[] = [];
    let positions: number[] = [];
    const place = (pixels: Uint8Array | Float32Array, offset: number): void => {
      if (x instanceof Uint8Array || pixels instanceof Float32Array) x.set(pixels, offset);
      else toUnitFloat(pixels, x.subarray(offset, offset + imageLength));
    };
    const batch = (size: number, end: number): AnyBatch => ({
      x: size === batchSize ? x : x.slice(0, size * imageLength),
      shape: [size, height, width, channels],
      indices,
      end,
      ...(active
        ? { augment: batchAugmentParams(active.options, active.seed, positions, width, height) }
        : {}),
    });
    refill();
    for (let head = inFlight.shift(); head; head = inFlight.shift()) {
      const example = examples[head.exampleIndex];
      const offset = indices.length * imageLength;
      const target = scratch ?? (x as Uint8Array).subarray(offset, offset + imageLength);
      const result = await this.finishLoad(head, example, target);
      refill();
      if (!result) {
        if (scratch) place(scratch, offset);
        this.tally(tally, example, head.exampleIndex, { ok: true, pixels: target, cacheHit: true });
      } else {
        if (!result.ok) this.recordBad(example, result);
        this.tally(tally, example, head.exampleIndex, result);
        if (!result.ok) continue;
        this.noteLoaded(result, example);
        if (result.cacheWritten && head.cacheEntry) head.cacheEntry.present = true;
        place(result.pixels, offset);
      }
      indices.push(head.exampleIndex);
      positions.push(head.position);
      if (indices.length === batchSize) {
        yield batch(batchSize, head.position + 1);
        x = allocate();
        indices = [];
        positions = [];
      }
    }
    if (indices.length > 0) yield batch(indices.length, order.length);
  }

  async close(): Promise<void> {
    await this.loader.close();
  }
}
