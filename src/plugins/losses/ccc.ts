import * as tf from '@tensorflow/tfjs';
import { injectable } from 'tsyringe';
import {
  Options,
  definePlugin,
  type GraphLossContext,
  type LossPlugin,
  type TfjsLossFunction,
  LOSS_EPSILON,
} from '../../sdk/index.js';

/**
 * 1 - Lin's concordance correlation per output (population moments over the batch), averaged
 * over valence and arousal. A tiny epsilon in the denominator keeps a constant batch finite
 * (CCC = 0 there, loss 1).
 */
@injectable()
export class ConcordanceLoss implements LossPlugin {
  readonly target = 'valence-arousal' as const;

  tfjs(): TfjsLossFunction {
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
  }

  graph({ b, predictions, targets }: GraphLossContext): string {
    const meanTruth = b.reduce('Mean', targets, [0]);
    const meanPredicted = b.reduce('Mean', predictions, [0]);
    const dTruth = b.sub(targets, meanTruth);
    const dPredicted = b.sub(predictions, meanPredicted);
    const covariance = b.reduce('Mean', b.mul(dTruth, dPredicted), [0]);
    const denominator = b.add(
      b.add(
        b.add(b.reduce('Mean', b.square(dTruth), [0]), b.reduce('Mean', b.square(dPredicted), [0])),
        b.square(b.sub(meanTruth, meanPredicted)),
      ),
      b.constF32(LOSS_EPSILON),
    );
    const ccc = b.div(b.mul(b.constF32(2), covariance), denominator);
    return b.reduce('Mean', b.sub(b.constF32(1), ccc), [0]);
  }
}

export const cccPlugin = definePlugin({
  kind: 'loss',
  type: 'ccc',
  description: '1 - concordance correlation (CCC) of the valence/arousal head, averaged.',
  options: Options({}),
  implementation: ConcordanceLoss,
});
