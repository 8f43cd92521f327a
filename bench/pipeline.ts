/**
 * Image pipeline throughput: images/s for decode + crop + bilinear resize (+ float conversion)
 * at 224 and 256 px, decoding in-process (sharp on libuv's pool) vs in worker threads, cold (no
 * cache), filling the cache, and from the cache (float32 batches, and the uint8 batches a step
 * with its own Cast takes); against PIL doing the same work (same crop, BILINEAR) on a thread
 * pool and on one process per core (bench/pil_pipeline.py, in bench/.venv-pil), with the mean
 * pixel difference between the two. Input: a synthetic AffectNet-format set.
 *
 * affectlab decodes a JPEG crop at least 2x the output with DCT scaling (the JPEG addon; 3x
 * through sharp where it is not built; see decodeAndCrop; the "exact resize" rows turn it off),
 * PIL with Image.draft when it is at least 2x (the "PIL draft" rows; plain PIL decodes at full
 * size). Loaders: in-process, 1 worker thread, --workers threads; PIL: a thread pool and one
 * process per worker, --workers of each, and one process (per-core rate). DCT scaling only
 * matters for sources well above the output size: real AffectNet images are mostly 300-1000+
 * px, so pass e.g. `--source-size 1024` (the default 256 px source never triggers it at 224-256
 * px output).
 *
 *   npm run bench:pipeline -- [--count 2000] [--source-size 256] [--sizes 224,256] [--workers N]
 *                             [--skip-pil] [--skip-cache]
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import {
  ImagePipeline,
  createRuntime,
  decodeAndCrop,
  openDataset,
  scanCacheBytes,
  shrinkOnLoadFrom,
  type Example,
} from '../src/index.js';
// the synthetic set's generator is the affectnet plugin's own tool (no plugin kind offers it)
import { ensureSyntheticAffectNet } from '../src/plugins/datasets/affectnet/index.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    'source-size': { type: 'string', default: '256' },
    sizes: { type: 'string', default: '224,256' },
    workers: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
    data: { type: 'string', default: join('.cache', 'affectlab', 'bench-pipeline') },
    'skip-pil': { type: 'boolean', default: false },
    'skip-cache': { type: 'boolean', default: false },
    out: { type: 'string', default: join('bench', 'results', 'pipeline.json') },
  },
});

const count = Number(values.count);
const sourceSize = Number(values['source-size']);
const sizes = values.sizes.split(',').map(Number);
const workerCount = Number(values.workers);
const batchSize = Number(values.batch);

interface Row {
  size: number;
  loader: string;
  pass: 'cold' | 'cold, uint8 batches' | 'cache fill' | 'cached' | 'cached, uint8 batches';
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

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
  const splits = await dataset.prepare();
  return splits.train;
}

async function timePass(
  pipeline: ImagePipeline,
  list: Example[],
  uint8: boolean,
): Promise<{ images: number; seconds: number }> {
  const order = list.map((_, i) => i);
  const started = performance.now();
  let images = 0;
  const batches = uint8
    ? pipeline.uint8Batches(list, order, batchSize)
    : pipeline.batches(list, order, batchSize);
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

/** The first `images` outputs of one side, concatenated uint8 HWC. */
async function ours(
  list: Example[],
  size: number,
  images: number,
  shrinkOnLoad: boolean,
): Promise<Uint8Array> {
  const length = size * size * 3;
  const out = new Uint8Array(images * length);
  for (let i = 0; i < images; i++) {
    const example = list[i];
    const pixels = await decodeAndCrop(
      readFileSync(example.imagePath),
      example.crop,
      MARGIN,
      { height: size, width: size, channels: 3 },
      false,
      shrinkOnLoad,
    );
    out.set(pixels, i * length);
  }
  return out;
}

/** Mean and max |a - b| in uint8 levels. */
function pixelDifference(
  a: Uint8Array,
  b: Uint8Array,
  size: number,
): { images: number; mean: number; max: number; over8: number } {
  const length = size * size * 3;
  const images = Math.min(a.length, b.length) / length;
  let sum = 0;
  let max = 0;
  let over8 = 0;
  for (let i = 0; i < images; i++) {
    for (let j = 0; j < length; j++) {
      const d = Math.abs(a[i * length + j] - b[i * length + j]);
      sum += d;
      if (d > max) max = d;
      if (d > 8) over8++;
    }
  }
  return { images, mean: sum / (images * length), max, over8: over8 / (images * length) };
}

type PilRow = { size: number; mode: string; imagesPerSecond: number; seconds: number };
type DiffRow = {
  size: number;
  pair: string;
  images: number;
  mean: number;
  max: number;
  over8: number;
};
type CacheBytes = { size: number; bytesPerImage: number; entries: number };
type Loader = { name: string; workers: number; shrinkOnLoad: boolean };

/** How many crops are at least the DCT-scaling factor times the largest output. */
async function countShrinkable(list: Example[]): Promise<number> {
  let shrinkable = 0;
  for (const e of list) {
    const meta = await sharp(e.imagePath).metadata();
    const box = e.crop;
    if (!box || !meta.width || !meta.height) continue;
    const w =
      Math.min(meta.width, box.x + box.width * (1 + MARGIN)) -
      Math.max(0, box.x - MARGIN * box.width);
    const h =
      Math.min(meta.height, box.y + box.height * (1 + MARGIN)) -
      Math.max(0, box.y - MARGIN * box.height);
    if (Math.min(w, h) >= shrinkOnLoadFrom() * Math.max(...sizes)) shrinkable++;
  }
  return shrinkable;
}

/** PIL plain and draft on threads and processes at one size, and the pixel differences. */
async function pilFigures(
  python: string,
  list: Example[],
  listFile: string,
  size: number,
  pilRows: PilRow[],
  diffs: DiffRow[],
): Promise<void> {
  const dumps: Record<string, Uint8Array> = {};
  for (const draft of [false, true]) {
    const dump = join(tmpdir(), `affectlab-bench-pil-${process.pid}.raw`);
    const runs: [string, number][] = [
      ['threads', workerCount],
      ['processes', workerCount],
      ...(workerCount > 1 ? [['processes', 1] as [string, number]] : []),
    ];
    for (const [mode, workers] of runs) {
      const args = ['--list', listFile, '--size', String(size), '--margin', String(MARGIN)];
      args.push('--batch', String(batchSize), '--workers', String(workers), '--mode', mode);
      if (draft) args.push('--draft');
      if (mode === 'threads') args.push('--dump', dump);
      const r = runPil(python, args);
      const name = `PIL${draft ? ' draft' : ''}, ${workers} ${workers === 1 ? 'process' : mode}`;
      pilRows.push({ size, mode: name, ...r });
      process.stderr.write(
        `${size} px ${name.padEnd(24)} ${r.imagesPerSecond.toFixed(0)} images/s\n`,
      );
    }
    dumps[draft ? 'PIL draft' : 'PIL'] = readFileSync(dump);
    rmSync(dump, { force: true });
  }
  const count = dumps.PIL.length / (size * size * 3);
  dumps.affectlab = await ours(list, size, count, true);
  dumps['affectlab exact resize'] = await ours(list, size, count, false);
  for (const [a, b] of [
    ['affectlab', 'affectlab exact resize'],
    ['affectlab', 'PIL'],
    ['affectlab exact resize', 'PIL'],
    ['PIL draft', 'PIL'],
    ['affectlab', 'PIL draft'],
  ])
    diffs.push({ size, pair: `${a} vs ${b}`, ...pixelDifference(dumps[a], dumps[b], size) });
}

/** affectlab's loaders at one size: cold, and (unless --skip-cache) filling and reading the cache. */
async function loaderFigures(
  list: Example[],
  size: number,
  loaders: Loader[],
  rows: Row[],
  cacheBytes: CacheBytes[],
): Promise<void> {
  for (const loader of loaders) {
    const image = { height: size, width: size, channels: 3 as const };
    const cacheDir = join(tmpdir(), `affectlab-bench-cache-${process.pid}`);
    rmSync(cacheDir, { recursive: true, force: true });
    mkdirSync(cacheDir, { recursive: true });
    const passes: [Row['pass'], string | undefined][] =
      values['skip-cache'] || !loader.shrinkOnLoad
        ? [
            ['cold', undefined],
            ['cold, uint8 batches', undefined],
          ]
        : [
            ['cold', undefined],
            ['cold, uint8 batches', undefined],
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
        shrinkOnLoad: loader.shrinkOnLoad,
      });
      // uint8 batches: what the compiled step takes (it divides by 255 in its graph)
      const uint8 = pass.endsWith('uint8 batches');
      const { images, seconds } = await timePass(pipeline, list, uint8);
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

/** The markdown tables: loaders, PIL, ratios, per core, pixel differences, cache bytes. */
function renderTable(r: {
  list: Example[];
  shrinkable: number;
  machine: string;
  command: string;
  rows: Row[];
  pilRows: PilRow[];
  diffs: DiffRow[];
  cacheBytes: CacheBytes[];
}): string {
  const { list, shrinkable, machine, command, rows, pilRows, diffs, cacheBytes } = r;
  let table = `\nimage pipeline: decode + crop (face box, margin 0.1) + resize -> float32 [0,1] (augmentation happens in the training step: bench:train)\n`;
  table += `input: ${list.length} synthetic JPEGs at ${sourceSize} px (${shrinkable} with a crop >= ${shrinkOnLoadFrom()}x the largest output, where DCT scaling applies); batch ${batchSize}\n`;
  table += `machine: ${machine}\n\n`;
  table += `| size | loader | pass | images/s | ms/image |\n|---:|---|---|---:|---:|\n`;
  for (const r of rows) {
    table += `| ${r.size} | ${r.loader} | ${r.pass} | ${r.imagesPerSecond.toFixed(0)} | ${(1000 / r.imagesPerSecond).toFixed(2)} |\n`;
  }
  if (pilRows.length > 0) {
    table += `\nPIL (Pillow ${'BILINEAR'}, same crop, float32 /255 batches; "draft": Image.draft DCT scaling where the crop is >= 2x the output, the crop box scaled sub-pixel exactly):\n\n| size | PIL | images/s |\n|---:|---|---:|\n`;
    for (const r of pilRows)
      table += `| ${r.size} | ${r.mode} | ${r.imagesPerSecond.toFixed(0)} |\n`;
    table += `\nratios, cold (best of the loaders named, float32 or uint8 batches (the compiled step takes uint8), / best PIL of the kind named, float32 batches):\n\n| size | affectlab | PIL | ratio |\n|---:|---|---|---:|\n`;
    for (const size of sizes) {
      const best = (exact: boolean): number =>
        Math.max(
          ...rows
            .filter(
              (x) =>
                x.size === size &&
                x.pass.startsWith('cold') &&
                x.loader.includes('exact') === exact,
            )
            .map((x) => x.imagesPerSecond),
        );
      const bestPil = (draft: boolean): number =>
        Math.max(
          ...pilRows
            .filter((x) => x.size === size && x.mode.includes('draft') === draft)
            .map((x) => x.imagesPerSecond),
        );
      for (const [ours, exact] of [
        ['shrink-on-load', false],
        ['exact resize', true],
      ] as const)
        for (const [theirs, draft] of [
          ['plain', false],
          ['draft', true],
        ] as const)
          table += `| ${size} | ${ours} | ${theirs} | ${(best(exact) / bestPil(draft)).toFixed(2)} |\n`;
    }
    // affectlab decodes on libuv's thread pool (sharp and the JPEG addon), shared by the main
    // thread and the workers, so every affectlab row may use all the cores
    const cores = cpus().length;
    const workersOf = (name: string): number => Number(/(\d+) (process|thread)/.exec(name)?.[1]);
    const perCore = [
      ...rows
        .filter((r) => r.pass.startsWith('cold'))
        .map((r) => ({
          size: r.size,
          name: `affectlab ${r.loader}, ${r.pass}`,
          rate: r.imagesPerSecond,
          cores,
        })),
      ...pilRows.map((r) => ({
        size: r.size,
        name: r.mode,
        rate: r.imagesPerSecond,
        cores: Math.min(cores, workersOf(r.mode)),
      })),
    ];
    table += `\nper core, cold (images/s / the cores the row may use; affectlab decodes on libuv's pool, all cores; "x16": on 16 cores if it scaled linearly):\n\n| size | row | cores | images/s per core | x16 |\n|---:|---|---:|---:|---:|\n`;
    for (const r of perCore)
      table += `| ${r.size} | ${r.name} | ${r.cores} | ${(r.rate / r.cores).toFixed(0)} | ${((16 * r.rate) / r.cores).toFixed(0)} |\n`;
    table += `\npixel difference (uint8 levels, all channels, first images of the list):\n\n| size | pair | images | mean abs | max abs | share > 8 |\n|---:|---|---:|---:|---:|---:|\n`;
    for (const d of diffs)
      table += `| ${d.size} | ${d.pair} | ${d.images} | ${d.mean.toFixed(3)} | ${d.max} | ${(d.over8 * 100).toFixed(3)}% |\n`;
  }
  table += `\ncache on disk: ${cacheBytes.map((c) => `${c.size} px ${c.bytesPerImage} B/image (${c.entries} entries)`).join(', ')}\n`;
  table += `\nreproduce: ${command}\n`;
  return table;
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
  const pilRows: PilRow[] = [];
  const diffs: DiffRow[] = [];
  const cacheBytes: CacheBytes[] = [];
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
  const loaders: Loader[] = [
    { name: 'in-process', workers: 0, shrinkOnLoad: true },
    ...(workerCount > 1 ? [{ name: '1 worker', workers: 1, shrinkOnLoad: true }] : []),
    { name: `${workerCount} workers`, workers: workerCount, shrinkOnLoad: true },
    { name: `${workerCount} workers, exact resize`, workers: workerCount, shrinkOnLoad: false },
  ];
  const shrinkable = await countShrinkable(list);
  for (const size of sizes) {
    if (python) await pilFigures(python, list, listFile, size, pilRows, diffs);
    await loaderFigures(list, size, loaders, rows, cacheBytes);
  }
  const args = process.argv.slice(2).join(' ');
  const command = `npm run bench:pipeline${args ? ` -- ${args}` : ''}`;
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), sharp.concurrency ${sharp.concurrency()}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, load average ${loadavg()[0].toFixed(1)} at the end (other processes share these cores)`;
  const table = renderTable({
    list,
    shrinkable,
    machine,
    command,
    rows,
    pilRows,
    diffs,
    cacheBytes,
  });
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
