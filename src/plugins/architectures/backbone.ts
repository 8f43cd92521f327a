import { isAbsolute, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Enum, Type, readWeightArtifacts, type Logger } from '../../sdk/index.js';
import { RESNET_TOPS, freezeLowerLayers, h5WeightArtifacts } from './resnet50.js';
import { loadWeightsByLayerName } from './weights.js';
import { imagenetWeights } from './imagenet-weights.js';

/**
 * What the Keras Applications backbones (mobilenet-v2, efficientnet-b0) share with resnet50:
 * the `weights`, `trainableFraction`, `pooling` and `top` options, reading Keras weight files,
 * loading them by layer name, and freezing the lower layers of the base.
 */

export type WeightArtifacts = Awaited<ReturnType<typeof readWeightArtifacts>>;

/** A base network built on an input: its output and its layers (Keras' include_top=False). */
export interface Backbone {
  output: tf.SymbolicTensor;
  layers: Set<tf.layers.Layer>;
}

/** Symbolic layer application that records the layers of a base network. */
export class BaseLayers {
  readonly layers = new Set<tf.layers.Layer>();

  apply(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
    this.layers.add(layer);
    return layer.apply(x) as tf.SymbolicTensor;
  }
}

/** The `weights` option; `file` is the name of Keras' own ImageNet download for the backbone. */
export const weightsOption = (file: string) =>
  Type.String({
    minLength: 1,
    default: 'none',
    description:
      `'none' (random initialisation), 'imagenet' (Keras' own ${file}, downloaded once into the Keras cache and ` +
      'checked by its hash; see docs/pretrained-weights.md), or a path, relative to the experiment file, to Keras weights ' +
      '(any Keras weights .h5 of this architecture, matched by layer name), or weights converted with ' +
      'tensorflowjs_converter (a directory with model.json and its shards, or a weights manifest).',
  });

export const trainableFractionOption = Type.Number({
  minimum: 0,
  maximum: 1,
  default: 1,
  description:
    "Fraction of the base's layers (Keras' model.layers, input included), counted from the top, left trainable: " +
    '1 fine-tunes the whole network, 0.2 the last fifth (as the report does with ResNet-50).',
});

export const poolingOption = Enum(['avg', 'max'], {
  default: 'avg',
  description: 'Global pooling between the base and the task head.',
});

export const topOption = Enum(RESNET_TOPS, {
  default: 'task',
  description:
    "task: pooling + the task's head (for training); imagenet: Keras' 1000-class top; none: the bare base " +
    "(Keras' include_top=False), to compare with Keras or load full checkpoints.",
});

/**
 * The pretrained weights an architecture's `weights` option names, read before the model is
 * built so a wrong path fails at once: a Keras weights `.h5` (Keras Applications' downloads,
 * read through h5wasm) or tensorflowjs_converter output; 'imagenet' is Keras' own file for the
 * backbone, downloaded on first use. `undefined` for 'none'.
 */
export async function readBackboneWeights(
  weights: string,
  baseDir: string,
  imagenet: { backbone: string; top: boolean; logger?: Logger },
): Promise<WeightArtifacts | undefined> {
  if (weights === 'none') return undefined;
  if (weights === 'imagenet') {
    const file = await imagenetWeights(imagenet.backbone, imagenet);
    return h5WeightArtifacts(file);
  }
  const path = isAbsolute(weights) ? weights : resolve(baseDir, weights);
  if (/\.(h5|hdf5)$/i.test(path)) return h5WeightArtifacts(path);
  return readWeightArtifacts(path);
}

/** Bytes per value of the weight dtypes a manifest may hold unquantized. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/** The values of one float32 weight (`layer/weight`) in read weights; undefined if not there. */
export function weightValues(
  artifacts: WeightArtifacts,
  layer: string,
  weight: string,
): Float32Array | undefined {
  let offset = 0;
  for (const spec of artifacts.specs) {
    const size = spec.shape.reduce((n, d) => n * d, 1);
    const [specLayer, specWeight] = spec.name.replace(/:\d+$/, '').split('/').slice(-2);
    if (spec.quantization) return undefined; // not needed for Keras' files; not decoded here
    if (specLayer === layer && specWeight === weight)
      return spec.dtype === 'float32'
        ? new Float32Array(artifacts.data.slice(offset, offset + size * 4))
        : undefined;
    const bytes = DTYPE_BYTES[spec.dtype];
    if (bytes === undefined) return undefined;
    offset += size * bytes;
  }
  return undefined;
}

/**
 * Load `pretrained` into the model's layers that are in `loadable` (by layer and weight name),
 * then freeze all but the last `trainableFraction` of the base (Keras' idiom
 * `for layer in base.layers[:-n]: layer.trainable = False`, the input layer counted as in Keras).
 */
export function finishBackbone(
  architecture: string,
  model: tf.LayersModel,
  input: tf.SymbolicTensor,
  base: Backbone,
  loadable: Set<tf.layers.Layer>,
  options: { trainableFraction: number; pretrained?: WeightArtifacts },
  logger: Logger,
): void {
  const { pretrained, trainableFraction } = options;
  if (pretrained) {
    const report = loadWeightsByLayerName(
      model.layers.filter((layer) => loadable.has(layer)),
      pretrained,
    );
    logger.info(
      `${architecture}: loaded ${report.tensors} weight tensors into ${report.layers} layers from ${report.source}` +
        (report.unused.length > 0
          ? ` (${report.unused.length} unused, e.g. ${report.unused[0]})`
          : ''),
    );
  }
  const baseLayers = model.layers.filter(
    (layer) => base.layers.has(layer) || layer === input.sourceLayer,
  );
  const frozen = freezeLowerLayers(baseLayers, trainableFraction);
  if (!pretrained && frozen > 1) {
    logger.warn(
      `${architecture}: ${frozen} of ${baseLayers.length} base layers are frozen but no pretrained weights are loaded ` +
        '(set architecture.weights to Keras ImageNet weights, or trainableFraction: 1 to train from scratch)',
    );
  }
}

/**
 * Keras Applications' `correct_pad`: the zero padding before a strided convolution of `kernel`,
 * one row/column less at the top/left when the input side is even.
 */
export function correctPad(
  x: tf.SymbolicTensor,
  kernel: number,
): [[number, number], [number, number]] {
  const [, height, width] = x.shape;
  const adjust = (side: number | null) => (side === null ? 1 : 1 - (side % 2));
  const correct = Math.floor(kernel / 2);
  return [
    [correct - adjust(height), correct],
    [correct - adjust(width), correct],
  ];
}
