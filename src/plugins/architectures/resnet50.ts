import 'reflect-metadata';
import { isAbsolute, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  Enum,
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type ArchitecturePlugin,
  type ModelRequest,
  readWeightArtifacts,
  type WeightArtifacts,
  Logger,
  RunContext,
} from '../../sdk/index.js';
import { buildTaskModel, headOptionsSchema } from './heads.js';
import { CaffePreprocessing, freezableBatchNormalization } from './layers.js';
import { readLegacyH5Weights } from './keras-model/read.js';
import { loadWeightsByLayerName } from './weights.js';
import { imagenetWeightsNote, imagenetWeights } from './imagenet-weights.js';

export const RESNET_TOPS = ['task', 'imagenet', 'none'] as const;
export type ResNetTop = (typeof RESNET_TOPS)[number];

const resNet50Options = Options({
  weights: Type.String({
    minLength: 1,
    default: 'none',
    description:
      "'none' (random initialisation); 'imagenet': Keras' ImageNet weights, downloaded once into Keras' cache " +
      '($KERAS_HOME/models, else ~/.keras/models) and checked against the md5 Keras publishes, as ' +
      "keras.applications.ResNet50(weights='imagenet') does (AFFECTLAB_WEIGHTS_BASE_URL names a mirror); " +
      "or a path, relative to the experiment file, to Keras ImageNet weights: Keras' own " +
      'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 (any Keras weights .h5, matched by layer name), or weights ' +
      'converted with tensorflowjs_converter (a directory with model.json and its shards, or a weights manifest).',
  }),
  trainableFraction: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0.2,
    description:
      "Fraction of the base's layers, counted from the top, left trainable (the report: 0.2).",
  }),
  pooling: Enum(['avg', 'max'], {
    default: 'avg',
    description: 'Global pooling between the base and the task head.',
  }),
  // imagenet and none are for comparing with Keras and loading full checkpoints, not training
  top: Enum(RESNET_TOPS, {
    default: 'task',
    description:
      "task: pooling + the task's head (for training); imagenet: Keras' 1000-class top; none: the bare base " +
      "(Keras' include_top=False), to compare with Keras or load full checkpoints.",
  }),
  preprocess: Enum(['caffe', 'none'], {
    default: 'caffe',
    description:
      "caffe: Keras' resnet50.preprocess_input inside the model (0-255 BGR minus the ImageNet means), as ImageNet " +
      'weights expect; none: the pipeline pixels in [0, 1] as they are.',
  }),
  ...headOptionsSchema,
});
export type ResNet50Options = Static<typeof resNet50Options>;

/** Keras applications' batch-norm epsilon for ResNet; the converted moving statistics assume it. */
const BN_EPSILON = 1.001e-5;

/** Layers of the ResNet-50 base (Keras' `include_top=False`), built on `input` with Keras' names. */
export interface ResNet50Base {
  output: tf.SymbolicTensor;
  layers: Set<tf.layers.Layer>;
}

/**
 * Keras Applications' ResNet50 (v1) without its top (23,587,712 parameters, as Keras'
 * `ResNet50(include_top=False)`; 25,636,712 with the 1000-class top), transcribed from keras/applications/resnet.py
 * (`ResNet` + `stack1` + `block1`) with the same layer names and the same order of layer
 * creation, so the layers sort into the same `model.layers` order as in Keras and
 * Keras-converted weights map one to one by name.
 */
export function buildResNet50Base(input: tf.SymbolicTensor): ResNet50Base {
  const layers = new Set<tf.layers.Layer>();
  const apply = (
    layer: tf.layers.Layer,
    x: tf.SymbolicTensor | tf.SymbolicTensor[],
  ): tf.SymbolicTensor => {
    layers.add(layer);
    return layer.apply(x) as tf.SymbolicTensor;
  };
  const conv = (
    x: tf.SymbolicTensor,
    filters: number,
    kernelSize: number,
    name: string,
    strides = 1,
    padding: 'valid' | 'same' = 'valid',
  ) => apply(tf.layers.conv2d({ filters, kernelSize, strides, padding, name }), x);
  const batchNorm = (x: tf.SymbolicTensor, name: string) =>
    apply(freezableBatchNormalization({ axis: 3, epsilon: BN_EPSILON, name }), x);
  const relu = (x: tf.SymbolicTensor, name: string) =>
    apply(tf.layers.activation({ activation: 'relu', name }), x);

  /** A bottleneck residual block (Keras `block1`). */
  const block = (
    x: tf.SymbolicTensor,
    filters: number,
    name: string,
    stride = 1,
    convShortcut = true,
  ) => {
    let shortcut = x;
    if (convShortcut) {
      shortcut = conv(x, 4 * filters, 1, `${name}_0_conv`, stride);
      shortcut = batchNorm(shortcut, `${name}_0_bn`);
    }
    x = conv(x, filters, 1, `${name}_1_conv`, stride);
    x = batchNorm(x, `${name}_1_bn`);
    x = relu(x, `${name}_1_relu`);
    x = conv(x, filters, 3, `${name}_2_conv`, 1, 'same');
    x = batchNorm(x, `${name}_2_bn`);
    x = relu(x, `${name}_2_relu`);
    x = conv(x, 4 * filters, 1, `${name}_3_conv`);
    x = batchNorm(x, `${name}_3_bn`);
    x = apply(tf.layers.add({ name: `${name}_add` }), [shortcut, x]);
    return relu(x, `${name}_out`);
  };

  /** A stack of blocks (Keras `stack1`): the first may downsample and projects the shortcut. */
  const stack = (
    x: tf.SymbolicTensor,
    filters: number,
    blocks: number,
    name: string,
    firstStride = 2,
  ) => {
    x = block(x, filters, `${name}_block1`, firstStride);
    for (let i = 2; i <= blocks; i++) x = block(x, filters, `${name}_block${i}`, 1, false);
    return x;
  };

  let x = apply(
    tf.layers.zeroPadding2d({
      padding: [
        [3, 3],
        [3, 3],
      ],
      name: 'conv1_pad',
    }),
    input,
  );
  x = conv(x, 64, 7, 'conv1_conv', 2);
  x = batchNorm(x, 'conv1_bn');
  x = relu(x, 'conv1_relu');
  x = apply(
    tf.layers.zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: 'pool1_pad',
    }),
    x,
  );
  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);

  x = stack(x, 64, 3, 'conv2', 1);
  x = stack(x, 128, 4, 'conv3');
  x = stack(x, 256, 6, 'conv4');
  x = stack(x, 512, 3, 'conv5');
  return { output: x, layers };
}

/**
 * The report's transfer model: ResNet-50 with (optionally) Keras' ImageNet weights, the last
 * `trainableFraction` of the base's layers trainable and the rest frozen (the report: the last
 * 20%), then global pooling and a new head for the task.
 */
@injectable()
export class ResNet50 implements ArchitecturePlugin {
  constructor(
    @inject(PLUGIN_OPTIONS) private readonly options: ResNet50Options,
    private readonly logger: Logger,
    private readonly context: RunContext,
  ) {}

  async build({ inputShape, task }: ModelRequest): Promise<tf.LayersModel> {
    const { top, pooling } = this.options;
    // Read the weight files before building, so a wrong path fails at once.
    const pretrained = await this.readWeights();
    const input = tf.input({ shape: inputShape, name: 'input_1' });
    const pixels =
      this.options.preprocess === 'none'
        ? input
        : (new CaffePreprocessing({ name: 'preprocess_input' }).apply(input) as tf.SymbolicTensor);
    const base = buildResNet50Base(pixels);
    const loadable = new Set<tf.layers.Layer>(base.layers);
    let model: tf.LayersModel;
    if (top === 'none') {
      model = tf.model({ inputs: input, outputs: base.output, name: 'resnet50' });
    } else if (top === 'imagenet') {
      const pooled = tf.layers
        .globalAveragePooling2d({ name: 'avg_pool' })
        .apply(base.output) as tf.SymbolicTensor;
      const predictions = tf.layers.dense({
        units: 1000,
        activation: 'softmax',
        name: 'predictions',
      });
      loadable.add(predictions);
      model = tf.model({
        inputs: input,
        outputs: predictions.apply(pooled) as tf.SymbolicTensor,
        name: 'resnet50',
      });
    } else {
      const pool =
        pooling === 'avg'
          ? tf.layers.globalAveragePooling2d({ name: 'avg_pool' })
          : tf.layers.globalMaxPooling2d({ name: 'max_pool' });
      const pooled = pool.apply(base.output) as tf.SymbolicTensor;
      model = buildTaskModel(
        input,
        pooled,
        { inputShape, task },
        { ...this.options, name: 'resnet50' },
      );
    }
    if (pretrained) this.loadWeights(model, loadable, pretrained);
    const baseLayers = model.layers.filter(
      (layer) => base.layers.has(layer) || layer === input.sourceLayer,
    );
    const frozen = freezeLowerLayers(baseLayers, this.options.trainableFraction);
    if (!pretrained && frozen > 1) {
      this.logger.warn(
        `resnet50: ${frozen} of ${baseLayers.length} base layers are frozen but no pretrained weights are loaded ` +
          '(set architecture.weights to a converted ImageNet model, or trainableFraction: 1 to train from scratch)',
      );
    }
    return model;
  }

  private async readWeights(): Promise<WeightArtifacts | undefined> {
    const { weights, top } = this.options;
    if (weights === 'none') return undefined;
    if (weights === 'imagenet') {
      const file = await imagenetWeights('resnet50', {
        top: top === 'imagenet',
        logger: this.logger,
      });
      return h5WeightArtifacts(file);
    }
    const path = isAbsolute(weights) ? weights : resolve(this.context.baseDir, weights);
    // Keras' own download (resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5) or any
    // legacy Keras weights/model .h5, read through h5wasm; else tensorflowjs_converter output.
    if (/\.(h5|hdf5)$/i.test(path)) return h5WeightArtifacts(path);
    return readWeightArtifacts(path);
  }

  private loadWeights(
    model: tf.LayersModel,
    loadable: Set<tf.layers.Layer>,
    pretrained: WeightArtifacts,
  ): void {
    const report = loadWeightsByLayerName(
      model.layers.filter((layer) => loadable.has(layer)),
      pretrained,
    );
    this.logger.info(
      `resnet50: loaded ${report.tensors} weight tensors into ${report.layers} layers from ${report.source}` +
        (report.unused.length > 0
          ? ` (${report.unused.length} unused, e.g. ${report.unused[0]})`
          : ''),
    );
  }
}

/**
 * A legacy Keras weights `.h5` as the `layer/weight` manifest loadWeightsByLayerName matches
 * by name (so a missing or misshapen layer gets the same error as converted weights).
 */
export async function h5WeightArtifacts(path: string): Promise<WeightArtifacts> {
  const layers = await readLegacyH5Weights(path);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Float32Array[] = [];
  for (const [layer, weights] of layers) {
    for (const weight of weights) {
      specs.push({ name: `${layer}/${weight.name}`, shape: weight.shape, dtype: 'float32' });
      parts.push(weight.values);
    }
  }
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return { specs, data: data.buffer, source: path };
}

/**
 * Freeze all but the last `trainableFraction` of `baseLayers` (in Keras' `model.layers` order,
 * input layer included: 175 for ResNet-50, so 0.2 leaves 35 trainable) and return how many were
 * frozen. This is the Keras idiom `for layer in base.layers[:-n]: layer.trainable = False`.
 */
export function freezeLowerLayers(
  baseLayers: readonly tf.layers.Layer[],
  trainableFraction: number,
): number {
  const trainableCount = Math.round(baseLayers.length * trainableFraction);
  const frozen = baseLayers.slice(0, baseLayers.length - trainableCount);
  for (const layer of frozen) layer.trainable = false;
  return frozen.length;
}

export const resNet50Plugin = definePlugin({
  kind: 'architecture',
  type: 'resnet50',
  description:
    "The report's transfer model: Keras' ResNet-50 (optionally ImageNet weights), last layers fine-tuned",
  options: resNet50Options,
  implementation: ResNet50,
  envHints: {
    RESNET50_WEIGHTS:
      "Use weights: imagenet (Keras' file, downloaded once into ~/.keras/models), or point RESNET50_WEIGHTS at " +
      "Keras' resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 or at a tensorflowjs_converter folder " +
      '(docs/adding-an-architecture.md), or train from scratch with --set architecture.weights=none.',
  },
  fileNotes: (options) =>
    options.weights === 'imagenet'
      ? [imagenetWeightsNote('resnet50', options.top === 'imagenet')]
      : [],
});
