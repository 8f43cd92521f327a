import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { parseCsvText as parseCsv } from '../../../src/core/pipeline/csv.js';
import { decodeRgb } from '../../../src/core/inference/faces.js';
import type { DetectedFace, DetectorPlugin } from '../../../src/sdk/contracts/inference.js';
import type { FaceBox } from '../../../src/sdk/contracts/data.js';
import { loadFaceApi, type FaceApi } from '../../../src/plugins/detectors/face-api.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

/** face-api's demo photos: 1920 px wide JPEGs of 3-5 people each. */
const faceApiDir = dirname(
  createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'),
);
const samples = [1, 2, 3, 4, 5, 6].map((i) => join(faceApiDir, 'demo', `sample${i}.jpg`));
const work = tempDir('affectlab-faces-');

function iou(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** face-api's own high-level call, as its README shows it. */
interface FaceApiReference {
  detectAllFaces(
    input: tf.Tensor3D,
    options: unknown,
  ): {
    withFaceLandmarks(): Promise<
      {
        detection: { box: FaceBox; score: number };
        landmarks: { positions: { x: number; y: number }[] };
      }[]
    >;
  };
}

describe('the face-api detector plugin', () => {
  const found = new Map<string, DetectedFace[]>();

  before(async () => {
    await activateBackend();
    const runtime = testRuntime();
    const detector = runtime.instantiate<DetectorPlugin>(runtime.container, 'detector', {
      type: 'face-api',
    });
    for (const sample of samples) {
      const [faces] = await detector.detect([await decodeRgb(sample)]);
      found.set(sample, faces);
    }
  });

  it("finds the faces face-api's detectAllFaces finds (same count, IoU >= 0.9), with 68 landmarks", async () => {
    const api = loadFaceApi() as FaceApi & FaceApiReference;
    for (const sample of samples) {
      const image = await decodeRgb(sample);
      const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      const reference = await api
        .detectAllFaces(
          input,
          new api.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 }),
        )
        .withFaceLandmarks();
      input.dispose();
      const ours = found.get(sample) ?? [];
      assert.ok(reference.length >= 3, `${basename(sample)}: ${reference.length} faces`);
      assert.equal(ours.length, reference.length, basename(sample));
      for (const ref of reference) {
        const best = ours.reduce((a, b) =>
          iou(a.box, ref.detection.box) >= iou(b.box, ref.detection.box) ? a : b,
        );
        assert.ok(
          iou(best.box, ref.detection.box) >= 0.9,
          `${basename(sample)}: IoU ${iou(best.box, ref.detection.box)}`,
        );
        assert.ok(Math.abs(best.score - ref.detection.score) < 1e-3);
        assert.equal(best.landmarks?.length, 68);
        const lm = best.landmarks ?? [];
        const d = Math.max(
          ...ref.landmarks.positions.map((p, i) => Math.hypot(p.x - lm[i][0], p.y - lm[i][1])),
        );
        assert.ok(d < 1, `${basename(sample)}: landmarks differ by ${d} px`);
      }
    }
  });

  it('keeps options: maxFaces, minScore, minFaceSize', async () => {
    const runtime = testRuntime();
    const image = await decodeRgb(samples[4]);
    const detect = async (options: Record<string, unknown>): Promise<DetectedFace[]> =>
      (
        await runtime
          .instantiate<DetectorPlugin>(runtime.container, 'detector', {
            type: 'face-api',
            ...options,
          })
          .detect([image])
      )[0];
    const all = found.get(samples[4]) ?? [];
    assert.equal((await detect({ maxFaces: 2 })).length, 2);
    const strict = await detect({ minScore: 0.95, landmarks: false });
    assert.deepEqual(
      strict.map((f) => f.score),
      all.filter((f) => f.score >= 0.95).map((f) => f.score),
    );
    assert.equal(strict[0].landmarks, undefined);
    const smallest = Math.min(...all.map((f) => Math.min(f.box.width, f.box.height)));
    const big = await detect({ minFaceSize: Math.ceil(smallest) + 1 });
    assert.equal(big.length, all.length - 1);
    assert.throws(
      () => runtime.instantiate(runtime.container, 'detector', { type: 'face-api', minScore: 2 }),
      /detector 'face-api': invalid options/,
    );
  });

  it('is listed by affectlab plugins under its kind', () => {
    const r = affectlab(['plugins']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\ndetector\n\s+face-api\s/);
  });
});

describe('affectlab predict on whole photos', () => {
  let runDir = '';
  let noFace = '';
  before(async () => {
    ({ runDir } = await tinyTrainedRun(work, 'faces', { imageSize: 48 }));
    // a landscape without a face: a smooth colour gradient
    const [w, h] = [1600, 900];
    const pixels = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const i = 3 * (y * w + x);
        pixels[i] = Math.round((255 * x) / w);
        pixels[i + 1] = Math.round((180 * y) / h) + 40;
        pixels[i + 2] = 200 - Math.round((150 * y) / h);
      }
    noFace = join(work, 'landscape.jpg');
    await sharp(pixels, { raw: { width: w, height: h, channels: 3 } })
      .jpeg()
      .toFile(noFace);
  });

  it('writes one row per detected face, reports the photo with none, and draws the boxes', async () => {
    const annotated = join(work, 'annotated');
    const photos = [samples[0], samples[4], noFace];
    const r = affectlab([
      'predict',
      '--run',
      runDir,
      ...photos,
      '--annotate',
      annotated,
      '--batch',
      '4',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const { header, records } = parseCsv(r.stdout, 'stdout');
    assert.deepEqual(header.slice(0, 8), [
      'image',
      'face',
      'face_x',
      'face_y',
      'face_width',
      'face_height',
      'face_score',
      'pred',
    ]);
    const runtime = testRuntime();
    const detector = runtime.instantiate<DetectorPlugin>(runtime.container, 'detector', {
      type: 'face-api',
    });
    for (const photo of photos) {
      const rows = records.filter((row) => row.cells[0] === photo);
      const [faces] = await detector.detect([await decodeRgb(photo)]);
      assert.equal(rows.length, faces.length, basename(photo));
      rows.forEach((row, i) => {
        assert.equal(Number(row.cells[1]), i);
        const box = {
          x: Number(row.cells[2]),
          y: Number(row.cells[3]),
          width: Number(row.cells[4]),
          height: Number(row.cells[5]),
        };
        assert.ok(iou(box, faces[i].box) > 0.99);
        const p = row.cells.slice(8).map(Number);
        assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      });
    }
    assert.equal(records.filter((row) => row.cells[0] === noFace).length, 0);
    assert.match(r.stderr, /1 photo\(s\) with no face/);
    assert.match(r.stderr, /no face found: .*landscape\.jpg/);
    // the annotated copy: the box edges are drawn in pure green where the CSV puts them
    assert.deepEqual(readdirSync(annotated).sort(), [
      'landscape.jpg',
      'sample1.jpg',
      'sample5.jpg',
    ]);
    const original = await decodeRgb(samples[4]);
    const drawn = await decodeRgb(join(annotated, 'sample5.jpg'));
    const at = (img: typeof drawn, x: number, y: number): number[] => {
      const i = 3 * (Math.round(y) * img.width + Math.round(x));
      return [img.data[i], img.data[i + 1], img.data[i + 2]];
    };
    const green = ([r0, g, b]: number[]): boolean => g - Math.max(r0, b) > 100;
    for (const row of records.filter((row) => row.cells[0] === samples[4])) {
      const [x, y, w, h] = row.cells.slice(2, 6).map(Number);
      for (const [px, py] of [
        [x + w / 2, y],
        [x, y + h / 2],
        [x + w, y + h / 2],
        [x + w / 2, y + h],
      ]) {
        assert.ok(green(at(drawn, px, py)), `edge (${px}, ${py}): ${at(drawn, px, py)}`);
        assert.ok(!green(at(original, px, py)));
      }
      // inside the box the photo is as it was
      const inside = at(drawn, x + w / 2, y + h / 2);
      const before = at(original, x + w / 2, y + h / 2);
      assert.ok(
        inside.every((v, c) => Math.abs(v - before[c]) < 25),
        `${inside} vs ${before}`,
      );
    }
  });

  it('takes each image whole with --detector none, and names an unknown detector', () => {
    const r = affectlab(['predict', '--run', runDir, samples[0], noFace, '--detector', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseCsv(r.stdout, 'stdout').records.length, 2);
    const bad = affectlab(['predict', '--run', runDir, samples[0], '--detector', 'haar']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown detector 'haar'.*face-api/);
    const flag = affectlab(['predict', '--run', runDir, noFace, '--min-score', '1.5']);
    assert.notEqual(flag.code, 0);
    assert.match(flag.stderr, /minScore/);
  });
});
