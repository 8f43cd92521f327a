import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeRgb, prepareFace } from '../../../src/core/inference/faces.js';
import { faceInput, imageInput, luminance } from '../../../src/core/pipeline/face-input.js';
import { resizeLinear } from '../../../src/core/pipeline/resize.js';
import type { CropMode, FaceBox, ImageSpec } from '../../../src/sdk/contracts/data.js';
import type { Point } from '../../../src/sdk/contracts/inference.js';

/**
 * The web export's page prepares faces with src/core/pipeline/face-input.ts (plain JavaScript:
 * no sharp in a browser); `affectlab predict` prepares them with sharp. These hold the two to
 * the same pixels.
 */

const demo = (name: string): string =>
  join(
    dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
    'demo',
    name,
  );

/** A deterministic pseudo-random generator (32-bit LCG), so the cases are the same every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

interface Comparison {
  /** Largest difference of one value. */
  max: number;
  /** Values that differ at all. */
  differing: number;
  values: number;
}

function compare(expected: Uint8Array, got: Uint8Array, what: string): Comparison {
  assert.equal(
    got.length,
    expected.length,
    `${what}: ${got.length} values, sharp ${expected.length}`,
  );
  let max = 0;
  let differing = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(expected[i] - got[i]);
    if (d > 0) differing++;
    max = Math.max(max, d);
  }
  return { max, differing, values: expected.length };
}

function addUp(total: Comparison, one: Comparison): void {
  total.max = Math.max(total.max, one.max);
  total.differing += one.differing;
  total.values += one.values;
}

function assertSame(total: Comparison, what: string): void {
  process.stdout.write(
    `# ${what}: ${total.differing} of ${total.values} values differ from sharp's (by at most ${total.max})\n`,
  );
  assert.equal(total.differing, 0, `${what}: values differ from sharp's, by up to ${total.max}`);
}

describe("the page's resize is sharp's resize(fill, linear)", () => {
  it('on random images shrunk, enlarged and both, RGB and grey', async () => {
    const random = lcg(7);
    const total: Comparison = { max: 0, differing: 0, values: 0 };
    // sizes where libvips' region-wise sample positions land on a table boundary (where a
    // resize that ran its positions over the whole image differed), then random ones
    const sizes = [
      [294, 483, 64, 64],
      [443, 463, 64, 64],
      [702, 397, 150, 64],
      [15, 950, 190, 74],
      [285, 515, 300, 96],
    ];
    const cases = sizes.length + 100;
    for (let n = sizes.length; n < cases; n++)
      sizes.push([420, 420, 130, 130].map((max) => 1 + Math.floor(random() * max)));
    for (const [n, [width, height, outWidth, outHeight]] of sizes.entries()) {
      const channels = n % 3 === 0 ? 1 : 3;
      const data = Uint8Array.from({ length: width * height * channels }, () =>
        Math.floor(random() * 256),
      );
      const expected = await sharp(data, { raw: { width, height, channels } })
        .resize(outWidth, outHeight, { fit: 'fill', kernel: 'linear' })
        .toColourspace(channels === 1 ? 'b-w' : 'srgb')
        .raw()
        .toBuffer();
      const got = resizeLinear({ data, width, height, channels }, outWidth, outHeight);
      assert.deepEqual([got.width, got.height], [outWidth, outHeight]);
      addUp(total, compare(expected, got.data, `${width}x${height} -> ${outWidth}x${outHeight}`));
    }
    assertSame(total, `${cases} resizes (${cases - 100} chosen, 100 random)`);
  });

  it("luminance is sharp's toColourspace('b-w') exactly", async () => {
    const random = lcg(11);
    const rgb = Uint8Array.from({ length: 128 * 128 * 3 }, () => Math.floor(random() * 256));
    const expected = await sharp(rgb, { raw: { width: 128, height: 128, channels: 3 } })
      .toColourspace('b-w')
      .raw()
      .toBuffer();
    const got = compare(new Uint8Array(expected), luminance(rgb), 'luminance');
    assert.equal(got.differing, 0, `${got.differing} luminance values differ (max ${got.max})`);
  });
});

describe("the page's face preparation is predict's (prepareFace)", () => {
  /** Faces of a 1920 px demo photo: boxes inside, across the edge, tiny and large; eyes tilted. */
  function faces(width: number, height: number): { box: FaceBox; landmarks: Point[] }[] {
    const random = lcg(3);
    const out: { box: FaceBox; landmarks: Point[] }[] = [];
    const boxes: FaceBox[] = [
      { x: 414.1, y: 354.8, width: 177.3, height: 239.8 },
      { x: -20.5, y: 40.25, width: 150.7, height: 180.2 },
      { x: width - 90.3, y: height - 60.6, width: 120, height: 130 },
      { x: 900.4, y: 300.9, width: 23.6, height: 31.1 },
      { x: 100, y: 100, width: 900.5, height: 1000.5 },
    ];
    for (let i = 0; i < 10; i++)
      boxes.push({
        x: random() * width * 0.9,
        y: random() * height * 0.9,
        width: 20 + random() * 400,
        height: 20 + random() * 400,
      });
    for (const box of boxes) {
      // 68 points with the eye contours tilted by up to +-25 degrees
      const angle = ((random() - 0.5) * 50 * Math.PI) / 180;
      const cx = box.x + box.width / 2;
      const cy = box.y + box.height / 2;
      const landmarks = Array.from({ length: 68 }, (_, i): Point => {
        const side = i >= 42 && i <= 47 ? 1 : i >= 36 && i <= 41 ? -1 : 0;
        const dx = (side * box.width) / 4 + Math.cos(i) * 3;
        const dy = -box.height / 8 + Math.sin(i) * 2;
        return [
          cx + dx * Math.cos(angle) - dy * Math.sin(angle),
          cy + dx * Math.sin(angle) + dy * Math.cos(angle),
        ];
      });
      out.push({ box, landmarks });
    }
    return out;
  }

  const specs: ImageSpec[] = [
    { width: 48, height: 48, channels: 3 },
    { width: 64, height: 64, channels: 1 },
    { width: 224, height: 224, channels: 3 },
  ];

  for (const crop of ['face-box', 'aligned'] as CropMode[])
    it(`crop: ${crop}, margins 0 / 0.1 / 0.25, inputs 48 RGB, 64 grey, 224 RGB`, async () => {
      const image = await decodeRgb(demo('sample1.jpg'));
      const total: Comparison = { max: 0, differing: 0, values: 0 };
      for (const face of faces(image.width, image.height))
        for (const [s, spec] of specs.entries()) {
          const margin = [0, 0.1, 0.25][s];
          const expected = await prepareFace(image, { ...face, score: 1 }, margin, spec, crop);
          addUp(total, compare(expected, faceInput(image, face, margin, spec, crop), crop));
        }
      assertSame(total, `crop ${crop} on sample1.jpg`);
    });

  it('a whole 1920 px photo shrunk to 48 px (a box shrink by 20, then the filter)', async () => {
    const image = await decodeRgb(demo('sample2.jpg'));
    const expected = await sharp(image.data, {
      raw: { width: image.width, height: image.height, channels: 3 },
    })
      .resize(48, 48, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    const got = imageInput(image, { width: 48, height: 48, channels: 3 });
    assertSame(compare(new Uint8Array(expected), got, 'whole'), 'whole photo');
  });
});
