import { injectable } from 'tsyringe';
import {
  Options,
  definePlugin,
  type SamplerPlugin,
  type SamplingContext,
} from '../../sdk/index.js';
import { everyExampleOnce } from './common.js';

/** Every training example once per epoch, shuffled with the seed; the unweighted loss. */
@injectable()
export class ImbalancedSampler implements SamplerPlugin {
  /** The plan from the class labels alone (all this strategy looks at). */
  epochPlan({ labels, numClasses, epoch, seed }: SamplingContext): number[] {
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
