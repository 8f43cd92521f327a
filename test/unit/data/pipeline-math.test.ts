import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  augmentExample,
  augmentToFloat,
  drawAugment,
  isAugmentActive,
} from '../../../src/core/pipeline/augment.js';
import { mergeBadRecordSummaries, BadRecordLog } from '../../../src/core/pipeline/bad-records.js';
import { BadImageError, cropRegion } from '../../../src/core/pipeline/preprocess.js';
import { Random } from '../../../src/core/plugin/services.js';
import { UserError } from '../../../src/core/errors.js';

test('cropRegion grows the box by the margin and clamps to the image', () => {
  assert.deepEqual(cropRegion({ x: 20, y: 10, width: 40, height: 50 }, 0, 100, 80), {
    left: 20,
    top: 10,
    width: 40,
    height: 50,
  });
  assert.deepEqual(cropRegion({ x: 20, y: 10, width: 40, height: 50 }, 0.25, 100, 80), {
    left: 10,
    top: 0,
    width: 60,
    height: 73,
  });
  assert.deepEqual(cropRegion(undefined, 0.5, 100, 80), {
    left: 0,
    top: 0,
    width: 100,
    height: 80,
  });
  // a box touching the border within the tolerance is clamped
  assert.deepEqual(cropRegion({ x: 62, y: 0, width: 40, height: 40 }, 0, 100, 80), {
    left: 62,
    top: 0,
    width: 38,
    height: 40,
  });
});

test('cropRegion refuses a box entirely outside the image, or empty', () => {
  assert.throws(
    () => cropRegion({ x: 100, y: 10, width: 40, height: 40 }, 0.2, 100, 80),
    (e: unknown) =>
      e instanceof BadImageError &&
      e.reason === 'face box outside the image' &&
      /lies entirely outside the 100x80 image/.test(e.message),
  );
  assert.throws(
    () => cropRegion({ x: 10, y: 500, width: 40, height: 40 }, 0, 100, 80),
    BadImageError,
  );
  assert.throws(
    () => cropRegion({ x: -50, y: 10, width: 50, height: 40 }, 0, 100, 80),
    BadImageError,
  );
  assert.throws(() => cropRegion({ x: 10, y: 10, width: 0, height: 40 }, 0, 100, 80), /is empty/);
});

test('augmentation is seeded per (seed, position) and stays in [0,1]', () => {
  const pixels = Uint8Array.from({ length: 8 * 6 * 3 }, (_, i) => (i * 37) % 256);
  const options = { flip: true, shift: 0.1, rotate: 15, brightness: 0.2, contrast: 0.3 };
  const a = augmentExample(pixels, 8, 6, 3, options, 11, 4);
  const b = augmentExample(pixels, 8, 6, 3, options, 11, 4);
  const c = augmentExample(pixels, 8, 6, 3, options, 11, 5);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every((v) => v >= 0 && v <= 1));
  assert.ok(isAugmentActive(options));
  assert.ok(!isAugmentActive({ flip: false, shift: 0 }));
});

test('a pure flip mirrors the rows; identity is value/255', () => {
  const h = 2;
  const w = 3;
  const pixels = Uint8Array.from([0, 51, 102, 153, 204, 255]); // 1 channel
  const identity = augmentToFloat(pixels, h, w, 1, {
    flip: false,
    shiftX: 0,
    shiftY: 0,
    angle: 0,
    brightness: 0,
    contrast: 1,
  });
  assert.deepEqual(
    identity,
    Float32Array.from(pixels, (v) => v / 255),
  );
  const flipped = augmentToFloat(pixels, h, w, 1, {
    flip: true,
    shiftX: 0,
    shiftY: 0,
    angle: 0,
    brightness: 0,
    contrast: 1,
  });
  assert.deepEqual(
    [...flipped].map((v) => Math.round(v * 255)),
    [102, 51, 0, 255, 204, 153],
  );
  const shifted = augmentToFloat(pixels, h, w, 1, {
    flip: false,
    shiftX: 1,
    shiftY: 0,
    angle: 0,
    brightness: 0,
    contrast: 1,
  });
  // moved right by one pixel, left column replicated
  assert.deepEqual(
    [...shifted].map((v) => Math.round(v * 255)),
    [0, 0, 51, 153, 153, 204],
  );
  const brighter = augmentToFloat(pixels, h, w, 1, {
    flip: false,
    shiftX: 0,
    shiftY: 0,
    angle: 0,
    brightness: 0.5,
    contrast: 1,
  });
  assert.equal(brighter[5], 1);
  assert.equal(brighter[0], 0.5);
});

test('drawAugment respects the bounds', () => {
  const rng = new Random(3);
  for (let i = 0; i < 200; i++) {
    const d = drawAugment({ shift: 0.1, rotate: 10, brightness: 0.2, contrast: 0.3 }, 50, 40, rng);
    assert.ok(Math.abs(d.shiftX) <= 5 && Math.abs(d.shiftY) <= 4);
    assert.ok(Math.abs(d.angle) <= (10 * Math.PI) / 180);
    assert.ok(d.contrast >= 0.7 && d.contrast <= 1.3);
    assert.equal(d.flip, false);
  }
});

test('bad-record log counts, keeps examples and fails under fail', () => {
  const log = new BadRecordLog('skip');
  for (let i = 0; i < 8; i++) log.add(`a.csv:${i + 2}`, 'missing field', `row ${i}`);
  log.add('a.csv:20', 'corrupt image');
  const summary = log.summary();
  assert.equal(summary.total, 9);
  assert.deepEqual(summary.byReason, { 'missing field': 8, 'corrupt image': 1 });
  assert.equal(summary.examples.length, 6);
  assert.equal(summary.examples[0].source, 'a.csv:2');
  const merged = mergeBadRecordSummaries(summary, summary);
  assert.equal(merged.total, 18);
  assert.equal(merged.byReason['missing field'], 16);
  assert.throws(
    () => new BadRecordLog('fail').add('b.csv:7', 'corrupt image', 'x'),
    (e: unknown) => e instanceof UserError && e.message.startsWith('b.csv:7: corrupt image'),
  );
});
