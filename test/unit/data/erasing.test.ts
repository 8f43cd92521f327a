import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  augmentExample,
  drawAugment,
  drawErasing,
  isAugmentActive,
  toUnitFloat,
} from '../../../src/core/pipeline/augment.js';
import { Random } from '../../../src/core/plugin/services.js';
import { tempDir, testRuntime, writeFiles } from '../../support/helpers.js';

const W = 120;
const H = 90;

function pixels(h: number, w: number, c: number): Uint8Array {
  return Uint8Array.from({ length: h * w * c }, (_, i) => 40 + ((i * 37) % 200));
}

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

  it('fills exactly its rectangle with the value, or with random values in [0,1)', () => {
    const c = 3;
    const src = pixels(H, W, c);
    const plain = toUnitFloat(src);
    for (const value of [0, 0.75, 'random'] as const) {
      const options = { erasing: { probability: 1, value } };
      const out = augmentExample(src, H, W, c, options, 21, 6);
      const draw = drawAugment(options, W, H, Random.fork(21, 'augment', 6));
      const box = draw.erase;
      assert.ok(box);
      let inside = 0;
      const seen = new Set<number>();
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let k = 0; k < c; k++) {
            const i = (y * W + x) * c + k;
            const inBox =
              y >= box.top && y < box.top + box.height && x >= box.left && x < box.left + box.width;
            if (!inBox) assert.equal(out[i], plain[i]);
            else {
              inside++;
              if (value === 'random') {
                assert.ok(out[i] >= 0 && out[i] < 1);
                seen.add(out[i]);
              } else assert.equal(out[i], value);
            }
          }
      assert.equal(inside, box.height * box.width * c);
      if (value === 'random') assert.ok(seen.size > inside / 2, 'random fill varies');
    }
  });

  it('the same (seed, position) gives the same image; another position another', () => {
    const src = pixels(H, W, 3);
    const options = {
      flip: true,
      shift: 0.1,
      erasing: { probability: 1, value: 'random' as const },
    };
    const a = augmentExample(src, H, W, 3, options, 11, 4);
    const b = augmentExample(src, H, W, 3, options, 11, 4);
    const other = augmentExample(src, H, W, 3, options, 11, 5);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, other);
  });

  it('probability 0 leaves the image and the other draws unchanged; erasing alone is active', () => {
    const src = pixels(H, W, 3);
    const base = { flip: true, shift: 0.05, rotate: 10, brightness: 0.1, contrast: 0.1 };
    const off = { ...base, erasing: { probability: 0 } };
    for (let position = 0; position < 20; position++) {
      assert.deepEqual(
        augmentExample(src, H, W, 3, off, 9, position),
        augmentExample(src, H, W, 3, base, 9, position),
      );
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
