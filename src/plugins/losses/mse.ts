import * as tf from '@tensorflow/tfjs';
import { injectable } from 'tsyringe';
import {
  Options,
  definePlugin,
  type GraphLossContext,
  type LossPlugin,
  type TfjsLossFunction,
} from '../../sdk/index.js';

/** Mean squared error over valence and arousal. */
@injectable()
export class MeanSquaredError implements LossPlugin {
  readonly target = 'valence-arousal' as const;

  tfjs(): TfjsLossFunction {
    return (yTrue, yPred) =>
      tf.tidy(() => tf.mean(tf.squaredDifference(yTrue.toFloat(), yPred)) as tf.Scalar);
  }

  graph({ b, predictions, targets }: GraphLossContext): string {
    return b.reduce('Mean', b.squaredDifference(targets, predictions), [0, 1]);
  }
}

export const msePlugin = definePlugin({
  kind: 'loss',
  type: 'mse',
  description: 'Mean squared error of the valence/arousal head.',
  options: Options({}),
  implementation: MeanSquaredError,
});
