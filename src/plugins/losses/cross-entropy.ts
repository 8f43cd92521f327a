import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  DType,
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type GraphLossContext,
  type LossPlugin,
  type TfjsLossFunction,
  LOSS_EPSILON,
} from '../../sdk/index.js';

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
 * finite for p = 0 and p = 1. Without weights it is plain cross-entropy. `labelSmoothing` s
 * replaces the one-hot targets t by t (1 - s) + s / classes first, as Keras'
 * `CategoricalCrossentropy(label_smoothing=s)` does (class weights then weight each class's
 * term, as in the report's weighted loss).
 */
export function crossEntropyLoss(
  weights?: readonly number[],
  labelSmoothing = 0,
): TfjsLossFunction {
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
      const oneHot = oneHotTargets(yTrue, numClasses);
      // Keras' label_smoothing: t * (1 - s) + s / classes
      const targets =
        labelSmoothing > 0
          ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / numClasses)
          : oneHot;
      const logProbabilities = tf.log(tf.clipByValue(yPred, LOSS_EPSILON, 1 - LOSS_EPSILON));
      let perClass = tf.mul(targets, logProbabilities);
      if (classWeights) perClass = tf.mul(perClass, tf.tensor1d(classWeights));
      return tf.neg(tf.mean(tf.sum(perClass, -1))) as tf.Scalar;
    });
}

const crossEntropyOptions = Options({
  labelSmoothing: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0,
    description:
      "Label smoothing s: targets become one-hot x (1 - s) + s / classes (Keras' CategoricalCrossentropy(label_smoothing=s)); 0: none.",
  }),
});
export type CrossEntropyOptions = Static<typeof crossEntropyOptions>;

/** The expression head's loss; weighted by class when the sampler gives weights. */
@injectable()
export class CrossEntropy implements LossPlugin {
  readonly target = 'classes' as const;
  private readonly labelSmoothing: number;

  constructor(@inject(PLUGIN_OPTIONS) options: CrossEntropyOptions) {
    this.labelSmoothing = options.labelSmoothing ?? 0;
  }

  tfjs(classWeights?: readonly number[]): TfjsLossFunction {
    return crossEntropyLoss(classWeights, this.labelSmoothing);
  }

  /** The same formula as graph ops: -mean_i sum_c w_c t_ic log clip(p_ic), t smoothed. */
  graph({ b, predictions, targets, classes, classWeights }: GraphLossContext): string {
    const s = this.labelSmoothing;
    const oneHot = b.op(
      'OneHot',
      [targets, b.constI32(classes), b.constF32(1 - s + s / classes), b.constF32(s / classes)],
      [
        ['T', 'type', DType.float32],
        ['TI', 'type', DType.int32],
        ['axis', 'int', -1],
      ],
    );
    const clipped = b.minimum(
      b.maximum(predictions, b.constF32(LOSS_EPSILON)),
      b.constF32(1 - LOSS_EPSILON),
    );
    let perClass = b.mul(oneHot, b.log(clipped));
    if (classWeights) perClass = b.mul(perClass, b.constF32(classWeights));
    return b.neg(b.reduce('Mean', b.reduce('Sum', perClass, [1]), [0]));
  }
}

export const crossEntropyPlugin = definePlugin({
  kind: 'loss',
  type: 'cross-entropy',
  description:
    'Categorical cross-entropy of the expression head, weighted per class when the sampler gives weights.',
  options: crossEntropyOptions,
  implementation: CrossEntropy,
});
