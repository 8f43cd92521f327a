/**
 * Image pipeline throughput: images/s for decode + crop + bilinear resize (+ float conversion)
 * at 224 and 256 px, decoding in-process (sharp on libuv's pool) vs in worker threads, cold (no
 * cache), filling the cache, and from the cache (float32 batches, and the uint8 batches a step
 * with its own Cast takes); against PIL doing the same work (same crop, BILINEAR) on a thread
 * pool and on one process per core (bench/pil_pipeline.py, in bench/.venv-pil), with the mean
 * pixel difference between the two. Input: a synthetic AffectNet-format set.
 *
 *   npm run bench:pipeline -- [--count 2000] [--source-size 256] [--sizes 224,256] [--workers N]
 *                             [--augment] [--skip-pil]
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { scanCacheBytes } from '../src/core/pipeline/cache.js';
import { ImagePipeline } from '../src/core/pipeline/pipeline.js';
import { decodeAndCrop } from '../src/core/pipeline/preprocess.js';
import { Logger, RunContext } from '../src/core/plugin/services.js';
import { AffectNetDataset } from '../src/plugins/datasets/affectnet/dataset.js';
import { ensureSyntheticAffectNet } from '../src/plugins/datasets/affectnet/synth.js';
import type { AugmentOptions, Example } from '../src/core/plugin/plugin.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    'source-size': { type: 'string', default: '256' },
    sizes: { type: 'string', default: '224,256' },
    workers: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
    data: { type: 'string', default: join('.cache', 'affectlab', 'bench-pipeline') },
    augment: { type: 'boolean', default: false },
    'skip-pil': { type: 'boolean', default: false },
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
  pass: 'cold' | 'cache fill' | 'cached' | 'cached, uint8 batches';
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
  uint8: boolean,
): Promise<{ images: number; seconds: number }> {
  const order = list.map((_, i) => i);
  const started = performance.now();
  let images = 0;
  const batches = uint8
    ? pipeline.uint8Batches(list, order, batchSize)
    : pipeline.batches(
        list,
        order,
        batchSize,
        augment ? { options: augmentOptions, seed: 1 } : undefined,
      );
  for await (const batch of batches) images += batch.shape[0];
  return { images, seconds: (performance.now() - started) / 1000 };
}

const MARGIN = 0.1;

/** bench/.venv-pil with requirements-keras.txt's Pillow and numpy pins; its python. */
function ensurePilVenv(): string {
  const venv = join('bench', '.venv-pil');
  const python = join(venv, 'bin', 'python');
  const pins = readFileSync(join('bench', 'requirements-keras.txt'), 'utf8')
    .split('\n')
    .filter((l) => /^(pillow|numpy)==/.test(l));
  const probe = (): boolean =>
    existsSync(python) &&
    spawnSync(python, ['-c', 'import PIL, numpy; print(PIL.__version__, numpy.__version__)'], {
      encoding: 'utf8',
    }).stdout.trim() ===
      pins
        .map((p) => p.split('==')[1])
        .reverse()
        .join(' ');
  if (probe()) return python;
  const base = process.env.AFFECTLAB_PYTHON ?? 'python3';
  process.stderr.write(`creating ${venv} with ${pins.join(' ')} (once)\n`);
  const made = spawnSync(base, ['-m', 'venv', venv], { stdio: ['ignore', 2, 2] });
  const pip = spawnSync(python, ['-m', 'pip', 'install', '--disable-pip-version-check', ...pins], {
    stdio: ['ignore', 2, 2],
  });
  if (made.status !== 0 || pip.status !== 0 || !probe())
    throw new Error(`could not set up ${venv} (${base} -m venv, pip install ${pins.join(' ')})`);
  return python;
}

function runPil(
  python: string,
  args: string[],
): { images: number; seconds: number; imagesPerSecond: number } {
  const run = spawnSync(python, [join('bench', 'pil_pipeline.py'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 2],
  });
  if (run.status !== 0) throw new Error(`bench/pil_pipeline.py ${args.join(' ')} failed`);
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as {
    images: number;
    seconds: number;
    imagesPerSecond: number;
  };
}

/** Mean and max |sharp - PIL| in uint8 levels over the dumped images. */
async function pixelDifference(
  list: Example[],
  size: number,
  pilDump: string,
): Promise<{ images: number; mean: number; max: number; over8: number }> {
  const theirs = readFileSync(pilDump);
  const length = size * size * 3;
  const images = theirs.length / length;
  let sum = 0;
  let max = 0;
  let over8 = 0;
  for (let i = 0; i < images; i++) {
    const example = list[i];
    const ours = await decodeAndCrop(readFileSync(example.imagePath), example.crop, MARGIN, {
      height: size,
      width: size,
      channels: 3,
    });
    for (let j = 0; j < length; j++) {
      const d = Math.abs(ours[j] - theirs[i * length + j]);
      sum += d;
      if (d > max) max = d;
      if (d > 8) over8++;
    }
  }
  return { images, mean: sum / (images * length), max, over8: over8 / (images * length) };
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
  const pilRows: { size: number; mode: string; imagesPerSecond: number; seconds: number }[] = [];
  const diffs: { size: number; images: number; mean: number; max: number; over8: number }[] = [];
  const cacheBytes: { size: number; bytesPerImage: number; entries: number }[] = [];
  const listFile = join(tmpdir(), `affectlab-bench-list-${process.pid}.json`);
  writeFileSync(
    listFile,
    JSON.stringify(
      list.map((e) => ({
        path: e.imagePath,
        box: e.crop ? [e.crop.x, e.crop.y, e.crop.width, e.crop.height] : [0, 0, 1e9, 1e9],
      })),
    ),
  );
  const python = values['skip-pil'] ? undefined : ensurePilVenv();
  const loaders = [
    { name: 'in-process', workers: 0 },
    { name: `${workerCount} workers`, workers: workerCount },
  ];
  for (const size of sizes) {
    if (python) {
      const dump = join(tmpdir(), `affectlab-bench-pil-${process.pid}.raw`);
      for (const mode of ['threads', 'processes']) {
        const args = ['--list', listFile, '--size', String(size), '--margin', String(MARGIN)];
        args.push('--batch', String(batchSize), '--workers', String(workerCount), '--mode', mode);
        if (mode === 'threads') args.push('--dump', dump);
        const r = runPil(python, args);
        pilRows.push({ size, mode: `PIL, ${workerCount} ${mode}`, ...r });
        process.stderr.write(
          `${size} px PIL ${mode.padEnd(10)} ${r.imagesPerSecond.toFixed(0)} images/s\n`,
        );
      }
      diffs.push({ size, ...(await pixelDifference(list, size, dump)) });
      rmSync(dump, { force: true });
    }
    for (const loader of loaders) {
      const image = { height: size, width: size, channels: 3 as const };
      const cacheDir = join(tmpdir(), `affectlab-bench-cache-${process.pid}`);
      rmSync(cacheDir, { recursive: true, force: true });
      mkdirSync(cacheDir, { recursive: true });
      const passes: [Row['pass'], string | undefined][] = [
        ['cold', undefined],
        ['cache fill', cacheDir],
        ['cached', cacheDir],
        ['cached, uint8 batches', cacheDir],
      ];
      for (const [pass, dir] of passes) {
        const pipeline = new ImagePipeline({
          image,
          margin: MARGIN,
          cacheDir: dir,
          workers: loader.workers,
        });
        const uint8 = pass === 'cached, uint8 batches';
        const { images, seconds } = await timePass(pipeline, list, values.augment && !uint8, uint8);
        await pipeline.close();
        if (pass === 'cache fill' && loader.workers === 0) {
          const scan = scanCacheBytes(cacheDir);
          cacheBytes.push({
            size,
            bytesPerImage: scan.bytes / scan.entries,
            entries: scan.entries,
          });
        }
        const row = {
          size,
          loader: loader.name,
          pass,
          augment: values.augment && !uint8,
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
  if (pilRows.length > 0) {
    table += `\nPIL ${'(Pillow, BILINEAR, same crop, float32 /255 batches)'}:\n\n| size | PIL | images/s | best affectlab cold / best PIL |\n|---:|---|---:|---:|\n`;
    for (const r of pilRows) {
      const best = Math.max(
        ...rows.filter((x) => x.size === r.size && x.pass === 'cold').map((x) => x.imagesPerSecond),
      );
      const bestPil = Math.max(
        ...pilRows.filter((x) => x.size === r.size).map((x) => x.imagesPerSecond),
      );
      table += `| ${r.size} | ${r.mode} | ${r.imagesPerSecond.toFixed(0)} | ${(best / bestPil).toFixed(2)} |\n`;
    }
    table += `\npixel difference sharp vs PIL (uint8 levels, all channels):\n\n| size | images | mean abs | max abs | share > 8 |\n|---:|---:|---:|---:|---:|\n`;
    for (const d of diffs)
      table += `| ${d.size} | ${d.images} | ${d.mean.toFixed(3)} | ${d.max} | ${(d.over8 * 100).toFixed(3)}% |\n`;
  }
  table += `\ncache on disk: ${cacheBytes.map((c) => `${c.size} px ${c.bytesPerImage} B/image (${c.entries} entries)`).join(', ')}\n`;
  table += `\nreproduce: ${command}\n`;
  rmSync(listFile, { force: true });
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
        pil: pilRows,
        pixelDifference: diffs,
        cacheBytes,
      },
      null,
      2,
    ) + '\n',
  );
  process.stderr.write(`wrote ${values.out}\n`);
}

await main();
