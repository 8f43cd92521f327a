import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  Enum,
  Logger,
  Options,
  PLUGIN_OPTIONS,
  RunContext,
  Type,
  UserError,
  definePlugin,
  type ArchitecturePlugin,
  type ModelRequest,
  type Static,
} from '../../sdk/index.js';
import {
  BaseLayers,
  correctPad,
  type Backbone,
  finishBackbone,
  poolingOption,
  readBackboneWeights,
  topOption,
  trainableFractionOption,
  weightsOption,
} from './backbone.js';
import { imagenetWeightsNote } from './imagenet-weights.js';
import { buildTaskModel, headOptionsSchema, requireInputSide } from './heads.js';
import { freezableBatchNormalization } from './layers.js';

/** Keras' ImageNet weights without the top, for alpha 1.0 at 224 px. */
export const MOBILENET_V2_NOTOP_FILE =
  'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5';

const mobileNetV2Options = Options({
  weights: weightsOption(MOBILENET_V2_NOTOP_FILE),
  alpha: Type.Number({
    exclusiveMinimum: 0,
    maximum: 2,
    default: 1,
    description:
      "Width multiplier (Keras' alpha): the filters of every block scaled and rounded to multiples of 8. Keras has " +
      'ImageNet weights for 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4.',
  }),
  trainableFraction: trainableFractionOption,
  pooling: poolingOption,
  top: topOption,
  preprocess: Enum(['tf', 'none'], {
    default: 'tf',
    description:
      "tf: Keras' mobilenet_v2.preprocess_input inside the model (pixels scaled to [-1, 1]), as ImageNet weights " +
      'expect; none: the pipeline pixels in [0, 1] as they are.',
  }),
  ...headOptionsSchema,
});
export type MobileNetV2Options = Static<typeof mobileNetV2Options>;

/** Keras' `_make_divisible`: round to a multiple of `divisor`, never more than 10 % down. */
export function makeDivisible(value: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.floor((value + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

/** The inverted residual blocks after the stem: [filters, stride, expansion] per block_id. */
const BLOCKS: readonly [number, number, number][] = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/**
 * Keras Applications' MobileNetV2 without its top (2,257,984 parameters at alpha 1.0, as
 * `MobileNetV2(include_top=False)`), transcribed from keras/src/applications/mobilenet_v2.py
 * (`MobileNetV2` + `_inverted_res_block`) with Keras' layer names (`Conv1`, `bn_Conv1`,
 * `expanded_conv_depthwise`, `block_1_expand`, ..., `Conv_1`, `out_relu`) in Keras' order, so
 * Keras' weight files load by name. Batch normalisation: epsilon 1e-3, momentum 0.999.
 */
export function buildMobileNetV2Base(input: tf.SymbolicTensor, alpha = 1): Backbone {
  const base = new BaseLayers();
  const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, name: string) =>
    base.apply(
      tf.layers.conv2d({
        filters,
        kernelSize,
        padding: 'same',
        useBias: false,
        kernelInitializer: 'glorotUniform',
        name,
      }),
      x,
    );
  const batchNorm = (x: tf.SymbolicTensor, name: string) =>
    base.apply(freezableBatchNormalization({ axis: 3, epsilon: 1e-3, momentum: 0.999, name }), x);
  const relu6 = (x: tf.SymbolicTensor, name: string) =>
    base.apply(tf.layers.reLU({ maxValue: 6, name }), x);

  const block = (
    inputs: tf.SymbolicTensor,
    filters: number,
    stride: number,
    expansion: number,
    id: number,
  ) => {
    const inChannels = inputs.shape[3] as number;
    const pointwise = makeDivisible(Math.trunc(filters * alpha));
    let x = inputs;
    let prefix = `block_${id}_`;
    if (id > 0) {
      x = conv(x, expansion * inChannels, 1, `${prefix}expand`);
      x = batchNorm(x, `${prefix}expand_BN`);
      x = relu6(x, `${prefix}expand_relu`);
    } else {
      prefix = 'expanded_conv_';
    }
    if (stride === 2)
      x = base.apply(
        tf.layers.zeroPadding2d({ padding: correctPad(x, 3), name: `${prefix}pad` }),
        x,
      );
    x = base.apply(
      tf.layers.depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        useBias: false,
        padding: stride === 1 ? 'same' : 'valid',
        depthwiseInitializer: 'glorotUniform',
        name: `${prefix}depthwise`,
      }),
      x,
    );
    x = batchNorm(x, `${prefix}depthwise_BN`);
    x = relu6(x, `${prefix}depthwise_relu`);
    x = conv(x, pointwise, 1, `${prefix}project`);
    x = batchNorm(x, `${prefix}project_BN`);
    if (inChannels === pointwise && stride === 1)
      return base.apply(tf.layers.add({ name: `${prefix}add` }), [inputs, x]);
    return x;
  };

  let x = base.apply(
    tf.layers.conv2d({
      filters: makeDivisible(32 * alpha),
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: 'glorotUniform',
      name: 'Conv1',
    }),
    input,
  );
  x = batchNorm(x, 'bn_Conv1');
  x = relu6(x, 'Conv1_relu');
  BLOCKS.forEach(([filters, stride, expansion], id) => {
    x = block(x, filters, stride, expansion, id);
  });
  // no alpha on the last convolution below 1 (the paper), more filters above
  x = conv(x, alpha > 1 ? makeDivisible(1280 * alpha) : 1280, 1, 'Conv_1');
  x = batchNorm(x, 'Conv_1_bn');
  x = relu6(x, 'out_relu');
  return { output: x, layers: base.layers };
}

/**
 * MobileNetV2 (Keras Applications, optionally Keras' ImageNet weights), Keras'
 * `preprocess_input` inside the model, then global pooling and the task's head.
 */
@injectable()
export class MobileNetV2 implements ArchitecturePlugin {
  constructor(
    @inject(PLUGIN_OPTIONS) private readonly options: MobileNetV2Options,
    private readonly logger: Logger,
    private readonly context: RunContext,
  ) {}

  async build({ inputShape, task }: ModelRequest): Promise<tf.LayersModel> {
    requireInputSide('mobilenet-v2', inputShape, 32);
    const { top, pooling, alpha } = this.options;
    // Read the weight files before building, so a wrong path fails at once.
    const pretrained = await this.readWeights();
    const input = tf.input({ shape: inputShape, name: 'input_layer' });
    // Keras' mobilenet_v2.preprocess_input (mode "tf") maps 0-255 to x / 127.5 - 1; the
    // pipeline's pixels are in [0, 1], so x * 2 - 1
    const pixels =
      this.options.preprocess === 'none'
        ? input
        : (tf.layers
            .rescaling({ scale: 2, offset: -1, name: 'preprocess_input' })
            .apply(input) as tf.SymbolicTensor);
    const base = buildMobileNetV2Base(pixels, alpha);
    const features = base.output;
    const loadable = new Set(base.layers);
    const name = 'mobilenet-v2';
    let model: tf.LayersModel;
    if (top === 'none') {
      model = tf.model({ inputs: input, outputs: features, name });
    } else if (top === 'imagenet') {
      const pooled = tf.layers
        .globalAveragePooling2d({ name: 'global_average_pooling2d' })
        .apply(features);
      const predictions = tf.layers.dense({
        units: 1000,
        activation: 'softmax',
        name: 'predictions',
      });
      loadable.add(predictions);
      const outputs = predictions.apply(pooled) as tf.SymbolicTensor;
      model = tf.model({ inputs: input, outputs, name });
    } else {
      const pool =
        pooling === 'avg'
          ? tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' })
          : tf.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' });
      const pooled = pool.apply(features) as tf.SymbolicTensor;
      model = buildTaskModel(input, pooled, { inputShape, task }, { ...this.options, name });
    }
    finishBackbone(
      name,
      model,
      input,
      base,
      loadable,
      { ...this.options, pretrained },
      this.logger,
    );
    return model;
  }

  private readWeights() {
    if (this.options.weights === 'imagenet' && this.options.alpha !== 1)
      throw new UserError(
        `mobilenet-v2: weights: imagenet is listed for alpha 1.0 only (got alpha ${this.options.alpha}); ` +
          "pass the path of Keras' file for that width instead",
      );
    return readBackboneWeights(this.options.weights, this.context.baseDir, {
      backbone: 'mobilenet-v2',
      top: this.options.top === 'imagenet',
      logger: this.logger,
    });
  }
}

export const mobileNetV2Plugin = definePlugin({
  kind: 'architecture',
  type: 'mobilenet-v2',
  description:
    "Keras' MobileNetV2 (optionally its ImageNet weights) with the task's head: 2.26 M parameters in the base",
  options: mobileNetV2Options,
  implementation: MobileNetV2,
  fileNotes: (options) =>
    options.weights === 'imagenet' && options.alpha === 1
      ? [imagenetWeightsNote('mobilenet-v2', options.top === 'imagenet')]
      : [],
});
