import type { DatasetPlugin, DatasetSplits } from '../../sdk/contracts/data.js';
import { ImagePipeline, type ImagePipelineOptions } from './pipeline.js';

/**
 * The image pipeline a run feeds from: the dataset plugin's settings (margin, bad-record
 * policy and bound) over its prepared splits, so errors name the split; `options` adds or
 * overrides the rest (cache folder and bound, workers, logger).
 */
export function datasetPipeline(
  dataset: DatasetPlugin,
  splits: DatasetSplits,
  options: Partial<ImagePipelineOptions> = {},
): ImagePipeline {
  return new ImagePipeline({
    image: splits.image,
    margin: dataset.pipeline.margin,
    onBadRecord: dataset.pipeline.onBadRecord,
    maxBadFraction: dataset.pipeline.maxBadFraction,
    splits: { train: splits.train, validation: splits.validation, test: splits.test },
    ...options,
  });
}
