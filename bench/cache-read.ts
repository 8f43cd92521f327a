/**
 * Epoch-2 read throughput of the preprocessed-image cache, isolated from decoding: fills a cache
 * once, then times whole epochs of `ImagePipeline.uint8Batches` and `batches` (float32) from it,
 * and the parts of one image's read on their own (source stat, key hash, existence check,
 * open + readv + close into the batch, uint8 -> float32, batch allocation). With `--baseline
 * DIST` (the dist/ of another build, e.g. main's) the same epochs run through that build's
 * pipeline too, alternating A (baseline) and B (this build) in every repetition so machine load
 * hits both alike.
 *
 *   node dist/bench/cache-read.js [--data DIR] [--size 256] [--batch 64] [--reps 5] [--baseline DIST]
 */
import 'reflect-metadata';
import { closeSync, existsSync, mkdirSync, openSync, readvSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CACHE_HEADER_BYTES,
  ImagePipeline,
  PreprocessedCache,
  createRuntime,
  openDataset,
  toUnitFloat,
  type Example,
  type ImageSpec,
} from '../src/index.js';

const { values } = parseArgs({
  options: {
    data: {
      type: 'string',
      default: join('.cache', 'affectlab', 'bench-pipeline', 'synth-1000-768'),
    },
    size: { type: 'string', default: '256' },
    batch: { type: 'string', default: '64' },
    reps: { type: 'string', default: '5' },
    baseline: { type: 'string' },
  },
});
const size = Number(values.size);
const batchSize = Number(values.batch);
const reps = Number(values.reps);
const image: ImageSpec = { height: size, width: size, channels: 3 };
const imageLength = size * size * 3;

interface PipelineLike {
  uint8Batches(
    e: readonly Example[],
    o: readonly number[],
    b: number,
  ): AsyncGenerator<{ shape: number[] }>;
  batches(
    e: readonly Example[],
    o: readonly number[],
    b: number,
  ): AsyncGenerator<{ shape: number[] }>;
  close(): Promise<void>;
  stats: { cacheHits: number };
}
type PipelineClass = new (options: {
  image: ImageSpec;
  margin: number;
  cacheDir?: string;
  workers?: number;
}) => PipelineLike;

async function examples(root: string): Promise<Example[]> {
  const runtime = createRuntime();
  runtime.logger.level = 'warn';
  const dataset = openDataset(
    runtime,
    {
      type: 'affectnet',
      root,
      classes: 'affectnet11',
      split: { policy: 'official', validationPerClass: 1 },
    },
    { name: 'bench', seed: 1, cacheDir: tmpdir() },
  );
  return (await dataset.prepare()).train;
}

/** One epoch (list in a shuffled order) through an open pipeline: images/s. */
async function epoch(
  pipeline: PipelineLike,
  list: Example[],
  order: number[],
  dtype: 'uint8' | 'float32',
): Promise<number> {
  const started = performance.now();
  let images = 0;
  const stream =
    dtype === 'uint8'
      ? pipeline.uint8Batches(list, order, batchSize)
      : pipeline.batches(list, order, batchSize);
  for await (const b of stream) images += b.shape[0];
  return images / ((performance.now() - started) / 1000);
}

function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Microseconds per image of each part of a cached read, over the whole list. */
function parts(list: Example[], cacheDir: string): Record<string, number> {
  const cache = new PreprocessedCache(cacheDir);
  const n = list.length;
  const t = (f: () => void): number => {
    const started = performance.now();
    f();
    return ((performance.now() - started) * 1000) / n;
  };
  const infos = list.map((e) => statSync(e.imagePath));
  const keys = list.map((e, i) =>
    cache.key({
      imagePath: e.imagePath,
      mtimeMs: infos[i].mtimeMs,
      size: infos[i].size,
      crop: e.crop,
      margin: 0.1,
      image,
    }),
  );
  const batch = new Uint8Array(Buffer.allocUnsafeSlow(batchSize * imageLength).buffer);
  const floats = new Float32Array(imageLength);
  const header = Buffer.alloc(CACHE_HEADER_BYTES);
  return {
    'stat source': t(() => list.forEach((e) => statSync(e.imagePath))),
    'key (JSON + sha1)': t(() =>
      list.forEach((e, i) =>
        cache.key({
          imagePath: e.imagePath,
          mtimeMs: infos[i].mtimeMs,
          size: infos[i].size,
          crop: e.crop,
          margin: 0.1,
          image,
        }),
      ),
    ),
    'existsSync entry': t(() => keys.forEach((k) => existsSync(cache.path(k, image)))),
    'open + readv + close': t(() =>
      keys.forEach((k, i) => {
        const fd = openSync(cache.path(k, image), 'r');
        const offset = (i % batchSize) * imageLength;
        readvSync(fd, [header, batch.subarray(offset, offset + imageLength)], 0);
        closeSync(fd);
      }),
    ),
    'readInto (checks included)': t(() =>
      keys.forEach((k, i) => {
        const offset = (i % batchSize) * imageLength;
        cache.readInto(k, image, batch.subarray(offset, offset + imageLength));
      }),
    ),
    'uint8 -> float32 (toUnitFloat)': t(() =>
      keys.forEach((_, i) => {
        const offset = (i % batchSize) * imageLength;
        toUnitFloat(batch.subarray(offset, offset + imageLength), floats);
      }),
    ),
    'batch allocation, zeroed (per image)': t(() => {
      for (let i = 0; i < n; i += batchSize) new Uint8Array(batchSize * imageLength)[0] = 1;
    }),
    'batch allocation, unfilled (per image)': t(() => {
      for (let i = 0; i < n; i += batchSize)
        new Uint8Array(Buffer.allocUnsafeSlow(batchSize * imageLength).buffer)[0] = 1;
    }),
  };
}

async function main(): Promise<void> {
  const list = await examples(values.data);
  const builds: { name: string; Pipeline: PipelineClass }[] = [];
  if (values.baseline) {
    const url = `file://${resolve(values.baseline, 'src', 'core', 'pipeline', 'pipeline.js')}`;
    const mod = (await import(url)) as { ImagePipeline: PipelineClass };
    builds.push({ name: 'A (baseline)', Pipeline: mod.ImagePipeline });
  }
  builds.push({ name: 'B (this build)', Pipeline: ImagePipeline as unknown as PipelineClass });
  const dirs = builds.map((_, i) => join(tmpdir(), `affectlab-cache-read-${process.pid}-${i}`));
  const pipelines: PipelineLike[] = [];
  for (const [i, build] of builds.entries()) {
    rmSync(dirs[i], { recursive: true, force: true });
    mkdirSync(dirs[i], { recursive: true });
    const pipeline = new build.Pipeline({ image, margin: 0.1, cacheDir: dirs[i], workers: 2 });
    const fill = await epoch(pipeline, list, shuffled(list.length, 99), 'uint8');
    process.stderr.write(
      `${build.name}: filled ${list.length} entries at ${fill.toFixed(0)} img/s\n`,
    );
    pipelines.push(pipeline);
  }
  const results: Record<string, number[]> = {};
  const loads: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    loads.push(loadavg()[0]);
    for (const dtype of ['uint8', 'float32'] as const) {
      for (const [i, build] of builds.entries()) {
        // two epochs per figure, each in its own shuffled order
        const a = await epoch(pipelines[i], list, shuffled(list.length, rep * 2 + 1), dtype);
        const b = await epoch(pipelines[i], list, shuffled(list.length, rep * 2 + 2), dtype);
        (results[`${build.name} ${dtype}`] ??= []).push((a + b) / 2);
      }
    }
  }
  const partTimes: Record<string, number[]> = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const [k, v] of Object.entries(parts(list, dirs[dirs.length - 1])))
      (partTimes[k] ??= []).push(v);
  }
  loads.push(loadavg()[0]);
  for (const p of pipelines) await p.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });

  let out = `\ncache read, epoch 2+: ${list.length} entries at ${size} px (${imageLength + CACHE_HEADER_BYTES} B each, page cache warm), batch ${batchSize}, ${reps} repetitions alternating, load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}\n\n`;
  out += '| pipeline | batches | min / **median** / max images/s |\n|---|---|---:|\n';
  for (const [k, v] of Object.entries(results)) {
    const [name, dtype] = [k.slice(0, k.lastIndexOf(' ')), k.slice(k.lastIndexOf(' ') + 1)];
    out += `| ${name} | ${dtype} | ${Math.min(...v).toFixed(0)} / **${median(v).toFixed(0)}** / ${Math.max(...v).toFixed(0)} |\n`;
  }
  if (builds.length === 2) {
    out += '\n| batches | B / A per repetition (min / **median** / max) |\n|---|---:|\n';
    for (const dtype of ['uint8', 'float32']) {
      const a = results[`A (baseline) ${dtype}`];
      const b = results[`B (this build) ${dtype}`];
      const r = b.map((x, i) => x / a[i]);
      out += `| ${dtype} | ${Math.min(...r).toFixed(2)} / **${median(r).toFixed(2)}** / ${Math.max(...r).toFixed(2)} |\n`;
    }
  }
  out += '\n| part of one cached read | µs/image (median) |\n|---|---:|\n';
  for (const [k, v] of Object.entries(partTimes)) out += `| ${k} | ${median(v).toFixed(1)} |\n`;
  process.stdout.write(out);
}

await main();
