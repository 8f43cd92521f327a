/**
 * Training losses: (weighted) categorical cross-entropy for the softmax head, MSE or 1 - CCC for
 * the valence/arousal head, and the guard that stops a run whose loss is no longer finite.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';

/** Keras' backend epsilon: probabilities are clipped to [EPS, 1 - EPS] before the log. */
export const LOSS_EPSILON = 1e-7;

export type LossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

export type RegressionLossKind = 'mse' | 'ccc';
export const REGRESSION_LOSS_KINDS: readonly RegressionLossKind[] = ['mse', 'ccc'];

/** One-hot targets, accepting one-hot rows or integer class indices ([batch] or [batch, 1]). */
function oneHotTargets(yTrue: tf.Tensor, numClasses: number): tf.Tensor {
  const last = yTrue.shape[yTrue.rank - 1];
  if (yTrue.rank >= 2 && last === numClasses) return yTrue.toFloat();
  if (yTrue.rank === 1 || last === 1)
    return tf.oneHot(yTrue.reshape([-1]).toInt(), numClasses).toFloat();
  throw new Error(
    `loss: targets of shape [${yTrue.shape}] do not match ${numClasses} predicted classes`,
  );
}

/**
 * Categorical cross-entropy from probabilities (the models end in softmax, like the report's
 * Keras model), optionally weighted per class:
 *   loss = mean_i ( w_{y_i} * -log clip(p_{i, y_i}, EPS, 1 - EPS) ).
 * This is the report's Appendix B `weighted_categorical_crossentropy` under Keras' default
 * reduction (the mean over the batch, NOT divided by the sum of the batch's weights), without
 * its renormalisation of the predictions (softmax outputs already sum to 1). Clipping keeps it
 * finite for p = 0 and p = 1. Without weights it is plain cross-entropy.
 */
export function makeClassificationLoss(weights?: readonly number[]): LossFunction {
  if (weights) {
    weights.forEach((w, c) => {
      if (!Number.isFinite(w) || w < 0)
        throw new Error(`loss: class weight ${c} is ${w}; weights must be finite and >= 0`);
    });
  }
  const classWeights = weights ? [...weights] : undefined;
  return (yTrue, yPred) =>
    tf.tidy(() => {
      const numClasses = yPred.shape[yPred.rank - 1] as number;
      if (classWeights && classWeights.length !== numClasses) {
        throw new Error(
          `loss: ${classWeights.length} class weights for a model with ${numClasses} classes`,
        );
      }
      const targets = oneHotTargets(yTrue, numClasses);
      const logProbabilities = tf.log(tf.clipByValue(yPred, LOSS_EPSILON, 1 - LOSS_EPSILON));
      let perClass = tf.mul(targets, logProbabilities);
      if (classWeights) perClass = tf.mul(perClass, tf.tensor1d(classWeights));
      return tf.neg(tf.mean(tf.sum(perClass, -1))) as tf.Scalar;
    });
}

/**
 * Loss for the valence/arousal head ([batch, 2] targets and predictions):
 * - `mse`: mean squared error over both outputs;
 * - `ccc`: 1 - Lin's concordance correlation per output (population moments over the batch),
 *   averaged over valence and arousal. A tiny epsilon in the denominator keeps a constant batch
 *   finite (CCC = 0 there, loss 1).
 */
export function makeRegressionLoss(kind: RegressionLossKind): LossFunction {
  switch (kind) {
    case 'mse':
      return (yTrue, yPred) =>
        tf.tidy(() => tf.mean(tf.squaredDifference(yTrue.toFloat(), yPred)) as tf.Scalar);
    case 'ccc':
      return (yTrue, yPred) =>
        tf.tidy(() => {
          const truth = yTrue.toFloat();
          const meanTruth = tf.mean(truth, 0);
          const meanPredicted = tf.mean(yPred, 0);
          const dTruth = tf.sub(truth, meanTruth);
          const dPredicted = tf.sub(yPred, meanPredicted);
          const covariance = tf.mean(tf.mul(dTruth, dPredicted), 0);
          const denominator = tf
            .mean(tf.square(dTruth), 0)
            .add(tf.mean(tf.square(dPredicted), 0))
            .add(tf.square(tf.sub(meanTruth, meanPredicted)))
            .add(LOSS_EPSILON);
          const ccc = tf.div(tf.mul(2, covariance), denominator);
          return tf.mean(tf.sub(1, ccc)) as tf.Scalar;
        });
    default: {
      const unknown: never = kind;
      throw new Error(
        `unknown regression loss '${String(unknown)}' (known: ${REGRESSION_LOSS_KINDS.join(', ')})`,
      );
    }
  }
}

/**
 * A loss that became NaN or infinite. A user error (bad learning rate, bad data), not a crash:
 * the runner marks the run FAILED with this message and keeps every completed epoch.
 */
export class NonFiniteLossError extends UserError {
  constructor(
    readonly value: number,
    readonly context: string,
    /** What most likely made it non-finite (`the update of the step before`). */
    readonly origin?: string,
  ) {
    super(
      `loss became ${value} at ${context}${origin ? `, after ${origin}` : ''}; training stopped. ` +
        'Common causes: a learning rate too high, NaN or infinite input pixels or targets, or ' +
        'class weights that are 0 or huge.',
    );
    this.name = 'NonFiniteLossError';
  }
}

/** Throws NonFiniteLossError when a loss value is NaN or infinite. `context`: "epoch 3 step 17". */
export function assertFiniteLoss(value: number, context: string, origin?: string): void {
  if (!Number.isFinite(value)) throw new NonFiniteLossError(value, context, origin);
}
