import type { DatasetSplits, SamplerPlugin, Task } from '../../sdk/contracts/data.js';
import { Logger, Random } from '../../sdk/services.js';

/** What a sampler balances: class (or stratum) names and each training example's index. */
export interface SamplingGroups {
  names: string[];
  labels: number[];
  strata?: (number | undefined)[];
}

/** How a run draws its training examples, and the class weights its loss uses. */
export interface Sampling {
  groups?: SamplingGroups;
  /** Training examples per group, as the sampler sees them. */
  counts: number[];
  /** Class weights for the expression loss (only samplers that weight the loss give them). */
  classWeights?: number[];
  /** The order of the training examples in an epoch (the sampler's plan, else a shuffle). */
  order(epoch: number): number[];
}

/**
 * What a sampler balances: the classes, or for a task without classes its strata (the
 * expression categories of valence-arousal), or nothing.
 */
export function samplingGroups(splits: DatasetSplits): SamplingGroups | undefined {
  const { task } = splits;
  const strata = splits.train.some((e) => e.stratum !== undefined)
    ? splits.train.map((e) => e.stratum)
    : undefined;
  if (task.classes.length > 0)
    return {
      names: task.classes.map((c) => c.name),
      labels: splits.train.map((e) => e.label),
      strata,
    };
  if (task.strata && task.strata.length > 0)
    return {
      names: task.strata.map((c) => c.name),
      labels: splits.train.map((e) => e.stratum ?? -1),
      strata,
    };
  return undefined;
}

export function groupCounts(groups: SamplingGroups): number[] {
  const counts = new Array<number>(groups.names.length).fill(0);
  for (const label of groups.labels) if (label >= 0) counts[label]++;
  return counts;
}

/** The class weights the loss takes: none for pure regression, which has no classes. */
function lossClassWeights(
  task: Task,
  classWeights: number[] | undefined,
  samplerType: string | undefined,
  logger: Logger,
): number[] | undefined {
  if (classWeights && task.kind === 'valence-arousal') {
    logger.warn(
      `sampler ${samplerType}: class weights do not apply to the valence/arousal loss; ` +
        'pick a sampler that balances the expression categories by drawing instead',
    );
    return undefined;
  }
  if (classWeights)
    logger.info(
      `class weights: ${task.classes.map((c, i) => `${c.name} ${classWeights[i].toFixed(4)}`).join(', ')}`,
    );
  return classWeights;
}

/** The run's sampling: the sampler's epoch plans over the groups it balances, its weights. */
export function planSampling(args: {
  splits: DatasetSplits;
  sampler?: SamplerPlugin;
  samplerType?: string;
  datasetType: string;
  seed: number;
  logger: Logger;
}): Sampling {
  const { splits, sampler, seed, logger } = args;
  const groups = samplingGroups(splits);
  const counts = groups ? groupCounts(groups) : [];
  if (sampler && !groups)
    logger.warn(
      `sampler ${args.samplerType} ignored: ${args.datasetType} gives no classes or strata to balance`,
    );
  const weights = groups ? sampler?.lossWeighting?.classWeights(counts) : undefined;
  return {
    groups,
    counts,
    classWeights: lossClassWeights(splits.task, weights, args.samplerType, logger),
    order: (epoch) =>
      !sampler || !groups
        ? Random.fork(seed, 'order', epoch).shuffle(splits.train.map((_, i) => i))
        : sampler.epochPlan({
            labels: groups.labels,
            numClasses: groups.names.length,
            strata: groups.strata,
            epoch,
            seed,
          }),
  };
}
