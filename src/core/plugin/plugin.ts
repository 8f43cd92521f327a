import type * as tf from '@tensorflow/tfjs';
import type { InjectionToken } from 'tsyringe';
import type { GraphBuilder, GraphVariable, Output } from '../engine/graph/builder.js';

/** `{ type: <registered name>, ...options }` */
export interface PluginRef {
  type: string;
  [option: string]: unknown;
}

/** A class whose instances tsyringe can build. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- constructor parameters are resolved by the container
export type Constructor<T> = new (...args: any[]) => T;

/** The kinds of plugin the runtime resolves. Core knows these interfaces, never a plugin by name. */
export const PLUGIN_KINDS = [
  'dataset',
  'sampler',
  'architecture',
  'reporter',
  'launcher',
  'callback',
  'optimizer',
  'loss',
  'detector',
] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** A JSON Schema fragment (draft-07 subset used by ajv and editors). */
export type JsonSchema = { [key: string]: unknown };

/** The options object a plugin receives: its YAML mapping without `type`, after validation. */
export type PluginOptions = Record<string, unknown>;

/**
 * Token under which a plugin's validated options are registered in the per-plugin child
 * container, so a plugin class asks for them with `@inject(PLUGIN_OPTIONS)`.
 */
export const PLUGIN_OPTIONS: InjectionToken<PluginOptions> = Symbol('affectlab.pluginOptions');

/**
 * What a plugin module exports. `implementation` is an `@injectable()` class: its constructor
 * receives `@inject(PLUGIN_OPTIONS)` options and any core service by type (Logger, Rng, ...).
 */
export interface PluginDefinition<T = unknown> {
  kind: PluginKind;
  /** The name used in YAML (`type: vgg-type`). */
  type: string;
  description: string;
  /** JSON Schema of the options (an object schema, without the `type` key). */
  optionsSchema: JsonSchema;
  implementation: Constructor<T>;
  /**
   * Constructor parameters as injection tokens, for plugins written without decorators (plain
   * JavaScript): the runtime resolves each and calls `new implementation(...resolved)`.
   */
  inject?: InjectionToken<unknown>[];
  /**
   * Hints shown when an environment variable this plugin's options usually come from is unset
   * (`AFFECTNET_ROOT` -> how to get the data or try synthetic data). `{file}` is replaced by
   * the experiment file.
   */
  envHints?: Record<string, string>;
  /**
   * Callbacks that schedule the learning rate: the name that selects this callback in the
   * `training.learningRate` shorthand (`schedule: step` for step-decay), whose other keys are
   * this callback's options.
   */
  schedule?: string;
  /**
   * A dataset's class codes and named class lists, so commands that take `--classes` without
   * an experiment (`affectlab metrics`) learn them from the registered datasets.
   */
  classPresets?: ClassPresets;
  /**
   * Files these options make the run fetch on first use (`weights: imagenet`), for `validate`
   * and `run --dry-run` to say whether each is cached. A pure look at the cache: no network,
   * no file read beyond a stat.
   */
  fileNotes?(options: PluginOptions): FileNote[];
}

/** A file a plugin fetches on first use, as `validate` and `--dry-run` report it. */
export interface FileNote {
  /** The option that asks for it: `weights`. */
  option: string;
  /** What it is: `Keras' ImageNet weights for resnet50`. */
  what: string;
  cached: boolean;
  /** Where it is kept (or will be). */
  path: string;
  /** Where it comes from when not cached. */
  url: string;
  /** `md5 …`, `sha256 …` or a note that there is none. */
  hash: string;
}

/** A dataset plugin's class vocabulary: codes, their names and named class lists. */
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

// ---- reporter --------------------------------------------------------------------------------

export interface RunInfo {
  runId: string;
  experiment: string;
  runDir: string;
  sourceFile: string;
  resolvedConfig: Record<string, unknown>;
  params: Record<string, unknown>;
  backend: { name: string; devices: string[] };
  dataset: Record<string, unknown>;
  group?: string;
  startTime: number;
}

export interface EpochMetrics {
  epoch: number;
  metrics: Record<string, number>;
  timestamp: number;
}

export interface ArtifactInfo {
  /** Path relative to the run directory. */
  path: string;
  absolutePath: string;
}

export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

/** A sweep as its reporters see it (the parent of its combinations' runs). */
export interface SweepInfo {
  sweepId: string;
  experiment: string;
  sweepDir: string;
  sourceFile: string;
  mode: string;
  parameters: Record<string, unknown>;
  launcher: PluginRef;
  combinations: { index: number; overrides: string[]; runId: string }[];
  startTime: number;
}

export interface SweepEnd {
  status: RunStatus;
  finished: number;
  failed: number;
  best?: { runId: string; overrides: string[]; metric: string; value: number };
}

/** Observer of run events. Every method is optional; a failing reporter never stops a run. */
/** Where an event was recorded: its line (0-based) in events.jsonl and the event as written. */
export interface EventRecord {
  line: number;
  event: RunEvent;
}

/**
 * Reporters hear of events from a background queue (never inside the training loop); `record`
 * is the event's line in events.jsonl, so a reporter need not read the file to know it.
 */
export interface ReporterPlugin {
  /**
   * Before the run starts (before its directory exists): a reporter that cannot do its work
   * the way it is configured throws a UserError here, and the run does not start.
   */
  preflight?(run: { experiment: string }): Promise<void> | void;
  /**
   * A sweep starts (in the process that launches it): returns tags every combination's run
   * gets (e.g. its parent run's id).
   */
  sweepStarted?(
    sweep: SweepInfo,
  ): Promise<Record<string, string> | void> | Record<string, string> | void;
  sweepEnded?(sweep: SweepInfo, end: SweepEnd): Promise<void> | void;
  runStarted?(run: RunInfo, record?: EventRecord): Promise<void> | void;
  epochEnded?(run: RunInfo, epoch: EpochMetrics, record?: EventRecord): Promise<void> | void;
  evaluated?(
    run: RunInfo,
    metrics: Record<string, number>,
    step: number,
    record?: EventRecord,
  ): Promise<void> | void;
  artifact?(run: RunInfo, artifact: ArtifactInfo, record?: EventRecord): Promise<void> | void;
  runEnded?(
    run: RunInfo,
    status: RunStatus,
    error?: string,
    record?: EventRecord,
  ): Promise<void> | void;
}

/**
 * One line of a run's `events.jsonl` in the local run store: every reporter event in order,
 * so a reporter that missed events (a server that was down) can replay them later.
 */
export type RunEvent =
  | { event: 'runStarted'; time: number; run: RunInfo }
  | { event: 'epochEnded'; time: number; epoch: EpochMetrics }
  | { event: 'evaluated'; time: number; metrics: Record<string, number>; step: number }
  | { event: 'artifact'; time: number; artifact: ArtifactInfo }
  | { event: 'runEnded'; time: number; status: RunStatus; error?: string };

// ---- launcher --------------------------------------------------------------------------------

/** One combination of a sweep, as a launcher runs it: a plain `affectlab run` command line. */
export interface LaunchTask {
  /** Position in the sweep (0-based), stable across resumes. */
  index: number;
  /** The command: argv[0] is the executable (node), the rest its arguments. */
  argv: string[];
  /** Working directory of the command. */
  cwd: string;
  /** The run directory the command writes (its run.json tells how it ended). */
  runDir: string;
  /** Where the launcher sends the command's stdout and stderr. */
  logFile: string;
  /** A short label for progress lines (`sampler.type=weighted`). */
  label: string;
}

export interface LaunchContext {
  sweepId: string;
  /** The sweep's directory in the run store (scripts, logs, sweep.json). */
  sweepDir: string;
  /** Set on Ctrl-C/SIGTERM: a launcher cancels what it submitted and returns. */
  stopSignal: { stop: boolean; reason?: string };
  log(line: string): void;
}

/** How one task ended as far as the launcher knows; the run's run.json has the final word. */
export interface LaunchOutcome {
  index: number;
  /** Exit code of the command, when the launcher learns it. */
  exitCode?: number;
  /** The engine's own state word (Slurm's COMPLETED/FAILED, Ray's SUCCEEDED/FAILED...). */
  state: string;
  /** The engine's id of the task: pid, Slurm array task, Ray submission id. */
  engineId?: string;
}

/**
 * Runs the combinations of a sweep: child processes here, a Slurm array job, Ray jobs. A
 * failing task never stops the others; the promise resolves once every task ended or the stop
 * signal cancelled them.
 */
export interface LauncherPlugin {
  launch(tasks: LaunchTask[], context: LaunchContext): Promise<LaunchOutcome[]>;
}

// ---- training callbacks ---------------------------------------------------------------------

/** What a callback learns when training (re)starts. */
export interface TrainBeginInfo {
  epochs: number;
  /** The optimizer's configured learning rate. */
  baseLearningRate: number;
  /** The first epoch this process trains (0, or later when resuming). */
  startEpoch: number;
}

/** One completed epoch as callbacks see it. */
export interface EpochEndInfo {
  epoch: number;
  epochs: number;
  /** Training and validation metrics of the epoch (`loss`, `val_loss`, `val_accuracy`, ...). */
  metrics: Record<string, number>;
  /** The learning rate the epoch trained with. */
  learningRate: number;
}

/** What a callback may ask of the training loop at an epoch's end. */
export interface TrainingControl {
  /** Stop training after this epoch; `reason` is logged. */
  stopTraining(reason: string): void;
  /** The learning rate of the next epoch (a later callback's wins). */
  setLearningRate(learningRate: number): void;
  /** The learning rate the next epoch gets so far (after earlier callbacks). */
  readonly learningRate: number;
  /** Keep this epoch's checkpoint as checkpoints/best (the model the final evaluation scores). */
  keepAsBest(): void;
}

/** What a callback may do before the first epoch: set its learning rate. */
export type TrainBeginControl = Pick<TrainingControl, 'learningRate' | 'setLearningRate'>;

/**
 * A reaction to the training loop (Keras callbacks, Lightning's Callback). Hooks are optional;
 * `getState`/`setState` carry what the callback remembers (best value, wait counter) through
 * checkpoints, so a resumed run decides as the uninterrupted one would have.
 */
export interface TrainingCallback {
  /**
   * `control` may set the learning rate of the run's first epoch (a warm-up); it is used only
   * when the run starts from epoch 0 (a resumed run keeps its checkpoint's rate).
   */
  onTrainBegin?(info: TrainBeginInfo, control: TrainBeginControl): void;
  onEpochEnd?(epoch: EpochEndInfo, control: TrainingControl): void;
  onTrainEnd?(info: { lastEpoch: number; status: RunStatus }): void;
  /** Plain JSON data. */
  getState?(): unknown;
  setState?(state: unknown): void;
}

// ---- optimizer -------------------------------------------------------------------------------

/** One trainable weight as the graph compiler hands it to an optimizer's update. */
export interface GraphWeight {
  variable: GraphVariable;
  /** The weight's value read before this step's updates. */
  read: Output;
  gradient: Output;
}

/** What an optimizer's graph update gets: the builder, the weights and the step's feeds. */
export interface GraphUpdateContext {
  b: GraphBuilder;
  weights: GraphWeight[];
  /** The learning-rate feed (a float32 scalar), so schedules need no recompile. */
  learningRate: Output;
  /** Ops every update must run after (the loss and all gradients of the step). */
  control: readonly string[];
  /**
   * One state variable per weight for `slot` (`m`, `v`, `momentum`), zero before the first step,
   * saved with checkpoints under tfjs' names (`<weight>/<slot>`).
   */
  slotVariables(slot: string): GraphVariable[];
}

/** An optimizer update written as graph ops, in tfjs' formulas and getWeights slot order. */
export interface GraphOptimizerUpdate {
  /** Slot names in tfjs' getWeights order (`m`, `v` for Adam), one variable per weight each. */
  slotNames: string[];
  slots: GraphVariable[][];
  /**
   * One float32 variable per entry of the plugin's `extraState.entries`, in that order and of
   * that shape. The engine sets them (`valueAfter(0)` at the start), saves and restores them.
   */
  extraVariables?: GraphVariable[];
  /** The ops that update weights, slots and extra variables. */
  updates: string[];
}

/**
 * One named tensor of exact state an optimizer keeps beyond tfjs' per-weight slots and its
 * iteration count (Adam's accumulated powers beta^t).
 */
export interface OptimizerExtraEntry {
  /** Its name in checkpoints (`affectlab/adam/accBeta1`): never a slot's `<weight>/<slot>`. */
  readonly name: string;
  /** Its shape ([] for a scalar); float32. */
  readonly shape: readonly number[];
  /**
   * Its value after `iterations` steps by the optimizer's closed-form rule: the value before the
   * first step (0), and what the graph engine restores from a checkpoint without the entry.
   */
  valueAfter(iterations: number): Float32Array;
}

/**
 * The exact state an optimizer keeps beyond tfjs' slots. Both engines save its entries in
 * checkpoints after the slots, under their names and in this order, so a resumed run continues
 * bit for bit and either engine reads the other's checkpoints. The eager engine reads and writes
 * them in the tfjs optimizer (createTfjsOptimizer's) through these hooks; the graph engine keeps
 * them in the update's `extraVariables`.
 */
export interface OptimizerExtraState {
  readonly entries: readonly OptimizerExtraEntry[];
  /** The entries' current values in `optimizer`, in order: copies the caller disposes. */
  readTfjs(optimizer: tf.Optimizer): tf.Tensor[];
  /**
   * Set the entries in `optimizer` to `values` (in order; the caller keeps them), after its
   * setWeights restored the rest. Called only when a checkpoint has every entry; otherwise the
   * tfjs optimizer keeps what its own setWeights made of the iteration count.
   */
  writeTfjs(optimizer: tf.Optimizer, values: readonly tf.Tensor[]): void;
}

/**
 * An optimizer (`training.optimizer: { type: adam, ... }`). The eager engine trains with its
 * tfjs optimizer; the graph engine compiles `graphUpdate` into the step, so a resumed run reads
 * either engine's checkpoint. An optimizer without `graphUpdate` trains eagerly
 * (`execution: auto` says so; `execution: graph` refuses).
 */
export interface OptimizerPlugin {
  /** The configured learning rate: the first epoch's, and the base of LR-schedule callbacks. */
  readonly learningRate: number;
  /** A new tfjs optimizer with these hyperparameters. */
  createTfjsOptimizer(): tf.Optimizer;
  graphUpdate?(context: GraphUpdateContext): GraphOptimizerUpdate;
  /** State beyond tfjs' per-weight slots and `iter` that exact resume needs, if any. */
  readonly extraState?: OptimizerExtraState;
}

// ---- loss ------------------------------------------------------------------------------------

/** A loss over one batch: targets and predictions in, a scalar out. */
export type TfjsLossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

/** What a model head outputs and a loss compares against its targets. */
export type LossTarget = 'classes' | 'valence-arousal';

/** Inputs of a loss as graph ops. */
export interface GraphLossContext {
  b: GraphBuilder;
  /** `classes`: softmax probabilities [n, classes]; `valence-arousal`: [n, 2]. */
  predictions: Output;
  /** `classes`: int32 labels [n]; `valence-arousal`: float32 [n, 2]. */
  targets: Output;
  classes: number;
  /** Per-class weights (classes only; from the sampler), or none. */
  classWeights?: readonly number[];
}

/**
 * A loss of one head (`training.loss.classification` / `training.loss.regression`). The eager
 * engine and validation use `tfjs`; the graph engine compiles `graph`. Without `graph` the run
 * trains eagerly (`execution: auto` says so; `execution: graph` refuses).
 */
export interface LossPlugin {
  readonly target: LossTarget;
  /**
   * `yTrue`: class indices or one-hot rows (classes), [n, 2] (valence-arousal).
   * `classWeights` (classes only): per-class weights, mean 1.
   */
  tfjs(classWeights?: readonly number[]): TfjsLossFunction;
  graph?(context: GraphLossContext): Output;
}

// ---- detector --------------------------------------------------------------------------------

/** A decoded, upright image as a detector sees it: RGB uint8, row-major HWC. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** An image point in pixels (x to the right, y down). */
export type Point = [number, number];

/** One face found in an image. */
export interface DetectedFace {
  /** In the image's pixels. */
  box: FaceBox;
  /** The detector's confidence, 0..1. */
  score: number;
  /** 68 points in the iBUG 300-W order AffectNet uses, in image pixels, when the detector gives them. */
  landmarks?: Point[];
}

/**
 * A face detector (`affectlab predict` on whole photos, the web export). Implementations load
 * their model once per process and may batch the images of one call.
 */
export interface DetectorPlugin {
  /** The faces of each image, most confident first. */
  detect(images: readonly RgbImage[]): Promise<DetectedFace[][]>;
}
