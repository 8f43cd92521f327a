/**
 * Batch mixing: mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019). This module draws how a
 * training batch's images are mixed with a permutation of themselves; the engines mix the
 * (augmented) pixels inside the training step (src/core/engine/augment.ts, graph/augment.ts)
 * and weigh the loss, lambda x L(own targets) + (1 - lambda) x L(partner targets). Everything here is a function of (options, batch size, image size, step seed),
 * so a resumed run mixes exactly as an uninterrupted one.
 */
import type { AugmentOptions, MixOptions } from '../../sdk/contracts/data.js';
import type { PixelMix, StepInputs, StepTargets } from '../engine/engine.js';
import { Random, hashSeed } from '../../sdk/services.js';

/** Zhang et al.'s ImageNet setting (alpha 0.2), applied to every batch. */
export const MIXUP_DEFAULTS = { alpha: 0.2, probability: 1 } as const;
/** Yun et al.'s setting (alpha 1: lambda uniform in [0, 1]), applied to every batch. */
export const CUTMIX_DEFAULTS = { alpha: 1, probability: 1 } as const;

/** The pasted rectangle of a CutMix draw: rows top..top+height-1, columns left..left+width-1. */
export interface MixBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** How one batch is mixed. */
export interface MixDraw {
  kind: 'mixup' | 'cutmix';
  /**
   * The weight of each image's own targets in its loss, a float32 value: mixup's lambda, or for
   * CutMix the share of the image left unpasted (1 - box area / image area).
   */
  lambda: number;
  /** partner[r]: the row of the batch that image r is mixed with (a seeded permutation). */
  partner: number[];
  /** CutMix only: the rectangle of the partner pasted into each image. */
  box?: MixBox;
}

const withDefaults = (
  options: MixOptions | undefined,
  defaults: { alpha: number; probability: number },
): { alpha: number; probability: number } | undefined =>
  options === undefined ? undefined : { ...defaults, ...options };

/** Whether a batch can be mixed at all under these options. */
export function isMixActive(options: AugmentOptions | undefined): boolean {
  const mixup = withDefaults(options?.mixup, MIXUP_DEFAULTS);
  const cutmix = withDefaults(options?.cutmix, CUTMIX_DEFAULTS);
  return (mixup?.probability ?? 0) > 0 || (cutmix?.probability ?? 0) > 0;
}

/** The generator of one step's mix: a function of the step's seed alone. */
export function mixRandom(stepSeed: number): Random {
  return new Random(hashSeed(stepSeed, 'mix'));
}

/**
 * log of a Gamma(shape, 1) sample: Marsaglia and Tsang's method for shape >= 1, and for
 * shape < 1 the boost G(shape) = G(shape + 1) U^(1/shape), kept in logs so that a small shape
 * cannot underflow to 0.
 */
export function logGammaSample(shape: number, rng: Random): number {
  if (shape < 1) return logGammaSample(shape + 1, rng) + Math.log(1 - rng.next()) / shape;
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return Math.log(d * v);
  }
}

/** A Beta(alpha, alpha) sample, X / (X + Y) with X, Y ~ Gamma(alpha), in [0, 1]. */
export function betaSample(alpha: number, rng: Random): number {
  const x = logGammaSample(alpha, rng);
  const y = logGammaSample(alpha, rng);
  return 1 / (1 + Math.exp(y - x));
}

/**
 * CutMix's box for lambda: sides H sqrt(1 - lambda) and W sqrt(1 - lambda) (floored), centred
 * on a uniform pixel and clipped to the image; lambda is then what the box leaves of the image.
 */
function cutmixBox(
  lambda: number,
  height: number,
  width: number,
  rng: Random,
): { box: MixBox; lambda: number } {
  const ratio = Math.sqrt(1 - lambda);
  const halfH = Math.floor(Math.floor(height * ratio) / 2);
  const halfW = Math.floor(Math.floor(width * ratio) / 2);
  const cy = rng.int(height);
  const cx = rng.int(width);
  const clip = (v: number, max: number) => Math.min(max, Math.max(0, v));
  const top = clip(cy - halfH, height);
  const left = clip(cx - halfW, width);
  const box = {
    top,
    left,
    height: clip(cy + halfH, height) - top,
    width: clip(cx + halfW, width) - left,
  };
  return { box, lambda: 1 - (box.height * box.width) / (height * width) };
}

/**
 * Draw how a batch of `n` images is mixed, or undefined for none. One uniform number picks the
 * method: below mixup's probability mixup, below the sum CutMix (the two never share a batch);
 * then lambda ~ Beta(alpha, alpha), the partners (a permutation of the batch) and, for CutMix,
 * the box.
 */
export function drawMix(
  options: AugmentOptions,
  n: number,
  height: number,
  width: number,
  rng: Random,
): MixDraw | undefined {
  const mixup = withDefaults(options.mixup, MIXUP_DEFAULTS);
  const cutmix = withDefaults(options.cutmix, CUTMIX_DEFAULTS);
  if (!mixup && !cutmix) return undefined;
  const u = rng.next();
  const pMixup = mixup?.probability ?? 0;
  const kind = u < pMixup ? 'mixup' : u < pMixup + (cutmix?.probability ?? 0) ? 'cutmix' : null;
  if (kind === null) return undefined;
  const alpha = kind === 'mixup' ? mixup!.alpha : cutmix!.alpha;
  const sampled = betaSample(alpha, rng);
  const partner = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  if (kind === 'mixup') return { kind, lambda: Math.fround(sampled), partner };
  const { box, lambda } = cutmixBox(sampled, height, width, rng);
  return { kind, lambda: Math.fround(lambda), partner, box };
}

/** The targets of each row's partner (row r gets the targets of row partner[r]). */
export function partnerTargets(targets: StepTargets, partner: readonly number[]): StepTargets {
  const out: StepTargets = {};
  const { classes, valenceArousal } = targets;
  if (classes) out.classes = Int32Array.from(partner, (p) => classes[p]);
  if (valenceArousal) {
    const va = new Float32Array(partner.length * 2);
    partner.forEach((p, r) => {
      va[2 * r] = valenceArousal[2 * p];
      va[2 * r + 1] = valenceArousal[2 * p + 1];
    });
    out.valenceArousal = va;
  }
  return out;
}

/** The step input that mixes a batch's pixels as `draw` says. */
export function pixelMix(draw: MixDraw): PixelMix {
  const { lambda, partner, box } = draw;
  return {
    lambda,
    partner: Int32Array.from(partner),
    ...(box ? { box: [box.top, box.left, box.top + box.height, box.left + box.width] } : {}),
  };
}

/**
 * One training step's inputs and targets with its mix, drawn from the step's seed: unchanged
 * when the draw says no mix, else the inputs with how to mix the pixels (`mix`, applied by the
 * engine after augmentation) and the targets with their `mix` half (lambda and the partners'
 * targets) for the engine's loss.
 */
export function mixStep(
  options: AugmentOptions,
  inputs: StepInputs,
  targets: StepTargets,
  stepSeed: number,
): { inputs: StepInputs; targets: StepTargets; draw?: MixDraw } {
  const [n, height, width] = inputs.shape;
  const draw = drawMix(options, n, height, width, mixRandom(stepSeed));
  if (!draw) return { inputs, targets };
  return {
    inputs: { ...inputs, mix: pixelMix(draw) },
    targets: {
      ...targets,
      mix: { lambda: draw.lambda, partner: partnerTargets(targets, draw.partner) },
    },
    draw,
  };
}
