/**
 * Execution engines: what runs one training step, one prediction batch, and holds the weights
 * and optimizer state while a run trains. The runner owns the loop (epochs, steps, signals,
 * checkpoints, callbacks); an engine only executes. Two exist: `eager` (tfjs-layers'
 * trainOnBatch, op by op, any backend) and `graph` (the whole step compiled to one TensorFlow
 * graph and run in a libtensorflow session, native backend only).
 */
import type * as tf from '@tensorflow/tfjs';
import type { ExecutionPreference } from '../config/types.js';
import type { AugmentOptions, Task } from '../../sdk/contracts/data.js';
import type { LossPlugin, OptimizerPlugin } from '../../sdk/contracts/optimisation.js';

export type { ExecutionPreference };
export type ExecutionKind = Exclude<ExecutionPreference, 'auto'>;

/** Targets of one batch, row-major, `n` rows. */
export interface StepTargets {
  /** Class index per row (classification and multi-task). */
  classes?: Int32Array;
  /** [valence, arousal] per row, length 2n (valence-arousal and multi-task). */
  valenceArousal?: Float32Array;
  /**
   * A mixed batch (mixup, CutMix): the loss is lambda x L(these targets) + (1 - lambda) x
   * L(partner), per head. Only for an engine built with `mixing`.
   */
  mix?: MixedTargets;
}

/** The second half of a mixed batch's targets. */
export interface MixedTargets {
  /** The weight of the batch's own targets, a float32 value in [0, 1]. */
  lambda: number;
  /** Each row's partner's targets (same layout, no `mix`). */
  partner: StepTargets;
}

/**
 * One batch of images, NHWC: float32 pixels in [0,1], or uint8 pixels (0-255) that the engine
 * normalises itself to exactly the float32 values (Math.fround(value / 255)).
 */
export interface StepInputs {
  x: Float32Array | Uint8Array;
  shape: [number, number, number, number];
  /**
   * Training only, for an engine built with `augment`: the per-image augmentation, one row of
   * AUGMENT_PARAMS float32 values per image (src/core/pipeline/augment.ts). Absent: unaugmented.
   */
  augment?: Float32Array;
  /** Training only, for an engine built with `mixing`: how the (augmented) batch is mixed. */
  mix?: PixelMix;
}

/**
 * How a batch's pixels are mixed (src/core/pipeline/mix.ts draws it): row r with row
 * partner[r]; mixup weighs every pixel lambda : 1 - lambda, CutMix takes the partner's pixels
 * inside `box` ([top, left, bottom, right), rows and columns) and its own outside.
 */
export interface PixelMix {
  lambda: number;
  partner: Int32Array;
  box?: [number, number, number, number];
}

export interface StepResult {
  /** The batch's training loss (before the update). */
  loss: number;
  /** Classification accuracy of the batch (before the update), when the task has classes. */
  accuracy?: number;
}

/** A plugin with the name it was configured under (for messages). */
export interface Named<P> {
  type: string;
  plugin: P;
}

/** The loss a run trains with, as the engine needs it: one loss plugin per head kind. */
export interface LossSpec {
  /** The loss of the expression head (classification and multi-task). */
  classification: Named<LossPlugin>;
  /** The loss of the valence/arousal head (valence-arousal and multi-task). */
  regression: Named<LossPlugin>;
  /** Per-class weights of the classification loss (class-balanced loss), or none. */
  classWeights?: readonly number[];
  expressionWeight: number;
  regressionWeight: number;
}

/** The loss plugins a task's heads use, in model output order. */
export function headLossPlugins(task: Task, loss: LossSpec): Named<LossPlugin>[] {
  if (task.kind === 'classification') return [loss.classification];
  if (task.kind === 'valence-arousal') return [loss.regression];
  return [loss.classification, loss.regression];
}

export interface EngineOptions {
  /** The model the architecture plugin built; the source of the layers and initial weights. */
  model: tf.LayersModel;
  task: Task;
  loss: LossSpec;
  optimizer: Named<OptimizerPlugin>;
  /** The run's seed: dropout masks are drawn from (seed, step seed) so runs repeat exactly. */
  seed: number;
  /**
   * The run mixes batches (mixup, CutMix): the training loss takes partner targets and lambda
   * per step (StepTargets.mix). Without it an engine refuses mixed targets.
   */
  mixing?: boolean;
  /**
   * The run's per-image augmentation (flip, shift, rotation, brightness, contrast, erasing):
   * the engine compiles the stages these options can change and applies StepInputs.augment.
   */
  augment?: AugmentOptions;
}

/** A named tensor of optimizer state, saved in checkpoints (optimizer.bin / optimizer.json). */
export interface OptimizerStateEntry {
  name: string;
  tensor: tf.Tensor;
}

export interface TrainingEngine {
  readonly kind: ExecutionKind;
  /**
   * Whether uint8 inputs are cheaper than float32 here (the engine does the /255 itself, in its
   * graph), so the runner should feed uint8 batches where nothing augments floats. Every engine
   * takes both.
   */
  readonly acceptsUint8: boolean;
  /**
   * One training step: forward in training mode, loss, gradients, optimizer update.
   * `stepSeed` is unique per (epoch, step) and fixes the dropout masks of the step, so a
   * resumed run draws the same masks as an uninterrupted one.
   */
  trainStep(inputs: StepInputs, targets: StepTargets, stepSeed: number): Promise<StepResult>;
  /** Inference-mode outputs, one Float32Array per model output (row-major). */
  predict(inputs: StepInputs): Promise<Float32Array[]>;
  setLearningRate(learningRate: number): void;
  readonly learningRate: number;
  /** Copy the engine's current weights into the tfjs model (before checkpoint, save, eval). */
  syncToModel(): Promise<void>;
  /** Copy the tfjs model's weights into the engine (after a checkpoint was restored into it). */
  syncFromModel(): Promise<void>;
  /** The optimizer's complete state (iteration count, slots, its extra state), exactly. */
  getOptimizerState(): Promise<OptimizerStateEntry[]>;
  /** Restore exactly what getOptimizerState returned; the next step equals an uninterrupted one. */
  setOptimizerState(state: OptimizerStateEntry[]): Promise<void>;
  dispose(): void;
}
