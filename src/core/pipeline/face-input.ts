/**
 * One detected face of a decoded photo as a model input, in plain JavaScript: the face box grown
 * by the margin and clamped (cropRegion), or with `crop: aligned` and landmarks the box turned
 * level by the eye line (alignedBox, sampleAligned), stretched to the input size with the linear
 * filter as sharp stretches it (resizeLinear), luminance as libvips computes it for one channel.
 * `affectlab predict` does the same with sharp (prepareFace in core/inference/faces.ts); the web
 * export's page runs this module, and test/unit/data/face-input.test.ts holds the two equal.
 * Only sibling modules are imported: the web export copies the compiled files as they are.
 */
import type { CropMode, FaceBox, ImageSpec } from '../../sdk/contracts/data.js';
import type { Point, RgbImage } from '../../sdk/contracts/inference.js';
import { alignedBox, sampleAligned } from './align.js';
import { cropRegion } from './region.js';
import { resizeLinear, type Pixels } from './resize.js';

const f32 = Math.fround;

/** C's rintf: to the nearest integer, halves to even. */
function rint(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * libvips' 8-bit sRGB <-> linear tables, in its single-precision arithmetic: `toLinear[v]` the
 * linear light of sRGB value v; `toSrgb[i]` the sRGB value of linear light i / 255.
 */
function srgbTables(): { toLinear: Float32Array; toSrgb: Int32Array } {
  const toLinear = new Float32Array(256);
  const toSrgb = new Int32Array(257);
  const a = f32(0.055);
  const onePlusA = f32(1 + a);
  for (let i = 0; i < 256; i++) {
    const f = f32(i / 255);
    const v =
      f <= 0.0031308 ? f32(f32(12.92) * f) : f32(f32(onePlusA * f32(f ** f32(1 / f32(2.4)))) - a);
    toSrgb[i] = rint(f32(255 * v));
    toLinear[i] = f <= 0.04045 ? f32(f / f32(12.92)) : f32(f32(f32(f + a) / onePlusA) ** f32(2.4));
  }
  toSrgb[256] = toSrgb[255];
  return { toLinear, toSrgb };
}

let tables: ReturnType<typeof srgbTables> | undefined;

/**
 * Luminance of RGB pixels as sharp's `toColourspace('b-w')` (libvips' sRGB -> scRGB -> B_W):
 * Y of linear light, turned back to sRGB through libvips' table with linear interpolation.
 */
export function luminance(rgb: Uint8Array): Uint8Array {
  tables ??= srgbTables();
  const { toLinear, toSrgb } = tables;
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) {
    const y = f32(
      f32(f32(f32(0.2126) * toLinear[rgb[3 * i]]) + f32(f32(0.7152) * toLinear[rgb[3 * i + 1]])) +
        f32(f32(0.0722) * toLinear[rgb[3 * i + 2]]),
    );
    const yf = Math.min(255, Math.max(0, f32(y * 255)));
    const yi = Math.trunc(yf);
    out[i] = rint(f32(toSrgb[yi] + f32(f32(toSrgb[yi + 1] - toSrgb[yi]) * f32(yf - yi))));
  }
  return out;
}

/** The pixels of `region` of an RGB image. */
function extract(image: RgbImage, region: ReturnType<typeof cropRegion>): Pixels {
  const { left, top, width, height } = region;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { data, width, height, channels: 3 };
}

/** A whole image as one face (no detector): stretched to the spec as predict's `--detector none`. */
export function imageInput(image: RgbImage, spec: ImageSpec): Uint8Array {
  const resized = resizeLinear({ ...image, channels: 3 }, spec.width, spec.height);
  return spec.channels === 1 ? luminance(resized.data) : resized.data;
}

/**
 * The model input of one face of `image` (upright RGB): uint8 HWC at the spec's size, RGB or
 * luminance. Throws BadImageError when the face box misses the image.
 */
export function faceInput(
  image: RgbImage,
  face: { box: FaceBox; landmarks?: Point[] },
  margin: number,
  spec: ImageSpec,
  crop: CropMode = 'face-box',
): Uint8Array {
  let pixels: Pixels | undefined;
  if (crop === 'aligned') {
    const box = alignedBox(face.box, face.landmarks);
    if (box.angle !== undefined)
      pixels = {
        ...sampleAligned(image.data, image.width, image.height, 3, box, margin),
        channels: 3,
      };
  }
  pixels ??= extract(image, cropRegion(face.box, margin, image.width, image.height));
  const resized = resizeLinear(pixels, spec.width, spec.height);
  return spec.channels === 1 ? luminance(resized.data) : resized.data;
}
