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

const rmspropOptions = Options({
  learningRate: learningRateOption,
  decay: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0.9,
    description: 'Discount of the running mean of squared gradients.',
  }),
  momentum: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
  epsilon: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1e-7 }),
});
export type RmspropOptions = Static<typeof rmspropOptions>;

/** RMSProp (uncentred), as tfjs-core's RMSPropOptimizer computes it. */
@injectable()
export class Rmsprop implements OptimizerPlugin {
  readonly learningRate: number;
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: RmspropOptions) {
    this.learningRate = options.learningRate;
  }

  createTfjsOptimizer(): tf.Optimizer {
    const { learningRate, decay, momentum, epsilon } = this.options;
    return tf.train.rmsprop(learningRate, decay, momentum, epsilon);
  }

  graphUpdate({
    b,
    weights,
    learningRate,
    control,
    slotVariables,
  }: GraphUpdateContext): GraphOptimizerUpdate {
    const ms = slotVariables('rms');
    const mom = slotVariables('momentum');
    const { decay } = this.options;
    const epsilon = b.constF32(this.options.epsilon);
    const momentum = b.constF32(this.options.momentum);
    const updates: string[] = [];
    weights.forEach((w, i) => {
      const nextMs = b.add(
        b.mul(ms[i].read, b.constF32(decay)),
        b.mul(b.square(w.gradient), b.constF32(1 - decay)),
      );
      const nextMom = b.add(
        b.mul(mom[i].read, momentum),
        b.div(b.mul(w.gradient, learningRate), b.sqrt(b.add(nextMs, epsilon))),
      );
      updates.push(b.assignVariable(ms[i].handle, nextMs, control));
      updates.push(b.assignVariable(mom[i].handle, nextMom, control));
      updates.push(b.assignVariable(w.variable.handle, b.sub(w.read, nextMom), control));
    });
    return { slotNames: ['rms', 'momentum'], slots: [ms, mom], updates };
  }
}

export const rmspropOptimizer = definePlugin({
  kind: 'optimizer',
  type: 'rmsprop',
  description: 'RMSProp: steps scaled by a running mean of squared gradients.',
  options: rmspropOptions,
  implementation: Rmsprop,
});
