/** Plugins that define the update: optimizers and losses, in tfjs and as graph ops. */
import type * as tf from '@tensorflow/tfjs';
import type { GraphBuilder, GraphVariable, Output } from '../graph-builder.js';

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
