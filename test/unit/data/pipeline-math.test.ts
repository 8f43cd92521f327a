import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AUGMENT_PARAMS,
  AugmentParam,
  augmentParams,
  batchAugmentParams,
  drawAugment,
  isAugmentActive,
} from '../../../src/core/pipeline/augment.js';
import { mergeBadRecordSummaries, BadRecordLog } from '../../../src/core/pipeline/bad-records.js';
import { BadImageError, cropRegion } from '../../../src/core/pipeline/preprocess.js';
import { Random } from '../../../src/sdk/services.js';
import { UserError } from '../../../src/sdk/errors.js';

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

test('augmentation parameters are seeded per (seed, position), one row per image', () => {
  const options = { flip: true, shift: 0.1, rotate: 15, brightness: 0.2, contrast: 0.3 };
  const a = batchAugmentParams(options, 11, [4, 5], 6, 8);
  const b = batchAugmentParams(options, 11, [4], 6, 8);
  const c = batchAugmentParams(options, 11, [5], 6, 8);
  assert.equal(a.length, 2 * AUGMENT_PARAMS);
  // a row depends on its position alone, not on the batch it is in
  assert.deepEqual(a.subarray(0, AUGMENT_PARAMS), b);
  assert.deepEqual(a.subarray(AUGMENT_PARAMS), c);
  assert.notDeepEqual(b, c);
  assert.ok(isAugmentActive(options));
  assert.ok(!isAugmentActive({ flip: false, shift: 0 }));
});

test("a draw's transform row maps each output pixel to its source (flip, shift, rotation)", () => {
  const w = 7;
  const h = 5;
  const identity = { flip: false, shiftX: 0, shiftY: 0, angle: 0, brightness: 0, contrast: 1 };
  const source = (draw: typeof identity, x: number, y: number): [number, number] => {
    const t = augmentParams(draw, w, h);
    return [t[0] * x + t[1] * y + t[2], t[3] * x + t[4] * y + t[5]];
  };
  const near = (a: [number, number], b: [number, number]) =>
    assert.ok(Math.abs(a[0] - b[0]) < 1e-6 && Math.abs(a[1] - b[1]) < 1e-6, `${a} vs ${b}`);
  near(source(identity, 2, 3), [2, 3]);
  near(source({ ...identity, flip: true }, 2, 3), [4, 3]);
  near(source({ ...identity, shiftX: 1.5, shiftY: -2 }, 2, 3), [0.5, 5]);
  // 90 degrees about the centre (3, 2): output (x, y) reads source (3 + 2 - y, 2 + x - 3)
  near(source({ ...identity, angle: Math.PI / 2 }, 6, 1), [4, 5]);
  const colour = augmentParams({ ...identity, brightness: 0.1, contrast: 1.2 }, w, h);
  assert.equal(colour[AugmentParam.contrast], Math.fround(1.2));
  assert.equal(colour[AugmentParam.brightness], Math.fround(0.1));
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
