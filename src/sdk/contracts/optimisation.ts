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

/**
 * Adam-style accumulated powers (beta1^t, beta2^t): scalar variables the checkpoint keeps
 * exactly under ADAM_POWER_STATE_NAMES, shared with the eager engine's tfjs Adam.
 */
export interface GraphPowers {
  beta1: GraphVariable;
  beta2: GraphVariable;
  b1: number;
  b2: number;
}

/** An optimizer update written as graph ops, in tfjs' formulas and getWeights slot order. */
export interface GraphOptimizerUpdate {
  /** Slot names in tfjs' getWeights order (`m`, `v` for Adam), one variable per weight each. */
  slotNames: string[];
  slots: GraphVariable[][];
  powers?: GraphPowers;
  /** The ops that update weights and slots. */
  updates: string[];
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
