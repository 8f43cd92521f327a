import type { AugmentOptions, ErasingOptions } from '../plugin/plugin.js';
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
  /** The rectangle random erasing fills, if it fired (output pixel coordinates). */
  erase?: EraseBox;
}

/** One random-erasing rectangle: rows top..top+height-1, columns left..left+width-1. */
export interface EraseBox {
  top: number;
  left: number;
  height: number;
  width: number;
  /** The fill in [0,1], or the seed of the per-value uniform fill (`value: random`). */
  value: number;
  randomSeed?: number;
}

/** torchvision's RandomErasing defaults (Zhong et al. 2017: s in [0.02, 0.4], r1 = 0.3). */
export const ERASING_DEFAULTS = {
  probability: 0.5,
  areaMin: 0.02,
  areaMax: 0.33,
  aspectMin: 0.3,
  aspectMax: 3.3,
  value: 0,
} as const;

/** torchvision tries 10 rectangles before giving up on an image. */
const ERASING_ATTEMPTS = 10;

/**
 * Random erasing as torchvision's RandomErasing: with `probability`, up to 10 attempts each
 * draw an area fraction uniform in [areaMin, areaMax] and an aspect ratio (height / width)
 * log-uniform in [aspectMin, aspectMax]; h = round(sqrt(area x aspect)), w = round(sqrt(area /
 * aspect)); the first with h < height and w < width is placed uniformly. None fits: no erasing.
 */
export function drawErasing(
  options: ErasingOptions,
  width: number,
  height: number,
  rng: Random,
): EraseBox | undefined {
  const o = { ...ERASING_DEFAULTS, ...options };
  if (!(o.probability > 0) || rng.next() >= o.probability) return undefined;
  const area = width * height;
  const logMin = Math.log(o.aspectMin);
  const logMax = Math.log(o.aspectMax);
  for (let attempt = 0; attempt < ERASING_ATTEMPTS; attempt++) {
    const target = area * rng.uniform(o.areaMin, o.areaMax);
    const aspect = Math.exp(rng.uniform(logMin, logMax));
    const h = Math.round(Math.sqrt(target * aspect));
    const w = Math.round(Math.sqrt(target / aspect));
    if (!(h < height && w < width) || h < 1 || w < 1) continue;
    const top = rng.int(height - h + 1);
    const left = rng.int(width - w + 1);
    if (o.value === 'random')
      return { top, left, height: h, width: w, value: 0, randomSeed: rng.nextUint32() };
    return { top, left, height: h, width: w, value: o.value };
  }
  return undefined;
}

/** Fill the erased rectangle of a float HWC image in place. */
export function applyErasing(
  out: Float32Array,
  width: number,
  channels: number,
  box: EraseBox,
): void {
  const fill = box.randomSeed === undefined ? undefined : new Random(box.randomSeed);
  for (let y = box.top; y < box.top + box.height; y++) {
    const row = (y * width + box.left) * channels;
    for (let i = row; i < row + box.width * channels; i++) out[i] = fill ? fill.next() : box.value;
  }
}

export function isAugmentActive(options: AugmentOptions | undefined): boolean {
  return Boolean(
    options &&
    (options.flip ||
      (options.shift ?? 0) > 0 ||
      (options.rotate ?? 0) > 0 ||
      (options.brightness ?? 0) > 0 ||
      (options.contrast ?? 0) > 0 ||
      (options.erasing !== undefined &&
        (options.erasing.probability ?? ERASING_DEFAULTS.probability) > 0)),
  );
}

/**
 * Draw one augmentation: flip with p=0.5, the others uniform within their bounds, erasing
 * last (so a config without it draws exactly what it drew before erasing existed).
 */
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
  const draw = {
    flip: options.flip ? rng.next() < 0.5 : false,
    shiftX: shift > 0 ? rng.uniform(-shift, shift) * width : 0,
    shiftY: shift > 0 ? rng.uniform(-shift, shift) * height : 0,
    angle: rotate > 0 ? (rng.uniform(-rotate, rotate) * Math.PI) / 180 : 0,
    brightness: brightness > 0 ? rng.uniform(-brightness, brightness) : 0,
    contrast: contrast > 0 ? rng.uniform(1 - contrast, 1 + contrast) : 1,
  };
  const erase = options.erasing && drawErasing(options.erasing, width, height, rng);
  return erase ? { ...draw, erase } : draw;
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
 * clamped to [0,1]; then random erasing fills its rectangle.
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
  if (draw.erase) applyErasing(out, width, channels, draw.erase);
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
