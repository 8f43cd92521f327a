import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { PreprocessedCache } from '../../../src/core/pipeline/cache.js';
import { ImagePipeline } from '../../../src/core/pipeline/pipeline.js';
import { dctScale, jpegAddon, jpegDecodeRule, scaledBox } from '../../../src/core/pipeline/jpeg.js';
import { BadImageError, cropRegion, decodeAndCrop } from '../../../src/core/pipeline/preprocess.js';
import type { FaceBox } from '../../../src/sdk/contracts/data.js';

const WIDTH = 1100; // not a multiple of 8 or 16: the last iMCU column and row are partial
const HEIGHT = 980;
const spec = { width: 48, height: 40, channels: 3 as const };

/** A photo-like JPEG: smooth shading, edges of several widths, mild texture, 4:2:0 chroma. */
async function photo(): Promise<Buffer> {
  const data = new Uint8Array(WIDTH * HEIGHT * 3);
  let seed = 7;
  const noise = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 24;
  for (let y = 0; y < HEIGHT; y++)
    for (let x = 0; x < WIDTH; x++) {
      const shade = 110 + 60 * Math.sin(x / 37) * Math.cos(y / 53);
      const disc = (x - 560) ** 2 / 300 ** 2 + (y - 470) ** 2 / 360 ** 2 < 1 ? 50 : 0;
      const stripe = Math.floor(x / 90 + y / 140) % 2 === 0 ? 25 : -25;
      for (let c = 0; c < 3; c++)
        data[(y * WIDTH + x) * 3 + c] = Math.max(
          0,
          Math.min(255, shade + disc + stripe * (c === 1 ? 1 : -0.5) + noise() + c * 15),
        );
    }
  return sharp(data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .blur(0.8)
    .jpeg({ quality: 92 })
    .toBuffer();
}

function meanAbs(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

describe('JPEG DCT-scaled decode from 2x (the JPEG addon)', () => {
  let jpeg: Buffer;
  before(async () => {
    jpeg = await photo();
  });

  it('is built (node scripts/jpeg-addon.mjs; libjpeg62-turbo-dev)', () => {
    assert.ok(jpegAddon().addon, jpegAddon().error);
  });

  it('picks the largest DCT scale whose scaled crop is still >= the output on both axes', () => {
    const out = { width: 256, height: 256, channels: 3 as const };
    const region = (width: number, height: number) => ({ left: 3, top: 5, width, height });
    assert.equal(dctScale(region(511, 900), out), 1);
    assert.equal(dctScale(region(512, 512), out), 2);
    assert.equal(dctScale(region(1023, 4000), out), 2);
    assert.equal(dctScale(region(1024, 1024), out), 4);
    assert.equal(dctScale(region(2047, 2100), out), 4);
    assert.equal(dctScale(region(2048, 2048), out), 8);
    assert.equal(dctScale(region(9000, 9000), out), 8);
    // per axis: a wide output needs the width to allow the scale
    assert.equal(dctScale(region(1100, 2000), { width: 300, height: 100, channels: 3 }), 2);
    for (const scale of [2, 4, 8] as const) {
      const box = scaledBox({ left: 13, top: 27, width: 301, height: 187 }, scale);
      assert.deepEqual(box, [13 / scale, 27 / scale, 301 / scale, 187 / scale]);
    }
  });

  it('stays within the bound of the exact path for crop / output factors in [2, 8]', async () => {
    const addon = jpegAddon().addon;
    assert.ok(addon, jpegAddon().error);
    // factors just above 2, 4 and 8, and between; corners off the DCT grid (x, y fractional)
    const factors = [2.01, 2.6, 3.9, 4.02, 5.5, 7.9, 8.04];
    const scales: number[] = [];
    let total = 0;
    for (const [i, f] of factors.entries()) {
      const box: FaceBox = {
        x: 17.3 + 41 * i,
        y: 9.6 + 29 * i,
        width: Math.ceil(f * spec.width) + 0.4,
        height: Math.ceil(f * spec.height) + 0.7,
      };
      const region = cropRegion(box, 0, WIDTH, HEIGHT);
      const scale = dctScale(region, spec);
      scales.push(scale);
      const ours = await decodeAndCrop(jpeg, box, 0, spec, false, true);
      const exact = await decodeAndCrop(jpeg, box, 0, spec, false, false);
      // the DCT path was taken, at the chosen scale
      const direct = await addon.decode(jpeg, scale, scaledBox(region, scale), 48, 40);
      assert.deepEqual(ours, new Uint8Array(direct));
      const d = meanAbs(ours, exact);
      total += d;
      // bench/pipeline.ts's bound against PIL's plain bilinear is 0.3 mean at 256 px; 48 x 40
      // outputs of a textured image sit further from it, one image at a time
      assert.ok(d < 1, `factor ${f}: mean abs ${d.toFixed(3)} levels from the exact path`);
    }
    assert.deepEqual(scales, [2, 2, 2, 4, 4, 4, 8]);
    assert.ok(total / factors.length < 0.6, `mean ${(total / factors.length).toFixed(3)} levels`);
  });

  it('luminance outputs and crops under 2x still decode (1 channel; sharp below 2x)', async () => {
    const box: FaceBox = { x: 100, y: 80, width: 300, height: 300 };
    const grey = { width: 64, height: 64, channels: 1 as const };
    const ours = await decodeAndCrop(jpeg, box, 0.1, grey, false, true);
    const exact = await decodeAndCrop(jpeg, box, 0.1, grey, false, false);
    assert.equal(ours.length, 64 * 64);
    assert.ok(meanAbs(ours, exact) < 1);
    const small = { x: 100, y: 80, width: 90, height: 70 };
    assert.deepEqual(
      await decodeAndCrop(jpeg, small, 0, spec, false, true),
      await decodeAndCrop(jpeg, small, 0, spec, false, false),
    );
  });

  it('fails a corrupt JPEG with BadImageError("corrupt image") as the exact path does', async () => {
    const box: FaceBox = { x: 100, y: 80, width: 600, height: 600 };
    const truncated = jpeg.subarray(0, jpeg.length >> 1);
    const bogus = Buffer.from(jpeg);
    bogus[bogus.indexOf(Buffer.from([0xff, 0xc0])) + 9] = 7; // frame header's length field off
    for (const broken of [truncated, bogus, jpeg.subarray(0, 400)])
      for (const shrink of [true, false])
        await assert.rejects(
          decodeAndCrop(broken, box, 0.1, spec, false, shrink),
          (error: unknown) => error instanceof BadImageError && error.reason === 'corrupt image',
        );
  });

  it('keys cache entries by the decode rule: entries of the 3x rule are not read as new', () => {
    assert.equal(jpegDecodeRule(), 'jpeg-dct-2x-v1');
    const parts = {
      imagePath: '/data/a.jpg',
      mtimeMs: 1700000000000,
      size: 12345,
      crop: { x: 1, y: 2, width: 300, height: 300 },
      margin: 0.1,
      image: spec,
    };
    // the key as it was computed before the rule joined it (cache format 3)
    const before = (...extra: string[]): string =>
      createHash('sha1')
        .update(
          JSON.stringify([
            3,
            '/data/a.jpg',
            1700000000000,
            12345,
            parts.crop,
            0.1,
            40,
            48,
            3,
            ...extra,
          ]),
        )
        .digest('hex');
    const cache = new PreprocessedCache('/nonexistent');
    assert.notEqual(cache.key(parts), before());
    // the exact path's pixels did not change, nor did its key
    assert.equal(cache.key({ ...parts, exactResize: true }), before('exactResize'));
  });

  it('decodes the same pixels in a worker thread as in-process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'affectlab-jpeg-'));
    try {
      const imagePath = join(dir, 'a.jpg');
      writeFileSync(imagePath, jpeg);
      const crop: FaceBox = { x: 201.5, y: 90.2, width: 333, height: 301 };
      const expected = await decodeAndCrop(jpeg, crop, 0.1, spec, false, true);
      for (const workers of [0, 1]) {
        const pipeline = new ImagePipeline({ image: spec, margin: 0.1, workers });
        try {
          const got = await pipeline.loadOne({ id: 'a', imagePath, crop, label: 0 });
          assert.deepEqual(new Uint8Array(got), expected, `workers: ${workers}`);
        } finally {
          await pipeline.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes progressive and greyscale JPEGs, and leaves CMYK ones to sharp', async () => {
    const addon = jpegAddon().addon;
    assert.ok(addon, jpegAddon().error);
    const box: FaceBox = { x: 150, y: 120, width: 420, height: 400 };
    const region = cropRegion(box, 0, WIDTH, HEIGHT);
    const scale = dctScale(region, spec);
    for (const encoded of [
      await sharp(jpeg).jpeg({ progressive: true }).toBuffer(),
      await sharp(jpeg).greyscale().jpeg().toBuffer(),
    ]) {
      const ours = await decodeAndCrop(encoded, box, 0, spec, false, true);
      const direct = await addon.decode(encoded, scale, scaledBox(region, scale), 48, 40);
      assert.deepEqual(ours, new Uint8Array(direct));
      assert.ok(meanAbs(ours, await decodeAndCrop(encoded, box, 0, spec, false, false)) < 1);
    }
    const cmyk = await sharp(jpeg).toColourspace('cmyk').jpeg().toBuffer();
    await assert.rejects(addon.decode(cmyk, scale, scaledBox(region, scale), 48, 40), {
      code: 'EUNSUPPORTED',
    });
    assert.equal((await decodeAndCrop(cmyk, box, 0, spec, false, true)).length, 48 * 40 * 3);
  });
});
