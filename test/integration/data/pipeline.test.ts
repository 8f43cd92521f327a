import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { UserError } from '../../../src/sdk/errors.js';
import { AUGMENT_PARAMS, batchAugmentParams } from '../../../src/core/pipeline/augment.js';
import { ImagePipeline, type Batch } from '../../../src/core/pipeline/pipeline.js';
import { decodeAndCrop, headerSize } from '../../../src/core/pipeline/preprocess.js';
import type { DatasetSplits, Example } from '../../../src/sdk/contracts/data.js';
import { generateSyntheticAffectNet } from '../../../src/plugins/datasets/affectnet/synth.js';
import { Logger } from '../../../src/sdk/services.js';
import { tempDir } from '../../support/helpers.js';
import { buildAffectNet } from './fixtures.js';

const dir = tempDir('affectlab-pipeline-');
const root = join(dir, 'synth');
const image = { height: 24, width: 20, channels: 3 as const };
let splits: DatasetSplits;
const open: ImagePipeline[] = [];

function pipeline(
  options: Partial<ConstructorParameters<typeof ImagePipeline>[0]> = {},
): ImagePipeline {
  const p = new ImagePipeline({ image, margin: 0.1, ...options });
  open.push(p);
  return p;
}

/** A real Logger whose warnings are collected (and not printed). */
function recordingLogger(): { logger: Logger; warnings: string[] } {
  const logger = new Logger();
  logger.level = 'error';
  const warnings: string[] = [];
  logger.sink = (line) => {
    if (line.includes('[warn]')) warnings.push(line);
  };
  return { logger, warnings };
}

/** Every cache entry file under a cache directory. */
function cacheEntries(cacheDir: string): string[] {
  return readdirSync(cacheDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.alc'))
    .map((f) => join(cacheDir, f));
}

async function collect<B = Batch>(batches: AsyncGenerator<B>): Promise<B[]> {
  const out: B[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

before(async () => {
  await generateSyntheticAffectNet({
    out: root,
    count: 60,
    validationCount: 11,
    seed: 4,
    size: 48,
  });
  splits = await buildAffectNet({
    root,
    classes: 'affectnet11',
    imageSize: [24, 20],
    split: { policy: 'official' },
  }).prepare();
});
after(async () => {
  await Promise.all(open.map((p) => p.close()));
});

/** A 120x90 PNG in four flat quadrants: red, green / blue, white. */
async function quadrants(path: string): Promise<void> {
  const width = 120;
  const height = 90;
  const pixels = Buffer.alloc(width * height * 3);
  const colours = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 255],
  ];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const q = (y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1);
      pixels.set(colours[q], (y * width + x) * 3);
    }
  }
  await sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
}

/** The pixel at (x, y) is `expected`, give or take the resampling filter's ringing. */
function assertPixel(
  data: ArrayLike<number>,
  width: number,
  x: number,
  y: number,
  expected: number[],
): void {
  const actual = [0, 1, 2].map((c) => data[(y * width + x) * 3 + c]);
  assert.ok(
    actual.every((v, c) => Math.abs(v - expected[c]) <= 12),
    `pixel (${x},${y}) = ${actual}, expected ${expected}`,
  );
}

test('crops to the face box, with the margin, and resizes', async () => {
  const path = join(dir, 'quadrants.png');
  await quadrants(path);
  const example = (crop?: Example['crop']): Example => ({
    id: 'q',
    imagePath: path,
    label: 0,
    crop,
    source: 'test:1',
  });
  const spec = { height: 10, width: 10, channels: 3 as const };
  // exactly the bottom-right quadrant: all white
  const white = await pipeline({ image: spec, margin: 0 }).loadOne(
    example({ x: 60, y: 45, width: 60, height: 45 }),
  );
  assert.equal(white.length, 10 * 10 * 3);
  assert.ok(white.every((v) => v === 255));
  // the top-left quadrant grown by 50%: clamped at the image's top-left, reaching into the others
  const grown = await pipeline({ image: spec, margin: 0.5 }).loadOne(
    example({ x: 20, y: 15, width: 40, height: 30 }),
  );
  // region x 0..80, y 0..60 -> red top-left, green top-right, blue bottom-left, white bottom-right
  assertPixel(grown, 10, 0, 0, [255, 0, 0]);
  assertPixel(grown, 10, 9, 0, [0, 255, 0]);
  assertPixel(grown, 10, 0, 9, [0, 0, 255]);
  assertPixel(grown, 10, 9, 9, [255, 255, 255]);
  // no box: the whole image
  const whole = await pipeline({ image: spec, margin: 0 }).loadOne(example(undefined));
  assertPixel(whole, 10, 0, 0, [255, 0, 0]);
  assertPixel(whole, 10, 9, 9, [255, 255, 255]);
  // greyscale: one channel
  const grey = await pipeline({ image: { ...spec, channels: 1 }, margin: 0 }).loadOne(
    example({ x: 60, y: 45, width: 60, height: 45 }),
  );
  assert.equal(grey.length, 100);
  assert.ok(grey.every((v) => v === 255));
});

test('batches: NHWC float32 in [0,1], order kept, last batch short', async () => {
  const order = splits.train.map((_, i) => i).reverse();
  const batches = await collect(pipeline().batches(splits.train, order, 16));
  const n = splits.train.length;
  assert.equal(batches.length, Math.ceil(n / 16));
  assert.deepEqual(batches[0].shape, [16, 24, 20, 3]);
  assert.deepEqual(batches.at(-1)?.shape, [n - 16 * (batches.length - 1), 24, 20, 3]);
  assert.deepEqual(
    batches.flatMap((b) => b.indices),
    order,
  );
  for (const b of batches) {
    assert.equal(
      b.x.length,
      b.shape.reduce((a, c) => a * c, 1),
    );
    assert.ok(b.x.every((v) => v >= 0 && v <= 1));
  }
  // not a constant image
  const first = batches[0].x.subarray(0, 24 * 20 * 3);
  assert.ok(Math.max(...first) - Math.min(...first) > 0.3);
  // the unaugmented float batch is the uint8 image / 255
  const direct = await pipeline().loadOne(splits.train[order[0]]);
  assert.deepEqual(
    first,
    Float32Array.from(direct, (v) => v / 255),
  );
});

test('augmentation parameters are deterministic for a seed and positional, in-process or in worker threads', async () => {
  const order = splits.train.map((_, i) => i);
  const augment = {
    options: { flip: true, shift: 0.1, rotate: 10, brightness: 0.1, contrast: 0.1 },
    seed: 77,
  };
  const a = await collect(pipeline({ workers: 0 }).batches(splits.train, order, 8, augment));
  const b = await collect(pipeline({ workers: 2 }).batches(splits.train, order, 8, augment));
  const c = await collect(pipeline().batches(splits.train, order, 8, { ...augment, seed: 78 }));
  const bytes = await collect(pipeline().uint8Batches(splits.train, order, 8, augment));
  const resumed = await collect(pipeline().uint8Batches(splits.train, order, 8, augment, 8));
  const plain = await collect(pipeline().batches(splits.train, order, 8));
  assert.equal(a.length, b.length);
  a.forEach((batch, i) => {
    assert.deepEqual(batch.indices, b[i].indices);
    assert.deepEqual(batch.x, b[i].x);
    assert.deepEqual(batch.augment, b[i].augment);
    // each image's row is drawn from (seed, position): the same for uint8 batches
    assert.deepEqual(batch.augment, bytes[i].augment);
    assert.deepEqual(batch.augment, batchAugmentParams(augment.options, 77, batch.indices, 20, 24));
    // the pixels are not augmented here: the training step does it from the rows
    assert.deepEqual(batch.x, plain[i].x);
    assert.equal(plain[i].augment, undefined);
  });
  // a resumed epoch draws what the uninterrupted one drew at the same positions
  assert.deepEqual(
    resumed.map((batch) => batch.augment),
    bytes.slice(1).map((batch) => batch.augment),
  );
  assert.notDeepEqual(a[0].augment, c[0].augment);
  assert.equal(a[0].augment?.length, 8 * AUGMENT_PARAMS);
});

test('the cache gives identical pixels and is invalidated by a changed file', async () => {
  const cacheDir = join(dir, 'cache');
  const examples = splits.train.slice(0, 12);
  const order = examples.map((_, i) => i);
  const cold = pipeline({ cacheDir, workers: 0 });
  const first = await collect(cold.batches(examples, order, 5));
  assert.equal(cold.stats.cacheHits, 0);
  assert.deepEqual(readdirSync(cacheDir), ['24x20x3']);
  assert.equal(cacheEntries(cacheDir).length, 12);
  // header + uint8 pixels, nothing else
  assert.ok(cacheEntries(cacheDir).every((f) => statSync(f).size === 16 + 24 * 20 * 3));
  const warm = pipeline({ cacheDir, workers: 1 });
  const second = await collect(warm.batches(examples, order, 5));
  assert.equal(warm.stats.cacheHits, 12);
  assert.deepEqual(
    second.map((b) => b.x),
    first.map((b) => b.x),
  );
  // another crop setting is another entry
  const otherMargin = pipeline({ cacheDir, margin: 0.3 });
  await collect(otherMargin.batches(examples, order, 5));
  assert.equal(otherMargin.stats.cacheHits, 0);
  // touching the source image invalidates its entry
  const touched = examples[0].imagePath;
  utimesSync(touched, new Date(), new Date(Date.now() + 5000));
  const again = pipeline({ cacheDir });
  await collect(again.batches(examples, order, 5));
  assert.equal(again.stats.cacheHits, 11);
});

test('image sizes read from JPEG and PNG headers equal sharp metadata', async () => {
  const raw = { raw: { width: 37, height: 23, channels: 3 as const } };
  const pixels = Buffer.alloc(37 * 23 * 3, 90);
  const files = [
    await sharp(pixels, raw).jpeg().toBuffer(),
    await sharp(pixels, raw).jpeg({ progressive: true }).toBuffer(),
    await sharp(pixels, raw)
      .withExif({ IFD0: { Copyright: 'x' } })
      .jpeg()
      .toBuffer(),
    await sharp(pixels, raw).png().toBuffer(),
    ...splits.train.slice(0, 3).map((e) => readFileSync(e.imagePath)),
  ];
  for (const file of files) {
    const meta = await sharp(file).metadata();
    assert.deepEqual(headerSize(file), { width: meta.width, height: meta.height });
  }
  assert.equal(headerSize(Buffer.from('this is not a jpeg')), undefined);
  assert.equal(headerSize(files[0].subarray(0, 30)), undefined);
  assert.equal(headerSize(await sharp(pixels, raw).webp().toBuffer()), undefined);
});

test('a corrupt cache entry is named in a warning, decoded again and rewritten', async () => {
  const cacheDir = join(dir, 'cache-corrupt');
  const examples = splits.train.slice(0, 6);
  const order = examples.map((_, i) => i);
  const first = await collect(pipeline({ cacheDir }).batches(examples, order, 4));
  const files = cacheEntries(cacheDir).sort();
  assert.equal(files.length, 6);
  truncateSync(files[0], 100); // wrong length
  writeFileSync(files[1], Buffer.alloc(16 + 24 * 20 * 3)); // right length, bad header
  for (const workers of [0, 1]) {
    const { logger, warnings } = recordingLogger();
    const again = pipeline({ cacheDir, workers, logger });
    const second = await collect(again.batches(examples, order, 4));
    assert.deepEqual(
      second.map((b) => b.x),
      first.map((b) => b.x),
    );
    if (workers === 0) {
      assert.equal(again.stats.cacheHits, 4);
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings.join('\n'), /100 bytes, expected 1456/);
      assert.match(warnings.join('\n'), /bad header/);
      assert.ok(warnings.every((w) => /is corrupt .*decoding the image again/.test(w)));
    } else {
      // rewritten by the first pass: every entry is good again
      assert.equal(again.stats.cacheHits, 6);
      assert.deepEqual(warnings, []);
    }
  }
  // the same entry read through loadOne (the loader's own lookup) is reported too
  truncateSync(files[2], 10);
  const { logger, warnings } = recordingLogger();
  const single = pipeline({ cacheDir, logger });
  for (const [i, example] of examples.entries()) {
    const pixels = await single.loadOne(example);
    assert.deepEqual(
      Float32Array.from(pixels, (v) => v / 255),
      first[Math.floor(i / 4)].x.subarray((i % 4) * 1440, ((i % 4) + 1) * 1440),
    );
  }
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /10 bytes, expected 1456/);
  assert.equal(statSync(files[2]).size, 1456);
});

test('the cache stops growing at its size bound and uint8 batches equal the float ones x 255', async () => {
  const cacheDir = join(dir, 'cache-bounded');
  const examples = splits.train.slice(0, 10);
  const order = examples.map((_, i) => i);
  const entryBytes = 16 + 24 * 20 * 3;
  // room for 4 entries, not 5
  const bounded = pipeline({ cacheDir, cacheMaxBytes: entryBytes * 4 + 100, workers: 1 });
  const floats = await collect(bounded.batches(examples, order, 4));
  assert.equal(cacheEntries(cacheDir).length, 4);
  // a new pipeline counts what is on disk: still no room
  const again = pipeline({ cacheDir, cacheMaxBytes: entryBytes * 5 - 1 });
  await collect(again.batches(examples, order, 4));
  assert.equal(again.stats.cacheHits, 4);
  assert.equal(cacheEntries(cacheDir).length, 4);
  for (const workers of [0, 1]) {
    const bytes = await collect(pipeline({ cacheDir, workers }).uint8Batches(examples, order, 4));
    assert.deepEqual(
      bytes.map((b) => b.shape),
      floats.map((b) => b.shape),
    );
    for (let i = 0; i < bytes.length; i++) {
      assert.ok(bytes[i].x instanceof Uint8Array);
      assert.deepEqual(
        Float32Array.from(bytes[i].x, (v) => v / 255),
        floats[i].x,
      );
    }
  }
  // an unbounded pipeline fills the rest
  assert.equal(cacheEntries(cacheDir).length, 10);
});

test('corrupt and missing images and boxes outside the image are counted, not fatal', async () => {
  const corruptPath = join(dir, 'corrupt.jpg');
  writeFileSync(corruptPath, Buffer.from('this is not a jpeg'));
  const truncatedPath = join(dir, 'truncated.jpg');
  const real = await sharp(splits.train[0].imagePath).toBuffer();
  writeFileSync(truncatedPath, real.subarray(0, Math.floor(real.length / 3)));
  const good = splits.train.slice(0, 7);
  const examples: Example[] = [
    ...good.slice(0, 2),
    { id: 'corrupt', imagePath: corruptPath, label: 0, source: 'training.csv:5' },
    { id: 'missing', imagePath: join(dir, 'nope.jpg'), label: 0, source: 'training.csv:6' },
    {
      ...good[2],
      id: 'outside',
      crop: { x: 60, y: 50, width: 30, height: 30 },
      source: 'training.csv:7',
    },
    { id: 'truncated', imagePath: truncatedPath, label: 0, source: 'training.csv:8' },
    ...good.slice(3),
  ];
  const order = examples.map((_, i) => i);
  for (const workers of [0, 2]) {
    const p = pipeline({ workers });
    const batches = await collect(p.batches(examples, order, 4));
    assert.deepEqual(
      batches.map((b) => b.shape[0]),
      [4, 2],
    );
    assert.deepEqual(
      batches.flatMap((b) => b.indices),
      [0, 1, 6, 7, 8, 9],
    );
    const bad = p.badRecords;
    assert.equal(bad.total, 4);
    assert.deepEqual(bad.byReason, {
      'corrupt image': 2,
      'missing image file': 1,
      'face box outside the image': 1,
    });
    assert.deepEqual(bad.examples.map((e) => e.source).sort(), [
      'training.csv:5',
      'training.csv:6',
      'training.csv:7',
      'training.csv:8',
    ]);
    // a second epoch skips them without counting them again
    await collect(p.batches(examples, order, 4));
    assert.equal(p.badRecords.total, 4);
  }
  const strict = pipeline({ onBadRecord: 'fail' });
  await assert.rejects(
    collect(strict.batches(examples, order, 4)),
    (e: unknown) => e instanceof UserError && e.message.startsWith('training.csv:5: corrupt image'),
  );
  await assert.rejects(pipeline().loadOne(examples[3]), /training\.csv:6: missing image file/);
});

test('an abandoned epoch leaves nothing behind', async () => {
  const p = pipeline({ prefetch: 1 });
  for await (const batch of p.batches(
    splits.train,
    splits.train.map((_, i) => i),
    4,
  )) {
    assert.equal(batch.shape[0], 4);
    break;
  }
  const all = await collect(p.batches(splits.train, [0, 1, 2], 4));
  assert.deepEqual(all[0].indices, [0, 1, 2]);
  assert.throws(
    () => new ImagePipeline({ image: { height: 0, width: 4, channels: 3 }, margin: 0 }),
    UserError,
  );
});

test('JPEG shrink-on-load (DCT scaling, crops >= 2x the output) stays within a pixel-difference bound of the exact path', async () => {
  const large = join(dir, 'large');
  await generateSyntheticAffectNet({
    out: large,
    count: 12,
    validationCount: 0,
    seed: 5,
    size: 768,
  });
  const examples = (
    await buildAffectNet({
      root: large,
      classes: 'affectnet11',
      imageSize: [96, 96],
      split: { policy: 'official', validationPerClass: 1 },
    }).prepare()
  ).train;
  const spec = { height: 96, width: 96, channels: 3 as const };
  let sum = 0;
  let values = 0;
  let changed = 0;
  for (const e of examples) {
    const encoded = readFileSync(e.imagePath);
    const shrunk = await decodeAndCrop(encoded, e.crop, 0.1, spec, false, true);
    const exact = await decodeAndCrop(encoded, e.crop, 0.1, spec, false, false);
    let imageSum = 0;
    for (let i = 0; i < exact.length; i++) imageSum += Math.abs(shrunk[i] - exact[i]);
    sum += imageSum;
    values += exact.length;
    if (imageSum > 0) changed++;
    // a PNG of the same pixels never takes the JPEG path
    const png = await sharp(encoded).png().toBuffer();
    assert.deepEqual(
      await decodeAndCrop(png, e.crop, 0.1, spec, false, true),
      await decodeAndCrop(png, e.crop, 0.1, spec, false, false),
    );
  }
  // every crop of a 768 px image (>= 387 px) at 96 px output is >= 2x: each takes the DCT path
  assert.equal(changed, examples.length);
  // bench/pipeline.ts measured 0.3-0.4 levels at 256 px from 768-1024 px sources
  assert.ok(sum / values < 1.5, `mean abs difference ${(sum / values).toFixed(3)} levels`);
  // and the pipeline keys its cache by the choice
  const cacheDir = join(dir, 'cache-shrink');
  const order = examples.map((_, i) => i);
  const a = pipeline({ image: spec, cacheDir, workers: 0 });
  await collect(a.uint8Batches(examples, order, 4));
  const b = pipeline({ image: spec, cacheDir, workers: 0, shrinkOnLoad: false });
  await collect(b.uint8Batches(examples, order, 4));
  assert.equal(b.stats.cacheHits, 0);
  assert.equal(cacheEntries(cacheDir).length, 2 * examples.length);
});

test('an entry known to be cached that vanishes between epochs is decoded again', async () => {
  const cacheDir = join(dir, 'cache-vanish');
  const examples = splits.train.slice(0, 9);
  const order = examples.map((_, i) => i);
  const p = pipeline({ cacheDir, workers: 1 });
  const first = await collect(p.uint8Batches(examples, order, 4));
  const second = await collect(p.uint8Batches(examples, order, 4));
  assert.equal(p.stats.cacheHits, 9);
  for (const f of cacheEntries(cacheDir).slice(0, 3)) rmSync(f);
  const third = await collect(p.uint8Batches(examples, order, 4));
  assert.equal(p.stats.cacheHits, 15);
  assert.deepEqual(
    third.map((b) => b.x),
    first.map((b) => b.x),
  );
  assert.deepEqual(
    second.map((b) => b.x),
    first.map((b) => b.x),
  );
  assert.equal(cacheEntries(cacheDir).length, 9);
});
