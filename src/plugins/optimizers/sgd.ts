import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type GraphOptimizerUpdate,
  type GraphUpdateContext,
  type OptimizerPlugin,
} from '../../sdk/index.js';
import { learningRateOption } from './common.js';

const sgdOptions = Options({
  learningRate: learningRateOption,
  momentum: Type.Optional(
    Type.Number({ minimum: 0, maximum: 1, description: '0 or absent: plain SGD.' }),
  ),
});
export type SgdOptions = Static<typeof sgdOptions>;

/** Stochastic gradient descent, with momentum when given (tfjs' sgd / momentum optimizers). */
@injectable()
export class Sgd implements OptimizerPlugin {
  readonly learningRate: number;
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: SgdOptions) {
    this.learningRate = options.learningRate;
  }

  createTfjsOptimizer(): tf.Optimizer {
    const { learningRate, momentum } = this.options;
    return momentum ? tf.train.momentum(learningRate, momentum) : tf.train.sgd(learningRate);
  }

  graphUpdate({
    b,
    weights,
    learningRate,
    control,
    slotVariables,
  }: GraphUpdateContext): GraphOptimizerUpdate {
    const negLr = b.neg(learningRate);
    const updates: string[] = [];
    const { momentum } = this.options;
    if (!momentum) {
      for (const w of weights)
        updates.push(
          b.assignVariable(w.variable.handle, b.add(w.read, b.mul(negLr, w.gradient)), control),
        );
      return { slotNames: [], slots: [], updates };
    }
    const acc = slotVariables('momentum');
    const m = b.constF32(momentum);
    weights.forEach((w, i) => {
      const next = b.add(b.mul(m, acc[i].read), w.gradient);
      updates.push(b.assignVariable(acc[i].handle, next, control));
      updates.push(b.assignVariable(w.variable.handle, b.add(b.mul(negLr, next), w.read), control));
    });
    return { slotNames: ['momentum'], slots: [acc], updates };
  }
}

export const sgdOptimizer = definePlugin({
  kind: 'optimizer',
  type: 'sgd',
  description: 'Stochastic gradient descent, with momentum when `momentum` is set.',
  options: sgdOptions,
  implementation: Sgd,
});
