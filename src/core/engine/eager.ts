/**
 * The eager engine: tfjs-layers' own `trainOnBatch`, op by op, on whatever backend is active.
 * It is the reference the graph engine is checked against and the fallback for models the
 * graph compiler does not support.
 */
import * as tf from '@tensorflow/tfjs';
import type { Task } from '../../sdk/contracts/data.js';
import type { OptimizerExtraState, TfjsLossFunction } from '../../sdk/contracts/optimisation.js';
import { DropoutSeeds } from '../training/seeding.js';
import { identityAugmentParams, toUnitFloat } from '../pipeline/augment.js';
import { EagerAugment, mixImages } from './augment.js';
import {
  headLossPlugins,
  type EngineOptions,
  LossSpec,
  OptimizerStateEntry,
  StepInputs,
  StepResult,
  StepTargets,
  TrainingEngine,
} from './engine.js';

/** float32 pixels in [0,1]; uint8 ones normalised as the pipeline does (value / 255). */
const unitPixels = (x: Float32Array | Uint8Array): Float32Array =>
  x instanceof Uint8Array ? toUnitFloat(x) : x;

/** The loss of a run for a batch's targets and predictions (one tensor, or one per head). */
export type TaskLoss = (
  yTrue: tf.Tensor | tf.Tensor[],
  yPred: tf.Tensor | tf.Tensor[],
) => tf.Scalar;

/**
 * The loss of each model output: one for a single head; for the multi-task model the
 * cross-entropy and the regression loss, each scaled by its weight (tfjs' compile has no
 * lossWeights, so the weights go into the per-output losses).
 */
export function headLosses(
  task: Task,
  loss: LossSpec,
  wrap?: (fn: TfjsLossFunction, head: number) => TfjsLossFunction,
): TfjsLossFunction[] {
  // the class weights belong to the classification loss; a regression loss never sees them
  const [first, second] = headLossPlugins(task, loss).map(({ plugin }, head) => {
    const fn = plugin.tfjs(plugin.target === 'classes' ? loss.classWeights : undefined);
    return wrap ? wrap(fn, head) : fn;
  });
  if (task.kind !== 'expression+valence-arousal') return [first];
  const weighted =
    (fn: TfjsLossFunction, w: number) =>
    (t: tf.Tensor, p: tf.Tensor): tf.Scalar =>
      tf.tidy(() => fn(t, p).mul(w) as tf.Scalar);
  return [weighted(first, loss.expressionWeight), weighted(second, loss.regressionWeight)];
}

/** The run's loss as one function over all heads (validation uses it too). */
export function taskLoss(task: Task, loss: LossSpec): TaskLoss {
  const heads = headLosses(task, loss);
  if (heads.length === 1) return (t, p) => heads[0](t as tf.Tensor, p as tf.Tensor);
  return (t, p) =>
    tf.tidy(() => {
      const [tc, tr] = t as tf.Tensor[];
      const [pc, pr] = p as tf.Tensor[];
      return heads[0](tc, pc).add(heads[1](tr, pr)) as tf.Scalar;
    });
}

/** Target tensors of one batch in the layout the model's heads produce. */
export function targetTensors(
  task: Task,
  targets: StepTargets,
  n: number,
): tf.Tensor | tf.Tensor[] {
  const classes = (): tf.Tensor => {
    if (!targets.classes) throw new Error('a classification batch needs class targets');
    const labels = targets.classes;
    return tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), task.classes.length).toFloat());
  };
  const va = (): tf.Tensor => {
    if (!targets.valenceArousal)
      throw new Error('a regression batch needs valence/arousal targets');
    return tf.tensor2d(targets.valenceArousal, [n, 2]);
  };
  if (task.kind === 'classification') return classes();
  if (task.kind === 'valence-arousal') return va();
  return [classes(), va()];
}

/** The partner targets and lambda of the step being trained (mixed batches only). */
interface StepMix {
  lambda: tf.Scalar;
  oneMinusLambda: tf.Scalar;
  /** One tensor per head, in model output order. */
  partner: tf.Tensor[];
}

/**
 * A head's loss under mixing: lambda x L(own targets) + (1 - lambda) x L(partner targets) while
 * `current()` gives a mix, the plain loss otherwise. The same float32 operations as the graph
 * engine's form (compiler.ts).
 */
export function mixedHeadLoss(
  fn: TfjsLossFunction,
  head: number,
  current: () => StepMix | undefined,
): TfjsLossFunction {
  return (yTrue, yPred) => {
    const mix = current();
    if (!mix) return fn(yTrue, yPred);
    return tf.tidy(
      () =>
        tf.add(
          tf.mul(fn(yTrue, yPred), mix.lambda),
          tf.mul(fn(mix.partner[head], yPred), mix.oneMinusLambda),
        ) as tf.Scalar,
    );
  };
}

export class EagerEngine implements TrainingEngine {
  readonly kind = 'eager' as const;
  /** tfjs would convert uint8 op by op; the pipeline's JS conversion is as fast. */
  readonly acceptsUint8 = false;
  private readonly model: tf.LayersModel;
  private readonly task: Task;
  private readonly optimizer: tf.Optimizer;
  /** What the optimizer plugin keeps beyond tfjs' getWeights (saved after it, by name). */
  private readonly extraState: OptimizerExtraState | undefined;
  private readonly optimizerType: string;
  private readonly dropout: DropoutSeeds;
  private readonly mixing: boolean;
  private readonly augment: EagerAugment;
  /** Set for the duration of a mixed step's trainOnBatch; the compiled losses read it. */
  private mix: StepMix | undefined;

  constructor(options: EngineOptions) {
    this.model = options.model;
    this.dropout = new DropoutSeeds(options.model);
    this.task = options.task;
    this.optimizer = options.optimizer.plugin.createTfjsOptimizer();
    this.extraState = options.optimizer.plugin.extraState;
    this.optimizerType = options.optimizer.type;
    this.mixing = options.mixing === true;
    const [, height, width, channels] = options.model.inputs[0].shape as number[];
    this.augment = new EagerAugment(options.augment, { height, width, channels }, options.seed);
    const heads = headLosses(
      this.task,
      options.loss,
      this.mixing ? (fn, head) => mixedHeadLoss(fn, head, () => this.mix) : undefined,
    );
    this.model.compile({
      optimizer: this.optimizer,
      loss: heads.length === 1 ? heads[0] : heads,
      ...(this.task.kind === 'classification' ? { metrics: ['accuracy'] } : {}),
    });
  }

  get learningRate(): number {
    return (this.optimizer as unknown as { learningRate: number }).learningRate;
  }

  setLearningRate(lr: number): void {
    const o = this.optimizer as tf.Optimizer & {
      setLearningRate?: (v: number) => void;
      learningRate?: number;
    };
    if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
    else o.learningRate = lr;
  }

  /**
   * The batch the training pass reads: unit pixels, augmented per image and mixed as the inputs
   * say (the compiled step's arithmetic: ./augment.ts).
   */
  trainingBatch(inputs: StepInputs): tf.Tensor4D {
    const [n, height, width] = inputs.shape;
    if (inputs.augment && !this.augment.active)
      throw new Error('eager engine: augmentation parameters for an engine built without augment');
    if (inputs.mix && !this.mixing)
      throw new Error('eager engine: a mixed batch for an engine built without mixing');
    let xs = tf.tensor4d(unitPixels(inputs.x), inputs.shape);
    const replace = (next: tf.Tensor4D) => {
      xs.dispose();
      xs = next;
    };
    if (this.augment.active)
      replace(this.augment.apply(xs, inputs.augment ?? identityAugmentParams(n)));
    if (inputs.mix) replace(mixImages(xs, inputs.mix, height, width));
    return xs;
  }

  async trainStep(inputs: StepInputs, targets: StepTargets, stepSeed: number): Promise<StepResult> {
    const n = inputs.shape[0];
    const xs = this.trainingBatch(inputs);
    const ys = targetTensors(this.task, targets, n);
    this.mix = this.stepMix(targets, n);
    // dropout masks from the step's seed, so every step is repeatable and a run resumed
    // mid-epoch draws the masks an uninterrupted one would
    const restore = this.dropout.forStep(stepSeed);
    let out: number | number[];
    try {
      out = await this.model.trainOnBatch(xs, ys);
    } finally {
      restore();
      xs.dispose();
      tf.dispose(ys);
      if (this.mix) tf.dispose([this.mix.lambda, this.mix.oneMinusLambda, ...this.mix.partner]);
      this.mix = undefined;
    }
    const values = Array.isArray(out) ? out : [out];
    return {
      loss: values[0],
      accuracy: this.task.kind === 'classification' && values.length > 1 ? values[1] : undefined,
    };
  }

  /** The tensors of a mixed batch's second half, or undefined for an unmixed one. */
  private stepMix(targets: StepTargets, n: number): StepMix | undefined {
    if (!targets.mix) return undefined;
    if (!this.mixing)
      throw new Error('eager engine: a mixed batch for an engine built without mixing');
    const { lambda, partner } = targets.mix;
    const ys = targetTensors(this.task, partner, n);
    return tf.tidy(() => {
      const l = tf.scalar(lambda, 'float32');
      return {
        lambda: l,
        oneMinusLambda: tf.sub(tf.scalar(1, 'float32'), l) as tf.Scalar,
        partner: Array.isArray(ys) ? ys : [ys],
      };
    });
  }

  async predict(inputs: StepInputs): Promise<Float32Array[]> {
    return tf.tidy(() => {
      const pred = this.model.predict(tf.tensor4d(unitPixels(inputs.x), inputs.shape)) as
        tf.Tensor | tf.Tensor[];
      return (Array.isArray(pred) ? pred : [pred]).map((t) => t.dataSync() as Float32Array);
    });
  }

  // The tfjs model is the engine's own state: nothing to copy.
  async syncToModel(): Promise<void> {}
  async syncFromModel(): Promise<void> {}

  async getOptimizerState(): Promise<OptimizerStateEntry[]> {
    const weights = await this.optimizer.getWeights();
    // getWeights returns the optimizer's variables plus a fresh `iterations` scalar; copy all so
    // the caller may dispose what it gets
    const out = weights.map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
    for (const w of weights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
    if (this.extraState) {
      const { entries } = this.extraState;
      const values = this.extraState.readTfjs(this.optimizer);
      if (values.length !== entries.length)
        throw new Error(
          `optimizer ${this.optimizerType}: ${values.length} extra state values for ${entries.length} entries`,
        );
      values.forEach((tensor, i) => out.push({ name: entries[i].name, tensor }));
    }
    return out;
  }

  async setOptimizerState(state: OptimizerStateEntry[]): Promise<void> {
    const names = new Set(this.extraState?.entries.map((e) => e.name));
    const extra = new Map(state.filter((s) => names.has(s.name)).map((s) => [s.name, s.tensor]));
    // setWeights makes variables that share the tensors' data (reference counted), so the
    // caller may dispose what it passed once this returns
    await this.optimizer.setWeights(state.filter((s) => !names.has(s.name)));
    // a checkpoint without them (an older one) keeps what tfjs' setWeights made
    if (this.extraState && extra.size === names.size)
      this.extraState.writeTfjs(
        this.optimizer,
        this.extraState.entries.map((e) => extra.get(e.name) as tf.Tensor),
      );
  }

  dispose(): void {
    this.augment.dispose();
    this.optimizer.dispose();
  }
}
