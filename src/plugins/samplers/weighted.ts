import { inject, injectable } from 'tsyringe';
import {
  UserError,
  Enum,
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type LossWeighting,
  type SamplerPlugin,
  type SamplingContext,
  Logger,
} from '../../sdk/index.js';
import { everyExampleOnce } from './common.js';

export const WEIGHT_SCHEMES = ['inverse-frequency', 'class-balanced'] as const;
export type WeightScheme = (typeof WEIGHT_SCHEMES)[number];

export const DEFAULT_WEIGHT_SCHEME: WeightScheme = 'class-balanced';
/** The report's Appendix B value. */
export const DEFAULT_BETA = 0.9999;

// scheme and beta stay optional in the type: the class is also built directly (tests), and
// the defaults it then applies are the same constants the schema fills in.
const weightedOptions = Options({
  scheme: Type.Optional(
    Enum(WEIGHT_SCHEMES, {
      default: DEFAULT_WEIGHT_SCHEME,
      description:
        'inverse-frequency: w_c ~ 1/n_c; class-balanced (Cui et al. 2019): w_c ~ (1-beta)/(1-beta^n_c). Normalised to mean 1 over the classes.',
    }),
  ),
  beta: Type.Optional(
    Type.Number({
      minimum: 0,
      exclusiveMaximum: 1,
      default: DEFAULT_BETA,
      description: 'class-balanced: 0 gives equal weights, towards 1 inverse frequency.',
    }),
  ),
  weights: Type.Optional(
    Type.Array(Type.Number({ minimum: 0, maximum: 1e6 }), {
      minItems: 1,
      description:
        'Explicit per-class weights in class order, used as written (not renormalised); overrides scheme.',
    }),
  ),
});
export type WeightedOptions = Static<typeof weightedOptions>;

/**
 * Raw (unnormalised) weights scaled so that they average 1 over the classes that have training
 * examples; classes without examples get weight 0. Such a class never occurs as a target of the
 * training loss, so its weight has no effect on training, and leaving it out of the mean keeps the
 * other classes' weights exactly what they would be without it.
 */
function normalizeToMeanOne(raw: readonly number[], counts: readonly number[]): number[] {
  const present = raw.filter((_, c) => counts[c] > 0);
  if (present.length === 0)
    throw new UserError('class weights: the training split has no examples in any class');
  const mean = present.reduce((a, b) => a + b, 0) / present.length;
  return raw.map((w, c) => (counts[c] > 0 ? w / mean : 0));
}

function checkCounts(counts: readonly number[]): void {
  counts.forEach((n, c) => {
    if (!Number.isInteger(n) || n < 0)
      throw new UserError(`class weights: count of class ${c} is ${n}, not a count`);
  });
}

/** Inverse class frequency, w_c proportional to 1 / n_c, averaging 1 over the classes present. */
export function inverseFrequencyWeights(counts: readonly number[]): number[] {
  checkCounts(counts);
  return normalizeToMeanOne(
    counts.map((n) => (n > 0 ? 1 / n : 0)),
    counts,
  );
}

/**
 * Cui et al. (2019), "Class-Balanced Loss Based on Effective Number of Samples": the effective
 * number of class c is E_c = (1 - beta^n_c) / (1 - beta) and w_c proportional to 1 / E_c =
 * (1 - beta) / (1 - beta^n_c); normalised to average 1 over the classes, as in the report's
 * Appendix B ("Normalized Weights"). beta = 0 gives equal weights; beta -> 1 tends to inverse
 * frequency. 1 - beta^n is computed as -expm1(n log1p(beta - 1)), accurate for beta near 1.
 */
export function classBalancedWeights(counts: readonly number[], beta: number): number[] {
  checkCounts(counts);
  if (!(beta >= 0 && beta < 1))
    throw new UserError(`class-balanced weights: beta must be in [0, 1); got ${beta}`);
  const raw = counts.map((n) => {
    if (n === 0) return 0;
    const oneMinusBetaPowN = beta === 0 ? 1 : -Math.expm1(n * Math.log1p(beta - 1));
    return (1 - beta) / oneMinusBetaPowN;
  });
  return normalizeToMeanOne(raw, counts);
}

/**
 * The loss-weighting part of the `weighted` strategy: per-class weights for the cross-entropy,
 * from the configured scheme or the explicit `weights`.
 */
export class ClassWeighting implements LossWeighting {
  readonly scheme: WeightScheme;
  readonly beta: number;
  readonly weights?: readonly number[];

  constructor(
    options: WeightedOptions,
    private readonly logger: Logger,
  ) {
    this.scheme = options.scheme ?? DEFAULT_WEIGHT_SCHEME;
    this.beta = options.beta ?? DEFAULT_BETA;
    this.weights = options.weights;
  }

  /** `counts`: training examples per class (the split actually used), one entry per class. */
  classWeights(counts: readonly number[]): number[] {
    const empty = counts.flatMap((n, c) => (n === 0 ? [c] : []));
    if (this.weights) {
      if (this.weights.length !== counts.length) {
        throw new UserError(
          `sampler 'weighted': weights has ${this.weights.length} entries but the dataset has ${counts.length} classes; give one weight per class, in class order`,
        );
      }
      this.weights.forEach((w, c) => {
        if (!Number.isFinite(w) || w < 0)
          throw new UserError(`sampler 'weighted': weights[${c}] = ${w}; weights must be >= 0`);
      });
      return [...this.weights];
    }
    if (empty.length > 0) {
      this.logger.warn(
        `weighted sampler: class(es) ${empty.join(', ')} have no training examples; their loss weight is 0`,
      );
    }
    return this.scheme === 'inverse-frequency'
      ? inverseFrequencyWeights(counts)
      : classBalancedWeights(counts, this.beta);
  }
}

/**
 * Every example once per epoch (shuffled) for the order, and ClassWeighting for the loss: the
 * AffectNet "Weighted-Loss" baseline and the report's class-balanced loss.
 */
@injectable()
export class WeightedSampler implements SamplerPlugin {
  readonly lossWeighting: ClassWeighting;

  constructor(@inject(PLUGIN_OPTIONS) options: WeightedOptions, logger: Logger) {
    this.lossWeighting = new ClassWeighting(options, logger);
  }

  /** The plan from the class labels alone (all this strategy looks at). */
  epochPlan({ labels, numClasses, epoch, seed }: SamplingContext): number[] {
    return everyExampleOnce(labels, numClasses, epoch, seed);
  }
}

export const weightedSampler = definePlugin({
  kind: 'sampler',
  type: 'weighted',
  description:
    'Every example once per epoch and per-class loss weights (AffectNet "Weighted-Loss"; the report\'s class-balanced loss)',
  options: weightedOptions,
  implementation: WeightedSampler,
});
