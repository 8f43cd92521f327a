import { injectable } from 'tsyringe';
import type { PluginDefinition, SamplerPlugin } from '../../core/plugin.js';
import { epochRandom, indicesByClass, shuffledRange } from './common.js';

/** Every training example once per epoch, shuffled with the seed; the unweighted loss. */
@injectable()
export class ImbalancedSampler implements SamplerPlugin {
  epochIndices(
    labels: readonly number[],
    numClasses: number,
    epoch: number,
    seed: number,
  ): number[] {
    indicesByClass(labels, numClasses);
    return shuffledRange(labels.length, epochRandom(seed, epoch));
  }

  classWeights(): number[] | undefined {
    return undefined;
  }
}

export const imbalancedSampler: PluginDefinition<ImbalancedSampler> = {
  kind: 'sampler',
  type: 'imbalanced',
  description:
    'Every training example once per epoch, shuffled; plain cross-entropy (the AffectNet "Imbalanced" baseline)',
  optionsSchema: { type: 'object', properties: {} },
  implementation: ImbalancedSampler,
};
