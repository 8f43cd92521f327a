import type { AugmentOptions, ErasingOptions } from '../../sdk/contracts/data.js';
import { Random, hashSeed } from '../../sdk/services.js';

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
  /**
   * The fill in [0,1], or for `value: random` the draw that places the image's window in the
   * run's noise table (see erasingNoise).
   */
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

/** Whether these options change any image (then the pipeline draws parameter rows). */
export function isAugmentActive(options: AugmentOptions | undefined): boolean {
  const { geometry, colour, erasing } = augmentStages(options);
  return geometry || colour || erasing;
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
 * The per-image parameters the training step augments with: one float32 row of
 * AUGMENT_PARAMS values per image (the engines apply them: src/core/engine/augment.ts for eager,
 * graph/augment.ts for the compiled step).
 */
export const AUGMENT_PARAMS = 18;
/** Columns of a parameter row. */
export const AugmentParam = {
  /** 8 coefficients of ImageProjectiveTransform's output -> input map: a0 a1 a2 b0 b1 b2 c0 c1. */
  transform: 0,
  contrast: 8,
  brightness: 9,
  /** The erased rectangle, rows [top, bottom) and columns [left, right); empty when none. */
  eraseTop: 10,
  eraseLeft: 11,
  eraseBottom: 12,
  eraseRight: 13,
  eraseValue: 14,
  /** 1 for `value: random` (the fill is the noise window), else 0. */
  eraseRandom: 15,
  /** The noise window's offset in the [2H, 2W, C] noise table. */
  noiseRow: 16,
  noiseCol: 17,
} as const;

/**
 * One image's parameter row from its draw, written at `out[offset...]`. The geometry (flip,
 * shift, rotation about the centre) is the inverse map of the output pixel (x, y) into the
 * source, source = F(R^-1 (p - s - c) + c) with F the horizontal flip, as one affine map.
 */
export function augmentParams(
  draw: AugmentDraw,
  width: number,
  height: number,
  out: Float32Array = new Float32Array(AUGMENT_PARAMS),
  offset = 0,
): Float32Array {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const cos = Math.cos(draw.angle);
  const sin = Math.sin(draw.angle);
  const f = draw.flip ? -1 : 1;
  const ux = draw.shiftX + cx;
  const uy = draw.shiftY + cy;
  const row = [
    f * cos,
    -f * sin,
    f * (cx - cos * ux + sin * uy) + (draw.flip ? width - 1 : 0),
    sin,
    cos,
    cy - sin * ux - cos * uy,
    0,
    0,
    draw.contrast,
    draw.brightness,
  ];
  const e = draw.erase;
  if (e) {
    const random = e.randomSeed !== undefined;
    const seed = e.randomSeed ?? 0;
    row.push(e.top, e.left, e.top + e.height, e.left + e.width, e.value, random ? 1 : 0);
    row.push(seed % height, Math.floor(seed / height) % width);
  } else row.push(0, 0, 0, 0, 0, 0, 0, 0);
  out.set(row, offset);
  return out;
}

/**
 * The parameter rows of a batch: image r is the `positions[r]`-th image of the epoch, drawn
 * from (seed, position) alone, so the result does not depend on which worker decoded it or
 * when, and a resumed epoch draws what an uninterrupted one drew.
 */
export function batchAugmentParams(
  options: AugmentOptions,
  seed: number,
  positions: readonly number[],
  width: number,
  height: number,
): Float32Array {
  const out = new Float32Array(positions.length * AUGMENT_PARAMS);
  positions.forEach((position, r) => {
    const draw = drawAugment(options, width, height, Random.fork(seed, 'augment', position));
    augmentParams(draw, width, height, out, r * AUGMENT_PARAMS);
  });
  return out;
}

/** The parameter rows that change nothing (an unaugmented batch through an augmenting step). */
export function identityAugmentParams(n: number): Float32Array {
  const out = new Float32Array(n * AUGMENT_PARAMS);
  const identity = { flip: false, shiftX: 0, shiftY: 0, angle: 0, brightness: 0, contrast: 1 };
  for (let r = 0; r < n; r++) augmentParams(identity, 1, 1, out, r * AUGMENT_PARAMS);
  return out;
}

/**
 * The run's noise table for random erasing's `value: random`: [2H, 2W, C] values uniform in
 * [0,1) from the run's seed. An image's fill is the H x W window at its (noiseRow, noiseCol),
 * so both engines fill from the same numbers without a random op of their own.
 */
export function erasingNoise(
  seed: number,
  height: number,
  width: number,
  channels: number,
): Float32Array {
  const rng = new Random(hashSeed(seed, 'erasing-noise'));
  return Float32Array.from({ length: 4 * height * width * channels }, () => rng.next());
}

/** Which stages an augmentation config can change (the engines compile only those). */
export function augmentStages(options: AugmentOptions | undefined): {
  geometry: boolean;
  colour: boolean;
  erasing: boolean;
  randomFill: boolean;
} {
  const erasing =
    options?.erasing !== undefined &&
    (options.erasing.probability ?? ERASING_DEFAULTS.probability) > 0;
  return {
    geometry: Boolean(
      options && (options.flip || (options.shift ?? 0) > 0 || (options.rotate ?? 0) > 0),
    ),
    colour: Boolean(options && ((options.brightness ?? 0) > 0 || (options.contrast ?? 0) > 0)),
    erasing,
    randomFill: erasing && options?.erasing?.value === 'random',
  };
}
