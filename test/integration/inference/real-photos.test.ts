import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { parseCsvText as parseCsv } from '../../../src/core/pipeline/csv.js';
import { ImagePipeline } from '../../../src/core/pipeline/index.js';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

/**
 * Real photographs: @vladmandic/face-api (a devDependency) ships demo/sample1-6.jpg, 1920 px
 * wide JPEGs of people's faces.
 */
const faceApiDir = dirname(
  createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'),
);
const samples = [1, 2, 3, 4, 5, 6].map((i) => join(faceApiDir, 'demo', `sample${i}.jpg`));
const work = tempDir('affectlab-photos-');
let runDir = '';
/** sample1 stored turned a quarter to the left, with EXIF orientation 6 (rotate 90 clockwise to show). */
let sideways = '';

describe('predict on real photographs', () => {
  before(async () => {
    ({ runDir } = await tinyTrainedRun(work, 'photos', { imageSize: 64 }));
    sideways = join(work, 'sample1-exif6.jpg');
    await sharp(samples[0])
      .rotate(-90)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toFile(sideways);
  });

  it('predicts every sample whole-image with --detector none, skipping none', async () => {
    const meta = await Promise.all(samples.map((s) => sharp(s).metadata()));
    assert.ok(
      meta.every((m) => m.format === 'jpeg' && (m.width ?? 0) >= 1920),
      'large JPEGs',
    );
    assert.equal((await sharp(sideways).metadata()).orientation, 6);
    const r = affectlab([
      'predict',
      '--run',
      runDir,
      ...samples,
      sideways,
      '--batch',
      '4',
      '--detector',
      'none',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const { header, records } = parseCsv(r.stdout, 'stdout');
    assert.deepEqual(header, [
      'image',
      'pred',
      'Neutral',
      'Happy',
      'Sad',
      'Surprise',
      'Fear',
      'Anger',
    ]);
    assert.deepEqual(
      records.map((row) => row.cells[0]),
      [...samples, sideways],
    );
    for (const row of records) {
      const p = row.cells.slice(2).map(Number);
      assert.ok(p.every((v) => v >= 0 && v <= 1));
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    assert.match(r.stderr, /predicted 7 of 7 image\(s\)/);
    assert.doesNotMatch(r.stderr, /not predicted/);
  });

  it('turns a whole image upright by its EXIF orientation, and only when asked', async () => {
    const image = { height: 64, width: 64, channels: 3 as const };
    const meanAbsDiff = (a: Uint8Array, b: Uint8Array): number => {
      let sum = 0;
      for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
      return sum / a.length;
    };
    const load = async (path: string, autoOrient: boolean): Promise<Uint8Array> => {
      const pipeline = new ImagePipeline({ image, margin: 0, workers: 0, autoOrient });
      try {
        return await pipeline.loadOne({ id: path, imagePath: path, label: -1 });
      } finally {
        await pipeline.close();
      }
    };
    const upright = await load(samples[0], true);
    const oriented = await load(sideways, true);
    const raw = await load(sideways, false);
    // JPEG re-encoding moves pixels by a level or two; a quarter turn moves them by tens
    const same = meanAbsDiff(upright, oriented);
    const turned = meanAbsDiff(upright, raw);
    assert.ok(same < 3, `upright vs EXIF-oriented: ${same}`);
    assert.ok(turned > 10 * same && turned > 10, `upright vs stored sideways: ${turned}`);
  });
});
