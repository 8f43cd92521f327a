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

const adamOptions = Options({
  learningRate: learningRateOption,
  beta1: Type.Number({ minimum: 0, maximum: 1, default: 0.9 }),
  beta2: Type.Number({ minimum: 0, maximum: 1, default: 0.999 }),
  epsilon: Type.Number({ exclusiveMinimum: 0, default: 1e-7 }),
});
export type AdamOptions = Static<typeof adamOptions>;

/** Adam (Kingma & Ba), as tfjs-core's AdamOptimizer computes it. */
@injectable()
export class Adam implements OptimizerPlugin {
  readonly learningRate: number;
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: AdamOptions) {
    this.learningRate = options.learningRate;
  }

  createTfjsOptimizer(): tf.Optimizer {
    const { learningRate, beta1, beta2, epsilon } = this.options;
    return tf.train.adam(learningRate, beta1, beta2, epsilon);
  }

  graphUpdate(context: GraphUpdateContext): GraphOptimizerUpdate {
    return adamGraphUpdate(context, this.options);
  }
}

/**
 * Adam's update as graph ops, in tfjs' formulas. `weightDecay` > 0 makes it AdamW: each weight
 * first shrinks by learningRate x weightDecay x itself (Keras' decoupled decay), then takes
 * the Adam step computed from the gradient alone; `kerasEpsilon` puts epsilon where Keras does.
 */
export function adamGraphUpdate(
  { b, weights, learningRate, control, slotVariables }: GraphUpdateContext,
  options: { beta1: number; beta2: number; epsilon: number },
  { weightDecay = 0, kerasEpsilon = false }: { weightDecay?: number; kerasEpsilon?: boolean } = {},
): GraphOptimizerUpdate {
  const { beta1: b1, beta2: b2 } = options;
  const negLr = b.neg(learningRate);
  const decay = weightDecay > 0 ? b.mul(learningRate, b.constF32(weightDecay)) : undefined;
  const m = slotVariables('m');
  const v = slotVariables('v');
  // the accumulated powers beta^t, kept exactly (see ADAM_POWER_STATE_NAMES)
  const beta1 = b.variable('optimizer/accBeta1', []);
  const beta2 = b.variable('optimizer/accBeta2', []);
  const oneMinusAcc1 = b.sub(b.constF32(1), beta1.read);
  const oneMinusAcc2 = b.sub(b.constF32(1), beta2.read);
  // Keras adds epsilon to sqrt(v) before the bias correction: epsilon / sqrt(1 - beta2^t) here
  const epsilon = kerasEpsilon
    ? b.div(b.constF32(options.epsilon), b.sqrt(oneMinusAcc2))
    : b.constF32(options.epsilon);
  const updates: string[] = [];
  weights.forEach((w, i) => {
    const nextM = b.add(b.mul(m[i].read, b.constF32(b1)), b.mul(w.gradient, b.constF32(1 - b1)));
    const nextV = b.add(
      b.mul(v[i].read, b.constF32(b2)),
      b.mul(b.square(w.gradient), b.constF32(1 - b2)),
    );
    const mHat = b.div(nextM, oneMinusAcc1);
    const vHat = b.div(nextV, oneMinusAcc2);
    updates.push(b.assignVariable(m[i].handle, nextM, control));
    updates.push(b.assignVariable(v[i].handle, nextV, control));
    const step = b.mul(b.div(mHat, b.add(b.sqrt(vHat), epsilon)), negLr);
    const decayed = decay ? b.sub(w.read, b.mul(w.read, decay)) : w.read;
    updates.push(b.assignVariable(w.variable.handle, b.add(step, decayed), control));
  });
  // tfjs multiplies the powers after every weight is updated (the reads above see beta^t)
  const powersAfter = [...updates];
  updates.push(b.assignVariable(beta1.handle, b.mul(beta1.read, b.constF32(b1)), powersAfter));
  updates.push(b.assignVariable(beta2.handle, b.mul(beta2.read, b.constF32(b2)), powersAfter));
  return { slotNames: ['m', 'v'], slots: [m, v], powers: { beta1, beta2, b1, b2 }, updates };
}

export const adamOptimizer = definePlugin({
  kind: 'optimizer',
  type: 'adam',
  description: 'Adam: per-weight step sizes from running means of the gradient and its square.',
  options: adamOptions,
  implementation: Adam,
});
