import * as tf from '@tensorflow/tfjs';
import {
  DType,
  batchNormalizationEmitter,
  inputShapeOf,
  knownInputDims,
  registerGraphLayer,
  markPretrained,
  registerKerasLayerClass,
} from '../../sdk/index.js';

/**
 * Layers tfjs lacks, registered with tfjs' serialization so models that use them save and load
 * (`loadModel` finds them by class name once this module is imported; the architecture index
 * imports it).
 */

type LayerKwargs = Parameters<tf.layers.Layer['call']>[1];
type BatchNormalizationLayer = ReturnType<typeof tf.layers.batchNormalization>;
type BatchNormalizationArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface LocalResponseNormalizationArgs extends LayerArgs {
  /** Half-width of the channel window (window = 2 * depthRadius + 1). */
  depthRadius?: number;
  bias?: number;
  alpha?: number;
  beta?: number;
}

/**
 * Across-channel local response normalisation, `x / (bias + alpha * sum(x^2 over the window))^beta`,
 * as tf.nn.local_response_normalization computes it. The defaults are Caffe's bvlc_alexnet
 * (local_size 5, alpha 1e-4, beta 0.75, k 1): Caffe divides alpha by the window size, so the
 * tf-style alpha is 1e-4 / 5.
 */
export class LocalResponseNormalization extends tf.layers.Layer {
  static readonly className = 'LocalResponseNormalization';
  readonly depthRadius: number;
  readonly bias: number;
  readonly alpha: number;
  readonly beta: number;

  constructor(args: LocalResponseNormalizationArgs = {}) {
    super(args);
    this.depthRadius = args.depthRadius ?? 2;
    this.bias = args.bias ?? 1;
    this.alpha = args.alpha ?? 1e-4 / 5;
    this.beta = args.beta ?? 0.75;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.localResponseNormalization(
        x as tf.Tensor4D,
        this.depthRadius,
        this.bias,
        this.alpha,
        this.beta,
      );
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      depthRadius: this.depthRadius,
      bias: this.bias,
      alpha: this.alpha,
      beta: this.beta,
    };
  }
}
tf.serialization.registerClass(LocalResponseNormalization);

// Keras has no LRN layer: exports ship this class (TensorFlow's LRN op, as tfjs-node runs it)
registerKerasLayerClass(LocalResponseNormalization.className, {
  className: 'LocalResponseNormalization',
  python: `
import keras
import tensorflow as tf


class LocalResponseNormalization(keras.layers.Layer):
    """Across-channel local response normalisation (affectlab's layer, tf.nn's formula):
    x / (bias + alpha * sum(x^2 over 2 * depth_radius + 1 channels)) ** beta."""

    def __init__(self, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
`,
});

/** tfjs' BatchNormalization class, which tfjs does not export by name. */
const BatchNormalizationBase = tf.layers.batchNormalization().constructor as (new (
  args?: BatchNormalizationArgs,
) => BatchNormalizationLayer) & {
  fromConfig: typeof tf.serialization.Serializable.fromConfig;
};

/**
 * BatchNormalization that runs in inference mode while frozen (`trainable = false`), as Keras
 * does since TF 2: a frozen layer then neither normalises with batch statistics nor updates its
 * moving mean and variance, so fine-tuning the top of a pretrained network leaves the frozen
 * part exactly as loaded. tfjs' own layer keeps updating its moving statistics when frozen.
 * Weight names are BatchNormalization's (gamma, beta, moving_mean, moving_variance).
 */
export class FreezableBatchNormalization extends BatchNormalizationBase {
  static readonly className = 'FreezableBatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: LayerKwargs): tf.Tensor | tf.Tensor[] {
    return super.call(inputs, this.trainable ? kwargs : { ...kwargs, training: false });
  }
}
tf.serialization.registerClass(FreezableBatchNormalization);

export function localResponseNormalization(
  args?: LocalResponseNormalizationArgs,
): LocalResponseNormalization {
  return new LocalResponseNormalization(args);
}

export function freezableBatchNormalization(
  args?: BatchNormalizationArgs,
): FreezableBatchNormalization {
  return new FreezableBatchNormalization(args);
}

/**
 * Keras' `resnet50.preprocess_input` ("caffe" mode) as a layer, for ImageNet weights: the
 * pipeline's [0, 1] RGB pixels scaled to [0, 255], flipped to BGR, and centred on the ImageNet
 * channel means. No weights, so parameter counts and weight names are unchanged.
 */
export class CaffePreprocessing extends tf.layers.Layer {
  static readonly className = 'CaffePreprocessing';
  /** ImageNet means in BGR order, as Keras subtracts them. */
  static readonly MEAN_BGR = [103.939, 116.779, 123.68];

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const bgr = tf.reverse(x, -1);
      return bgr.mul(255).sub(tf.tensor1d(CaffePreprocessing.MEAN_BGR));
    });
  }
}
tf.serialization.registerClass(CaffePreprocessing);

// Keras applies preprocess_input outside the model; a model with it inside ships this class
registerKerasLayerClass(CaffePreprocessing.className, {
  className: 'CaffePreprocessing',
  python: `
import keras


class CaffePreprocessing(keras.layers.Layer):
    """keras.applications.resnet50.preprocess_input ("caffe") as a layer (affectlab's):
    [0, 1] RGB to [0, 255] BGR minus the ImageNet channel means."""

    MEAN_BGR = (${CaffePreprocessing.MEAN_BGR.join(', ')})

    def call(self, inputs):
        bgr = keras.ops.flip(inputs, axis=-1) * 255.0
        return bgr - keras.ops.convert_to_tensor(self.MEAN_BGR, dtype=bgr.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
`,
});

// --- graph forms of these layers, for the compiled training step (training.execution) ---

/**
 * LRN written out as x / (bias + alpha * window_sum(x^2))^beta, the window sum as a product with
 * a banded [C, C] matrix: TensorFlow's C++ gradient of its LRN op (what TF_AddGradients uses)
 * builds LRNGrad with the default depth_radius/bias/alpha/beta instead of the layer's, so the
 * fused op would train with a wrong gradient (measured: 10-25 % off in the layers before it).
 */
registerGraphLayer('LocalResponseNormalization', {
  check: (_c, layer) =>
    inputShapeOf(layer).length === 4 && knownInputDims(layer)
      ? undefined
      : 'an input that is not [batch, height, width, channels] with known sizes',
  emit(layer, [x], { b }) {
    const l = layer as LocalResponseNormalization;
    const [, h, w, c] = inputShapeOf(layer) as number[];
    const band = new Array<number>(c * c).fill(0);
    for (let i = 0; i < c; i++)
      for (let j = Math.max(0, i - l.depthRadius); j <= Math.min(c - 1, i + l.depthRadius); j++)
        band[i * c + j] = 1;
    const squares = b.reshape(b.square(x), [-1, c]);
    const windowSum = b.op(
      'MatMul',
      [squares, b.constF32(band, [c, c])],
      [
        ['T', 'type', DType.float32],
        ['transpose_a', 'bool', false],
        ['transpose_b', 'bool', false],
      ],
    );
    const base = b.add(
      b.constF32(l.bias),
      b.mul(b.constF32(l.alpha), b.reshape(windowSum, [-1, h, w, c])),
    );
    const scale = b.op('Pow', [base, b.constF32(l.beta)], [['T', 'type', DType.float32]]);
    return [b.div(x, scale)];
  },
});

registerGraphLayer(
  'FreezableBatchNormalization',
  batchNormalizationEmitter({ inferenceWhenFrozen: true }),
);

registerGraphLayer('CaffePreprocessing', {
  emit(_layer, [x], { b }) {
    const bgr = b.op(
      'ReverseV2',
      [x, b.constI32([3])],
      [
        ['T', 'type', DType.float32],
        ['Tidx', 'type', DType.int32],
      ],
    );
    return [b.sub(b.mul(bgr, b.constF32(255)), b.constF32(CaffePreprocessing.MEAN_BGR))];
  },
});

export interface KerasNormalizationArgs extends LayerArgs {
  /** Initial per-channel mean (the last axis); zeros when left out, as Keras' unadapted layer. */
  mean?: readonly number[] | null;
  /** Initial per-channel variance; ones when left out. */
  variance?: readonly number[] | null;
}

/**
 * Keras' `Normalization` layer over the last axis, as EfficientNet's stem has it:
 * `(x - mean) / max(sqrt(variance), 1e-7)`, with Keras' three non-trainable weights `mean`,
 * `variance` and `count` (count is unused, kept so the parameter count and the weight list are
 * Keras' and Keras' `.h5` files load by name). tfjs has no such layer. Its weights are statistics,
 * never drawn at random: they start at `mean`/`variance` (or Keras' zeros/ones) and are marked
 * as set, so run seeding leaves them as they are. The config leaves mean and variance out, as
 * Keras' does for an adapted layer: the values travel with the weights.
 */
export class KerasNormalization extends tf.layers.Layer {
  static readonly className = 'Normalization';
  /** Keras' `backend.epsilon()`, the floor of the standard deviation. */
  static readonly EPSILON = 1e-7;
  private readonly initialMean?: readonly number[];
  private readonly initialVariance?: readonly number[];
  private meanWeight?: tf.LayerVariable;
  private varianceWeight?: tf.LayerVariable;

  constructor(args: KerasNormalizationArgs = {}) {
    super(args);
    // a saved config has null for both (the values travel with the weights)
    this.initialMean = args.mean ?? undefined;
    this.initialVariance = args.variance ?? undefined;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (typeof channels !== 'number')
      throw new Error(`${this.name}: Normalization needs a known last axis`);
    const statistic = (name: string, values: readonly number[] | undefined, fill: number) => {
      if (values !== undefined && values.length !== channels)
        throw new Error(`${this.name}: ${values.length} ${name} values for ${channels} channels`);
      const weight = this.addWeight(
        name,
        [channels],
        'float32',
        fill === 0 ? tf.initializers.zeros() : tf.initializers.ones(),
        undefined,
        false,
      );
      if (values !== undefined) weight.write(tf.tensor1d(values as number[]));
      return weight;
    };
    this.meanWeight = statistic('mean', this.initialMean, 0);
    this.varianceWeight = statistic('variance', this.initialVariance, 1);
    this.addWeight('count', [], 'float32', tf.initializers.zeros(), undefined, false);
    markPretrained(this.weights);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const mean = (this.meanWeight as tf.LayerVariable).read();
      const deviation = tf.maximum(
        tf.sqrt((this.varianceWeight as tf.LayerVariable).read()),
        KerasNormalization.EPSILON,
      );
      return x.sub(mean).div(deviation);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: -1, invert: false, mean: null, variance: null };
  }
}
tf.serialization.registerClass(KerasNormalization);

export function kerasNormalization(args?: KerasNormalizationArgs): KerasNormalization {
  return new KerasNormalization(args);
}

registerGraphLayer('Normalization', {
  check: (_c, layer) =>
    inputShapeOf(layer).length >= 2 && knownInputDims(layer)
      ? undefined
      : 'an input with unknown dimensions',
  emit(_layer, [x], { b, weight }) {
    const deviation = b.maximum(b.sqrt(weight(1)), b.constF32(KerasNormalization.EPSILON));
    return [b.div(b.sub(x, weight(0)), deviation)];
  },
});
