/**
 * Image pipeline throughput: images/s for decode + crop + resize (+ float conversion) at 224 and
 * 256 px, decoding in-process (sharp on libuv's pool) vs in worker threads, cold (no cache),
 * filling the cache, and from the cache. Input: a synthetic AffectNet-format set.
 *
 *   npm run bench:pipeline -- [--count 2000] [--source-size 256] [--sizes 224,256] [--workers N] [--augment]
 */
import 'reflect-metadata';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { ImagePipeline } from '../src/core/pipeline/pipeline.js';
import { Logger, RunContext } from '../src/core/services.js';
import { AffectNetDataset } from '../src/plugins/datasets/affectnet/dataset.js';
import { ensureSyntheticAffectNet } from '../src/plugins/datasets/affectnet/synth.js';
import type { AugmentOptions, Example } from '../src/core/plugin.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    'source-size': { type: 'string', default: '256' },
    sizes: { type: 'string', default: '224,256' },
    workers: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
    data: { type: 'string', default: join('.cache', 'affectlab', 'bench-pipeline') },
    augment: { type: 'boolean', default: false },
    out: { type: 'string', default: join('bench', 'results', 'pipeline.json') },
  },
});

const count = Number(values.count);
const sourceSize = Number(values['source-size']);
const sizes = values.sizes.split(',').map(Number);
const workerCount = Number(values.workers);
const batchSize = Number(values.batch);
const augmentOptions: AugmentOptions = {
  flip: true,
  shift: 0.05,
  rotate: 10,
  brightness: 0.1,
  contrast: 0.1,
};

interface Row {
  size: number;
  loader: string;
  pass: 'cold' | 'cache fill' | 'cached';
  augment: boolean;
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

async function examples(root: string): Promise<Example[]> {
  const logger = new Logger();
  logger.level = 'warn';
  const dataset = new AffectNetDataset(
    { root, classes: 'affectnet11', split: { policy: 'official', validationPerClass: 1 } },
    logger,
    new RunContext('bench', 'bench', 1, tmpdir(), process.cwd()),
  );
  const splits = await dataset.prepare();
  return splits.train;
}

async function timePass(
  pipeline: ImagePipeline,
  list: Example[],
  augment: boolean,
): Promise<{ images: number; seconds: number }> {
  const order = list.map((_, i) => i);
  const started = performance.now();
  let images = 0;
  for await (const batch of pipeline.batches(
    list,
    order,
    batchSize,
    augment ? { options: augmentOptions, seed: 1 } : undefined,
  )) {
    images += batch.shape[0];
  }
  return { images, seconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const root = join(values.data, `synth-${count}-${sourceSize}`);
  const synth = await ensureSyntheticAffectNet({
    out: root,
    count,
    validationCount: 0,
    size: sourceSize,
    seed: 1,
  });
  process.stderr.write(
    synth.reused
      ? `using ${root}\n`
      : `generated ${synth.images} images at ${sourceSize} px in ${synth.seconds.toFixed(1)} s\n`,
  );
  const list = await examples(root);
  const rows: Row[] = [];
  const loaders = [
    { name: 'in-process', workers: 0 },
    { name: `${workerCount} workers`, workers: workerCount },
  ];
  for (const size of sizes) {
    for (const loader of loaders) {
      const image = { height: size, width: size, channels: 3 as const };
      const cacheDir = join(tmpdir(), `affectlab-bench-cache-${process.pid}`);
      rmSync(cacheDir, { recursive: true, force: true });
      mkdirSync(cacheDir, { recursive: true });
      const passes: [Row['pass'], string | undefined][] = [
        ['cold', undefined],
        ['cache fill', cacheDir],
        ['cached', cacheDir],
      ];
      for (const [pass, dir] of passes) {
        const pipeline = new ImagePipeline({
          image,
          margin: 0.1,
          cacheDir: dir,
          workers: loader.workers,
        });
        const { images, seconds } = await timePass(pipeline, list, values.augment);
        await pipeline.close();
        const row = {
          size,
          loader: loader.name,
          pass,
          augment: values.augment,
          images,
          seconds,
          imagesPerSecond: images / seconds,
        };
        rows.push(row);
        process.stderr.write(
          `${size} px ${loader.name.padEnd(12)} ${pass.padEnd(10)} ${row.imagesPerSecond.toFixed(0)} images/s\n`,
        );
      }
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }

  const args = process.argv.slice(2).join(' ');
  const command = `npm run bench:pipeline${args ? ` -- ${args}` : ''}`;
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), sharp.concurrency ${sharp.concurrency()}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, load average ${loadavg()[0].toFixed(1)} at the end (other processes share these cores)`;
  let table = `\nimage pipeline: decode + crop (face box, margin 0.1) + resize -> float32 [0,1]${values.augment ? ' + augmentation' : ''}\n`;
  table += `input: ${list.length} synthetic JPEGs at ${sourceSize} px; batch ${batchSize}\n`;
  table += `machine: ${machine}\n\n`;
  table += `| size | loader | pass | images/s | ms/image |\n|---:|---|---|---:|---:|\n`;
  for (const r of rows) {
    table += `| ${r.size} | ${r.loader} | ${r.pass} | ${r.imagesPerSecond.toFixed(0)} | ${(1000 / r.imagesPerSecond).toFixed(2)} |\n`;
  }
  table += `\nreproduce: ${command}\n`;
  process.stdout.write(table);
  mkdirSync(join(values.out, '..'), { recursive: true });
  writeFileSync(
    values.out,
    JSON.stringify(
      {
        benchmark: 'pipeline',
        date: new Date().toISOString(),
        command,
        machine,
        sourceSize,
        images: list.length,
        batchSize,
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  process.stderr.write(`wrote ${values.out}\n`);
}

await main();
