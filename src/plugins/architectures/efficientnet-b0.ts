import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  Logger,
  Options,
  PLUGIN_OPTIONS,
  RunContext,
  Type,
  definePlugin,
  type ArchitecturePlugin,
  type ModelRequest,
  type Static,
} from '../../sdk/index.js';
import {
  BaseLayers,
  correctPad,
  finishBackbone,
  poolingOption,
  readBackboneWeights,
  topOption,
  trainableFractionOption,
  weightValues,
  weightsOption,
  type Backbone,
  type WeightArtifacts,
} from './backbone.js';
import { imagenetWeightsNote } from './imagenet-weights.js';
import { buildTaskModel, headOptionsSchema, requireInputSide } from './heads.js';
import { freezableBatchNormalization, kerasNormalization } from './layers.js';

/** Keras' ImageNet weights without the top. */
export const EFFICIENTNET_B0_NOTOP_FILE = 'efficientnetb0_notop.h5';

const efficientNetB0Options = Options({
  weights: weightsOption(EFFICIENTNET_B0_NOTOP_FILE),
  trainableFraction: trainableFractionOption,
  pooling: poolingOption,
  top: topOption,
  dropout: Type.Number({
    minimum: 0,
    maximum: 0.9,
    default: 0.2,
    description:
      "Dropout between the pooling and the task head (Keras' top_dropout, 0.2 for B0); 0 leaves the layer out.",
  }),
  dropConnectRate: Type.Number({
    minimum: 0,
    maximum: 0.9,
    default: 0.2,
    description:
      "Keras' drop_connect_rate: the residual branch of block k of 16 is dropped per sample with probability " +
      'rate * k / 16 while training (stochastic depth); 0 leaves those dropout layers out.',
  }),
  ...headOptionsSchema,
});
export type EfficientNetB0Options = Static<typeof efficientNetB0Options>;

/** ImageNet's per-channel RGB mean and standard deviation, as Keras' EfficientNet uses them. */
export const IMAGENET_MEAN_RGB = [0.485, 0.456, 0.406];
export const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225];

/**
 * The stages of B0: [kernel, repeats, filters in, filters out, expansion, stride], each block
 * with squeeze-and-excitation at ratio 0.25 (Keras' DEFAULT_BLOCKS_ARGS; B0 scales neither
 * width nor depth).
 */
const STAGES: readonly [number, number, number, number, number, number][] = [
  [3, 1, 32, 16, 1, 1],
  [3, 2, 16, 24, 6, 2],
  [5, 2, 24, 40, 6, 2],
  [3, 3, 40, 80, 6, 2],
  [5, 3, 80, 112, 6, 1],
  [5, 4, 112, 192, 6, 2],
  [3, 1, 192, 320, 6, 1],
];
const SE_RATIO = 0.25;

/** Keras' CONV_KERNEL_INITIALIZER for EfficientNet. */
const convInitializer = () =>
  tf.initializers.varianceScaling({
    scale: 2,
    mode: 'fanOut',
    distribution: 'truncatedNormal',
  });

export interface EfficientNetB0BaseOptions {
  dropConnectRate: number;
  /**
   * Normalisation statistics to start from (replaced by loaded weights): ImageNet's mean and
   * variance (the squared standard deviations) by default.
   */
  mean?: readonly number[];
  variance?: readonly number[];
  /**
   * Keras' extra Rescaling(1 / sqrt(stddev)) after the normalisation, which Keras adds for its
   * ImageNet weights only: their `normalization/variance` holds the standard deviations, not
   * their squares (tensorflow/tensorflow#49930), and this layer makes up for it.
   */
  imagenetVarianceFix: boolean;
}

/** The layer helpers of one base: each records its layer in `base`. */
function blockLayers(base: BaseLayers) {
  return {
    base,
    batchNorm: (x: tf.SymbolicTensor, name: string) =>
      base.apply(freezableBatchNormalization({ axis: 3, epsilon: 1e-3, momentum: 0.99, name }), x),
    swish: (x: tf.SymbolicTensor, name: string) =>
      base.apply(tf.layers.activation({ activation: 'swish', name }), x),
    pointwise: (x: tf.SymbolicTensor, filters: number, name: string) =>
      base.apply(
        tf.layers.conv2d({
          filters,
          kernelSize: 1,
          padding: 'same',
          useBias: false,
          kernelInitializer: convInitializer(),
          name,
        }),
        x,
      ),
  };
}
type BlockLayers = ReturnType<typeof blockLayers>;

/**
 * Keras Applications' EfficientNetB0 without its top (4,049,571 parameters, as
 * `EfficientNetB0(include_top=False)`), transcribed from keras/src/applications/efficientnet.py
 * (`EfficientNet` + `block`) with Keras' layer names (`rescaling`, `normalization`,
 * `stem_conv`, `block1a_dwconv`, `block2b_se_excite`, ..., `top_activation`), so Keras' weight
 * files load by name. The stem's preprocessing is Keras': `rescaling` (Keras' 1/255; here 1,
 * the pipeline's pixels are already in [0, 1]) and `normalization` with ImageNet's statistics.
 */
export function buildEfficientNetB0Base(
  input: tf.SymbolicTensor,
  options: EfficientNetB0BaseOptions,
): Backbone {
  const l = blockLayers(new BaseLayers());
  const { base } = l;
  let x = base.apply(tf.layers.rescaling({ scale: 1, name: 'rescaling' }), input);
  x = base.apply(
    kerasNormalization({
      mean: options.mean ?? IMAGENET_MEAN_RGB,
      variance: options.variance ?? IMAGENET_STDDEV_RGB.map((s) => s * s),
      name: 'normalization',
    }),
    x,
  );
  if (options.imagenetVarianceFix) {
    // tfjs' Rescaling multiplies by its scale as given: a per-channel array broadcasts
    const scale = IMAGENET_STDDEV_RGB.map((s) => 1 / Math.sqrt(s)) as unknown as number;
    x = base.apply(tf.layers.rescaling({ scale, name: 'rescaling_1' }), x);
  }
  x = base.apply(tf.layers.zeroPadding2d({ padding: correctPad(x, 3), name: 'stem_conv_pad' }), x);
  x = base.apply(
    tf.layers.conv2d({
      filters: 32,
      kernelSize: 3,
      strides: 2,
      padding: 'valid',
      useBias: false,
      kernelInitializer: convInitializer(),
      name: 'stem_conv',
    }),
    x,
  );
  x = l.batchNorm(x, 'stem_bn');
  x = l.swish(x, 'stem_activation');

  const blocks = STAGES.reduce((n, stage) => n + stage[1], 0);
  let b = 0;
  STAGES.forEach(([kernel, repeats, stageIn, filtersOut, expansion, stageStride], i) => {
    for (let j = 0; j < repeats; j++) {
      x = mbConvBlock(l, x, {
        name: `block${i + 1}${String.fromCharCode(97 + j)}_`,
        kernel,
        filtersIn: j === 0 ? stageIn : filtersOut,
        filtersOut,
        expansion,
        stride: j === 0 ? stageStride : 1,
        dropRate: (options.dropConnectRate * b++) / blocks,
      });
    }
  });

  x = l.pointwise(x, 1280, 'top_conv');
  x = l.batchNorm(x, 'top_bn');
  x = l.swish(x, 'top_activation');
  return { output: x, layers: base.layers };
}

interface BlockArgs {
  name: string;
  kernel: number;
  filtersIn: number;
  filtersOut: number;
  expansion: number;
  stride: number;
  dropRate: number;
}

/** Keras' `block`: expansion, depthwise convolution, squeeze-and-excitation, projection. */
function mbConvBlock(l: BlockLayers, inputs: tf.SymbolicTensor, a: BlockArgs): tf.SymbolicTensor {
  const { base } = l;
  const { name } = a;
  const filters = a.filtersIn * a.expansion;
  let x = inputs;
  if (a.expansion !== 1) {
    x = l.pointwise(x, filters, `${name}expand_conv`);
    x = l.batchNorm(x, `${name}expand_bn`);
    x = l.swish(x, `${name}expand_activation`);
  }
  if (a.stride === 2)
    x = base.apply(
      tf.layers.zeroPadding2d({ padding: correctPad(x, a.kernel), name: `${name}dwconv_pad` }),
      x,
    );
  x = base.apply(
    tf.layers.depthwiseConv2d({
      kernelSize: a.kernel,
      strides: a.stride,
      padding: a.stride === 2 ? 'valid' : 'same',
      useBias: false,
      depthwiseInitializer: convInitializer(),
      name: `${name}dwconv`,
    }),
    x,
  );
  x = l.batchNorm(x, `${name}bn`);
  x = l.swish(x, `${name}activation`);

  const squeezeConv = (filters: number, activation: 'swish' | 'sigmoid', suffix: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize: 1,
      padding: 'same',
      activation,
      kernelInitializer: convInitializer(),
      name: `${name}${suffix}`,
    });
  let se = base.apply(tf.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
  se = base.apply(
    tf.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }),
    se,
  );
  se = base.apply(
    squeezeConv(Math.max(1, Math.trunc(a.filtersIn * SE_RATIO)), 'swish', 'se_reduce'),
    se,
  );
  se = base.apply(squeezeConv(filters, 'sigmoid', 'se_expand'), se);
  x = base.apply(tf.layers.multiply({ name: `${name}se_excite` }), [x, se]);

  x = l.pointwise(x, a.filtersOut, `${name}project_conv`);
  x = l.batchNorm(x, `${name}project_bn`);
  if (a.stride !== 1 || a.filtersIn !== a.filtersOut) return x;
  if (a.dropRate > 0) {
    // one draw per sample (Keras' noise_shape (None, 1, 1, 1)); tfjs takes null as the input's size
    const noiseShape = [null, 1, 1, 1] as unknown as number[];
    x = base.apply(tf.layers.dropout({ rate: a.dropRate, noiseShape, name: `${name}drop` }), x);
  }
  return base.apply(tf.layers.add({ name: `${name}add` }), [x, inputs]);
}

/**
 * Whether read weights are Keras' ImageNet EfficientNet weights, whose normalisation variance
 * holds ImageNet's standard deviations (Keras then adds `rescaling_1`, and so does this).
 */
export function hasImagenetStddevAsVariance(pretrained: WeightArtifacts): boolean {
  const variance = weightValues(pretrained, 'normalization', 'variance');
  return (
    variance !== undefined &&
    variance.length === 3 &&
    IMAGENET_STDDEV_RGB.every((s, i) => Math.abs(variance[i] - s) < 1e-6)
  );
}

/**
 * EfficientNet-B0 (Keras Applications, optionally Keras' ImageNet weights) with its
 * preprocessing inside the model as in Keras, then global pooling, dropout and the task's head
 * (HSEmotion's AffectNet models start from this backbone).
 */
@injectable()
export class EfficientNetB0 implements ArchitecturePlugin {
  constructor(
    @inject(PLUGIN_OPTIONS) private readonly options: EfficientNetB0Options,
    private readonly logger: Logger,
    private readonly context: RunContext,
  ) {}

  async build({ inputShape, task }: ModelRequest): Promise<tf.LayersModel> {
    requireInputSide('efficientnet-b0', inputShape, 32);
    const { top, pooling, dropout } = this.options;
    // Read the weight files before building, so a wrong path fails at once.
    const pretrained = await readBackboneWeights(this.options.weights, this.context.baseDir, {
      backbone: 'efficientnet-b0',
      top: this.options.top === 'imagenet',
      logger: this.logger,
    });
    const imagenetVarianceFix = pretrained !== undefined && hasImagenetStddevAsVariance(pretrained);
    if (imagenetVarianceFix)
      this.logger.info(
        "efficientnet-b0: Keras' ImageNet weights (normalization variance = ImageNet's standard deviations): " +
          "adding Keras' rescaling_1 after the normalization, as Keras does for them",
      );
    const input = tf.input({ shape: inputShape, name: 'input_layer' });
    const base = buildEfficientNetB0Base(input, {
      dropConnectRate: this.options.dropConnectRate,
      imagenetVarianceFix,
    });
    const loadable = new Set(base.layers);
    const name = 'efficientnet-b0';
    const pool =
      top === 'imagenet' || pooling === 'avg'
        ? tf.layers.globalAveragePooling2d({ name: 'avg_pool' })
        : tf.layers.globalMaxPooling2d({ name: 'max_pool' });
    const rate = top === 'imagenet' ? 0.2 : dropout;
    const pooled = (): tf.SymbolicTensor => {
      const p = pool.apply(base.output) as tf.SymbolicTensor;
      return rate > 0
        ? (tf.layers.dropout({ rate, name: 'top_dropout' }).apply(p) as tf.SymbolicTensor)
        : p;
    };
    let model: tf.LayersModel;
    if (top === 'none') {
      model = tf.model({ inputs: input, outputs: base.output, name });
    } else if (top === 'imagenet') {
      const predictions = tf.layers.dense({
        units: 1000,
        activation: 'softmax',
        kernelInitializer: tf.initializers.varianceScaling({
          scale: 1 / 3,
          mode: 'fanOut',
          distribution: 'uniform',
        }),
        name: 'predictions',
      });
      loadable.add(predictions);
      const outputs = predictions.apply(pooled()) as tf.SymbolicTensor;
      model = tf.model({ inputs: input, outputs, name });
    } else {
      model = buildTaskModel(input, pooled(), { inputShape, task }, { ...this.options, name });
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
}

export const efficientNetB0Plugin = definePlugin({
  kind: 'architecture',
  type: 'efficientnet-b0',
  description:
    "Keras' EfficientNet-B0 (optionally its ImageNet weights) with the task's head: 4.05 M parameters in the base",
  options: efficientNetB0Options,
  implementation: EfficientNetB0,
  fileNotes: (options) =>
    options.weights === 'imagenet'
      ? [imagenetWeightsNote('efficientnet-b0', options.top === 'imagenet')]
      : [],
});
