/** Plugins that define what is learned from what: the task, datasets, samplers, architectures. */
import type * as tf from '@tensorflow/tfjs';

export interface ClassPresets {
  /** What a numeric code is, for messages: `AffectNet expression code`. */
  codeName: string;
  /** Class names by code (index = code; codes run 0..names.length-1). */
  names: readonly string[];
  /** Named class lists: codes in model-index order. */
  presets: Readonly<Record<string, readonly number[]>>;
  defaultPreset: string;
  /**
   * The classes of a preset name or a list of codes/names, with contiguous model indices in the
   * given order; unknown or repeated entries are user errors.
   */
  resolve(presetOrList: string | readonly (string | number)[]): ClassInfo[];
}

// ---- the task a dataset poses and the models answer -----------------------------------------

export type TaskKind = 'classification' | 'valence-arousal' | 'expression+valence-arousal';

export interface ClassInfo {
  /** Contiguous index used by the model. */
  index: number;
  /** AffectNet expression code (0..10) or another dataset's code. */
  code: number;
  name: string;
}

export interface Task {
  kind: TaskKind;
  /** Classes of the softmax head (empty for pure regression). */
  classes: ClassInfo[];
  /**
   * Groups a sampler balances when the task has no classes (valence-arousal: the expression
   * categories of the training images). `Example.stratum` indexes it. Absent: no sampling.
   */
  strata?: ClassInfo[];
}

// ---- dataset ---------------------------------------------------------------------------------

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
  /**
   * `crop: aligned`: the angle (radians) of the eye line; the crop is the box turned by it about
   * its centre, so the eyes come out level. Absent: an upright box.
   */
  angle?: number;
}

/** One labelled image. `label` indexes Task.classes (or -1 when the task has no classes). */
export interface Example {
  /** Path relative to the dataset's image root, as written in the file list. */
  id: string;
  /** Absolute path of the image file. */
  imagePath: string;
  label: number;
  /** Index into Task.strata, when the task has strata. */
  stratum?: number;
  valence?: number;
  arousal?: number;
  /** Face box to crop to; undefined means use the full image. */
  crop?: FaceBox;
  /** Where the record came from, for error messages: `file:line`. */
  source?: string;
}

export interface BadRecord {
  source: string;
  reason: string;
}

export interface BadRecordSummary {
  total: number;
  byReason: Record<string, number>;
  /** The first records of each kind, for the report; never the full list of a huge set. */
  examples: BadRecord[];
}

export interface ImageSpec {
  height: number;
  width: number;
  channels: 1 | 3;
}

export interface DatasetSplits {
  task: Task;
  image: ImageSpec;
  train: Example[];
  validation: Example[];
  test: Example[];
  badRecords: BadRecordSummary;
  /** Facts worth recording with the run (root, file lists, preset name, counts). */
  description: Record<string, unknown>;
  /**
   * Where each split's examples come from, in words (`validation.csv`, `training.csv: 500 per
   * class held out`): recorded with the run's metrics and params, so a score says what it is.
   */
  sources?: Partial<Record<'train' | 'validation' | 'test', string>>;
}

/** Augmentation applied by the image pipeline to training batches only. */
export interface AugmentOptions {
  flip?: boolean;
  /** Max shift as a fraction of the side. */
  shift?: number;
  /** Max rotation in degrees. */
  rotate?: number;
  brightness?: number;
  contrast?: number;
  /** Random erasing (Zhong et al. 2017), applied last; absent or probability 0: off. */
  erasing?: ErasingOptions;
  /**
   * Batch mixing, applied by the trainer to whole training batches after the per-image
   * augmentations (src/core/pipeline/mix.ts); the loss weighs each image's own and its
   * partner's targets. Absent or probability 0: off.
   */
  mixup?: MixOptions;
  cutmix?: MixOptions;
}

/** Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019): lambda ~ Beta(alpha, alpha). */
export interface MixOptions {
  alpha?: number;
  /** The probability that a batch is mixed this way (mixup and CutMix never share a batch). */
  probability?: number;
}

/** Random erasing as torchvision's RandomErasing defines it (scale = area, ratio = aspect). */
export interface ErasingOptions {
  probability?: number;
  /** Erased area as a fraction of the image, drawn uniformly in [areaMin, areaMax]. */
  areaMin?: number;
  areaMax?: number;
  /** Aspect ratio (height / width), drawn log-uniformly in [aspectMin, aspectMax]. */
  aspectMin?: number;
  aspectMax?: number;
  /** The fill in [0,1] units, or `random`: each value uniform in [0,1). */
  value?: number | 'random';
}

/** A file list in a dataset's own format, read for `affectlab predict` and `evaluate --list`. */
export interface ListedExamples {
  examples: Example[];
  badRecords: BadRecordSummary;
  /** What was left out without being bad (rows of classes the run has not), in words. */
  notes: string[];
}

export interface DatasetPlugin {
  prepare(): Promise<DatasetSplits>;
  /**
   * Read one file list in this dataset's format (AffectNet's CSV for `affectnet`) with the
   * configured classes, task and crop, images looked up under `imageRoot` (the plugin's
   * default when omitted). Optional: predict and evaluate say so when a plugin lacks it.
   */
  listExamples?(file: string, imageRoot?: string): Promise<ListedExamples>;
  /**
   * The model input and task this dataset will pose, worked out from its options alone (no
   * file is read), so `affectlab summary` can build the model without the data. Optional:
   * commands that need it say so when a dataset plugin lacks it.
   */
  describeTask?(): ModelRequest;
  /** Pipeline settings the runner passes to the image pipeline. */
  readonly pipeline: {
    margin: number;
    augment?: AugmentOptions;
    onBadRecord?: 'skip' | 'fail';
    /** Fail the run when more than this fraction of a split's images turn out bad (ImagePipeline). */
    maxBadFraction?: number;
    /**
     * How the examples' faces are cropped, so predict prepares detected faces the same way:
     * `face-box` (default), `aligned` (the box turned level by the eye line, FaceBox.angle) or
     * `full` (whole images: predict then uses no detector unless asked).
     */
    crop?: CropMode;
  };
}

export type CropMode = 'face-box' | 'aligned' | 'full';

// ---- sampler ---------------------------------------------------------------------------------

/**
 * What a sampler may look at to plan an epoch. `labels` are the groups it balances: the
 * classes, or the strata when the task has no classes (valence-arousal).
 */
export interface SamplingContext {
  /** Group of each training example (index into the classes or strata); -1 when it has none. */
  labels: readonly number[];
  /** Number of groups (classes, or strata). */
  numClasses: number;
  /** Stratum of each training example, when the dataset gives strata (undefined entries: none). */
  strata?: readonly (number | undefined)[];
  /** Per-example weights, when the dataset gives them (none of the built-in datasets does). */
  exampleWeights?: readonly number[];
  epoch: number;
  seed: number;
}

/** How a strategy weights the training loss, apart from the order it trains in. */
export interface LossWeighting {
  /** Per-class loss weights (mean 1 over the classes present) from training examples per class. */
  classWeights(counts: readonly number[]): number[];
}

/**
 * A sampling strategy: the order of each epoch (`epochPlan`) and, separately, the loss
 * weighting it pairs with (only class-weighted strategies have one).
 */
export interface SamplerPlugin {
  /**
   * Indices into the training examples for one epoch (repeats allowed), in training order.
   * Must depend only on the context so a resumed run replays the same epochs.
   */
  epochPlan(context: SamplingContext): number[];
  /** Absent: the unweighted loss. */
  readonly lossWeighting?: LossWeighting;
}

// ---- architecture ----------------------------------------------------------------------------

export interface ModelRequest {
  /** [height, width, channels] */
  inputShape: [number, number, number];
  task: Task;
}

export interface ArchitecturePlugin {
  /**
   * The model for the request. The runner then draws every random initial weight again from
   * the run's seed (and the layer's position and the weight's name); weights set from a file
   * must be marked with `markPretrained` (`loadWeightsByLayerName` does so) to be kept.
   */
  build(request: ModelRequest): tf.LayersModel | Promise<tf.LayersModel>;
}
