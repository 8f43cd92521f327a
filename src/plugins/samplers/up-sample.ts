import { inject, injectable } from 'tsyringe';
import {
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type SamplerPlugin,
  type SamplingContext,
  Logger,
} from '../../sdk/index.js';
import { emptyClasses, epochRandom, indicesByClass, largestClassSize } from './common.js';

const upSampleOptions = Options({
  perClass: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 10_000_000,
      description:
        "Examples of each class per epoch; default: the largest class's count in the training split.",
    }),
  ),
});
export type UpSampleOptions = Static<typeof upSampleOptions>;

/**
 * Per epoch, each class raised to `perClass` examples: all of its examples once, plus
 * `perClass - n_c` more drawn with replacement from the same class (fresh each epoch), then
 * everything shuffled together. A class already at or above `perClass` keeps all its examples
 * (up-sampling never drops data). A class with no training examples cannot be raised and is
 * left out with a warning.
 */
@injectable()
export class UpSampleSampler implements SamplerPlugin {
  private readonly perClass?: number;
  private warnedEmpty = false;

  constructor(
    @inject(PLUGIN_OPTIONS) options: UpSampleOptions,
    private readonly logger: Logger,
  ) {
    this.perClass = options.perClass;
  }

  /** The plan from the class labels alone (all this strategy looks at). */
  epochPlan({ labels, numClasses, epoch, seed }: SamplingContext): number[] {
    const byClass = indicesByClass(labels, numClasses);
    const empty = emptyClasses(byClass);
    if (empty.length > 0 && empty.length < numClasses && !this.warnedEmpty) {
      this.warnedEmpty = true;
      this.logger.warn(
        `up-sample: class(es) ${empty.join(', ')} have no training examples and cannot be up-sampled`,
      );
    }
    // a loop, not Math.max(...) / push(...): AffectNet's Happy class alone is 130k+ indices,
    // more arguments than a call can take
    const perClass = this.perClass ?? largestClassSize(byClass);
    const rng = epochRandom(seed, epoch);
    const chosen: number[] = [];
    for (const members of byClass) {
      if (members.length === 0) continue;
      for (const index of members) chosen.push(index);
      for (let k = members.length; k < perClass; k++) chosen.push(members[rng.int(members.length)]);
    }
    return rng.shuffle(chosen);
  }
}

export const upSampleSampler = definePlugin({
  kind: 'sampler',
  type: 'up-sample',
  description:
    'Per epoch, every class raised to perClass examples by drawing with replacement (AffectNet "Up-Sampling")',
  options: upSampleOptions,
  implementation: UpSampleSampler,
});
