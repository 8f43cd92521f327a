/**
 * How each layer class becomes graph operations. The built-in tfjs layers are registered here;
 * a plugin that defines its own layer registers that layer's graph form next to it with
 * `registerGraphLayer` (so core names no plugin's layer). A model compiles to a graph when every
 * layer has an emitter that accepts its configuration; otherwise the run stays eager and the log
 * names the layer.
 *
 * This module loads no native code: it can be imported by plugins and by `graphEngineSupport`.
 */
import type * as tf from '@tensorflow/tfjs';
import { DType } from './addon.js';
import { NamedRegistry } from '../../host/named-registry.js';
import type { GraphBuilder, Output } from '../../../sdk/graph-builder.js';

const F32 = DType.float32;
const I32 = DType.int32;

/** What an emitter gets while one pass (training or inference) of the model is compiled. */
export interface LayerEmitContext {
  b: GraphBuilder;
  /** Training pass (batch statistics, dropout) or inference pass. */
  training: boolean;
  /** The value of the layer's i-th weight (`layer.weights` order) in this pass. */
  weight(index: number): Output;
  /** A [2] int32 seed unique to this layer and step (training pass only). */
  seed(): Output;
  /**
   * The batch size as a [1] int32 tensor, taken from the input placeholder: shapes built from it
   * (random masks) stay off every path from the weights, where the gradient builder would need
   * gradients for ops that have none.
   */
  batchSize(): Output;
  /** Set the layer's i-th (non-trainable) weight to `value` after the step (moving statistics). */
  update(index: number, value: Output): void;
}

export type LayerConfig = Record<string, unknown>;

export interface GraphLayerEmitter {
  /** Why this layer's configuration cannot be compiled; undefined when it can. */
  check?(config: LayerConfig, layer: tf.layers.Layer): string | undefined;
  /** The layer's outputs from its inputs. */
  emit(layer: tf.layers.Layer, inputs: Output[], ctx: LayerEmitContext): Output[];
}

const emitters = new NamedRegistry<GraphLayerEmitter>('graph form of layer class');

/**
 * Register the graph form of a layer class (by its tfjs class name), beside the class's own
 * `tf.serialization.registerClass`. A class has one form: a second one is refused, not a
 * silent replacement of the first.
 */
export function registerGraphLayer(className: string, emitter: GraphLayerEmitter): void {
  emitters.register(className, emitter);
}

export function graphLayerEmitter(className: string): GraphLayerEmitter | undefined {
  return emitters.find(className);
}

/** The first layer of `model` the graph compiler cannot take, and why; undefined if none. */
export function unsupportedLayer(
  model: tf.LayersModel,
): { layer: string; reason: string } | undefined {
  if (model.inputs.length !== 1)
    return { layer: model.name, reason: `${model.inputs.length} inputs (one is supported)` };
  for (const layer of model.layers) {
    const className = layer.getClassName();
    const name = `${layer.name} (${className})`;
    if (className === 'InputLayer') continue;
    const emitter = emitters.find(className);
    if (!emitter)
      return { layer: name, reason: 'no graph form is registered for this layer class' };
    if (layer.inboundNodes.length !== 1)
      return { layer: name, reason: 'a layer applied more than once (shared) is not supported' };
    const why = emitter.check?.(layer.getConfig() as LayerConfig, layer);
    if (why) return { layer: name, reason: why };
  }
  return undefined;
}

// --- configuration helpers ---

/** The shape of the layer's (first) input, batch dimension first. */
export function inputShapeOf(layer: tf.layers.Layer): (number | null)[] {
  return layer.inboundNodes[0].inputTensors[0].shape;
}

/** Whether every dimension of the layer's input but the batch is known (static shapes). */
export function knownInputDims(layer: tf.layers.Layer): boolean {
  return inputShapeOf(layer)
    .slice(1)
    .every((d) => typeof d === 'number');
}

const pair = (v: unknown): [number, number] => {
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a.length > 1 ? a[1] : a[0]];
};

const channelsLast = (config: LayerConfig): string | undefined =>
  config.dataFormat === undefined || config.dataFormat === 'channelsLast'
    ? undefined
    : `dataFormat ${String(config.dataFormat)} (channelsLast is supported)`;

const padding = (config: LayerConfig): 'VALID' | 'SAME' =>
  config.padding === 'same' ? 'SAME' : 'VALID';

const paddingCheck = (config: LayerConfig): string | undefined =>
  config.padding === 'valid' || config.padding === 'same' || config.padding === undefined
    ? undefined
    : `padding ${String(config.padding)}`;

/** Activations by their tfjs serialised name. */
const ACTIVATIONS: Record<string, string | null> = {
  linear: null,
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  selu: 'Selu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  softmax: 'Softmax',
  softplus: 'Softplus',
};

/** Activations written as more than one op, with tfjs' formula. */
const COMPOSITE_ACTIVATIONS: Record<string, (b: GraphBuilder, x: Output) => Output> = {
  // tfjs: x * sigmoid(x) (Keras' swish, EfficientNet's activation)
  swish: (b, x) => b.mul(x, b.op('Sigmoid', [x], [['T', 'type', F32]])),
};

const activationCheck = (config: LayerConfig): string | undefined => {
  const a = config.activation;
  return a === undefined ||
    (typeof a === 'string' &&
      (Object.hasOwn(ACTIVATIONS, a) || Object.hasOwn(COMPOSITE_ACTIVATIONS, a)))
    ? undefined
    : `activation ${JSON.stringify(a)} (supported: ${[...Object.keys(ACTIVATIONS), ...Object.keys(COMPOSITE_ACTIVATIONS)].join(', ')})`;
};

export function emitActivation(b: GraphBuilder, x: Output, activation: unknown): Output {
  const composite =
    typeof activation === 'string' && Object.hasOwn(COMPOSITE_ACTIVATIONS, activation)
      ? COMPOSITE_ACTIVATIONS[activation]
      : undefined;
  if (composite) return composite(b, x);
  const op = ACTIVATIONS[typeof activation === 'string' ? activation : 'linear'];
  if (op === undefined) throw new Error(`graph: activation ${String(activation)} is not supported`);
  return op === null ? x : b.op(op, [x], [['T', 'type', F32]]);
}

const all = (...checks: (string | undefined)[]): string | undefined => checks.find(Boolean);

// --- the tfjs layers ---

/** A 2-D convolution op (NHWC; strides, padding, dilation), its bias and its activation. */
function convolution(op: 'Conv2D' | 'DepthwiseConv2dNative'): GraphLayerEmitter['emit'] {
  return (layer, [x], { b, weight }) => {
    const c = layer.getConfig() as LayerConfig;
    const [sh, sw] = pair(c.strides ?? 1);
    const [dh, dw] = pair(c.dilationRate ?? 1);
    let y = b.op(
      op,
      [x, weight(0)],
      [
        ['T', 'type', F32],
        ['strides', 'ints', [1, sh, sw, 1]],
        ['padding', 'string', padding(c)],
        ['dilations', 'ints', [1, dh, dw, 1]],
        ['data_format', 'string', 'NHWC'],
      ],
    );
    if (c.useBias !== false)
      y = b.op(
        'BiasAdd',
        [y, weight(1)],
        [
          ['T', 'type', F32],
          ['data_format', 'string', 'NHWC'],
        ],
      );
    return [emitActivation(b, y, c.activation)];
  };
}

registerGraphLayer('Conv2D', {
  check: (c) =>
    all(
      channelsLast(c),
      paddingCheck(c),
      activationCheck(c),
      (c.groups ?? 1) !== 1 ? 'grouped convolution' : undefined,
    ),
  emit: convolution('Conv2D'),
});

/** Depthwise convolution (MobileNet, EfficientNet): a [kh, kw, in, multiplier] kernel. */
registerGraphLayer('DepthwiseConv2D', {
  check: (c) => all(channelsLast(c), paddingCheck(c), activationCheck(c)),
  emit: convolution('DepthwiseConv2dNative'),
});

registerGraphLayer('Dense', {
  check: (c, layer) =>
    all(
      activationCheck(c),
      (inputShapeOf(layer) as number[]).length !== 2
        ? `input of rank ${(inputShapeOf(layer) as number[]).length} (rank 2 is supported)`
        : undefined,
    ),
  emit(layer, [x], { b, weight }) {
    const c = layer.getConfig() as LayerConfig;
    let y = b.op(
      'MatMul',
      [x, weight(0)],
      [
        ['T', 'type', F32],
        ['transpose_a', 'bool', false],
        ['transpose_b', 'bool', false],
      ],
    );
    if (c.useBias !== false) y = b.op('BiasAdd', [y, weight(1)], [['T', 'type', F32]]);
    return [emitActivation(b, y, c.activation)];
  },
});

registerGraphLayer('Activation', {
  check: activationCheck,
  emit: (layer, [x], { b }) => [emitActivation(b, x, layer.getConfig().activation)],
});

/** tfjs' ReLU layer: relu, then clipped to maxValue when one is set (Keras' ReLU(6.0)). */
registerGraphLayer('ReLU', {
  check: (c) =>
    c.maxValue === undefined ||
    c.maxValue === null ||
    (typeof c.maxValue === 'number' && c.maxValue >= 0)
      ? undefined
      : `maxValue ${JSON.stringify(c.maxValue)}`,
  emit(layer, [x], { b }) {
    const max = layer.getConfig().maxValue as number | null | undefined;
    if (max === 6) return [b.op('Relu6', [x], [['T', 'type', F32]])];
    const relu = b.op('Relu', [x], [['T', 'type', F32]]);
    return [max === undefined || max === null ? relu : b.minimum(relu, b.constF32(max))];
  },
});

const pooling = (type: 'MaxPool' | 'AvgPool'): GraphLayerEmitter => ({
  check: (c) => all(channelsLast(c), paddingCheck(c)),
  emit(layer, [x], { b }) {
    const c = layer.getConfig() as LayerConfig;
    const [ph, pw] = pair(c.poolSize ?? 2);
    const [sh, sw] = pair(c.strides ?? c.poolSize ?? 2);
    return [
      b.op(
        type,
        [x],
        [
          ['T', 'type', F32],
          ['ksize', 'ints', [1, ph, pw, 1]],
          ['strides', 'ints', [1, sh, sw, 1]],
          ['padding', 'string', padding(c)],
          ['data_format', 'string', 'NHWC'],
        ],
      ),
    ];
  },
});
registerGraphLayer('MaxPooling2D', pooling('MaxPool'));
registerGraphLayer('AveragePooling2D', pooling('AvgPool'));

const globalPooling = (type: 'Mean' | 'Max'): GraphLayerEmitter => ({
  check: (c) => all(channelsLast(c), c.keepDims ? 'keepDims' : undefined),
  emit: (_layer, [x], { b }) => [b.reduce(type, x, [1, 2])],
});
registerGraphLayer('GlobalAveragePooling2D', globalPooling('Mean'));
registerGraphLayer('GlobalMaxPooling2D', globalPooling('Max'));

registerGraphLayer('Flatten', {
  check: (_c, layer) => (knownInputDims(layer) ? undefined : 'an input with unknown dimensions'),
  emit(layer, [x], { b }) {
    const dims = (inputShapeOf(layer) as number[]).slice(1);
    return [b.reshape(x, [-1, dims.reduce((p, d) => p * d, 1)])];
  },
});

registerGraphLayer('ZeroPadding2D', {
  check: channelsLast,
  emit(layer, [x], { b }) {
    const [[top, bottom], [left, right]] = layer.getConfig().padding as [
      [number, number],
      [number, number],
    ];
    const paddings = b.constI32([0, 0, top, bottom, left, right, 0, 0], [4, 2]);
    return [
      b.op(
        'Pad',
        [x, paddings],
        [
          ['T', 'type', F32],
          ['Tpaddings', 'type', I32],
        ],
      ),
    ];
  },
});

registerGraphLayer('Add', {
  emit: (_layer, inputs, { b }) => [inputs.slice(1).reduce((sum, x) => b.add(sum, x), inputs[0])],
});

/** Element-wise product with broadcasting ([n, h, w, c] x [n, 1, 1, c]: squeeze-and-excitation). */
registerGraphLayer('Multiply', {
  emit: (_layer, inputs, { b }) => [inputs.slice(1).reduce((p, x) => b.mul(p, x), inputs[0])],
});

registerGraphLayer('Reshape', {
  check: (c) =>
    Array.isArray(c.targetShape) &&
    c.targetShape.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)
      ? undefined
      : `targetShape ${JSON.stringify(c.targetShape)} (known positive sizes are supported)`,
  emit: (layer, [x], { b }) => [b.reshape(x, [-1, ...(layer.getConfig().targetShape as number[])])],
});

/** tfjs' Rescaling, `x * scale + offset`; the scale may be per channel (one per last-axis entry). */
registerGraphLayer('Rescaling', {
  check: (c) =>
    (typeof c.scale === 'number' ||
      (Array.isArray(c.scale) && c.scale.every((v) => typeof v === 'number'))) &&
    typeof (c.offset ?? 0) === 'number'
      ? undefined
      : `scale ${JSON.stringify(c.scale)} and offset ${JSON.stringify(c.offset)} (numbers are supported)`,
  emit(layer, [x], { b }) {
    const c = layer.getConfig();
    const scale = c.scale as number | number[];
    const offset = (c.offset ?? 0) as number;
    const scaled = scale === 1 ? x : b.mul(x, b.constF32(scale));
    return [offset === 0 ? scaled : b.add(scaled, b.constF32(offset))];
  },
});

registerGraphLayer('Concatenate', {
  emit(layer, inputs, { b }) {
    const rank = inputShapeOf(layer).length;
    const axis = layer.getConfig().axis as number;
    return [
      b.op(
        'ConcatV2',
        [inputs, b.constI32(axis < 0 ? rank + axis : axis)],
        [
          ['N', 'int', inputs.length],
          ['T', 'type', F32],
          ['Tidx', 'type', I32],
        ],
      ),
    ];
  },
});

/**
 * Dropout as tfjs draws it (`x * floor(u + keep) / keep`, u uniform in [0, 1)), but from a
 * stateless generator seeded per layer and step, so a step's masks are a function of its seed.
 */
registerGraphLayer('Dropout', {
  check: (c, layer) => {
    if (!knownInputDims(layer)) return 'an input with unknown dimensions';
    const noise = c.noiseShape as unknown;
    if (noise === undefined || noise === null) return undefined;
    return Array.isArray(noise) &&
      noise.length === inputShapeOf(layer).length &&
      noise.every((d, i) => d === null || (i > 0 && typeof d === 'number' && d >= 1))
      ? undefined
      : `noiseShape ${JSON.stringify(noise)} (one entry per input axis, the batch's null)`;
  },
  emit(layer, [x], { b, training, seed, batchSize }) {
    const c = layer.getConfig();
    const rate = c.rate as number;
    if (!training || !(rate > 0 && rate < 1)) return [x];
    const keep = b.constF32(1 - rate);
    // the mask's shape: the input's, or the noise shape (null: the input's size on that axis),
    // broadcast over the axes where it is 1 (EfficientNet's drop-connect: [null, 1, 1, 1])
    const noise = c.noiseShape as (number | null)[] | null | undefined;
    const dims = (inputShapeOf(layer) as number[])
      .slice(1)
      .map((d, i) => (noise ? (noise[i + 1] ?? d) : d));
    const shape = b.op(
      'ConcatV2',
      [[batchSize(), b.constI32(dims)], b.constI32(0)],
      [
        ['N', 'int', 2],
        ['T', 'type', I32],
        ['Tidx', 'type', I32],
      ],
    );
    const uniform = b.op(
      'StatelessRandomUniform',
      [shape, seed()],
      [
        ['dtype', 'type', F32],
        ['T', 'type', I32],
        ['Tseed', 'type', I32],
      ],
    );
    const mask = b.div(b.floor(b.add(uniform, keep)), keep);
    return [b.mul(x, mask)];
  },
});

export interface BatchNormalizationGraphOptions {
  /** Run in inference mode while the layer is frozen (Keras since TF 2; tfjs' own layer does not). */
  inferenceWhenFrozen: boolean;
}

/**
 * Batch normalisation as tfjs computes it: in training, normalise with the batch's mean and
 * (biased) variance and move the statistics by `moving - (moving - batch) * (1 - momentum)`; in
 * inference, normalise with the moving statistics. FusedBatchNormV3 does the arithmetic (and its
 * gradient); a rank-2 input is viewed as [n, 1, 1, c].
 */
export function batchNormalizationEmitter(
  options: BatchNormalizationGraphOptions,
): GraphLayerEmitter {
  return {
    check(c, layer) {
      const rank = (inputShapeOf(layer) as number[]).length;
      const axis = c.axis as number;
      if (rank !== 2 && rank !== 4) return `input of rank ${rank} (2 or 4 is supported)`;
      if (axis !== -1 && axis !== rank - 1) return `axis ${axis} (the last axis is supported)`;
      return undefined;
    },
    emit(layer, [x], { b, training, weight, update }) {
      const c = layer.getConfig() as LayerConfig;
      const inputShape = inputShapeOf(layer) as number[];
      const channels = inputShape[inputShape.length - 1];
      let i = 0;
      const gamma = c.scale !== false ? weight(i++) : b.constF32(new Array(channels).fill(1));
      const beta = c.center !== false ? weight(i++) : b.constF32(new Array(channels).fill(0));
      const movingMeanIndex = i++;
      const movingVarianceIndex = i++;
      const rank2 = inputShape.length === 2;
      const x4 = rank2 ? b.reshape(x, [-1, 1, 1, channels]) : x;
      const batchMode = training && (layer.trainable || !options.inferenceWhenFrozen);
      const empty = b.constF32([], [0]);
      const fused = b.operation(
        'FusedBatchNormV3',
        [
          x4,
          gamma,
          beta,
          batchMode ? empty : weight(movingMeanIndex),
          batchMode ? empty : weight(movingVarianceIndex),
        ],
        [
          ['T', 'type', F32],
          ['U', 'type', F32],
          ['epsilon', 'float', c.epsilon as number],
          ['is_training', 'bool', batchMode],
          ['data_format', 'string', 'NHWC'],
        ],
      );
      const y4 = `${fused}:0`;
      if (batchMode) {
        // FusedBatchNormV3 returns the unbiased batch variance; tfjs moves towards the biased one
        const count = b.div(
          b.cast(
            b.op(
              'Size',
              [x4],
              [
                ['T', 'type', F32],
                ['out_type', 'type', I32],
              ],
            ),
            I32,
            F32,
          ),
          b.constF32(channels),
        );
        const biased = b.mul(
          b.stopGradient(`${fused}:2`),
          b.div(b.sub(count, b.constF32(1)), count),
        );
        const decay = b.constF32(1 - (c.momentum as number));
        const move = (index: number, batchValue: Output): void => {
          const moving = weight(index);
          update(index, b.sub(moving, b.mul(b.sub(moving, batchValue), decay)));
        };
        move(movingMeanIndex, b.stopGradient(`${fused}:1`));
        move(movingVarianceIndex, biased);
      }
      return [rank2 ? b.reshape(y4, [-1, channels]) : y4];
    },
  };
}

registerGraphLayer('BatchNormalization', batchNormalizationEmitter({ inferenceWhenFrozen: false }));
