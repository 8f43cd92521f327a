import { injectable } from 'tsyringe';
import { Options, definePlugin } from '../../core/plugin/define.js';
import type { SamplerPlugin, SamplingContext } from '../../core/plugin/plugin.js';
import { everyExampleOnce } from './common.js';

/** Every training example once per epoch, shuffled with the seed; the unweighted loss. */
@injectable()
export class ImbalancedSampler implements SamplerPlugin {
  epochPlan(context: SamplingContext): number[] {
    return this.epochIndices(context.labels, context.numClasses, context.epoch, context.seed);
  }

  /** The plan from the class labels alone (all this strategy looks at). */
  epochIndices(
    labels: readonly number[],
    numClasses: number,
    epoch: number,
    seed: number,
  ): number[] {
    return everyExampleOnce(labels, numClasses, epoch, seed);
  }
}

export const imbalancedSampler = definePlugin({
  kind: 'sampler',
  type: 'imbalanced',
  description:
    'Every training example once per epoch, shuffled; plain cross-entropy (the AffectNet "Imbalanced" baseline)',
  options: Options({}),
  implementation: ImbalancedSampler,
});
