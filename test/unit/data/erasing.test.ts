import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AugmentParam,
  batchAugmentParams,
  drawAugment,
  drawErasing,
  erasingNoise,
  isAugmentActive,
} from '../../../src/core/pipeline/augment.js';
import { Random } from '../../../src/sdk/services.js';
import { tempDir, testRuntime, writeFiles } from '../../support/helpers.js';

const W = 120;
const H = 90;

describe("random erasing follows torchvision's RandomErasing definition", () => {
  it('area fraction and aspect stay in their bounds (up to rounding) and cover them', () => {
    const bounds = { areaMin: 0.05, areaMax: 0.25, aspectMin: 0.5, aspectMax: 2 };
    const rng = new Random(7);
    const fractions: number[] = [];
    const aspects: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const box = drawErasing({ probability: 1, ...bounds }, W, H, rng);
      assert.ok(box, 'probability 1 with bounds that fit always erases');
      const { top, left, height: h, width: w } = box;
      assert.ok(top >= 0 && left >= 0 && top + h <= H && left + w <= W && h < H && w < W);
      // h = round(sqrt(S r)), w = round(sqrt(S / r)) with S/area in [areaMin, areaMax], r in
      // [aspectMin, aspectMax]: these bounds follow exactly from |h - sqrt(S r)| <= 1/2
      assert.ok((h - 0.5) * (w - 0.5) <= bounds.areaMax * W * H + 1e-9, `${h}x${w}`);
      assert.ok((h + 0.5) * (w + 0.5) >= bounds.areaMin * W * H - 1e-9, `${h}x${w}`);
      assert.ok((h - 0.5) / (w + 0.5) <= bounds.aspectMax, `${h}x${w}`);
      assert.ok((h + 0.5) / (w - 0.5) >= bounds.aspectMin, `${h}x${w}`);
      fractions.push((h * w) / (W * H));
      aspects.push(h / w);
    }
    // the draws span the ranges (uniform area, log-uniform aspect)
    assert.ok(Math.min(...fractions) < 0.06 && Math.max(...fractions) > 0.23);
    assert.ok(Math.min(...aspects) < 0.55 && Math.max(...aspects) > 1.8);
    const meanLogAspect = aspects.reduce((s, a) => s + Math.log(a), 0) / aspects.length;
    assert.ok(Math.abs(meanLogAspect) < 0.05, `mean log aspect ${meanLogAspect}`);
    const meanFraction = fractions.reduce((s, f) => s + f, 0) / fractions.length;
    assert.ok(Math.abs(meanFraction - 0.15) < 0.01, `mean area fraction ${meanFraction}`);
  });

  it('fires with the given probability (torchvision defaults otherwise)', () => {
    const rng = new Random(3);
    let fired = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) if (drawErasing({ probability: 0.3 }, W, H, rng)) fired++;
    // 0.3 within 5 standard errors (sqrt(0.21 / 4000) = 0.0072)
    assert.ok(Math.abs(fired / n - 0.3) < 0.036, `fired ${fired / n}`);
    let defaults = 0;
    for (let i = 0; i < n; i++) if (drawErasing({}, W, H, rng)) defaults++;
    assert.ok(Math.abs(defaults / n - 0.5) < 0.04, `default probability ${defaults / n}`);
  });

  it("puts its rectangle and fill into the image's parameter row (the step erases from it)", () => {
    for (const value of [0, 0.75, 'random'] as const) {
      const options = { erasing: { probability: 1, value } };
      const row = batchAugmentParams(options, 21, [6], W, H);
      const box = drawAugment(options, W, H, Random.fork(21, 'augment', 6)).erase;
      assert.ok(box);
      assert.deepEqual(
        [...row.subarray(AugmentParam.eraseTop, AugmentParam.eraseRight + 1)],
        [box.top, box.left, box.top + box.height, box.left + box.width],
      );
      assert.equal(row[AugmentParam.eraseValue], value === 'random' ? 0 : Math.fround(value));
      assert.equal(row[AugmentParam.eraseRandom], value === 'random' ? 1 : 0);
      if (value === 'random') {
        const seed = box.randomSeed!;
        assert.equal(row[AugmentParam.noiseRow], seed % H);
        assert.equal(row[AugmentParam.noiseCol], Math.floor(seed / H) % W);
      }
    }
    // the noise table: [2H, 2W, C] values in [0, 1), a function of the seed
    const noise = erasingNoise(4, H, W, 3);
    assert.equal(noise.length, 4 * H * W * 3);
    assert.ok(noise.every((v) => v >= 0 && v < 1));
    assert.ok(new Set(noise).size > noise.length / 2, 'the noise varies');
    assert.deepEqual(noise, erasingNoise(4, H, W, 3));
    assert.notDeepEqual(noise, erasingNoise(5, H, W, 3));
  });

  it('the same (seed, position) gives the same parameters; another position another', () => {
    const options = {
      flip: true,
      shift: 0.1,
      erasing: { probability: 1, value: 'random' as const },
    };
    const a = batchAugmentParams(options, 11, [4], W, H);
    assert.deepEqual(a, batchAugmentParams(options, 11, [4], W, H));
    assert.notDeepEqual(a, batchAugmentParams(options, 11, [5], W, H));
  });

  it('probability 0 leaves the image and the other draws unchanged; erasing alone is active', () => {
    const base = { flip: true, shift: 0.05, rotate: 10, brightness: 0.1, contrast: 0.1 };
    const off = { ...base, erasing: { probability: 0 } };
    const positions = Array.from({ length: 20 }, (_, i) => i);
    assert.deepEqual(
      batchAugmentParams(off, 9, positions, W, H),
      batchAugmentParams(base, 9, positions, W, H),
    );
    for (const position of positions) {
      // erasing draws last: the geometry and colour draws are those of a config without it
      const on = drawAugment(
        { ...base, erasing: { probability: 1 } },
        W,
        H,
        Random.fork(9, 'a', position),
      );
      const { erase, ...rest } = on;
      assert.ok(erase);
      assert.deepEqual(rest, drawAugment(base, W, H, Random.fork(9, 'a', position)));
    }
    assert.equal(isAugmentActive({ flip: false, erasing: { probability: 0.5 } }), true);
    assert.equal(isAugmentActive({ flip: false, erasing: { probability: 0 } }), false);
    assert.equal(isAugmentActive({ flip: false, erasing: {} }), true);
  });

  it('a rectangle that never fits is no erasing (after 10 tries, as torchvision)', () => {
    const rng = new Random(1);
    // area 0.9 with aspect 4 cannot fit a 10x10 image
    for (let i = 0; i < 50; i++)
      assert.equal(
        drawErasing(
          { probability: 1, areaMin: 0.9, areaMax: 0.9, aspectMin: 4, aspectMax: 4 },
          10,
          10,
          rng,
        ),
        undefined,
      );
  });
});

describe('dataset.augment.erasing in a config', () => {
  it('bounds out of order are refused at validation, naming the option', async () => {
    const dir = tempDir();
    const yaml = (erasing: string) => `name: erasing
dataset: { type: affectnet, root: ${join(dir, 'none')}, augment: { erasing: ${erasing} } }
architecture: { type: vgg-type }
training: { epochs: 1, batchSize: 8 }
`;
    writeFiles(dir, {
      'area.yaml': yaml('{ areaMin: 0.5, areaMax: 0.2 }'),
      'aspect.yaml': yaml('{ aspectMin: 3, aspectMax: 2 }'),
      'good.yaml': yaml('{ probability: 0.25, value: random }'),
    });
    await assert.rejects(
      testRuntime().resolve(join(dir, 'area.yaml')),
      /dataset\.augment\.erasing: areaMin 0\.5 is greater than areaMax 0\.2/,
    );
    await assert.rejects(
      testRuntime().resolve(join(dir, 'aspect.yaml')),
      /dataset\.augment\.erasing: aspectMin 3 is greater than aspectMax 2/,
    );
    await testRuntime().resolve(join(dir, 'good.yaml'));
  });
});
