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
  type OptimizerExtraState,
  type OptimizerPlugin,
} from '../../sdk/index.js';
import { learningRateOption } from './common.js';

const adamOptions = Options({
  learningRate: learningRateOption,
  beta1: Type.Number({ minimum: 0, maximum: 1, default: 0.9 }),
  beta2: Type.Number({ minimum: 0, maximum: 1, default: 0.999 }),
  epsilon: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1e-7 }),
});
export type AdamOptions = Static<typeof adamOptions>;

/** Adam (Kingma & Ba), as tfjs-core's AdamOptimizer computes it. */
@injectable()
export class Adam implements OptimizerPlugin {
  readonly learningRate: number;
  readonly extraState: OptimizerExtraState;
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: AdamOptions) {
    this.learningRate = options.learningRate;
    this.extraState = adamExtraState(options);
  }

  createTfjsOptimizer(): tf.Optimizer {
    const { learningRate, beta1, beta2, epsilon } = this.options;
    return tf.train.adam(learningRate, beta1, beta2, epsilon);
  }

  graphUpdate(context: GraphUpdateContext): GraphOptimizerUpdate {
    return adamGraphUpdate(context, this.options);
  }
}

/** Names of Adam's accumulated powers (beta1^t, beta2^t) in checkpoints, either engine's. */
const POWER_NAMES = ['affectlab/adam/accBeta1', 'affectlab/adam/accBeta2'] as const;

/**
 * Adam's accumulated powers beta1^t and beta2^t as exact state (Adam and AdamW). tfjs' Adam
 * recomputes them as pow(beta, t + 1) on setWeights, which differs in the last bits from the
 * step-by-step products, so both engines save them (and read each other's checkpoints); that
 * rule is what a checkpoint without them restores.
 */
export function adamExtraState(options: { beta1: number; beta2: number }): OptimizerExtraState {
  return {
    entries: [options.beta1, options.beta2].map((beta, i) => ({
      name: POWER_NAMES[i],
      shape: [],
      // tfjs starts them at beta before the first step and multiplies after each
      valueAfter: (iterations: number) => Float32Array.of(beta ** (iterations + 1)),
    })),
    readTfjs: (optimizer) => accumulatedPowers(optimizer).map((v) => v.clone()),
    writeTfjs: (optimizer, values) =>
      accumulatedPowers(optimizer).forEach((v, i) => v.assign(values[i])),
  };
}

/** tfjs Adam's accumulated powers: private fields (accBeta1, accBeta2), so checked here. */
export function accumulatedPowers(optimizer: tf.Optimizer): [tf.Variable, tf.Variable] {
  const o = optimizer as unknown as { accBeta1?: unknown; accBeta2?: unknown };
  if (!(o.accBeta1 instanceof tf.Variable) || !(o.accBeta2 instanceof tf.Variable))
    throw new Error(
      `tfjs ${optimizer.getClassName()} keeps no accBeta1/accBeta2: Adam's exact resume needs updating`,
    );
  return [o.accBeta1, o.accBeta2];
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
  // the accumulated powers beta^t, kept exactly (adamExtraState)
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
  return { slotNames: ['m', 'v'], slots: [m, v], extraVariables: [beta1, beta2], updates };
}

export const adamOptimizer = definePlugin({
  kind: 'optimizer',
  type: 'adam',
  description: 'Adam: per-weight step sizes from running means of the gradient and its square.',
  options: adamOptions,
  implementation: Adam,
});
