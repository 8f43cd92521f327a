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
import { accumulatedPowers, adamExtraState, adamGraphUpdate } from './adam.js';
import { learningRateOption } from './common.js';

const adamwOptions = Options({
  learningRate: learningRateOption,
  weightDecay: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0.004,
    description:
      'Decoupled weight decay: each step every trainable weight first shrinks by learningRate x weightDecay x ' +
      "itself (Keras' AdamW; default 0.004 as Keras').",
  }),
  beta1: Type.Number({ minimum: 0, maximum: 1, default: 0.9 }),
  beta2: Type.Number({ minimum: 0, maximum: 1, default: 0.999 }),
  epsilon: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1e-7 }),
});
export type AdamWOptions = Static<typeof adamwOptions>;

/** What tfjs' Adam applies: named gradients, as a map or a list. */
type AdamGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

/**
 * tfjs' Adam with Keras' decoupled weight decay applied first: before the Adam step, each
 * variable that gets a gradient becomes `v - v * learningRate * weightDecay` (Loshchilov &
 * Hutter; keras.optimizers.AdamW decays every trainable variable this way by default), and
 * epsilon where Keras adds it (to sqrt(v) before the bias correction). Its class name stays
 * Adam, so checkpoints keep Adam's state layout.
 */
export class AdamWOptimizer extends tf.AdamOptimizer {
  constructor(
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    readonly weightDecay: number,
  ) {
    super(learningRate, beta1, beta2, epsilon);
    this.kerasEpsilon = epsilon;
  }

  private readonly kerasEpsilon: number;

  override applyGradients(variableGradients: AdamGradients): void {
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((g) => g.name)
      : Object.keys(variableGradients);
    // Keras divides by sqrt(v) + epsilon before the bias correction, tfjs by sqrt(v_hat) +
    // epsilon after it: the same step with tfjs' epsilon set to epsilon / sqrt(1 - beta2^t)
    const accBeta2 = accumulatedPowers(this)[1].dataSync()[0];
    this.epsilon = this.kerasEpsilon / Math.sqrt(1 - accBeta2);
    const scale = this.learningRate * this.weightDecay;
    if (scale > 0) {
      tf.tidy(() => {
        for (const name of names) {
          const variable = tf.engine().registeredVariables[name];
          variable.assign(tf.sub(variable, tf.mul(variable, scale)));
        }
      });
    }
    super.applyGradients(variableGradients);
  }
}

/** AdamW: Adam with decoupled weight decay, as keras.optimizers.AdamW. */
@injectable()
export class AdamW implements OptimizerPlugin {
  readonly learningRate: number;
  /** Adam's accumulated powers, under Adam's names: the tfjs optimizer is an Adam. */
  readonly extraState: OptimizerExtraState;
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: AdamWOptions) {
    this.learningRate = options.learningRate;
    this.extraState = adamExtraState(options);
  }

  createTfjsOptimizer(): tf.Optimizer {
    const { learningRate, beta1, beta2, epsilon, weightDecay } = this.options;
    return new AdamWOptimizer(learningRate, beta1, beta2, epsilon, weightDecay);
  }

  graphUpdate(context: GraphUpdateContext): GraphOptimizerUpdate {
    return adamGraphUpdate(context, this.options, {
      weightDecay: this.options.weightDecay,
      kerasEpsilon: true,
    });
  }
}

export const adamwOptimizer = definePlugin({
  kind: 'optimizer',
  type: 'adamw',
  description:
    'AdamW: Adam with decoupled weight decay (each weight shrinks by learningRate x weightDecay per step).',
  options: adamwOptions,
  implementation: AdamW,
});
