/** The image pipeline: decode, crop, resize, normalise, augment, cache, batch. */
export {
  ImagePipeline,
  DEFAULT_PIPELINE_WORKERS,
  type Batch,
  type ImagePipelineOptions,
  type PipelineStats,
} from './pipeline.js';
export {
  BadRecordLog,
  emptyBadRecordSummary,
  mergeBadRecordSummaries,
  formatBadRecordSummary,
  type BadRecordPolicy,
} from './bad-records.js';
export { eyeLineAngle, parseLandmarks, alignedBox, sampleAligned } from './align.js';
export {
  alignedToSpec,
  cropRegion,
  decodeAndCrop,
  BadImageError,
  type BadImageReason,
  type Region,
} from './preprocess.js';
export {
  AUGMENT_PARAMS,
  AugmentParam,
  augmentParams,
  batchAugmentParams,
  drawAugment,
  drawErasing,
  erasingNoise,
  ERASING_DEFAULTS,
  toUnitFloat,
  isAugmentActive,
  type AugmentDraw,
  type EraseBox,
} from './augment.js';
export {
  drawMix,
  pixelMix,
  mixRandom,
  partnerTargets,
  betaSample,
  isMixActive,
  MIXUP_DEFAULTS,
  CUTMIX_DEFAULTS,
  type MixDraw,
  type MixBox,
} from './mix.js';
export { PreprocessedCache } from './cache.js';
export { runLoadJob, type LoadJob, type LoadResult } from './load.js';
export { Progress } from './progress.js';
