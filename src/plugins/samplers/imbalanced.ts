import { injectable } from 'tsyringe';
import { Options, definePlugin } from '../../core/plugin/define.js';
import type { SamplerPlugin } from '../../core/plugin/plugin.js';
import { everyExampleOnce } from './common.js';

/** Every training example once per epoch, shuffled with the seed; the unweighted loss. */
@injectable()
export class ImbalancedSampler implements SamplerPlugin {
  epochIndices(
    labels: readonly number[],
    numClasses: number,
    epoch: number,
    seed: number,
  ): number[] {
    return everyExampleOnce(labels, numClasses, epoch, seed);
  }

  classWeights(): number[] | undefined {
    return undefined;
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
