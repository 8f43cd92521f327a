import 'reflect-metadata';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import {
  AFFECTNET_CSV_COLUMNS,
  AFFECTNET_FILE_LISTS_DIR,
  AFFECTNET_IMAGES_DIR,
} from '../../../src/plugins/datasets/affectnet/constants.js';
import { UserError } from '../../../src/sdk/errors.js';
import { exceedsBadFraction } from '../../../src/core/pipeline/bad-records.js';
import { ImagePipeline, type Batch } from '../../../src/core/pipeline/pipeline.js';
import type { Example } from '../../../src/sdk/contracts/data.js';
import { generateSyntheticAffectNet } from '../../../src/plugins/datasets/affectnet/synth.js';
import { tempDir } from '../../support/helpers.js';
import { buildAffectNet } from './fixtures.js';

const dir = tempDir('affectlab-bad-data-');
const synth = join(dir, 'synth');
const open: ImagePipeline[] = [];
let goodLines: string[] = [];

before(async () => {
  await generateSyntheticAffectNet({
    out: synth,
    count: 120,
    validationCount: 20,
    seed: 9,
    size: 48,
  });
  goodLines = readFileSync(join(synth, AFFECTNET_FILE_LISTS_DIR, 'training.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
});
after(async () => {
  await Promise.all(open.map((p) => p.close()));
});

function pipeline(options: Partial<ConstructorParameters<typeof ImagePipeline>[0]> = {}) {
  const p = new ImagePipeline({
    image: { height: 16, width: 16, channels: 3 },
    margin: 0,
    ...options,
  });
  open.push(p);
  return p;
}

async function collect(batches: AsyncGenerator<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

/** A root with the test's own file lists (header added) and an images folder given by `images`. */
function rootWith(name: string, training: string[], images: (imagesDir: string) => void): string {
  const root = join(dir, name);
  mkdirSync(join(root, AFFECTNET_FILE_LISTS_DIR), { recursive: true });
  images(join(root, AFFECTNET_IMAGES_DIR));
  const header = AFFECTNET_CSV_COLUMNS.join(',');
  const validation = readFileSync(join(synth, AFFECTNET_FILE_LISTS_DIR, 'validation.csv'), 'utf8');
  writeFileSync(
    join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv'),
    [header, ...training].join('\n') + '\n',
  );
  writeFileSync(join(root, AFFECTNET_FILE_LISTS_DIR, 'validation.csv'), validation);
  return root;
}

const withPath = (line: string, path: string): string =>
  [path, ...line.split(',').slice(1)].join(',');
const withBox = (line: string, box: [number, number, number, number]): string => {
  const f = line.split(',');
  f.splice(1, 4, ...box.map(String));
  return f.join(',');
};

describe('dataset.maxBadFraction at prepare', () => {
  it('fails with the counts and the first bad records when too many records are bad', async () => {
    // 12 of 60 rows name images that do not exist: 20 %
    const lines = goodLines
      .slice(0, 60)
      .map((l, i) => (i % 5 === 2 ? withPath(l, `1/missing-${i}.jpg`) : l));
    const root = rootWith('missing', lines, (images) =>
      symlinkSync(join(synth, AFFECTNET_IMAGES_DIR), images),
    );
    const csv = join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv');
    await assert.rejects(
      buildAffectNet({ root, classes: 'affectnet11' }).prepare(),
      (e: unknown) =>
        e instanceof UserError &&
        e.message.startsWith(
          `${csv} (the train and validation splits): 12 of 60 records are bad (20.0 %)`,
        ) &&
        e.message.includes("more than the dataset's maxBadFraction 0.05") &&
        e.message.includes(`${csv}:4: missing image file`),
    );
    // within a wider bound the same root prepares, the bad rows counted
    const splits = await buildAffectNet({
      root,
      classes: 'affectnet11',
      maxBadFraction: 0.25,
      split: { policy: 'official' },
    }).prepare();
    assert.equal(splits.badRecords.total, 12);
    assert.equal(splits.train.length, 48);
  });
});

describe('valence/arousal outside [-1, 1]', () => {
  it('is a bad record naming file and line, apart from the -2 rows without values', async () => {
    const withValenceArousal = (line: string, valence: string, arousal: string): string => {
      const f = line.split(',');
      f.splice(7, 2, valence, arousal);
      return f.join(',');
    };
    // rows with a value (codes 0-7) get 5.0 and -1.5; one gets -2/-2 ("no value")
    const lines = goodLines.slice(0, 60);
    const valued = lines
      .map((l, i) => [l, i] as const)
      .filter(([l]) => Number(l.split(',')[6]) <= 7)
      .map(([, i]) => i);
    lines[valued[1]] = withValenceArousal(lines[valued[1]], '5.0', '0.1');
    lines[valued[2]] = withValenceArousal(lines[valued[2]], '0.2', '-1.5');
    lines[valued[3]] = withValenceArousal(lines[valued[3]], '-2', '-2');
    const root = rootWith('valence-range', lines, (images) =>
      symlinkSync(join(synth, AFFECTNET_IMAGES_DIR), images),
    );
    const csv = join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv');
    const splits = await buildAffectNet({
      root,
      classes: 'affectnet8',
      task: 'valence-arousal',
      maxBadFraction: 0.1,
      split: { policy: 'official' },
    }).prepare();
    assert.equal(splits.badRecords.byReason['valence/arousal out of range'], 2);
    const bySource = new Map(splits.badRecords.examples.map((e) => [e.source, e.reason]));
    assert.match(
      bySource.get(`${csv}:${valued[1] + 2}`) ?? '',
      /valence=5\.0 \(valid: -1\.\.1, or -2/,
    );
    assert.match(bySource.get(`${csv}:${valued[2] + 2}`) ?? '', /arousal=-1\.5/);
    assert.ok(!bySource.has(`${csv}:${valued[3] + 2}`), 'a -2 row is left out, not a bad record');
    await assert.rejects(
      buildAffectNet({
        root,
        classes: 'affectnet8',
        task: 'valence-arousal',
        onBadRecord: 'fail',
      }).prepare(),
      new RegExp(`training\\.csv:${valued[1] + 2}: valence/arousal out of range: valence=5\\.0`),
    );
  });
});

describe('face boxes partly outside the image', () => {
  it('are clamped to the image; a box entirely outside stays a bad record', async () => {
    // a 40x30 JPEG: left half black, right half white
    const width = 40;
    const height = 30;
    const raw = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = width / 2; x < width; x++)
        raw.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
    const imagePath = join(dir, 'halves.jpg');
    await sharp(raw, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 95 })
      .toFile(imagePath);
    const example = (id: string, crop: Example['crop']): Example => ({
      id,
      imagePath,
      label: 0,
      crop,
      source: `list.csv:${id}`,
    });
    const examples = [
      // overshoots right and top: clamped to x 25..40, y 0..20, all white
      example('2', { x: 25, y: -10, width: 30, height: 30 }),
      // overshoots left and bottom: x 0..15, y 10..30, all black
      example('3', { x: -20, y: 10, width: 35, height: 40 }),
      example('4', { x: 41, y: 0, width: 10, height: 10 }),
    ];
    const p = pipeline({ workers: 0 });
    const [batch] = await collect(p.batches(examples, [0, 1, 2], 8));
    assert.deepEqual(batch.indices, [0, 1]);
    const image = 16 * 16 * 3;
    const white = batch.x.subarray(0, image);
    const black = batch.x.subarray(image, 2 * image);
    assert.ok(Math.min(...white) > 0.9, `clamped right crop is white (min ${Math.min(...white)})`);
    assert.ok(Math.max(...black) < 0.1, `clamped left crop is black (max ${Math.max(...black)})`);
    assert.deepEqual(p.badRecords.byReason, { 'face box outside the image': 1 });
    assert.match(
      p.badRecords.examples[0].reason,
      /box x=41 y=0 w=10 h=10 lies entirely outside the 40x30 image/,
    );
  });

  it('a file-list row with a box starting left of or above the image is kept', async () => {
    const lines = goodLines.slice(0, 20);
    lines[0] = withBox(lines[0], [-6, -4, 30, 30]);
    lines[1] = withBox(lines[1], [-40, 2, 30, 30]); // ends before the image starts
    const root = rootWith('boxes', lines, (images) =>
      symlinkSync(join(synth, AFFECTNET_IMAGES_DIR), images),
    );
    const splits = await buildAffectNet({
      root,
      classes: 'affectnet11',
      maxBadFraction: 1,
      split: { policy: 'official' },
    }).prepare();
    const kept = splits.train.find((e) => e.source?.endsWith('training.csv:2'));
    assert.deepEqual(kept?.crop, { x: -6, y: -4, width: 30, height: 30 });
    assert.deepEqual(splits.badRecords.byReason, { 'invalid face box': 1 });
    assert.match(splits.badRecords.examples[0].reason, /entirely outside the image/);
    const p = pipeline();
    const batches = await collect(
      p.batches(splits.train, [splits.train.indexOf(kept as Example)], 1),
    );
    assert.equal(batches.length, 1, 'the clamped box loads');
  });
});

describe('symlinks inside the image root', () => {
  it('are followed to their real path: outside the root is refused, inside is kept', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside, { recursive: true });
    const secret = join(outside, 'secret.jpg');
    await sharp({ create: { width: 48, height: 48, channels: 3, background: '#808080' } })
      .jpeg()
      .toFile(secret);
    const lines = goodLines.slice(0, 20);
    const [firstPath] = lines[0].split(',');
    lines[1] = withPath(lines[1], 'links/out.jpg'); // a file link pointing outside
    lines[2] = withPath(lines[2], 'linked-out/secret.jpg'); // a folder link pointing outside
    lines[3] = withPath(lines[3], 'links/in.jpg'); // a link to an image inside the root
    const realImages = join(dir, 'real-images');
    const root = rootWith('links', lines, (images) => {
      // the images folder itself is a link (to a copy elsewhere): that must stay fine
      cpSync(join(synth, AFFECTNET_IMAGES_DIR), realImages, { recursive: true });
      mkdirSync(join(realImages, 'links'));
      symlinkSync(secret, join(realImages, 'links', 'out.jpg'));
      symlinkSync(join(realImages, firstPath), join(realImages, 'links', 'in.jpg'));
      symlinkSync(outside, join(realImages, 'linked-out'));
      symlinkSync(realImages, images);
    });
    const splits = await buildAffectNet({
      root,
      classes: 'affectnet11',
      maxBadFraction: 1,
      split: { policy: 'official' },
    }).prepare();
    const csv = join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv');
    assert.deepEqual(splits.badRecords.byReason, { 'path escapes the image root': 2 });
    const bySource = new Map(splits.badRecords.examples.map((e) => [e.source, e.reason]));
    assert.match(
      bySource.get(`${csv}:3`) ?? '',
      new RegExp(`'links/out.jpg' resolves to ${secret}, outside`),
    );
    assert.match(bySource.get(`${csv}:4`) ?? '', /'linked-out\/secret.jpg' resolves to .*outside/);
    assert.equal(splits.train.length, 18);
    assert.ok(
      splits.train.some((e) => e.id === 'links/in.jpg'),
      'a link staying inside is followed',
    );
    assert.ok(!splits.train.some((e) => e.id.includes('out')));
    await assert.rejects(
      buildAffectNet({ root, classes: 'affectnet11', onBadRecord: 'fail' }).prepare(),
      /training\.csv:3: path escapes the image root: 'links\/out.jpg' resolves to/,
    );
  });
});

describe('maxBadFraction while images are decoded', () => {
  let good = '';
  let corrupt = '';
  before(async () => {
    good = join(dir, 'good.jpg');
    await sharp({ create: { width: 24, height: 24, channels: 3, background: '#336699' } })
      .jpeg()
      .toFile(good);
    corrupt = join(dir, 'corrupt.jpg');
    const bytes = readFileSync(good);
    writeFileSync(corrupt, bytes.subarray(0, 40)); // a JPEG cut after its header
  });
  /** `n` examples, those at the positions `isBad` picks pointing at the corrupt file. */
  const examples = (n: number, isBad: (i: number) => boolean): Example[] =>
    Array.from({ length: n }, (_, i) => ({
      id: `img-${i}`,
      imagePath: isBad(i) ? corrupt : good,
      label: 0,
      source: `training.csv:${i + 2}`,
    }));

  it('fails early, naming the split and the counts, when most images are corrupt', async () => {
    const train = examples(1000, (i) => i % 100 < 89); // 89 %
    const p = pipeline({ maxBadFraction: 0.05, splits: { train } });
    let batches = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of p.batches(
          train,
          train.map((_, i) => i),
          8,
        ))
          batches++;
      })(),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        const m =
          /^the train split: (\d+) of (\d+) images seen so far \(of 1000\) are bad \((\d+\.\d) %\)/.exec(
            e.message,
          );
        assert.ok(m, e.message);
        // after the minimum sample of 100, not after the whole split
        assert.ok(Number(m[2]) >= 100 && Number(m[2]) <= 110, m[2]);
        assert.match(e.message, /training\.csv:2: corrupt image/);
        assert.match(e.message, /raise the dataset's maxBadFraction/);
        return true;
      },
    );
    assert.ok(batches <= 2, `${batches} batches before the failure`);
  });

  it('a split within the bound is not failed by the luck of its first images', async () => {
    // 3 % bad, all at the start: the first 100 hold 10 % but that is no proof of > 5 %
    const train = examples(400, (i) => i < 12);
    const p = pipeline({ maxBadFraction: 0.05, splits: { train } });
    const batches = await collect(
      p.batches(
        train,
        train.map((_, i) => i),
        16,
      ),
    );
    assert.equal(batches.flatMap((b) => b.indices).length, 388);
    assert.equal(p.badRecords.total, 12);
  });

  it('a split over the bound but within the noise fails once the whole split is seen', async () => {
    const validation = examples(200, (i) => i % 25 === 0 || i % 25 === 13); // 8 %
    const p = pipeline({ maxBadFraction: 0.05, splits: { validation } });
    let images = 0;
    await assert.rejects(
      (async () => {
        for await (const b of p.batches(
          validation,
          validation.map((_, i) => i),
          16,
        ))
          images += b.indices.length;
      })(),
      /the validation split: 16 of 200 images are bad \(8\.0 %\), more than the dataset's maxBadFraction 0\.05/,
    );
    assert.ok(images >= 150, `${images} images delivered before the exact count`);
    // no bound: the same split goes through
    const free = pipeline();
    assert.equal(
      (
        await collect(
          free.batches(
            validation,
            validation.map((_, i) => i),
            16,
          ),
        )
      ).flatMap((b) => b.indices).length,
      184,
    );
  });

  it('exceedsBadFraction: exact on the whole split, cautious on a sample, 0 and 1 as limits', () => {
    assert.equal(exceedsBadFraction(6, 100, 100, 0.05), true);
    assert.equal(exceedsBadFraction(5, 100, 100, 0.05), false);
    assert.equal(exceedsBadFraction(50, 99, 1000, 0.05), false, 'below the minimum sample');
    assert.equal(exceedsBadFraction(89, 100, 1000, 0.05), true);
    assert.equal(exceedsBadFraction(10, 100, 1000, 0.05), false, 'within the noise of 100');
    assert.equal(
      exceedsBadFraction(100, 1000, 10000, 0.05),
      true,
      '10 % of 1000 is beyond the noise',
    );
    assert.equal(exceedsBadFraction(1, 2, 1000, 0), true);
    assert.equal(exceedsBadFraction(1000, 1000, 1000, 1), false);
  });
});
