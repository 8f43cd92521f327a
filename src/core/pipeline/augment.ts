import type { AugmentOptions } from '../plugin/plugin.js';
import { Random } from '../plugin/services.js';

/** The random draw of one augmentation, so tests and logs can see what was applied. */
export interface AugmentDraw {
  flip: boolean;
  /** Shift in pixels (output = input moved right/down by this much). */
  shiftX: number;
  shiftY: number;
  /** Rotation about the image centre, in radians. */
  angle: number;
  /** Added to every value, in [0,1] units. */
  brightness: number;
  /** Multiplies the distance from the image mean. */
  contrast: number;
}

export function isAugmentActive(options: AugmentOptions | undefined): boolean {
  return Boolean(
    options &&
    (options.flip ||
      (options.shift ?? 0) > 0 ||
      (options.rotate ?? 0) > 0 ||
      (options.brightness ?? 0) > 0 ||
      (options.contrast ?? 0) > 0),
  );
}

/** Draw one augmentation: flip with p=0.5, the others uniform within their bounds. */
export function drawAugment(
  options: AugmentOptions,
  width: number,
  height: number,
  rng: Random,
): AugmentDraw {
  const shift = options.shift ?? 0;
  const rotate = options.rotate ?? 0;
  const brightness = options.brightness ?? 0;
  const contrast = options.contrast ?? 0;
  return {
    flip: options.flip ? rng.next() < 0.5 : false,
    shiftX: shift > 0 ? rng.uniform(-shift, shift) * width : 0,
    shiftY: shift > 0 ? rng.uniform(-shift, shift) * height : 0,
    angle: rotate > 0 ? (rng.uniform(-rotate, rotate) * Math.PI) / 180 : 0,
    brightness: brightness > 0 ? rng.uniform(-brightness, brightness) : 0,
    contrast: contrast > 0 ? rng.uniform(1 - contrast, 1 + contrast) : 1,
  };
}

/** v / 255 for every byte value: a table lookup is ~1.3x faster than the division, same bits. */
const UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** uint8 HWC -> float32 in [0,1], the pipeline's normalisation (value / 255). */
export function toUnitFloat(
  pixels: Uint8Array,
  out: Float32Array = new Float32Array(pixels.length),
): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = UNIT[pixels[i]];
  return out;
}

/**
 * Apply one augmentation to uint8 HWC pixels and write float32 in [0,1] to `out` (a slice of
 * the batch, so no per-image buffer is allocated). Geometry (flip, shift,
 * rotation about the centre) maps each output pixel back into the source and samples it
 * bilinearly, replicating the border; then contrast (about the image mean) and brightness,
 * clamped to [0,1].
 */
export function augmentToFloat(
  pixels: Uint8Array,
  height: number,
  width: number,
  channels: number,
  draw: AugmentDraw,
  out: Float32Array = new Float32Array(height * width * channels),
): Float32Array {
  const geometric = draw.flip || draw.shiftX !== 0 || draw.shiftY !== 0 || draw.angle !== 0;
  if (!geometric) {
    toUnitFloat(pixels, out);
  } else {
    const cx = (width - 1) / 2;
    const cy = (height - 1) / 2;
    const cos = Math.cos(draw.angle);
    const sin = Math.sin(draw.angle);
    const maxX = width - 1;
    const maxY = height - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // inverse map: undo the shift, then the rotation, then the flip
        const ux = x - draw.shiftX - cx;
        const uy = y - draw.shiftY - cy;
        let sx = cos * ux - sin * uy + cx;
        const sy = sin * ux + cos * uy + cy;
        if (draw.flip) sx = maxX - sx;
        const fx = Math.min(maxX, Math.max(0, sx));
        const fy = Math.min(maxY, Math.max(0, sy));
        const x0 = Math.floor(fx);
        const y0 = Math.floor(fy);
        const x1 = Math.min(maxX, x0 + 1);
        const y1 = Math.min(maxY, y0 + 1);
        const ax = fx - x0;
        const ay = fy - y0;
        const w00 = (1 - ax) * (1 - ay);
        const w01 = ax * (1 - ay);
        const w10 = (1 - ax) * ay;
        const w11 = ax * ay;
        const i00 = (y0 * width + x0) * channels;
        const i01 = (y0 * width + x1) * channels;
        const i10 = (y1 * width + x0) * channels;
        const i11 = (y1 * width + x1) * channels;
        const o = (y * width + x) * channels;
        for (let c = 0; c < channels; c++) {
          out[o + c] =
            (w00 * pixels[i00 + c] +
              w01 * pixels[i01 + c] +
              w10 * pixels[i10 + c] +
              w11 * pixels[i11 + c]) /
            255;
        }
      }
    }
  }
  if (draw.contrast !== 1 || draw.brightness !== 0) {
    let sum = 0;
    for (let i = 0; i < out.length; i++) sum += out[i];
    const mean = sum / out.length;
    for (let i = 0; i < out.length; i++) {
      const v = (out[i] - mean) * draw.contrast + mean + draw.brightness;
      out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

/**
 * The augmentation of the `position`-th image of an epoch: seeded by (seed, position) alone, so
 * the result does not depend on which worker decoded it or when.
 */
export function augmentExample(
  pixels: Uint8Array,
  height: number,
  width: number,
  channels: number,
  options: AugmentOptions,
  seed: number,
  position: number,
  out?: Float32Array,
): Float32Array {
  const draw = drawAugment(options, width, height, Random.fork(seed, 'augment', position));
  return augmentToFloat(pixels, height, width, channels, draw, out);
}
