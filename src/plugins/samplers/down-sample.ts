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
import {
  drawWithoutReplacement,
  emptyClasses,
  epochRandom,
  indicesByClass,
  smallestNonEmptyClassSize,
} from './common.js';

const downSampleOptions = Options({
  perClass: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 10_000_000,
      description:
        "Examples of each class per epoch; default: the smallest class's count in the training split.",
    }),
  ),
});
export type DownSampleOptions = Static<typeof downSampleOptions>;

/**
 * Per epoch, at most `perClass` examples of each class drawn without replacement — a fresh
 * draw each epoch, so over many epochs the majority classes are still seen in full — then
 * shuffled together. Classes with no training examples contribute nothing (and are not the
 * "smallest class" for the default, which would make every epoch empty).
 */
@injectable()
export class DownSampleSampler implements SamplerPlugin {
  private readonly perClass?: number;
  private warnedEmpty = false;

  constructor(
    @inject(PLUGIN_OPTIONS) options: DownSampleOptions,
    private readonly logger: Logger,
  ) {
    this.perClass = options.perClass;
  }

  /** The plan from the class labels alone (all this strategy looks at). */
  epochPlan({ labels, numClasses, epoch, seed }: SamplingContext): number[] {
    const byClass = indicesByClass(labels, numClasses);
    const empty = emptyClasses(byClass);
    if (empty.length === numClasses) return [];
    if (empty.length > 0 && !this.warnedEmpty) {
      this.warnedEmpty = true;
      this.logger.warn(
        `down-sample: class(es) ${empty.join(', ')} have no training examples; they are left out`,
      );
    }
    const perClass = this.perClass ?? smallestNonEmptyClassSize(byClass);
    const rng = epochRandom(seed, epoch);
    const chosen = byClass.flatMap((members) => drawWithoutReplacement(members, perClass, rng));
    return rng.shuffle(chosen);
  }
}

export const downSampleSampler = definePlugin({
  kind: 'sampler',
  type: 'down-sample',
  description:
    'Per epoch, at most perClass examples of each class, drawn afresh without replacement (AffectNet "Down-Sampling")',
  options: downSampleOptions,
  implementation: DownSampleSampler,
});
